"""What the editor shows beside a template: the rendered text, its SMS economics, its problems.

Plain functions of a template source and a context; the web layer picks the context (a real dossier or
sample data) and the price.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from notifier.rules.rendering import RenderLimits, Syntax, TemplateError, render, validate
from notifier.rules.smstext import Encoding, khong_dau, sms_info

log = logging.getLogger(__name__)


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

_Replacement = str | Callable[[re.Match[str]], str]


def _n(text: str) -> int:
    return int(text.replace(",", ""))


def _vn_number(text: str) -> str:
    """ "200,000" (the renderer's English grouping) as Vietnamese writes it: "200.000"."""
    return f"{_n(text):,}".replace(",", ".")


def _too_long(m: re.Match[str]) -> str:
    units, most = _n(m["units"]), _n(m["most"])
    return (
        f"tin nhắn dài {units} ký tự, vượt mức tối đa {most} ký tự (3 phần ghép): "
        f"cần bớt {units - most} ký tự"
    )


def _over_budget(m: re.Match[str]) -> str:
    parts, budget = int(m["parts"]), int(m["budget"])
    return (
        f"tin nhắn có dấu dài {m['units']} ký tự, thành {parts} phần, vượt định mức {budget} phần của loại "
        f"tin này: cần bớt {m['over']} ký tự (bớt {parts - budget} phần)"
    )


_WHAT = {
    "a value": "một giá trị",
    "an argument": "một tham số",
    "the formatted text": "đoạn văn bản định dạng",
    "the repeated value": "giá trị lặp lại",
    "the joined value": "giá trị ghép",
    "the replaced text": "đoạn văn bản thay thế",
    "the joined text": "đoạn văn bản ghép",
    "the indented text": "đoạn văn bản thụt lề",
    "a part of the text": "một phần nội dung",
}
# Jinja names the tokens it expected or met in English.
_TOKENS = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "end of template": "cuối mẫu",
    "begin of print statement": "{{",
    "begin of statement block": "{%",
    "name": "tên",
    "integer": "số",
    "string": "chuỗi",
}


def _token(text: str) -> str:
    return _TOKENS.get(text, text)


_SAMPLES = {
    "citizen": "công dân",
    "business": "doanh nghiệp",
    "optional fields empty": "thiếu các trường không bắt buộc",
}

