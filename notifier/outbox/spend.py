"""Spend caps at dispatch: before a citizen message takes a channel with a monthly budget, the agency's
spend on it is checked and the message's estimate held; at 100 % the message falls back or waits.

The check runs once per batch, in one transaction that locks the agency's `spend_months` rows (FOR UPDATE
on PostgreSQL; SQLite has one writer, BEGIN IMMEDIATE): workers take turns, and each sees the others'
holds. Used = the costs recorded as sent this month (`spent_vnd`) + the estimates held by messages still
`sending`. A message is let through only if used + its estimate stays within the budget, so citizen
messages never pass the cap on the channel they were planned for. What can pass it: a message that falls
to a capped channel only after its first channel refused it permanently (not held, counted when recorded:
at most the rows of the batches in flight, one batch per worker, two on PostgreSQL's overlapped drain),
and officer and head messages, which are never held but count in the agency's spend.

The warnings (`spend_warning`, to the agency's heads and the active admins with an address) are queued in
the same transaction, once per agency, channel, month and level: the row's `warned_at` / `capped_at` is
set by the first worker (the row is locked, and every later look finds it set), and each warning's dedupe
key is unique as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, literal, select, tuple_, update
from sqlalchemy.orm import Session

from notifier.config import SpendSettings
from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.outbox.views import agency_facts
from notifier.rules.kinds import Kind
from notifier.rules.outbox_status import SENT_STATUSES
from notifier.rules.outbox_status import NotificationStatus as S
from notifier.rules.payloads import Addressee, SpendPayload
from notifier.rules.rendering import format_money
from notifier.rules.spend import OnCap, SpendLevel, SpendState, Standing, month_bounds, month_key, month_label
from notifier.store.engine import insert_into
from notifier.store.limits import SPEND_LOCK_SPACE, take_turns
from notifier.store.models import (
    Agency,
    Dossier,
    Notification,
    Officer,
    SpendHold,
    SpendMonth,
    User,
    affected,
    table_of,
)

log = logging.getLogger("notifier.spend")
OVER_BUDGET = "vượt ngân sách"  # why a channel was passed over, as the delivery attempt records it


@dataclass
class Ask:
    """One citizen message about to be sent: its agency and its candidate channels with their cost."""

    notification_id: int
    agency_id: int
    options: list[tuple[str, int | None]]  # (channel name, estimate in đồng), in route order


@dataclass
class Verdict:
    keep_from: int = 0  # the first candidate still usable; those before it are over budget
    over: list[tuple[str, str]] = field(default_factory=list)  # (channel, why) passed over
    wait_until: datetime | None = None  # set: nothing may be sent now; stay queued until then
    wait_reason: str | None = None


@dataclass
class _Counter:
    row: SpendMonth
    budget: int
    used: int
    refused: bool = False


class SpendGate:
    def __init__(self, settings: SpendSettings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    # -- before sending ---------------------------------------------------------------------------------
    def check(self, session: Session, asks: Sequence[Ask], now: datetime) -> list[Verdict]:
        """Verdicts for `asks`, in order; holds and warnings are written in `session`'s transaction."""
        verdicts = [Verdict() for _ in asks]
        if not asks:
            return verdicts
        month = month_key(now)
        found = session.execute(
            select(Agency.id, Agency.code).where(Agency.id.in_({a.agency_id for a in asks}))
        )
        codes: dict[int, str] = {agency_id: code for agency_id, code in found}
        pairs = {
            (a.agency_id, name)
            for a in asks
            for name, cost in a.options
            if cost is not None and self.settings.budget_for(codes.get(a.agency_id), name) > 0
        }
        if not pairs:
            return verdicts
        # A row planned again (its earlier worker's lease ran out) holds anew.
        session.execute(
            delete(SpendHold).where(SpendHold.notification_id.in_([a.notification_id for a in asks]))
        )
        counters = self._lock(session, sorted(pairs), month, codes, now)
        holds: list[dict[str, object]] = []
        for ask, verdict in zip(asks, verdicts, strict=True):
            self._decide(ask, verdict, counters, holds, now, month)
        if holds:
            session.execute(table_of(SpendHold).insert(), holds)
        for (agency_id, _), counter in sorted(counters.items()):
            self._warn(session, counter, agency_id, now)
        return verdicts

    def _decide(
        self,
        ask: Ask,
        verdict: Verdict,
        counters: dict[tuple[int, str], _Counter],
        holds: list[dict[str, object]],
        now: datetime,
        month: str,
    ) -> None:
        for index, (name, cost) in enumerate(ask.options):
            counter = counters.get((ask.agency_id, name))
            if counter is None or cost is None:  # no cap on this channel for this agency
                verdict.keep_from = index
                return
            if counter.used + cost <= counter.budget:
                counter.used += cost
                holds.append(
                    {
                        "notification_id": ask.notification_id,
                        "spend_month_id": counter.row.id,
                        "amount_vnd": cost,
                    }
                )
                verdict.keep_from = index
                return
            counter.refused = True
            why = (
                f"{OVER_BUDGET} tháng {month_label(month)}: "
                f"đã dùng {format_money(counter.used)} / {format_money(counter.budget)}, "
                f"tin này {format_money(cost)}"
            )
            verdict.over.append((name, why))
            if self.settings.on_cap == OnCap.WAIT:
                break
        # Waiting (by choice, or no channel of the route is left): looked at again after the recheck delay,
        # and at the latest when the month turns and budgets start afresh.
        _, next_month = month_bounds(now)
        verdict.keep_from = len(ask.options)
        verdict.wait_until = min(now + timedelta(seconds=self.settings.wait_recheck_seconds), next_month)
        verdict.wait_reason = "chờ ngân sách: " + "; ".join(f"{n}: {w}" for n, w in verdict.over)

    def _lock(
        self,
        session: Session,
        pairs: list[tuple[int, str]],
        month: str,
        codes: dict[int, str],
        now: datetime,
    ) -> dict[tuple[int, str], _Counter]:
        start, end = month_bounds(now)
        key = (tuple_(SpendMonth.agency_id, SpendMonth.channel).in_(pairs), SpendMonth.month == month)
        # The month's sum is read only for a row not made yet (the first message of the month, or the first
        # since a budget was set), not at every batch.
        found = session.execute(select(SpendMonth.agency_id, SpendMonth.channel).where(*key))
        existing = {(agency_id, channel) for agency_id, channel in found}
        missing = [pair for pair in pairs if pair not in existing]
        _take_turns(session, missing, month)
        for agency_id, channel in missing:
            self._create(session, agency_id, channel, month, start, end, now)
        rows = session.scalars(
            select(SpendMonth)
            .where(*key)
            # One order for every worker and for the record step's updates (SpendGate.record): two
            # transactions never wait on each other's rows crosswise.
            .order_by(SpendMonth.agency_id, SpendMonth.channel)
            .with_for_update()
        ).all()
        sums = session.execute(
            select(SpendHold.spend_month_id, func.sum(SpendHold.amount_vnd))
            .join(Notification, Notification.id == SpendHold.notification_id)
            .where(SpendHold.spend_month_id.in_([r.id for r in rows]), Notification.status == S.SENDING)
            .group_by(SpendHold.spend_month_id)
        )
        held: dict[int, int] = {row_id: int(total or 0) for row_id, total in sums}
        return {
            (r.agency_id, r.channel): _Counter(
                r,
                self.settings.budget_for(codes.get(r.agency_id), r.channel),
                int(r.spent_vnd) + int(held.get(r.id) or 0),
            )
            for r in rows
        }

    @staticmethod
    def _create(
        session: Session,
        agency_id: int,
        channel: str,
        month: str,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> None:
        """The month's row, made once: it starts from what the agency's messages on the channel already cost
        this month (those sent before the budget was set count too)."""
        spent = spent_query(start, end).where(
            func.coalesce(Dossier.agency_id, Officer.agency_id) == agency_id, Notification.channel == channel
        )
        values = select(
            literal(agency_id), literal(channel), literal(month), spent.scalar_subquery(), literal(now)
        )
        table = table_of(SpendMonth)
        ins = insert_into(session, table).from_select(
            ["agency_id", "channel", "month", "spent_vnd", "updated_at"], values
        )
        session.execute(ins.on_conflict_do_nothing(index_elements=["agency_id", "channel", "month"]))

    # -- warnings ---------------------------------------------------------------------------------------
    def _warn(self, session: Session, counter: _Counter, agency_id: int, now: datetime) -> None:
        row, budget = counter.row, counter.budget
        standing = Standing(counter.used, budget, self.settings.warn_percent)
        levels: list[SpendLevel] = []
        if row.warned_at is None and standing.state is not SpendState.OK:
            levels.append(SpendLevel.WARN)
        if row.capped_at is None and (counter.refused or counter.used >= budget):
            levels.append(SpendLevel.CAP)
        for level in levels:
            column = SpendMonth.warned_at if level == SpendLevel.WARN else SpendMonth.capped_at
            # The guard makes "once" hold even without the row lock (the lock makes it certain).
            marked = session.execute(
                update(SpendMonth).where(SpendMonth.id == row.id, column.is_(None)).values({column: now})
            )
            if affected(marked) != 1:
                continue
            queued = self._queue_warnings(session, row, level, counter.used, budget, agency_id, now)
            log.warning(
                "spend: agency %s, %s, %s: %s of %s đồng (%s); %d warning(s) queued",
                agency_id,
                row.channel,
                row.month,
                counter.used,
                budget,
                level,
                queued,
            )

    def _queue_warnings(
        self,
        session: Session,
        row: SpendMonth,
        level: SpendLevel,
        used: int,
        budget: int,
        agency_id: int,
        now: datetime,
    ) -> int:
        agency = session.get(Agency, agency_id)
        if agency is None:
            return 0
        base = SpendPayload(
            agency=agency_facts(agency),
            channel=row.channel,
            month=row.month,
            level=str(level),
            spent_vnd=used,
            budget_vnd=budget,
            warn_percent=self.settings.warn_percent,
            on_cap=str(self.settings.on_cap),
        )
        key = f"spend:{agency.code}:{row.channel}:{row.month}:{level}"
        queued = 0
        heads = session.scalars(
            select(Officer.id)
            .where(Officer.agency_id == agency_id, Officer.is_head, Officer.active)
            .order_by(Officer.id)
        ).all()
        for head in heads:
            new = NewNotification(f"{key}:officer:{head}", Kind.SPEND_WARNING, officer_id=head, payload=base)
            queued += enqueue(session, new, now) is not None
        for admin in _admins(session):
            to = Addressee(
                name=admin.username,
                phone=admin.phone,
                email=admin.email,
                telegram_chat_id=admin.telegram_chat_id,
            )
            payload = base.model_copy(update={"to": to})
            new = NewNotification(f"{key}:admin:{admin.id}", Kind.SPEND_WARNING, payload=payload)
            queued += enqueue(session, new, now) is not None
        return queued

    # -- after sending ----------------------------------------------------------------------------------
    def record(
        self, session: Session, ours: Iterable[int], sent: Sequence[tuple[int, str, int]], now: datetime
    ) -> None:
        """In the transaction that records a batch: its holds go, and the costs of what was sent, (agency,
        channel, đồng), are added to the month's rows that exist (a row made later counts them itself)."""
        ids = list(ours)
        if ids:
            session.execute(delete(SpendHold).where(SpendHold.notification_id.in_(ids)))
        totals: dict[tuple[int, str], int] = {}
        for agency_id, channel, cost in sent:
            totals[(agency_id, channel)] = totals.get((agency_id, channel), 0) + cost
        month = month_key(now)
        costs = sorted((pair, amount) for pair, amount in totals.items() if amount)
        # Every lock before the first update: the check step takes these locks before its row locks too.
        _take_turns(session, [pair for pair, _ in costs], month)
        for (agency_id, channel), amount in costs:
            _add_spent(session, agency_id, channel, month, amount, now)


def actual_cost(session: Session, row: Notification, delta: int, now: datetime) -> None:
    """A provider's receipt changed what `row` cost by `delta` đồng: the agency's row of the month the
    message was sent in follows (if there is one; a row made later sums the corrected costs itself)."""
    if not delta or row.channel is None or row.sent_at is None:
        return
    agency_id = row.dossier.agency_id if row.dossier else (row.officer.agency_id if row.officer else None)
    if agency_id is None:
        return
    month = month_key(row.sent_at)
    _take_turns(session, [(agency_id, row.channel)], month)
    _add_spent(session, agency_id, row.channel, month, delta, now)


def _take_turns(session: Session, pairs: Sequence[tuple[int, str]], month: str) -> None:
    """Making a month's row (it starts from the SUM of what was already sent) and adding a recorded cost to
    it (an UPDATE of the row if it exists) take turns per agency, channel and month. Under PostgreSQL's READ
    COMMITTED they could otherwise cross: a batch recorded while the row is being made finds no row to add
    to, and commits after the row's SUM was read, so its cost would count nowhere."""
    take_turns(session, SPEND_LOCK_SPACE, [f"{agency_id}:{channel}:{month}" for agency_id, channel in pairs])


def _add_spent(
    session: Session, agency_id: int, channel: str, month: str, amount: int, now: datetime
) -> None:
    """`amount` đồng (negative: a receipt said less) onto the agency's row of `month`, if it exists: a
    row made later sums the month's costs itself."""
    session.execute(
        update(SpendMonth)
        .where(SpendMonth.agency_id == agency_id, SpendMonth.channel == channel, SpendMonth.month == month)
        .values(spent_vnd=SpendMonth.spent_vnd + amount, updated_at=now)
    )


def _admins(session: Session) -> list[User]:
    """Active admin accounts with somewhere to reach them."""
    users = session.scalars(select(User).where(User.role == "admin", User.active).order_by(User.id)).all()
    return [u for u in users if u.phone or u.email or u.telegram_chat_id]


def spent_query(start: datetime, end: datetime) -> Select[int | None]:
    """SUM of the costs of the messages sent in [start, end), to be narrowed by agency and channel; an
    agency's messages are those about its dossiers and those to its officers."""
    return (
        select(func.coalesce(func.sum(Notification.cost_vnd), 0))
        .select_from(Notification)
        .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
        .outerjoin(Officer, Officer.id == Notification.officer_id)
        .where(
            Notification.status.in_(SENT_STATUSES),
            Notification.sent_at >= start,
            Notification.sent_at < end,
        )
    )
