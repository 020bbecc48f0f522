"""The one source of time. Everything that needs "now" receives a Clock, so tests and `--now` steer it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, always aware and in Vietnam time."""

    def now(self) -> datetime:
        return datetime.now(VN_TZ)


class FixedClock:
    """A clock that stands still until moved; used by tests and by the CLI's `--now`."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_aware(at)

    def advance(self, delta: timedelta) -> None:
        self._at = self._at + delta


def ensure_aware(at: datetime) -> datetime:
    """Naive datetimes are read as Vietnam time: that is what the portal and officers mean."""
    if at.tzinfo is None:
        return at.replace(tzinfo=VN_TZ)
    return at.astimezone(VN_TZ)


def parse_now(value: str | None) -> Clock:
    """`--now 2027-02-03T09:00` gives a fixed clock; no --now gives the system clock. An empty --now (a
    script's unset variable: `--now "$AT"`) is an error, not the system clock."""
    if value is None:
        return SystemClock()
    if not value.strip():
        raise ValueError(
            f"--now: value '{value}': empty; give a date-time like 2027-02-03T09:00, or leave --now out "
            "to use the clock"
        )
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--now: value '{value}': expected ISO date-time like 2027-02-03T09:00") from exc
    if not 1900 <= at.year <= 2200:
        # As for the portal's dates (notifier.rules.portal): year 1 or 9999 is a typo, and at the calendar's
        # edge converting the zone or adding a working day overflows.
        raise ValueError(f"--now: value '{value}': year must be 1900-2200")
    return FixedClock(at)
