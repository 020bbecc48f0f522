"""Where the bot finds its token and server: the `[channels.telegram]` table it shares with the Telegram
sending channel, plus `[bot]` (notifier.config.BotSettings)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.config import Settings

DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
DEFAULT_TOKEN_ENV = "TELEGRAM_BOT_TOKEN"  # as in notifier.channels.telegram


class BotConfigError(ValueError):
    pass


@dataclass(frozen=True)
class BotConnection:
    token: str
    base_url: str | None  # None: Telegram's own server; tests and a local Bot API server set it


def connection(settings: Settings) -> BotConnection | None:
    """The bot's token and server, or None when there is no `[channels.telegram]` table (no bot then).

    The same keys as the Telegram channel (notifier.channels.telegram): `token`, or `token_env` naming an
    environment variable (default TELEGRAM_BOT_TOKEN) so the secret stays out of the file; `base_url`
    for another Bot API server.
    """
    table = settings.channels.get("telegram")
    if table is None or table.get("enabled", True) is False:
        return None
    token = table.get("token")
    if not token:
        env = table.get("token_env", DEFAULT_TOKEN_ENV)
        token = os.environ.get(str(env)) if env else None
        if not token:
            raise BotConfigError(
                f"channels.telegram.token_env: value '{env}': the environment variable is not set "
                "(or set channels.telegram.token)"
            )
    token = str(token).strip()
    head, _, tail = token.partition(":")
    if not head.isdigit() or not tail:
        raise BotConfigError(
            "channels.telegram.token: value '***': expected the form 123456789:ABC... given by BotFather"
        )
    base = table.get("base_url")
    return BotConnection(token, str(base).rstrip("/") if base else None)


def webhook_path(settings: Settings) -> str | None:
    """The web app's route for Telegram's updates: the path of `[bot] webhook_url`; None in polling mode."""
    url = settings.bot.webhook_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise BotConfigError(f"bot.webhook_url: value '{url}': expected an absolute https:// URL")
    if not settings.bot.webhook_secret:
        raise BotConfigError("bot.webhook_secret: value None: required when bot.webhook_url is set")
    return parts.path or DEFAULT_WEBHOOK_PATH


def check(settings: Settings) -> None:
    """Raise BotConfigError, naming the setting, before anything starts."""
    connection(settings)
    webhook_path(settings)
