"""The template language for clerks: `((ma_ho_so))` fields and `((ly_do_tre??Lý do: ((ly_do_tre)).))` text.

A clerk writes the message as it will read, with fields in double brackets. Fields have Vietnamese names
without diacritics, and each does its own formatting (dates dd/MM/yyyy, money "1.500.000 đồng"): there are
no filters to learn. The syntax:

- `((ten_truong))` prints a field; a field that is empty for the message is an error, so an optional one
  goes inside conditional text;
- `((ten_truong??văn bản))` shows `văn bản` only when the field is not empty (no value, empty text and the
  number 0 count as empty); the text may hold fields and conditional text of its own;
- `((!ten_truong??văn bản))` shows `văn bản` only when the field *is* empty (the "otherwise" branch);
- `((# ghi chú ))` is a note for the next clerk, never sent;
- a backslash makes the next bracket plain text: `\\((` writes `((`, `\\)` a `)` that closes nothing. A run
  of closing brackets closes in pairs from its end, so `((x??(có ghi chú)))` needs no backslash.

A source compiles to Jinja for the one sandboxed renderer (notifier.rules.rendering), keeping every line
break where it was, so a renderer error names the clerk's own line. This module is pure and imports no
other template module: rendering imports it.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from notifier.rules.kinds import REGISTRY, Audience, Kind, kind_info
from notifier.rules.phrases import DEFAULT_LANGUAGE, t

__all__ = [
    "ALL_FIELDS",
    "REQUIRED_FILTER",
    "ClerkSyntaxError",
    "Field",
    "Syntax",
    "fields_for",
    "parse_problems",
    "to_jinja",
]


class Syntax(StrEnum):
    """How a stored template is written: the clerks' language, or Jinja ("nâng cao", admins only)."""

    SIMPLE = "simple"
    JINJA = "jinja"


# The Jinja filter (registered by notifier.rules.rendering) that stops a render when an unconditional
# field is empty, naming the field as the clerk wrote it.
REQUIRED_FILTER = "clerk_required"


@dataclass(frozen=True)
class Field:
    name: str
    description: str  # Vietnamese, shown in the editor's field list and the README
    expression: str  # a Jinja expression, None-safe: None when the message has no such value
    formatter: str | None = None  # one of the renderer's filters: date, datetime, money


def _f(name: str, description: str, expression: str, formatter: str | None = None) -> Field:
    return Field(name, description, expression, formatter)


def _of(obj: str, attr: str) -> str:
    return f"({obj}.{attr} if {obj} else none)"


def _literal(text: str) -> str:
    """`text` as a Jinja string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def salutation_expression(language: str = DEFAULT_LANGUAGE) -> str:
    """((xung_ho)): how a message addresses the applicant, in the `messages` catalog's words."""
    business, person = _literal(t(language, "Quý tổ chức")), _literal(t(language, "Ông/Bà"))
    return f'(({business} if dossier.applicant_kind == "business" else {person}) if dossier else none)'


def business_flag_expression(language: str = DEFAULT_LANGUAGE) -> str:
    """((la_to_chuc)): a word for business applicants, empty for citizens (a condition more than a text)."""
    word = _literal(t(language, "có"))
    return f'(({word} if dossier.applicant_kind == "business" else "") if dossier else none)'


# Notifications are Vietnamese: the words are looked up once, when the field table is built.
_XUNG_HO = salutation_expression()

