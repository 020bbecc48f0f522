"""The National Public Service Portal's dossier status codes (TrangThaiHoSo) and their official names."""

from __future__ import annotations

from enum import IntEnum

from notifier.rules.phrases import DEFAULT_LANGUAGE, t


def _(message: str) -> str:
    """Marks a msgid of the `messages` catalog; `status_name` translates it."""
    return message


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
    1: _("Mới đăng ký"),
    2: _("Được tiếp nhận"),
    3: _("Không được tiếp nhận"),
    4: _("Đang xử lý"),
    5: _("Yêu cầu bổ sung giấy tờ"),
    6: _("Yêu cầu thực hiện nghĩa vụ tài chính"),
    7: _("Công dân yêu cầu rút hồ sơ"),
    8: _("Dừng xử lý"),
    9: _("Đã xử lý xong"),
    10: _("Đã trả kết quả"),
}

# A dossier can only run late while the agency holds it: in 5 and 6 the clock waits for the citizen.
OPEN_FOR_DEADLINE: tuple[int, ...] = (Status.ACCEPTED, Status.PROCESSING)

def status_name(code: int, language: str = DEFAULT_LANGUAGE) -> str:
    """The portal's name of status `code` as the `messages` catalog words it in `language`."""
    name = STATUS_NAMES.get(code)
    if name is None:
        return t(language, "Không rõ (%(code)s)") % {"code": code}
    return t(language, name)
