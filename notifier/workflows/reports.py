"""Monthly and period figures for Decision 766/QĐ-TTg and document 2839/UBND-KSTTHC.

Per agency and per procedure, over a period [start, end) in Vietnam time:
- received: dossiers with NgayTiepNhan in the period;
- resolved: dossiers now in 9/10 whose resolution time falls in the period. The resolution time is the
  first time the dossier reached 9 or 10 (the status event; for 10 that is NgayTra), else NgayTra;
- resolved on time / late: resolution time at or before / after the deadline. The deadline is the
  appointment before any apology (the earliest slip's old date, else `apology_old_due_at`, else
  NgayHenTra): an apology moves the citizen's appointment, not the agency's record. A supplement request's
  new date is the citizen's clock reset and does count. No deadline at all counts as on time;
- still overdue: dossiers whose deadline passed before the end of the period (or now, for the period still
  running) and that were in 2 or 4 at that moment (the last status event before it; their current status
  when no event is that old);
- apologies issued: Mẫu 04 documents issued in the period, and of them those for a dossier already
  extended once (not compliant: the rules allow one extension); overdue with an apology: among the late
  and still overdue dossiers, those with a Mẫu 04 issued before the end (a message alone is no apology);
- with fees / paid online: dossiers received in the period with a fee, and those of them marked paid
  (DaThanhToan: only payments through the DVCQG platform count, and the portal's flag is all we have);
- messages sent per channel and SMS segments: notifications sent in the period, counted for the
  dossier's agency and procedure, or the officer's agency for messages about no dossier (digests count
  at agency level only).

Item 1đ, units and officers with late dossiers: a late dossier is attributed to the inter-agency step that
overran its own deadline the most (its unit and handler), else to its agency and assigned officer.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select, text
from sqlalchemy.orm import Session, aliased

from notifier.config import ReportSettings
from notifier.outbox.spend import spent_query
from notifier.rules.cells import safe_cell
from notifier.rules.clock import VN_TZ
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status
from notifier.store.apikeys import live_dossier
from notifier.store.dossier_facts import END_STATES, NEVER_ACCEPTED, dossier_facts
from notifier.store.models import (
    Agency,
    ApologySlip,
    AwareDateTime,
    Dossier,
    DossierEvent,
    Notification,
    Officer,
    Procedure,
)
from notifier.workflows.errors import InvalidInput
from notifier.workflows.service import Service
from notifier.workflows.steps import late_steps

RESOLVED = (int(Status.RESOLVED), int(Status.RETURNED))
PRINT_TEMPLATES = Path(__file__).parents[1] / "templates" / "print"
FORMATS = ("json", "csv", "xlsx", "html")


# ------------------------------------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    start: date  # first day, inclusive
    end: date  # day after the last one
    label: str

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=VN_TZ)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, datetime.min.time(), tzinfo=VN_TZ)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def slug(self) -> str:
        return f"{self.start:%Y%m%d}-{self.last_day:%Y%m%d}"


def month_period(value: str) -> Period:
    """`2026-10` (or `10/2026`) → October 2026."""
    text = (value or "").strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text) or re.fullmatch(r"(\d{1,2})/(\d{4})", text)
    if m is None:
        raise ValueError(f"month: value '{value}': expected YYYY-MM, e.g. 2026-10")
    year, month = (int(m[1]), int(m[2])) if "-" in text else (int(m[2]), int(m[1]))
    if not 1 <= month <= 12:
        raise ValueError(f"month: value '{value}': month must be 1-12")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"month: value '{value}': year must be {MIN_YEAR}-{MAX_YEAR}")
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return Period(start, end, f"tháng {month:02d}/{year}")


MIN_YEAR, MAX_YEAR = 1900, 2200


def _day(value: str, name: str) -> date:
    text = (value or "").strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            day = date(int(m[3]), int(m[2]), int(m[1]))
        else:
            day = date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{name}: value '{value}': expected a date like 2026-07-01 or 01/07/2026") from exc
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        # 0001-01-01 and 9999-12-31 are no report's, and at the calendar's edge the day after overflows.
        raise ValueError(f"{name}: value '{value}': year must be {MIN_YEAR}-{MAX_YEAR}")
    return day


def span_period(from_: str, to: str) -> Period:
    """Both days included: `--from 2026-01-01 --to 2026-06-30` is the first half of 2026."""
    start, last = _day(from_, "from"), _day(to, "to")
    if last < start:
        raise ValueError(f"to: value '{to}': before from '{from_}'")
    return Period(start, last + timedelta(days=1), f"từ {start:%d/%m/%Y} đến {last:%d/%m/%Y}")


# ------------------------------------------------------------------------------------------------ figures


@dataclass
class Figures:
    received: int = 0
    resolved: int = 0
    on_time: int = 0
    late: int = 0
    still_overdue: int = 0
    apologies: int = 0
    extensions_not_compliant: int = 0  # Mẫu 04 issued for a dossier already extended once
    overdue_with_apology: int = 0
    with_fees: int = 0
    paid_online: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    sms_segments: int = 0
    cost_vnd: int = 0  # what the messages sent cost (notifications.cost_vnd; channels' price_vnd)
    # Decision 766 (indicator 2.1 and the portal's published table): ended at least a day early, still
    # being processed within the deadline at the end, open at the start (carried over), received by channel.
    early: int = 0
    in_progress_on_time: int = 0
    carried_over: int = 0
    received_direct: int = 0
    received_online: int = 0
    received_post: int = 0

    @property
    def overdue(self) -> int:
        return self.late + self.still_overdue

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None

    @property
    def apology_rate(self) -> float | None:
        return self.overdue_with_apology / self.overdue if self.overdue else None

    @property
    def paid_online_rate(self) -> float | None:
        return self.paid_online / self.with_fees if self.with_fees else None

    def add(self, other: Figures) -> None:
        for name in (
            "received",
            "resolved",
            "on_time",
            "late",
            "still_overdue",
            "apologies",
            "extensions_not_compliant",
            "overdue_with_apology",
            "with_fees",
            "paid_online",
            "sms_segments",
            "cost_vnd",
            "early",
            "in_progress_on_time",
            "carried_over",
            "received_direct",
            "received_online",
            "received_post",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for channel, count in other.sent.items():
            self.sent[channel] = self.sent.get(channel, 0) + count


@dataclass
class ProcedureRow:
    code: str
    name: str
    figures: Figures


# The row of the messages that belong to no agency (notifications to the province's admins).
NO_AGENCY = "Không thuộc cơ quan nào (tin gửi quản trị viên)"


@dataclass
class AgencyBlock:
    code: str
    name: str
    figures: Figures
    procedures: list[ProcedureRow]


@dataclass
class LateEntry:
    unit: str
    officer: str
    source: str  # "step": an inter-agency step overran; "agency": the processing agency itself
    late_resolved: int = 0
    still_overdue: int = 0
    dossiers: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.late_resolved + self.still_overdue


@dataclass
class Report:
    period: Period
    generated_at: datetime
    agencies: list[AgencyBlock]
    total: Figures
    channels: list[str]
    late: list[LateEntry]


# ---------------------------------------------------------------------------------------------- the query


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, AwareDateTime())


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _facts(period: Period, as_of: datetime) -> Any:
    """One row per dossier that matters for the period, with 0/1 flags for each figure (a CTE).

    `as_of` is the end of the period, or now for the period still running: "still overdue" and "has an
    apology" are judged at that moment. Resolution time, deadline and on time are the store's one
    definition (`dossier_facts`), shared with the admin dashboard.
    """
    start, end, at = _at(period.start_at), _at(period.end_at), _at(as_of)
    facts = dossier_facts(period.end_at)
    resolved_at, deadline = facts.selected_columns.resolved_at, facts.selected_columns.deadline
    received_at = func.coalesce(Dossier.received_at, Dossier.created_at)
    not_resolved_yet = or_(resolved_at.is_(None), resolved_at >= at)
    may_be_overdue = and_(deadline < at, received_at < at, not_resolved_yet)
    # Accepted: not in 1 or 3 now, or rejected after acceptance (its processing has an end time).
    accepted = or_(Dossier.status.not_in(NEVER_ACCEPTED), resolved_at.is_not(None))

    def open_at(moment: ColumnElement[datetime]) -> ColumnElement[bool]:
        """Accepted, received before `moment` and its processing not ended by then."""
        not_ended = or_(resolved_at >= moment, and_(resolved_at.is_(None), Dossier.status.not_in(END_STATES)))
        return and_(accepted, received_at < moment, not_ended)

    received_in = and_(Dossier.received_at >= start, Dossier.received_at < end, accepted)
    ev = aliased(DossierEvent)
    status_at_end = (
        select(ev.to_status)
        .where(ev.dossier_id == Dossier.id, ev.occurred_at < at)
        .order_by(ev.occurred_at.desc(), ev.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    base = (
        facts.add_columns(
            Dossier.code.label("code"),
            Dossier.agency_id.label("agency_id"),
            Dossier.procedure_id.label("procedure_id"),
            Dossier.officer_id.label("officer_id"),
            # Dossiers not accepted (1, 3) are neither received nor with fees (Decision 766).
            _flag(received_in).label("received"),
            (Dossier.fee_amount > 0).label("has_fee"),
            # Online: paid through the national platform (1) or an own gateway (2); DaThanhToan, which cash
            # at the desk also sets, does not count.
            Dossier.online_payment.in_((1, 2)).label("fee_paid"),
            Dossier.filing_channel.label("filing_channel"),
            _flag(open_at(start)).label("carried_over"),
            _flag(open_at(at)).label("open_at_end"),
            # Only dossiers that may be overdue need their past status (a correlated look-up).
            case((may_be_overdue, func.coalesce(status_at_end, Dossier.status)), else_=literal(None)).label(
                "end_status"
            ),
        )
        .where(
            or_(
                and_(Dossier.received_at >= start, Dossier.received_at < end),
                and_(resolved_at >= start, resolved_at < end),
                may_be_overdue,
                open_at(start),
                open_at(at),
            ),
            live_dossier(),  # test keys' dossiers are no one's work
        )
        .subquery("base")
    )
    resolved_in = and_(base.c.resolved_at >= start, base.c.resolved_at < end)
    late = and_(resolved_in, ~base.c.on_time)
    still = base.c.end_status.in_([int(s) for s in OPEN_FOR_DEADLINE])
    # "Apologised" means an issued Mẫu 04 document, not a message sent (the honest overdue notice is none).
    apologised = exists().where(ApologySlip.dossier_id == base.c.dossier_id, ApologySlip.issued_at < at)
    received = base.c.received == 1
    return select(
        base.c.dossier_id.label("id"),
        base.c.code,
        base.c.agency_id,
        base.c.procedure_id,
        base.c.officer_id,
        base.c.received,
        _flag(resolved_in).label("resolved"),
        _flag(and_(resolved_in, base.c.on_time)).label("on_time"),
        _flag(late).label("late"),
        _flag(still).label("still_overdue"),
        _flag(and_(or_(late, still), apologised)).label("apologised"),
        _flag(and_(received, base.c.has_fee)).label("with_fees"),
        _flag(and_(received, base.c.has_fee, base.c.fee_paid)).label("paid"),
        _flag(and_(resolved_in, base.c.early)).label("early"),
        _flag(and_(base.c.open_at_end == 1, ~func.coalesce(still, False))).label("in_progress_on_time"),
        base.c.carried_over,
        _flag(and_(received, base.c.filing_channel == 1)).label("received_direct"),
        _flag(and_(received, base.c.filing_channel == 2)).label("received_online"),
        _flag(and_(received, base.c.filing_channel == 3)).label("received_post"),
    ).cte("facts")


def build_report(session: Session, period: Period, now: datetime) -> Report:
    start, end = _at(period.start_at), _at(period.end_at)
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL's JIT judges these aggregates expensive and spends longer compiling them (1.5 s for a
        # month of 100k dossiers) than running them (0.3 s). LOCAL: only for this read's transaction.
        session.execute(text("SET LOCAL jit = off"))
    # The running period is judged now; a second's margin keeps what happened at this very instant inside.
    as_of = min(period.end_at, now + timedelta(seconds=1))
    facts = _facts(period, as_of)
    by_key: dict[tuple[int | None, int | None], Figures] = defaultdict(Figures)

    for agency_id, procedure_id, *sums in session.execute(
        select(
            facts.c.agency_id,
            facts.c.procedure_id,
            func.sum(facts.c.received),
            func.sum(facts.c.resolved),
            func.sum(facts.c.on_time),
            func.sum(facts.c.late),
            func.sum(facts.c.still_overdue),
            func.sum(facts.c.apologised),
            func.sum(facts.c.with_fees),
            func.sum(facts.c.paid),
            func.sum(facts.c.early),
            func.sum(facts.c.in_progress_on_time),
            func.sum(facts.c.carried_over),
            func.sum(facts.c.received_direct),
            func.sum(facts.c.received_online),
            func.sum(facts.c.received_post),
        ).group_by(facts.c.agency_id, facts.c.procedure_id)
    ):
        f = by_key[(agency_id, procedure_id)]
        (
            f.received,
            f.resolved,
            f.on_time,
            f.late,
            f.still_overdue,
            f.overdue_with_apology,
            f.with_fees,
            f.paid_online,
            f.early,
            f.in_progress_on_time,
            f.carried_over,
            f.received_direct,
            f.received_online,
            f.received_post,
        ) = (int(s or 0) for s in sums)

    for agency_id, procedure_id, count, further in session.execute(
        select(
            Dossier.agency_id,
            Dossier.procedure_id,
            func.count(ApologySlip.id),
            func.coalesce(func.sum(case((ApologySlip.extension_no > 1, 1), else_=0)), 0),
        )
        .join(Dossier, Dossier.id == ApologySlip.dossier_id)
        .where(ApologySlip.issued_at >= start, ApologySlip.issued_at < end, live_dossier())
        .group_by(Dossier.agency_id, Dossier.procedure_id)
    ):
        by_key[(agency_id, procedure_id)].apologies = int(count)
        by_key[(agency_id, procedure_id)].extensions_not_compliant = int(further)

    msg_agency = func.coalesce(Dossier.agency_id, Officer.agency_id)
    channels: set[str] = set()
    # The messages the spending caps count (outbox.spend), so the report's cost and the caps agree.
    for agency_id, procedure_id, channel, count, segments, cost in session.execute(
        spent_query(period.start_at, period.end_at)
        .with_only_columns(
            msg_agency,
            Dossier.procedure_id,
            Notification.channel,
            func.count(Notification.id),
            func.coalesce(func.sum(Notification.segments), 0),
            func.coalesce(func.sum(Notification.cost_vnd), 0),
        )
        .where(
            Notification.is_test.is_(False),  # an admin's test sends cost the province nothing to report
            live_dossier(),
        )
        .group_by(msg_agency, Dossier.procedure_id, Notification.channel)
    ):
        name = channel or "?"
        channels.add(name)
        f = by_key[(agency_id, procedure_id)]
        f.sent[name] = f.sent.get(name, 0) + int(count)
        f.sms_segments += int(segments or 0)
        f.cost_vnd += int(cost or 0)

    agency_ids = {a for a, _ in by_key if a is not None}
    procedure_ids = {p for _, p in by_key if p is not None}
    agencies = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))}
    procedures = {p.id: p for p in session.scalars(select(Procedure).where(Procedure.id.in_(procedure_ids)))}

    blocks: dict[int, AgencyBlock] = {}
    total = Figures()
    # Messages of no agency (spend warnings to the province's admins): a row of their own, last, so that the
    # total is the sum of the rows an official adds up.
    unowned = AgencyBlock("", NO_AGENCY, Figures(), [])
    for (agency_id, procedure_id), f in by_key.items():
        total.add(f)
        if agency_id is None:
            unowned.figures.add(f)
            continue
        block = blocks.get(agency_id)
        if block is None:
            a = agencies[agency_id]
            block = blocks[agency_id] = AgencyBlock(a.code, a.name, Figures(), [])
        block.figures.add(f)
        if procedure_id is not None:
            p = procedures[procedure_id]
            block.procedures.append(ProcedureRow(p.code, p.name, f))
    for block in blocks.values():
        block.procedures.sort(key=lambda r: r.code)
    ordered = sorted(blocks.values(), key=lambda b: (b.name, b.code))
    if unowned.figures != Figures():
        ordered.append(unowned)
    return Report(period, now, ordered, total, sorted(channels), _late_list(session, facts, as_of, agencies))


def _late_list(session: Session, facts: Any, as_of: datetime, agencies: dict[int, Agency]) -> list[LateEntry]:
    rows = session.execute(
        select(facts.c.id, facts.c.code, facts.c.agency_id, facts.c.officer_id, facts.c.late)
        .where(or_(facts.c.late == 1, facts.c.still_overdue == 1))
        .order_by(facts.c.code)
    ).all()
    if not rows:
        return []
    late = select(facts.c.id).where(or_(facts.c.late == 1, facts.c.still_overdue == 1))
    blame = late_steps(session, late, as_of)
    officer_ids = {r.officer_id for r in rows if r.officer_id is not None}
    officers = dict(
        session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(officer_ids))).all()
    )
    missing = {r.agency_id for r in rows} - set(agencies)
    if missing:
        agencies = {
            **agencies,
            **{a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(missing)))},
        }
    entries: dict[tuple[str, str, str], LateEntry] = {}
    for r in rows:
        b = blame.get(r.id)
        if b is not None:
            key = (b.unit, b.officer or "—", "step")
        else:
            officer = officers.get(r.officer_id) if r.officer_id is not None else None
            key = (agencies[r.agency_id].name, officer or "(chưa phân công)", "agency")
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = LateEntry(*key)
        if r.late:
            entry.late_resolved += 1
        else:
            entry.still_overdue += 1
        entry.dossiers.append(r.code)
    return sorted(entries.values(), key=lambda e: (-e.total, e.unit, e.officer))


# --------------------------------------------------------------------------------------------- exporting

# "(*)": notifier's own measure where the published 766 calculation says nothing or differs (see the notes).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("carried_over", "Kỳ trước chuyển sang"),
    ("received", "Hồ sơ tiếp nhận"),
    ("received_direct", "Tiếp nhận trực tiếp"),
    ("received_online", "Tiếp nhận trực tuyến"),
    ("received_post", "Tiếp nhận qua dịch vụ bưu chính công ích"),
    ("resolved", "Hồ sơ đã giải quyết"),
    ("early", "Giải quyết trước hạn (*)"),
    ("on_time", "Giải quyết đúng hạn"),
    ("late", "Giải quyết quá hạn"),
    ("on_time_pct", "Tỷ lệ đúng hạn (%)"),
    ("in_progress_on_time", "Đang giải quyết trong hạn"),
    ("still_overdue", "Đang giải quyết quá hạn"),
    ("apologies", "Văn bản xin lỗi (Mẫu 04) đã lập"),
    ("extensions_not_compliant", "Gia hạn lần hai trở lên (không đúng quy định)"),
    ("overdue_with_apology", "Hồ sơ quá hạn có Mẫu 04"),
    ("apology_pct", "Tỷ lệ hồ sơ quá hạn có Mẫu 04 (%)"),
    ("with_fees", "Hồ sơ có phí, lệ phí"),
    ("paid_online", "Thanh toán trực tuyến"),
    ("paid_online_pct", "Tỷ lệ thanh toán trực tuyến (%)"),
)
LATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "Đơn vị"),
    ("officer", "Cán bộ"),
    ("source", "Nguồn"),
    ("late_resolved", "Giải quyết quá hạn"),
    ("still_overdue", "Đang quá hạn"),
    ("late_total", "Tổng hồ sơ trễ hạn"),
    ("dossiers", "Mã hồ sơ"),
)
LEVELS = {"agency": "Cơ quan", "procedure": "Thủ tục", "total": "Tổng cộng"}
SOURCES = {"step": "Bước liên thông", "agency": "Cơ quan chủ trì"}


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def figure_values(f: Figures, channels: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "carried_over": f.carried_over,
        "received": f.received,
        "received_direct": f.received_direct,
        "received_online": f.received_online,
        "received_post": f.received_post,
        "resolved": f.resolved,
        "early": f.early,
        "on_time": f.on_time,
        "late": f.late,
        "on_time_pct": _pct(f.on_time_rate),
        "in_progress_on_time": f.in_progress_on_time,
        "still_overdue": f.still_overdue,
        "apologies": f.apologies,
        "extensions_not_compliant": f.extensions_not_compliant,
        "overdue_with_apology": f.overdue_with_apology,
        "apology_pct": _pct(f.apology_rate),
        "with_fees": f.with_fees,
        "paid_online": f.paid_online,
        "paid_online_pct": _pct(f.paid_online_rate),
    }
    for channel in channels:
        out[f"sent_{channel}"] = f.sent.get(channel, 0)
    out["sent_total"] = f.sent_total
    out["sms_segments"] = f.sms_segments
    out["cost_vnd"] = f.cost_vnd
    return out


def _columns(channels: list[str]) -> list[tuple[str, str]]:
    return [
        *COLUMNS,
        *((f"sent_{c}", f"Tin đã gửi qua {c}") for c in channels),
        ("sent_total", "Tổng tin đã gửi"),
        ("sms_segments", "Số phần tin SMS"),
        ("cost_vnd", "Chi phí gửi tin (đồng)"),
    ]


def flat_rows(report: Report) -> list[dict[str, Any]]:
    """Agency rows, each followed by its procedures, then the total; the shape of CSV and XLSX."""
    rows: list[dict[str, Any]] = []
    for block in report.agencies:
        rows.append(
            {
                "level": "agency",
                "agency_code": block.code,
                "agency_name": block.name,
                "procedure_code": "",
                "procedure_name": "",
                **figure_values(block.figures, report.channels),
            }
        )
        for p in block.procedures:
            rows.append(
                {
                    "level": "procedure",
                    "agency_code": block.code,
                    "agency_name": block.name,
                    "procedure_code": p.code,
                    "procedure_name": p.name,
                    **figure_values(p.figures, report.channels),
                }
            )
    rows.append(
        {
            "level": "total",
            "agency_code": "",
            "agency_name": "",
            "procedure_code": "",
            "procedure_name": "",
            **figure_values(report.total, report.channels),
        }
    )
    return rows


def late_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "unit": e.unit,
            "officer": e.officer,
            "source": e.source,
            "late_resolved": e.late_resolved,
            "still_overdue": e.still_overdue,
            "late_total": e.total,
            "dossiers": " ".join(e.dossiers),
        }
        for e in report.late
    ]


def to_json(report: Report) -> dict[str, Any]:
    def block(f: Figures) -> dict[str, Any]:
        return figure_values(f, report.channels)

    return {
        "period": {
            "from": report.period.start.isoformat(),
            "to": report.period.last_day.isoformat(),
            "label": report.period.label,
        },
        "generated_at": report.generated_at.isoformat(),
        "channels": report.channels,
        "total": block(report.total),
        "agencies": [
            {
                "code": b.code,
                "name": b.name,
                **block(b.figures),
                "procedures": [{"code": p.code, "name": p.name, **block(p.figures)} for p in b.procedures],
            }
            for b in report.agencies
        ],
        "late": late_rows(report),
    }


# The CSV's first columns, before the figures (`_columns`).
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("level", "Cấp"),
    ("agency_code", "Mã cơ quan"),
    ("agency_name", "Tên cơ quan"),
    ("procedure_code", "Mã thủ tục"),
    ("procedure_name", "Tên thủ tục"),
)


def to_csv(report: Report, keys: bool = False) -> str:
    """Two tables separated by an empty line: the figures, then the units and officers with late dossiers.

    Headed in Vietnamese, levels and sources by name, for people; with `keys`, headed by the keys
    documented in README, levels and sources as codes (machine-readable). Excel opens the UTF-8 BOM.
    """
    buf = io.StringIO()
    buf.write("\ufeff")
    columns = [*ROW_COLUMNS, *_columns(report.channels)]
    writer = csv.DictWriter(buf, fieldnames=[k for k, _ in columns], lineterminator="\r\n")
    writer.writerow({k: k if keys else label for k, label in columns})
    for row in flat_rows(report):
        if not keys:
            row["level"] = LEVELS.get(row["level"], row["level"])
        writer.writerow({k: "" if v is None else safe_cell(v) for k, v in row.items()})
    buf.write("\r\n")
    late_writer = csv.DictWriter(buf, fieldnames=[k for k, _ in LATE_COLUMNS], lineterminator="\r\n")
    late_writer.writerow({k: k if keys else label for k, label in LATE_COLUMNS})
    for row in late_rows(report):
        if not keys:
            row["source"] = SOURCES.get(row["source"], row["source"])
        late_writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _text_cells(cells: Any) -> None:
    """openpyxl stores text starting with "=" as a formula: an agency's name must stay text (the CSV
    gets an apostrophe instead, safe_cell)."""
    for cell in cells:
        if isinstance(cell.value, str) and safe_cell(cell.value) != cell.value:
            cell.data_type = "s"


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Tổng hợp"
    ws.append([f"BÁO CÁO KẾT QUẢ GIẢI QUYẾT HỒ SƠ THỦ TỤC HÀNH CHÍNH {report.period.label.upper()}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([f"Lập lúc {report.generated_at.astimezone(VN_TZ):%H:%M %d/%m/%Y}"])
    columns = _columns(report.channels)
    head = ["Cấp", "Mã cơ quan", "Cơ quan", "Mã thủ tục", "Thủ tục", *(label for _, label in columns)]
    ws.append(head)
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    pct_keys = {"on_time_pct", "apology_pct", "paid_online_pct"}
    for row in flat_rows(report):
        values: list[Any] = [
            LEVELS[row["level"]],
            row["agency_code"],
            row["agency_name"],
            row["procedure_code"],
            row["procedure_name"],
        ]
        for key, _ in columns:
            v = row[key]
            values.append(None if v is None else (v / 100 if key in pct_keys else v))
        ws.append(values)
        _text_cells(ws[ws.max_row])
        if row["level"] != "procedure":
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
        for i, (key, _) in enumerate(columns, start=6):
            if key in pct_keys:
                ws.cell(ws.max_row, i).number_format = "0.0%"
    ws.freeze_panes = ws.cell(header_row + 1, 6)
    for i, width in enumerate([10, 16, 34, 12, 48], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for i in range(6, 6 + len(columns)):
        ws.column_dimensions[get_column_letter(i)].width = 14

    late = wb.create_sheet("Đơn vị, cá nhân trễ hạn")
    late.append([f"ĐƠN VỊ, CÁ NHÂN ĐỂ HỒ SƠ TRỄ HẠN {report.period.label.upper()}"])
    late["A1"].font = Font(bold=True, size=13)
    late.append([])
    late.append([label for _, label in LATE_COLUMNS])
    for cell in late[late.max_row]:
        cell.font = Font(bold=True)
    for row in late_rows(report):
        late.append([SOURCES.get(v, v) if k == "source" else v for k, v in row.items()])
        _text_cells(late[late.max_row])
    for i, width in enumerate([40, 28, 18, 14, 14, 14, 60], start=1):
        late.column_dimensions[get_column_letter(i)].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}".replace(".", ",") + "%"


LABEL_CHARS = 36  # characters per label line that fit the label column at 12 px
LINE_H = 14


def wrap_label(name: str, width: int = LABEL_CHARS) -> list[str]:
    """An agency's name in lines of at most `width` characters, broken between words (a word longer than
    a line is cut): long names ("Trung tâm Phục vụ hành chính công thành phố Hải Phòng") must not run
    into the bars."""
    lines: list[str] = []
    for word in name.split():
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def chart(report: Report, width: int = 640) -> dict[str, Any]:
    """Bars of on-time rate per agency that resolved anything, for the inline SVG; each row is as tall as
    its wrapped label."""
    bars = [b for b in report.agencies if b.figures.on_time_rate is not None]
    label_w, bar_h, gap, top = 260, 20, 8, 24
    plot_w = width - label_w - 60
    out = []
    y = top
    for b in bars:
        rate = b.figures.on_time_rate or 0.0
        lines = wrap_label(b.name)
        row_h = max(bar_h, len(lines) * LINE_H + 6)
        out.append(
            {
                "label": b.name,
                "lines": lines,
                "y": y,
                "text_y": y + (row_h - len(lines) * LINE_H) / 2 + LINE_H - 3,
                "bar_y": y + (row_h - bar_h) / 2,
                "width": round(plot_w * rate, 1),
                "value": _percent(rate),
                "low": rate < 0.95,
            }
        )
        y += row_h + gap
    return {
        "width": width,
        "height": y + 10,
        "label_w": label_w,
        "plot_w": plot_w,
        "bar_h": bar_h,
        "line_h": LINE_H,
        "bars": out,
    }


@dataclass(frozen=True)
class DocumentForm:
    """The publishable form's header and footer (config `[report]`)."""

    parent_body: str
    issuing_body: str
    number_symbol: str
    place: str
    recipients: list[str]
    signer_title: list[str]
    signer_name: str

    @classmethod
    def of(cls, settings: ReportSettings) -> DocumentForm:
        return cls(
            settings.parent_body,
            settings.issuing_body,
            settings.number_symbol,
            settings.place,
            list(settings.recipients),
            settings.signer_title.splitlines(),
            settings.signer_name,
        )


