"""The National Public Service Portal's dossier status codes (TrangThaiHoSo) and their official names."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    NEW = 1
    ACCEPTED = 2
    NOT_ACCEPTED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWN = 7
    STOPPED = 8
    RESOLVED = 9
    RETURNED = 10


STATUS_NAMES: dict[int, str] = {
    1: "Mới đăng ký",
    2: "Được tiếp nhận",
    3: "Không được tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}

# A dossier can only run late while the agency holds it: in 5 and 6 the clock waits for the citizen.
OPEN_FOR_DEADLINE: tuple[int, ...] = (Status.ACCEPTED, Status.PROCESSING)

def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, f"Không rõ ({code})")
