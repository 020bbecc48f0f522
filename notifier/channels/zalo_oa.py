"""Zalo Official Account (OA): two-way chat with the OA's followers, and the app's webhook.

Sends customer-service ("cs", tư vấn) messages to a follower (`POST {base_url}/v3.0/oa/message/cs`, header
`access_token`), with buttons (`oa.query.show`: a click comes back as a text message carrying the button's
payload), and the request-user-info message that asks a follower for their phone with consent.

Zalo allows cs messages only inside an interaction window after the follower's last message
(`window_hours`, default 48: DOMAIN.md "Zalo", unconfirmed). Outside it, or to someone who unfollowed, the
channel refuses with a fallback error before calling Zalo, so routing moves on (ZNS, then SMS) and the
reason is recorded on the attempt.

Buttons carry `#<data>.<mac>` where the mac binds the data to the recipient's Zalo user id: a button
forwarded to, or typed by, someone else does nothing (`button_data`).

Webhook: `parse_events` checks `X-ZEvent-Signature` (sha256 of app id + raw body + the body's timestamp +
OA secret key) before reading anything else, and returns what the inbox stores; the events themselves are
applied later by the inbox worker (notifier.workflows.zalo_oa), because Zalo stops calling a slow webhook.

Tokens are Zalo's OAuth tokens, shared with the ZNS channel of the same app through `token_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.base import (
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.channels.common import ProviderChannel, SecretEnv, env_secret
from notifier.channels.http import HttpClient
from notifier.channels.webhook import WebhookInvalid, WebhookRejected, WebhookRequest
from notifier.channels.zalo_oauth import ZaloAppSettings
from notifier.rules.chat_keys import chat_id_of, conversation_key
from notifier.rules.clock import VN_TZ, Clock
from notifier.store.zalo import InboxRow, last_interaction

# "Access token invalid": -124 on the ZNS API, -216 on the OA API (SDKs of 2025; unconfirmed): refresh once.
TOKEN_INVALID = {-124, -216}
# Zalo's user-facing limits on a button (SDKs; unconfirmed): longer titles are cut.
BUTTON_TITLE_MAX = 100
ZALO_OA = "zalo_oa"  # the platform's name in conversation keys (notifier.rules.chat_keys)
MAC_LENGTH = 16  # hex characters of the button mac: 64 bits, enough against guessing within a chat


class ZaloOaSettings(ZaloAppSettings):
    base_url: str = "https://openapi.zalo.me"
    oa_secret_env: SecretEnv = "ZALO_OA_SECRET"  # verifies webhook events and signs buttons
    window_hours: float = Field(48, gt=0)  # cs messages only this long after the follower's last message
    max_body_bytes: int = Field(65536, ge=1024)  # a webhook body above this is refused (413)
    zns_channel: str | None = "zalo_zns"  # ZNS delivery events on this webhook are receipts of that channel


def event_mac(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """Zalo's X-ZEvent-Signature value (without "mac="): sha256(app id + body + timestamp + OA secret)."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()


def _user_of(event: dict[str, Any]) -> str | None:
    """The follower an event is about: the sender of what users do, the recipient of what the OA sent."""
    name = str(event.get("event_name") or "")
    if name in {"follow", "unfollow"}:
        who = event.get("follower") or event.get("sender") or {}
    elif name.startswith("oa_") or name in {"user_received_message", "user_seen_message"}:
        who = event.get("recipient") or {}
    else:
        who = event.get("sender") or {}
    uid = who.get("id") if isinstance(who, dict) else None
    return str(uid) if uid else None


def _when(event: dict[str, Any]) -> datetime | None:
    raw = str(event.get("timestamp") or "")
    if not raw.isdigit():
        return None
    return datetime.fromtimestamp(int(raw) / 1000, tz=VN_TZ)


