"""How a conversation is named in the store, whatever the platform.

Telegram chats keep their bare id ("5001"), as every row written before other platforms came; any other
platform's id is prefixed with the platform ("zalo_oa:3456…", "sms:+84912345678"). Telegram ids are
integers, so a bare key never contains ":" and the two kinds never collide.
"""

from __future__ import annotations

TELEGRAM = "telegram"


def conversation_key(platform: str, chat_id: str) -> str:
    if not chat_id:
        raise ValueError(f"chat_id: value {chat_id!r}: a conversation needs the platform's id")
    return chat_id if platform == TELEGRAM else f"{platform}:{chat_id}"


def platform_of(key: str) -> str:
    """The platform of a stored conversation key: "telegram" for a bare id."""
    head, sep, _ = key.partition(":")
    return head if sep else TELEGRAM


def chat_id_of(key: str) -> str:
    """The platform's own id inside a stored key."""
    _, sep, tail = key.partition(":")
    return tail if sep else key
