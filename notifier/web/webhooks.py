"""Provider webhooks on the core app: delivery receipts and inbound SMS, per configured channel.

- `GET|POST /webhooks/{channel}/receipt`: the channel checks the provider's signature or token (403 and
  nothing changes otherwise) and reads the receipts; each moves its notification forward only.
- `GET|POST /webhooks/{channel}/inbound`: an SMS from a citizen (HUY/STOP, DK, TRACUU <MaHoSo>), applied by
  the conversation core; the reply goes back in the webhook's response (TwiML for Twilio) or as a new SMS
  through the channel.

`{channel}` is the name of a `[channels.NAME]` table, so two gateways of the same plugin get two URLs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from notifier.channels.abilities import TakesEvents, TakesInbound, TakesReceipts, fit_sms_text
from notifier.channels.base import Channel, ChannelError
from notifier.channels.registry import ChannelConfigError, UnknownChannel
from notifier.channels.webhook import WebhookInvalid, WebhookRejected, WebhookRequest
from notifier.outbox.inbound import Handled, handle, seen
from notifier.outbox.receipts import record_receipt
from notifier.workflows.conversation import Conversation
from notifier.workflows.conversation.sms import reply as sms_reply
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import InboxWriter

T = TypeVar("T")

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _scalars(data: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int | float | bool)}


class JsonFields(Mapping[str, str]):
    """The top-level scalar fields of a JSON body, parsed on first use: a channel that checks a signature
    over the raw body does so before anything parses it."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._fields: dict[str, str] | None = None

    def _parsed(self) -> dict[str, str]:
        if self._fields is None:
            try:
                parsed = json.loads(self._body)
            except (ValueError, RecursionError):  # RecursionError: nested thousands deep
                parsed = None
            self._fields = _scalars(parsed) if isinstance(parsed, dict) else {}
        return self._fields

    def __getitem__(self, key: str) -> str:
        return self._parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())


async def webhook_request(request: Request) -> WebhookRequest:
    """The request as the channel reads it. The body is at most `webhook_max_body_bytes` (the body limit
    refuses more before it is read), and UTF-8: every provider posts UTF-8, and a channel computing its
    signature over the text must not meet other bytes (a UTF-16 body was a 500)."""
    body = await request.body()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"body: not UTF-8 (invalid byte at {exc.start})") from exc
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form: Mapping[str, str] = {}
    if content_type == "application/x-www-form-urlencoded":
        # Twilio signs the form's fields, so these are read before the check (a flat, bounded parse).
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif content_type.endswith("json") and body:
        form = JsonFields(body)  # parsed only if the channel asks, i.e. after its signature check
    return _as_webhook_request(request, body, form)


def _as_webhook_request(request: Request, body: bytes, form: Mapping[str, str]) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        path=request.url.path,
        query_string=request.url.query,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        form=form,
        body=body,
    )


def _conversation(request: Request) -> Conversation:
    """The app's conversation core for inbound SMS, built once (it caches the bot texts)."""
    conv = getattr(request.app.state, "sms_conversation", None)
    if conv is None:
        # SMS replies carry no buttons, so nothing is signed: the secret only fills the parameter.
        conv = Conversation.from_service(_service(request), "inbound-sms")
        request.app.state.sms_conversation = conv
    return conv


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _channel(service: Service, name: str) -> Channel:
    if name not in service.settings.channels or not service.channels.enabled(name):
        raise HTTPException(404, f"channel '{name}': not configured")
    try:
        return service.channels.get(name)
    except UnknownChannel as exc:
        raise HTTPException(404, str(exc)) from exc
    except ChannelConfigError as exc:
        log.error("webhook for %s: %s", name, exc)
        raise HTTPException(503, f"channel '{name}': misconfigured") from exc


