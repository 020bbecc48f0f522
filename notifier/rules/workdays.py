"""Working-day calendar for Vietnamese administrative deadlines.

Everything here is pure: the caller passes the dates and times it cares about, so the scan can be
replayed for any day and tests never depend on the clock.

Conventions:
- A working day is not a weekend day, not a Vietnamese public holiday (as computed by ``holidays``) and
  not a configured extra day off; a configured extra working day (the Saturday the government swaps
  for a bridge holiday) is always a working day. ``holidays`` knows some bridge days off but never
  the Saturdays worked in exchange, so those must come from config.
- 24/11 (Ngày Văn hóa Việt Nam) is a day off in ``holidays`` from 2026; whether the public sector took it
  off is the caller's choice (``culture_day_off``), so one setting flips it without listing every year.
- Counting follows the civil-law rule that the day of the triggering event is not counted: a
  procedure of N working days received (for counting purposes) on day S is due on the N-th working
  day after S.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType

import holidays

_ONE_DAY = timedelta(days=1)
_DAYS_PER_WEEK = 7
_CULTURE_DAY = (11, 24)  # Ngày Văn hóa Việt Nam


@lru_cache(maxsize=256)
def _vn_holidays(year: int, language: str) -> Mapping[date, str]:
    # A HolidayBase re-checks (and may expand) its years on every lookup; a frozen plain mapping per
    # year keeps the scan's day-by-day loops cheap and lets every calendar instance share the work.
    return MappingProxyType(dict(holidays.country_holidays("VN", years=year, language=language)))


def _require_date(value: object, name: str) -> date:
    # datetime is a subclass of date but never equals one, so a datetime would silently miss every
    # holiday and override lookup instead of failing.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date (not a datetime), got {value!r}")
    return value


def _dates(values: Iterable[date], name: str) -> frozenset[date]:
    return frozenset(_require_date(v, name) for v in values)


class WorkCalendar:
    """Vietnamese working-day arithmetic with configurable overrides."""

    def __init__(
        self,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        weekend: frozenset[int] = frozenset({5, 6}),
        *,
        language: str = "vi",
        culture_day_off: bool = True,
    ) -> None:
        weekend = frozenset(weekend)
        if not weekend <= set(range(_DAYS_PER_WEEK)):
            raise ValueError(f"weekend must hold weekday numbers 0..6, got {sorted(weekend)}")
        if len(weekend) == _DAYS_PER_WEEK:
            # Stepping to "the next working day" would never terminate.
            raise ValueError("weekend cannot cover the whole week")
        self._weekend = weekend
        self._extra_off = _dates(extra_days_off, "extra_days_off")
        self._extra_working = _dates(extra_working_days, "extra_working_days")
        # Pinned rather than taken from the process locale, so names are stable across hosts.
        self._language = language
        self._culture_day_off = culture_day_off

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(extra_days_off={sorted(self._extra_off)}, "
            f"extra_working_days={sorted(self._extra_working)}, weekend={sorted(self._weekend)}, "
            f"culture_day_off={self._culture_day_off})"
        )

    # -- single days -------------------------------------------------------------------------------

    def holiday_name(self, d: date) -> str | None:
        """The public holiday's name (regardless of config overrides), or None."""
        d = _require_date(d, "d")
        return _vn_holidays(d.year, self._language).get(d)

    def is_working_day(self, d: date) -> bool:
        d = _require_date(d, "d")
        return self._is_working(d)

    def _is_working(self, d: date) -> bool:
        if d in self._extra_working:
            return True
        if d.weekday() in self._weekend or d in self._extra_off:
            return False
        if not self._culture_day_off and (d.month, d.day) == _CULTURE_DAY:
            return True
        return d not in _vn_holidays(d.year, self._language)

    # -- arithmetic ----------------------------------------------------------------------------------

    def add_working_days(self, d: date, n: int) -> date:
        """n > 0: the n-th working day after d; n < 0: the |n|-th working day before d; 0: d itself."""
        d = _require_date(d, "d")
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if self._is_working(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open interval (a, b]; negated when b < a."""
        a = _require_date(a, "a")
        b = _require_date(b, "b")
        if b < a:
            return -self._count_working(b, a)
        return self._count_working(a, b)

    def _count_working(self, a: date, b: date) -> int:
        # Overdue dossiers can be years old, so count weekdays arithmetically and then correct only
        # the few dates that holidays and config make exceptional.
        count = self._count_weekdays(a, b)
        for d in self._exceptional_dates(a, b):
            count += int(self._is_working(d)) - int(d.weekday() not in self._weekend)
        return count

    def _count_weekdays(self, a: date, b: date) -> int:
        """Days in (a, b] that are not weekend days, ignoring holidays."""
        full_weeks, rest = divmod((b - a).days, _DAYS_PER_WEEK)
        count = full_weeks * (_DAYS_PER_WEEK - len(self._weekend))
        start = a.weekday()
        count += sum(1 for i in range(1, rest + 1) if (start + i) % _DAYS_PER_WEEK not in self._weekend)
        return count

    def _exceptional_dates(self, a: date, b: date) -> set[date]:
        """Dates in (a, b] whose status may differ from their plain weekday status."""
        candidates = set(self._extra_off) | self._extra_working
        for year in range(a.year, b.year + 1):
            candidates.update(_vn_holidays(year, self._language))
        return {d for d in candidates if a < d <= b}

    # -- scan cut-offs -------------------------------------------------------------------------------

    def due_soon_cutoff(self, today: date, n: int) -> date:
        """Latest D with working_days_between(today, D) <= n.

        "Due at or before D" is then exactly "at most n working days left", which lets the scan
        select with one date comparison instead of counting per dossier.
        """
        today = _require_date(today, "today")
        if n >= 0:
            # The day before the (n+1)-th working day after today.
            return self.add_working_days(today, n + 1) - _ONE_DAY
        # The day before the |n|-th working day counted back from today inclusive.
        return self.add_working_days(today + _ONE_DAY, n) - _ONE_DAY

    def overdue_cutoff(self, today: date, n: int) -> date:
        """Latest D with working_days_between(D, today) >= n: "due on or before D" == "overdue by >= n"."""
        if n < 1:
            # A threshold of 0 would select dossiers that are not late yet, and an apology sent for
            # a dossier that is on time is worse than none.
            raise ValueError(f"overdue threshold must be at least 1 working day, got {n}")
        # working_days_between is antisymmetric, so this is the due-soon cut-off mirrored.
        return self.due_soon_cutoff(today, -n)

    # -- deadlines -----------------------------------------------------------------------------------

    def counting_start(self, received_at: datetime, cutoff: time | None) -> date:
        """The date a deadline counts from.

        A dossier received strictly after ``cutoff`` (wall-clock time in received_at's own zone) or on
        a non-working day counts from the next working day; otherwise from the day it was received.
        """
        if not isinstance(received_at, datetime):
            raise TypeError(f"received_at must be a datetime, got {received_at!r}")
        day = received_at.date()
        late = cutoff is not None and received_at.time() > cutoff.replace(tzinfo=None)
        if late or not self._is_working(day):
            return self.add_working_days(day, 1)
        return day

    def deadline(self, received_at: datetime, working_days: int, cutoff: time | None = None) -> date:
        """The appointment (return) date for a procedure that takes ``working_days`` working days."""
        if working_days < 0:
            raise ValueError(f"working_days must not be negative, got {working_days}")
        return self.add_working_days(self.counting_start(received_at, cutoff), working_days)


def working_days(
    calendar: WorkCalendar, due_at: datetime | None, now: datetime
) -> tuple[int | None, int | None]:
    """(working days left, working days overdue); exactly one is set when there is a due date."""
    if due_at is None:
        return None, None
    if due_at >= now:
        return calendar.working_days_between(now.date(), due_at.date()), None
    return None, max(0, calendar.working_days_between(due_at.date(), now.date()))
