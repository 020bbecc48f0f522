"""Request bodies are limited per route before anyone reads them: 413 for a body over its route's limit.

A declared `Content-Length` over the limit is answered at once, without reading a byte of the body; a body
without one (chunked) is counted as it arrives and refused as soon as it passes the limit, so an
unauthenticated 1 GB POST costs the limit in memory, not a gigabyte. Webhooks get a small limit (providers
post a few hundred bytes), imports a configurable large one, everything else a middle one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The portal's import routes: large batches, their own limit.
IMPORT_PATHS = ("/api/v1/dossiers", "/api/v1/officers", "/api/v1/progress")
WEBHOOK_PREFIXES = ("/webhooks/",)


@dataclass(frozen=True)
class BodyLimits:
    default: int
    imports: int
    webhooks: int

    def for_path(self, method: str, path: str) -> int:
        if path.startswith(WEBHOOK_PREFIXES):
            return self.webhooks
        if method == "POST" and path in IMPORT_PATHS:
            return self.imports
        return self.default


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")
        self.limit = limit


def _refusal(limit: int) -> bytes:
    return f'{{"detail":[{{"field":"body","value":null,"reason":"over {limit} bytes"}}]}}'.encode()


class BodyLimitMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware): it sees the body's chunks one by one and never buffers them."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The handler is still reading (nothing answered yet): the exception becomes the 413.
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            # A handler that read the body in a way that let the exception escape its framework.
            if not started:
                await _send_413(send, limit)
                return
            raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = _refusal(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
