"""The portal's dossier-sync item (`DongBoHoSoMC` data[]) as typed models, and the rules for its fields:
dates `yyyyMMddHHmmss` in Vietnam time, phones to E.164, blanks as no value. Field names are the portal's,
so a validation error names what the sender sent.

Row errors name the row, the record's key, the field, the value and the reason; every import format
(dossiers, progress items, officers) reports through them.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from notifier.rules.clock import VN_TZ
from notifier.rules.phones import InvalidPhone, normalize_phone
from notifier.rules.statuses import Status

PORTAL_DATE = "%Y%m%d%H%M%S"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_portal_date(value: Any) -> datetime | None:
    """`yyyyMMddHHmmss` in Vietnam time; empty means unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=VN_TZ)
    text = str(value).strip()
    if not re.fullmatch(r"\d{14}", text):
        raise ValueError("expected yyyyMMddHHmmss, e.g. 20261120083000")
    problem = _impossible_part(text)
    if problem is not None:
        raise ValueError(f"not a real date-time: {problem}")
    year = int(text[:4])
    if not MIN_YEAR <= year <= MAX_YEAR:
        # Year 1 or 9999 is no dossier's, and at the calendar's edge converting the zone overflows.
        raise ValueError(f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return datetime.strptime(text, PORTAL_DATE).replace(tzinfo=VN_TZ)


MIN_YEAR, MAX_YEAR = 1900, 2200


def _impossible_part(text: str) -> str | None:
    """Which part of 14 digits yyyyMMddHHmmss no calendar or clock has ("month 13"), or None. (strptime's
    own error named none: "unconverted data remains: 00" for month 13.)"""
    year, month, day, hour, minute, second = (int(text[a:b]) for a, b in _PARTS)
    if not 1 <= month <= 12:
        return f"month {month}"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"day {day} of {month:02d}/{year} (it has {days} days)"
    for name, number, limit in (("hour", hour, 24), ("minute", minute, 60), ("second", second, 60)):
        if number >= limit:
            return f"{name} {number}"
    return None


_PARTS = ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))

# The portal's dossier code (e.g. 000.00.30.H26-261120-0001): letters, digits and . - _ /, starting with a
# letter or digit. Nothing else gets in: no spaces, NUL, line breaks, bidi or zero-width marks, emoji, no
# leading "=" (a formula in a spreadsheet) and no ".." (a path out of a folder when a code names a file).
CODE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/-]*")
CODE_MAX = 64  # dossiers.code


def code_problem(code: str) -> str | None:
    """Why `code` is no dossier code, or None when it is one."""
    if not code:
        return "empty"
    if len(code) > CODE_MAX:
        return f"at most {CODE_MAX} characters, got {len(code)}"
    if not CODE_RE.fullmatch(code):
        return "only letters A-Z, digits and . - _ / are allowed, starting with a letter or digit"
    if ".." in code:
        return "'..' is not allowed"
    return None


