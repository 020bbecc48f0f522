"""Channel plugins written the way a province would write its own, used to steer provider outcomes."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from notifier.channels.addresses import mobile_of
from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient


class ScriptedSettings(ChannelSettings):
    template: str = "sms"


class ScriptedSms(BaseChannel):
    """An SMS gateway whose answers the test scripts: each call pops the next outcome."""

    name: ClassVar[str] = "scripted_sms"
    medium: ClassVar[str] = "sms"
    settings_model: ClassVar[type[ChannelSettings]] = ScriptedSettings

    def __init__(
        self,
        outcomes: list[Exception | None] | None = None,
        decide: Callable[[Message], Exception | None] | None = None,
    ) -> None:
        from tests.conftest import T0, FixedClock

        super().__init__(ScriptedSettings(), FixedClock(T0), "scripted_sms")
        self.outcomes = list(outcomes or [])
        self.decide = decide
        self.received: list[Message] = []

    def address_for(self, recipient: Recipient) -> str | None:
        return mobile_of(recipient)  # as the shipped SMS channels: mobiles only

    async def send(self, message: Message) -> str:
        outcome = self.decide(message) if self.decide else (self.outcomes.pop(0) if self.outcomes else None)
        if outcome is not None:
            raise outcome
        self.received.append(message)
        return f"sm-{len(self.received)}"
