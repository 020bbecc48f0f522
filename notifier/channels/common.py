"""Pieces the provider plugins share: settings mixins, secrets from the environment, and HTTP clients
that belong to the event loop they were made in."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar, get_args

from pydantic import AfterValidator, Field, field_validator

from notifier.channels.addresses import mobile_of
from notifier.channels.base import BaseChannel, ChannelSettings, Recipient
from notifier.rules.clock import Clock
from notifier.rules.ratelimit import Limits
from notifier.rules.smsbudget import SmsBudget, segment_limit


def env_secret(var: str | None, setting: str) -> str | None:
    """The value of the environment variable a `*_env` setting names; None when the setting is unset."""
    if not var:
        return None
    value = os.environ.get(var)
    if not value:
        raise ValueError(f"{setting}: environment variable '{var}' is not set")
    return value


def check_env(value: str | None) -> str | None:
    # Checked when the config is read, so a missing secret stops start-up with the setting's name.
    if value and not os.environ.get(value):
        raise ValueError(f"environment variable '{value}' is not set")
    return value


# A `*_env` setting: the name of the environment variable that holds a secret, which must be set.
SecretEnv = Annotated[str, AfterValidator(check_env)]


class ProviderSettings(ChannelSettings):
    """Every provider plugin: HTTP timeout and rate limits (see notifier.rules.ratelimit)."""

    timeout_seconds: float = Field(10.0, gt=0)
    rate_per_second: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    per_recipient_per_second: float | None = Field(None, gt=0)
    per_recipient_burst: int = Field(1, ge=1)
    max_wait_seconds: float = Field(10.0, ge=0)
    # Where the provider reaches our webhooks, as the provider sees it (e.g. behind a reverse proxy):
    # receipts and inbound messages arrive at {public_base_url}/webhooks/{channel}/receipt|inbound.
    public_base_url: str | None = None

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def webhook_url(self, channel: str, hook: str) -> str | None:
        return f"{self.public_base_url}/webhooks/{channel}/{hook}" if self.public_base_url else None

    def rate_limits(self) -> Limits:
        """What a channel declaring `HasRateLimits` hands the dispatcher's rate limiter."""
        # The settings carry Limits' own field names, so each is copied by name.
        return Limits(**{f.name: getattr(self, f.name) for f in fields(Limits)})


class SmsSettings(ProviderSettings):
    """SMS economics: fold to không dấu and a segment budget (see notifier.rules.smsbudget)."""

    khong_dau: bool | Literal["auto"] = False
    max_segments: int | None = Field(None, ge=1)
    max_segments_by_kind: dict[str, int] = Field(default_factory=dict)

    def sms_budget(self, kind: str) -> SmsBudget:
        """What a channel declaring `HasSmsBudget` hands the dispatcher for one kind of message."""
        return SmsBudget(self.khong_dau, segment_limit(kind, self.max_segments, self.max_segments_by_kind))


T = TypeVar("T")


class LoopBound(Generic[T]):
    """A client (aiohttp/httpx session) made lazily inside the running loop, remade if the loop changes.

    Sessions are tied to the loop that created them; a channel may be built before any loop runs
    (start-up checks) and a CLI run may start a fresh loop.
    """

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[object]]) -> None:
        self._make = make
        self._close = close
        self._loop: asyncio.AbstractEventLoop | None = None
        self._value: T | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._value is None or self._loop is not loop:
            self._value, self._loop = self._make(), loop
        return self._value

    async def aclose(self) -> None:
        value, self._value = self._value, None
        if value is not None and self._loop is asyncio.get_running_loop():
            await self._close(value)


class Closable(Protocol):
    async def aclose(self) -> None: ...


S = TypeVar("S", bound=ProviderSettings)
C = TypeVar("C", bound=Closable)


class ProviderChannel(BaseChannel, Generic[S]):
    """A channel that talks to a provider: its settings typed as `self.s`, rate limits from its table,
    and the clients it holds open closed with it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The settings class is named once, as the type argument (`ProviderChannel[EmailSettings]`): it is
        # the `settings_model` the registry validates the channel's table with.
        if "settings_model" not in cls.__dict__:
            for base in getattr(cls, "__orig_bases__", ()):
                model = next(iter(get_args(base)), None)
                if isinstance(model, type) and issubclass(model, ChannelSettings):
                    cls.settings_model = model

    def __init__(self, settings: S, clock: Clock, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self.s: S = settings
        self._held: list[Closable] = []

    def holds(self, client: C) -> C:
        """Register a client (HTTP session, loop-bound SDK client) to be closed by `aclose`."""
        self._held.append(client)
        return client

    def rate_limits(self) -> Limits:
        return self.s.rate_limits()

    async def aclose(self) -> None:
        for client in self._held:
            await client.aclose()


SS = TypeVar("SS", bound=SmsSettings)


class SmsChannel(ProviderChannel[SS]):
    """An SMS provider: mobile numbers only (a landline falls through to the next channel), and the
    per-kind segment budget from its table."""

    medium: ClassVar[str] = "sms"
    default_channel_type: ClassVar[str] = "sms"

    def address_for(self, recipient: Recipient) -> str | None:
        return mobile_of(recipient)

    def sms_budget(self, kind: str) -> SmsBudget:
        return self.s.sms_budget(kind)
