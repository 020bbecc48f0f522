"""The rendering engine: filters, render(), validate(), sample data and template-file loading."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import REGISTRY
from notifier.rules.rendering import (
    SCHEMA,
    TOP_LEVEL_NAMES,
    TemplateError,
    format_date,
    format_datetime,
    format_money,
    load_template_files,
    mask_phone,
    render,
    sample_context,
    utf16_len,
    validate,
)

NOW = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)
KINDS = [str(k) for k in REGISTRY]


@pytest.fixture
def ctx() -> dict:
    return sample_context(NOW, "overdue_apology")


# ---------------------------------------------------------------------------------------------- filters


def test_date_converts_aware_datetimes_to_vietnam_time_before_taking_the_day() -> None:
    # 20:30 UTC on the 2nd is 03:30 on the 3rd in Hanoi: the appointment day must be the 3rd.
    assert format_date(datetime(2027, 2, 2, 20, 30, tzinfo=UTC)) == "03/02/2027"
    assert format_date(date(2027, 12, 9)) == "09/12/2027"


def test_datetime_filter_formats_time_then_day_in_vietnam_time() -> None:
    assert format_datetime(datetime(2027, 2, 3, 2, 0, tzinfo=UTC)) == "09:00 03/02/2027"
    assert format_datetime(datetime(2027, 2, 3, 16, 5, tzinfo=VN_TZ)) == "16:05 03/02/2027"


def test_date_filters_refuse_naive_datetimes() -> None:
    with pytest.raises(TemplateError, match="naive"):
        format_date(datetime(2027, 2, 3, 9, 0))
    with pytest.raises(TemplateError, match="naive"):
        format_datetime(datetime(2027, 2, 3, 9, 0))


@pytest.mark.parametrize(
    ("filter_name", "source"),
    [("date", "{{ v|date }}"), ("datetime", "{{ v|datetime }}"), ("money", "{{ v|money }}")],
)
def test_filters_on_none_raise_naming_the_filter_and_the_line(filter_name: str, source: str) -> None:
    with pytest.raises(TemplateError) as info:
        render("Dòng một\n" + source, {"v": None}, field="body")
    assert info.value.line == 2
    assert info.value.field == "body"
    assert f"'{filter_name}'" in info.value.message
    assert "None" in info.value.message


def test_money_is_written_out_in_dong_with_thousands_dots() -> None:
    # Administrative style: "1.500.000 đồng", never the "₫" sign; a plain space (cheap phones show a
    # no-break space as a box).
    assert format_money(1_500_000) == "1.500.000 đồng"
    assert format_money(200_000) == "200.000 đồng"
    assert format_money(0) == "0 đồng"
    assert "\u00a0" not in format_money(1_500_000) and "₫" not in format_money(1_500_000)


def test_money_folds_to_dong_without_diacritics() -> None:
    from notifier.rules.smstext import khong_dau

    assert khong_dau(format_money(200_000)) == "200.000 dong"


@pytest.mark.parametrize("value", [1500.5, True, "1500000"])
def test_money_accepts_integers_only(value: object) -> None:
    with pytest.raises(TemplateError, match="integer"):
        format_money(value)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**13))
def test_money_round_trips_any_amount(amount: int) -> None:
    text = format_money(amount)
    assert re.fullmatch(r"\d{1,3}(\.\d{3})* đồng", text), text
    assert int(text.removesuffix(" đồng").replace(".", "")) == amount


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("0912345678", "091****678"),
        ("+84 912 345 678", "091****678"),
        ("84912345678", "091****678"),
        ("091.234.5678", "091****678"),
        ("01662345678", "016*****678"),  # pre-2018 eleven-digit mobile
        ("12345", "***"),
        ("", "***"),
        (None, "***"),
        ("abc0912345678", "***"),
    ],
)
def test_mask_phone(raw: object, masked: str) -> None:
    assert mask_phone(raw) == masked


@given(st.text())
def test_mask_phone_never_shows_more_than_six_digits(raw: str) -> None:
    assert sum(ch.isdigit() for ch in mask_phone(raw)) <= 6


def test_mask_phone_is_available_in_templates() -> None:
    assert render("{{ p|mask_phone }}", {"p": "0987654321"}) == "098****321"


# ----------------------------------------------------------------------------------------------- render


def test_render_strips_collapses_blank_runs_and_trailing_blanks() -> None:
    source = "\n\n  Dòng một   \n\n\n\n\nDòng hai\n{% if false %}\nẩn\n{% endif %}\n\n\n"
    assert render(source, {}) == "Dòng một\n\nDòng hai"


def test_render_output_is_nfc_even_from_decomposed_template_and_values() -> None:
    decomposed_template = unicodedata.normalize("NFD", "Hồ sơ của {{ name }}")
    out = render(decomposed_template, {"name": unicodedata.normalize("NFD", "Nguyễn Thị Hương")})
    assert out == unicodedata.normalize("NFC", "Hồ sơ của Nguyễn Thị Hương")
    assert unicodedata.is_normalized("NFC", out)


@given(st.text())
def test_render_output_is_always_nfc(value: str) -> None:
    assert unicodedata.is_normalized("NFC", render("x {{ v }} y", {"v": value}))


def test_render_does_not_escape_html_in_text_messages(ctx: dict) -> None:
    ctx["dossier"].applicant_name = "Công ty <A&B>"
    assert render("{{ dossier.applicant_name }}", ctx) == "Công ty <A&B>"


def test_unknown_attribute_error_names_the_placeholder_and_line(ctx: dict) -> None:
    source = "Dòng một\nDòng hai\n{{ dossier.foo }}"
    with pytest.raises(TemplateError) as info:
        render(source, ctx, field="body")
    error = info.value
    assert (error.field, error.line) == ("body", 3)
    assert str(error) == "template body line 3: 'dossier' has no attribute 'foo'"
    assert isinstance(error, ValueError)


def test_default_field_is_template() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ missing }}", {})
    assert info.value.field == "template"
    assert str(info.value) == "template line 1: 'missing' is undefined"


def test_attribute_of_none_suggests_a_guard() -> None:
    with pytest.raises(TemplateError, match=r"'officer' is None.*\{% if officer %\}"):
        render("{{ officer.name }}", {"officer": None})


def test_printing_none_is_an_error_not_the_word_none() -> None:
    with pytest.raises(TemplateError, match="None") as info:
        render("Thanh toán: {{ link }}", {"link": None}, field="body")
    assert info.value.line == 1


def test_syntax_error_in_render_has_its_line() -> None:
    with pytest.raises(TemplateError) as info:
        render("một\nhai\n{% if dossier %}\nba", {}, field="subject")
    assert info.value.field == "subject"
    assert info.value.line == 4


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ dossier.__dict__ }}",
        "{{ items.append(1) }}",
        "{{ dossier.code.__len__() }}",
        "{{ range(10**9)|list }}",
    ],
)
def test_sandbox_refusals_surface_as_template_errors(source: str, ctx: dict) -> None:
    with pytest.raises(TemplateError):
        render(source, ctx)


def test_sandbox_keeps_the_callers_list_unchanged(ctx: dict) -> None:
    items: list[int] = []
    with pytest.raises(TemplateError):
        render("{{ items.append(1) }}", {**ctx, "items": items})
    assert items == []


def test_the_same_source_renders_different_contexts() -> None:
    # Compiled templates are cached by source; the context must not be cached with them.
    assert render("{{ n }}", {"n": 1}) == "1"
    assert render("{{ n }}", {"n": 2}) == "2"


# --------------------------------------------------------------------------------------------- validate


def test_validate_accepts_a_guarded_template() -> None:
    source = (
        "{{ agency.name }}: {{ dossier.code }}\n"
        "{% if dossier.due_at %}Hẹn {{ dossier.due_at|date }}{% endif %}\n"
        "{% for it in items %}{{ it.code }}{% if it.working_days_left is not none %} "
        "{{ it.working_days_left }}{% endif %}{% endfor %}"
    )
    assert validate(source) == []


def test_validate_catches_an_unguarded_optional_item_field() -> None:
    # The overdue sample item has working_days_left None; printing it would put "None" in the message.
    errors = validate(
        "{% for it in items %}\n{{ it.working_days_left }}\n{% endfor %}", kind="officer_digest"
    )
    assert [e.line for e in errors] == [2]


def test_validate_reports_syntax_errors_with_their_line() -> None:
    source = "Dòng một\n{% if dossier.due_at %}\n{{ dossier.due_at|date }}\n{% endfor %}\n"
    errors = validate(source)
    assert len(errors) == 1
    assert errors[0].line == 4
    assert errors[0].field == "body"


def test_validate_names_unknown_placeholders_with_their_lines() -> None:
    source = "{{ dossier.code }}\n{{ dossier.fee }}\n{{ dosier.code }}\n{{ agency.email }}\n"
    errors = validate(source, "subject")
    by_line = {e.line: e.message for e in errors}
    assert "unknown placeholder 'dossier.fee'" in by_line[2]
    assert "did you mean 'dossier.fee_" in by_line[2]
    assert "unknown placeholder 'dosier'" in by_line[3]
    assert "unknown placeholder 'agency.email'" in by_line[4]
    assert all(e.field == "subject" for e in errors)
    assert len(errors) == 3


def test_validate_checks_item_attributes_inside_loops_over_items() -> None:
    source = '{% for it in items|sort(attribute="code") %}\n{{ it.code }} {{ it.fee }}\n{% endfor %}'
    errors = validate(source)
    assert [(e.line, e.message.split(" (")[0]) for e in errors] == [(2, "unknown placeholder 'it.fee'")]


def test_validate_checks_subscript_access_too() -> None:
    errors = validate("{{ dossier['fee'] }}")
    assert [e.message for e in errors] == [
        "unknown placeholder 'dossier.fee'; did you mean 'dossier.fee_paid'?"
    ]


def test_validate_accepts_officer_only_inside_a_guard() -> None:
    assert validate("{% if officer %}{{ officer.name }}{% endif %}") == []
    errors = validate("{{ officer.name }}", kind="received")
    assert errors and "'officer' is None" in errors[0].message


@pytest.mark.parametrize(
    "source", ["{{ ''.__class__ }}", "{{ dossier.__dict__ }}", "{{ dossier.code.__class__.__base__ }}"]
)
def test_validate_reports_sandbox_escapes(source: str) -> None:
    errors = validate(source)
    assert errors
    assert any("unsafe" in e.message for e in errors)


def test_validate_reports_list_mutation() -> None:
    assert validate("{{ items.pop() }}")
    assert validate("{% for it in items %}{{ items.append(it) }}{% endfor %}")


def test_validate_catches_a_filter_on_an_optional_field_without_guard() -> None:
    # new_due_at is set in the full apology sample, so only the empty-optional sample exposes this.
    errors = validate("Hẹn trả mới: {{ dossier.new_due_at|date }}", kind="overdue_apology")
    assert len(errors) == 1
    assert errors[0].line == 1
    assert "'date'" in errors[0].message and "None" in errors[0].message


def test_validate_catches_an_unknown_filter() -> None:
    errors = validate("Dòng một\n{{ dossier.code|shout }}")
    assert [e.line for e in errors] == [2]
    assert "shout" in errors[0].message


def test_validate_flags_sms_over_three_parts_only_for_sms() -> None:
    source = "{{ dossier.procedure_name }} " * 4
    assert validate(source, kind="received") == []
    errors = validate(source, kind="received", channel_type="sms")
    assert any("UTF-16" in e.message for e in errors)


def test_validate_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        validate("x", kind="birthday")


# ---------------------------------------------------------------------------------------- sample_context


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", [{}, {"applicant_kind": "business"}, {"minimal": True}])
def test_sample_context_matches_the_schema_exactly(kind: str, variant: dict) -> None:
    ctx = sample_context(NOW, kind, **variant)
    assert set(ctx) == TOP_LEVEL_NAMES
    assert set(vars(ctx["dossier"])) == SCHEMA["dossier"]
    assert set(vars(ctx["agency"])) == SCHEMA["agency"]
    if ctx["officer"] is not None:
        assert set(vars(ctx["officer"])) == SCHEMA["officer"]
    for item in ctx["items"]:
        assert set(vars(item)) == SCHEMA["items"]
    assert ctx["now"] is NOW


def test_sample_context_dates_are_aware_and_consistent_for_an_apology() -> None:
    dossier = sample_context(NOW, "overdue_apology")["dossier"]
    assert dossier.original_due_at < NOW < dossier.new_due_at
    assert dossier.received_at < dossier.original_due_at
    assert all(
        d.tzinfo is not None for d in (dossier.received_at, dossier.original_due_at, dossier.new_due_at)
    )
    assert dossier.status_name == "Đang xử lý"


def test_sample_context_follows_the_clock_it_is_given() -> None:
    shift = sample_context(NOW + timedelta(days=30))["dossier"].due_at - sample_context(NOW)["dossier"].due_at
    assert shift >= timedelta(days=28)


def test_sample_context_minimal_empties_every_optional_field() -> None:
    ctx = sample_context(NOW, "head_digest", minimal=True)
    d = ctx["dossier"]
    assert d.due_at is None and d.payment_link is None and d.delay_reason is None and d.fee_amount is None
    assert ctx["items"] == [] and ctx["assigned_officer"] is None
    assert ctx["recipient"].name == ctx["recipient_name"]
    assert ctx["agency"].phone is None


def test_sample_context_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        sample_context(datetime(2027, 2, 3, 9, 0))
    with pytest.raises(ValueError, match="unknown kind"):
        sample_context(NOW, "birthday")
    with pytest.raises(ValueError, match="applicant_kind"):
        sample_context(NOW, applicant_kind="ngo")


def test_audiences_are_the_three_known_ones() -> None:
    assert {str(info.audience) for info in REGISTRY.values()} == {"citizen", "officer", "head"}


# ---------------------------------------------------------------------------------------------- loading


def _write(root: Path, relative: str, text: str = "x") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_load_template_files_pairs_email_subjects_with_bodies(tmp_path: Path) -> None:
    _write(tmp_path, "email/received.j2", "thân thư")
    _write(tmp_path, "email/received.subject.j2", "tiêu đề")
    _write(tmp_path, "sms/received.txt", "tin nhắn ((ma_ho_so))")
    files = load_template_files(tmp_path)
    # The extension says the syntax: .j2 Jinja, .txt the clerks' language.
    assert sorted(files) == [
        ("received", "email", "tiêu đề", "thân thư", "jinja"),
        ("received", "sms", None, "tin nhắn ((ma_ho_so))", "simple"),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["email/received.j2"], "subject"),
        (["email/received.subject.j2"], "without a body"),
        (["sms/birthday.j2"], "unknown kind"),
        (["fax/received.j2"], "unknown channel type"),
        (["sms/received.j2", "sms/received.subject.j2"], "only email"),
        (["sms/received.j2", "sms/received.txt"], "written in both"),
        (["email/received.txt", "email/received.subject.j2"], "written like its body"),
    ],
)
def test_load_template_files_rejects_misnamed_files(tmp_path: Path, files: list[str], message: str) -> None:
    for relative in files:
        _write(tmp_path, relative)
    with pytest.raises(ValueError, match=message):
        load_template_files(tmp_path)


def test_utf16_len_counts_code_units() -> None:
    assert utf16_len("Hồ sơ") == 5
    assert utf16_len("😀") == 2
    assert utf16_len(unicodedata.normalize("NFD", "ồ")) == 3


def test_items_entries_may_be_any_object_with_the_attributes() -> None:
    item = SimpleNamespace(code="A-1", working_days_overdue=2)
    source = "{% for it in items %}{{ it.code }}:{{ it.working_days_overdue }}{% endfor %}"
    assert render(source, {"items": [item]}) == "A-1:2"


# -------------------------------------------------------------------------------------------- whole_phrases


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("cần lấy ý kiến của cơ quan quản lý quy hoạch.", 60, "cần lấy ý kiến của cơ quan quản lý quy hoạch"),
        ("Chờ ý kiến của Sở Xây dựng, cần đo đạc lại ranh giới thửa đất.", 40, "Chờ ý kiến của Sở Xây dựng"),
        ("Chờ Sở Xây dựng; Sở Tài chính; Công an thành phố.", 31, "Chờ Sở Xây dựng; Sở Tài chính"),
        ("cần lấy ý kiến của cơ quan quản lý quy hoạch", 30, ""),  # one phrase, too long: nothing
        ("Cần xác minh (liên thông, hai cấp) với Công an; sẽ trả sau", 45, ""),  # never inside a bracket
        ("Cần xác minh (liên thông) với Công an; sẽ trả sau", 45, "Cần xác minh (liên thông) với Công an"),
        ("Chờ kết quả đo đạc - cần bổ sung bản vẽ", 20, "Chờ kết quả đo đạc"),
        ("  nhiều   khoảng\ntrắng  ", 40, "nhiều khoảng trắng"),
    ],
)
def test_whole_phrases_never_cuts_a_phrase(text: str, limit: int, expected: str) -> None:
    from notifier.rules.rendering import whole_phrases

    out = whole_phrases(text, limit)
    assert out == expected
    assert len(out) <= limit
    assert "…" not in out


def test_whole_phrases_in_a_template_and_its_errors() -> None:
    ctx = {"dossier": SimpleNamespace(delay_reason="Chờ Sở Xây dựng, rồi Sở Tài chính.")}
    assert render("{{ dossier.delay_reason|whole_phrases(20) }}", ctx) == "Chờ Sở Xây dựng"
    with pytest.raises(TemplateError, match=r"whole_phrases.*None"):
        render("{{ none|whole_phrases(20) }}", {"none": None})
    with pytest.raises(TemplateError, match="limit must be a positive integer"):
        render("{{ 'x'|whole_phrases(0) }}", {})