# Every message is about an agency and, almost always, a dossier.
_COMMON: tuple[Field, ...] = (
    _f("ma_ho_so", "Mã hồ sơ", _of("dossier", "code")),
    _f("ten_thu_tuc", "Tên thủ tục hành chính", _of("dossier", "procedure_name")),
    _f("ma_thu_tuc", "Mã thủ tục hành chính", _of("dossier", "procedure_code")),
    _f("trang_thai", "Trạng thái hồ sơ", _of("dossier", "status_name")),
    _f("nguoi_nop", "Tên người nộp hồ sơ (không đưa vào SMS)", _of("dossier", "applicant_name")),
    _f("ngay_tiep_nhan", "Ngày tiếp nhận hồ sơ (dd/MM/yyyy)", _of("dossier", "received_at"), "date"),
    _f(
        "thoi_diem_tiep_nhan",
        "Giờ và ngày tiếp nhận (09:15 20/01/2027)",
        _of("dossier", "received_at"),
        "datetime",
    ),
    _f("ngay_hen_tra", "Ngày hẹn trả kết quả (dd/MM/yyyy)", _of("dossier", "due_at"), "date"),
    _f("gio_hen_tra", "Giờ và ngày hẹn trả kết quả (09:00 03/02/2027)", _of("dossier", "due_at"), "datetime"),
    _f("co_quan", "Tên cơ quan giải quyết", _of("agency", "name")),
    _f(
        "co_quan_ngan",
        "Tên ngắn của cơ quan (dùng trong SMS; tên đầy đủ khi không có tên ngắn)",
        "((agency.short_name or agency.name) if agency else none)",
    ),
    _f("dien_thoai_co_quan", "Số điện thoại của cơ quan", _of("agency", "phone")),
    _f("dia_chi_co_quan", "Địa chỉ của cơ quan", _of("agency", "address")),
    _f(
        "can_bo_xu_ly",
        "Cán bộ được phân công xử lý hồ sơ (trống khi chưa phân công)",
        _of("assigned_officer", "name"),
    ),
    _f("nguoi_nhan", "Tên người nhận tin", "recipient_name"),
    _f("hom_nay", "Ngày gửi tin (dd/MM/yyyy)", "now", "date"),
)

_CITIZEN: tuple[Field, ...] = (
    _f("xung_ho", "Cách xưng hô: “Ông/Bà”, hoặc “Quý tổ chức” với doanh nghiệp", _XUNG_HO),
    _f(
        "la_to_chuc",
        "“có” khi người nộp là tổ chức, doanh nghiệp; trống với công dân (dùng trong đoạn điều kiện)",
        business_flag_expression(),
    ),
    _f(
        "noi_tra_ket_qua",
        "Nơi nhận kết quả trực tiếp của cơ quan (trống khi chưa khai báo)",
        _of("agency", "desk_name"),
    ),
    _f("ngay_tra_ket_qua", "Ngày đã trả kết quả (dd/MM/yyyy)", _of("dossier", "returned_at"), "date"),
    _f(
        "thoi_diem_tra_ket_qua",
        "Giờ và ngày đã trả kết quả (08:40 03/02/2027)",
        _of("dossier", "returned_at"),
        "datetime",
    ),
)

_STAFF: tuple[Field, ...] = (
    _f("so_ngay_con_lai", "Số ngày làm việc còn lại đến hạn (0 là đến hạn hôm nay)", "working_days_left"),
    _f("so_ngay_qua_han", "Số ngày làm việc đã quá hạn", "working_days_overdue"),
    _f("so_lan_gia_han", "Số lần đã gia hạn (Mẫu 04)", _of("dossier", "extensions")),
)

_MONEY: tuple[Field, ...] = (
    _f("so_tien", "Số tiền phải nộp (1.500.000 đồng)", _of("dossier", "fee_amount"), "money"),
    _f(
        "link_thanh_toan",
        "Đường dẫn thanh toán (SMS chỉ có khi cấu hình cho phép)",
        _of("dossier", "payment_link"),
    ),
)

# What ends an officer's free text before the sentence a template or a document closes with its own full stop
# ("Lý do: ….": no "?." or ";.").
CLOSING_MARKS = " ,;:.!?…"

_LATE: tuple[Field, ...] = (
    _f(
        "ly_do_tre",
        "Lý do trễ hẹn (không có dấu câu cuối)",
        # The text writes the full stop ("Lý do: ((ly_do_tre)).") so the officer's own closing mark goes.
        f'((dossier.delay_reason|trim|trim("{CLOSING_MARKS}")) if dossier and dossier.delay_reason'
        " else none)",
    ),
    _f(
        "ngay_hen_cu",
        "Ngày hẹn trả đã lỡ (dd/MM/yyyy)",
        "((dossier.original_due_at or dossier.due_at) if dossier else none)",
        "date",
    ),
    _f("ngay_hen_moi", "Ngày hẹn trả mới (dd/MM/yyyy)", _of("dossier", "new_due_at"), "date"),
    _f("so_van_ban_xin_loi", "Số văn bản xin lỗi (Mẫu 04)", _of("dossier", "apology_number")),
    _f(
        "ngay_van_ban_xin_loi",
        "Ngày lập văn bản xin lỗi (dd/MM/yyyy), như trên văn bản in",
        _of("dossier", "apology_issued_at"),
        "date",
    ),
)

