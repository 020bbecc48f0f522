"""Portal-shaped test data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.rules.clock import VN_TZ

AGENCY = "000.00.30.H26"
AGENCY_NAME = "Sở Tư pháp thành phố Hải Phòng"


def ts(*parts: int) -> str:
    """yyyyMMddHHmmss for a Vietnam-time date-time given as (y, m, d, H, M)."""
    return datetime(*parts, tzinfo=VN_TZ).strftime("%Y%m%d%H%M%S")  # type: ignore[misc]


def dossier(code: str = "000.00.30.H26-261120-0001", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MaHoSo": code,
        "MaTTHC": "1.001233",
        "TenTTHC": "Cấp Thẻ công chứng viên",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": 1,
        "SoDienThoai": "0912345678",
        "Email": "an.nguyen@example.vn",
        "NgayTiepNhan": ts(2026, 11, 20, 8, 30),
        "NgayHenTra": ts(2026, 12, 4, 17, 0),
        "TrangThaiHoSo": 4,
        "MaDonVi": AGENCY,
        "TenDonVi": AGENCY_NAME,
        "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí cấp Thẻ công chứng viên", "Gia": 200000}],
        "DaThanhToan": 1,
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def officers() -> list[dict[str, Any]]:
    return [
        {
            "MaCanBo": "CB01",
            "HoTen": "Nguyễn Thị Thu Hà",
            "MaDonVi": AGENCY,
            "TenDonVi": AGENCY_NAME,
            "SoDienThoai": "0912000001",
            "Email": "ha@haiphong.gov.vn",
            "LaLanhDao": 0,
        },
        {
            "MaCanBo": "CB02",
            "HoTen": "Trần Văn Minh",
            "MaDonVi": AGENCY,
            "TenDonVi": AGENCY_NAME,
            "SoDienThoai": "0912000002",
            "LaLanhDao": 0,
        },
        {
            "MaCanBo": "LD01",
            "HoTen": "Phạm Quốc Hùng",
            "MaDonVi": AGENCY,
            "TenDonVi": AGENCY_NAME,
            "SoDienThoai": "0912000003",
            "LaLanhDao": 1,
        },
    ]
