"""Data-subject requests under the personal-data law (names in config and templates, not here): what a
citizen may ask for, through which channel, and where a request stands."""

from __future__ import annotations

from enum import StrEnum


class RequestKind(StrEnum):
    ACCESS = "access"  # see the data notifier holds about them
    CORRECT = "correct"  # correct a name, phone or e-mail
    ERASE = "erase"  # erase it (the counts the reports need stay, as with retention)
    WITHDRAW = "withdraw"  # withdraw consent: no more messages on any medium


class RequestStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"


class RequestChannel(StrEnum):
    """Through which channel a request or a consent came: the bot, an officer or admin on the citizen's
    behalf, and the web page and Zalo that will call the same workflow."""

    BOT = "bot"
    OFFICER = "officer"
    ADMIN = "admin"
    WEB = "web"
    ZALO = "zalo"


# Fields a correction may set on the subject's dossiers: the portal's names, as officers know them.
CORRECTABLE = {"ChuHoSo": "applicant_name", "SoDienThoai": "phone", "Email": "email"}

ERASED_NAME = "[đã xoá theo yêu cầu]"
