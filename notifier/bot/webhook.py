"""Telegram's webhook route: updates posted by Telegram, fed to the running bot (see `bot.runner`)."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from notifier.workflows.service import Service

log = logging.getLogger(__name__)


def telegram_webhook_router(path: str) -> APIRouter:
    """The route Telegram posts updates to in webhook mode, checked by the secret given to setWebhook."""
    router = APIRouter()

    @router.post(path, include_in_schema=False)
    async def telegram_webhook(
        request: Request,
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        service: Service = request.app.state.service
        secret = service.settings.bot.webhook_secret or ""
        given = x_telegram_bot_api_secret_token or ""
        # Anyone can post to a public URL; only Telegram knows the secret given to setWebhook.
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(401, "missing or wrong X-Telegram-Bot-Api-Secret-Token")
        runtime = getattr(request.app.state, "bot_runtime", None)
        if runtime is None:
            raise HTTPException(503, "the bot is not running")  # Telegram retries later
        try:
            update = await request.json()
        except ValueError as exc:
            raise HTTPException(400, f"not JSON: {exc}") from exc
        try:
            await runtime.feed(update)
        except Exception:
            # Answering 200 anyway: Telegram would otherwise resend the same update again and again.
            log.exception(
                "webhook update %s failed", update.get("update_id") if isinstance(update, dict) else None
            )
        return JSONResponse({"ok": True})

    return router
