"""What only some channels can do, each declared as a protocol the channel satisfies by having the methods.

Callers ask with `isinstance(channel, Ability)` and skip what a channel does not declare: a plugin that
lacks an ability is simply never asked for it, and one that has it is asked through a typed method rather
than an attribute looked up by name.

| ability | methods | asked by |
| --- | --- | --- |
| `TakesReceipts` | `parse_receipts(request)` | the webhook `/webhooks/NAME/receipt` |
| `TakesInbound` | `parse_inbound(request)`, `inbound_reply(...)` | the webhook `/webhooks/NAME/inbound` |
| `TakesEvents` | `parse_events(request)`, `events_body_limit()` | `/webhooks/NAME/inbound` of a chat app |
| `WantsTemplateData` | `data_templates(kind)` | the dispatcher, to fill `Message.data` (Zalo ZNS) |
| `KeepsState` | `bind_storage(session_factory)` | the dispatcher, once, before the first send |
| `HasRateLimits` | `rate_limits()` | the dispatcher's rate limiter |
| `HasSmsBudget` | `sms_budget(kind)` | the dispatcher and the inbound reply: không dấu and segments |

`ProviderSettings.rate_limits()` and `SmsSettings.sms_budget(kind)` (notifier.channels.common) give a channel
built on those settings its one-line implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeGuard, runtime_checkable

from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.base import Channel, ChannelSettings
from notifier.channels.webhook import InboundSms, Receipt, WebhookReply, WebhookRequest
from notifier.rules.ratelimit import Limits
from notifier.rules.smsbudget import SmsBudget, SmsFit
from notifier.store.zalo import InboxRow


@runtime_checkable
class TakesReceipts(Protocol):
    """Reads the provider's delivery receipts; raises WebhookRejected (403) or WebhookInvalid (422)."""

    def parse_receipts(self, request: WebhookRequest) -> list[Receipt]: ...


@runtime_checkable
class TakesInbound(Protocol):
    """Reads an SMS a citizen sent, and answers it: in the webhook's response (returned) or as a new message
    through the provider (None)."""

    def parse_inbound(self, request: WebhookRequest) -> InboundSms: ...

    async def inbound_reply(self, inbound: InboundSms, text: str, reply_id: str) -> WebhookReply | None: ...


@runtime_checkable
class TakesEvents(Protocol):
    """Receives a chat platform's events (Zalo OA): each is checked and stored in an inbox, acknowledged at
    once and applied later by a worker, because the platform stops calling a webhook that answers slowly."""

    def parse_events(self, request: WebhookRequest) -> list[InboxRow]: ...

    def events_body_limit(self) -> int: ...


@runtime_checkable
class WantsTemplateData(Protocol):
    """Sends a provider template filled with data rather than our text (Zalo ZNS).

    `data_templates(kind)` gives a Jinja expression per field, rendered over the message's context into
    `Message.data`; None when this channel has no template for the kind (routing moves on).
    """

    def data_templates(self, kind: str) -> Mapping[str, str] | None: ...


@runtime_checkable
class KeepsState(Protocol):
    """Keeps state that every worker must share in the database (Zalo's single-use refresh token)."""

    def bind_storage(self, factory: sessionmaker[Session]) -> None: ...


@runtime_checkable
class HasRateLimits(Protocol):
    """The provider limits how fast we may send, in all and per recipient."""

    def rate_limits(self) -> Limits: ...


@runtime_checkable
class HasSmsBudget(Protocol):
    """An SMS channel that folds to không dấu and keeps a segment budget, possibly per kind."""

    def sms_budget(self, kind: str) -> SmsBudget: ...


# Media whose providers can neither refuse a repeated request (no client idempotency key) nor tell what was
# already sent: Telegram's Bot API (sendMessage takes no key; a bot cannot read back its own chat history)
# and Zalo ZNS (`tracking_id` only comes back in callbacks; no look-up by it). A resend after a lost answer
# may reach the person twice, so the dispatcher records the hand-off before the call. The other shipped
# channels check on a repeat: eSMS refuses a repeated RequestId, Twilio is asked for a recent message with
# the same body, e-mail keeps one Message-ID, the file channel re-reads its file.
UNCHECKED_MEDIA: frozenset[str] = frozenset({"telegram", "zalo"})


def cannot_tell_repeats(channel: Channel) -> bool:
    """True when a resend through this channel could deliver the message twice."""
    return channel.medium in UNCHECKED_MEDIA


def price_of(channel: Channel, segments: int | None) -> int | None:
    """What one message costs on this channel (`price_vnd`, per part for SMS), or None when unpriced."""
    settings = getattr(channel, "settings", None)
    price = settings.price_vnd if isinstance(settings, ChannelSettings) else None
    return None if price is None else price * max(segments or 1, 1)


_DECLARED: dict[tuple[type, type], bool] = {}


def declares(channel: Channel, ability: type) -> bool:
    """`isinstance(channel, ability)`, answered once per channel class: a protocol check looks up every
    method each time, and the dispatcher asks several per message. Channels declare an ability by the
    methods of their class (see above), so every instance of a class answers alike."""
    key = (type(channel), ability)
    found = _DECLARED.get(key)
    if found is None:
        found = _DECLARED[key] = isinstance(channel, ability)
    return found


def wants_template_data(channel: Channel) -> TypeGuard[WantsTemplateData]:
    return declares(channel, WantsTemplateData)


def rate_limits_of(channel: Channel) -> Limits | None:
    """The channel's rate limits; None (unlimited) for a channel that declares none."""
    return channel.rate_limits() if declares(channel, HasRateLimits) else None  # type: ignore[attr-defined]


def fit_sms_text(channel: Channel, text: str, kind: str) -> SmsFit:
    """The SMS text to send for one kind on this channel; unchanged for a channel without an SMS budget."""
    budget = channel.sms_budget(kind) if declares(channel, HasSmsBudget) else SmsBudget()  # type: ignore[attr-defined]
    return budget.fit(text)
