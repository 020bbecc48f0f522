"""What the editor shows beside a template: the rendered text, its SMS economics, its problems.

Plain functions of a template source and a context; the web layer picks the context (a real dossier or
sample data) and the price.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from notifier.rules.rendering import RenderLimits, TemplateError, render, validate
from notifier.rules.smstext import Encoding, khong_dau, sms_info


@dataclass(frozen=True)
class SmsFigures:
    encoding: Encoding
    chars: int
    units: int
    segments: int
    per_segment: int
    remaining: int
    cost_vnd: int


@dataclass(frozen=True)
class Problem:
    field: str
    line: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "line": self.line, "message": self.message}


@dataclass
class Preview:
    text: str | None = None
    subject: str | None = None
    problems: list[Problem] = field(default_factory=list)
    sms: SmsFigures | None = None
    khong_dau_text: str | None = None
    khong_dau: SmsFigures | None = None

    def as_dict(self) -> dict[str, Any]:
        def figures(f: SmsFigures | None) -> dict[str, Any] | None:
            return None if f is None else f.__dict__.copy()

        return {
            "ok": not self.problems,
            "text": self.text,
            "subject": self.subject,
            "problems": [p.as_dict() for p in self.problems],
            "sms": figures(self.sms),
            "khong_dau_text": self.khong_dau_text,
            "khong_dau": figures(self.khong_dau),
        }


def sms_figures(text: str, price_per_segment: int) -> SmsFigures:
    info = sms_info(text)
    return SmsFigures(
        encoding=info.encoding,
        chars=len(unicodedata.normalize("NFC", text)),
        units=info.units,
        segments=info.segments,
        per_segment=info.per_segment,
        remaining=info.remaining,
        cost_vnd=info.segments * price_per_segment,
    )


FIELD_LABELS = {"body": "Nội dung", "subject": "Tiêu đề"}

# The renderer's messages are English (they also reach logs); the editor shows them in Vietnamese, keeping
# the placeholder names exactly as typed so the officer can find them.
_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"unknown placeholder '([^']+)' \(an entry of 'items'\)"),
        r"trường không có '\1' (một mục của danh sách 'items')",
    ),
    (re.compile(r"unknown placeholder '([^']+)'"), r"trường không có '\1'"),
    (
        re.compile(r"unsafe placeholder '([^']+)': the sandbox refuses names starting with '_'"),
        r"trường không an toàn '\1': không được dùng tên bắt đầu bằng '_'",
    ),
    (re.compile(r"; did you mean '([^']+)'\?"), r"; có phải ý bạn là '\1'?"),
    (
        re.compile(r"filter '(\w+)' received None; guard the placeholder with \{% if … %\}"),
        r"bộ lọc '\1' nhận giá trị rỗng; hãy đặt trường trong {% if … %}",
    ),
    (
        re.compile(r"SMS is (\d+) UTF-16 units, more than (\d+) \(3 UCS-2 parts\)"),
        r"SMS dài \1 ký tự UCS-2, vượt quá \2 (3 tin ghép)",
    ),
    (re.compile(r"\(sample: ([^)]+)\)"), r"(dữ liệu mẫu: \1)"),
    (re.compile(r"^unexpected "), "lỗi cú pháp: unexpected "),
    (re.compile(r"^Encountered unknown tag"), "lỗi cú pháp: Encountered unknown tag"),
    (re.compile(r"^No filter named '([^']+)'\.?"), r"không có bộ lọc '\1'"),
    (re.compile(r"is unsafe"), "bị hộp cát (sandbox) từ chối vì không an toàn"),
    # The sandbox's limits (notifier.rules.sandbox): say what was too big, then what to do.
    (
        re.compile(r"^rendering took longer than ([\d.]+) s and was stopped"),
        r"mẫu chạy quá \1 giây nên đã bị dừng (có vòng lặp hoặc phép tính quá lớn)",
    ),
    (
        re.compile(r"^(.+) would be ([\d,]+) characters long, more than the limit of ([\d,]+)"),
        r"kết quả (\1) sẽ dài \2 ký tự, vượt giới hạn \3 ký tự",
    ),
    (
        re.compile(r"^(.+) would be a number of about ([\d,]+) bits, larger than the limit of (\d+) bits"),
        r"phép tính \1 cho ra số quá lớn (khoảng \2 bit, giới hạn \3 bit)",
    ),
    (re.compile(r"^the product would be a number of about ([\d,]+) bits.*"), r"phép nhân cho ra số quá lớn"),
    (
        re.compile(r"^a number of ([\d,]+) bits is larger than the limit of (\d+) bits"),
        r"số quá lớn (\1 bit, giới hạn \2 bit)",
    ),
    (
        re.compile(r"^the argument ([\d,-]+) is larger than the limit of ([\d,]+)"),
        r"tham số \1 vượt giới hạn \2",
    ),
    (re.compile(r"^loops ran more than ([\d,]+) times in all"), r"vòng lặp chạy quá \1 lần"),
    (
        re.compile(r"^the text would be longer than the limit of ([\d,]+) characters"),
        r"nội dung dài quá giới hạn \1 ký tự",
    ),
    (
        re.compile(r"^the text is ([\d,]+) characters long, more than the limit of ([\d,]+)"),
        r"nội dung dài \1 ký tự, vượt giới hạn \2 ký tự",
    ),
    (re.compile(r"^the template made more than ([\d,]+) characters in all"), r"mẫu tạo ra quá \1 ký tự"),
    (
        re.compile(r"^the string method '(\w+)' is not allowed in templates"),
        r"không được dùng hàm chuỗi '\1' trong mẫu",
    ),
    (
        re.compile(r"^recursive loops are not allowed in templates"),
        "không được dùng vòng lặp đệ quy trong mẫu",
    ),
    (
        re.compile(r"^'\*' widths in % formatting are not allowed"),
        "không được dùng độ rộng '*' khi định dạng",
    ),
    (
        re.compile(r"^nested fields in a format specification are not allowed"),
        "không được lồng trường trong định dạng",
    ),
]


def vietnamese(message: str) -> str:
    for pattern, replacement in _TRANSLATIONS:
        message = pattern.sub(replacement, message)
    return message


def problem(exc: TemplateError) -> Problem:
    return Problem(exc.field, exc.line, vietnamese(exc.message))


def check(
    body: str, subject: str | None, kind: str, channel_type: str, limits: RenderLimits | None = None
) -> list[Problem]:
    """Every reason not to save: syntax (with line), unknown or unsafe placeholders, failed trial renders."""
    errors = validate(body, field="body", kind=kind, channel_type=channel_type, limits=limits)
    problems = [problem(e) for e in errors]
    if channel_type == "email":
        if not (subject or "").strip():
            problems.append(Problem("subject", None, "thư điện tử cần có tiêu đề"))
        else:
            errors = validate(
                subject or "", field="subject", kind=kind, channel_type=channel_type, limits=limits
            )
            problems += [problem(e) for e in errors]
    return problems


def build_preview(
    body: str,
    subject: str | None,
    kind: str,
    channel_type: str,
    context: dict[str, Any],
    price_per_segment: int,
    limits: RenderLimits | None = None,
) -> Preview:
    result = Preview(problems=check(body, subject, kind, channel_type, limits))
    try:
        result.text = render(body, context, field="body", limits=limits)
        if channel_type == "email" and subject:
            result.subject = render(subject, context, field="subject", limits=limits)
    except TemplateError as exc:
        # The chosen dossier can fail where the samples passed (a field the real row lacks); when the
        # checks already failed, the render error only repeats them.
        if not result.problems:
            p = problem(exc)
            result.problems.append(Problem(p.field, p.line, p.message + " (dữ liệu đang xem thử)"))
        return result
    if channel_type == "sms":
        result.sms = sms_figures(result.text, price_per_segment)
        result.khong_dau_text = khong_dau(result.text)
        result.khong_dau = sms_figures(result.khong_dau_text, price_per_segment)
    return result
