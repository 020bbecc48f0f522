"""What the core's buttons carry back, packed as short strings (≤ 64 bytes, Telegram's callback limit).

The formats are the ones the Telegram bot used before the core existed, so buttons already on citizens'
phones keep working: `d:<action>:<dossier id>:<signature>` (show, sub, fb; ok carries a pending link's
id), `fb:none`, `fb:cancel`, and
the officers' `oa:<action>:<dossier id>` (notifier.rules.officer_buttons).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum


class DossierAct(StrEnum):
    SHOW = "show"  # details of a linked dossier
    SUBSCRIBE = "sub"  # link it (signed: the chat proved the digits)
    FEEDBACK = "fb"  # feedback about it
    CONFIRM = "ok"  # a linked chat agrees to another chat's pending link (the id is the link's; signed)


class FormAct(StrEnum):
    NO_DOSSIER = "none"
    CANCEL = "cancel"


@dataclass(frozen=True)
class DossierPayload:
    action: DossierAct
    dossier_id: int
    sig: str = ""

    def pack(self) -> str:
        return f"d:{self.action.value}:{self.dossier_id}:{self.sig}"


@dataclass(frozen=True)
class FormPayload:
    action: FormAct

    def pack(self) -> str:
        return f"fb:{self.action.value}"


def parse(payload: str) -> DossierPayload | FormPayload | None:
    """The typed payload, or None for anything else (an officer's `oa:…`, a forged or stale string)."""
    parts = payload.split(":")
    if parts[0] == "d" and len(parts) == 4 and parts[2].isdigit():
        try:
            return DossierPayload(DossierAct(parts[1]), int(parts[2]), parts[3])
        except ValueError:
            return None
    if parts[0] == "fb" and len(parts) == 2:
        try:
            return FormPayload(FormAct(parts[1]))
        except ValueError:
            return None
    return None


class Signer:
    """Signs the dossier ids the core puts in "subscribe" buttons for one conversation.

    A platform hands back whatever payload a client sends, so an id alone could be swapped for another
    dossier's; the signature ties the button to the conversation the look-up was proven in.
    """

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"notifier-bot-callback:" + secret.encode()).digest()

    def sign(self, chat_key: int | str, dossier_id: int) -> str:
        mac = hmac.new(self._key, f"{chat_key}:{dossier_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:20]

    def verify(self, chat_key: int | str, dossier_id: int, sig: str) -> bool:
        return hmac.compare_digest(self.sign(chat_key, dossier_id), sig)