_SUPPLEMENT: tuple[Field, ...] = (
    _f("noi_dung_bo_sung", "Nội dung cần bổ sung, hoàn thiện", _of("dossier", "supplement_note")),
)

_FEEDBACK: tuple[Field, ...] = (
    _f("ma_phan_anh", "Mã phản ánh, kiến nghị", _of("feedback", "id")),
    _f("noi_dung_phan_anh", "Nội dung phản ánh, kiến nghị", "((feedback.text|trim) if feedback else none)"),
    _f("han_tra_loi", "Hạn trả lời phản ánh (dd/MM/yyyy)", _of("feedback", "deadline_at"), "date"),
    _f(
        "thoi_diem_gui_phan_anh",
        "Giờ và ngày người dân gửi phản ánh",
        _of("feedback", "created_at"),
        "datetime",
    ),
    _f("noi_dung_tra_loi", "Nội dung trả lời của cơ quan", _of("feedback", "answer")),
)

_STEP: tuple[Field, ...] = (
    _f("don_vi_buoc", "Đơn vị đang xử lý bước quá hạn", _of("step", "unit")),
    _f("han_buoc", "Hạn của bước xử lý (dd/MM/yyyy)", _of("step", "deadline"), "date"),
    _f("nguoi_xu_ly_buoc", "Người xử lý bước", _of("step", "handler_name")),
    _f("noi_dung_buoc", "Nội dung bước xử lý", _of("step", "content")),
)

_DIGEST: tuple[Field, ...] = (
    _f("so_ho_so", "Số hồ sơ trong bản tổng hợp", "(items|length)"),
    _f("so_ho_so_sap_han", "Số hồ sơ sắp đến hạn", '(items|rejectattr("working_days_overdue")|list|length)'),
    _f("so_ho_so_qua_han", "Số hồ sơ quá hạn", '(items|selectattr("working_days_overdue")|list|length)'),
    _f(
        "so_ho_so_gia_han_sai",
        "Số hồ sơ gia hạn quá một lần (không đúng quy định)",
        '(items|selectattr("extensions", "gt", 1)|list|length)',
    ),
)


@functools.cache
def fields_for(kind: str) -> dict[str, Field]:
    """The fields a template of `kind` may use, by name, in the order the editor lists them."""
    info = kind_info(kind)
    groups: list[tuple[Field, ...]] = [_COMMON]
    groups.append(_CITIZEN if info.audience is Audience.CITIZEN else _STAFF)
    if info.kind in (Kind.PAYMENT_REQUESTED, Kind.PAYMENT_REMINDER):
        groups.append(_MONEY)
    if info.overdue or info.about_missed_appointment:
        groups.append(_LATE)
    if info.kind is Kind.SUPPLEMENT_REQUESTED:
        groups.append(_SUPPLEMENT)
    if info.feedback:
        groups.append(_FEEDBACK)
    if info.kind is Kind.STEP_OVERDUE:
        groups.append(_STEP)
    if info.digest:
        groups.append(_DIGEST)
    return {f.name: f for group in groups for f in group}


def _all_fields() -> dict[str, Field]:
    out: dict[str, Field] = {}
    for kind in REGISTRY:
        out.update(fields_for(kind))
    return out


ALL_FIELDS: dict[str, Field] = _all_fields()


# --------------------------------------------------------------------------------------------- parsing


