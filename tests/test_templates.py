"""The shipped templates: every kind on every channel, rendered with realistic and with sparse data."""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.rules.kinds import REGISTRY, Audience, Kind
from notifier.rules.rendering import (
    CHANNEL_TYPES,
    SMS_MAX_UNITS,
    TEMPLATES_DIR,
    TemplateFile,
    for_sms,
    format_date,
    load_template_files,
    render,
    sample_context,
    utf16_len,
    validate,
)
from notifier.rules.sandbox import RenderLimits
from notifier.rules.smstext import sms_info

# 02:00 UTC is 09:00 in Hanoi: the templates must show Vietnam dates whatever zone the clock is in.
NOW = datetime(2027, 2, 3, 2, 0, tzinfo=UTC)
TEMPLATES: dict[tuple[str, str], TemplateFile] = {(t.kind, t.channel_type): t for t in load_template_files()}
KINDS = [str(k) for k in REGISTRY]
CITIZEN_KINDS = [str(k) for k, info in REGISTRY.items() if info.audience is Audience.CITIZEN]
DIGESTS = ("officer_digest", "head_digest")
VARIANTS: dict[str, dict[str, Any]] = {
    "citizen": {},
    "business": {"applicant_kind": "business"},
    "minimal": {"minimal": True},
}


# These tests read what the shipped templates say. A render's time limit (1 s of wall time) is tested in
# test_sandbox; here a pause of a loaded test machine must not turn a check of the text into a timeout
# (the NFC property test below once failed so, on a render of the e-mail subject).
ROOMY = RenderLimits(seconds=60)


def _render(kind: str, channel: str, ctx: dict[str, Any]) -> tuple[str | None, str]:
    template = TEMPLATES[(kind, channel)]
    syntax = template.syntax
    subject = (
        None
        if template.subject is None
        else render(template.subject, ctx, field="subject", limits=ROOMY, syntax=syntax)
    )
    return subject, render(template.body, ctx, field="body", limits=ROOMY, syntax=syntax)


def _all(kind: str, ctx: dict[str, Any]) -> dict[str, str]:
    """Body of every channel, with the email subject prepended so one check covers both."""
    out = {}
    for channel in CHANNEL_TYPES:
        subject, body = _render(kind, channel, ctx)
        out[channel] = body if subject is None else f"{subject}\n{body}"
    return out


def test_every_kind_has_a_template_on_every_channel() -> None:
    assert set(TEMPLATES) == set(itertools.product(KINDS, CHANNEL_TYPES))
    assert len(load_template_files()) == len(TEMPLATES)  # no duplicates


def test_only_email_templates_have_a_subject() -> None:
    for (_, channel), template in TEMPLATES.items():
        assert (template.subject is not None) == (channel == "email")


def test_template_files_are_nfc_utf8() -> None:
    for path in [*TEMPLATES_DIR.rglob("*.j2"), *TEMPLATES_DIR.rglob("*.txt")]:
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path


@pytest.mark.parametrize(("kind", "channel"), sorted(TEMPLATES))
def test_every_shipped_template_passes_validate(kind: str, channel: str) -> None:
    template = TEMPLATES[(kind, channel)]
    syntax = template.syntax
    assert validate(template.body, "body", kind=kind, channel_type=channel, syntax=syntax) == []
    # Without a kind the trial render uses every audience's data: a shipped template must survive it too.
    assert validate(template.body, "body", channel_type=channel, syntax=syntax) == []
    if template.subject is not None:
        assert validate(template.subject, "subject", kind=kind, syntax=syntax) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize(("kind", "channel"), sorted(TEMPLATES))
