"""The dashboard: today's messages by channel and status, failures, queue depth, overdue dossiers by
agency, and the on-time rate per agency over the last 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased, selectinload
from starlette.responses import Response

from notifier.rules.clock import VN_TZ
from notifier.rules.outbox_status import MISSED_STATUSES, PENDING_STATUSES, REACHED_STATUSES
from notifier.rules.outbox_status import NotificationStatus as S
from notifier.rules.statuses import OPEN_FOR_DEADLINE
from notifier.store.apikeys import live_dossier
from notifier.store.dossier_facts import dossier_facts
from notifier.store.models import Agency, Dossier, Notification, Officer
from notifier.web.admin.auth import AnyViewer, Viewer, service_of
from notifier.web.admin.chart import Bar, rate_bars
from notifier.web.admin.deliveries import effective_channel
from notifier.web.admin.web import page
from notifier.workflows.spend import month_spend

router = APIRouter()

ON_TIME_WINDOW = timedelta(days=30)

_Officer = aliased(Officer)


@dataclass
class Figures:
    today: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> count
    statuses: list[str] = field(default_factory=list)
    sent_today: int = 0
    failed_today: int = 0
    queue_due: int = 0
    queue_later: int = 0
    sending: int = 0
    recent_failures: list[Notification] = field(default_factory=list)
    overdue: list[tuple[str, int]] = field(default_factory=list)  # agency name, overdue dossiers
    on_time: list[tuple[str, int, int]] = field(default_factory=list)  # agency name, on time, resolved


def _scoped(viewer: Viewer, stmt: Any) -> Any:
    return (
        stmt.outerjoin(Dossier, Dossier.id == Notification.dossier_id)
        .outerjoin(_Officer, _Officer.id == Notification.officer_id)
        .where(viewer.scope(func.coalesce(Dossier.agency_id, _Officer.agency_id)), live_dossier())
        .where(Notification.is_test.is_(False))  # an admin's test sends are not the service's work
    )


def figures(session: Session, viewer: Viewer, now: datetime) -> Figures:
    f = Figures()
    day = datetime.combine(now.astimezone(VN_TZ).date(), time(0), tzinfo=VN_TZ)
    tomorrow = day + timedelta(days=1)
    # A message belongs to the day it was sent, or for unsent ones the day it last changed: a citizen
    # message queued at 22:00 and held by quiet hours counts on the morning it goes out.
    moment = func.coalesce(Notification.sent_at, Notification.updated_at)
    channel = func.coalesce(effective_channel, "")
    rows = session.execute(
        _scoped(viewer, select(channel, Notification.status, func.count()))
        .where(moment >= day, moment < tomorrow)
        .group_by(channel, Notification.status)
    ).all()
    seen_statuses: set[str] = set()
    for ch, status, count in rows:
        f.today.setdefault(ch, {})[status] = count
        seen_statuses.add(status)
        if status in REACHED_STATUSES:
            f.sent_today += count
        if status in MISSED_STATUSES:
            f.failed_today += count
    order = tuple(S)
    f.statuses = [s for s in order if s in seen_statuses] + sorted(seen_statuses - set(order))

    queue = session.execute(
        _scoped(
            viewer,
            select(
                func.count().filter(and_(Notification.status == S.QUEUED, Notification.not_before <= now)),
                func.count().filter(and_(Notification.status == S.QUEUED, Notification.not_before > now)),
                func.count().filter(Notification.status == S.SENDING),
            ),
        ).where(Notification.status.in_(PENDING_STATUSES))
    ).one()
    f.queue_due, f.queue_later, f.sending = (int(v or 0) for v in queue)

    f.recent_failures = list(
        session.scalars(
            _scoped(viewer, select(Notification))
            .where(Notification.status.in_(MISSED_STATUSES))
            .options(selectinload(Notification.dossier))
            .order_by(Notification.updated_at.desc(), Notification.id.desc())
            .limit(8)
        )
    )

    f.overdue = [
        (name, count)
        for name, count in session.execute(
            select(Agency.name, func.count(Dossier.id))
            .join(Dossier, Dossier.agency_id == Agency.id)
            .where(
                Dossier.status.in_(OPEN_FOR_DEADLINE),
                Dossier.due_at < now,
                viewer.scope(Dossier.agency_id),
                live_dossier(),
            )
            .group_by(Agency.name)
            .order_by(func.count(Dossier.id).desc(), Agency.name)
        )
    ]

    # Dossiers resolved in the window, judged as the 766 report judges them (notifier.store.dossier_facts):
    # by the appointment before any apology. As in the report, a second's margin keeps what happened at
    # this very instant inside.
    until = now + timedelta(seconds=1)
    facts = dossier_facts(until)
    resolved_at = facts.selected_columns.resolved_at
    recent = (
        facts.add_columns(Dossier.agency_id.label("agency_id"))
        .where(
            resolved_at >= now - ON_TIME_WINDOW,
            resolved_at < until,
            viewer.scope(Dossier.agency_id),
            live_dossier(),
        )
        .subquery("recent")
    )
    f.on_time = [
        (name, int(good or 0), int(total))
        for name, good, total in session.execute(
            select(Agency.name, func.sum(case((recent.c.on_time, 1), else_=0)), func.count())
            .join(recent, recent.c.agency_id == Agency.id)
            .group_by(Agency.name)
            .order_by(Agency.name)
        )
    ]
    return f


def on_time_chart(f: Figures) -> Any:
    bars = [Bar(name, good / total, f"{good}/{total}") for name, good, total in f.on_time if total]
    return rate_bars(bars, "Tỷ lệ hồ sơ giải quyết đúng hạn theo đơn vị, 30 ngày qua")


@router.get("/")
def dashboard(request: Request, viewer: AnyViewer) -> Response:
    service = service_of(request)
    now = service.clock.now()
    with service.factory() as session:
        f = figures(session, viewer, now)
        scope = None if viewer.is_admin else ([viewer.agency_id] if viewer.agency_id is not None else [])
        spend = month_spend(session, service.settings.spend, now, scope)
    chart = on_time_chart(f)
    return page(request, "dashboard.html", f=f, now=now, chart=chart, spend=spend, states=SPEND_STATES)


# How each agency stands against its monthly budget of a channel (notifier.rules.spend.SpendState).
SPEND_STATES = {"ok": "Trong ngân sách", "warned": "Đã đến ngưỡng cảnh báo", "capped": "Hết ngân sách"}
