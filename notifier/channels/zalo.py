"""Zalo Notification Service (ZNS): a pre-approved template filled with data, sent to a phone number.

ZNS sends structured data, not our text: for each kind, config names the approved `template_id` and how
to fill each template parameter from the render context (a Jinja expression, validated at start-up like
any template). The dispatcher renders those into `Message.data` (this channel declares
`WantsTemplateData`); a kind without a ZNS template is skipped so routing moves to the next channel.
Values are cut to the parameter's limit (default 30 characters; ZNS allows 30 for names, codes and
statuses, 15 for phones, 200 for addresses).

Phones go as `84…`; `tracking_id` is our notification id. Access tokens last about a day and the refresh
token is single-use, so refreshed tokens are stored (`provider_tokens`; the channel declares `KeepsState`)
and shared by all workers; an "access token invalid" answer (-124) refreshes once and retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.addresses import mobile_of
from notifier.channels.base import (
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.channels.common import ProviderChannel, SecretEnv, env_secret
from notifier.channels.http import HttpClient
from notifier.channels.webhook import Receipt, WebhookInvalid, WebhookRejected, WebhookRequest
from notifier.channels.zalo_oauth import ZaloAppSettings
from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import REGISTRY, is_kind
from notifier.rules.phones import InvalidPhone, to_zalo
from notifier.rules.rendering import TemplateError, render, sample_context, validate

TOKEN_INVALID = -124
# The person cannot get ZNS: phone invalid, Zalo too old, inactive or refusing, no Zalo account,
# account cannot receive ZNS. Routing falls through to the next channel (usually SMS).
NOT_ON_ZALO = {-108, -110, -114, -118, -119}
# Worth retrying: unknown error, quota used up for now.
TRANSIENT = {-100, -115}


class ZnsParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str  # Jinja expression over the render context, e.g. "{{ dossier.code }}"
    max: int = Field(30, ge=1)


class ZnsKind(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: str
    params: dict[str, str | ZnsParam] = Field(default_factory=dict)

    def param(self, name: str) -> ZnsParam:
        p = self.params[name]
        return p if isinstance(p, ZnsParam) else ZnsParam(value=p)


class ZaloSettings(ZaloAppSettings):
    base_url: str = "https://business.openapi.zalo.me"
    oa_secret_env: SecretEnv | None = None  # verifies the OA's webhook events (X-ZEvent-Signature)
    kinds: dict[str, ZnsKind] = Field(default_factory=dict)

    @field_validator("kinds")
    @classmethod
    def _templates_valid(cls, value: dict[str, ZnsKind]) -> dict[str, ZnsKind]:
        # A broken expression is found at start-up, naming the kind and parameter, not at the first send.
        for kind, spec in value.items():
            if not is_kind(kind):
                raise ValueError(f"kinds.{kind}: unknown kind; expected one of {', '.join(REGISTRY)}")
            for name in spec.params:
                check_param(spec.param(name).value, f"kinds.{kind}.params.{name}", kind)
        return value


def check_param(source: str, field: str, kind: str) -> None:
    """A parameter expression must render for a full sample of its kind. Unlike a message template it
    may fail when an optional field is empty (no due date yet): that dossier then skips ZNS."""
    errors = validate(source, field=field, kind=kind)
    if not errors:
        return
    try:
        render(source, sample_context(_CHECK_AT, kind), field=field)
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc


_CHECK_AT = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)  # any fixed instant: sample dates follow from it


def truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


class ZaloZns(ProviderChannel[ZaloSettings]):
    name: ClassVar[str] = "zalo_zns"
    medium: ClassVar[str] = "zalo"
    default_channel_type: ClassVar[str] = "chat"  # the text kept on the row for people to read

    def __init__(self, settings: ZaloSettings, clock: Any, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._oa_secret = env_secret(settings.oa_secret_env, "oa_secret_env")
        self._http = self.holds(HttpClient("Zalo", settings.timeout_seconds))
        self.oauth = settings.oauth(self.instance_name, clock, self._http)

    def bind_storage(self, factory: sessionmaker[Session]) -> None:
        """Keep tokens in the database (the dispatcher calls this with its session factory)."""
        self.oauth.bind_storage(factory)

    def address_for(self, recipient: Recipient) -> str | None:
        return mobile_of(recipient)  # never a landline (routing falls through)

    def data_templates(self, kind: str) -> Mapping[str, str] | None:
        spec = self.s.kinds.get(kind)
        return None if spec is None else {name: spec.param(name).value for name in spec.params}

    async def access_token(self, *, stale: str | None = None) -> str:
        return await self.oauth.access_token(stale=stale)

    # -- sending ------------------------------------------------------------------------------------------
    def template_data(self, message: Message) -> tuple[str, dict[str, str]]:
        spec = self.s.kinds.get(message.kind)
        if spec is None:
            raise PermanentError(f"Zalo: no ZNS template configured for kind '{message.kind}'", fallback=True)
        data = message.data or {}
        missing = [name for name in spec.params if name not in data]
        if missing:
            raise PermanentError(f"Zalo: template data lacks {', '.join(missing)}", fallback=True)
        return spec.template_id, {name: truncate(data[name], spec.param(name).max) for name in spec.params}

    async def _post(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.s.base_url.rstrip("/") + "/message/template"
        response = await self._http.post(url, json_body=body, headers={"access_token": token})
        return response.json_object("Zalo")

    async def send(self, message: Message) -> str:
        template_id, data = self.template_data(message)
        try:
            phone = to_zalo(message.address)
        except InvalidPhone as exc:
            raise PermanentError(f"Zalo: {exc}", fallback=True) from exc
        body = {
            "phone": phone,
            "template_id": template_id,
            "template_data": data,
            "tracking_id": str(message.notification_id),
        }
        token = await self.access_token()
        result = await self._post(token, body)
        if result.get("error") == TOKEN_INVALID:
            result = await self._post(await self.access_token(stale=token), body)
        code = int(result.get("error", -100))
        if code == 0:
            return str((result.get("data") or {}).get("msg_id") or f"zns:{message.notification_id}")
        text = f"Zalo {code}: {result.get('message') or ''}".rstrip(": ")
        if code in NOT_ON_ZALO:
            raise PermanentError(text, fallback=True)
        if code in TRANSIENT or code == TOKEN_INVALID:
            raise TransientError(text)
        # Template or OA problems: this message cannot go by ZNS, but the person may still get an SMS.
        raise PermanentError(text, fallback=True)

    # -- webhooks -----------------------------------------------------------------------------------------
    def parse_receipts(self, request: WebhookRequest) -> list[Receipt]:
        """OA webhook events; `user_received_message` is a ZNS delivery receipt."""
        if self._oa_secret is None:
            raise WebhookRejected("oa_secret_env is not configured: events cannot be verified")
        try:
            event = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise WebhookInvalid("body is not JSON") from exc
        if not isinstance(event, dict):
            raise WebhookInvalid("body is not a JSON object")
        signature = (request.header("X-ZEvent-Signature") or "").removeprefix("mac=")
        # mac = sha256(app id + raw body + timestamp + OA secret key), per Zalo's OA webhook docs.
        mac_input = (
            self.s.app_id + request.body.decode("utf-8") + str(event.get("timestamp", "")) + self._oa_secret
        )
        expected = hashlib.sha256(mac_input.encode("utf-8")).hexdigest()
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            raise WebhookRejected("X-ZEvent-Signature does not match")
        if event.get("event_name") != "user_received_message":
            return []
        msg = event.get("message") or {}
        msg_id, tracking = msg.get("msg_id"), str(msg.get("tracking_id") or "")
        if not msg_id and not tracking:
            raise WebhookInvalid("message.msg_id is required")
        return [
            Receipt(
                "delivered",
                provider_id=str(msg_id) if msg_id else None,
                notification_id=int(tracking) if tracking.isascii() and tracking.isdigit() else None,
            )
        ]
