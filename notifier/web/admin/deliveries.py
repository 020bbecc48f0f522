"""The delivery log: search the outbox, read one notification's attempts, retry a failure, export CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from notifier.rules.cells import safe_cell
from notifier.rules.clock import VN_TZ
from notifier.rules.kinds import REGISTRY
from notifier.rules.logmask import mask_contacts
from notifier.rules.outbox_status import NotificationStatus
from notifier.rules.phones import phone_or_none
from notifier.rules.portal import MAX_YEAR, MIN_YEAR
from notifier.store.models import AuditEntry, DeliveryAttempt, Dossier, Notification, Officer
from notifier.web.admin import labels
from notifier.web.admin.auth import AnyViewer, NotFound, RowId, Viewer, checked_form, service_of
from notifier.web.admin.web import flash, mask_address, page
from notifier.workflows.deliveries import RETRYABLE, retry_notification
from notifier.workflows.errors import NotFound as NoSuchRow
from notifier.workflows.errors import WrongState

router = APIRouter()

PAGE_SIZE = 50
MAX_PAGE = 1_000_000
STATUSES: tuple[NotificationStatus, ...] = tuple(NotificationStatus)

_NotifOfficer = aliased(Officer)

# A row records its channel only once sent; a failed one is known by the channel of its last attempt.
last_attempt_channel = (
    select(DeliveryAttempt.channel)
    .where(DeliveryAttempt.notification_id == Notification.id)
    .order_by(DeliveryAttempt.id.desc())
    .limit(1)
    .correlate(Notification)
    .scalar_subquery()
)
effective_channel = func.coalesce(Notification.channel, last_attempt_channel)


@dataclass
class LogFilter:
    code: str = ""
    phone: str = ""
    kind: str = ""
    channel: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: list[str] = field(default_factory=list)
    phone_e164: str | None = None

    @classmethod
    def parse(cls, params: Any) -> LogFilter:
        f = cls(
            code=str(params.get("code", "")).strip(),
            phone=str(params.get("phone", "")).strip(),
            kind=str(params.get("kind", "")).strip(),
            channel=str(params.get("channel", "")).strip(),
            status=str(params.get("status", "")).strip(),
        )
        if f.phone:
            f.phone_e164 = phone_or_none(f.phone)
            if f.phone_e164 is None:
                f.errors.append(f"Số điện thoại '{f.phone}' không hợp lệ.")
        for name, label in (("date_from", "Từ ngày"), ("date_to", "Đến ngày")):
            raw = str(params.get(name, "")).strip()
            if raw:
                try:
                    day = parse_day(raw)
                except ValueError:
                    f.errors.append(f"{label}: giá trị '{raw}' không phải ngày dd/mm/yyyy.")
                    continue
                if not MIN_YEAR <= day.year <= MAX_YEAR:  # 31/12/9999 overflowed the day after: a 500
                    f.errors.append(f"{label}: giá trị '{raw}': năm phải từ {MIN_YEAR} đến {MAX_YEAR}.")
                    continue
                setattr(f, name, day)
        try:
            # An offset past the database's integers was a 500; no log has a million pages.
            f.page = min(MAX_PAGE, max(1, int(str(params.get("page", "1")) or 1)))
        except ValueError:
            f.page = 1
        return f

    def query_string(self, **changes: Any) -> str:
        values = {
            "code": self.code,
            "phone": self.phone,
            "kind": self.kind,
            "channel": self.channel,
            "status": self.status,
            "date_from": format_day(self.date_from),
            "date_to": format_day(self.date_to),
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


def parse_day(raw: str) -> date:
    """dd/mm/yyyy as officers write it (d/m/yyyy too); yyyy-mm-dd is accepted for links and scripts."""
    parts = raw.split("/")
    if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts) and len(parts[2]) == 4:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    return date.fromisoformat(raw)


def format_day(d: date | None) -> str:
    return f"{d:%d/%m/%Y}" if d else ""


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=VN_TZ)


def search(viewer: Viewer, f: LogFilter) -> Select[Any]:
    """Notifications matching the filter, newest first, limited to what the viewer may see."""
    q = (
        select(Notification)
        .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
        .outerjoin(_NotifOfficer, _NotifOfficer.id == Notification.officer_id)
        .where(viewer.scope(func.coalesce(Dossier.agency_id, _NotifOfficer.agency_id)))
    )
    if f.code:
        # Part of a code finds it ("0001", "261201-00"): officers read codes off paper, in pieces.
        q = q.where(Dossier.code.icontains(f.code, autoescape=True))
    if f.phone:
        e164 = f.phone_e164 or "\x00no match"
        q = q.where(or_(Notification.recipient == e164, Dossier.phone == e164, _NotifOfficer.phone == e164))
    if f.kind:
        q = q.where(Notification.kind == f.kind)
    if f.channel:
        q = q.where(effective_channel == f.channel)
    if f.status:
        q = q.where(Notification.status == f.status)
    if f.date_from:
        q = q.where(Notification.created_at >= _day_start(f.date_from))
    if f.date_to:
        q = q.where(Notification.created_at < _day_start(f.date_to + timedelta(days=1)))
    return q.order_by(Notification.id.desc())


def _with_parties(q: Select[Any]) -> Select[Any]:
    return q.options(
        selectinload(Notification.dossier),
        selectinload(Notification.officer),
        selectinload(Notification.attempts_log),
    )


def channel_of(n: Notification) -> str | None:
    return n.channel or (n.attempts_log[-1].channel if n.attempts_log else None)


def recipient_of(n: Notification) -> str | None:
    return n.recipient or (n.attempts_log[-1].recipient if n.attempts_log else None)


def channels_seen(session: Session) -> list[str]:
    sent = set(session.scalars(select(Notification.channel).distinct()))
    tried = set(session.scalars(select(DeliveryAttempt.channel).distinct()))
    return sorted(c for c in sent | tried if c)


def load(session: Session, viewer: Viewer, notification_id: int) -> Notification:
    """One notification the viewer may see; another agency's is 404, as if it did not exist."""
    n: Notification | None = session.scalar(
        _with_parties(
            select(Notification)
            .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
            .outerjoin(_NotifOfficer, _NotifOfficer.id == Notification.officer_id)
            .where(
                Notification.id == notification_id,
                viewer.scope(func.coalesce(Dossier.agency_id, _NotifOfficer.agency_id)),
            )
        ).options(selectinload(Notification.attempts_log))
    )
    if n is None:
        raise NotFound(f"thông báo số {notification_id}")
    return n


