"""What every handler receives as `deps` (aiogram workflow data): the conversation core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifier.config import Settings
from notifier.workflows.chat import BotStore
from notifier.workflows.conversation import Conversation


@dataclass
class BotDeps:
    conversation: Conversation

    @property
    def settings(self) -> Settings:
        return self.conversation.settings

    @property
    def store(self) -> BotStore:
        return self.conversation.store

    def text(self, name: str, **context: Any) -> str:
        return self.conversation.text(name, **context)
