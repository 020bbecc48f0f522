"""The apology workflow: Mẫu 04, its new appointment date, and the printable document.

Decree 118/2025 and Circular 03/2025 (Phụ lục I, Mẫu số 04 "Văn bản xin lỗi và đề nghị gia hạn thời gian
giải quyết"): an agency that cannot keep an appointment apologises and proposes the new date, before the
deadline, and may do so once. Setting a new date here moves the dossier's appointment, records the apology
facts the scans read (so the citizen's `overdue_apology` goes out once, or the `new_appointment` follow-up
when a date is corrected) and issues a document numbered per agency and year, e.g. `15/VBXL`. A further
extension of the same dossier is recorded like the first but flagged as not compliant (`extension_no` > 1).

A document is a snapshot: it keeps the names, titles and dates it was issued with, so a reprint next year
shows the same document even if the dossier or the agency changed since. The document's wording is in the
template `templates/print/apology_slip.html.j2`; the PDF draws the same fields.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from notifier.rules.clerk import CLOSING_MARKS
from notifier.rules.clock import VN_TZ
from notifier.rules.documents import date_words, issuer_header, signer_lines
from notifier.rules.statuses import OPEN_FOR_DEADLINE, status_name
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store.engine import insert_into
from notifier.store.models import Agency, ApologyCounter, ApologySlip, Dossier, Officer, Procedure, table_of
from notifier.workflows.errors import InvalidInput, WrongState

PRINT_TEMPLATES = Path(__file__).parents[1] / "templates" / "print"
MAX_REASON = 1000


# ------------------------------------------------------------------------------------------- input parsing

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2}))?$")
_PORTAL = re.compile(r"^\d{14}$")


def parse_new_due(value: Any, default_time: time, field: str = "new_due") -> datetime:
    """A new appointment from a person or a program, in Vietnam time.

    Accepts `15/12/2026`, `15/12/2026 16:30`, `2026-12-15`, `2026-12-15T16:30`, or the portal's
    `20261215163000`. A bare date means the end of that working day (`default_time`).
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=VN_TZ)
    if isinstance(value, date):
        return datetime.combine(value, default_time, tzinfo=VN_TZ)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            field, value, "a new appointment date is required, e.g. 15/12/2026", refusal="date_missing"
        )
    text = value.strip()
    try:
        if m := _DMY.match(text):
            day, month, year, hour, minute = m.groups()
            clock = time(int(hour), int(minute)) if hour else default_time
            return datetime(int(year), int(month), int(day), clock.hour, clock.minute, tzinfo=VN_TZ)
        if _PORTAL.match(text):
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), default_time, tzinfo=VN_TZ)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(field, value, f"not a real date ({exc})", refusal="date_invalid") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)


def clean_reason(value: Any, field: str = "reason") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            field,
            value,
            "the reason for the delay is required (it is printed on the slip)",
            refusal="reason_missing",
        )
    text = unicodedata.normalize("NFC", " ".join(value.split()))
    if len(text) > MAX_REASON:
        raise InvalidInput(
            field,
            text[:40] + "…",
            f"longer than {MAX_REASON} characters",
            refusal="reason_too_long",
            limit=MAX_REASON,
        )
    return text


# ------------------------------------------------------------------------------------------------ slips


