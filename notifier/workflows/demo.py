"""Demo data: Hai Phong agencies, officers and dossiers in every state, relative to the clock's now."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from notifier.rules.clock import VN_TZ
from notifier.rules.portal import PORTAL_DATE
from notifier.rules.workdays import WorkCalendar
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers

AGENCIES = [
    ("000.00.30.H26", "Sở Tư pháp thành phố Hải Phòng"),
    ("000.00.13.H26", "Sở Kế hoạch và Đầu tư thành phố Hải Phòng"),
    ("000.00.18.H26", "Sở Tài nguyên và Môi trường thành phố Hải Phòng"),
    ("000.15.31.H26", "UBND quận Lê Chân"),
]

OFFICERS = [
    ("CB-STP-01", "Nguyễn Thị Thu Hà", 0, "0912345001"),
    ("CB-STP-02", "Trần Văn Minh", 0, "0912345002"),
    ("LD-STP-01", "Phạm Quốc Hùng", 1, "0912345003"),
    ("CB-SKH-01", "Lê Thị Hồng Nhung", 0, "0983456001"),
    ("LD-SKH-01", "Vũ Đức Thắng", 1, "0983456002"),
    ("CB-STN-01", "Đỗ Mạnh Cường", 0, "0356789001"),
    ("LD-STN-01", "Hoàng Thị Lan", 1, "0356789002"),
    ("CB-LC-01", "Bùi Thanh Tùng", 0, "0779123001"),
    ("LD-LC-01", "Ngô Thị Mai", 1, "0779123002"),
]

PROCEDURES = {
    "000.00.30.H26": ("1.001233", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", 10, 200_000),
    "000.00.13.H26": ("2.001610", "Đăng ký thành lập doanh nghiệp tư nhân", 3, 50_000),
    "000.00.18.H26": (
        "1.004227",
        "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
        10,
        1_500_000,
    ),
    "000.15.31.H26": ("1.009994", "Cấp giấy phép xây dựng nhà ở riêng lẻ", 15, 75_000),
}

APPLICANTS = [
    ("Nguyễn Văn An", "0912000111"),
    ("Trần Thị Bích Ngọc", "0983000222"),
    ("Lê Hoàng Long", "0356000333"),
    ("Phạm Thị Hương", "0704000444"),
    ("Công ty TNHH Thương mại Cảng Xanh", "02253838888"),
    ("Vũ Minh Khôi", "01662000555"),
    ("Đặng Thu Trang", "0868000666"),
    ("Hoàng Văn Đức", "0945000777"),
    ("Bùi Thị Thanh Xuân", "0399000888"),
    ("Ngô Quang Huy", "0587000999"),
]


def _fmt(d: datetime) -> str:
    return d.astimezone(VN_TZ).strftime(PORTAL_DATE)


def seed(session: Session, now: datetime, calendar: WorkCalendar) -> dict[str, Any]:
    officers = [
        {
            "MaCanBo": code,
            "HoTen": name,
            "MaDonVi": code_ag,
            "TenDonVi": name_ag,
            "SoDienThoai": phone,
            "Email": f"{code.lower()}@haiphong.gov.vn",
            "LaLanhDao": head,
        }
        for (code, name, head, phone), (code_ag, name_ag) in zip(
            OFFICERS,
            [AGENCIES[0]] * 3 + [AGENCIES[1]] * 2 + [AGENCIES[2]] * 2 + [AGENCIES[3]] * 2,
            strict=True,
        )
    ]
    officer_report = upsert_officers(session, officers)
    assigned = {
        "000.00.30.H26": "CB-STP-01",
        "000.00.13.H26": "CB-SKH-01",
        "000.00.18.H26": "CB-STN-01",
        "000.15.31.H26": None,
    }

    items: list[dict[str, Any]] = []
    today = now.date()
    # (status, received working days ago, due in working days from today (negative: overdue), extra)
    plans: list[tuple[int, int, int, dict[str, Any]]] = [
        (2, 0, 8, {}),
        (4, 5, 2, {}),
        (4, 6, 1, {}),
        (4, 12, -1, {"LyDoTreHan": "Cần xác minh thông tin với cơ quan Công an"}),
        (4, 15, -3, {}),
        (
            5,
            3,
            7,
            {
                "DanhSachHoSoBoSung": [
                    {
                        "NoiDungBoSung": "Bản sao Căn cước công dân có chứng thực",
                        "NguoiYeuCauBoSung": "Nguyễn Thị Thu Hà",
                    }
                ]
            },
        ),
        (6, 4, 5, {"DaThanhToan": 0}),
        (3, 1, 9, {"GhiChu": "Hồ sơ không thuộc thẩm quyền giải quyết"}),
        (9, 9, 1, {}),
        (10, 11, -1, {}),
    ]
    seq = 0
    for agency_code, agency_name in AGENCIES:
        ma_tthc, ten_tthc, _days, fee = PROCEDURES[agency_code]
        for status, ago, due_in, extra in plans:
            seq += 1
            name, phone = APPLICANTS[seq % len(APPLICANTS)]
            received = datetime.combine(calendar.add_working_days(today, -ago), time(8, 30), tzinfo=VN_TZ)
            due = datetime.combine(calendar.add_working_days(today, due_in), time(17, 0), tzinfo=VN_TZ)
            if due_in < 0:
                due = datetime.combine(calendar.add_working_days(today, due_in), time(17, 0), tzinfo=VN_TZ)
            item: dict[str, Any] = {
                "MaHoSo": f"{agency_code}-{today:%y%m%d}-{seq:04d}",
                "MaTTHC": ma_tthc,
                "TenTTHC": ten_tthc,
                "ChuHoSo": name,
                "LoaiDoiTuong": 2 if name.startswith("Công ty") else 1,
                "SoDienThoai": phone,
                "Email": f"congdan{seq}@example.vn",
                "NgayTiepNhan": _fmt(received),
                "NgayHenTra": _fmt(due),
                "TrangThaiHoSo": status,
                "MaDonVi": agency_code,
                "TenDonVi": agency_name,
                "DonViXuLy": agency_name,
                "MaCanBo": assigned[agency_code],
                "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí giải quyết thủ tục", "Gia": fee}],
                "DaThanhToan": 1,
            }
            if status == 6:
                item["DuongDanThanhToan"] = f"https://dichvucong.gov.vn/p/thanh-toan?ma={item['MaHoSo']}"
            if status == 10:
                item["NgayTra"] = _fmt(now - timedelta(hours=2))
            item.update(extra)
            if item["MaCanBo"] is None:
                del item["MaCanBo"]
            items.append(item)
    report = upsert(session, items, now, source="demo")
    if report.errors:
        raise ValueError("demo data rejected: " + "; ".join(str(e) for e in report.errors))
    return {
        "officers": officer_report.created + officer_report.updated,
        "dossiers": report.created + report.updated + report.unchanged,
    }
