"""Brandname SMS through a Vietnamese gateway with the eSMS JSON API, over aiohttp (notifier.channels.http).

One POST per message to `{base_url}{send_path}` with ApiKey, SecretKey, Phone (national form 0…),
Content, Brandname, SmsType, IsUnicode, Sandbox, RequestId and CallbackUrl. `RequestId` is our
idempotency key `notifier-<id>`: the gateway refuses a second request with the same id (code 124), which
we take as "already sent", so a row replayed after a crash is never billed twice.

The gateway calls `CallbackUrl` back (HTTP GET) with SMSID, RequestId and SendStatus. It signs nothing,
so the callback URL carries a secret token (`callback_token_env`) that we check.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import Field

from notifier.channels.base import (
    Message,
    PermanentError,
    TransientError,
)
from notifier.channels.common import SecretEnv, SmsChannel, SmsSettings, env_secret
from notifier.channels.http import HttpClient
from notifier.channels.webhook import (
    InboundSms,
    Receipt,
    WebhookInvalid,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    notification_id_from,
)
from notifier.rules.phones import InvalidPhone, stored_national
from notifier.rules.smstext import is_gsm7

OK = "100"
DUPLICATE_REQUEST = "124"
# Not this recipient: blocked number, wrong number format; content not matching the registered template.
RECIPIENT_CODES = {
    "99": "phone number blocked",
    "108": "phone number format",
    "146": "content not in template",
}
# The account, not the message: wrong keys, no price list, no balance, brandname, IP, network. The row
# waits with backoff while the operator fixes it.
ACCOUNT_CODES = {
    "101": "wrong ApiKey/SecretKey",
    "102": "no price list",
    "103": "balance too low",
    "104": "brandname not registered",
    "140": "IP not whitelisted",
    "177": "network not registered for the brandname",
}
# SendStatus in callbacks: 5 delivered, 4 rejected; 1, 2 and 7 are on the way.
_SEND_STATUS = {"5": "delivered", "4": "failed"}


class EsmsSettings(SmsSettings):
    base_url: str = "https://rest.esms.vn"
    send_path: str = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
    api_key_env: SecretEnv = "ESMS_API_KEY"
    secret_key_env: SecretEnv = "ESMS_SECRET_KEY"
    brandname: str = Field(..., min_length=1, max_length=11)
    sms_type: str = "2"  # customer care
    sandbox: bool = False
    callback_url: str | None = None  # default: {public_base_url}/webhooks/{name}/receipt?token=…
    callback_token_env: SecretEnv | None = None  # required to take callbacks and inbound messages


class EsmsSms(SmsChannel[EsmsSettings]):
    name: ClassVar[str] = "sms_esms"

    def __init__(self, settings: EsmsSettings, clock: Any, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._api_key = env_secret(settings.api_key_env, "api_key_env") or ""
        self._secret_key = env_secret(settings.secret_key_env, "secret_key_env") or ""
        self._callback_token = env_secret(settings.callback_token_env, "callback_token_env")
        self._http = self.holds(HttpClient("eSMS", settings.timeout_seconds, settings.base_url))

    def callback_url(self) -> str | None:
        """Where the gateway reports delivery; none without a token, since unsigned callbacks are refused."""
        url = self.s.callback_url or self.s.webhook_url(self.instance_name, "receipt")
        if not url or not self._callback_token:
            return None
        return url + ("&" if "?" in url else "?") + urlencode({"token": self._callback_token})

    def payload(self, phone: str, text: str, request_id: str) -> dict[str, str]:
        body = {
            "ApiKey": self._api_key,
            "SecretKey": self._secret_key,
            "Phone": phone,
            "Content": text,
            "Brandname": self.s.brandname,
            "SmsType": self.s.sms_type,
            "IsUnicode": "0" if is_gsm7(text) else "1",
            "Sandbox": "1" if self.s.sandbox else "0",
            "RequestId": request_id,
        }
        callback = self.callback_url()
        if callback:
            body["CallbackUrl"] = callback
        return body

    async def _post(self, phone: str, text: str, request_id: str) -> str:
        try:
            national = stored_national(phone)
        except InvalidPhone as exc:
            raise PermanentError(f"eSMS: {exc}", fallback=True) from exc
        response = await self._http.post(self.s.send_path, json_body=self.payload(national, text, request_id))
        if response.status == 429 or response.status >= 500:
            raise TransientError(f"eSMS HTTP {response.status}", retry_after=response.retry_after)
        if response.status != 200:
            raise PermanentError(f"eSMS HTTP {response.status}: {response.text[:200]}", fallback=False)
        try:
            result = response.json()
        except ValueError as exc:
            raise TransientError(f"eSMS answered non-JSON: {response.text[:200]!r}") from exc
        code = str(result.get("CodeResult", ""))
        if code == OK:
            return str(result.get("SMSID") or f"esms:{request_id}")
        if code == DUPLICATE_REQUEST:
            return f"esms:{request_id}"  # the gateway already has this request: it was sent before we died
        detail = result.get("ErrorMessage") or ""
        if code in ACCOUNT_CODES:
            raise TransientError(f"eSMS {code} {ACCOUNT_CODES[code]}: {detail}".rstrip(": "))
        if code in RECIPIENT_CODES:
            raise PermanentError(f"eSMS {code} {RECIPIENT_CODES[code]}: {detail}".rstrip(": "), fallback=True)
        raise PermanentError(f"eSMS {code or 'no CodeResult'}: {detail}".rstrip(": "), fallback=True)

    async def send(self, message: Message) -> str:
        return await self._post(message.address, message.text, message.idempotency_key)

    # -- webhooks -----------------------------------------------------------------------------------------
    def _verify(self, request: WebhookRequest) -> None:
        if self._callback_token is None:
            raise WebhookRejected("callback_token_env is not configured: callbacks cannot be checked")
        token = request.query.get("token") or ""
        if not hmac.compare_digest(token.encode(), self._callback_token.encode()):
            raise WebhookRejected("callback token does not match")

    def parse_receipts(self, request: WebhookRequest) -> list[Receipt]:
        self._verify(request)
        sms_id, status = request.param("SMSID"), request.param("SendStatus")
        request_id = request.param("RequestId")
        if not status or not (sms_id or request_id):
            raise WebhookInvalid("SendStatus and SMSID or RequestId are required")
        mapped = _SEND_STATUS.get(status)
        if mapped is None:
            return []
        return [
            Receipt(
                mapped,  # type: ignore[arg-type]
                provider_id=sms_id,
                notification_id=notification_id_from(request_id),
                error=f"eSMS SendStatus {status}" if mapped == "failed" else None,
            )
        ]

    def parse_inbound(self, request: WebhookRequest) -> InboundSms:
        """A gateway's forward of a message sent to the brandname's 2-way number (Phone, Content, SMSID)."""
        self._verify(request)
        fields = dict(request.query) | dict(request.form)  # JSON bodies arrive in `form` too
        sender = fields.get("Phone") or fields.get("phone")
        text = fields.get("Content") or fields.get("content")
        if not sender or text is None:
            raise WebhookInvalid("Phone and Content are required")
        return InboundSms(sender, text, fields.get("SMSID") or fields.get("RequestId"))

    async def inbound_reply(self, inbound: InboundSms, text: str, reply_id: str) -> WebhookReply | None:
        # This gateway cannot answer inline: the reply is a new SMS with its own request id.
        await self._post(inbound.sender, text, reply_id)
        return None

