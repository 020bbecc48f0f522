"""When a message may go out: citizens are not woken at night, officers are paged at work only."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from notifier.rules.clock import VN_TZ
from notifier.rules.workdays import WorkCalendar


def _at(day: datetime, t: time) -> datetime:
    return datetime.combine(day.date(), t, tzinfo=VN_TZ)


def citizen_next_allowed(now: datetime, quiet_start: time, quiet_end: time) -> datetime | None:
    """None when a citizen message may go now; otherwise the end of the quiet period."""
    local = now.astimezone(VN_TZ)
    t = local.time()
    if quiet_start == quiet_end:
        return None
    if quiet_start > quiet_end:  # spans midnight, e.g. 21:00–07:00
        if t >= quiet_start:
            return _at(local + timedelta(days=1), quiet_end)
        if t < quiet_end:
            return _at(local, quiet_end)
        return None
    if quiet_start <= t < quiet_end:
        return _at(local, quiet_end)
    return None


def officer_next_allowed(now: datetime, calendar: WorkCalendar, start: time, end: time) -> datetime | None:
    """None during working hours of a working day; otherwise the start of the next working period."""
    local = now.astimezone(VN_TZ)
    if calendar.is_working_day(local.date()):
        if start <= local.time() < end:
            return None
        if local.time() < start:
            return _at(local, start)
    nxt = calendar.add_working_days(local.date(), 1)
    return datetime.combine(nxt, start, tzinfo=VN_TZ)


def backoff(attempt: int, base: float, cap: float) -> timedelta:
    """Exponential: base, 2·base, 4·base … capped; attempt counts from 1."""
    return timedelta(seconds=min(cap, base * (2 ** max(0, attempt - 1))))
