from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.rules import workdays
from notifier.rules.workdays import WorkCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkCalendar()
ONE = timedelta(days=1)


def days(start: date, end: date) -> list[date]:
    """Inclusive range of dates."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def vn(y: int, m: int, d: int, hh: int = 9, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN)


# -- single days ---------------------------------------------------------------------------------------


def test_weekdays_are_working_and_weekends_are_not() -> None:
    week = days(date(2026, 3, 2), date(2026, 3, 8))  # Mon..Sun, no holidays
    assert [CAL.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_tet_2026_is_off_and_surrounded_by_working_days() -> None:
    for d in days(date(2026, 2, 16), date(2026, 2, 20)):
        assert not CAL.is_working_day(d), d
        assert CAL.holiday_name(d) is not None
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    assert CAL.add_working_days(date(2026, 2, 23), -1) == date(2026, 2, 13)


def test_tet_2027_is_off() -> None:
    for d in days(date(2027, 2, 4), date(2027, 2, 10)):
        assert not CAL.is_working_day(d), d
    assert CAL.is_working_day(date(2027, 2, 3))
    assert CAL.is_working_day(date(2027, 2, 11))
    assert CAL.add_working_days(date(2027, 2, 3), 1) == date(2027, 2, 11)


@pytest.mark.parametrize(
    "d",
    [
        date(2026, 1, 1),
        date(2026, 4, 27),  # Hùng Kings fell on Sunday 26/4: observed Monday
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 9, 1),
        date(2026, 9, 2),
        date(2027, 4, 30),
        date(2027, 5, 3),  # 1/5/2027 is a Saturday: observed Monday
        date(2027, 9, 2),
        date(2027, 9, 3),
    ],
)
def test_fixed_holidays_are_off(d: date) -> None:
    assert not CAL.is_working_day(d)
    assert CAL.holiday_name(d)


def test_holiday_names_are_vietnamese_by_default_and_none_on_ordinary_days() -> None:
    assert CAL.holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert CAL.holiday_name(date(2026, 9, 2)) == "Quốc khánh"
    assert CAL.holiday_name(date(2026, 3, 3)) is None
    assert CAL.holiday_name(date(2026, 3, 7)) is None  # a Saturday is not a holiday
    english = WorkCalendar(language="en_US")
    assert english.holiday_name(date(2026, 4, 30)) == "Liberation Day/Reunification Day"


def test_extra_day_off_and_extra_working_day_override() -> None:
    bridge_off = date(2026, 1, 2)  # Friday after New Year
    swap_saturday = date(2026, 1, 10)
    cal = WorkCalendar(extra_days_off=[bridge_off], extra_working_days=[swap_saturday])
    assert CAL.is_working_day(bridge_off) and not cal.is_working_day(bridge_off)
    assert not CAL.is_working_day(swap_saturday) and cal.is_working_day(swap_saturday)
    assert cal.holiday_name(bridge_off) is None  # config days off are not public holidays
    assert cal.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 5)
    assert cal.add_working_days(date(2026, 1, 9), 1) == date(2026, 1, 10)


def test_extra_working_day_beats_holiday_and_extra_day_off() -> None:
    d = date(2026, 4, 30)
    cal = WorkCalendar(extra_days_off=[d, date(2026, 5, 1)], extra_working_days=[d, date(2026, 5, 2)])
    assert cal.is_working_day(d)
    assert not cal.is_working_day(date(2026, 5, 1))
    assert cal.is_working_day(date(2026, 5, 2))  # a Saturday


def test_library_knows_bridge_days_off_but_not_the_swapped_saturdays() -> None:
    # 2/5/2025 was given off in exchange for working Saturday 26/4/2025; only config can say the latter.
    assert not CAL.is_working_day(date(2025, 5, 2))
    assert not CAL.is_working_day(date(2025, 4, 26))
    assert WorkCalendar(extra_working_days=[date(2025, 4, 26)]).is_working_day(date(2025, 4, 26))


def test_custom_weekend() -> None:
    sunday_only = WorkCalendar(weekend=frozenset({6}))
    assert sunday_only.is_working_day(date(2026, 3, 7))
    assert not sunday_only.is_working_day(date(2026, 3, 8))


@pytest.mark.parametrize("weekend", [frozenset({7}), frozenset({-1}), frozenset(range(7))])
def test_invalid_weekend_rejected(weekend: frozenset[int]) -> None:
    with pytest.raises(ValueError):
        WorkCalendar(weekend=weekend)


def test_datetimes_are_rejected_where_dates_are_expected() -> None:
    moment = datetime(2026, 2, 17, 9, 0)
    with pytest.raises(TypeError):
        CAL.is_working_day(moment)
    with pytest.raises(TypeError):
        CAL.working_days_between(date(2026, 1, 1), moment)
    with pytest.raises(TypeError):
        WorkCalendar(extra_days_off=[moment])


def test_holiday_lookups_are_cached_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = holidays.country_holidays

    def counting(country: str, years: int, language: str) -> holidays.HolidayBase:
        built.append(years)
        return real(country, years=years, language=language)

    workdays._vn_holidays.cache_clear()
    monkeypatch.setattr(holidays, "country_holidays", counting)
    try:
        cal = WorkCalendar()
        for d in days(date(2026, 1, 1), date(2026, 12, 31)):
            cal.is_working_day(d)
        cal.working_days_between(date(2026, 1, 1), date(2027, 6, 1))
        WorkCalendar().add_working_days(date(2026, 12, 1), 40)
        assert sorted(built) == [2026, 2027]
    finally:
        workdays._vn_holidays.cache_clear()


# -- arithmetic ----------------------------------------------------------------------------------------


def test_add_working_days_basics() -> None:
    friday = date(2026, 3, 6)
    assert CAL.add_working_days(friday, 0) == friday
    assert CAL.add_working_days(friday, 1) == date(2026, 3, 9)
    assert CAL.add_working_days(friday, 5) == date(2026, 3, 13)
    assert CAL.add_working_days(friday, -1) == date(2026, 3, 5)
    assert CAL.add_working_days(date(2026, 3, 9), -1) == friday
    saturday = date(2026, 3, 7)
    assert CAL.add_working_days(saturday, 0) == saturday  # n == 0 never moves, even off a day off
    assert CAL.add_working_days(saturday, 1) == date(2026, 3, 9)
    assert CAL.add_working_days(saturday, -1) == friday


def test_add_working_days_across_the_april_may_long_weekend() -> None:
    # 2026: Thu 30/4 and Fri 1/5 off, then the weekend.
    assert CAL.add_working_days(date(2026, 4, 29), 1) == date(2026, 5, 4)
    assert CAL.add_working_days(date(2026, 5, 4), -1) == date(2026, 4, 29)
    # Hùng Kings observed on Mon 27/4/2026 as well.
    assert CAL.add_working_days(date(2026, 4, 24), 3) == date(2026, 5, 4)


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5
    # Half-open: the start day never counts, the end day does.
    assert CAL.working_days_between(date(2026, 3, 6), date(2026, 3, 9)) == 1
    assert CAL.working_days_between(date(2026, 3, 7), date(2026, 3, 8)) == 0
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert CAL.working_days_between(date(2026, 4, 29), date(2026, 5, 4)) == 1


def test_working_days_between_over_years_matches_day_by_day() -> None:
    a, b = date(2019, 6, 15), date(2028, 1, 3)
    assert CAL.working_days_between(a, b) == sum(CAL.is_working_day(d) for d in days(a + ONE, b))


# -- cut-offs around a long weekend ------------------------------------------------------------------------


def test_due_soon_cutoff_around_april_may_2026() -> None:
    wed = date(2026, 4, 29)
    # Next working day is Mon 4/5: everything due up to Sun 3/5 has 0 working days left.
    assert CAL.due_soon_cutoff(wed, 0) == date(2026, 5, 3)
    assert CAL.due_soon_cutoff(wed, 1) == date(2026, 5, 4)
    assert CAL.due_soon_cutoff(wed, 2) == date(2026, 5, 5)


def test_overdue_cutoff_around_april_may_2026() -> None:
    mon = date(2026, 5, 4)
    assert CAL.overdue_cutoff(mon, 1) == date(2026, 5, 3)
    assert CAL.working_days_between(date(2026, 4, 29), mon) == 1  # due Wed 29/4: only 1 day late
    assert CAL.overdue_cutoff(mon, 2) == date(2026, 4, 28)
    # On a day off, the day itself does not add lateness.
    assert CAL.overdue_cutoff(date(2026, 5, 1), 1) == date(2026, 4, 28)


def test_overdue_cutoff_requires_positive_threshold() -> None:
    with pytest.raises(ValueError):
        CAL.overdue_cutoff(date(2026, 5, 4), 0)


# -- brute-force reference ------------------------------------------------------------------------------

REF_START, REF_END = date(2024, 1, 1), date(2028, 12, 31)
_REF_HOLIDAYS = holidays.country_holidays("VN", years=range(2023, 2030))
WINDOW = 200  # days either side: far more than 30 working days even with a 3-day weekend and Tết


def ref_is_working(d: date, off: set[date], work: set[date], weekend: frozenset[int]) -> bool:
    if d in work:
        return True
    return d.weekday() not in weekend and d not in off and d not in _REF_HOLIDAYS


def ref_between(a: date, b: date, off: set[date], work: set[date], weekend: frozenset[int]) -> int:
    if b < a:
        return -ref_between(b, a, off, work, weekend)
    return sum(ref_is_working(d, off, work, weekend) for d in days(a + ONE, b) if a < b)


def ref_from(today: date, off: set[date], work: set[date], weekend: frozenset[int]) -> dict[date, int]:
    """working_days_between(today, D) for every D in the window, counted one day at a time."""
    result = {today: 0}
    count = 0
    for d in days(today + ONE, today + timedelta(days=WINDOW)):
        count += ref_is_working(d, off, work, weekend)
        result[d] = count
    count = 0
    for d in reversed(days(today - timedelta(days=WINDOW), today - ONE)):
        count += ref_is_working(d + ONE, off, work, weekend)  # (d, today] grows by d + 1
        result[d] = -count
    return result


in_range = st.dates(min_value=REF_START, max_value=REF_END)
extras = st.sets(in_range, max_size=25)
weekends = st.frozensets(st.integers(0, 6), max_size=3)


@settings(max_examples=300, deadline=None)
@given(today=in_range, n=st.integers(-20, 20), off=extras, work=extras, weekend=weekends)
def test_due_soon_cutoff_matches_brute_force(
    today: date, n: int, off: set[date], work: set[date], weekend: frozenset[int]
) -> None:
    between = ref_from(today, off, work, weekend)
    expected = max(d for d, count in between.items() if count <= n)
    assert expected < max(between), "window too small for the reference"
    assert WorkCalendar(off, work, weekend).due_soon_cutoff(today, n) == expected


@settings(max_examples=300, deadline=None)
@given(today=in_range, n=st.integers(1, 20), off=extras, work=extras, weekend=weekends)
def test_overdue_cutoff_matches_brute_force(
    today: date, n: int, off: set[date], work: set[date], weekend: frozenset[int]
) -> None:
    # working_days_between(D, today) is minus the count from today's side, by definition of the interval.
    between = ref_from(today, off, work, weekend)
    expected = max(d for d, count in between.items() if -count >= n)
    assert min(between) < expected
    assert WorkCalendar(off, work, weekend).overdue_cutoff(today, n) == expected


@settings(max_examples=300, deadline=None)
@given(today=in_range, n=st.integers(1, 20), off=extras, work=extras, weekend=weekends)
def test_overdue_cutoff_agrees_with_direct_count(
    today: date, n: int, off: set[date], work: set[date], weekend: frozenset[int]
) -> None:
    cutoff = WorkCalendar(off, work, weekend).overdue_cutoff(today, n)
    assert ref_between(cutoff, today, off, work, weekend) >= n
    assert ref_between(cutoff + ONE, today, off, work, weekend) < n


@settings(max_examples=200, deadline=None)
@given(a=in_range, b=in_range, off=extras, work=extras, weekend=weekends)
def test_working_days_between_matches_brute_force(
    a: date, b: date, off: set[date], work: set[date], weekend: frozenset[int]
) -> None:
    cal = WorkCalendar(off, work, weekend)
    assert cal.working_days_between(a, b) == ref_between(a, b, off, work, weekend)


@settings(max_examples=200, deadline=None)
@given(d=in_range, n=st.integers(-30, 30), off=extras, work=extras, weekend=weekends)
def test_add_working_days_matches_brute_force(
    d: date, n: int, off: set[date], work: set[date], weekend: frozenset[int]
) -> None:
    cal = WorkCalendar(off, work, weekend)
    after = [x for x in days(d + ONE, d + timedelta(days=WINDOW)) if ref_is_working(x, off, work, weekend)]
    before = [x for x in days(d - timedelta(days=WINDOW), d - ONE) if ref_is_working(x, off, work, weekend)]
    expected = d if n == 0 else after[n - 1] if n > 0 else before[n]
    assert cal.add_working_days(d, n) == expected


# -- counting start and deadlines (the 15:00 rule) ----------------------------------------------------------

THREE_PM = time(15, 0)


@pytest.mark.parametrize(
    ("received", "cutoff", "expected"),
    [
        (vn(2026, 3, 2, 14, 59), THREE_PM, date(2026, 3, 2)),
        (vn(2026, 3, 2, 15, 0), THREE_PM, date(2026, 3, 2)),  # "after 15:00" is strict
        (vn(2026, 3, 2, 15, 0, 1), THREE_PM, date(2026, 3, 3)),
        (vn(2026, 3, 6, 16, 0), THREE_PM, date(2026, 3, 9)),  # Friday afternoon -> Monday
        (vn(2026, 3, 6, 16, 0), None, date(2026, 3, 6)),  # procedure without the rule
        (vn(2026, 3, 7, 9, 0), None, date(2026, 3, 9)),  # Saturday, even in the morning
        (vn(2026, 3, 7, 16, 0), THREE_PM, date(2026, 3, 9)),  # Saturday afternoon: Monday, not Tuesday
        (vn(2026, 2, 13, 15, 30), THREE_PM, date(2026, 2, 23)),  # last afternoon before Tết
        (vn(2026, 4, 29, 15, 30), THREE_PM, date(2026, 5, 4)),  # before the 30/4-1/5 long weekend
        (vn(2026, 4, 30, 8, 0), THREE_PM, date(2026, 5, 4)),  # filed online on the holiday
    ],
)
def test_counting_start(received: datetime, cutoff: time | None, expected: date) -> None:
    assert CAL.counting_start(received, cutoff) == expected


def test_counting_start_uses_the_datetimes_own_wall_clock() -> None:
    # 10:00 UTC on Monday is 17:00 in Hà Nội: only the VN datetime is "after 15:00". Converting is the
    # caller's job, as documented.
    utc_morning = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert CAL.counting_start(utc_morning, THREE_PM) == date(2026, 3, 2)
    assert CAL.counting_start(utc_morning.astimezone(VN), THREE_PM) == date(2026, 3, 3)


def test_counting_start_accepts_aware_cutoff_and_naive_datetime() -> None:
    assert CAL.counting_start(datetime(2026, 3, 2, 16, 0), time(15, 0, tzinfo=VN)) == date(2026, 3, 3)


def test_counting_start_rejects_dates() -> None:
    with pytest.raises(TypeError):
        CAL.counting_start(date(2026, 3, 2), THREE_PM)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("received", "n", "cutoff", "expected"),
    [
        (vn(2026, 3, 2, 10), 0, THREE_PM, date(2026, 3, 2)),  # same-day procedure
        (vn(2026, 3, 2, 16), 0, THREE_PM, date(2026, 3, 3)),
        (vn(2026, 3, 2, 10), 1, THREE_PM, date(2026, 3, 3)),  # receipt day itself does not count
        (vn(2026, 3, 2, 16), 1, THREE_PM, date(2026, 3, 4)),
        (vn(2026, 3, 2, 16), 1, None, date(2026, 3, 3)),
        (vn(2026, 3, 5, 10), 3, THREE_PM, date(2026, 3, 10)),
        (vn(2026, 2, 12, 10), 3, THREE_PM, date(2026, 2, 24)),  # across Tết 2026
        (vn(2026, 2, 13, 15, 1), 1, THREE_PM, date(2026, 2, 24)),
        (vn(2027, 2, 3, 9), 5, None, date(2027, 2, 17)),  # across Tết 2027
        (vn(2026, 8, 28, 9), 2, None, date(2026, 9, 4)),  # 31/8 (bridge), 1/9 and 2/9 off
    ],
)
def test_deadline(received: datetime, n: int, cutoff: time | None, expected: date) -> None:
    assert CAL.deadline(received, n, cutoff) == expected


def test_deadline_rejects_negative_duration() -> None:
    with pytest.raises(ValueError):
        CAL.deadline(vn(2026, 3, 2), -1)


# -- the shipped calendar (config.toml) ------------------------------------------------------------------


def _shipped() -> WorkCalendar:
    from pathlib import Path

    from notifier.config import load_settings

    c = load_settings(Path(__file__).parents[1] / "config.toml").calendar
    return WorkCalendar(c.extra_days_off, c.extra_working_days, culture_day_off=c.culture_day_off)


def test_holidays_package_is_recent_enough_for_2026() -> None:
    # 0.106 is the first release with Vietnam's 2026 decisions (31/08/2026 off in exchange for 22/08).
    major, minor = (int(x) for x in holidays.__version__.split(".")[:2])
    assert (major, minor) >= (0, 106), holidays.__version__
    assert CAL.holiday_name(date(2026, 8, 31)) is not None


def test_shipped_2026_swaps_move_the_bridge_days() -> None:
    cal = _shipped()
    # Friday 02/01/2026 off, worked back Saturday 10/01; Monday 31/08 off, worked back Saturday 22/08.
    assert not cal.is_working_day(date(2026, 1, 2)) and CAL.is_working_day(date(2026, 1, 2))
    assert cal.is_working_day(date(2026, 1, 10)) and not CAL.is_working_day(date(2026, 1, 10))
    assert cal.is_working_day(date(2026, 8, 22)) and not CAL.is_working_day(date(2026, 8, 22))
    assert not cal.is_working_day(date(2026, 8, 31))
    # A dossier due 3 working days after Wednesday 31/12/2025: 05/01, 06/01, 07/01 (02/01 off, 1/1 holiday).
    assert cal.add_working_days(date(2025, 12, 31), 3) == date(2026, 1, 7)
    # 3 working days after Thursday 20/08/2026: Fri 21, Sat 22 (worked), Mon 24; without the swap Tue 25.
    assert cal.add_working_days(date(2026, 8, 20), 3) == date(2026, 8, 24)
    assert CAL.add_working_days(date(2026, 8, 20), 3) == date(2026, 8, 25)
    # Across the September bridge: Fri 28/08, then 31/08, 01/09, 02/09 are off → Thu 03/09.
    assert cal.add_working_days(date(2026, 8, 27), 2) == date(2026, 9, 3)


def test_culture_day_is_a_named_switch_and_off_by_default_in_the_shipped_config() -> None:
    culture = date(2026, 11, 24)  # a Tuesday
    assert CAL.holiday_name(culture) == "Ngày Văn hóa Việt Nam"
    assert not WorkCalendar(culture_day_off=True).is_working_day(culture)
    assert WorkCalendar(culture_day_off=False).is_working_day(culture)
    shipped = _shipped()
    assert shipped.is_working_day(culture)
    assert shipped.working_days_between(date(2026, 11, 23), date(2026, 11, 25)) == 2
    # The switch is about 24/11 only: other holidays stay off.
    assert not WorkCalendar(culture_day_off=False).is_working_day(date(2026, 9, 2))


def test_tet_2027_comes_from_the_package_rule_until_the_plan_is_published() -> None:
    # 06/02/2027 is mùng 1; until the government's plan, 29 Tết to mùng 5 (04/02-10/02) are the days off.
    cal = _shipped()
    assert [d for d in days(date(2027, 2, 1), date(2027, 2, 12)) if not cal.is_working_day(d)] == days(
        date(2027, 2, 4), date(2027, 2, 10)
    )