def test_rendered_text_is_clean(kind: str, channel: str, variant: str) -> None:
    ctx = sample_context(NOW, kind, **VARIANTS[variant])
    subject, body = _render(kind, channel, ctx)
    for text in filter(None, (subject, body)):
        assert unicodedata.is_normalized("NFC", text)
        assert "None" not in text
        assert "{" not in text and "}" not in text
        assert "\u00a0" not in text
        assert "\n\n\n" not in text
        assert not re.search(r"[ \t]\n", text), "trailing blanks"
        assert "  " not in text.replace("\n   ", "\n"), "double space (item lines may be indented)"
        # SMS names the agency by its short name when it has one (agency.short_name, for the segment budget).
        named = ctx["agency"].name in text or (channel == "sms" and (ctx["agency"].short_name or "") in text)
        assert named or (subject is not None and text is subject)
        assert not re.search(r"[\U0001F000-\U0001FAFF\u2600-\u27BF]", text), "no emoji in official messages"
    if subject is not None:
        assert "\n" not in subject
        assert len(subject) <= 150
    if kind not in (*DIGESTS, "spend_warning"):  # about an agency's month, not a dossier
        assert ctx["dossier"].code in body


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kind", KINDS)
def test_sms_stays_within_three_ucs2_parts(kind: str, variant: str) -> None:
    _, body = _render(kind, "sms", sample_context(NOW, kind, **VARIANTS[variant]))
    assert utf16_len(body) <= SMS_MAX_UNITS, (utf16_len(body), body)
    agency = sample_context(NOW, kind, **VARIANTS[variant])["agency"]
    assert body.startswith((agency.short_name or agency.name, agency.name))
    assert "\n" not in body
    assert not body.startswith(("Kính gửi", "Xin chào"))


