"""The apology workflow: a new appointment date, the numbered slip, and the printable form.

Document 2839/UBND-KSTTHC asks for a written apology ("Phiếu xin lỗi và hẹn lại ngày trả kết quả") for
every dossier the agency returns late. Setting a new date here moves the dossier's appointment, records the
apology facts the scans already read (so the citizen's `overdue_apology`, or the `new_appointment`
follow-up, goes out once) and issues a slip numbered per agency and year, e.g. `15/PXL`.

A slip is a snapshot: it keeps the names and dates it was issued with, so a reprint next year shows the
same document even if the dossier or the agency's name changed since.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifier.rules.clock import VN_TZ
from notifier.rules.statuses import OPEN_FOR_DEADLINE, status_name
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
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
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = (
        ins.values(agency_id=agency_id, year=year, last=1)
        .on_conflict_do_update(index_elements=["agency_id", "year"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def _head_name(session: Session, agency_id: int) -> str | None:
    return session.scalar(
        select(Officer.name)
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
        signer_name=_head_name(session, agency.id),
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


def _vn_date_words(d: datetime) -> str:
    local = d.astimezone(VN_TZ)
    return f"ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"


def slip_context(slip: ApologySlip, province: str) -> dict[str, Any]:
    """What the printed form shows; also used by the PDF so both say exactly the same."""
    from notifier.rules.rendering import format_date, format_datetime, mask_phone

    business = slip.applicant_kind == 2
    return {
        "number": slip.number,
        "agency_name": slip.agency_name,
        "province": province,
        "place_date": f"{province}, {_vn_date_words(slip.issued_at)}",
        "form_of_address": "Quý tổ chức" if business else "Ông/Bà",
        "addressee": slip.addressee,
        "phone": mask_phone(slip.phone) if slip.phone else None,
        "email": slip.email,
        "dossier_code": slip.dossier_code,
        "procedure_name": slip.procedure_name,
        "received": format_datetime(slip.received_at) if slip.received_at else None,
        "old_due": format_date(slip.old_due_at),
        "new_due": format_date(slip.new_due_at),
        "new_due_words": _vn_date_words(slip.new_due_at),
        "reason": slip.reason.rstrip(". "),
        "issued": format_date(slip.issued_at),
        "signer_name": slip.signer_name,
        "corrected": format_date(slip.corrected_at) if slip.corrected_at else None,
    }


def render_slip_html(slip: ApologySlip, province: str) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PRINT_TEMPLATES),
        autoescape=True,  # names and reasons come from the portal and officers
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("apology_slip.html.j2").render(**slip_context(slip, province))
    return unicodedata.normalize("NFC", html)


FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


class PdfUnavailable(RuntimeError):
    pass


def find_font(configured: str | None) -> Path:
    """A TrueType font with Vietnamese glyphs: the configured one, else DejaVu Sans where systems keep it."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise PdfUnavailable(f"apology.pdf_font: value '{configured}': no such file")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    try:  # matplotlib ships DejaVu Sans; use it when it happens to be installed
        import matplotlib

        bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return bundled
    except ImportError:
        pass
    raise PdfUnavailable(
        "no TrueType font with Vietnamese glyphs found; install fonts-dejavu-core or set "
        "[apology] pdf_font to a .ttf file"
    )


def _bold_variant(regular: Path) -> Path | None:
    stem = regular.stem
    for name in (stem + "-Bold", stem.replace("-Regular", "-Bold"), stem + "bd"):
        name += regular.suffix
        candidate = regular.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def render_slip_pdf(slip: ApologySlip, province: str, font: str | None = None) -> bytes:
    """The same form as a PDF, drawn with fpdf2 (no browser) in a Unicode TrueType font."""
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError as exc:  # pragma: no cover - fpdf2 is a dependency
        raise PdfUnavailable("fpdf2 is not installed") from exc
    regular = find_font(font)
    bold = _bold_variant(regular) or regular
    c = slip_context(slip, province)

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(True, 15)
    pdf.add_font("Body", "", str(regular))
    pdf.add_font("Body", "B", str(bold))
    pdf.set_title(f"Phiếu xin lỗi và hẹn lại ngày trả kết quả số {c['number']}")
    pdf.set_creator("notifier")
    pdf.add_page()
    width = pdf.epw
    left, right = width * 0.42, width * 0.58

    def put(
        col: str, w: float, h: float, text: str, style: str = "", size: float = 11, align: str = "C"
    ) -> None:
        pdf.set_font("Body", style, size)
        pdf.set_x(pdf.l_margin + (left if col == "right" else 0))
        pdf.multi_cell(w, h, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    top = pdf.get_y()
    put("left", left, 5.5, c["agency_name"].upper(), "B")
    put("left", left, 5.5, f"Số: {c['number']}")
    below_left = pdf.get_y()
    pdf.set_y(top)
    put("right", right, 5.5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "B")
    put("right", right, 5.5, "Độc lập - Tự do - Hạnh phúc", "B")
    put("right", right, 7, c["place_date"])
    pdf.set_y(max(below_left, pdf.get_y()) + 6)
    put("left", width, 7, "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "B", 14)
    pdf.ln(4)

    xh = c["form_of_address"]
    lines = [f"{c['agency_name']} đã tiếp nhận hồ sơ của {xh}: {c['addressee']}"]
    if c["phone"] or c["email"]:
        lines.append("Số điện thoại/thư điện tử: " + " - ".join(filter(None, [c["phone"], c["email"]])))
    lines += [f"Mã hồ sơ (số biên nhận): {c['dossier_code']}", f"Thủ tục: {c['procedure_name']}"]
    if c["received"]:
        lines.append(f"Thời điểm tiếp nhận: {c['received']}")
    lines += [
        f"Ngày hẹn trả kết quả: {c['old_due']}",
        f"Tuy nhiên đến nay, {c['agency_name']} chưa trả kết quả giải quyết hồ sơ cho {xh} đúng hẹn.",
        f"Lý do: {c['reason']}.",
        f"Sự chậm trễ này đã gây phiền hà, làm mất thời gian của {xh}. {c['agency_name']} xin lỗi {xh} "
        f"và sẽ trả kết quả giải quyết hồ sơ cho {xh} vào {c['new_due_words']}.",
        f"Rất mong nhận được sự thông cảm của {xh}.",
    ]
    for line in lines:
        put("left", width, 6.5, line, size=12, align="J")
        pdf.ln(1)
    pdf.ln(6)

    top = pdf.get_y()
    put("left", left, 5, "Nơi nhận:", "B", 10, "L")
    put("left", left, 5, f"- {xh} {c['addressee']};", size=10, align="L")
    put("left", left, 5, "- Lưu: VT.", size=10, align="L")
    pdf.set_y(top)
    put("right", right, 5.5, "THỦ TRƯỞNG CƠ QUAN", "B")
    put("right", right, 5, "(Ký, ghi rõ họ tên và đóng dấu)", size=10)
    if c["signer_name"]:
        pdf.ln(22)
        put("right", right, 5.5, c["signer_name"], "B")
    return bytes(pdf.output())
