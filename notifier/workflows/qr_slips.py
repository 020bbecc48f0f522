"""QR codes of dossiers' public links, and the printable slips the one-stop desk staples to the receipt.

A dossier's QR code encodes its public link (`public_url`, a token issued on the clock's day) with error
correction level Q (a quarter of the code may be smudged or covered by a staple) and the standard quiet
zone of four modules. `qr` gives it as SVG or PNG, or as the A6 slip (PDF); `day_slips` gives the slips of
every dossier an agency received on one day, four A6 slips on each A4 sheet (desks print on A4; the sheet
is cut along the marks). The slip's words are in `templates/print/qr_slip.txt.j2`; the font is the one
the Mẫu 04 PDF uses (`[apology] pdf_font`, else a serif with Vietnamese letters).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from notifier.rules.clock import VN_TZ
from notifier.rules.portal import MAX_YEAR, MIN_YEAR
from notifier.rules.rendering import format_date
from notifier.store.models import Agency, Dossier
from notifier.workflows.apology import PdfUnavailable, find_font, font_variant, print_sections
from notifier.workflows.errors import InvalidInput, NotFound, WrongState
from notifier.workflows.public_links import public_url
from notifier.workflows.service import Service

QR_ERROR = "Q"  # recovers 25% of the modules: a stapled or creased slip still scans
QUIET_ZONE = 4  # modules of white around the code, as ISO/IEC 18004 asks
PNG_SCALE = 10  # pixels per module: about 4 cm wide for a typical link, sharp when printed
SVG_SCALE = 8

# A6 (105 × 148 mm), the slip; A4 holds exactly four of them.
SLIP_W, SLIP_H = 105.0, 148.0
A4_W, A4_H = 210.0, 297.0
SLIP_MARGIN = 8.0
QR_SIZE = 68.0  # mm, quiet zone included


class QrFormat(StrEnum):
    SVG = "svg"
    PNG = "png"
    PDF = "pdf"  # the A6 slip with the code on it


MEDIA_TYPES = {QrFormat.SVG: "image/svg+xml", QrFormat.PNG: "image/png", QrFormat.PDF: "application/pdf"}


@dataclass(frozen=True)
class Rendered:
    content: bytes
    media_type: str
    filename: str
    count: int = 1  # slips in it
    skipped: tuple[str, ...] = ()  # dossiers of the day whose code cannot be put in a link (no slip)


@dataclass(frozen=True)
class SlipFacts:
    """What one slip prints."""

    code: str
    url: str  # what the QR code opens
    due_date: str  # dd/MM/yyyy, "" when the dossier has no appointment
    agency_name: str
    desk_name: str
    lookup_url: str  # the look-up page, for those who type rather than scan


def make_qr(url: str) -> segno.QRCode:
    """The QR code of `url`: level Q exactly (not raised by segno even when the version has room), so the
    level printed on every slip is the same."""
    return segno.make_qr(url, error=QR_ERROR, boost_error=False)


def qr_image(url: str, fmt: QrFormat) -> bytes:
    """`url`'s QR code as SVG or PNG, with its quiet zone."""
    buf = io.BytesIO()
    if fmt is QrFormat.SVG:
        make_qr(url).save(buf, kind="svg", scale=SVG_SCALE, border=QUIET_ZONE, xmldecl=True)
    elif fmt is QrFormat.PNG:
        make_qr(url).save(buf, kind="png", scale=PNG_SCALE, border=QUIET_ZONE)
    else:
        raise InvalidInput("format", str(fmt), "an image is svg or png; pdf is the slip")
    return buf.getvalue()


def parse_day(value: str | date) -> date:
    """`07/12/2026` (as the desk writes it) or `2026-12-07`."""
    if isinstance(value, date):
        return value
    text = value.strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            day = date(int(m[3]), int(m[2]), int(m[1]))
        else:
            day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        # 31/12/9999 or 01/01/0001 overflowed the day's bounds in Vietnam time: a 500, not a refusal.
        if MIN_YEAR <= day.year <= MAX_YEAR:
            return day
        raise InvalidInput("date", value, f"year must be {MIN_YEAR}-{MAX_YEAR}", refusal="date_invalid")
    raise InvalidInput(
        "date", value, "not a date; write it dd/MM/yyyy, e.g. 07/12/2026", refusal="date_invalid"
    )


