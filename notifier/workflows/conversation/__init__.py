"""The chatbot's conversation core, platform-free; its API is documented in `api` (read that first)."""

from __future__ import annotations

from notifier.workflows.conversation.api import (
    FEEDBACK,
    LOOKUP,
    MAIN_MENU,
    MENU_LABELS,
    MY_DOSSIERS,
    SHARE_PHONE,
    STOP,
    Button,
    ButtonKind,
    ChatState,
    ContactIn,
    Follow,
    Incoming,
    KnowsLanguage,
    MemoryChatState,
    MemoryStates,
    OtherIn,
    Outcome,
    Platform,
    Press,
    Reply,
    Rows,
    Sender,
    TextIn,
    Unfollow,
    main_menu,
    menu_item,
    numbered,
    t,
)
from notifier.workflows.conversation.core import Conversation
from notifier.workflows.conversation.payloads import Signer
from notifier.workflows.conversation.state import StoredChatState

__all__ = [
    "FEEDBACK", "LOOKUP", "MAIN_MENU", "MENU_LABELS", "MY_DOSSIERS", "SHARE_PHONE", "STOP",
    "Button", "ButtonKind", "ChatState", "ContactIn", "Conversation", "Follow", "Incoming",
    "KnowsLanguage", "MemoryChatState", "MemoryStates", "OtherIn", "Outcome", "Platform", "Press",
    "Reply", "Rows",
    "Sender", "Signer", "StoredChatState", "TextIn", "Unfollow", "main_menu", "menu_item", "numbered", "t",
]  # fmt: skip
