"""Demo data: the merged thành phố Hải Phòng of 2026 (Hải Phòng + Hải Dương, two-level local government):
province departments and ward people's committees, their officers, and dossiers in every state, relative
to the clock's now.

Competences follow the 2025 reorganisation: business registration at Sở Tài chính, land at Sở Nông nghiệp
và Môi trường, the criminal-record certificate at the city police (since 01/3/2025), a private house's
building permit at the ward. Agency codes are made up in the portal's shape ("000.00.30.H26"): the codes
after the merger are not confirmed, and they are data, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.clock import VN_TZ
from notifier.rules.portal import PORTAL_DATE
from notifier.rules.workdays import WorkCalendar
from notifier.store.models import Agency
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers


@dataclass(frozen=True)
class DemoAgency:
    code: str
    name: str
    phone: str
    # The procedure its demo dossiers follow: (MaTTHC, TenTTHC, fee in đồng).
    procedure: tuple[str, str, int]
    supplement: str  # what a supplement request asks for
    delay_reason: str
    # Applicants plausible for the procedure: (name, phone). A landline-only applicant shows that SMS
    # goes to mobiles only; one without a phone left no contact at all (recorded as unreachable).
    applicants: tuple[tuple[str, str | None], ...]
    # Facts for document headers and texts (the officer import's CapDonVi ... TenTrungTamPhucVu columns).
    level: str = "province"
    parent_name: str = "UBND THÀNH PHỐ HẢI PHÒNG"  # the body above the issuer in a document's header
    short_name: str = ""  # for SMS
    seat: str = "Hải Phòng"  # the place a document is dated at
    desk_name: str = "Trung tâm Phục vụ hành chính công thành phố Hải Phòng"


AGENCIES: tuple[DemoAgency, ...] = (
    DemoAgency(
        "000.00.30.H26",
        "Sở Tư pháp thành phố Hải Phòng",
        "02253842588",
        ("1.008891", "Cấp Thẻ công chứng viên", 100_000),
        "Giấy chứng nhận sức khỏe do cơ sở y tế có thẩm quyền cấp",
        "Cần xác minh thông tin với Hội Công chứng viên thành phố",
        (
            ("Nguyễn Văn An", "0912000111"),
            ("Trần Thị Bích Ngọc", "0983000222"),
            ("Lê Hoàng Long", "0356000333"),
        ),
        short_name="Sở Tư pháp HP",
    ),
    DemoAgency(
        "000.00.13.H26",
        "Sở Tài chính thành phố Hải Phòng",
        "02253842128",
        ("2.001610", "Đăng ký thành lập công ty trách nhiệm hữu hạn hai thành viên trở lên", 50_000),
        "Danh sách thành viên có chữ ký của các thành viên góp vốn",
        "Cần lấy ý kiến của Sở Công Thương về ngành nghề kinh doanh có điều kiện",
        (
            ("Phạm Thị Hương", "0704000444"),
            ("Vũ Minh Khôi", "01662000555"),
            ("Trần Thị Bích Ngọc", "0983000222"),
        ),
        short_name="Sở Tài chính HP",
    ),
    DemoAgency(
        "000.00.18.H26",
        "Sở Nông nghiệp và Môi trường thành phố Hải Phòng",
        "02253846511",
        (
            "1.004227",
            "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
            1_500_000,
        ),
        "Hợp đồng chuyển nhượng quyền sử dụng đất đã được công chứng",
        "Cần đo đạc lại ranh giới thửa đất tại thực địa",
        (
            ("Hoàng Văn Đức", "0945000777"),
            ("Công ty TNHH Thương mại Cảng Xanh", "02253838888"),
            ("Bùi Thị Thanh Xuân", "0399000888"),
        ),
        short_name="Sở NN&MT HP",
    ),
    DemoAgency(
        "000.00.20.H26",
        "Sở Xây dựng thành phố Hải Phòng",
        "02253842666",
        ("1.009972", "Cấp giấy phép xây dựng mới đối với công trình không theo tuyến", 150_000),
        "Bản vẽ thiết kế xây dựng có chữ ký, đóng dấu của đơn vị thiết kế",
        "Cần lấy ý kiến của cơ quan quản lý quy hoạch",
        (
            ("Công ty Cổ phần Xây dựng Bạch Đằng 18", "02253839999"),
            ("Công ty TNHH Logistics Đình Vũ", "0936000121"),
            ("Ngô Quang Huy", "0587000999"),
        ),
        short_name="Sở Xây dựng HP",
    ),
    DemoAgency(
        "000.00.40.H26",
        "Công an thành phố Hải Phòng",
        "02253842200",
        ("1.001233", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", 200_000),
        "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp ghi đủ nơi cư trú từ đủ 14 tuổi",
        "Cần tra cứu thông tin lý lịch tại nơi cư trú trước đây",
        (("Đỗ Minh Tuấn", "0977000131"), ("Lương Thị Hạnh", "0388000141"), ("Phan Văn Kiên", "0818000151")),
        parent_name="BỘ CÔNG AN",
        short_name="Công an TP HP",
    ),
    DemoAgency(
        "000.31.26.H26",
        "UBND phường Lê Chân",
        "02253857123",
        ("1.009994", "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", 75_000),
        "Bản vẽ mặt bằng, mặt cắt, mặt đứng công trình",
        "Cần kiểm tra hiện trạng khu đất xây dựng",
        (
            ("Trịnh Văn Hậu", "0916000161"),
            ("Mai Thị Ngọc Ánh", "0328000171"),
            ("Cao Đức Thịnh", "0707000181"),
        ),
        level="commune",
        parent_name="ỦY BAN NHÂN DÂN",
        short_name="UBND P. Lê Chân",
        seat="Lê Chân",
        desk_name="Trung tâm Phục vụ hành chính công phường Lê Chân",
    ),
    DemoAgency(
        "000.36.26.H26",
        "UBND phường Hải Dương",
        "02203852456",
        ("1.009994", "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", 75_000),
        "Giấy tờ chứng minh quyền sử dụng đất",
        "Cần kiểm tra hiện trạng khu đất xây dựng",
        (("Vũ Thị Thu Hằng", "0962000191"), ("Nguyễn Đình Khang", "0857000201"), ("Đinh Văn Lộc", None)),
        level="commune",
        parent_name="ỦY BAN NHÂN DÂN",
        short_name="UBND P. Hải Dương",
        seat="Hải Dương",
        desk_name="Trung tâm Phục vụ hành chính công phường Hải Dương",
    ),
)

# (code, name, head?, phone, agency code, title on documents); the first agencies' officers are assigned
# their dossiers, the last agency's are not (its alerts go to all its officers, its escalations say
# "chưa phân công").
OFFICERS = [
    ("CB-STP-01", "Nguyễn Thị Thu Hà", 0, "0912345001", "000.00.30.H26", "Chuyên viên"),
    ("CB-STP-02", "Trần Văn Minh", 0, "0912345002", "000.00.30.H26", "Chuyên viên"),
    ("LD-STP-01", "Phạm Quốc Hùng", 1, "0912345003", "000.00.30.H26", "GIÁM ĐỐC"),
    ("CB-STC-01", "Lê Thị Hồng Nhung", 0, "0983456001", "000.00.13.H26", "Chuyên viên"),
    ("LD-STC-01", "Vũ Đức Thắng", 1, "0983456002", "000.00.13.H26", "PHÓ GIÁM ĐỐC"),
    ("CB-SNM-01", "Đỗ Mạnh Cường", 0, "0356789001", "000.00.18.H26", "Chuyên viên"),
    ("LD-SNM-01", "Hoàng Thị Lan", 1, "0356789002", "000.00.18.H26", "GIÁM ĐỐC"),
    ("CB-SXD-01", "Nguyễn Hải Nam", 0, "0904123001", "000.00.20.H26", "Chuyên viên"),
    ("LD-SXD-01", "Trần Quang Vinh", 1, "0904123002", "000.00.20.H26", "PHÓ GIÁM ĐỐC"),
    ("CB-CA-01", "Phạm Thu Trang", 0, "0934123001", "000.00.40.H26", "Chuyên viên"),
    ("LD-CA-01", "Lê Văn Quyết", 1, "0934123002", "000.00.40.H26", "PHÓ GIÁM ĐỐC"),
    ("CB-PLC-01", "Bùi Thanh Tùng", 0, "0779123001", "000.31.26.H26", "Chuyên viên"),
    ("LD-PLC-01", "Ngô Thị Mai", 1, "0779123002", "000.31.26.H26", "CHỦ TỊCH"),
    ("CB-PHD-01", "Đoàn Văn Thành", 0, "0398123001", "000.36.26.H26", "Chuyên viên"),
    ("LD-PHD-01", "Vương Thị Hoa", 1, "0398123002", "000.36.26.H26", "PHÓ CHỦ TỊCH"),
]

ASSIGNED: dict[str, str | None] = {
    "000.00.30.H26": "CB-STP-01",
    "000.00.13.H26": "CB-STC-01",
    "000.00.18.H26": "CB-SNM-01",
    "000.00.20.H26": "CB-SXD-01",
    "000.00.40.H26": "CB-CA-01",
    "000.31.26.H26": "CB-PLC-01",
    "000.36.26.H26": None,
}


def _fmt(d: datetime) -> str:
    return d.astimezone(VN_TZ).strftime(PORTAL_DATE)


def seed(session: Session, now: datetime, calendar: WorkCalendar) -> dict[str, Any]:
    by_code = {a.code: a for a in AGENCIES}
    officers = [
        {
            "MaCanBo": code,
            "HoTen": name,
            "MaDonVi": agency_code,
            "TenDonVi": by_code[agency_code].name,
            "SoDienThoai": phone,
            "Email": f"{code.lower()}@haiphong.gov.vn",
            "LaLanhDao": head,
            "ChucDanh": title,
            **_agency_columns(by_code[agency_code]),
        }
        for code, name, head, phone, agency_code, title in OFFICERS
    ]
    officer_report = upsert_officers(session, officers)
    for row in session.scalars(select(Agency).where(Agency.code.in_(list(by_code)))):
        demo = by_code[row.code]
        row.phone = demo.phone

    items: list[dict[str, Any]] = []
    today = now.date()
    # (status, received working days ago, due in working days from today (negative: overdue), extra)
    plans: list[tuple[int, int, int, dict[str, Any]]] = [
        (2, 0, 8, {}),
        (4, 5, 2, {}),
        (4, 6, 1, {}),
        (4, 12, -1, {"LyDoTreHan": None}),
        (4, 15, -3, {}),
        (5, 3, 7, {"DanhSachHoSoBoSung": None}),
        (6, 4, 5, {"DaThanhToan": 0}),
        (3, 1, 9, {"GhiChu": "Hồ sơ không thuộc thẩm quyền giải quyết"}),
        (9, 9, 1, {}),
        (10, 11, -1, {}),
    ]
    seq = 0
    for agency in AGENCIES:
        ma_tthc, ten_tthc, fee = agency.procedure
        for number, (status, ago, due_in, extra) in enumerate(plans):
            seq += 1
            name, phone = agency.applicants[number % len(agency.applicants)]
            received = datetime.combine(calendar.add_working_days(today, -ago), time(8, 30), tzinfo=VN_TZ)
            due = datetime.combine(calendar.add_working_days(today, due_in), time(17, 0), tzinfo=VN_TZ)
            item: dict[str, Any] = {
                "MaHoSo": f"{agency.code}-{today:%y%m%d}-{seq:04d}",
                "MaTTHC": ma_tthc,
                "TenTTHC": ten_tthc,
                "ChuHoSo": name,
                "LoaiDoiTuong": 2 if name.startswith("Công ty") else 1,
                "NgayTiepNhan": _fmt(received),
                "NgayHenTra": _fmt(due),
                "TrangThaiHoSo": status,
                "MaDonVi": agency.code,
                "TenDonVi": agency.name,
                "DonViXuLy": agency.name,
                "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí giải quyết thủ tục", "Gia": fee}],
                "DaThanhToan": 1,
            }
            if phone is not None:  # an applicant without a phone left no e-mail either
                item["SoDienThoai"] = phone
                item["Email"] = f"congdan{seq}@example.vn"
            if ASSIGNED[agency.code] is not None:
                item["MaCanBo"] = ASSIGNED[agency.code]
            if status == 6:
                item["DuongDanThanhToan"] = f"https://dichvucong.gov.vn/p/thanh-toan?ma={item['MaHoSo']}"
            if status == 10:
                item["NgayTra"] = _fmt(now - timedelta(hours=2))
            item.update(extra)
            if "LyDoTreHan" in extra:
                item["LyDoTreHan"] = agency.delay_reason
            if "DanhSachHoSoBoSung" in extra:
                item["DanhSachHoSoBoSung"] = [
                    {"NoiDungBoSung": agency.supplement, "NguoiYeuCauBoSung": _officer_name(agency.code)}
                ]
            items.append(item)
    report = upsert(session, items, now, source="demo")
    if report.errors:
        raise ValueError("demo data rejected: " + "; ".join(str(e) for e in report.errors))
    return {
        "officers": officer_report.created + officer_report.updated,
        "dossiers": report.created + report.updated + report.unchanged,
    }


def _officer_name(agency_code: str) -> str:
    return next(
        name for _code, name, head, _phone, code, _title in OFFICERS if code == agency_code and not head
    )


def _agency_columns(a: DemoAgency) -> dict[str, str]:
    return {
        "CapDonVi": a.level,
        "CoQuanChuQuan": a.parent_name,
        "TenVietTat": a.short_name,
        "DiaDanh": a.seat,
        "TenTrungTamPhucVu": a.desk_name,
    }
