"""The enumeration guard's settings (kept for importers; the rules now live with the store's look-up).

The failure count lives in the database (bot_lookup_failures), so it holds across restarts and processes;
the dispatcher's event isolation (per chat: in memory, or Redis locks with `[bot] redis_url`) handles one
update of a chat at a time, so a burst of parallel guesses cannot all pass the count before any of their
failures is written. The rule itself is `notifier.rules.lookup.Throttle`.
"""

from __future__ import annotations

from notifier.workflows.chat import code_throttle_from, feedback_limits_from, throttle_from

__all__ = ["code_throttle_from", "feedback_limits_from", "throttle_from"]
