"""The channel protocol: send one rendered message to one recipient, return the provider's id or raise.

What every channel has is `Channel`, constructor included; what only some channels can do (webhooks,
template data, state in the database, rate limits, an SMS budget) is in `notifier.channels.abilities`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from notifier.rules.clock import Clock


class ChannelError(Exception):
    """Base of what a channel may raise; anything else is treated as transient by the dispatcher."""


class TransientError(ChannelError):
    """Worth retrying later: timeouts, 5xx, rate limits."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Retrying the same channel will not help.

    `fallback` says the failure is about this recipient on this channel (not on Zalo, invalid number), so
    routing may try the audience's next channel. `opt_out` says the recipient asked to stop on this medium.
    """

    def __init__(self, message: str, *, fallback: bool = True, opt_out: bool = False) -> None:
        super().__init__(message)
        self.fallback = fallback
        self.opt_out = opt_out


@dataclass(frozen=True)
class Recipient:
    """Every address we know for one person; each channel picks the one it can use."""

    label: str  # officer code, or "citizen"
    name: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None
    telegram_chat_id: str | None = None
    zalo_user_id: str | None = None  # a Zalo OA follower: shared this phone, or an officer


@dataclass(frozen=True)
class Message:
    notification_id: int
    kind: str
    audience: str
    address: str
    text: str
    subject: str | None = None
    dossier_code: str | None = None
    attempt: int = 1  # above 1 the row may have reached the provider before: channels re-check what they hold
    # (label, callback data) pairs: chat channels show them as buttons, the others ignore them
    buttons: tuple[tuple[str, str], ...] = ()
    # Structured fields for channels that send a provider template rather than text (Zalo ZNS): filled by
    # the dispatcher from the render context for channels that declare `WantsTemplateData`, else None.
    data: Mapping[str, str] | None = None

    @property
    def idempotency_key(self) -> str:
        # Providers that de-duplicate by a client key get our row id: a replayed row is never sent twice.
        return f"notifier-{self.notification_id}"


class ChannelSettings(BaseModel):
    """Settings every channel accepts; plugins extend this with their own fields."""

    model_config = ConfigDict(extra="forbid")

    plugin: str | None = None  # run a plugin under another name, e.g. two SMS gateways
    enabled: bool = True
    template: str | None = None  # template family (sms, chat, email); the class's default when unset
    # What one message costs on this channel, in đồng (per part on an SMS channel); recorded on the
    # attempt and the notification so the operator sees what each route costs. Unset: not recorded.
    price_vnd: int | None = Field(None, ge=0)


@runtime_checkable
class Channel(Protocol):
    """One provider. The registry builds it as `cls(settings, clock, instance_name=...)`, where `settings`
    is an instance of the class's `settings_model` validated from the `[channels.NAME]` table."""

    name: ClassVar[str]
    medium: ClassVar[str]  # what an opt-out applies to: sms, telegram, zalo, email, file
    settings_model: ClassVar[type[ChannelSettings]]
    channel_type: str  # which template family: sms, chat or email

    def __init__(self, settings: ChannelSettings, clock: Clock, instance_name: str | None = None) -> None: ...

    def address_for(self, recipient: Recipient) -> str | None: ...

    async def send(self, message: Message) -> str: ...

    async def aclose(self) -> None: ...


class BaseChannel:
    """Convenience base: stores settings and clock; subclasses set the class attributes and `send`."""

    name: ClassVar[str] = ""
    medium: ClassVar[str] = ""
    settings_model: ClassVar[type[ChannelSettings]] = ChannelSettings
    default_channel_type: ClassVar[str] = "sms"

    def __init__(self, settings: ChannelSettings, clock: Clock, instance_name: str | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.instance_name = instance_name or self.name
        self.channel_type = settings.template or self.default_channel_type

    def address_for(self, recipient: Recipient) -> str | None:
        raise NotImplementedError

    async def send(self, message: Message) -> str:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def describe(settings: dict[str, Any]) -> str:
    """Settings for logs: secrets never printed."""
    shown = {
        k: ("***" if any(s in k for s in ("token", "secret", "password", "key")) else v)
        for k, v in settings.items()
    }
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