# ------------------------------------------------------------------------------------------------ the words


def slip_sections(facts: SlipFacts) -> dict[str, list[str]]:
    """The slip's lines by section, from `templates/print/qr_slip.txt.j2`."""
    return print_sections(
        "qr_slip.txt.j2",
        agency_name=facts.agency_name,
        desk_name=facts.desk_name,
        code=facts.code,
        due_date=facts.due_date,
        lookup_url=facts.lookup_url,
    )


# -------------------------------------------------------------------------------------------------- the PDF


def _draw_qr(pdf: Any, url: str, x: float, y: float, size: float) -> None:
    """The code as filled rectangles (vector: sharp at any printer resolution), a run of dark modules of a
    row being one rectangle."""
    matrix = make_qr(url).matrix
    n = len(matrix)
    module = size / (n + 2 * QUIET_ZONE)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            pdf.rect(
                x + (QUIET_ZONE + start) * module,
                y + (QUIET_ZONE + r) * module,
                (c - start) * module,
                module,
                style="F",
            )


def _draw_slip(pdf: Any, facts: SlipFacts, x0: float, y0: float) -> None:
    from fpdf.enums import XPos, YPos

    s = slip_sections(facts)
    width = SLIP_W - 2 * SLIP_MARGIN
    left = x0 + SLIP_MARGIN

    def lines(section: str, style: str, size: float, h: float, fit: bool = False) -> None:
        for text in s.get(section, []):
            pt = size
            pdf.set_font("Body", style, pt)
            # A line that must stay whole (the dossier code) shrinks to the slip's width instead of wrapping.
            while fit and pdf.get_string_width(text) > width and pt > 7:
                pt -= 0.5
                pdf.set_font("Body", style, pt)
            pdf.set_x(left)
            pdf.multi_cell(width, h, text, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)

    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(left, y0 + SLIP_MARGIN)
    lines("agency", "B", 11, 5)
    lines("desk", "", 9, 4.2)
    pdf.ln(2)
    lines("heading", "B", 14, 7)
    top = pdf.get_y() + 1
    _draw_qr(pdf, facts.url, x0 + (SLIP_W - QR_SIZE) / 2, top, QR_SIZE)
    pdf.set_xy(left, top + QR_SIZE + 1)
    lines("code", "B", 12, 6, fit=True)
    lines("appointment", "", 11, 6)
    pdf.ln(1.5)
    lines("address", "", 9, 4.2)


