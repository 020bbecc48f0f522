"""Telegram messages through aiogram's `Bot`, sending only (the chatbot lives in notifier.bot).

`base_url` points the bot's session at another Bot API server (`TelegramAPIServer.from_base`): a local
Bot API server in production if wanted, a loopback fake in tests. Texts are plain (no parse mode: the
templates are not Markdown/HTML and must not be read as such); `Message.buttons` become an inline keyboard.

Telegram allows about 30 messages a second per bot and 1 a second per chat: those are this channel's
default rate limits (`rate_per_second`, `per_recipient_per_second`). A chat that blocked the bot (403)
is remembered as opted out of Telegram, and routing falls through to the next channel.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.token import TokenValidationError, validate_token
from pydantic import Field, ValidationInfo, field_validator

from notifier.channels.base import (
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.channels.common import LoopBound, ProviderChannel, ProviderSettings, check_env, env_secret

# A bad request that is about the chat (not the text): another channel may still reach the person.
_CHAT_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was kicked", "have no rights")
_CALLBACK_DATA_MAX = 64  # bytes, Bot API limit


class TelegramSettings(ProviderSettings):
    token_env: str | None = "TELEGRAM_BOT_TOKEN"
    token: str | None = Field(None, validate_default=True)  # prefer token_env: secrets stay out of files
    base_url: str | None = None  # Bot API server; Telegram's own when unset
    rate_per_second: float | None = Field(30.0, gt=0)
    burst: int | None = Field(30, ge=1)
    per_recipient_per_second: float | None = Field(1.0, gt=0)
    per_recipient_burst: int = Field(1, ge=1)

    @field_validator("token")
    @classmethod
    def _token_given(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            check_env(info.data.get("token_env"))
            if not info.data.get("token_env"):
                raise ValueError("set token_env (or token)")
        else:
            try:
                validate_token(value)
            except TokenValidationError as exc:
                raise ValueError("not a bot token (expected <digits>:<secret>)") from exc
        return value


class TelegramChannel(ProviderChannel[TelegramSettings]):
    name: ClassVar[str] = "telegram"
    medium: ClassVar[str] = "telegram"
    default_channel_type: ClassVar[str] = "chat"

    def __init__(self, settings: TelegramSettings, clock: Any, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._token = settings.token or env_secret(settings.token_env, "token_env") or ""
        self._bot: LoopBound[Bot] = self.holds(LoopBound(self._make_bot, lambda bot: bot.session.close()))

    def _make_bot(self) -> Bot:
        kwargs: dict[str, Any] = {"timeout": self.s.timeout_seconds}
        if self.s.base_url:
            kwargs["api"] = TelegramAPIServer.from_base(self.s.base_url)
        return Bot(self._token, session=AiohttpSession(**kwargs))

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.telegram_chat_id

    @staticmethod
    def keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
        """One button a row; data that is a web address opens it, the rest comes back as a callback."""
        if not buttons:
            return None
        rows = []
        for label, data in buttons:
            if data.startswith(("https://", "http://")):
                rows.append([InlineKeyboardButton(text=label, url=data)])
            else:
                if len(data.encode()) > _CALLBACK_DATA_MAX:
                    raise PermanentError(f"button '{label}': callback data over 64 bytes", fallback=False)
                rows.append([InlineKeyboardButton(text=label, callback_data=data)])
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def send(self, message: Message) -> str:
        bot = self._bot.get()
        address = message.address
        chat: int | str = int(address) if address.isascii() and address.lstrip("-").isdigit() else address
        markup = self.keyboard(message.buttons)
        try:
            try:
                sent = await bot.send_message(chat_id=chat, text=message.text, reply_markup=markup)
            except TelegramMigrateToChat as exc:
                # A group became a supergroup: same people, new id; send there once.
                sent = await bot.send_message(
                    chat_id=exc.migrate_to_chat_id, text=message.text, reply_markup=markup
                )
        except TelegramAPIError as exc:
            raise _classify(exc) from exc
        return f"{sent.chat.id}:{sent.message_id}"


def _classify(exc: TelegramAPIError) -> Exception:
    text = f"Telegram: {exc.message}"
    if isinstance(exc, TelegramRetryAfter):
        return TransientError(text, retry_after=float(exc.retry_after))
    if isinstance(exc, TelegramForbiddenError):
        # Blocked by the user (or removed from the group): stop using Telegram for this chat.
        return PermanentError(text, fallback=True, opt_out=True)
    if isinstance(exc, TelegramEntityTooLarge):
        return PermanentError(text, fallback=True)
    if isinstance(exc, TelegramServerError | TelegramNetworkError):
        return TransientError(text)
    if isinstance(exc, TelegramUnauthorizedError | TelegramNotFound):
        # A revoked or mistyped token answers 401/404 to every call: the operator's to fix.
        return TransientError(text)
    if isinstance(exc, TelegramBadRequest):
        about_chat = any(s in exc.message.lower() for s in _CHAT_GONE)
        return PermanentError(text, fallback=about_chat)
    return TransientError(text)
