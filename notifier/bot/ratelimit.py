"""The enumeration guard's settings.

The failure count lives in the database (bot_lookup_failures), so it holds across restarts and processes;
the dispatcher's event isolation (per chat: in memory, or Redis locks with `[bot] redis_url`) handles one
update of a chat at a time, so a burst of parallel guesses cannot all pass the count before any of their
failures is written. The rule itself is `notifier.rules.lookup.Throttle`.
"""

from __future__ import annotations

from datetime import timedelta

from notifier.config import BotSettings
from notifier.rules.lookup import Throttle
from notifier.workflows.feedback import FeedbackLimits


def throttle_from(settings: BotSettings) -> Throttle:
    return Throttle(
        limit=settings.failed_lookup_limit,
        window=timedelta(seconds=settings.failed_lookup_window_seconds),
        slowdown=timedelta(seconds=settings.slowdown_seconds),
    )


def code_throttle_from(settings: BotSettings) -> Throttle:
    """Failed lookups of one dossier code from every chat (notifier.rules.lookup.slowed_until)."""
    return Throttle(
        limit=settings.code_failed_lookup_limit,
        window=timedelta(seconds=settings.code_failed_lookup_window_seconds),
        slowdown=timedelta(seconds=settings.code_slowdown_seconds),
    )


def feedback_limits_from(settings: BotSettings) -> FeedbackLimits:
    return FeedbackLimits(
        per_chat=settings.feedback_per_chat,
        per_dossier=settings.feedback_per_dossier,
        window=timedelta(seconds=settings.feedback_window_seconds),
    )