class ZaloOa(ProviderChannel[ZaloOaSettings]):
    name: ClassVar[str] = "zalo_oa"
    medium: ClassVar[str] = "zalo_oa"  # unfollowing the OA is the opt-out; ZNS by phone is "zalo"
    default_channel_type: ClassVar[str] = "chat"

    def __init__(self, settings: ZaloOaSettings, clock: Clock, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._oa_secret = env_secret(settings.oa_secret_env, "oa_secret_env") or ""
        self._http = self.holds(HttpClient("Zalo OA", settings.timeout_seconds))
        self.oauth = settings.oauth(self.instance_name, clock, self._http)
        self.factory: sessionmaker[Session] | None = None

    def bind_storage(self, factory: sessionmaker[Session]) -> None:
        """Tokens and the followers' windows live in the database."""
        self.oauth.bind_storage(factory)
        self.factory = factory

    def address_for(self, recipient: Recipient) -> str | None:
        # The conversation key ("zalo_oa:<user id>"): the chatbot records opt-outs ("Hủy nhận tin") under it.
        uid = recipient.zalo_user_id
        return conversation_key(ZALO_OA, uid) if uid else None

    @property
    def button_secret(self) -> str:
        """Keys the conversation core's own button signatures for this OA."""
        return self._oa_secret

    # -- the window --------------------------------------------------------------------------------------
    def window_closes(self, last: datetime | None) -> datetime | None:
        return None if last is None else last + timedelta(hours=self.s.window_hours)

    def check_window(self, user_id: str) -> None:
        """Refuse (fallback) a cs message Zalo would not deliver: unfollowed, or outside the window."""
        if self.factory is None:
            return  # not bound (a bare channel in a test): Zalo's own answer decides
        with self.factory() as session:
            seen = last_interaction(session, self.instance_name, user_id)
        if seen is None:
            raise PermanentError("Zalo OA: this user never wrote to the OA", fallback=True)
        following, last = seen
        if not following:
            raise PermanentError("Zalo OA: the user no longer follows the OA", fallback=True)
        closes = self.window_closes(last)
        if closes is None or self.clock.now() >= closes:
            shown = "never" if last is None else last.isoformat(timespec="minutes")
            raise PermanentError(
                f"Zalo OA: outside the {self.s.window_hours:g} h interaction window (last message {shown})",
                fallback=True,
            )

    # -- buttons -----------------------------------------------------------------------------------------
    def _mac(self, user_id: str, data: str) -> str:
        key = self._oa_secret.encode()
        return hmac.new(key, f"{user_id}|{data}".encode(), hashlib.sha256).hexdigest()[:MAC_LENGTH]

    def button_payload(self, user_id: str, data: str) -> str:
        return f"#{data}.{self._mac(user_id, data)}"

    def button_data(self, user_id: str, text: str) -> str | None:
        """The data of a button this user was sent, or None (not a button, or someone else's)."""
        if not text.startswith("#") or "." not in text:
            return None
        data, _, mac = text[1:].rpartition(".")
        return data if hmac.compare_digest(mac, self._mac(user_id, data)) else None

    # -- sending -----------------------------------------------------------------------------------------
    def cs_body(self, user_id: str, text: str, buttons: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        """A cs message; `buttons` are (title, payload) as Zalo will send the payload back."""
        message: dict[str, Any] = {"text": text}
        if buttons:
            message["attachment"] = {
                "type": "template",
                "payload": {
                    "buttons": [
                        {
                            "title": title[:BUTTON_TITLE_MAX],
                            "type": "oa.query.show",
                            "payload": payload,
                        }
                        for title, payload in buttons
                    ]
                },
            }
        return {"recipient": {"user_id": user_id}, "message": message}

    def request_info_body(self, user_id: str, title: str, subtitle: str) -> dict[str, Any]:
        payload = {"template_type": "request_user_info", "elements": [{"title": title, "subtitle": subtitle}]}
        return {
            "recipient": {"user_id": user_id},
            "message": {"attachment": {"type": "template", "payload": payload}},
        }

    async def _post(self, body: dict[str, Any]) -> str:
        url = self.s.base_url.rstrip("/") + "/v3.0/oa/message/cs"
        token = await self.oauth.access_token()
        result = await self._call(url, token, body)
        if int(result.get("error", -1)) in TOKEN_INVALID:
            result = await self._call(url, await self.oauth.access_token(stale=token), body)
        code = int(result.get("error", -1))
        if code == 0:
            return str((result.get("data") or {}).get("message_id") or "")
        text = f"Zalo OA {code}: {result.get('message') or ''}".rstrip(": ")
        if code in TOKEN_INVALID:
            raise TransientError(text)
        # Not a follower, window closed on Zalo's side, bad payload: this channel cannot carry it.
        raise PermanentError(text, fallback=True)

    async def _call(self, url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(url, json_body=body, headers={"access_token": token})
        return response.json_object("Zalo OA")

    async def send(self, message: Message) -> str:
        user_id = chat_id_of(message.address)
        self.check_window(user_id)
        # An alert's buttons (officers' actions) come back only from this follower: signed for them.
        buttons = tuple((title, self.button_payload(user_id, data)) for title, data in message.buttons)
        provider_id = await self._post(self.cs_body(user_id, message.text, buttons))
        return provider_id or f"zalo-oa:{message.notification_id}"

    async def reply(self, user_id: str, text: str, buttons: tuple[tuple[str, str], ...] = ()) -> str:
        """An answer in the conversation (the follower just wrote: the window is open); `buttons` carry
        their final payloads (signed by the caller where they act)."""
        return await self._post(self.cs_body(user_id, text, buttons))

    async def request_phone(self, user_id: str, title: str, subtitle: str) -> str:
        return await self._post(self.request_info_body(user_id, title, subtitle))

    # -- webhook -----------------------------------------------------------------------------------------
    def events_body_limit(self) -> int:
        return self.s.max_body_bytes

    def parse_events(self, request: WebhookRequest) -> list[InboxRow]:
        """The signed event, ready for the inbox; WebhookRejected (403) before anything else is read."""
        body = request.body
        if len(body) > self.s.max_body_bytes:
            raise WebhookInvalid(f"body of {len(body)} bytes is over max_body_bytes={self.s.max_body_bytes}")
        try:
            event = json.loads(body or b"{}")
        except ValueError as exc:
            raise WebhookRejected("body is not JSON, so it cannot carry a valid signature") from exc
        if not isinstance(event, dict):
            raise WebhookRejected("body is not a JSON object")
        signature = (request.header("X-ZEvent-Signature") or "").strip().removeprefix("mac=")
        expected = event_mac(self.s.app_id, body, str(event.get("timestamp", "")), self._oa_secret)
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            raise WebhookRejected("X-ZEvent-Signature does not match")
        name = str(event.get("event_name") or "")
        if not name:
            raise WebhookInvalid("event_name is required")
        msg = event.get("message") if isinstance(event.get("message"), dict) else {}
        msg_id = str((msg or {}).get("msg_id") or "")
        # Zalo's retries repeat the body: the message id, else the body's hash, names the event once.
        event_id = f"{name}:{msg_id}" if msg_id else "sha256:" + hashlib.sha256(body).hexdigest()
        return [InboxRow(event_id, name[:64], _user_of(event), _when(event), body.decode("utf-8", "replace"))]