def next_seq(session: Session, agency_id: int, year: int) -> int:
    """The next number in the agency's yearly series; one atomic upsert, so two officers never share one."""
    table = table_of(ApologyCounter)
    stmt = (
        insert_into(session, table).values(agency_id=agency_id, year=year, last=1)
        .on_conflict_do_update(index_elements=["agency_id", "year"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def _signer(session: Session, agency_id: int) -> Officer | None:
    """Who signs: the agency's head (an active officer marked LaLanhDao), the first one imported."""
    return session.scalar(
        select(Officer)
        .where(Officer.agency_id == agency_id, Officer.is_head, Officer.active)
        .order_by(Officer.id)
        .limit(1)
    )


def issue_slip(
    session: Session,
    dossier: Dossier,
    old_due: datetime,
    new_due: datetime,
    reason: str,
    now: datetime,
    actor: str,
    source: str,
    number_format: str,
) -> ApologySlip:
    agency = session.get(Agency, dossier.agency_id)
    procedure = session.get(Procedure, dossier.procedure_id)
    assert agency is not None and procedure is not None
    year = now.astimezone(VN_TZ).year
    seq = next_seq(session, agency.id, year)
    signer = _signer(session, agency.id)
    earlier = session.scalar(select(func.count(ApologySlip.id)).where(ApologySlip.dossier_id == dossier.id))
    extension_no = int(earlier or 0) + 1
    dossier.apology_extensions = extension_no
    slip = ApologySlip(
        agency_id=agency.id,
        year=year,
        seq=seq,
        number=number_format.format(seq=seq, year=year, agency_code=agency.code),
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        agency_name=agency.name,
        addressee=dossier.applicant_name,
        applicant_kind=dossier.applicant_kind,
        phone=dossier.phone,
        email=dossier.email,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        received_at=dossier.received_at,
        old_due_at=old_due,
        new_due_at=new_due,
        reason=reason,
        signer_name=signer.name if signer else None,
        signer_title=signer.title if signer else None,
        issuer_level=agency.level,
        issuer_parent_name=agency.parent_name,
        issuer_seat=agency.seat,
        desk_name=agency.desk_name,
        extension_no=extension_no,
        issued_at=now,
        issued_by=actor,
        source=source,
    )
    session.add(slip)
    session.flush()
    audit.record(
        session,
        now,
        actor,
        "apology.issued",
        dossier.code,
        number=slip.number,
        old_due_at=old_due,
        new_due_at=new_due,
        reason=reason,
        source=source,
        extension_no=extension_no,
        compliant=extension_no == 1,
    )
    return slip


@dataclass
class Appointment:
    slip: ApologySlip
    corrected: bool  # the officer fixed the date of an apology whose date had not come yet


def set_new_appointment(
    session: Session,
    dossier: Dossier,
    new_due: datetime,
    reason: str,
    now: datetime,
    *,
    actor: str,
    source: str,
    calendar: WorkCalendar,
    number_format: str,
) -> Appointment:
    """Move the appointment, record the apology facts and issue (or correct) the slip.

    Correcting: when the current appointment was itself set by a slip and has not passed yet, the officer is
    fixing that slip's date (a typo, a better estimate), not missing a second appointment: the slip is
    updated in place and the citizen gets the `new_appointment` follow-up with the corrected date.
    """
    if dossier.status not in OPEN_FOR_DEADLINE:
        raise WrongState(
            "TrangThaiHoSo",
            dossier.status,
            f"'{status_name(dossier.status)}': a new appointment can only be set while the agency holds "
            "the dossier (status 2 or 4)",
            refusal="new_date_status",
        )
    if dossier.due_at is None:
        raise WrongState(
            "NgayHenTra", None, "the dossier has no appointment to move", refusal="no_appointment"
        )
    reason = clean_reason(reason)
    if new_due <= now:
        raise InvalidInput(
            "new_due", _show(new_due), "the new appointment must be in the future", refusal="date_past"
        )
    if not calendar.is_working_day(new_due.astimezone(VN_TZ).date()):
        raise InvalidInput(
            "new_due",
            _show(new_due),
            "not a working day (weekend or public holiday)",
            refusal="not_working_day",
            new_due=new_due,
        )

    current = session.scalar(
        select(ApologySlip).where(
            ApologySlip.dossier_id == dossier.id, ApologySlip.new_due_at == dossier.due_at
        )
    )
    correcting = current is not None and dossier.due_at >= now
    old_due = current.old_due_at if correcting and current is not None else dossier.due_at
    if new_due <= old_due:
        raise InvalidInput(
            "new_due",
            _show(new_due),
            f"must be later than the appointment being missed ({_show(old_due)})",
            refusal="date_not_after_old",
            old_due=old_due,
        )
    if correcting and new_due == dossier.due_at:
        raise InvalidInput(
            "new_due", _show(new_due), "that is already the appointment", refusal="date_unchanged"
        )

    dossier.apology_old_due_at = old_due
    dossier.apology_new_due_at = new_due
    dossier.apology_set_at = now
    dossier.due_at = new_due
    dossier.delay_reason = reason
    # Incremental scans read dossiers by updated_at: the apology scans must see this one.
    dossier.updated_at = now

    if correcting and current is not None:
        previous = current.new_due_at
        current.new_due_at = new_due
        current.reason = reason
        current.corrected_at = now
        audit.record(
            session,
            now,
            actor,
            "apology.corrected",
            dossier.code,
            number=current.number,
            previous_new_due_at=previous,
            new_due_at=new_due,
            reason=reason,
            source=source,
        )
        session.flush()
        return Appointment(current, corrected=True)
    slip = issue_slip(session, dossier, old_due, new_due, reason, now, actor, source, number_format)
    return Appointment(slip, corrected=False)


def issue_missing_slips(
    session: Session, now: datetime, number_format: str, changed: ColumnElement[bool] | None = None
) -> int:
    """Slips for new dates that came from the portal (ingest sets the apology facts, not the slip).

    `changed` narrows an incremental scan to dossiers written since the previous one (ingest sets the facts
    and updated_at together)."""
    missing = session.scalars(
        select(Dossier)
        .where(
            true() if changed is None else changed,
            Dossier.apology_old_due_at.is_not(None),
            Dossier.apology_new_due_at.is_not(None),
            ~select(ApologySlip.id)
            .where(ApologySlip.dossier_id == Dossier.id, ApologySlip.old_due_at == Dossier.apology_old_due_at)
            .exists(),
        )
        .order_by(Dossier.apology_set_at, Dossier.id)
    ).all()
    for d in missing:
        assert d.apology_old_due_at is not None and d.apology_new_due_at is not None
        reason = d.delay_reason or "chưa được cơ quan giải quyết nêu rõ"
        with session.begin_nested():
            issue_slip(
                session,
                d,
                d.apology_old_due_at,
                d.apology_new_due_at,
                reason,
                d.apology_set_at or now,
                "portal",
                "ingest",
                number_format,
            )
    return len(missing)


def _show(value: datetime) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


# --------------------------------------------------------------------------------------------- printing


def slip_context(slip: ApologySlip, province: str) -> dict[str, Any]:
    """The fields the document shows (Decree 30/2020 layout); the words are in the print templates."""
    from notifier.rules.rendering import format_date, format_datetime, mask_phone

    business = slip.applicant_kind == 2
    issuer = " ".join(slip.agency_name.split())
    phone = mask_phone(slip.phone) if slip.phone else None
    return {
        "number": slip.number,
        "issuer_name": issuer,
        # Two lines, each in capitals: the parent body above the issuing body (never one wrapped line).
        "parent_name": slip.issuer_parent_name.upper() if slip.issuer_parent_name else None,
        "issuer_header": issuer_header(issuer, slip.issuer_parent_name),
        "province": province,
        "place_date": f"{slip.issuer_seat or province}, {date_words(slip.issued_at)}",
        "business": business,
        "addressee": slip.addressee,
        "contact": " - ".join(v for v in (phone, slip.email) if v) or None,
        "dossier_code": slip.dossier_code,
        "procedure_name": slip.procedure_name,
        "received": format_datetime(slip.received_at) if slip.received_at else None,
        "old_due": format_date(slip.old_due_at),
        "new_due": format_date(slip.new_due_at),
        "new_due_words": date_words(slip.new_due_at),
        "reason": slip.reason.rstrip(CLOSING_MARKS),  # the document writes "Lý do: ….", one full stop
        "issued": format_date(slip.issued_at),
        "desk_name": slip.desk_name,
        "signer_lines": signer_lines(slip.issuer_level, slip.issuer_parent_name, slip.signer_title),
        "signer_name": slip.signer_name,
        "extension_no": slip.extension_no,
        "corrected": format_date(slip.corrected_at) if slip.corrected_at else None,
    }


def _print_env(autoescape: bool) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PRINT_TEMPLATES),
        autoescape=autoescape,  # names and reasons come from the portal and officers
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_SECTION = re.compile(r"^\[([a-z_]+)\]$")


def print_sections(template: str, **context: Any) -> dict[str, list[str]]:
    """The words of a text template in `templates/print/` by section: a line `[name]` opens a section, every
    other non-blank line belongs to the one open. The HTML page and the PDF of a document both show them."""
    text = _print_env(False).get_template(template).render(**context)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in unicodedata.normalize("NFC", text).splitlines():
        line = raw.strip()
        if m := _SECTION.match(line):
            current = sections.setdefault(m.group(1), [])
        elif line and current is not None:
            current.append(line)
    return sections


def document_sections(slip: ApologySlip, province: str) -> dict[str, list[str]]:
    """Mẫu 04's words by section (`templates/print/apology_document.txt.j2`)."""
    return print_sections("apology_document.txt.j2", **slip_context(slip, province))


def render_slip_html(slip: ApologySlip, province: str) -> str:
    context = slip_context(slip, province)
    html = (
        _print_env(True)
        .get_template("apology_slip.html.j2")
        .render(**context, s=document_sections(slip, province))
    )
    return unicodedata.normalize("NFC", html)


# Times-like serif fonts, in order: Liberation Serif 2 (Debian's fonts-liberation2, metric-compatible with
# Times New Roman; the older fonts-liberation 1.07 has no Vietnamese letters and is skipped by the glyph
# check), then DejaVu Serif; sans fonts only as a last resort.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/TTF/LiberationSerif-Regular.ttf",
    "/Library/Fonts/Times New Roman.ttf",
    "C:/Windows/Fonts/times.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/TTF/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf",
)


class PdfUnavailable(RuntimeError):
    pass


# Letters only Vietnamese needs (Latin Extended-B and Additional): a font without them prints gaps.
VIETNAMESE_PROBE = "ƠơƯưĐđẠạẢảẤấỆệỐốỞởỰựỹ"


def has_vietnamese(path: Path) -> bool:
    """Whether the font maps every letter of VIETNAMESE_PROBE (fontTools comes with fpdf2)."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(str(path), lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # an unreadable file is no usable font
        return False
    return all(ord(ch) in cmap for ch in VIETNAMESE_PROBE)


def find_font(configured: str | None) -> Path:
    """A TrueType font with Vietnamese glyphs: the configured one, else a Times-like serif where systems
    keep it."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise PdfUnavailable(f"apology.pdf_font: value '{configured}': no such file")
        if not has_vietnamese(path):
            raise PdfUnavailable(f"apology.pdf_font: value '{configured}': no Vietnamese letters in the font")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file() and has_vietnamese(Path(candidate)):
            return Path(candidate)
    try:  # matplotlib ships DejaVu Serif; use it when it happens to be installed
        import matplotlib

        bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif.ttf"
        if bundled.is_file():
            return bundled
    except ImportError:
        pass
    raise PdfUnavailable(
        "no TrueType font with Vietnamese glyphs found; install fonts-liberation2 (Liberation Serif) or set "
        "[apology] pdf_font to a .ttf file"
    )


def font_variant(regular: Path, style: str) -> Path | None:
    """The bold ("Bold") or italic ("Italic") file next to `regular`, as font families name them."""
    stem = regular.stem
    short = {"Bold": "bd", "Italic": "i"}[style]
    for name in (stem + "-" + style, stem.replace("-Regular", "-" + style), stem + short):
        candidate = regular.with_name(name + regular.suffix)
        if candidate.is_file():
            return candidate
    return None


# Decree 30/2020: margins top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm; text 13-14 pt.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 30.0, 20.0, 20.0, 20.0
BODY_PT, TITLE_PT, HEAD_PT, SMALL_PT = 13.0, 14.0, 13.0, 12.0


def render_slip_pdf(slip: ApologySlip, province: str, font: str | None = None) -> bytes:
    """The same document as a PDF, drawn with fpdf2 (no browser) in a Unicode TrueType serif font."""
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError as exc:  # pragma: no cover - fpdf2 is a dependency
        raise PdfUnavailable("fpdf2 is not installed") from exc
    regular = find_font(font)
    c = slip_context(slip, province)
    s = document_sections(slip, province)

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT)
    pdf.set_auto_page_break(True, MARGIN_BOTTOM)
    pdf.add_font("Body", "", str(regular))
    pdf.add_font("Body", "B", str(font_variant(regular, "Bold") or regular))
    pdf.add_font("Body", "I", str(font_variant(regular, "Italic") or regular))
    pdf.add_font("Body", "BI", str(font_variant(regular, "Bold") or regular))
    pdf.set_title(f"{s['title'][0]} số {c['number']}")
    pdf.set_creator("notifier")
    pdf.add_page()
    width = pdf.epw
    left, right = width * 0.42, width * 0.58

    def line(col: str, text: str, style: str = "", size: float = BODY_PT, h: float = 5.8) -> None:
        """One header line that must not wrap: shrunk to fit its column when too long."""
        w = left if col == "left" else right
        pdf.set_font("Body", style, size)
        while pdf.get_string_width(text) > w and size > 8:
            size -= 0.5
            pdf.set_font("Body", style, size)
        pdf.set_x(pdf.l_margin + (left if col == "right" else 0))
        pdf.cell(w, h, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rule(col: str) -> None:
        w = left if col == "left" else right
        x0 = pdf.l_margin + (left if col == "right" else 0)
        y = pdf.get_y() + 0.5
        pdf.line(x0 + w * 0.325, y, x0 + w * 0.675, y)
        pdf.set_y(y + 1.5)

    top = pdf.get_y()
    if c["parent_name"]:
        line("left", c["parent_name"], size=HEAD_PT)
    line("left", c["issuer_header"], "B", HEAD_PT)
    rule("left")
    line("left", f"Số: {c['number']}", size=HEAD_PT)
    below_left = pdf.get_y()
    pdf.set_y(top)
    line("right", s["motto"][0], "B", HEAD_PT)
    line("right", s["motto"][1], "B", TITLE_PT)
    rule("right")
    line("right", c["place_date"], "I", HEAD_PT, 7)
    pdf.set_y(max(below_left, pdf.get_y()) + 8)

    pdf.set_font("Body", "B", TITLE_PT)
    pdf.multi_cell(width, 6.5, s["title"][0], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Body", "", BODY_PT)
    for text in s.get("addressee", []):
        pdf.multi_cell(width, 6.5, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    for text in s.get("body", []):
        pdf.set_font("Body", "", BODY_PT)
        pdf.set_x(pdf.l_margin)
        # First-line indent as on the HTML page (10 mm): a leading blank of that width.
        pdf.multi_cell(width, 6.5, "\u2003\u2003" + text, align="J", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)
    pdf.ln(4)

    top = pdf.get_y()
    for text in s.get("recipients_label", []):
        pdf.set_font("Body", "BI", SMALL_PT)
        pdf.cell(left, 5.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for text in s.get("recipients", []):
        pdf.set_font("Body", "", 11)
        pdf.multi_cell(left, 5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(top)
    for text in s.get("signer", []):
        line("right", text, "B", BODY_PT)
    if s.get("signer_name"):
        pdf.ln(24)
        for text in s["signer_name"]:
            line("right", text, "B", BODY_PT)
    return bytes(pdf.output())
