"""Public link tokens: a genuine token names its dossier and day; anything altered is refused."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from notifier.rules.public_token import PublicToken, sign, verify

KEY = b"k" * 32


def test_a_token_names_its_dossier_and_day() -> None:
    token = sign(KEY, "H31.22-261201-0001", date(2026, 12, 1))
    assert verify(KEY, token) == PublicToken("H31.22-261201-0001", date(2026, 12, 1))
    assert len(token) < 40


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("0001", "0002"),  # another dossier
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # another tag
        lambda t: t.rsplit("~", 2)[0] + "~zz~" + t.rsplit("~", 1)[1],  # another day
        lambda t: t.rsplit("~", 1)[0],  # no tag
        lambda t: "",
        lambda t: "~~",
        lambda t: t + "~",
    ],
)
def test_an_altered_token_is_refused(change) -> None:
    token = sign(KEY, "H31.22-261201-0001", date(2026, 12, 1))
    assert verify(KEY, change(token)) is None


def test_another_key_is_refused() -> None:
    assert verify(b"other", sign(KEY, "A1", date(2026, 1, 1))) is None
    assert verify(b"", sign(KEY, "A1", date(2026, 1, 1))) is None


@pytest.mark.parametrize("code", ["", "A~1", "A/1"])
def test_a_code_that_cannot_be_carried_is_refused_by_value(code: str) -> None:
    with pytest.raises(ValueError, match="dossier code"):
        sign(KEY, code, date(2026, 1, 1))


@given(st.text(max_size=300))
@example("0~0~\x80")  # a tag with a non-ASCII letter: hmac.compare_digest raised TypeError
def test_verify_never_raises(token: str) -> None:
    verify(KEY, token)


@given(
    st.text(min_size=1, max_size=40).filter(lambda c: "~" not in c and "/" not in c),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2999, 12, 31)),
)
def test_round_trip(code: str, issued: date) -> None:
    assert verify(KEY, sign(KEY, code, issued)) == PublicToken(code, issued)
