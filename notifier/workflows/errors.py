"""Why a use case refused, in the domain's terms: no HTTP status, no chat text.

Every refusal names the field and the value it is about, and why (`reason`, for logs, the API and the
command line). `refusal` is a short stable name of the rule that refused (e.g. `not_working_day`) and
`facts` the values behind it, so an interface can word the refusal its own way: the web answers with an
HTTP status per class, the Telegram bot with a Vietnamese sentence per `refusal`, the CLI with an exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """A refusal naming the field and the value."""

    def __init__(self, field: str, value: Any, reason: str, *, refusal: str = "", **facts: Any) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.refusal = refusal
        self.facts: Mapping[str, Any] = facts
        super().__init__(f"field {field}: value '{value}': {reason}")

    def as_dict(self) -> dict[str, Any]:
        """field, value and reason, the value as JSON can carry it."""
        value = (
            self.value
            if isinstance(self.value, str | int | float | bool) or self.value is None
            else str(self.value)
        )
        return {"field": self.field, "value": value, "reason": self.reason}


class NotFound(DomainError):
    """What the request names does not exist (an unknown dossier, no slip)."""


class NotAllowed(DomainError):
    """Whoever acts may not do this (an officer of another agency, a chat that is no officer's)."""


class WrongState(DomainError):
    """The thing exists, but its state forbids the action (a dossier already resolved)."""


class InvalidInput(DomainError, ValueError):
    """The input itself is wrong (not a date, a blank reason, an unknown format)."""