def dossier_code(value: str) -> str:
    """A pydantic validator: the code as given, or ValueError naming what is wrong with it."""
    problem = code_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def storable_text(value: Any) -> Any:
    """Text the database can store: no NUL (PostgreSQL refuses it) and no lone surrogate (no UTF-8 for
    it); both were a 500 instead of a refusal naming the field."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("contains a lone surrogate (not valid Unicode text)")
    return value


def not_bool(value: Any) -> Any:
    """JSON true/false is no status or flag number (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


def phone_value(value: str) -> str:
    """E.164, or ValueError with the reason (a pydantic validator)."""
    try:
        return normalize_phone(value)
    except InvalidPhone as exc:
        raise ValueError(exc.reason) from exc


def email_value(value: str) -> str:
    """The address as given, or ValueError when it is not one (a pydantic validator)."""
    if not EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


# Shared by every import format (dossiers, officers): E.164 out, or an error naming the reason.
Phone = Annotated[str, AfterValidator(phone_value)]
EmailText = Annotated[str, AfterValidator(email_value)]


def none_if_blank(value: Any) -> Any:
    """Blank text is no value: the portal sends "" for fields it does not have."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


# A fee above this (one trillion đồng) is a typo, and the sum of a dossier's fees must fit a BIGINT.
MAX_FEE = 10**12


class Fee(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TenPhiLePhi: str | None = None
    MaPhiLePhi: str | None = None
    HinhThucThu: Any = None
    LoaiPhiLePhi: Any = None
    Gia: int = Field(ge=0, le=MAX_FEE)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return not_bool(storable_text(value))


class Supplement(BaseModel):
    model_config = ConfigDict(extra="ignore")

    NguoiYeuCauBoSung: str | None = None
    NoiDungBoSung: str | None = None
    NgayBoSung: datetime | None = None
    TrangThaiBoSung: Any = None
    NgayHenTraTruoc: datetime | None = None
    NgayHenTraMoi: datetime | None = None

    _dates = field_validator("NgayBoSung", "NgayHenTraTruoc", "NgayHenTraMoi", mode="before")(
        lambda v: parse_portal_date(v)
    )

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return storable_text(value)


class PortalDossier(BaseModel):
    """One `data[]` item; field names are the portal's so errors name what the sender sent."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # Every limit is its column's (notifier.store.models), so a value the database would refuse is refused
    # here, naming its field, and never reaches SQL.
    MaHoSo: Annotated[str, AfterValidator(dossier_code)] = Field(min_length=1, max_length=CODE_MAX)
    MaTTHC: str = Field(min_length=1, max_length=64)
    TenTTHC: str = Field(min_length=1, max_length=2000)
    ChuHoSo: str = Field(min_length=1, max_length=255)
    LoaiDoiTuong: int = Field(1, ge=1, le=2)
    SoDienThoai: Phone | None = None
    Email: EmailText | None = Field(None, max_length=255)
    NgayTiepNhan: datetime | None = None
    NgayHenTra: datetime | None = None
    NgayTra: datetime | None = None
    TrangThaiHoSo: int = Field(ge=1, le=10)
    DonViXuLy: str | None = Field(None, max_length=255)
    MaDonVi: str | None = Field(None, max_length=64)
    TenDonVi: str | None = Field(None, max_length=255)
    MaCanBo: str | None = Field(None, max_length=64)
    DuongDanThanhToan: str | None = Field(None, max_length=2000)
    DaThanhToan: int = Field(0, ge=0, le=1)
    LyDoTreHan: str | None = Field(None, max_length=4000)
    GhiChu: str | None = Field(None, max_length=4000)
    DanhSachLePhi: list[Fee] = Field(default_factory=list, max_length=100)
    DanhSachHoSoBoSung: list[Supplement] = Field(default_factory=list, max_length=100)
    # -- Read by the Decision 766 calculation (DOMAIN.md "National portal"): paid online through the
    # national platform (1) or the ministry's or province's own gateway (2), 0 or absent: not online;
    # the filing channel (1 direct, 2 online, 3 public post); when processing ended.
    DuocThanhToanTrucTuyen: int | None = Field(None, ge=0, le=2)
    KenhThucHien: int | None = Field(None, ge=1, le=3)
    NgayKetThucXuLy: datetime | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return none_if_blank(storable_text(value))

    @field_validator("TrangThaiHoSo", "LoaiDoiTuong", "DaThanhToan", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return not_bool(value)

    @field_validator("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> datetime | None:
        return parse_portal_date(value)

    @field_validator("DuongDanThanhToan")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("payment link must be an http(s) URL")
        return value

    @field_validator("DanhSachLePhi", "DanhSachHoSoBoSung", mode="before")
    @classmethod
    def _json_cell(cls, value: Any) -> Any:
        # CSV carries the nested lists as JSON text in one cell.
        if value is None:
            return []
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg})") from exc
            except RecursionError as exc:
                raise ValueError("not JSON (nested too deep)") from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> PortalDossier:
        if not (self.MaDonVi or self.DonViXuLy):
            raise ValueError("MaDonVi: value None: the processing agency (MaDonVi or DonViXuLy) is required")
        if not self.MaDonVi and self.DonViXuLy and len(self.DonViXuLy) > 64:
            raise ValueError(
                f"DonViXuLy: value '{self.DonViXuLy[:40]}…': used as the agency code without MaDonVi, "
                "at most 64 characters"
            )
        if self.NgayTiepNhan and self.NgayHenTra and self.NgayHenTra < self.NgayTiepNhan:
            raise ValueError(
                f"NgayHenTra: value '{self.NgayHenTra:%Y%m%d%H%M%S}': before NgayTiepNhan "
                f"'{self.NgayTiepNhan:%Y%m%d%H%M%S}'"
            )
        if self.TrangThaiHoSo in (Status.ACCEPTED, Status.PROCESSING) and self.NgayHenTra is None:
            raise ValueError(f"NgayHenTra: value None: required while TrangThaiHoSo is {self.TrangThaiHoSo}")
        return self

    @property
    def agency_code(self) -> str:
        return self.MaDonVi or self.DonViXuLy or ""

    @property
    def fee_amount(self) -> int | None:
        return sum(f.Gia for f in self.DanhSachLePhi) if self.DanhSachLePhi else None


@dataclass
class RowError:
    row: int
    code: str | None
    field: str
    value: Any
    reason: str
    key: str = "MaHoSo"

    def __str__(self) -> str:
        code = shortened(self.code) or "?"
        value = quoted(self.value)
        return f"row {self.row} ({self.key} {code}): field {self.field}: value {value}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            self.key: jsonable(shortened(self.code)),
            "field": self.field,
            "value": jsonable(shortened(self.value)),
            "reason": self.reason,
        }


# A rejected value longer than this is shown cut, with its length: a 100,000-character name filled the
# terminal (and the API's answer) with itself.
SHOWN_CHARS = 80


def shortened(value: Any) -> Any:
    """`value` as the API's report shows it: as it is, or its first SHOWN_CHARS characters and its length."""
    if value is None or isinstance(value, int | float | bool):
        return value
    text = value if isinstance(value, str) else str(value)
    if len(text) <= SHOWN_CHARS:
        return value
    return f"{text[:SHOWN_CHARS]}… ({len(text)} characters)"


def quoted(value: Any) -> str:
    """`value` as a row error's text shows it: 'V', or 'its first SHOWN_CHARS characters…' (N characters)."""
    text = str(value)
    if len(text) <= SHOWN_CHARS:
        return f"'{text}'"
    return f"'{text[:SHOWN_CHARS]}…' ({len(text)} characters)"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def jsonable(value: Any) -> Any:
    if isinstance(value, str):
        # A lone surrogate echoed back has no UTF-8 either: shown as its escape (\ud800).
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)


def validation_errors(row: int, raw: Mapping[str, Any], exc: ValidationError) -> list[RowError]:
    code = raw.get("MaHoSo") if isinstance(raw, Mapping) else None
    out: list[RowError] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:
            # Cross-field checks name their field at the start of the message ("F: value 'V': reason").
            fld, _, rest = msg.partition(": value ")
            shown, _, reason = rest.partition(": ")
            out.append(RowError(row, code, fld, shown.strip("'"), reason or msg))
            continue
        value = None if err["type"] == "missing" else err.get("input")
        out.append(RowError(row, code, ".".join(loc), value, msg))
    return out


