"""SMS segment budget: when to fold to không dấu, and what counts as over budget."""

from __future__ import annotations

import pytest

from notifier.rules.smsbudget import SmsBudget, fit_sms, segment_limit

# Two UCS-2 parts with diacritics, one GSM-7 part without.
MEDIUM = (
    "Sở Tư pháp thành phố Hải Phòng: Hồ sơ 000.00.30.H26-261120-0001 đã được tiếp nhận, "
    "hẹn trả kết quả ngày 04/12/2026."
)


def test_fixture_texts_have_the_sizes_the_tests_rely_on() -> None:
    assert fit_sms(MEDIUM).segments == 2 and fit_sms(MEDIUM).encoding == "UCS-2"


def test_false_keeps_diacritics_whatever_the_cost() -> None:
    fit = fit_sms(MEDIUM, mode=False, max_segments=1)
    assert fit.text == MEDIUM and not fit.folded
    assert (fit.segments, fit.over_budget) == (2, True)


def test_true_always_folds_to_gsm7() -> None:
    fit = fit_sms(MEDIUM, mode=True)
    assert fit.folded and fit.encoding == "GSM-7"
    assert fit.text.startswith("So Tu phap thanh pho Hai Phong: Ho so 000.00.30.H26-261120-0001 da duoc tiep nhan")
    assert fit.segments == 1


def test_auto_keeps_diacritics_while_they_fit_the_budget() -> None:
    fit = fit_sms(MEDIUM, mode="auto", max_segments=2)
    assert fit.text == MEDIUM and not fit.folded and not fit.over_budget


def test_auto_folds_when_the_text_is_over_budget() -> None:
    fit = fit_sms(MEDIUM, mode="auto", max_segments=1)
    assert fit.folded and fit.segments == 1 and not fit.over_budget
    assert "da duoc tiep nhan" in fit.text


def test_auto_without_a_budget_folds_only_when_it_saves_a_part() -> None:
    tiny = "Hồ sơ đã xong."
    assert fit_sms(tiny, mode="auto").text == tiny  # one part either way: keep the diacritics
    assert fit_sms(MEDIUM, mode="auto").folded  # two parts become one


def test_still_over_budget_after_folding_is_flagged_not_refused() -> None:
    long = MEDIUM * 3
    fit = fit_sms(long, mode="auto", max_segments=1)
    assert fit.folded and fit.segments == 3 and fit.over_budget
    assert fit.text  # sent anyway


def test_extended_gsm_characters_count_twice_in_the_budget() -> None:
    text = "€" * 80  # 160 septets: exactly one part
    assert fit_sms(text, mode=True, max_segments=1).over_budget is False
    assert fit_sms(text + "€", mode=True, max_segments=1).over_budget is True


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="max_segments: value 0"):
        fit_sms("x", max_segments=0)
    with pytest.raises(ValueError, match="khong_dau: value 'yes'"):
        fit_sms("x", mode="yes")  # type: ignore[arg-type]


def test_per_kind_budget_wins_over_the_channel_budget() -> None:
    by_kind = {"overdue_apology": 3}
    assert segment_limit("overdue_apology", 1, by_kind) == 3
    assert segment_limit("received", 1, by_kind) == 1
    assert segment_limit("received", None, by_kind) is None
    assert SmsBudget("auto", segment_limit("overdue_apology", 1, by_kind)).fit(MEDIUM).text == MEDIUM
    assert SmsBudget("auto", segment_limit("received", 1, by_kind)).fit(MEDIUM).folded


def test_the_default_budget_sends_text_unchanged() -> None:
    fit = SmsBudget().fit(MEDIUM)
    assert fit.text == MEDIUM and fit.segments == 2 and not fit.over_budget


def test_a_budget_checks_its_values_like_fit_sms() -> None:
    with pytest.raises(ValueError, match="max_segments: value 0"):
        SmsBudget(True, 0).fit(MEDIUM)