def render_slips(
    slips: Sequence[SlipFacts], *, four_up: bool, font: str | None, made: datetime | None = None
) -> bytes:
    """The slips as one PDF: an A6 page each, or (`four_up`) four A6 slips on each A4 sheet with cut marks."""
    try:
        from fpdf import FPDF
    except ImportError as exc:  # pragma: no cover - fpdf2 is a dependency
        raise PdfUnavailable("fpdf2 is not installed") from exc
    regular = find_font(font)
    pdf = FPDF(format="A4" if four_up else (SLIP_W, SLIP_H), unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(SLIP_MARGIN, SLIP_MARGIN, SLIP_MARGIN)
    pdf.add_font("Body", "", str(regular))
    pdf.add_font("Body", "B", str(font_variant(regular, "Bold") or regular))
    pdf.set_creator("notifier")
    if made is not None:
        pdf.set_creation_date(made)
    if slips:
        pdf.set_title(
            slip_sections(slips[0])["heading"][0] + (f" — {slips[0].code}" if len(slips) == 1 else "")
        )
    per_page = 4 if four_up else 1
    for i, facts in enumerate(slips):
        spot = i % per_page
        if spot == 0:
            pdf.add_page()
            if four_up:
                _cut_marks(pdf)
        x0 = (spot % 2) * SLIP_W if four_up else 0.0
        y0 = (spot // 2) * (A4_H / 2) if four_up else 0.0
        _draw_slip(pdf, facts, x0, y0)
    return bytes(pdf.output())


def _cut_marks(pdf: Any) -> None:
    pdf.set_draw_color(170, 170, 170)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=2)
    pdf.line(A4_W / 2, 0, A4_W / 2, A4_H)
    pdf.line(0, A4_H / 2, A4_W, A4_H / 2)
    pdf.set_dash_pattern()
    pdf.set_draw_color(0, 0, 0)


# --------------------------------------------------------------------------------------------- the workflow


class QrWorkflow:
    """QR codes and slips of dossiers, their links issued on the service clock's day."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _today(self) -> date:
        return self.service.clock.now().astimezone(VN_TZ).date()

    def _facts(self, d: Dossier, issued: date) -> SlipFacts:
        settings = self.service.settings
        try:
            url = public_url(settings, d.code, issued)
        except ValueError as exc:
            # The portal allows "/" in codes, the link's token does not (notifier.rules.public_token).
            raise WrongState(
                "MaHoSo", d.code, f"no public link for this code: {exc}", refusal="no_link"
            ) from exc
        return SlipFacts(
            code=d.code,
            url=url,
            due_date=format_date(d.due_at) if d.due_at else "",
            agency_name=d.agency.name,
            desk_name=d.agency.desk_name or "",
            lookup_url=f"{settings.public.base_url}/tra-cuu",
        )

    def _dossier(self, session: Session, code: str) -> Dossier:
        query = select(Dossier).options(joinedload(Dossier.agency))
        d = session.scalar(query.where(Dossier.code == code.strip()))
        if d is None and code != code.upper():  # codes are printed in capitals, typed in either case
            d = session.scalar(query.where(Dossier.code == code.strip().upper()))
        if d is None:
            raise NotFound("MaHoSo", code, "no such dossier", refusal="dossier_unknown")
        return d

    def link(self, code: str) -> SlipFacts:
        """What the dossier's QR code and slip carry; NotFound naming the code when there is no such
        dossier."""
        with self.service.factory() as session:
            return self._facts(self._dossier(session, code), self._today())

    def qr(self, code: str, fmt: QrFormat) -> Rendered:
        """The dossier's QR code as SVG or PNG, or (pdf) its A6 slip."""
        facts = self.link(code)
        stem = re.sub(r"[^0-9A-Za-z.\-_]", "_", facts.code)
        if fmt is QrFormat.PDF:
            content = render_slips(
                [facts],
                four_up=False,
                font=self.service.settings.apology.pdf_font,
                made=self.service.clock.now(),
            )
            return Rendered(content, MEDIA_TYPES[fmt], f"phieu-qr-{stem}.pdf")
        return Rendered(qr_image(facts.url, fmt), MEDIA_TYPES[fmt], f"qr-{stem}.{fmt}")

    def day_slips(self, agency_code: str, day: str | date) -> Rendered:
        """The slips of every dossier `agency_code` received on `day` (Vietnam time), in the order received,
        four to an A4 sheet. NotFound for an unknown agency, or a day without receipts."""
        when = parse_day(day)
        if "\x00" in agency_code:  # a NUL was a 500 on PostgreSQL
            raise NotFound("MaDonVi", agency_code, "no such agency", refusal="agency_unknown")
        start = datetime.combine(when, time(0), tzinfo=VN_TZ)
        with self.service.factory() as session:
            agency = session.scalar(select(Agency).where(Agency.code == agency_code.strip()))
            if agency is None:
                raise NotFound("MaDonVi", agency_code, "no such agency", refusal="agency_unknown")
            dossiers = session.scalars(
                select(Dossier)
                .options(joinedload(Dossier.agency))
                .where(
                    Dossier.agency_id == agency.id,
                    Dossier.received_at >= start,
                    Dossier.received_at < start + timedelta(days=1),
                )
                .order_by(Dossier.received_at, Dossier.code)
            ).all()
            issued = self._today()
            slips: list[SlipFacts] = []
            skipped: list[str] = []
            for d in dossiers:
                try:
                    slips.append(self._facts(d, issued))
                except WrongState:  # one odd code does not cost the desk the day's other slips
                    skipped.append(d.code)
        if not slips:
            reason = f"agency {agency.code} received no dossiers that day: no slips to print"
            if skipped:
                reason = f"no slips to print: no public link for the codes {', '.join(skipped)}"
            raise NotFound("date", format_date(when), reason, refusal="no_receipts")
        content = render_slips(
            slips, four_up=True, font=self.service.settings.apology.pdf_font, made=self.service.clock.now()
        )
        return Rendered(
            content,
            MEDIA_TYPES[QrFormat.PDF],
            f"phieu-qr-{agency.code}-{when:%Y%m%d}.pdf",
            len(slips),
            tuple(skipped),
        )