class ClerkSyntaxError(ValueError):
    """A mistake in a clerk's template, in Vietnamese, with the line it starts on."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Comment:
    text: str


@dataclass(frozen=True)
class _Use:
    name: str
    line: int
    negated: bool = False
    body: tuple[_Node, ...] | None = None  # conditional text; None for a plain field


_Node = _Text | _Comment | _Use

_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0
        self.errors: list[ClerkSyntaxError] = []

    def line_at(self, index: int) -> int:
        return self.s.count("\n", 0, index) + 1

    def nodes(self, inside: int | None) -> tuple[list[_Node], bool]:
        """Nodes up to the end (inside=None) or the `))` closing conditional text opened at `inside`.

        Returns the nodes and whether the closing brackets were found.
        """
        s = self.s
        out: list[_Node] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                out.append(_Text("".join(buf)))
                buf.clear()

        while self.i < len(s):
            ch = s[self.i]
            if ch == "\\" and self.i + 1 < len(s) and s[self.i + 1] in "()":
                buf.append(s[self.i + 1])
                self.i += 2
                continue
            if s.startswith("((", self.i):
                flush()
                node = self.placeholder()
                if node is not None:
                    out.append(node)
                continue
            if inside is not None and s.startswith("))", self.i):
                # Brackets close in pairs, so a run of an odd length starts with the text's own ")":
                # "(có ghi chú)))" keeps it, "))))" closes two conditionals (the rest is left to the outer).
                run = len(s[self.i :]) - len(s[self.i :].lstrip(")"))
                buf.append(")" * (run % 2))
                self.i += run % 2 + 2
                flush()
                return out, True
            buf.append(ch)
            self.i += 1
        flush()
        return out, inside is None

    def placeholder(self) -> _Node | None:
        s = self.s
        start = self.i
        line = self.line_at(start)
        self.i += 2
        if s.startswith("#", self.i):
            end = s.find("))", self.i)
            if end < 0:
                self.errors.append(ClerkSyntaxError("ghi chú mở bằng “((#” nhưng thiếu “))” để đóng", line))
                self.i = len(s)
                return None
            text = s[self.i + 1 : end]
            self.i = end + 2
            return _Comment(text)
        close = s.find("))", self.i)
        ask = s.find("??", self.i)
        conditional = ask >= 0 and (close < 0 or ask < close)
        end = ask if conditional else close
        if end < 0:
            self.errors.append(ClerkSyntaxError("“((” chưa được đóng: thiếu “))” ở cuối trường", line))
            self.i = len(s)
            return None
        raw = s[self.i : end]
        if "\n" in raw or "((" in raw:
            # "((ma_ho_so" left open and the next field's "))" found further on: report the open one.
            self.errors.append(ClerkSyntaxError("“((” chưa được đóng: thiếu “))” ở cuối trường", line))
            self.i = start + 2
            return None
        name = raw.strip()
        negated = name.startswith("!")
        if negated:
            name = name[1:].strip()
        self.i = end + 2
        if not name:
            self.errors.append(ClerkSyntaxError("“(())” chưa có tên trường, ví dụ ((ma_ho_so))", line))
            if conditional:
                self.nodes(start)
            return None
        if not _NAME.fullmatch(name):
            self.errors.append(
                ClerkSyntaxError(
                    f"tên trường “{name}” không hợp lệ: chỉ dùng chữ thường không dấu, chữ số và dấu gạch "
                    "dưới, ví dụ ((ma_ho_so))",
                    line,
                )
            )
            if conditional:
                self.nodes(start)
            return None
        if negated and not conditional:
            self.errors.append(
                ClerkSyntaxError(f"“((!{name}))” thiếu phần văn bản: viết ((!{name}??văn bản))", line)
            )
            return None
        if not conditional:
            return _Use(name, line)
        body, closed = self.nodes(start)
        if not closed:
            self.errors.append(
                ClerkSyntaxError(f"văn bản điều kiện của (({name}??…)) chưa được đóng: thiếu “))”", line)
            )
        return _Use(name, line, negated, tuple(body))


def _parse(source: str) -> tuple[list[_Node], list[ClerkSyntaxError]]:
    parser = _Parser(source)
    nodes, _ = parser.nodes(None)
    return nodes, parser.errors


def _uses(nodes: Iterable[_Node]) -> Iterable[_Use]:
    for node in nodes:
        if isinstance(node, _Use):
            yield node
            if node.body:
                yield from _uses(node.body)


def _unknown(name: str, kind: str | None) -> str:
    known = fields_for(kind) if kind is not None else ALL_FIELDS
    message = f"không có trường (({name}))"
    if kind is not None and name in ALL_FIELDS:
        message = f"trường (({name})) không dùng được cho loại tin này"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        message += f"; có phải ý bạn là (({close[0]}))?"
    return message


def parse_problems(source: str, kind: str | None = None) -> list[ClerkSyntaxError]:
    """Every mistake in `source` a clerk must fix, by line: brackets left open, empty or unknown names."""
    nodes, errors = _parse(source)
    known = fields_for(kind) if kind is not None else ALL_FIELDS
    for use in _uses(nodes):
        if use.name not in known:
            errors.append(ClerkSyntaxError(_unknown(use.name, kind), use.line))
    return sorted(errors, key=lambda e: e.line)


# ------------------------------------------------------------------------------------------- compiling


def _text(text: str) -> str:
    # Literal text must stay literal for Jinja: every "{" is printed by an expression, so "{{", "{%" and
    # "{#" typed by a clerk are never read as tags.
    return text.replace("{", '{{ "{" }}')


def _emit(nodes: list[_Node]) -> str:
    out: list[str] = []
    for i, node in enumerate(nodes):
        if isinstance(node, _Text):
            out.append(_text(node.text))
        elif isinstance(node, _Comment):
            # Only the line breaks survive, so later lines keep their numbers; Jinja's trim_blocks drops a
            # note that fills its own line, newline included; a note after text keeps its line break.
            out.append("{#" + "\n" * node.text.count("\n") + "#}")
            alone = "".join(out[:-1]).rpartition("\n")[2].strip() == ""
            after = nodes[i + 1] if i + 1 < len(nodes) else None
            if not alone and isinstance(after, _Text) and after.text.startswith("\n"):
                out.append('{{ "" }}')  # stands between the note and the line break trim_blocks would eat
        else:
            field = ALL_FIELDS[node.name]
            if node.body is None:
                expr = f'{field.expression}|{REQUIRED_FILTER}("{field.name}")'
                if field.formatter:
                    expr += f"|{field.formatter}"
                out.append("{{ " + expr + " }}")
            else:
                test = f"not {field.expression}" if node.negated else field.expression
                # "+%}" and "{%+": a tag in running text must not eat the line break after it or the
                # spaces before it (the environment trims blocks for advanced templates).
                out.append("{%+ if " + test + " +%}" + _emit(list(node.body)) + "{%+ endif +%}")
    return "".join(out)


def _ends_line(use: _Use) -> bool:
    last = use.body[-1] if use.body else None
    return isinstance(last, _Text) and last.text.endswith("\n")


def _whole_lines(nodes: list[_Node]) -> list[_Node]:
    """Conditional text alone on its line takes that line's break with it, so an empty field leaves no
    blank line: `Ngày hẹn: ((ngay_hen_tra))` on a line of its own as `((ngay_hen_tra??Ngày hẹn: …))`."""
    out: list[_Node] = []
    for i, node in enumerate(nodes):
        if isinstance(node, _Text) and not node.text:
            continue  # the line break a conditional before it took
        if isinstance(node, _Use) and node.body is not None:
            body = tuple(_whole_lines(list(node.body)))
            node = _Use(node.name, node.line, node.negated, body)
            before = out[-1] if out else None
            after = nodes[i + 1] if i + 1 < len(nodes) else None
            starts_line = (
                before is None
                or (isinstance(before, _Text) and before.text.endswith("\n"))
                # the line before was conditional text that took its line break: this one starts a line
                or (isinstance(before, _Use) and _ends_line(before))
            )
            if starts_line and isinstance(after, _Text) and after.text.startswith("\n"):
                node = _Use(node.name, node.line, node.negated, (*body, _Text("\n")))
                nodes[i + 1] = _Text(after.text[1:])
        out.append(node)
    return out


@functools.lru_cache(maxsize=512)
def to_jinja(source: str) -> str:
    """The Jinja text `source` stands for; ClerkSyntaxError (the first mistake) when it has one."""
    nodes, errors = _parse(source)
    for use in _uses(nodes):
        if use.name not in ALL_FIELDS:
            errors.append(ClerkSyntaxError(_unknown(use.name, None), use.line))
    if errors:
        raise min(errors, key=lambda e: e.line)
    return _emit(_whole_lines(nodes))
