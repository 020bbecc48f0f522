"""SMS through Twilio's Programmable Messaging, with the SDK's async HTTP client.

`base_url` replaces the SDK's API host (the Api domain's documented `base_url` attribute), so tests point
the real SDK at a loopback fake. Each message carries a status callback URL with our row id in it
(`?n=<id>`); callbacks and inbound SMS are accepted only with a valid `X-Twilio-Signature`, computed over
the URL as Twilio saw it (`public_base_url` + path).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import Field, ValidationInfo, field_validator
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from notifier.channels.base import (
    Message,
    PermanentError,
    TransientError,
)
from notifier.channels.common import LoopBound, SecretEnv, SmsChannel, SmsSettings, env_secret
from notifier.channels.webhook import (
    InboundSms,
    Receipt,
    WebhookInvalid,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)

# Twilio error codes (https://www.twilio.com/docs/api/errors) that say "not this recipient".
INVALID_NUMBER = {21211, 21214, 21217, 21407, 21408, 21612, 21614}
UNSUBSCRIBED = 21610
TOO_MANY_REQUESTS = 20429
AUTH_FAILED = {20003, 20005}

_STATUS = {"sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "undelivered",
           "failed": "failed"}  # fmt: skip


class TwilioSettings(SmsSettings):
    account_sid: str
    auth_token_env: SecretEnv = "TWILIO_AUTH_TOKEN"
    from_number: str | None = None  # E.164 or an alphanumeric sender id
    messaging_service_sid: str | None = Field(None, validate_default=True)
    base_url: str | None = None  # the SDK's default (Twilio's API host) when unset
    status_callback_url: str | None = None  # default: {public_base_url}/webhooks/{name}/receipt
    validate_signatures: bool = True

    @field_validator("messaging_service_sid")
    @classmethod
    def _sender(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and not info.data.get("from_number"):
            raise ValueError("set from_number or messaging_service_sid")
        return value


class TwilioSms(SmsChannel[TwilioSettings]):
    name: ClassVar[str] = "sms_twilio"

    def __init__(self, settings: TwilioSettings, clock: Any, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._token = env_secret(settings.auth_token_env, "auth_token_env") or ""
        self._validator = RequestValidator(self._token)
        self._client: LoopBound[Client] = self.holds(LoopBound(self._make_client, self._close_client))

    def _make_client(self) -> Client:
        http = AsyncTwilioHttpClient(timeout=self.s.timeout_seconds)
        client = Client(self.s.account_sid, self._token, http_client=http)
        if self.s.base_url:
            client.api.base_url = self.s.base_url.rstrip("/")
        return client

    @staticmethod
    async def _close_client(client: Client) -> None:
        await client.http_client.close()

    def callback_url(self, notification_id: int) -> str | None:
        base = self.s.status_callback_url or self.s.webhook_url(self.instance_name, "receipt")
        if not base:
            return None
        parts = urlsplit(base)
        query = (parts.query + "&" if parts.query else "") + urlencode({"n": notification_id})
        return urlunsplit(parts._replace(query=query))

    async def _already_sent(self, client: Client, message: Message) -> str | None:
        """After a lost attempt: the sid of a recent message Twilio holds with the same body, if any."""
        since = self.clock.now() - timedelta(days=1)
        try:
            recent = await client.messages.list_async(to=message.address, limit=20)
        except (TimeoutError, TwilioException, aiohttp.ClientError):
            return None  # cannot tell: sending again is better than not at all
        for m in recent:
            outbound = str(m.direction or "").startswith("outbound")
            fresh = m.date_created is None or m.date_created >= since
            if outbound and fresh and m.body == message.text:
                return str(m.sid)
        return None

    async def send(self, message: Message) -> str:
        client = self._client.get()
        if message.attempt > 1:
            sid = await self._already_sent(client, message)
            if sid:
                return sid
        kwargs: dict[str, Any] = {"to": message.address, "body": message.text, "smart_encoded": False}
        if self.s.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.s.messaging_service_sid
        if self.s.from_number:
            kwargs["from_"] = self.s.from_number
        callback = self.callback_url(message.notification_id)
        if callback:
            kwargs["status_callback"] = callback
        try:
            created = await client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise _classify(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        if created.status == "failed":
            raise PermanentError(f"Twilio refused the message {created.sid}", fallback=True)
        return str(created.sid)

    # -- webhooks -----------------------------------------------------------------------------------------
    def _verify(self, request: WebhookRequest) -> None:
        if not self.s.validate_signatures:
            return
        signature = request.header("X-Twilio-Signature")
        if not signature:
            raise WebhookRejected("missing X-Twilio-Signature")
        # Twilio signs the URL it called; behind a proxy only public_base_url knows that URL.
        if not self.s.public_base_url:
            raise WebhookRejected("public_base_url is not configured: signatures cannot be checked")
        query = f"?{request.query_string}" if request.query_string else ""
        url = self.s.public_base_url + request.path + query
        if not self._validator.validate(url, dict(request.form), signature):
            raise WebhookRejected("X-Twilio-Signature does not match")

    def parse_receipts(self, request: WebhookRequest) -> list[Receipt]:
        self._verify(request)
        sid = request.param("MessageSid") or request.param("SmsSid")
        raw_status = (request.param("MessageStatus") or request.param("SmsStatus") or "").lower()
        if not sid or not raw_status:
            raise WebhookInvalid("MessageSid and MessageStatus are required")
        status = _STATUS.get(raw_status)
        if status is None:  # queued, sending, accepted, scheduled: nothing we do not know already
            return []
        n = request.query.get("n")
        code = request.param("ErrorCode")
        error = f"Twilio {code}" if code else None
        opted_out = code is not None and code.isascii() and code.isdigit() and int(code) == UNSUBSCRIBED
        return [
            Receipt(
                status,  # type: ignore[arg-type]
                provider_id=sid,
                notification_id=int(n) if n and n.isascii() and n.isdigit() else None,
                error=error,
                opt_out_address=request.param("To") if opted_out else None,
            )
        ]

    def parse_inbound(self, request: WebhookRequest) -> InboundSms:
        self._verify(request)
        sender, body = request.param("From"), request.param("Body")
        if not sender or body is None:
            raise WebhookInvalid("From and Body are required")
        return InboundSms(sender, body, request.param("MessageSid") or request.param("SmsSid"))

    async def inbound_reply(self, inbound: InboundSms, text: str, reply_id: str) -> WebhookReply | None:
        # The reply rides on the webhook's response: Twilio sends it back from the number written to.
        twiml = MessagingResponse()
        twiml.message(text)
        return WebhookReply(str(twiml), "application/xml")


def _classify(exc: TwilioRestException) -> Exception:
    code = exc.code
    text = f"Twilio {code or exc.status}: {exc.msg}"
    if code == TOO_MANY_REQUESTS or exc.status == 429:
        return TransientError(text)
    if exc.status >= 500:
        return TransientError(text)
    if code == UNSUBSCRIBED:
        return PermanentError(text, fallback=True, opt_out=True)
    if code in INVALID_NUMBER:
        return PermanentError(text, fallback=True)
    if code in AUTH_FAILED or exc.status in (401, 403):
        # Credentials are for the operator to fix; the row waits with backoff rather than failing at once.
        return TransientError(text)
    return PermanentError(text, fallback=False)