# The renderer's messages are English (they also reach logs); the editor shows every one in Vietnamese,
# keeping the placeholder names exactly as typed so the officer can find them. Each pattern matches a
# whole message; one that none matches is not shown as it is (see `vietnamese`).
_TRANSLATIONS: list[tuple[re.Pattern[str], _Replacement]] = [
    (
        re.compile(r"unknown placeholder '([^']+)' \(an entry of 'items'\)"),
        r"trường không có '\1' (một mục của danh sách 'items')",
    ),
    (re.compile(r"unknown placeholder '([^']+)'"), r"trường không có '\1'"),
    (
        re.compile(r"unsafe placeholder '([^']+)': the sandbox refuses names starting with '_'"),
        r"trường không an toàn '\1': không được dùng tên bắt đầu bằng '_'",
    ),
    (
        re.compile(r"access to attribute '([^']+)' of '([^']+)' object is unsafe\."),
        r"không được đọc thuộc tính '\1': hộp cát (sandbox) từ chối vì không an toàn",
    ),
    (re.compile(r".* is unsafe\.?"), "bị hộp cát (sandbox) từ chối vì không an toàn"),
    (
        re.compile(r"filter '(\w+)' received None; guard the placeholder with \{% if … %\}"),
        r"bộ lọc '\1' nhận giá trị rỗng; hãy đặt trường trong {% if … %}",
    ),
    (
        re.compile(r"filter '(\w+)' received a naive datetime; expected a timezone-aware one"),
        r"bộ lọc '\1' nhận thời điểm không có múi giờ",
    ),
    (
        re.compile(
            r"filter '(\w+)' expects "
            r"(?:a date or datetime|a datetime|an integer amount of VND|text), got (\w+)"
        ),
        r"bộ lọc '\1' nhận sai kiểu giá trị (\2)",
    ),
    (
        re.compile(r"filter 'whole_phrases': limit must be a positive integer, got (.+)"),
        r"bộ lọc 'whole_phrases' cần một số nguyên dương, không phải \1",
    ),
    (
        re.compile(r"a placeholder printed None; guard it with \{% if … %\}"),
        "một trường đang trống nên không in được; hãy đặt nó trong {% if … %}",
    ),
    (
        re.compile(r"'([^']+)' is None, so it has no attribute '([^']+)'; guard it with \{% if ([^%]+) %\}"),
        r"'\1' đang trống nên không có '\2'; hãy đặt trong {% if \3 %}",
    ),
    (re.compile(r"'([^']+)' has no attribute '([^']+)'"), r"'\1' không có thuộc tính '\2'"),
    (re.compile(r"'([^']+)' is undefined"), r"không có trường '\1'"),
    (
        re.compile(r"SMS is (?P<units>\d+) UTF-16 units, more than (?P<most>\d+) \(3 UCS-2 parts\)"),
        _too_long,
    ),
    (
        re.compile(
            r"SMS takes (?P<parts>\d+) (?:UCS-2|GSM-7) parts, over the budget of (?P<budget>\d+) for \w+: "
            r"(?P<units>\d+) characters, (?P<over>\d+) more than the (?P<most>\d+) that fit"
        ),
        _over_budget,
    ),
    # Jinja's syntax errors.
    (
        re.compile(
            r"Unexpected end of template\. Jinja was looking for the following tags: (.+)\. "
            r"The innermost block that needs to be closed is '(\w+)'\."
        ),
        r"lỗi cú pháp: khối '{% \2 %}' chưa được đóng (thiếu {% end\2 %})",
    ),
    (
        re.compile(
            r"Encountered unknown tag '(\w+)'\. Jinja was looking for the following tags: (.+)\. "
            r"The innermost block that needs to be closed is '(\w+)'\."
        ),
        r"lỗi cú pháp: thẻ '{% \1 %}' không đúng chỗ trong khối '{% \3 %}'",
    ),
    (
        re.compile(r"Encountered unknown tag '(\w+)'\.(?: .*)?"),
        r"lỗi cú pháp: thẻ '{% \1 %}' không có hoặc không đúng chỗ",
    ),
    (re.compile(r"Unexpected end of template\..*"), "lỗi cú pháp: mẫu kết thúc khi một khối chưa được đóng"),
    (
        re.compile(r"unexpected end of template, expected '(.+)'\.?"),
        "lỗi cú pháp: mẫu kết thúc khi thẻ chưa được đóng (thiếu '}}' hoặc '%}')",
    ),
    (re.compile(r"unexpected char (.+) at \d+"), r"lỗi cú pháp: ký tự \1 không đúng chỗ"),
    (re.compile(r"unexpected '(.+)'"), lambda m: f"lỗi cú pháp: '{_token(m[1])}' không đúng chỗ"),
    (re.compile(r"unexpected end of template.*"), "lỗi cú pháp: mẫu kết thúc giữa chừng"),
    (
        re.compile(r"expected token '(.+)', got '(.+)'"),
        lambda m: f"lỗi cú pháp: cần '{_token(m[1])}' nhưng gặp '{_token(m[2])}'",
    ),
    (re.compile(r"tag name expected"), "lỗi cú pháp: thiếu tên thẻ sau '{%'"),
    (re.compile(r"No filter named '([^']+)'\.?(?: .*)?"), r"không có bộ lọc '\1'"),
    (re.compile(r"No test named '([^']+)'(?: found)?\.?(?: .*)?"), r"không có phép kiểm tra '\1'"),
    (re.compile(r"unknown template syntax .*"), "kiểu mẫu không hợp lệ"),
    # The sandbox's limits (notifier.rules.sandbox): say what was too big, then what to do.
    (
        re.compile(r"rendering took longer than ([\d.]+) s and was stopped"),
        r"mẫu chạy quá \1 giây nên đã bị dừng (có vòng lặp hoặc phép tính quá lớn)",
    ),
    (
        re.compile(
            r"(?P<what>.+) would be (?P<n>[\d,]+) characters long, more than the limit of (?P<max>[\d,]+)"
        ),
        lambda m: (
            f"kết quả ({_WHAT.get(m['what'], m['what'])}) sẽ dài {_vn_number(m['n'])} ký tự, "
            f"vượt giới hạn {_vn_number(m['max'])} ký tự"
        ),
    ),
    (
        re.compile(r"(.+) would be a number of about ([\d,]+) bits, larger than the limit of (\d+) bits"),
        lambda m: f"phép tính {m[1]} cho ra số quá lớn (khoảng {_vn_number(m[2])} bit, giới hạn {m[3]} bit)",
    ),
    (re.compile(r"the product would be a number of about ([\d,]+) bits.*"), "phép nhân cho ra số quá lớn"),
    (
        re.compile(r"a number of ([\d,]+) bits is larger than the limit of (\d+) bits"),
        r"số quá lớn (\1 bit, giới hạn \2 bit)",
    ),
    (
        re.compile(r"the argument ([\d,-]+) is larger than the limit of ([\d,]+)"),
        r"tham số \1 vượt giới hạn \2",
    ),
    (
        re.compile(r"loops ran more than ([\d,]+) times in all"),
        lambda m: f"vòng lặp chạy quá {_vn_number(m[1])} lần",
    ),
    (
        re.compile(r"the text would be longer than the limit of ([\d,]+) characters"),
        lambda m: f"nội dung dài quá giới hạn {_vn_number(m[1])} ký tự",
    ),
    (
        re.compile(r"the text is ([\d,]+) characters long, more than the limit of ([\d,]+)"),
        lambda m: f"nội dung dài {_vn_number(m[1])} ký tự, vượt giới hạn {_vn_number(m[2])} ký tự",
    ),
    (
        re.compile(r"the template made more than ([\d,]+) characters in all"),
        lambda m: f"mẫu tạo ra quá {_vn_number(m[1])} ký tự",
    ),
    (
        re.compile(r"the string method '(\w+)' is not allowed in templates"),
        r"không được dùng hàm chuỗi '\1' trong mẫu",
    ),
    (
        re.compile(r"recursive loops are not allowed in templates"),
        "không được dùng vòng lặp đệ quy trong mẫu",
    ),
    (re.compile(r"'\*' widths in % formatting are not allowed"), "không được dùng độ rộng '*' khi định dạng"),
    (
        re.compile(r"nested fields in a format specification are not allowed"),
        "không được lồng trường trong định dạng",
    ),
    (re.compile(r"format string: .*"), "chuỗi định dạng không hợp lệ"),
    # Python's own errors from a template's arithmetic and calls.
    (re.compile(r"OverflowError: Range too big.*"), "dãy số (range) quá dài, hộp cát (sandbox) từ chối"),
    (re.compile(r"ZeroDivisionError: .*"), "phép chia cho 0"),
    (re.compile(r"TypeError: '(\w+)' object is not callable"), r"giá trị kiểu \1 không gọi được như hàm"),
    (re.compile(r"TypeError: .*"), "phép tính dùng sai kiểu giá trị (ví dụ cộng chữ với số)"),
    (
        re.compile(r"(?:ValueError|OverflowError|IndexError|KeyError|AttributeError): .*"),
        "phép tính không thực hiện được với giá trị này",
    ),
]

