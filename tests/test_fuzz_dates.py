"""Property tests for the portal's date format (yyyyMMddHHmmss, Vietnam time)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.rules.clock import VN_TZ
from notifier.rules.portal import PORTAL_DATE, PortalDossier, parse_portal_date

moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=VN_TZ)
)


@given(moments)
def test_round_trip(moment: datetime) -> None:
    parsed = parse_portal_date(moment.strftime(PORTAL_DATE))
    assert parsed == moment and parsed is not None and parsed.utcoffset() == moment.utcoffset()


@given(st.text(max_size=20))
def test_anything_else_is_refused_with_a_reason_or_read_exactly(text: str) -> None:
    try:
        parsed = parse_portal_date(text)
    except ValueError as exc:
        assert "yyyyMMddHHmmss" in str(exc) or "not a real date-time" in str(exc) or "is outside" in str(exc)
        return
    # only blank input or exactly 14 digits forming a real date get through
    assert (parsed is None and text == "") or (parsed is not None and parsed.strftime(PORTAL_DATE) == text)


@given(st.from_regex(r"\A\d{14}\Z"))
def test_fourteen_digits_are_a_date_or_a_named_error(text: str) -> None:
    try:
        parsed = parse_portal_date(text)
    except ValueError as exc:
        assert "not a real date-time" in str(exc) or f"year {int(text[:4])} is outside" in str(exc)
    else:
        assert parsed is not None and parsed.strftime(PORTAL_DATE) == text


@pytest.mark.parametrize("bad", ["20260230090000", "20261301090000", "20261201250000", "2026120109000"])
def test_impossible_dates_name_the_field(bad: str) -> None:
    item = {"MaHoSo": "X", "MaTTHC": "1", "TenTTHC": "T", "ChuHoSo": "A", "TrangThaiHoSo": 1,
            "MaDonVi": "AG", "NgayTiepNhan": bad}
    with pytest.raises(ValueError, match="NgayTiepNhan"):
        PortalDossier.model_validate(item)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("20261304170000", "not a real date-time: month 13"),
        ("20261200170000", "not a real date-time: day 0 of 12/2026 (it has 31 days)"),
        ("20270229170000", "not a real date-time: day 29 of 02/2027 (it has 28 days)"),
        ("20261204240000", "not a real date-time: hour 24"),
        ("20261204176000", "not a real date-time: minute 60"),
        ("20261204170075", "not a real date-time: second 75"),
    ],
)
def test_an_impossible_date_names_the_part_no_calendar_has(bad: str, reason: str) -> None:
    # strptime's own words were passed on: month 13 said "unconverted data remains: 00".
    from pydantic import ValidationError

    from notifier.rules.portal import validation_errors

    item = {"MaHoSo": "X", "MaTTHC": "1", "TenTTHC": "T", "ChuHoSo": "A", "TrangThaiHoSo": 1, "NgayHenTra": bad}
    with pytest.raises(ValidationError) as caught:
        PortalDossier.model_validate(item)
    [error] = validation_errors(1, item, caught.value)
    assert str(error) == f"row 1 (MaHoSo X): field NgayHenTra: value '{bad}': {reason}"
