"""The buttons on an officer's alert and the data they carry back.

The Telegram buttons on an `apology_due` or overdue alert carry `oa:<action>:<dossier id>` (at most 64
bytes, Telegram's limit for callback data; ids keep it short whatever the length of MaHoSo):
- `oa:n:<id>`  "Lập Mẫu 04": the bot asks for the new date and the reason (the Mẫu 04 document);
- `oa:r:<id>`  "Đã xử lý xong": the bot asks to confirm; `oa:rc:<id>` confirms, `oa:x:<id>` cancels.
"""

from __future__ import annotations

from notifier.rules.kinds import is_kind, kind_info
from notifier.rules.phrases import DEFAULT_LANGUAGE, t


def _(message: str) -> str:
    """Marks a msgid of the `messages` catalog (the buttons travel with a notification); `alert_buttons`
    translates it."""
    return message


CALLBACK_PREFIX = "oa"
BUTTON_NEW_DATE = _("Lập Mẫu 04 (xin lỗi, gia hạn)")
BUTTON_RESOLVED = _("Đã xử lý xong")
ACTIONS = {"n": "new_date", "r": "resolve", "rc": "resolve_confirmed", "x": "cancel"}


def callback_data(action: str, dossier_id: int) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown officer action {action!r}")
    return f"{CALLBACK_PREFIX}:{action}:{dossier_id}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """(action, dossier id) from button data, or None if it is not one of ours."""
    if not data:
        return None
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or parts[1] not in ACTIONS or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


def alert_buttons(
    kind: str, dossier_id: int | None, language: str = DEFAULT_LANGUAGE
) -> tuple[tuple[str, str], ...]:
    """The inline buttons an officer's alert carries (chat channels show them, others ignore them), labelled
    in `language` by the `messages` catalog."""
    if not is_kind(kind) or not kind_info(kind).actionable or dossier_id is None:
        return ()
    return (
        (t(language, BUTTON_NEW_DATE), callback_data("n", dossier_id)),
        (t(language, BUTTON_RESOLVED), callback_data("r", dossier_id)),
    )