def _parse(name: str, what: str, parse: Callable[[WebhookRequest], T], req: WebhookRequest) -> T:
    """The channel reads the request: not the provider's (bad signature) is 403, unreadable is 422."""
    try:
        return parse(req)
    except WebhookRejected as exc:
        log.warning("%s for %s rejected: %s", what, name, exc)
        raise HTTPException(403, "signature check failed") from exc
    except WebhookInvalid as exc:
        raise HTTPException(422, str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        # A value no channel expected (a superscript digit, JSON nested too deep): the sender's fault.
        log.warning("%s for %s unreadable: %r", what, name, exc)
        raise HTTPException(422, f"{what}: unreadable request") from exc


@router.get("/{name}/receipt", operation_id="webhook_receipt_get")
@router.post("/{name}/receipt", operation_id="webhook_receipt_post")
async def receipt(name: str, request: Request) -> JSONResponse:
    service = _service(request)
    channel = _channel(service, name)
    if not isinstance(channel, TakesReceipts):
        raise HTTPException(404, f"channel '{name}': takes no delivery receipts")
    receipts = _parse(name, "receipt", channel.parse_receipts, await webhook_request(request))

    def store() -> list[str]:
        now = service.clock.now()
        with service.factory() as session, session.begin():
            return [record_receipt(session, name, channel.medium, r, now) for r in receipts]

    outcomes = await run_in_threadpool(store)
    return JSONResponse({"received": len(receipts), "outcomes": outcomes})


async def _limited_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes without reading the rest into memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _events(name: str, channel: TakesEvents, request: Request, service: Service) -> JSONResponse:
    """A chat app's events (Zalo OA): checked, stored in the inbox, acknowledged; applied by a worker."""
    body = await _limited_body(request, channel.events_body_limit())
    req = _as_webhook_request(request, body, {})
    rows = _parse(name, "event", channel.parse_events, req)
    writer = getattr(request.app.state, "zalo_inbox_writer", None)
    if writer is None:
        writer = request.app.state.zalo_inbox_writer = InboxWriter(service)
    new = await writer.accept(name, rows)
    return JSONResponse({"received": len(rows), "new": new})


@router.get("/{name}/inbound", operation_id="webhook_inbound_get")
@router.post("/{name}/inbound", operation_id="webhook_inbound_post")
async def inbound(name: str, request: Request) -> Response:
    service = _service(request)
    channel = _channel(service, name)
    if isinstance(channel, TakesEvents):
        return await _events(name, channel, request, service)
    if not isinstance(channel, TakesInbound):
        raise HTTPException(404, f"channel '{name}': takes no inbound messages")
    sms = _parse(name, "inbound", channel.parse_inbound, await webhook_request(request))

    def earlier() -> Handled | None:
        with service.factory() as session:
            return seen(session, name, sms.provider_id)

    # Every keyword goes through the conversation core (HUY/DK: the opt-out and opt-in; TRACUU: the 4
    # digits, the shared slow-down); a provider's re-delivery is answered from the log without applying
    # it again.
    handled = await run_in_threadpool(earlier)
    if handled is None:
        answer = await sms_reply(_conversation(request), sms.sender, sms.text)

        def log_exchange() -> Handled:
            now = service.clock.now()
            with service.factory() as session, session.begin():
                return handle(
                    session, name, sms.sender, sms.text, now, reply=answer, provider_id=sms.provider_id
                )

        handled = await run_in_threadpool(log_exchange)
    # The reply is an SMS too: it follows the channel's không dấu setting.
    text = fit_sms_text(channel, handled.reply, "inbound_reply").text
    try:
        reply = await channel.inbound_reply(sms, text, f"notifier-in-{handled.inbound_id}")
    except ChannelError as exc:
        # The command itself is applied and logged; only the confirmation could not go out.
        log.warning("inbound %s on %s: reply not sent: %s", handled.inbound_id, name, exc)
        return JSONResponse({"command": handled.command.action, "reply_sent": False}, status_code=200)
    if reply is None:
        return JSONResponse({"command": handled.command.action, "reply_sent": True})
    return Response(reply.body, media_type=reply.media_type)
