"""What a channel reads from and answers to its provider's webhooks: delivery receipts and inbound SMS.

The web layer (notifier.web.webhooks) turns an HTTP request into a `WebhookRequest` and hands it to the
channel configured under that name; the channel checks the provider's signature or token and returns
plain data. A channel takes only the webhooks it declares (notifier.channels.abilities):

- `TakesReceipts`: `parse_receipts(request) -> list[Receipt]`
- `TakesInbound`: `parse_inbound(request) -> InboundSms`, and `async inbound_reply(inbound, text, reply_id)`
  returning the webhook response (TwiML for Twilio) or None after sending the reply through the provider.

Anything that fails the provider's check raises `WebhookRejected`: the request gets 403 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ReceiptStatus = Literal["sent", "delivered", "undelivered", "failed"]


class WebhookRejected(Exception):
    """The request did not come from the provider (bad or missing signature/token)."""


class WebhookInvalid(ValueError):
    """The request is the provider's but cannot be read (missing field): 422."""


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str  # as this app received it, e.g. /webhooks/sms_twilio/receipt
    query_string: str  # raw, without '?'
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    form: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """A field from the form body, else the query string."""
        return self.form.get(name) if name in self.form else self.query.get(name)


@dataclass(frozen=True)
class Receipt:
    status: ReceiptStatus
    provider_id: str | None = None
    notification_id: int | None = None  # when the provider echoes our id (callback URL, RequestId, ...)
    error: str | None = None
    opt_out_address: str | None = None  # the provider says the recipient unsubscribed (Twilio 21610)
    # What the provider charged for the message, in đồng, when its receipt says: replaces the estimate
    # (price_vnd × parts) in the notification's cost and the agency's monthly spend (outbox.spend).
    cost_vnd: int | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundSms:
    sender: str  # as the provider gives it; normalised to E.164 by the handler
    text: str
    provider_id: str | None = None


@dataclass(frozen=True)
class WebhookReply:
    body: str
    media_type: str = "text/plain; charset=utf-8"


def notification_id_from(key: str | None) -> int | None:
    """Our row id back from an idempotency key echoed by a provider ("notifier-42" -> 42)."""
    if not key:
        return None
    head, _, tail = key.rpartition("-")
    if head != "notifier" or not (tail.isascii() and tail.isdigit()):
        return None
    return int(tail)
