"""Outbox dispatch: claim due rows, render, send through the audience's route, record every attempt.

Persist first, then send (the row exists before any attempt); a status guard on every write means a row
that is not `sending` under our claim can never be marked again, and a sent row is never picked up again.
A worker that dies mid-send leaves rows `sending` with a lease: `reclaim_expired` puts them back in the
queue, and each channel is told the attempt number so it can check whether it already holds the message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from notifier.channels.abilities import (
    KeepsState,
    WantsTemplateData,
    fit_sms_text,
    price_of,
    rate_limits_of,
)
from notifier.channels.base import Channel, Message, PermanentError, Recipient, TransientError
from notifier.channels.registry import ChannelConfigError, Channels, UnknownChannel
from notifier.config import Settings
from notifier.outbox.context import build_context, recipient_for, template_agency_id
from notifier.outbox.links import telegram_chat_ids, zalo_user_ids
from notifier.outbox.receipts import apply_pending
from notifier.rules.clock import Clock
from notifier.rules.hours import backoff, citizen_next_allowed, officer_next_allowed
from notifier.rules.kinds import Audience
from notifier.rules.officer_buttons import alert_buttons
from notifier.rules.outbox_status import AttemptOutcome
from notifier.rules.outbox_status import NotificationStatus as S
from notifier.rules.ratelimit import RateLimited, Reservations
from notifier.rules.rendering import TemplateError, render
from notifier.rules.workdays import WorkCalendar
from notifier.store.contacts import opted_out_addresses, record_opt_out
from notifier.store.limits import SharedRateLimits
from notifier.store.models import DeliveryAttempt, Dossier, Notification, affected, table_of
from notifier.store.templates import TemplateCache

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    channel_name: str
    channel: Channel
    address: str
    subject: str | None
    text: str
    segments: int | None
    data: Mapping[str, str] | None = None  # template fields for channels that declare `WantsTemplateData`


@dataclass
class Plan:
    notification_id: int
    kind: str
    audience: str
    dossier_code: str | None
    attempt: int
    candidates: list[Candidate] = field(default_factory=list)
    defer_until: datetime | None = None
    fail_reason: str | None = None
    buttons: tuple[tuple[str, str], ...] = ()  # officer actions on an overdue alert (officer_actions)
    slot: Slot | None = None  # the first candidate's rate-limit slot, reserved with the rest of the batch
    # Channels of the route passed over before sending, with why: recorded as `skipped` attempts.
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    """A reserved rate-limit slot: usable `wait` seconds after `taken` (`time.monotonic`), or refused."""

    wait: float | RateLimited
    taken: float


@dataclass
class Outcome:
    status: str  # sent, retry, failed, deferred
    not_before: datetime | None = None
    error: str | None = None
    sent: Candidate | None = None
    provider_id: str | None = None
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    opt_outs: list[tuple[str, str, str]] = field(default_factory=list)  # (address, medium, reason)


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    lost: int = 0  # rows whose claim was taken over before we could record them

    def add(self, other: DispatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RoutingError(ValueError):
    pass


def check_routing(settings: Settings, channels: Channels) -> None:
    """Fail at start-up, naming the setting, rather than at the first message."""
    for where, route in settings.routing.all_routes():
        for name in route:
            try:
                channels.get(name)
            except (UnknownChannel, ChannelConfigError) as exc:
                raise RoutingError(f"{where}: value '{name}': {exc}") from exc


class Dispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        channels: Channels,
        calendar: WorkCalendar,
        worker_id: str | None = None,
        limits: Reservations | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.channels = channels
        self.calendar = calendar
        self.worker_id = worker_id or worker_name()
        # Per-channel and per-recipient token buckets from channel settings, kept in the database so that
        # every worker together keeps a provider's rate.
        self.limits: Reservations = limits or SharedRateLimits(factory)
        self._bound: set[str] = set()

    # -- claiming ---------------------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int) -> list[int]:
        lease = now + timedelta(seconds=self.settings.dispatch.lease_seconds)
        with self.factory() as session, session.begin():
            due = (
                select(Notification.id)
                .where(Notification.status == S.QUEUED, Notification.not_before <= now)
                .order_by(Notification.not_before, Notification.id)
                .limit(limit)
                # Workers on PostgreSQL pass over each other's rows instead of waiting; SQLite ignores it.
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(due))
            if not ids:
                return []
            # The guard (status still queued) matters on SQLite, which has no row locks to skip.
            claimed = session.execute(
                update(Notification)
                .where(Notification.id.in_(ids), Notification.status == S.QUEUED)
                .values(status=S.SENDING, claimed_by=self.worker_id, lease_until=lease, updated_at=now)
                .returning(Notification.id)
            )
            return sorted(claimed.scalars())

    def reclaim_expired(self) -> int:
        """Rows left `sending` by a worker that died go back to the queue once their lease is over."""
        now = self.clock.now()
        with self.factory() as session, session.begin():
            result = session.execute(
                update(Notification)
                .where(Notification.status == S.SENDING, Notification.lease_until < now)
                # The dead worker may have reached the provider: that counts as an attempt, and the next
                # one (attempt > 1) makes the channel check what it already holds before sending.
                .values(
                    status=S.QUEUED,
                    claimed_by=None,
                    lease_until=None,
                    not_before=now,
                    updated_at=now,
                    attempts=Notification.attempts + 1,
                    error="reclaimed after the lease of a stopped worker expired",
                )
            )
            return affected(result)

    # -- planning ---------------------------------------------------------------------------------------
    def _plan(self, session: Session, ids: list[int], now: datetime) -> list[Plan]:
        rows = session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids))
            .options(
                selectinload(Notification.dossier).selectinload(Dossier.agency),
                selectinload(Notification.dossier).selectinload(Dossier.procedure),
                selectinload(Notification.officer),
            )
            .order_by(Notification.id)
        ).all()
        templates = TemplateCache(session)
        chats = telegram_chat_ids(session, rows)  # citizens' linked Telegram chats, one query per batch
        zalo = zalo_user_ids(session, rows)  # citizens' Zalo OA followers, by the dossier's phone
        plans: list[Plan] = []
        routes: list[tuple[Notification, Plan, list[tuple[str, Channel, str]], list[str]]] = []
        for n in rows:
            plan = Plan(n.id, n.kind, n.audience, n.dossier.code if n.dossier else None, n.attempts + 1)
            plan.buttons = alert_buttons(n.kind, n.dossier_id)
            plans.append(plan)
            plan.defer_until = self._hours(n.audience, now)
            if plan.defer_until is not None:
                continue
            wanted, skipped = self._route(n, recipient_for(n, chats.get(n.id), zalo.get(n.id)))
            routes.append((n, plan, wanted, skipped))
        # One look-up of opt-outs for the whole batch, not one per notification.
        blocked = opted_out_addresses(session, [(a, c.medium) for *_, w, _ in routes for _, c, a in w])
        for n, plan, wanted, skipped in routes:
            context = build_context(n, self.calendar, now)
            agency_id = template_agency_id(n)
            for name, channel, address in wanted:
                if (address, channel.medium) in blocked:
                    skipped.append(f"{name}: {address} opted out of {channel.medium}")
                    continue
                try:
                    source = templates.get(n.kind, channel.channel_type, agency_id)
                    text = render(source.body, context, field="body")
                    subject = render(source.subject, context, field="subject") if source.subject else None
                except TemplateError as exc:
                    plan.fail_reason = f"template {n.kind}/{channel.channel_type}: {exc}"
                    break
                segments = None
                if channel.channel_type == "sms":
                    # không dấu and the segment budget: see rules.smsbudget (over budget is still sent).
                    fit = fit_sms_text(channel, text, n.kind)
                    text, segments = fit.text, fit.segments
                    if fit.over_budget:
                        log.warning("notification %s: %s SMS parts, over %s's budget", n.id, segments, name)
                data = None
                if isinstance(channel, WantsTemplateData):
                    data = self._template_data(name, channel, n.kind, context)
                    if data is None:
                        skipped.append(f"{name}: no template data for {n.kind}")
                        continue
                plan.candidates.append(Candidate(name, channel, address, subject, text, segments, data))
            plan.skipped = [(hop.partition(": ")[0], hop.partition(": ")[2]) for hop in skipped]
            if not plan.candidates and plan.fail_reason is None:
                plan.fail_reason = "no usable channel: " + ("; ".join(skipped) or "route is empty")
        return plans

    def _route(
        self, n: Notification, recipient: Recipient
    ) -> tuple[list[tuple[str, Channel, str]], list[str]]:
        """The audience's channels that can reach this recipient, in order, and why the others cannot."""
        wanted: list[tuple[str, Channel, str]] = []
        skipped: list[str] = []
        agency = n.dossier.agency.code if n.dossier is not None and n.dossier.agency is not None else None
        for name in self.settings.routing.for_notification(n.audience, n.kind, agency):
            if not self.channels.enabled(name):
                skipped.append(f"{name}: disabled")
                continue
            channel = self._channel(name)
            address = channel.address_for(recipient)
            if address is None:
                skipped.append(f"{name}: no address for {recipient.label}")
                continue
            wanted.append((name, channel, address))
        return wanted, skipped

    def _channel(self, name: str) -> Channel:
        """A configured channel; one that keeps state (Zalo's tokens) gets the database on first use."""
        channel = self.channels.get(name)
        if name not in self._bound:
            if isinstance(channel, KeepsState):
                channel.bind_storage(self.factory)
            self._bound.add(name)
        return channel

    def _template_data(
        self, name: str, channel: WantsTemplateData, kind: str, context: dict[str, Any]
    ) -> dict[str, str] | None:
        """Render the fields a template-based channel (ZNS) asks for; None when it cannot take this kind."""
        fields = channel.data_templates(kind)
        if fields is None:
            return None
        try:
            return {key: render(source, context, field=f"data.{key}") for key, source in fields.items()}
        except TemplateError as exc:
            # e.g. a date the dossier does not have yet: this channel cannot carry it, the next one may.
            log.warning("%s: template data for %s: %s", name, kind, exc)
            return None

    def _hours(self, audience: str, now: datetime) -> datetime | None:
        if audience == Audience.CITIZEN:
            q = self.settings.quiet_hours
            return citizen_next_allowed(now, q.start, q.end)
        w = self.settings.working_hours
        return officer_next_allowed(now, self.calendar, w.start, w.end)

    # -- rate limits ------------------------------------------------------------------------------------
    def _reserve_first(self, plans: list[Plan]) -> None:
        """Reserve the first candidate's slot of every sendable plan: one reservation per channel for the
        whole batch, so shared buckets cost one transaction per channel and batch, not one per message."""
        by_channel: dict[str, list[Plan]] = {}
        for plan in plans:
            if plan.defer_until is None and plan.fail_reason is None and plan.candidates:
                by_channel.setdefault(plan.candidates[0].channel_name, []).append(plan)
        for name, group in by_channel.items():
            limits = rate_limits_of(group[0].candidates[0].channel)
            waits = self.limits.reserve_many(name, limits, [p.candidates[0].address for p in group])
            # Timed after the reservation returns: a slot may start late, never early.
            taken = time.monotonic()
            for plan, wait in zip(group, waits, strict=True):
                plan.slot = Slot(wait, taken)

    async def _slot(self, plan: Plan, index: int, cand: Candidate) -> float | RateLimited:
        """Seconds still to wait before sending to `cand`, or its refusal."""
        if index == 0 and plan.slot is not None:
            if isinstance(plan.slot.wait, RateLimited):
                return plan.slot.wait
            return plan.slot.wait - (time.monotonic() - plan.slot.taken)
        # A fallback after a permanent failure: rare, reserved alone (off the event loop: it may wait on
        # another worker's lock).
        limited = rate_limits_of(cand.channel)
        try:
            return await asyncio.to_thread(self.limits.reserve, cand.channel_name, limited, cand.address)
        except RateLimited as exc:
            return exc

    # -- sending ----------------------------------------------------------------------------------------
    async def _deliver(self, plan: Plan, now: datetime) -> Outcome:
        if plan.defer_until is not None:
            return Outcome("deferred", not_before=plan.defer_until)
        outcome = Outcome("failed")
        started = self.clock.now()
        outcome.attempts += [
            DeliveryAttempt(
                notification_id=plan.notification_id,
                number=plan.attempt,
                channel=name,
                started_at=started,
                finished_at=started,
                outcome=AttemptOutcome.SKIPPED,
                error=why,
            )
            for name, why in plan.skipped
        ]
        if plan.fail_reason is not None:
            outcome.error = plan.fail_reason
            return outcome
        for index, cand in enumerate(plan.candidates):
            wait = await self._slot(plan, index, cand)
            if isinstance(wait, RateLimited):
                # Longer than worth holding the lease for: back to the queue, no attempt counted.
                outcome.status, outcome.not_before = "deferred", now + timedelta(seconds=wait.delay)
                return outcome
            if wait > 0:
                await asyncio.sleep(wait)
            attempt = DeliveryAttempt(
                notification_id=plan.notification_id,
                number=plan.attempt,
                channel=cand.channel_name,
                recipient=cand.address,
                started_at=self.clock.now(),
                outcome=AttemptOutcome.SENT,
            )
            outcome.attempts.append(attempt)
            message = Message(
                plan.notification_id,
                plan.kind,
                plan.audience,
                cand.address,
                cand.text,
                cand.subject,
                plan.dossier_code,
                plan.attempt,
                buttons=plan.buttons,
                data=cand.data,
            )
            try:
                provider_id = await cand.channel.send(message)
            except PermanentError as exc:
                attempt.outcome, attempt.error = AttemptOutcome.PERMANENT, str(exc)
                attempt.finished_at = self.clock.now()
                if exc.opt_out:
                    outcome.opt_outs.append((cand.address, cand.channel.medium, str(exc)))
                outcome.error = f"{cand.channel_name}: {exc}"
                if exc.fallback:
                    continue
                return outcome
            except Exception as exc:
                retry_after = exc.retry_after if isinstance(exc, TransientError) else None
                attempt.outcome, attempt.error = AttemptOutcome.TRANSIENT, f"{type(exc).__name__}: {exc}"
                attempt.finished_at = self.clock.now()
                return self._retry(plan, now, f"{cand.channel_name}: {exc}", retry_after, outcome)
            attempt.provider_id = provider_id
            attempt.finished_at = self.clock.now()
            attempt.cost_vnd = price_of(cand.channel, cand.segments)
            outcome.status, outcome.sent, outcome.provider_id, outcome.error = "sent", cand, provider_id, None
            return outcome
        return outcome

    def _retry(
        self, plan: Plan, now: datetime, error: str, retry_after: float | None, outcome: Outcome
    ) -> Outcome:
        d = self.settings.dispatch
        if plan.attempt >= d.max_attempts:
            outcome.status, outcome.error = "failed", f"gave up after {plan.attempt} attempts: {error}"
            return outcome
        wait = backoff(plan.attempt, d.backoff_base_seconds, d.backoff_max_seconds)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        outcome.status, outcome.not_before, outcome.error = "retry", now + wait, error
        return outcome

    # -- recording --------------------------------------------------------------------------------------
    def _record(
        self,
        session: Session,
        plans: list[Plan],
        outcomes: list[Outcome],
        now: datetime,
        stats: DispatchStats,
    ) -> None:
        table = table_of(Notification)
        ids = [p.notification_id for p in plans]
        # Taking the rows (a write, so SQLite locks too) tells which claims are still ours: a claim reclaimed
        # after our lease ran out belongs to another worker now, and the status guard leaves it alone.
        ours = set(
            session.scalars(
                update(Notification)
                .where(
                    Notification.id.in_(ids),
                    Notification.status == S.SENDING,
                    Notification.claimed_by == self.worker_id,
                )
                .values(updated_at=now)
                .returning(Notification.id)
            )
        )
        shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for plan, out in zip(plans, outcomes, strict=True):
            session.add_all(out.attempts)  # attempts happened whatever becomes of the claim
            for address, medium, reason in out.opt_outs:
                record_opt_out(session, address, medium, now, reason=reason, source="provider")
            if plan.notification_id not in ours:
                stats.lost += 1
                log.warning(
                    "notification %s: claim lost before recording %s", plan.notification_id, out.status
                )
                continue
            values = self._final_values(plan, out, now)
            shapes.setdefault(tuple(sorted(values)), []).append(
                {"nid": plan.notification_id, **{f"v_{k}": v for k, v in values.items()}}
            )
            stats.sent += out.status == "sent"
            stats.retried += out.status == "retry"
            stats.failed += out.status == "failed"
            stats.deferred += out.status == "deferred"
        # One executemany per shape of row instead of one UPDATE per notification.
        for keys, rows in shapes.items():
            stmt = (
                table.update()
                .where(table.c.id == bindparam("nid"), table.c.status == S.SENDING)
                .values({k: bindparam(f"v_{k}") for k in keys})
            )
            session.connection().execute(stmt, rows)
        # Receipts that beat us here (the provider called back before this batch was recorded).
        sent = [(p.notification_id, o.sent, o.provider_id) for p, o in zip(plans, outcomes, strict=True)]
        apply_pending(session, [(n, c.channel_name, pid) for n, c, pid in sent if c is not None], now)

    def _final_values(self, plan: Plan, out: Outcome, now: datetime) -> dict[str, object]:
        values: dict[str, object] = {"claimed_by": None, "lease_until": None, "updated_at": now}
        if out.status == "deferred":
            values.update(status=S.QUEUED, not_before=out.not_before)
            return values
        values["attempts"] = plan.attempt
        values["error"] = out.error
        if out.status == "sent" and out.sent is not None:
            values.update(
                status=S.SENT,
                sent_at=self.clock.now(),
                channel=out.sent.channel_name,
                recipient=out.sent.address,
                subject=out.sent.subject,
                body=out.sent.text,
                segments=out.sent.segments,
                provider_id=out.provider_id,
                cost_vnd=price_of(out.sent.channel, out.sent.segments),
            )
        elif out.status == "retry":
            values.update(status=S.QUEUED, not_before=out.not_before)
        else:
            values["status"] = S.FAILED
        return values

    async def run_once(self, limit: int | None = None) -> DispatchStats:
        stats = DispatchStats()
        now = self.clock.now()
        ids = self.claim(now, limit or self.settings.dispatch.batch_size)
        stats.claimed = len(ids)
        if not ids:
            return stats
        try:
            with self.factory() as session:
                plans = self._plan(session, ids, now)
        except Exception:
            # Planning failed as a whole (database gone): give the rows back rather than leave them leased.
            self._release(ids, now)
            raise
        try:
            # Off the event loop: on a shared database it may wait for another worker's reservation.
            await asyncio.to_thread(self._reserve_first, plans)
        except Exception:
            self._release(ids, now)
            raise
        gate = asyncio.Semaphore(self.settings.dispatch.concurrency)

        async def one(plan: Plan) -> Outcome:
            async with gate:
                return await self._deliver(plan, now)

        outcomes = await asyncio.gather(*(one(p) for p in plans))
        with self.factory() as session, session.begin():
            self._record(session, plans, list(outcomes), now, stats)
        return stats

    def _release(self, ids: list[int], now: datetime) -> None:
        with self.factory() as session, session.begin():
            session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(ids),
                    Notification.status == S.SENDING,
                    Notification.claimed_by == self.worker_id,
                )
                .values(status=S.QUEUED, claimed_by=None, lease_until=None, updated_at=now)
            )

    async def drain(self, max_batches: int | None = None) -> DispatchStats:
        """Send everything due now; stops when a batch comes back empty."""
        total = DispatchStats()
        batches = 0
        while max_batches is None or batches < max_batches:
            stats = await self.run_once()
            batches += 1
            total.add(stats)
            if stats.claimed == 0:
                break
        return total
