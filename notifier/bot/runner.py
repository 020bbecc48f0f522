"""Build the aiogram Bot and Dispatcher, and run them by long polling or behind the web app's webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods.base import Response
from aiogram.types import BotCommand, ErrorEvent, Message, TelegramObject, Update, User

from notifier.bot.config import BotConfigError, BotConnection, connection, webhook_path
from notifier.bot.deps import BotDeps
from notifier.bot.routers import citizen_router
from notifier.rules.i18n import DEFAULT_LANGUAGE
from notifier.store.outage import Outage, is_outage
from notifier.workflows.conversation import Conversation, t
from notifier.workflows.service import Service

log = logging.getLogger(__name__)

# aiogram reads every Bot API answer as `Response[<what the method returns>]`, a parametrised pydantic
# generic; pydantic caches those only weakly, so between calls they are collected and built again (a few
# ms of schema building, a third of a look-up's CPU: benchmarks/chat_lookup.py). Holding the ones this
# bot uses keeps them built once.
_RESPONSE_TYPES = tuple(Response[t] for t in (Message, bool, Message | bool, User, list[Update]))  # type: ignore[valid-type]



def commands(language: str = DEFAULT_LANGUAGE) -> list[BotCommand]:
    """The command menu Telegram shows, in `language` (the `chat` catalog); the commands stay the same."""
    return [
        BotCommand(command="tracuu", description=t(language, "Tra cứu hồ sơ: /tracuu MAHOSO 1234")),
        BotCommand(command="hoso", description=t(language, "Hồ sơ của tôi")),
        BotCommand(command="phananh", description=t(language, "Gửi phản ánh, kiến nghị")),
        BotCommand(command="huy", description=t(language, "Dừng nhận thông báo qua Telegram")),
        BotCommand(command="batdau", description=t(language, "Nhận lại thông báo qua Telegram")),
        # Each named in its own language, as the menu's language button is.
        BotCommand(command="english", description="English"),
        BotCommand(command="tiengviet", description="Tiếng Việt"),
    ]


COMMANDS = commands()


def build_bot(conn: BotConnection) -> Bot:
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(conn.base_url)) if conn.base_url else AiohttpSession()
    )
    # Plain text: dossier codes, names and links must never be read as Markdown or HTML.
    return Bot(conn.token, session=session, default=DefaultBotProperties(parse_mode=None))


def build_storage(
    redis_url: str | None, prefix: str = "notifier-fsm"
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Memory by default; Redis (state and per-chat locks) when several processes share the bot."""
    if not redis_url:
        return MemoryStorage(), SimpleEventIsolation()
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage

    storage = RedisStorage.from_url(
        redis_url, key_builder=DefaultKeyBuilder(prefix=prefix), state_ttl=86400, data_ttl=86400
    )
    return storage, storage.create_isolation()


# This process's view of the database: an outage fails each update (the citizen is told to try again) but
# is logged once when it starts and once when an update goes through again, not once per message.
_database = Outage("bot")


async def _database_answered(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    result = await handler(event, data)
    _database.succeeded()
    return result


async def _on_error(event: ErrorEvent, deps: BotDeps, bot: Bot) -> bool:
    if is_outage(event.exception):
        _database.failed(event.exception)
    else:
        log.error("bot update %s failed", event.update.update_id, exc_info=event.exception)
    chat = None
    if event.update.message is not None:
        chat = event.update.message.chat.id
    elif event.update.callback_query is not None and event.update.callback_query.message is not None:
        chat = event.update.callback_query.message.chat.id
    if chat is not None:
        with contextlib.suppress(Exception):
            await bot.send_message(chat, deps.text("error"))
    return True


def build_dispatcher(deps: BotDeps, storage: BaseStorage, isolation: BaseEventIsolation) -> Dispatcher:
    dp = Dispatcher(storage=storage, events_isolation=isolation, deps=deps)
    dp.errors.register(_on_error)
    dp.update.outer_middleware(_database_answered)
    # One router: citizens' messages and officers' alert buttons all go to the conversation core.
    dp.include_router(citizen_router())
    return dp


@dataclass
class BotRuntime:
    bot: Bot
    dp: Dispatcher
    deps: BotDeps
    _polling: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        service: Service,
        conn: BotConnection | None = None,
        *,
        storage: tuple[BaseStorage, BaseEventIsolation] | None = None,
        texts_ttl: float = 30.0,
    ) -> BotRuntime:
        conn = conn or connection(service.settings)
        if conn is None:
            raise BotConfigError(
                "channels.telegram.token: value None: the bot needs a token (or token_env) from BotFather"
            )
        # The token keys the button signatures as before the core: buttons already sent stay valid.
        deps = BotDeps(Conversation.from_service(service, conn.token, texts_ttl=texts_ttl))
        storage_, isolation = storage or build_storage(service.settings.bot.redis_url)
        return cls(build_bot(conn), build_dispatcher(deps, storage_, isolation), deps)

    async def _announce_commands(self) -> None:
        try:
            await self.bot.set_my_commands(COMMANDS)
            # Users whose app is in English see the English descriptions (Telegram picks by language_code).
            await self.bot.set_my_commands(commands("en"), language_code="en")
        except Exception as exc:  # the menu is a convenience; the bot works without it
            log.warning("could not set the bot's command menu: %s", exc)

    async def start_polling(self, *, polling_timeout: int = 30) -> None:
        """Poll in a background task (returns once started)."""
        # Telegram refuses getUpdates while a webhook is set: polling mode means no webhook.
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self._announce_commands()
        self._polling = asyncio.create_task(
            self.dp.start_polling(
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=polling_timeout
            ),
            name="telegram-polling",
        )

    async def start_webhook(self, url: str, secret: str) -> None:
        await self._announce_commands()
        await self.bot.set_webhook(
            url, secret_token=secret, allowed_updates=self.dp.resolve_used_update_types()
        )

    async def feed(self, update: dict[str, Any]) -> None:
        """One update posted to the webhook."""
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))

    async def stop(self) -> None:
        if self._polling is not None:
            with contextlib.suppress(RuntimeError):  # "Polling is not started": it failed or never began
                await self.dp.stop_polling()
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None  # its shutdown closed the FSM storage
        else:
            await self.dp.fsm.close()
        await self.bot.session.close()


@asynccontextmanager
async def running(service: Service, app: Any = None) -> AsyncIterator[BotRuntime | None]:
    """The bot for the life of a process: nothing without a token, polling, or the webhook of `app`."""
    conn = connection(service.settings)
    if conn is None:
        yield None
        return
    runtime = BotRuntime.build(service, conn)
    path = webhook_path(service.settings)
    try:
        if path is not None:
            if app is None:
                raise BotConfigError("bot.webhook_url: webhook mode needs the web app (`notifier run`)")
            app.state.bot_runtime = runtime
            bot_settings = service.settings.bot
            assert bot_settings.webhook_url and bot_settings.webhook_secret
            await runtime.start_webhook(bot_settings.webhook_url, bot_settings.webhook_secret)
            log.warning("telegram bot: webhook %s", bot_settings.webhook_url)
        else:
            await runtime.start_polling()
            log.warning("telegram bot: long polling")
        yield runtime
    finally:
        if app is not None:
            app.state.bot_runtime = None
        await runtime.stop()
