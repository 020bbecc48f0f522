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
        assert "yyyyMMddHHmmss" in str(exc) or "not a real date-time" in str(exc)
        return
    # only blank input or exactly 14 digits forming a real date get through
    assert (parsed is None and text == "") or (parsed is not None and parsed.strftime(PORTAL_DATE) == text)


@given(st.from_regex(r"\A\d{14}\Z"))
def test_fourteen_digits_are_a_date_or_a_named_error(text: str) -> None:
    try:
        parsed = parse_portal_date(text)
    except ValueError as exc:
        assert "not a real date-time" in str(exc)
    else:
        assert parsed is not None and parsed.strftime(PORTAL_DATE) == text


@pytest.mark.parametrize("bad", ["20260230090000", "20261301090000", "20261201250000", "2026120109000"])
def test_impossible_dates_name_the_field(bad: str) -> None:
    item = {"MaHoSo": "X", "MaTTHC": "1", "TenTTHC": "T", "ChuHoSo": "A", "TrangThaiHoSo": 1,
            "MaDonVi": "AG", "NgayTiepNhan": bad}
    with pytest.raises(ValueError, match="NgayTiepNhan"):
        PortalDossier.model_validate(item)
