"""Prints messages to standard output: for a demo or a first look at the templates."""

from __future__ import annotations

import sys
from typing import ClassVar

from notifier.channels.addresses import any_address
from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient


class ConsoleSettings(ChannelSettings):
    template: str = "sms"


class ConsoleChannel(BaseChannel):
    name: ClassVar[str] = "console"
    medium: ClassVar[str] = "console"
    settings_model: ClassVar[type[ChannelSettings]] = ConsoleSettings

    def address_for(self, recipient: Recipient) -> str | None:
        return any_address(recipient)  # as the file channel: no address, no "sent"

    async def send(self, message: Message) -> str:
        head = f"[{message.kind} → {message.audience} {message.address}]"
        if message.dossier_code:
            head += f" hồ sơ {message.dossier_code}"
        sys.stdout.write(f"{head}\n{message.text}\n\n")
        sys.stdout.flush()
        return f"console:{message.notification_id}"