@router.get("/log")
def log_page(request: Request, viewer: AnyViewer) -> Response:
    f = LogFilter.parse(request.query_params)
    service = service_of(request)
    with service.factory() as session:
        rows: list[Notification] = []
        total = 0
        if not f.errors:
            q = search(viewer, f)
            total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
            rows = list(session.scalars(_with_parties(q).offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        channels = channels_seen(session)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(
        request,
        "log.html",
        f=f,
        rows=rows,
        total=total,
        pages=pages,
        kinds=list(REGISTRY),
        statuses=STATUSES,
        channels=channels,
        retryable=RETRYABLE,
        channel_of=channel_of,
        recipient_of=recipient_of,
    )


CSV_COLUMNS: tuple[str, ...] = tuple(labels.LOG_CSV_HEADERS)


def csv_row(n: Notification, keys: bool = False) -> list[str]:
    """One row; `keys` (for scripts) writes kinds, audiences, channels and statuses as codes, otherwise as
    the page names them."""

    def dt(value: datetime | None) -> str:
        # The filter's format (09:00 01/12/2026) without Babel's per-call cost: exports can be long.
        return value.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y") if value else ""

    def name(table: dict[str, str], code: str | None) -> str:
        return (code or "") if keys else labels.label(table, code) if code else ""

    recipient = recipient_of(n)
    return [
        str(n.id),
        dt(n.created_at),
        n.dossier.code if n.dossier else "",
        name(labels.KIND_LABELS, n.kind),
        name(labels.AUDIENCE_LABELS, n.audience),
        name(labels.CHANNEL_LABELS, channel_of(n)),
        mask_address(recipient) if recipient else "",
        name(labels.STATUS_LABELS, n.status),
        str(n.attempts),
        "" if n.segments is None else str(n.segments),
        dt(n.sent_at),
        mask_contacts(n.error or "") if keys else labels.error_text(n.error),
    ]


def csv_keys(request: Request) -> bool:
    """`?headers=keys`: the machine-readable variant of an export (English keys and codes)."""
    return request.query_params.get("headers", "") == "keys"


@router.get("/log.csv")
def log_csv(request: Request, viewer: AnyViewer) -> Response:
    f = LogFilter.parse(request.query_params)
    service = service_of(request)
    if f.errors:
        return Response("; ".join(f.errors), status_code=422, media_type="text/plain; charset=utf-8")
    keys = csv_keys(request)
    header = list(CSV_COLUMNS) if keys else [labels.LOG_CSV_HEADERS[c] for c in CSV_COLUMNS]

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # The BOM makes Excel read the file as UTF-8, so Vietnamese names survive a double click.
        yield "\ufeff"
        writer.writerow(header)
        with service.factory() as session:
            # An admin's test sends stay in the log (to see them arrive) but out of the export.
            exported = search(viewer, f).where(Notification.is_test.is_(False))
            for n in session.scalars(_with_parties(exported).execution_options(yield_per=500)):
                writer.writerow([safe_cell(cell) for cell in csv_row(n, keys)])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    stamp = service.clock.now().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="nhat-ky-gui-tin-{stamp}.csv"'},
    )


@router.get("/log/{notification_id}")
def log_detail(request: Request, viewer: AnyViewer, notification_id: RowId) -> Response:
    service = service_of(request)
    with service.factory() as session:
        n = load(session, viewer, notification_id)
        attempts: list[DeliveryAttempt] = list(n.attempts_log)
        history = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.target == f"notification:{n.id}").order_by(AuditEntry.id)
            )
        )
    return page(
        request,
        "log_detail.html",
        n=n,
        attempts=attempts,
        history=history,
        retryable=RETRYABLE,
        # A row records its channel and address once sent; before that (failed, unreachable) the last
        # attempt's are the ones tried. Shown masked like everywhere on the page (`mask`).
        channel=channel_of(n),
        recipient=recipient_of(n),
    )


@router.post("/log/{notification_id}/retry")
async def log_retry(request: Request, viewer: AnyViewer, notification_id: RowId) -> Response:
    await checked_form(request)
    service = service_of(request)
    if not viewer.is_admin and viewer.agency_id is None:
        raise NotFound(f"thông báo số {notification_id}")
    agency_id = None if viewer.is_admin else viewer.agency_id
    try:
        await run_in_threadpool(retry_notification, service, notification_id, viewer.username, agency_id)
    except NoSuchRow as exc:
        raise NotFound(f"thông báo số {notification_id}") from exc
    except WrongState:
        flash(
            request, f"Thông báo số {notification_id} không ở trạng thái thất bại nên không gửi lại.", "error"
        )
    else:
        flash(request, f"Đã đưa thông báo số {notification_id} trở lại hàng đợi.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/log/{notification_id}", status_code=303)
