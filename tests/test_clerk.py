"""The clerks' template language (notifier.rules.clerk): fields, conditional text, notes, escapes, mistakes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from notifier.rules.clerk import ALL_FIELDS, fields_for, to_jinja
from notifier.rules.kinds import REGISTRY
from notifier.rules.rendering import (
    TemplateError,
    for_sms,
    format_date,
    format_money,
    render,
    sample_context,
    trial_contexts,
    validate,
)
from notifier.rules.smstext import sms_info

NOW = datetime(2027, 2, 3, 2, 0, tzinfo=UTC)
KINDS = [str(k) for k in REGISTRY]


def _simple(source: str, kind: str = "received", **sample: object) -> str:
    return render(source, sample_context(NOW, kind, **sample), syntax="simple")  # type: ignore[arg-type]


def test_fields_format_themselves() -> None:
    ctx = sample_context(NOW, "payment_requested")
    text = render("((ma_ho_so)) · ((ngay_hen_tra)) · ((so_tien)) · ((xung_ho))", ctx, syntax="simple")
    d = ctx["dossier"]
    assert text == f"{d.code} · {format_date(d.due_at)} · {format_money(d.fee_amount)} · Ông/Bà"
    assert re.search(r"\d{2}/\d{2}/\d{4}", text) and "đồng" in text
    business = sample_context(NOW, "payment_requested", applicant_kind="business")
    assert render("((xung_ho))", business, syntax="simple") == "Quý tổ chức"


def test_conditional_text_shows_only_when_the_field_has_a_value() -> None:
    source = "Hồ sơ ((ma_ho_so)) trễ hẹn.((ly_do_tre?? Lý do: ((ly_do_tre)).))((!ngay_hen_moi?? Sẽ báo ngày hẹn mới.))"
    full = _simple(source, "overdue_apology")
    assert "Lý do: cần lấy ý kiến của cơ quan quản lý quy hoạch." in full
    assert "Sẽ báo" not in full
    empty = _simple(source, "overdue_apology", minimal=True)
    assert "Lý do" not in empty and empty.endswith("trễ hẹn. Sẽ báo ngày hẹn mới.")


def test_a_line_of_conditional_text_leaves_no_blank_line() -> None:
    source = "Mã: ((ma_ho_so))\n((ngay_tiep_nhan??Tiếp nhận: ((ngay_tiep_nhan))))\n((ngay_hen_tra??Hẹn: ((ngay_hen_tra))))\nHết."
    assert _simple(source, minimal=True) == f"Mã: {sample_context(NOW, 'received')['dossier'].code}\nHết."
    assert _simple(source).count("\n") == 3


def test_brackets_in_conditional_text_close_in_pairs() -> None:
    ctx = sample_context(NOW, "overdue_alert")
    due = format_date(ctx["dossier"].due_at)
    assert render("x((ngay_hen_tra?? (hẹn ((ngay_hen_tra))))).", ctx, syntax="simple") == f"x (hẹn {due})."
    nested = "((ma_ho_so??A((ngay_hen_tra??B))))C"
    assert render(nested, ctx, syntax="simple") == "ABC"


def test_escapes_notes_and_jinja_lookalikes_stay_text() -> None:
    source = "((# ghi chú cho người sửa sau\nhai dòng ))\nGõ \\((ma_ho_so)) hoặc {{ dossier.code }} {% if x %} \\) ((# ghi chú cuối dòng ))\nhết"
    assert _simple(source) == "Gõ ((ma_ho_so)) hoặc {{ dossier.code }} {% if x %} )\nhết"


def test_errors_name_the_clerks_line() -> None:
    source = "((# ghi chú\ndài ))\nDòng ba\n((ma_ho_so)) hẹn ((ngay_hen_tra))"
    with pytest.raises(TemplateError) as caught:
        _simple(source, minimal=True)
    assert caught.value.line == 4
    assert "((ngay_hen_tra))" in caught.value.message and "((ngay_hen_tra??" in caught.value.message


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        ("Hồ sơ ((ma_ho_s))", 1, "không có trường ((ma_ho_s)); có phải ý bạn là ((ma_ho_so))?"),
        ("a\n((ngay_hen_tr??x))", 2, "có phải ý bạn là ((ngay_hen_tra))?"),
        ("Dòng một\nHồ sơ ((ma_ho_so đã nhận", 2, "“((” chưa được đóng"),
        ("a\nb\n((ma_ho_so?? chưa đóng", 3, "chưa được đóng"),
        ("(( ))", 1, "chưa có tên trường"),
        ("((Mã hồ sơ))", 1, "chỉ dùng chữ thường không dấu"),
        ("((ly_do_tre))", 1, "không dùng được cho loại tin này"),
        ("((!ma_ho_so))", 1, "thiếu phần văn bản"),
        ("((# ghi chú chưa đóng", 1, "ghi chú"),
    ],
)
def test_mistakes_are_explained_in_vietnamese_at_their_line(source: str, line: int, expected: str) -> None:
    errors = validate(source, kind="received", channel_type="sms", syntax="simple")
    assert errors, source
    assert errors[0].line == line
    assert expected in errors[0].message


def test_too_long_for_the_kinds_sms_budget_says_by_how_much() -> None:
    # received may take 2 UCS-2 parts (rules.kinds); the text below takes 3 on the samples.
    source = "((co_quan)): Hồ sơ ((ma_ho_so)) đã được tiếp nhận, " + "xin cảm ơn Ông/Bà rất nhiều. " * 2
    errors = validate(source, kind="received", channel_type="sms", syntax="simple")
    assert len(errors) == 1
    units = max(
        sms_info(render(source, for_sms(ctx), syntax="simple")).units
        for _, _, ctx in trial_contexts(NOW, "received")
    )
    message = errors[0].message
    assert "over the budget of 2" in message
    found = re.search(r": (\d+) characters, (\d+) more than the 134 that fit", message)
    assert found is not None and int(found[1]) - 134 == int(found[2]) and int(found[1]) <= units


def test_unknown_field_at_render_time_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="có phải ý bạn là"):
        _simple("((ma_ho_soo))")


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_of_every_kind_renders_on_every_sample(kind: str) -> None:
    # The table is honest: each field's expression runs on the data its kind gets, empty or not.
    for name in fields_for(kind):
        source = f"((#{name}))[(({name}??có))((!{name}??trống))]"
        for _, _, ctx in trial_contexts(NOW, kind):
            assert render(source, ctx, syntax="simple") in ("[có]", "[trống]"), name
        assert render(f"(({name}??(({name}))))", sample_context(NOW, kind), syntax="simple") != "None"


def test_field_names_are_plain_snake_case_with_vietnamese_descriptions() -> None:
    for name, field in ALL_FIELDS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert re.search(r"[à-ỹđ]", field.description, re.I), name
    # The fields the issue names exist for the kinds that have them.
    assert {"ma_ho_so", "ten_thu_tuc", "ngay_hen_tra", "co_quan", "can_bo_xu_ly"} <= set(
        fields_for("received")
    )
    assert "so_ngay_con_lai" in fields_for("due_soon") and "ly_do_tre" in fields_for("overdue_apology")
    assert "ly_do_tre" not in fields_for("received")


def test_compiled_text_keeps_every_line_break() -> None:
    source = "a ((ma_ho_so??b\nc ((ma_ho_so))))\n((# x\ny ))\n((co_quan))\n"
    assert to_jinja(source).count("\n") == source.count("\n")
