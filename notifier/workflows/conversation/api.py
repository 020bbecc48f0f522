"""The conversation core's public API: what an adapter hands in, and what it gets back to show.

The core (`notifier.workflows.conversation`) holds the chatbot's flows and knows no platform: a status
look-up by dossier code and the last 4 digits of the applicant's phone, "my dossiers", linking a phone
the platform verified (with the citizen's consent), subscribe/unsubscribe, feedback (phản ánh, kiến nghị)
with its answer deadline, and the officers' actions on alerts (new date / done). An adapter (Telegram,
Zalo OA, inbound SMS) only translates:

    from notifier.workflows.conversation import (
        Conversation, Sender, Platform, TextIn, Press, ContactIn, Follow, Unfollow, OtherIn,
        Outcome, Reply, Button, ButtonKind, MAIN_MENU, MemoryChatState,
    )

    conv = Conversation.from_service(service, secret=b"...")   # one per process
    sender = Sender(Platform.ZALO_OA, chat_id=zalo_user_id, user_id=zalo_user_id)
    outcome = await conv.handle(TextIn(sender, "000.00.30.H26-261120-0001 5678"), state)
    for reply in outcome.replies:
        ...  # reply.text; reply.buttons (rows of Button); reply.menu: also show MAIN_MENU

Rules every adapter keeps:
- `Sender.chat_id` is the platform's id of the conversation (Telegram chat id, Zalo follower id, the SMS
  sender's number); the core stores it as `Sender.key` ("5001" for Telegram, "zalo_oa:123…" for others),
  so ids of two platforms never meet in the same row.
- `ContactIn.owner_id` is who the platform says the shared phone belongs to (Telegram's contact.user_id,
  Zalo's user_submit_info sender); the core links the phone only when it is the sender's own (`user_id`).
- `Sender.phone` is a number the platform itself vouches for as the sender's (an SMS's sender); never a
  number the user typed.
- A `Press` carries a button's `payload` back exactly as the core gave it (≤ 64 bytes, Telegram's limit).
  Payloads that name a dossier a chat proved it may see are signed for that chat (Signer), so a button
  forwarded to, or forged by, someone else does nothing.
- `state` is the conversation's form step (the feedback form, an officer's pending new date): an object
  with `get()` / `set()` (ChatState). Telegram keeps it in aiogram's FSM storage (memory or Redis);
  Zalo in the database (`state.StoredChatState`, table chat_states, shared by every worker, with an
  expiry); MemoryChatState serves one process. A state that is also KnowsLanguage keeps the chat's
  language with it, which saves the core a query per event.
- Buttons map to what the platform has: ACTION -> inline / query button sending `payload`;
  MENU -> a reply-keyboard button that sends its `label` as text (a platform without one may send the
  label as text too); CONTACT -> Telegram's request_contact, Zalo's request-user-info message.
  Platforms without buttons (SMS) number them: `numbered(reply)` gives the text and the answers.
- `Outcome.elsewhere` holds messages for other conversations; an adapter sends those whose key is of its
  own platform (`notifier.rules.chat_keys.platform_of`) and logs the rest (not delivered: the link they
  ask about stays pending, which loses nothing).
- `Outcome.notice` is the short answer to a button press (Telegram answerCallbackQuery; `alert`: shown
  as a pop-up); `Reply.replace` means the reply replaces the message whose button was pressed;
  `Reply.ask_reply` (a placeholder) asks the user to answer that message (Telegram ForceReply).

Languages: a chat reads Vietnamese unless it chose English ("English" / "Tiếng Việt" in the menu,
/english, /tiengviet, or the same words typed); the choice is stored per conversation. `Sender.language`
is the platform's hint for a chat that never chose (Telegram's language_code); the core replaces it with
the chat's language, and every Reply carries the language it is written in (`Reply.language`), so an
adapter draws `main_menu(reply.language)`. Labels of both languages are understood (`menu_item`), as
keyboards already sent stay on phones.

Data-subject requests (/dulieu, /xemdulieu, /suadulieu …, /xoadulieu, /rutdongy) are core flows over
notifier.workflows.privacy. `Conversation.extra_commands` (a command word -> an async flow) adds further
flows without touching the adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Protocol, runtime_checkable

from notifier.rules.chat_keys import conversation_key
from notifier.rules.i18n import DEFAULT_LANGUAGE, LANGUAGES, gettext


def t(language: str, message: str) -> str:
    """`message` (Vietnamese, a msgid of the `chat` catalog) in `language`; scripts/i18n extracts it."""
    return gettext(language, "chat", message)


def _(message: str) -> str:
    """Marks a msgid for scripts/i18n where the text is fixed before any language is known (the menu's
    labels); `t(language, …)` translates it where it is shown."""
    return message


class Platform(StrEnum):
    TELEGRAM = "telegram"
    ZALO_OA = "zalo_oa"
    SMS = "sms"


# How texts name each platform ("qua Zalo này"): the same in both languages.
PLATFORM_NAMES = {Platform.TELEGRAM: "Telegram", Platform.ZALO_OA: "Zalo", Platform.SMS: "SMS"}


@dataclass(frozen=True)
class Sender:
    platform: Platform
    chat_id: str  # the platform's id of the conversation
    user_id: str | None = None  # the person (Telegram from_user.id, Zalo follower id)
    first_name: str | None = None
    phone: str | None = None  # vouched for by the platform (an SMS's sender), never typed by the user
    private: bool = True  # False: a group chat, where a citizen's dossier must never be shown
    # True: the platform says which of our messages a text answers (TextIn.reply_to, Telegram replies);
    # False: the core remembers what it asked in the state (the officer's new-date prompt).
    threads_replies: bool = False
    # From an adapter: the platform's idea of the user's language (Telegram's language_code), used only
    # while the chat has chosen none. Inside the core: the chat's language ("vi", "en").
    language: str | None = None

    @property
    def key(self) -> str:
        """How the store names this conversation (chat links, look-up failures, feedback, opt-outs)."""
        return conversation_key(self.platform, self.chat_id)


# -- incoming ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextIn:
    sender: Sender
    text: str
    reply_to: str | None = None  # the text of our message this one answers (Telegram reply), if any


@dataclass(frozen=True)
class Press:
    """A button pressed: its payload, exactly as the core put it in the Button."""

    sender: Sender
    payload: str


@dataclass(frozen=True)
class ContactIn:
    """A phone number shared through the platform (not typed): Telegram contact, Zalo user_submit_info."""

    sender: Sender
    phone: str
    owner_id: str | None  # whom the platform says the number belongs to; None: unknown (forwarded card)


@dataclass(frozen=True)
class Follow:
    sender: Sender


@dataclass(frozen=True)
class Unfollow:
    sender: Sender


@dataclass(frozen=True)
class OtherIn:
    """A photo, sticker, file…: the flows take text, so the core answers with how to use it."""

    sender: Sender


Incoming = TextIn | Press | ContactIn | Follow | Unfollow | OtherIn


# -- outgoing ----------------------------------------------------------------------------------------------


class ButtonKind(StrEnum):
    ACTION = "action"  # sends `payload` back as a Press
    MENU = "menu"  # sends its label back as text
    CONTACT = "contact"  # asks the platform for the user's own phone (comes back as ContactIn)


@dataclass(frozen=True)
class Button:
    label: str
    payload: str | None = None  # ACTION only; at most 64 bytes
    kind: ButtonKind = ButtonKind.ACTION


Rows = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: Rows = ()  # ACTION buttons under this message
    menu: bool = False  # show the main menu (MAIN_MENU) with it; never together with `buttons`
    ask_reply: str | None = None  # a placeholder: the user should answer this message
    replace: bool = False  # replaces the message whose button was pressed (if the platform can)
    language: str = DEFAULT_LANGUAGE  # what the text is written in: the main menu is drawn in it too


@dataclass(frozen=True)
class Elsewhere:
    """A message for another conversation, named by its stored key (`Sender.key`, `platform_of(key)`):
    the chats already receiving a dossier are asked to agree to a new link, and told when it is made."""

    key: str
    reply: Reply


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...] = ()
    notice: str | None = None  # the answer to a button press
    alert: bool = False  # show `notice` as a pop-up (a refusal)
    elsewhere: tuple[Elsewhere, ...] = ()  # each adapter delivers those of its own platform


# The main menu's labels are fixed here, not in the editable texts: the core recognises a MENU button by
# its label, and keyboards already sent stay on citizens' phones after an edit. These are the Vietnamese
# labels (msgids); `main_menu(language)` draws them in a chat's language.
LOOKUP = _("Tra cứu hồ sơ")
SHARE_PHONE = _("Chia sẻ số điện thoại")
MY_DOSSIERS = _("Hồ sơ của tôi")
FEEDBACK = _("Gửi phản ánh, kiến nghị")
STOP = _("Hủy nhận tin")
MENU_LABELS = frozenset({LOOKUP, SHARE_PHONE, MY_DOSSIERS, FEEDBACK, STOP})
# The language switch names the other language in that language (as language pickers do): not translated.
LANGUAGE_LABELS = {"vi": "English", "en": "Tiếng Việt"}  # the button shown to a chat reading the key
LANGUAGE_COMMANDS = {"english": "en", "tiengviet": "vi"}  # /english, /tiengviet
# The same, typed (Zalo has no commands menu; some keyboards drop diacritics): folded to lower case.
LANGUAGE_WORDS = {
    "english": "en",
    "tiếng anh": "en",
    "tiếng việt": "vi",
    "tieng viet": "vi",
    "tiengviet": "vi",
}


@cache
def main_menu(language: str = DEFAULT_LANGUAGE) -> Rows:
    """The main menu in `language`, with the switch to the other language last."""
    return (
        (
            Button(t(language, LOOKUP), kind=ButtonKind.MENU),
            Button(t(language, MY_DOSSIERS), kind=ButtonKind.MENU),
        ),
        (Button(t(language, SHARE_PHONE), kind=ButtonKind.CONTACT),),
        (Button(t(language, FEEDBACK), kind=ButtonKind.MENU),),
        (Button(t(language, STOP), kind=ButtonKind.MENU),),
        (Button(LANGUAGE_LABELS[language], kind=ButtonKind.MENU),),
    )


MAIN_MENU: Rows = main_menu(DEFAULT_LANGUAGE)


@cache
def _labels() -> dict[str, str]:
    return {t(language, label): label for label in MENU_LABELS for language in LANGUAGES}


def menu_item(text: str) -> str | None:
    """The main-menu entry (its Vietnamese label, e.g. LOOKUP) a text is the label of, in any language."""
    return _labels().get(text.strip())


def language_asked(text: str) -> str | None:
    """The language a typed word or a language button asks for ("English", "tiếng việt"), else None."""
    return LANGUAGE_WORDS.get(" ".join(text.split()).lower())


def numbered(reply: Reply) -> tuple[str, dict[str, Button]]:
    """For a platform without buttons (SMS): the text with "1. …" lines, and what each number means."""
    answers: dict[str, Button] = {}
    lines = [reply.text]
    for row in reply.buttons:
        for button in row:
            number = str(len(answers) + 1)
            answers[number] = button
            lines.append(f"{number}. {button.label}")
    return "\n".join(lines), answers


# -- conversation state ------------------------------------------------------------------------------------


class ChatState(Protocol):
    """One conversation's form step and its data, kept by the adapter's storage."""

    async def get(self) -> tuple[str | None, dict[str, Any]]: ...

    async def set(self, step: str | None, data: dict[str, Any] | None = None) -> None: ...


@runtime_checkable
class KnowsLanguage(Protocol):
    """A ChatState that also keeps the chat's chosen language (read with the step, or cached beside it),
    so the core does not query it for every event."""

    async def chosen_language(self) -> tuple[bool, str | None]:
        """(known, the chat's choice or None); not known: the core reads it and calls remember_language."""
        ...

    async def remember_language(self, language: str | None) -> None: ...


@dataclass
class MemoryChatState:
    """A ChatState in this process's memory (one per conversation; `MemoryStates` hands them out)."""

    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    async def get(self) -> tuple[str | None, dict[str, Any]]:
        return self.step, dict(self.data)

    async def set(self, step: str | None, data: dict[str, Any] | None = None) -> None:
        self.step, self.data = step, dict(data or {})


@dataclass
class MemoryStates:
    states: dict[str, MemoryChatState] = field(default_factory=dict)

    def of(self, sender: Sender) -> MemoryChatState:
        return self.states.setdefault(sender.key, MemoryChatState())


# A flow added without touching adapters (data-subject requests): gets the event and state, answers.
ExtraFlow = Callable[[TextIn, ChatState], Awaitable[Outcome]]
