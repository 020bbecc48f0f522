"""Conversation: the citizens' and officers' chatbot flows, one incoming event at a time.

The flows are those the Telegram bot had (notifier/bot/routers before the core): menu and commands first
(they leave any half-finished form), then the feedback form's steps, then free text read as a look-up,
then a short help for anything else. See `api` for what goes in and out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeVar

from notifier.config import Settings
from notifier.rules.chat_keys import platform_of
from notifier.rules.clock import Clock
from notifier.rules.i18n import DEFAULT_LANGUAGE, normalise_language
from notifier.rules.lookup import CitizenView, Query, parse_query
from notifier.rules.phones import InvalidPhone, normalize_phone
from notifier.rules.privacy import RequestKind
from notifier.rules.smstext import khong_dau
from notifier.store.bot_texts import BotTexts
from notifier.workflows import feedback as fb
from notifier.workflows.chat import (
    BotStore,
    Found,
    LookupResult,
)
from notifier.workflows.conversation import officer
from notifier.workflows.conversation.api import (
    FEEDBACK,
    LANGUAGE_COMMANDS,
    LOOKUP,
    MY_DOSSIERS,
    PLATFORM_NAMES,
    STOP,
    Button,
    ChatState,
    ContactIn,
    Elsewhere,
    ExtraFlow,
    Follow,
    Incoming,
    KnowsLanguage,
    OtherIn,
    Outcome,
    Platform,
    Press,
    Reply,
    Rows,
    Sender,
    TextIn,
    Unfollow,
    language_asked,
    menu_item,
    t,
)
from notifier.workflows.conversation.payloads import (
    DossierAct,
    DossierPayload,
    FormAct,
    FormPayload,
    Signer,
    parse,
)
from notifier.workflows.errors import DomainError
from notifier.workflows.officer_actions import Wiring

T = TypeVar("T")

# Form steps; the values are the names the Telegram FSM storage has used (a Redis key may hold one).
STEP_FEEDBACK_DOSSIER = "FeedbackForm:dossier"
STEP_FEEDBACK_TEXT = "FeedbackForm:text"

# The data-subject requests (notifier.workflows.privacy), by their command word.
PRIVACY_COMMANDS = {
    "xemdulieu": RequestKind.ACCESS,
    "suadulieu": RequestKind.CORRECT,
    "xoadulieu": RequestKind.ERASE,
    "rutdongy": RequestKind.WITHDRAW,
}


def _(message: str) -> str:
    """Marks a msgid for scripts/i18n (see api._); translated where shown."""
    return message


NO_DOSSIER = _("Không gắn với hồ sơ")
AGREE = _("Đồng ý")
CANCEL = _("Hủy")
# Typed in the middle of a form, these leave it (folded: no diacritics, lower case): a Zalo query button
# cannot be typed, and people type "hủy" or "thoát" rather than look for the button.
CANCEL_WORDS = frozenset(
    {"huy", "huy bo", "thoat", "thoi", "dung", "quay lai", "menu", "cancel", "exit", "quit", "stop"}
)


def _cancels(text: str) -> bool:
    return " ".join(khong_dau(text).lower().strip(" .!/").split()) in CANCEL_WORDS


# The national portal's status names (notifier.rules.statuses.STATUS_NAMES), as msgids: a chat reading
# English sees their translation (tests/test_chat_languages.py checks the two lists agree).
STATUS_WORDS = (
    _("Mới đăng ký"),
    _("Được tiếp nhận"),
    _("Không được tiếp nhận"),
    _("Đang xử lý"),
    _("Yêu cầu bổ sung giấy tờ"),
    _("Yêu cầu thực hiện nghĩa vụ tài chính"),
    _("Công dân yêu cầu rút hồ sơ"),
    _("Dừng xử lý"),
    _("Đã xử lý xong"),
    _("Đã trả kết quả"),
)


def localised(language: str, context: dict[str, Any]) -> dict[str, Any]:
    """A text's context with the dossiers' status names in `language` (the rest is data: codes, names)."""
    if language == DEFAULT_LANGUAGE:
        return context
    out = dict(context)
    if isinstance(out.get("dossier"), CitizenView):
        out["dossier"] = _in(language, out["dossier"])
    if isinstance(out.get("items"), list):
        out["items"] = [_in(language, v) if isinstance(v, CitizenView) else v for v in out["items"]]
    return out


def _in(language: str, view: CitizenView) -> CitizenView:
    return dataclasses.replace(view, status_name=t(language, view.status_name))


def subscribe_label(platform: Platform, language: str = DEFAULT_LANGUAGE) -> str:
    return t(language, "Nhận thông báo hồ sơ này qua %(platform)s") % {"platform": PLATFORM_NAMES[platform]}


def language_of(sender: Sender) -> str:
    """The language the core answers `sender` in (after `Conversation.handle` resolved it)."""
    return normalise_language(sender.language)


def _command(text: str) -> tuple[str, str] | None:
    """("tracuu", "X 1234") from "/tracuu X 1234" or "/tracuu@notifier_bot X 1234"; None if no command."""
    if not text.startswith("/"):
        return None
    head, _, args = text[1:].partition(" ")
    return head.partition("@")[0].lower(), args.strip()


class Conversation:
    """The chatbot, platform-free. One per process; `handle` may run for many conversations at once."""

    def __init__(
        self,
        *,
        store: BotStore,
        texts: BotTexts,
        settings: Settings,
        clock: Clock,
        signer: Signer,
        wiring: Wiring,
    ) -> None:
        self.store = store
        self.texts = texts
        self.settings = settings
        self.clock = clock
        self.signer = signer
        self.officers = officer.OfficerFlows(wiring)
        self._texts_lock = asyncio.Lock()
        # The hook for flows added later (data-subject requests): "/word" or the bare word -> flow.
        self.extra_commands: dict[str, ExtraFlow] = {}

    @classmethod
    def from_service(cls, service: Any, secret: str, *, texts_ttl: float = 30.0) -> Conversation:
        """`service`: notifier.workflows.service.Service; `secret` keys the button signatures."""
        settings: Settings = service.settings
        return cls(
            store=BotStore.from_settings(service.factory, service.calendar, settings),
            texts=BotTexts(service.factory, ttl=texts_ttl),
            settings=settings,
            clock=service.clock,
            signer=Signer(secret),
            wiring=service,
        )

    # -- helpers -----------------------------------------------------------------------------------------
    def text(
        self,
        name: str,
        platform: Platform = Platform.TELEGRAM,
        language: str = DEFAULT_LANGUAGE,
        **context: Any,
    ) -> str:
        """A reply text; `platform` names where the citizen is reading ("qua Zalo này")."""
        context = localised(language, context)
        return self.texts.render(name, language=language, platform=PLATFORM_NAMES[platform], **context)

    def say(
        self, sender: Sender, name: str, *, menu: bool = False, buttons: Rows = (), **context: Any
    ) -> Outcome:
        language = language_of(sender)
        text = self.text(name, sender.platform, language, **context)
        return Outcome((Reply(text, buttons=buttons, menu=menu, language=language),))

    def welcome(self, sender: Sender) -> Outcome:
        """The greeting of a new follower (Zalo's follow event) and of /start alike."""
        return self.say(
            sender, "welcome", menu=True, first_name=sender.first_name, province=self.settings.province.name
        )

    async def language(self, sender: Sender, state: ChatState | None = None) -> str:
        """The chat's language: its stored choice, else the platform's hint, else Vietnamese. A state that
        keeps the choice (KnowsLanguage) answers without a query of its own."""
        known, chosen = await state.chosen_language() if isinstance(state, KnowsLanguage) else (False, None)
        if not known:
            chosen = await self.db(self.store.chat_language, sender.key)
            if isinstance(state, KnowsLanguage):
                await state.remember_language(chosen)
        return chosen or normalise_language(sender.language)

    async def languages(self, keys: list[str]) -> dict[str, str]:
        """Other conversations' languages (messages `elsewhere`): their stored choice, else Vietnamese."""
        chosen = await self.db(self.store.chat_languages, keys) if keys else {}
        return {key: chosen.get(key) or DEFAULT_LANGUAGE for key in keys}

    async def set_language(self, sender: Sender, state: ChatState, language: str) -> Outcome:
        await state.set(None)
        await self.db(self.store.set_chat_language, sender.key, language, self.clock.now())
        if isinstance(state, KnowsLanguage):
            await state.remember_language(language)
        return self.say(dataclasses.replace(sender, language=language), "help", menu=True)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous store method in a thread, keeping the event loop free for other chats."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def refresh_texts(self) -> None:
        """Pick up admins' edits at most every ttl seconds, one reader at a time."""
        if not self.texts.stale():
            return
        async with self._texts_lock:
            if self.texts.stale():
                await asyncio.to_thread(self.texts.refresh)

    @staticmethod
    def medium(sender: Sender) -> str:
        """The opt-out medium the dispatcher honours for notices through this platform."""
        return sender.platform.value

    @staticmethod
    def address(sender: Sender) -> str:
        """The opt-out address: an SMS's is the phone number itself (as the SMS channel reads it)."""
        if sender.platform == Platform.SMS:
            return sender.phone or sender.chat_id
        return sender.key

    # -- the entry point ---------------------------------------------------------------------------------
    async def handle(self, event: Incoming, state: ChatState) -> Outcome:
        await self.refresh_texts()
        if not isinstance(event, Unfollow):  # an unfollowed account is not written to
            sender = dataclasses.replace(event.sender, language=await self.language(event.sender, state))
            event = dataclasses.replace(event, sender=sender)
        if isinstance(event, Press):
            return await self._press(event, state)
        sender = event.sender
        if not sender.private:
            # A citizen's dossier answered in a group would be shown to everyone in it; only the
            # officers' buttons (above) work there.
            return Outcome()
        if isinstance(event, TextIn):
            return await self._text(event, state)
        if isinstance(event, ContactIn):
            await state.set(None)
            return await self.link_phone(event)
        if isinstance(event, Follow):
            await state.set(None)
            return self.welcome(sender)
        if isinstance(event, Unfollow):
            await state.set(None)
            await self.db(
                self.store.set_stopped,
                self.address(event.sender),
                True,
                self.clock.now(),
                medium=self.medium(event.sender),
                reason="unfollow",
            )
            return Outcome()  # an unfollowed account cannot be written to
        assert isinstance(event, OtherIn)
        step, _ = await state.get()
        if step == STEP_FEEDBACK_TEXT:
            # A photo or sticker: the form takes text only (attachments would need storage and scanning).
            return self.say(
                sender, "feedback_invalid", buttons=self._cancel_row(language_of(sender)), **self._limits()
            )
        return self.say(sender, "help", menu=True)

    async def _text(self, event: TextIn, state: ChatState) -> Outcome:
        sender, text = event.sender, event.text
        step, data = await state.get()
        code = officer.prompted_code(event.reply_to)
        if code is None and step == officer.STEP_NEW_DATE and not text.startswith("/"):
            code = data.get("code")
        if code is not None:
            out = await self.officers.new_date(sender, code, text)
            ok = not (out.replies and out.replies[0].ask_reply)
            if step == officer.STEP_NEW_DATE:
                await state.set(None if ok else officer.STEP_NEW_DATE, None if ok else {"code": code})
            return out
        command = _command(text)
        name, args = command if command is not None else ("", "")
        asked = LANGUAGE_COMMANDS.get(name) or (language_asked(text) if command is None else None)
        if asked is not None:
            return await self.set_language(sender, state, asked)
        item = menu_item(text)  # a main-menu label, in either language: the Vietnamese one
        extra = self.extra_commands.get(name) or self.extra_commands.get(text.strip().lower())
        if extra is not None:
            await state.set(None)
            return await extra(event, state)
        if name == "start":
            await state.set(None)
            return self.welcome(sender)
        if name in ("help", "trogiup"):
            await state.set(None)
            return self.say(sender, "help", menu=True)
        if item == LOOKUP:
            await state.set(None)
            return self.say(sender, "lookup_prompt", menu=True)
        if name == "huy" or item == STOP:
            return await self.set_stopped(sender, state, stopped=True)
        if name == "batdau":
            return await self.set_stopped(sender, state, stopped=False)
        if name == "hoso" or item == MY_DOSSIERS:
            await state.set(None)
            return await self.my_dossiers(sender)
        if name == "dulieu":
            await state.set(None)
            p = self.settings.privacy
            return self.say(
                sender,
                "privacy_help",
                menu=True,
                law=p.law,
                decree=p.decree,
                working_days=p.answer_working_days,
            )
        if name in PRIVACY_COMMANDS:
            await state.set(None)
            return await self.privacy_request(sender, PRIVACY_COMMANDS[name], args or None)
        if name == "phananh" or item == FEEDBACK:
            return await self.feedback_begin(sender, state)
        if name == "tracuu":
            await state.set(None)
            query = parse_query(args)
            if query is None:
                return self.say(sender, "lookup_prompt")
            return (await self.lookup(sender, query))[0]
        if command is None and step in (STEP_FEEDBACK_DOSSIER, STEP_FEEDBACK_TEXT) and _cancels(text):
            await state.set(None)
            return self.say(sender, "feedback_cancelled", menu=True)
        if command is None and step == STEP_FEEDBACK_DOSSIER:
            return await self.feedback_typed_dossier(sender, text, state)
        if command is None and step == STEP_FEEDBACK_TEXT:
            return await self.feedback_text(sender, text, state)
        query = parse_query(text)
        if query is not None:
            return (await self.lookup(sender, query))[0]
        return self.say(sender, "help", menu=True)

    async def _press(self, event: Press, state: ChatState) -> Outcome:
        sender = event.sender
        if event.payload.startswith("oa:"):
            out, waiting_for = await self.officers.press(sender, event.payload)
            if waiting_for is not None and not sender.threads_replies:
                await state.set(officer.STEP_NEW_DATE, {"code": waiting_for})
            return out
        if not sender.private:
            return Outcome()
        payload = parse(event.payload)
        step, _ = await state.get()
        if isinstance(payload, DossierPayload):
            if payload.action == DossierAct.SUBSCRIBE:
                return await self.subscribe(sender, payload)
            if payload.action == DossierAct.CONFIRM:
                return await self.confirm_link(sender, payload)
            if payload.action == DossierAct.SHOW:
                return await self.show(sender, payload.dossier_id)
            if step == STEP_FEEDBACK_DOSSIER:
                return await self.feedback_chose(sender, payload.dossier_id, state)
        elif isinstance(payload, FormPayload):
            if payload.action == FormAct.CANCEL:
                await state.set(None)
                return self.say(sender, "feedback_cancelled", menu=True)
            if step == STEP_FEEDBACK_DOSSIER:
                await state.set(STEP_FEEDBACK_TEXT, {"dossier_id": None})
                return self._ask_text(sender, None)
        return Outcome()  # a stale or foreign button: nothing to do

    # -- look-up -----------------------------------------------------------------------------------------
    async def lookup(self, sender: Sender, query: Query) -> tuple[Outcome, LookupResult]:
        """Look up and answer; the result too (the feedback form uses the dossier it found).

        Events of one conversation are handled one at a time (the adapter's duty: aiogram's event
        isolation), so a burst of guesses cannot all pass the failure count before any is recorded.
        """
        now = self.clock.now()
        result = await self.db(self.store.lookup, sender.key, query, now, phone=sender.phone)
        if result.outcome == "found" and result.found is not None:
            return Outcome((self.found_reply(sender, result.found),)), result
        if result.outcome == "slowed" and result.retry_at is not None:
            minutes = max(1, math.ceil((result.retry_at - now).total_seconds() / 60))
            return self.say(sender, "lookup_slowed", minutes=minutes, retry_at=result.retry_at), result
        if result.outcome == "need_digits":
            return self.say(sender, "lookup_need_digits", code=query.code), result
        return self.say(sender, "lookup_not_found"), result

    def found_reply(self, sender: Sender, found: Found) -> Reply:
        """The lookup_result text; a chat not yet linked to the dossier gets a signed subscribe button."""
        text = self.text(
            "lookup_result",
            sender.platform,
            language_of(sender),
            dossier=found.view,
            agency=found.agency,
            subscribable=not found.linked,
        )
        if found.linked:
            return Reply(text, language=language_of(sender))
        sig = self.signer.sign(sender.key, found.dossier_id)
        data = DossierPayload(DossierAct.SUBSCRIBE, found.dossier_id, sig).pack()
        label = subscribe_label(sender.platform, language_of(sender))
        return Reply(text, buttons=((Button(label, data),),), language=language_of(sender))

    async def show(self, sender: Sender, dossier_id: int) -> Outcome:
        # The id comes from the client: the store answers only if this chat is linked to that dossier.
        found = await self.db(self.store.linked_dossier, sender.key, dossier_id, self.clock.now())
        if found is None:
            return self.say(sender, "action_expired")
        return Outcome((self.found_reply(sender, found),))

    async def _dossiers_of(self, sender: Sender) -> tuple[list[tuple[int, CitizenView]], bool]:
        """The chat's linked dossiers and whether it stopped notices on its own medium (store.my_dossiers)."""
        return await self.db(
            self.store.my_dossiers,
            sender.key,
            self.clock.now(),
            medium=self.medium(sender),
            address=self.address(sender),
        )

    async def my_dossiers(self, sender: Sender) -> Outcome:
        rows, stopped = await self._dossiers_of(sender)
        if not rows:
            return self.say(sender, "my_dossiers_empty", menu=True)
        buttons = tuple((Button(view.code, DossierPayload(DossierAct.SHOW, i).pack()),) for i, view in rows)
        return self.say(sender, "my_dossiers", buttons=buttons, items=[v for _, v in rows], opted_out=stopped)

    # -- linking and subscriptions -----------------------------------------------------------------------
    async def link_phone(self, event: ContactIn) -> Outcome:
        sender = event.sender
        # Anyone can forward someone else's contact card; only the sender's own number is vouched for
        # by the platform (Telegram's request_contact button, Zalo's user_submit_info).
        if event.owner_id is None or sender.user_id is None or event.owner_id != sender.user_id:
            return self.say(sender, "contact_not_own", menu=True)
        try:
            phone = normalize_phone(event.phone)
        except InvalidPhone:
            return self.say(sender, "contact_invalid", menu=True)
        result = await self.db(
            self.store.link_phone,
            sender.key,
            sender.user_id,
            phone,
            self.clock.now(),
            medium=self.medium(sender),
        )
        linked = self.say(
            sender, "contact_linked", menu=True, phone_masked=result.phone_masked, items=result.dossiers
        )
        # The chats that had this number (on this platform) are told it moved: a takeover is never silent.
        languages = await self.languages(list(result.displaced))
        moved = tuple(
            Elsewhere(
                other,
                self._reply_to(other, languages[other], "contact_moved", phone_masked=result.phone_masked),
            )
            for other in result.displaced
        )
        return Outcome(linked.replies, elsewhere=moved)

    async def subscribe(self, sender: Sender, payload: DossierPayload) -> Outcome:
        done = None
        if self.signer.verify(sender.key, payload.dossier_id, payload.sig):
            done = await self.db(
                self.store.subscribe,
                sender.key,
                sender.user_id or sender.chat_id,
                payload.dossier_id,
                self.clock.now(),
                medium=self.medium(sender),
            )
        if done is None:
            return self.say(sender, "action_expired")
        if not done.pending or done.link_id is None:
            return self.say(sender, "subscribed", code=done.code)
        # The chats already receiving the dossier are asked, each in its language; the new chat waits.
        languages = await self.languages(list(done.ask))
        requester = PLATFORM_NAMES[sender.platform]
        asks = tuple(
            Elsewhere(
                other,
                self._reply_to(
                    other,
                    languages[other],
                    "link_request",
                    buttons=(
                        (Button(t(languages[other], AGREE), self._confirm_payload(other, done.link_id)),),
                    ),
                    code=done.code,
                    requester=requester,
                ),
            )
            for other in done.ask
        )
        pending = self.say(sender, "link_pending", code=done.code)
        return Outcome(pending.replies, elsewhere=asks)

    def _reply_to(self, key: str, language: str, name: str, *, buttons: Rows = (), **context: Any) -> Reply:
        """A message for another conversation (`key`), in its platform's words and its language."""
        text = self.text(name, Platform(platform_of(key)), language, **context)
        return Reply(text, buttons=buttons, language=language)

    def _confirm_payload(self, other: str, link_id: int) -> str:
        # Signed for the chat that may agree, with the id negated so it is never a subscribe signature.
        return DossierPayload(DossierAct.CONFIRM, link_id, self.signer.sign(other, -link_id)).pack()

    async def confirm_link(self, sender: Sender, payload: DossierPayload) -> Outcome:
        """A linked chat agrees that another chat receives the dossier's notices too."""
        done = None
        if self.signer.verify(sender.key, -payload.dossier_id, payload.sig):
            done = await self.db(self.store.confirm_link, sender.key, payload.dossier_id, self.clock.now())
        if done is None:
            return self.say(sender, "action_expired")
        languages = await self.languages([done.chat_id])
        told = self._reply_to(done.chat_id, languages[done.chat_id], "subscribed", code=done.code)
        requester = PLATFORM_NAMES[Platform(platform_of(done.chat_id))]
        agreed = self.say(sender, "link_confirmed", code=done.code, requester=requester)
        return Outcome(agreed.replies, elsewhere=(Elsewhere(done.chat_id, told),))

    async def set_stopped(self, sender: Sender, state: ChatState, *, stopped: bool) -> Outcome:
        await state.set(None)
        await self.db(
            self.store.set_stopped,
            self.address(sender),
            stopped,
            self.clock.now(),
            medium=self.medium(sender),
        )
        return self.say(sender, "stopped" if stopped else "resumed", menu=True)

    # -- data-subject requests --------------------------------------------------------------------------
    async def privacy_request(self, sender: Sender, kind: RequestKind, detail: str | None) -> Outcome:
        """The conversation is the subject only for what it proved (a shared phone, a proven look-up)."""
        if kind is RequestKind.CORRECT and detail is None:
            return self.say(sender, "privacy_correct_ask", menu=True)
        p = self.settings.privacy
        try:
            req = await self.db(
                self.store.privacy_request,
                sender.key,
                str(kind),
                detail,
                self.clock.now(),
                working_days=p.answer_working_days,
                day_end=self.settings.working_hours.end,
            )
        except DomainError as exc:
            return self.say(
                sender, "privacy_not_linked" if exc.refusal == "not_linked" else "error", menu=True
            )
        return self.say(
            sender, "privacy_requested", menu=True, id=req.id, kind=req.kind, deadline_at=req.deadline_at
        )

    # -- feedback ----------------------------------------------------------------------------------------
    @staticmethod
    def _limits() -> dict[str, Any]:
        return {"min_length": fb.MIN_LENGTH, "max_length": fb.MAX_LENGTH}

    @staticmethod
    def _cancel_row(language: str = DEFAULT_LANGUAGE) -> Rows:
        return ((Button(t(language, CANCEL), FormPayload(FormAct.CANCEL).pack()),),)

    async def _choose(self, sender: Sender) -> Outcome:
        rows, _ = await self._dossiers_of(sender)
        buttons: Rows = tuple(
            (Button(v.code, DossierPayload(DossierAct.FEEDBACK, i).pack()),) for i, v in rows
        )
        buttons += (
            (Button(t(language_of(sender), NO_DOSSIER), FormPayload(FormAct.NO_DOSSIER).pack()),),
            *self._cancel_row(language_of(sender)),
        )
        return self.say(sender, "feedback_choose", buttons=buttons, has_dossiers=bool(rows))

    def _ask_text(self, sender: Sender, code: str | None) -> Outcome:
        return self.say(
            sender,
            "feedback_ask_text",
            buttons=self._cancel_row(language_of(sender)),
            code=code,
            **self._limits(),
        )

    async def feedback_begin(self, sender: Sender, state: ChatState) -> Outcome:
        await state.set(STEP_FEEDBACK_DOSSIER)
        return await self._choose(sender)

    async def feedback_chose(self, sender: Sender, dossier_id: int, state: ChatState) -> Outcome:
        found = await self.db(self.store.linked_dossier, sender.key, dossier_id, self.clock.now())
        if found is None:
            return self.say(sender, "action_expired")
        await state.set(STEP_FEEDBACK_TEXT, {"dossier_id": found.dossier_id})
        return self._ask_text(sender, found.view.code)

    async def feedback_typed_dossier(self, sender: Sender, text: str, state: ChatState) -> Outcome:
        """A dossier the chat is not linked to: `MAHOSO 1234`, checked (and counted) like any look-up."""
        query = parse_query(text)
        if query is None:
            return await self._choose(sender)
        out, result = await self.lookup(sender, query)
        if result.found is None:
            return out
        await state.set(STEP_FEEDBACK_TEXT, {"dossier_id": result.found.dossier_id})
        return Outcome(out.replies + self._ask_text(sender, result.found.view.code).replies)

    async def feedback_text(self, sender: Sender, text: str, state: ChatState) -> Outcome:
        text = text.strip()
        if not fb.MIN_LENGTH <= len(text) <= fb.MAX_LENGTH:
            return self.say(
                sender, "feedback_invalid", buttons=self._cancel_row(language_of(sender)), **self._limits()
            )
        _, data = await state.get()
        bot = self.settings.bot
        try:
            submitted = await self.db(
                self.store.submit_feedback,
                sender.key,
                sender.user_id,
                data.get("dossier_id"),
                text,
                self.clock.now(),
                default_agency=bot.feedback_agency,
                working_days=bot.feedback_answer_working_days,
                day_end=self.settings.working_hours.end,
            )
        except fb.FeedbackLimited as exc:
            await state.set(None)
            return self.say(sender, "feedback_limited", retry_at=exc.retry_at)
        await state.set(None)
        return self.say(
            sender,
            "feedback_sent",
            menu=True,
            id=submitted.feedback.id,
            agency_name=submitted.agency_name,
            deadline_at=submitted.feedback.deadline_at,
        )