_SAMPLE = re.compile(r" \(sample: (?:[\w]+, )?(?P<label>[^)]+)\)$")
_HINT = re.compile(r"; did you mean '(?P<name>[^']+)'\?$")
# Vietnamese letters a translated (or already Vietnamese) message has and an English one does not.
_VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)


def vietnamese(message: str) -> str:
    """`message` in Vietnamese: translated when it is one of the renderer's, kept when it already is
    Vietnamese (the clerks' language speaks it), and otherwise replaced by a general Vietnamese sentence:
    an English message never reaches the page."""
    suffix = ""
    sample = _SAMPLE.search(message)
    if sample is not None:
        label = sample["label"]
        suffix = f" (dữ liệu mẫu: {_SAMPLES.get(label, label)})"
        message = message[: sample.start()]
    hint = _HINT.search(message)
    if hint is not None:
        suffix = f"; có phải ý bạn là '{hint['name']}'?" + suffix
        message = message[: hint.start()]
    for pattern, replacement in _TRANSLATIONS:
        m = pattern.fullmatch(message)
        if m is not None:
            message = replacement(m) if callable(replacement) else m.expand(replacement)
            return message + suffix
    if _VIETNAMESE.search(message):
        return message + suffix
    log.info("template message without a translation: %s", message)
    return "mẫu có lỗi hệ thống chưa diễn giải được; hãy xem lại đoạn vừa sửa" + suffix


def problem(exc: TemplateError) -> Problem:
    return Problem(exc.field, exc.line, vietnamese(exc.message))


def check(
    body: str,
    subject: str | None,
    kind: str,
    channel_type: str,
    limits: RenderLimits | None = None,
    syntax: str = Syntax.JINJA,
) -> list[Problem]:
    """Every reason not to save: syntax (with line), unknown or unsafe placeholders, failed trial renders."""
    errors = validate(body, field="body", kind=kind, channel_type=channel_type, limits=limits, syntax=syntax)
    problems = [problem(e) for e in errors]
    if channel_type == "email":
        if not (subject or "").strip():
            problems.append(Problem("subject", None, "thư điện tử cần có tiêu đề"))
        else:
            errors = validate(
                subject or "",
                field="subject",
                kind=kind,
                channel_type=channel_type,
                limits=limits,
                syntax=syntax,
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
    syntax: str = Syntax.JINJA,
) -> Preview:
    result = Preview(problems=check(body, subject, kind, channel_type, limits, syntax))
    try:
        result.text = render(body, context, field="body", limits=limits, syntax=syntax)
        if channel_type == "email" and subject:
            result.subject = render(subject, context, field="subject", limits=limits, syntax=syntax)
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