def document_date(place: str, day: date) -> str:
    """Decree 30/2020: "Hải Phòng, ngày 05 tháng 3 năm 2027" (day below 10 and months 1, 2 padded)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


def to_html(report: Report, form: DocumentForm | None = None) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PRINT_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=_number, percent=_percent)
    form = form or DocumentForm.of(ReportSettings())
    channels = report.channels
    html = env.get_template("report.html.j2").render(
        report=report,
        form=form,
        dated=document_date(form.place, report.generated_at.astimezone(VN_TZ).date()),
        values=lambda f: figure_values(f, channels),
        pct_keys=("on_time_pct", "apology_pct", "paid_online_pct"),
        columns=_columns(report.channels),
        chart=chart(report),
        sources=SOURCES,
        generated=report.generated_at.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y"),
    )
    return unicodedata.normalize("NFC", html)


def render(
    report: Report, fmt: str, form: DocumentForm | None = None, keys: bool = False
) -> tuple[bytes, str]:
    """(body, media type) in one of FORMATS; `form` is the HTML document's header and footer; `keys`
    heads a CSV with keys instead of Vietnamese names."""
    import json

    if fmt == "csv":
        return to_csv(report, keys).encode("utf-8"), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        return to_xlsx(report), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if fmt == "html":
        return to_html(report, form).encode("utf-8"), "text/html; charset=utf-8"
    if fmt == "json":
        return json.dumps(to_json(report), ensure_ascii=False).encode("utf-8"), "application/json"
    raise ValueError(f"format: value '{fmt}': expected one of {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------------------------ service


@dataclass(frozen=True)
class RenderedReport:
    period: Period
    fmt: str
    body: bytes
    media_type: str

    @property
    def filename(self) -> str:
        return f"bao-cao-{self.period.slug}.{self.fmt}"


def _period_refused(exc: ValueError, given: dict[str, str]) -> InvalidInput:
    # The period parsers word their errors "<parameter>: value '<value>': <reason>"; `given` holds the values.
    message = str(exc)
    field = message.partition(": value ")[0]
    value = given.get(field, "")
    reason = message.removeprefix(f"{field}: value '{value}': ")
    return InvalidInput(field, value, reason, refusal="report_period")


class ReportWorkflow:
    """The 766 figures of a month or of any span of days, rendered as json, csv, xlsx or html."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def monthly(self, month: str, fmt: str = "json", keys: bool = False) -> RenderedReport:
        """`2026-10` (or `10/2026`)."""
        try:
            period = month_period(month)
        except ValueError as exc:
            raise _period_refused(exc, {"month": month}) from exc
        return self.for_period(period, fmt, keys)

    def span(self, from_: str, to: str, fmt: str = "json", keys: bool = False) -> RenderedReport:
        """Both days included, e.g. the six-monthly report."""
        try:
            period = span_period(from_, to)
        except ValueError as exc:
            raise _period_refused(exc, {"from": from_, "to": to}) from exc
        return self.for_period(period, fmt, keys)

    def for_period(self, period: Period, fmt: str, keys: bool = False) -> RenderedReport:
        if fmt not in FORMATS:
            expected = f"expected one of {', '.join(FORMATS)}"
            raise InvalidInput("format", fmt, expected, refusal="report_format")
        with self.service.factory() as session:
            report = build_report(session, period, self.service.clock.now())
        body, media_type = render(report, fmt, DocumentForm.of(self.service.settings.report), keys)
        return RenderedReport(period, fmt, body, media_type)
