"""Spend caps: the month a cost counts in, and how far an agency is into its budget (pure).

A budget is per agency, channel and calendar month in Vietnam time, in đồng; 0 or absent means no cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from notifier.rules.clock import VN_TZ


class OnCap(StrEnum):
    """What a citizen message does when its channel's budget is spent (`[spend] on_cap`)."""

    FALLBACK = "fallback"  # the next channel of the route that reaches the citizen (waits if none is left)
    WAIT = "wait"  # stays queued until the month turns or the budget is raised


class SpendLevel(StrEnum):
    """The warnings an agency's head and the admins get, each once per agency, channel and month."""

    WARN = "warn"  # `[spend] warn_percent` of the budget reached
    CAP = "cap"  # the budget is spent: citizen messages fall back or wait


class SpendState(StrEnum):
    OK = "ok"
    WARNED = "warned"
    CAPPED = "capped"


def month_key(at: datetime) -> str:
    """`2026-12`: the calendar month of `at` in Vietnam time."""
    local = at.astimezone(VN_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def month_bounds(at: datetime) -> tuple[datetime, datetime]:
    """The first instant of `at`'s month and of the next one, in Vietnam time."""
    local = at.astimezone(VN_TZ)
    start = datetime(local.year, local.month, 1, tzinfo=VN_TZ)
    end = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=VN_TZ)
    return start, end


def month_label(month: str) -> str:
    """`2026-12` → `12/2026`."""
    year, _, mm = month.partition("-")
    return f"{mm}/{year}"


@dataclass(frozen=True)
class Standing:
    """An agency's spend on one channel this month against its budget."""

    spent_vnd: int
    budget_vnd: int
    warn_percent: int

    @property
    def percent(self) -> float:
        return 100.0 * self.spent_vnd / self.budget_vnd if self.budget_vnd else 0.0

    @property
    def state(self) -> SpendState:
        if self.spent_vnd >= self.budget_vnd:
            return SpendState.CAPPED
        if self.spent_vnd * 100 >= self.budget_vnd * self.warn_percent:
            return SpendState.WARNED
        return SpendState.OK

    def fits(self, amount: int) -> bool:
        """Whether one more message of `amount` đồng stays within the budget."""
        return self.spent_vnd + amount <= self.budget_vnd