@pytest.mark.parametrize("kind", CITIZEN_KINDS)
def test_citizen_email_greets_with_the_right_form_of_address(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    _, body = _render(kind, "email", ctx)
    assert body.startswith(f"Kính gửi Ông/Bà {ctx['recipient_name']},")
    assert "Quý tổ chức" not in body
    assert "Trân trọng" in body

    ctx = sample_context(NOW, kind, applicant_kind="business")
    _, body = _render(kind, "email", ctx)
    # An organisation is addressed by its name ("Kính gửi: Công ty TNHH …"), not "Quý tổ chức Công ty …".
    assert body.startswith(f"Kính gửi: {ctx['recipient_name']},")
    # The agency signs the letter.
    assert re.search(rf"Trân trọng,\n{re.escape(ctx['agency'].name)}\n", body)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_email_leaves_a_blank_line_after_the_salutation(kind: str, variant: str) -> None:
    # Staff e-mails did; citizen e-mails ran "Kính gửi Ông/Bà …," straight into the first sentence.
    _, body = _render(kind, "email", sample_context(NOW, kind, **VARIANTS[variant]))
    salutation, blank, first = body.split("\n")[:3]
    assert salutation.startswith("Kính gửi") and salutation.endswith(",")
    assert blank == "" and first.strip(), body[:300]


@pytest.mark.parametrize("kind", CITIZEN_KINDS)
def test_business_applicants_are_never_addressed_as_ong_ba(kind: str) -> None:
    for channel, text in _all(kind, sample_context(NOW, kind, applicant_kind="business")).items():
        assert "Ông/Bà" not in text, channel


@pytest.mark.parametrize("kind", ["due_soon", "overdue_alert", "escalation", *DIGESTS])
def test_staff_messages_use_dong_chi_and_not_citizen_forms(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    _, body = _render(kind, "email", ctx)
    assert body.startswith(f"Kính gửi đồng chí {ctx['recipient_name']},")
    for text in _all(kind, ctx).values():
        assert "Ông/Bà" not in text and "Quý tổ chức" not in text


def test_feedback_alert_does_not_name_a_platform_the_citizen_may_not_have_used() -> None:
    # Feedback comes from the Zalo OA, the Telegram bot or the public page (web:...); the officer's alert
    # said "qua Telegram" for all of them, and that the answer would go back "qua Telegram".
    ctx = sample_context(NOW, "feedback_received")
    for channel, text in _all("feedback_received", ctx).items():
        assert "Telegram" not in text, channel
        assert ctx["feedback"].text.strip() in text or channel == "sms"


def test_received_gives_code_procedure_and_appointment_date() -> None:
    ctx = sample_context(NOW, "received")
    due = format_date(ctx["dossier"].due_at)
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", due)
    for channel, text in _all("received", ctx).items():
        assert ctx["dossier"].code in text
        assert due in text, channel
    assert ctx["dossier"].procedure_name in _render("received", "email", ctx)[1]


def test_received_shows_receipt_time_in_vietnam_time() -> None:
    ctx = sample_context(NOW, "received")
    ctx["dossier"].received_at = datetime(2027, 2, 3, 1, 35, tzinfo=UTC)
    _, body = _render("received", "email", ctx)
    assert "08:35 03/02/2027" in body


def test_apology_names_agency_dossier_old_and_new_dates_and_reason() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    d = ctx["dossier"]
    old, new = format_date(d.original_due_at), format_date(d.new_due_at)
    assert old != new
    for channel, text in _all("overdue_apology", ctx).items():
        assert (ctx["agency"].short_name if channel == "sms" else ctx["agency"].name) in text
        assert d.code in text
        assert old in text and new in text, channel
        assert "trân trọng xin lỗi Ông/Bà" in text
        assert d.delay_reason in text, channel
    _, email = _render("overdue_apology", "email", ctx)
    assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT" in email
    assert f"Số: {d.apology_number}" in email
    assert email.index(old) < email.index(new)


def test_apology_email_dates_the_document_by_its_issue_not_by_the_day_it_is_sent() -> None:
    # "Ngày lập" (the day the document was made) once printed the day the e-mail was rendered: a Mẫu 04 issued
    # on 10/12 and sent after a quiet night or a retry said "Ngày lập: 11/12", against the printed document's
    # date. It is the slip's own date, in Vietnam time: 17:30 UTC on 01/02 is 00:30 on 02/02 in Hanoi.
    ctx = sample_context(NOW, "overdue_apology")
    ctx["dossier"].apology_issued_at = datetime(2027, 2, 1, 17, 30, tzinfo=UTC)
    _, email = _render("overdue_apology", "email", ctx)
    assert f"Số: {ctx['dossier'].apology_number}\nNgày lập: 02/02/2027\n" in email
    assert f"Ngày gửi thư: {format_date(NOW)}" in email
    _, chat = _render("overdue_apology", "chat", ctx)
    assert f"số: {ctx['dossier'].apology_number} ngày 02/02/2027\n" in chat
    ctx["dossier"].apology_number = ctx["dossier"].apology_issued_at = None  # no slip: neither line
    _, email = _render("overdue_apology", "email", ctx)
    assert "Số:" not in email and "Ngày lập" not in email


def test_apology_without_new_date_promises_to_notify_it() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    new = format_date(ctx["dossier"].new_due_at)
    ctx["dossier"].new_due_at = None
    for channel, text in _all("overdue_apology", ctx).items():
        assert new not in text
        assert "sẽ được" in text and "thông báo" in text, channel
        assert format_date(ctx["dossier"].original_due_at) in text


@pytest.mark.parametrize(
    "reason",
    [
        "Chờ ý kiến của Sở Xây dựng",
        "Chờ ý kiến của Sở Xây dựng.",
        "Chờ ý kiến của Sở Xây dựng...",
        "Chờ ý kiến của Sở Xây dựng…",
        "Chờ ý kiến của Sở Xây dựng!",
        "Chờ ý kiến của Sở Xây dựng?",
        "Chờ ý kiến của Sở Xây dựng; ",
        "Chờ ý kiến của Sở Xây dựng :",
    ],
)
@pytest.mark.parametrize("channel", ["chat", "email"])
def test_apology_reason_line_ends_with_one_full_stop(channel: str, reason: str) -> None:
    # The officer's reason as typed: "Lý do: ….?." or "Lý do: …;." read as typos in a letter of apology.
    ctx = sample_context(NOW, "overdue_apology")
    ctx["dossier"].delay_reason = reason
    _, body = _render("overdue_apology", channel, ctx)
    assert "Lý do: Chờ ý kiến của Sở Xây dựng.\n" in body, body


def test_apology_without_reason_has_no_reason_line() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    ctx["dossier"].delay_reason = None
    for text in _all("overdue_apology", ctx).values():
        assert "lý do" not in text.lower()


def test_apology_falls_back_to_due_at_for_the_missed_date() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    missed = format_date(ctx["dossier"].original_due_at)
    ctx["dossier"].original_due_at = None
    for text in _all("overdue_apology", ctx).values():
        assert missed in text  # due_at still holds the missed appointment


def test_apology_for_a_business() -> None:
    ctx = sample_context(NOW, "overdue_apology", applicant_kind="business")
    for text in _all("overdue_apology", ctx).values():
        assert "trân trọng xin lỗi Quý tổ chức" in text


def test_apology_reason_is_kept_whole_or_cut_between_phrases_in_sms_only() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    long_reason = (
        "Cần lấy ý kiến thẩm định của nhiều sở, ngành; chờ kết quả kiểm tra thực địa tại khu đất của "
        "người nộp hồ sơ và ý kiến bằng văn bản của Ủy ban nhân dân phường nơi có đất."
    )
    ctx["dossier"].delay_reason = long_reason
    texts = _all("overdue_apology", ctx)
    sms = texts["sms"]
    assert utf16_len(sms) <= SMS_MAX_UNITS
    # The SMS takes the phrases that fit and stops at a phrase's end, never in the middle of one.
    assert "(lý do: Cần lấy ý kiến thẩm định của nhiều sở, ngành)." in sms, sms
    assert "…" not in sms and "chờ kết quả" not in sms
    assert "chờ kết quả kiểm tra thực địa" in texts["email"]
    assert "nơi có đất.." not in texts["email"]


def test_apology_sms_leaves_out_a_reason_whose_first_phrase_does_not_fit() -> None:
    ctx = sample_context(NOW, "overdue_apology")
    ctx["dossier"].delay_reason = "Chờ " + "kết quả xác minh " * 12
    sms = _render("overdue_apology", "sms", ctx)[1]
    assert "lý do" not in sms and "…" not in sms
    assert utf16_len(sms) <= SMS_MAX_UNITS
    assert sms.endswith("Hẹn trả mới: " + format_date(ctx["dossier"].new_due_at) + ".")


def test_apology_sms_keeps_a_short_reason_whole() -> None:
    ctx = sample_context(NOW, "overdue_apology", applicant_kind="business")
    sms = _render("overdue_apology", "sms", ctx)[1]
    assert "(lý do: cần lấy ý kiến của cơ quan quản lý quy hoạch)." in sms


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_sms_template_fits_its_own_segment_budget(kind: str, variant: str) -> None:
    # The budget (rules.kinds: sms_segments) counts UCS-2 parts with diacritics, on what the dispatcher
    # renders by default (no payment link in SMS).
    ctx = for_sms(sample_context(NOW, kind, **VARIANTS[variant]))
    _, body = _render(kind, "sms", ctx)
    info = sms_info(body)
    assert info.encoding == "UCS-2"
    assert info.segments <= REGISTRY[Kind(kind)].sms_segments, (info.segments, body)


def test_validate_refuses_an_sms_over_its_kind_budget() -> None:
    body = (
        "{{ agency.name }}: Hồ sơ {{ dossier.code }} đã được tiếp nhận vào hôm nay, "
        "xin chân thành cảm ơn Ông/Bà rất nhiều."
    )
    problems = validate(body, "body", kind="received", channel_type="sms")
    # By how many characters: what two concatenated UCS-2 parts hold (2 × 67) against the sample's text.
    units = sms_info(render(body, for_sms(sample_context(datetime(2027, 2, 3, 9, tzinfo=UTC), "received")))).units
    assert [p.message for p in problems] == [
        f"SMS takes 3 UCS-2 parts, over the budget of 2 for received: {units} characters, {units - 134} more "
        "than the 134 that fit (sample: received, citizen)"
    ]
    assert validate(body, "body", kind="payment_requested", channel_type="sms") == []


def test_new_appointment_gives_the_new_date() -> None:
    ctx = sample_context(NOW, "new_appointment")
    new = format_date(ctx["dossier"].new_due_at)
    texts = _all("new_appointment", ctx)
    for channel, text in texts.items():
        assert new in text, channel
    # The e-mail cites the Mẫu 04 it follows as official letters do: by number and date.
    issued = format_date(ctx["dossier"].apology_issued_at)
    assert f"số {ctx['dossier'].apology_number} ngày {issued} đã gửi" in texts["email"]


@pytest.mark.parametrize("kind", ["payment_requested", "payment_reminder"])
def test_payment_messages_give_amount_and_link(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    assert ctx["dossier"].fee_amount == 1_500_000
    for channel, text in _all(kind, ctx).items():
        assert "1.500.000 đồng" in text, channel
        assert ctx["dossier"].payment_link in text, channel


@pytest.mark.parametrize("kind", ["payment_requested", "payment_reminder"])
def test_payment_messages_without_link_point_to_the_portal(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    ctx["dossier"].payment_link = None
    for channel, text in _all(kind, ctx).items():
        assert "dichvucong.gov.vn" in text, channel  # the national portal, by the address citizens type
        assert "http" not in text


def test_payment_email_warns_against_personal_accounts() -> None:
    _, body = _render("payment_requested", "email", sample_context(NOW, "payment_requested"))
    assert "tài khoản cá nhân" in body


def test_supplement_request_says_what_is_missing() -> None:
    ctx = sample_context(NOW, "supplement_requested")
    note = ctx["dossier"].supplement_note
    texts = _all("supplement_requested", ctx)
    assert note in texts["email"] and note in texts["chat"]
    assert note[:40] in texts["sms"]


def test_supplement_sms_shortens_a_long_note() -> None:
    ctx = sample_context(NOW, "supplement_requested")
    ctx["dossier"].supplement_note = "; ".join(["Bản sao có chứng thực giấy tờ về quyền sử dụng đất"] * 6)
    _, sms = _render("supplement_requested", "sms", ctx)
    assert utf16_len(sms) <= SMS_MAX_UNITS
    assert sms.endswith("…")


# Free text an officer typed, with or without its own closing punctuation: the SMS ends the sentence once.
FREE_TEXT_ENDINGS = [
    ("Bản sao Căn cước công dân", "Bản sao Căn cước công dân."),
    ("Bản sao Căn cước công dân.", "Bản sao Căn cước công dân."),
    ("Bản sao Căn cước công dân; ", "Bản sao Căn cước công dân."),
    ("Có bản gốc để đối chiếu không?", "Có bản gốc để đối chiếu không?"),
]


# Where each kind's SMS puts the officer's free text, and what comes just before it.
FREE_TEXT_KINDS = [("supplement_requested", "cần bổ sung: "), ("feedback_answer", ": ")]


def _with_free_text(kind: str, text: str) -> dict[str, Any]:
    """The kind's sample with `text` as its free text: the supplement note, or the officer's answer."""
    ctx = sample_context(NOW, kind)
    if kind == "supplement_requested":
        ctx["dossier"].supplement_note = text
    else:
        ctx["feedback"].answer = text
    return ctx


@pytest.mark.parametrize(("kind", "lead"), FREE_TEXT_KINDS)
@pytest.mark.parametrize(("text", "ending"), FREE_TEXT_ENDINGS)
def test_free_text_sms_ends_the_text_with_one_full_stop(kind: str, lead: str, text: str, ending: str) -> None:
    # The note and the answer were put in as typed: "… cần bổ sung: Bản sao Căn cước công dân" had no
    # full stop.
    _, sms = _render(kind, "sms", _with_free_text(kind, text))
    assert sms.endswith(f"{lead}{ending}"), sms


# Free text typed on several lines: an SMS carries it on one line, chat and e-mail keep the lines.
MULTI_LINE = [
    ("Bản sao CCCD\nGiấy khai sinh", "Bản sao CCCD; Giấy khai sinh."),
    ("1. Bản sao CCCD;\r\n\r\n2. Giấy khai sinh.", "1. Bản sao CCCD; 2. Giấy khai sinh."),
    ("  Bản sao CCCD,\n  bản chính để đối chiếu \n", "Bản sao CCCD, bản chính để đối chiếu."),
]


@pytest.mark.parametrize(("kind", "lead"), FREE_TEXT_KINDS)
@pytest.mark.parametrize(("text", "one_line"), MULTI_LINE)
def test_free_text_sms_puts_a_text_of_several_lines_on_one(kind: str, lead: str, text: str, one_line: str) -> None:
    ctx = _with_free_text(kind, text)
    _, sms = _render(kind, "sms", ctx)
    assert sms.endswith(f"{lead}{one_line}") and "\n" not in sms and "\r" not in sms, sms
    for channel in ("chat", "email"):
        assert text.strip() in _render(kind, channel, ctx)[1], channel


@pytest.mark.parametrize("kind", ["supplement_requested", "feedback_answer", "overdue_apology"])
def test_sms_with_free_text_cut_to_fit_ends_once(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    long = "; ".join(["Bản sao có chứng thực giấy tờ về quyền sử dụng đất"] * 6) + "."
    ctx["dossier"].supplement_note = ctx["dossier"].delay_reason = long
    if ctx["feedback"] is not None:
        ctx["feedback"].answer = long
    _, sms = _render(kind, "sms", ctx)
    assert sms.endswith(("…", ".")) and not sms.endswith(("….", "..")), sms
    assert ".." not in sms and ".)." not in sms, sms


def test_returned_gives_the_return_date_and_asks_for_rating() -> None:
    ctx = sample_context(NOW, "returned")
    returned = format_date(ctx["dossier"].returned_at)
    texts = _all("returned", ctx)
    assert returned in texts["chat"] and returned in texts["email"]
    for text in texts.values():
        assert "hài lòng" in text


def test_result_ready_mentions_unpaid_fee_only_when_unpaid() -> None:
    ctx = sample_context(NOW, "result_ready")
    assert "1.500.000 đồng" not in _render("result_ready", "email", ctx)[1]
    ctx["dossier"].fee_paid = False
    assert "1.500.000 đồng" in _render("result_ready", "email", ctx)[1]


@pytest.mark.parametrize(
    ("left", "phrase"), [(3, "còn 3 ngày làm việc"), (0, "hôm nay"), (None, "sắp đến hạn")]
)
def test_due_soon_states_the_working_days_left(left: int | None, phrase: str) -> None:
    ctx = sample_context(NOW, "due_soon")
    ctx["working_days_left"] = left
    for channel, text in _all("due_soon", ctx).items():
        assert phrase in text, channel


def test_overdue_alert_and_escalation_state_the_working_days_overdue() -> None:
    for kind in ("overdue_alert", "escalation"):
        ctx = sample_context(NOW, kind)
        ctx["working_days_overdue"] = 7
        for channel, text in _all(kind, ctx).items():
            assert "quá hạn 7 ngày làm việc" in text, (kind, channel)


def test_escalation_names_the_assigned_officer_not_the_head_it_is_sent_to() -> None:
    ctx = sample_context(NOW, "escalation")
    ctx["recipient"] = SimpleNamespace(code="LD-STP-01", name="Phạm Quốc Hùng")
    ctx["officer"] = ctx["recipient"]  # what the dispatcher passes for a head: the addressee
    ctx["recipient_name"] = "Phạm Quốc Hùng"
    ctx["assigned_officer"] = SimpleNamespace(code="CB-STP-01", name="Nguyễn Thị Thu Hà")
    texts = _all("escalation", ctx)
    assert "cán bộ xử lý Nguyễn Thị Thu Hà" in texts["sms"]
    assert "Cán bộ xử lý: Nguyễn Thị Thu Hà\n" in texts["chat"]
    assert "- Cán bộ xử lý: Nguyễn Thị Thu Hà (CB-STP-01)" in texts["email"]
    for channel in ("chat", "email"):
        assert "Kính gửi đồng chí Phạm Quốc Hùng," in texts[channel]
        assert "Cán bộ xử lý: Phạm Quốc Hùng" not in texts[channel]
    assert "Phạm Quốc Hùng" not in texts["sms"]


def test_escalation_says_unassigned_when_no_officer_holds_the_dossier() -> None:
    ctx = sample_context(NOW, "escalation")
    ctx["assigned_officer"] = None
    texts = _all("escalation", ctx)
    assert "chưa phân công cán bộ xử lý" in texts["sms"]
    assert "Cán bộ xử lý: chưa phân công" in texts["chat"]
    assert "- Cán bộ xử lý: chưa phân công" in texts["email"]
    for text in texts.values():
        assert "Vũ Đức Thắng" not in text


@pytest.mark.parametrize("kind", DIGESTS)
def test_digests_list_every_item_in_chat_and_email_and_count_in_sms(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    items = ctx["items"]
    texts = _all(kind, ctx)
    for channel in ("chat", "email"):
        for item in items:
            assert item.code in texts[channel]
            assert item.applicant_name in texts[channel]
            assert format_date(item.due_at) in texts[channel]
        assert "quá hạn 4 ngày làm việc" in texts[channel]
        assert "còn 2 ngày làm việc" in texts[channel]
        assert "đến hạn hôm nay" in texts[channel]
    assert "2 hồ sơ sắp đến hạn và 1 hồ sơ quá hạn" in texts["sms"]


@pytest.mark.parametrize("kind", DIGESTS)
def test_digests_with_no_items_say_so(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    ctx["items"] = []
    for channel, text in _all(kind, ctx).items():
        assert "không có hồ sơ" in text, channel


@pytest.mark.parametrize("kind", DIGESTS)
@pytest.mark.parametrize(
    ("overdue", "sms", "chat", "email"),
    [
        # Only overdue dossiers: the digests said "có 0 hồ sơ sắp đến hạn và 1 hồ sơ quá hạn".
        (True, "có 1 hồ sơ quá hạn, trong đó", "có 1 hồ sơ quá hạn:", "có 1 hồ sơ đã quá hạn:"),
        # Only dossiers still in time: "... và 0 hồ sơ quá hạn".
        (False, "có 2 hồ sơ sắp đến hạn.", "có 2 hồ sơ sắp đến hạn:", "có 2 hồ sơ sắp đến hạn:"),
    ],
)
def test_digest_counts_say_only_the_non_zero_parts(
    kind: str, overdue: bool, sms: str, chat: str, email: str
) -> None:
    counts = {"sms": sms, "chat": chat, "email": email}
    ctx = sample_context(NOW, kind)
    ctx["items"] = [it for it in ctx["items"] if bool(it.working_days_overdue) == overdue]
    for channel, text in _all(kind, ctx).items():
        assert not re.search(r"\b0 hồ sơ", text), (channel, text)
        if channel == "chat" and kind == "officer_digest":
            assert f"có {len(ctx['items'])} hồ sơ sắp đến hạn hoặc đã quá hạn:" in text  # one count for both
        else:
            assert counts[channel] in text, (channel, text)
        # Nothing overdue: no call to deal with "the overdue dossiers" first.
        assert overdue or "xử lý các hồ sơ quá hạn" not in text, (channel, text)


@pytest.mark.parametrize("kind", DIGESTS)
def test_digest_sms_gives_the_wrongly_extended_as_part_of_the_count(kind: str) -> None:
    _, sms = _render(kind, "sms", sample_context(NOW, kind))
    # Not a third list after "và" ("2 … và 1 hồ sơ quá hạn, 1 hồ sơ gia hạn …"): the dossier is one of them.
    assert "có 2 hồ sơ sắp đến hạn và 1 hồ sơ quá hạn, trong đó 1 hồ sơ gia hạn quá một lần" in sms


@pytest.mark.parametrize("kind", DIGESTS)
def test_chat_digest_is_capped_for_long_lists(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    template = vars(ctx["items"][0])
    ctx["items"] = [SimpleNamespace(**{**template, "code": f"X-{n:03d}"}) for n in range(40)]
    _, chat = _render(kind, "chat", ctx)
    assert "X-014" in chat and "X-015" not in chat
    assert "và 25 hồ sơ khác" in chat
    assert len(chat) < 4096  # Telegram's message limit


names = st.text(
    alphabet=st.characters(categories=["L", "Zs"], max_codepoint=0x1EFF), min_size=1, max_size=60
).filter(lambda s: s.strip())


@settings(max_examples=40, deadline=None)
@given(name=names, reason=names)
def test_any_names_render_nfc_and_intact(name: str, reason: str) -> None:
    ctx = sample_context(NOW, "overdue_apology")
    ctx["recipient_name"] = unicodedata.normalize("NFD", name)
    ctx["dossier"].delay_reason = reason
    _, email = _render("overdue_apology", "email", ctx)
    assert unicodedata.is_normalized("NFC", email)
    assert unicodedata.normalize("NFC", name).strip() in email


def test_no_shipped_text_speaks_of_the_old_one_stop_desk_or_provincial_portal() -> None:
    # Since 01/7/2025: the Trung tâm Phục vụ hành chính công, and the national portal only.
    for path in [*TEMPLATES_DIR.rglob("*.j2"), *TEMPLATES_DIR.rglob("*.txt")]:
        text = path.read_text(encoding="utf-8")
        assert "Bộ phận Một cửa" not in text, path
        assert "haiphong.gov.vn" not in text and "Cổng DVC" not in text, path


@pytest.mark.parametrize("channel", ["chat", "email"])
def test_result_ready_names_the_agencys_own_desk(channel: str) -> None:
    ctx = sample_context(NOW, "result_ready")
    ctx["agency"].desk_name = "Trung tâm Phục vụ hành chính công phường Lê Chân"
    ctx["agency"].address = None
    _, body = _render("result_ready", channel, ctx)
    assert "nhận kết quả tại Trung tâm Phục vụ hành chính công phường Lê Chân" in body
    ctx["agency"].desk_name = None  # an agency whose desk is not imported yet
    _, body = _render("result_ready", channel, ctx)
    assert "nhận kết quả tại Trung tâm Phục vụ hành chính công" in body


@pytest.mark.parametrize("kind", ["received", "payment_requested"])
def test_chat_and_email_point_to_the_national_portal_and_vneid(kind: str) -> None:
    ctx = sample_context(NOW, kind)
    if kind == "payment_requested":
        ctx["dossier"].payment_link = None
    for channel in ("chat", "email"):
        _, body = _render(kind, channel, ctx)
        assert "dichvucong.gov.vn" in body, channel
    assert "VNeID" in _render(kind, "email", ctx)[1]
