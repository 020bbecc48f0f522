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
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, bindparam, insert, select, update
from sqlalchemy import func as sa_func
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.abilities import (
    KeepsState,
    WantsTemplateData,
    cannot_tell_repeats,
    fit_sms_text,
    price_of,
    rate_limits_of,
    wants_template_data,
)
from notifier.channels.base import Channel, Message, PermanentError, Recipient, TransientError
from notifier.channels.registry import ChannelConfigError, Channels, UnknownChannel
from notifier.config import Settings
from notifier.outbox.callbacks import queue_changes
from notifier.outbox.context import build_context, recipient_for, template_agency_id, test_text
from notifier.outbox.links import telegram_chat_ids, zalo_user_ids
from notifier.outbox.receipts import apply_pending
from notifier.outbox.spend import Ask, SpendGate
from notifier.rules.clock import Clock
from notifier.rules.hours import backoff, citizen_next_allowed, officer_next_allowed
from notifier.rules.kinds import Audience, Lane
from notifier.rules.logmask import mask_contacts
from notifier.rules.officer_buttons import alert_buttons
from notifier.rules.outbox_status import AttemptOutcome, ResendPolicy
from notifier.rules.outbox_status import NotificationStatus as S
from notifier.rules.payloads import test_target
from notifier.rules.ratelimit import RateLimited, Reservations
from notifier.rules.rendering import TemplateError, TemplateTimeout, for_sms, render
from notifier.rules.workdays import WorkCalendar
from notifier.store.contacts import opted_out_addresses, record_opt_out
from notifier.store.engine import among, is_postgres
from notifier.store.limits import SharedRateLimits
from notifier.store.models import DeliveryAttempt, Notification, affected, table_of
from notifier.store.planning import PlainNotification, planning_rows
from notifier.store.templates import TemplateCache

log = logging.getLogger(__name__)
NO_ADDRESS = "no address"  # why a channel was skipped when it cannot reach the recipient


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
    retry_reason: str | None = None  # the render ran out of time: try again later (up to max_tries)
    unreachable: bool = False  # no channel of the route has an address for the recipient
    buttons: tuple[tuple[str, str], ...] = ()  # officer actions on an overdue alert (officer_actions)
    slot: Slot | None = None  # the first candidate's rate-limit slot, reserved with the rest of the batch
    # Channels of the route passed over before sending, with why: recorded as `skipped` attempts.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Whose spend the message counts in (the dossier's agency, else the officer's; None for a test send).
    agency_id: int | None = None
    defer_reason: str | None = None  # why a deferred row waits, when it is worth telling (a spent budget)


@dataclass(frozen=True)
class Slot:
    """A reserved rate-limit slot: usable `wait` seconds after `taken` (`time.monotonic`), or refused."""

    wait: float | RateLimited
    taken: float


@dataclass
class Attempt:
    """One try on one channel, as the `delivery_attempts` row it becomes (a plain object: a batch makes
    hundreds, and ORM instances cost more than the rest of the recording)."""

    notification_id: int
    number: int
    channel: str
    recipient: str | None
    started_at: datetime
    outcome: AttemptOutcome = AttemptOutcome.SENT
    finished_at: datetime | None = None
    provider_id: str | None = None
    error: str | None = None
    cost_vnd: int | None = None  # the channel's price for it (`price_vnd`, per part for SMS)


@dataclass
class Outcome:
    status: str  # sent, retry, failed, unreachable, deferred
    not_before: datetime | None = None
    error: str | None = None
    sent: Candidate | None = None
    provider_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    opt_outs: list[tuple[str, str, str]] = field(default_factory=list)  # (address, medium, reason)


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0  # no channel had an address for the recipient
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
    # A budget on a channel that does not exist would never cap anything: a misspelt name must not pass.
    spend = settings.spend
    named = [("spend.budgets", name) for name in spend.budgets]
    named += [(f"spend.agencies.{code}", name) for code, table in spend.agencies.items() for name in table]
    for where, name in named:
        if not channels.configured(name):
            raise RoutingError(f"{where}: value '{name}': no such channel configured")


LAST_LANE = max(Lane)


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
        self._building = threading.Lock()
        self.spend = SpendGate(settings.spend)
        bind = factory.kw.get("bind")
        self._postgres = bind is not None and is_postgres(bind)
        # Set by stop(): the process is shutting down (see stop). The batches drain has in flight, for it.
        self._stopping = False
        self._batches: set[asyncio.Task[DispatchStats]] = set()

    # -- claiming ---------------------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int) -> list[int]:
        lease = now + timedelta(seconds=self.settings.dispatch.lease_seconds)
        with self.factory() as session, session.begin():
            # Lane by lane (rules.kinds.Lane): citizens' notices before officers' alerts before digests,
            # each lane oldest first. One range of ix_notifications_due per lane; a later lane is read only
            # when the earlier ones leave room in the batch.
            ids: list[int] = []
            for lane in Lane:
                if len(ids) >= limit:
                    break
                # The last lane also takes any larger number, so no row is ever left out.
                in_lane = Notification.priority == int(lane)
                if lane == LAST_LANE:
                    in_lane = Notification.priority >= int(lane)
                due = (
                    select(Notification.id)
                    .where(
                        Notification.status == S.QUEUED,
                        in_lane,
                        Notification.not_before <= now,
                    )
                    .order_by(Notification.not_before, Notification.id)
                    .limit(limit - len(ids))
                    # Workers on PostgreSQL pass over each other's rows instead of waiting; SQLite ignores it.
                    .with_for_update(skip_locked=True)
                )
                ids += session.scalars(due)
            if not ids:
                return []
            # The guard (status still queued) matters on SQLite, which has no row locks to skip.
            claimed = session.execute(
                update(Notification)
                .where(among(Notification.id, ids, self._postgres), Notification.status == S.QUEUED)
                .values(status=S.SENDING, claimed_by=self.worker_id, lease_until=lease, updated_at=now)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
            return sorted(claimed.scalars())

    def reclaim_expired(self) -> int:
        """Rows left `sending` by a worker that died go back to the queue once their lease is over.

        A row the dead worker had handed to a provider that cannot tell a repeat (`handed_off_at` set) may
        have reached the person: by default it becomes `unknown` for an operator instead of being resent
        (`[dispatch] unconfirmed_resend`). A row whose workers kept dying (`max_attempts` reclaims, e.g. a
        render that kills the process) fails with the reason rather than stopping every new worker.
        """
        now = self.clock.now()
        expired = (Notification.status == S.SENDING, Notification.lease_until < now)
        released = {"claimed_by": None, "lease_until": None, "updated_at": now}
        reclaimed = 0
        with self.factory() as session, session.begin():
            if self.settings.dispatch.unconfirmed_resend == ResendPolicy.CHECK:
                unknown = session.scalars(
                    update(Notification)
                    .where(*expired, Notification.handed_off_at.is_not(None))
                    .values(
                        **released,
                        status=S.UNKNOWN,
                        attempts=Notification.attempts + 1,
                        error=(
                            "handed to "
                            + sa_func.coalesce(Notification.handed_to, "the provider")
                            + " but the worker stopped before the answer; that provider cannot tell a "
                            "repeat, so it was not resent: check with the recipient, then resend or close"
                        ),
                    )
                    .returning(Notification.id)
                ).all()
                reclaimed += len(unknown)
                queue_changes(session, unknown)  # the one-stop system hears "unknown" (outbox.callbacks)
            gave_up = session.scalars(
                update(Notification)
                .where(*expired, Notification.attempts + 1 >= self.settings.dispatch.max_attempts)
                .values(
                    **released,
                    status=S.FAILED,
                    attempts=Notification.attempts + 1,
                    handed_off_at=None,
                    error=(
                        f"gave up: the worker holding this row stopped {self.settings.dispatch.max_attempts} "
                        "times (last error: " + sa_func.coalesce(Notification.error, "none") + ")"
                    ),
                )
                .returning(Notification.id)
            ).all()
            reclaimed += len(gave_up)
            queue_changes(session, gave_up)
            result = session.execute(
                update(Notification)
                .where(*expired)
                # The dead worker may have reached the provider: that counts as an attempt, and the next
                # one (attempt > 1) makes the channel check what it already holds before sending.
                .values(
                    **released,
                    status=S.QUEUED,
                    not_before=now,
                    attempts=Notification.attempts + 1,
                    handed_off_at=None,  # policy "resend": knowingly sent again
                    error="reclaimed after the lease of a stopped worker expired",
                )
            )
            return reclaimed + affected(result)

    # -- planning ---------------------------------------------------------------------------------------
    def _plan(self, session: Session, ids: list[int], now: datetime) -> list[Plan]:
        # Plain rows, not ORM objects: building and reading ORM instances was a quarter of planning.
        rows = planning_rows(session, ids, self._postgres)
        templates = TemplateCache(session)
        zalo_linked: dict[int, str] = {}  # followers linked to a dossier itself, read with the chats
        chats = telegram_chat_ids(session, rows, zalo_linked)  # citizens' linked Telegram chats, one query
        zalo = zalo_user_ids(session, rows, zalo_linked)  # citizens' Zalo OA followers, by phone or link
        plans: list[Plan] = []
        routes: list[tuple[PlainNotification, Plan, list[tuple[str, Channel, str]], list[str]]] = []
        for n in rows:
            plan = Plan(n.id, n.kind, n.audience, n.dossier.code if n.dossier else None, n.attempts + 1)
            plan.buttons = alert_buttons(n.kind, n.dossier_id)
            if test_target(n.kind, n.payload) is None:
                plan.agency_id = (
                    n.dossier.agency_id if n.dossier else (n.officer.agency_id if n.officer else None)
                )
            plans.append(plan)
            plan.defer_until = self._hours(n.audience, now)
            if plan.defer_until is not None:
                continue
            wanted, skipped = self._route(n, recipient_for(n, chats.get(n.id), zalo.get(n.id)))
            routes.append((n, plan, wanted, skipped))
        # One look-up of opt-outs for the whole batch, not one per notification.
        blocked = opted_out_addresses(session, [(a, c.medium) for *_, w, _ in routes for _, c, a in w])
        limits = self.settings.rendering.limits()
        for n, plan, wanted, skipped in routes:
            context = build_context(n, self.calendar, now, session)
            agency_id = template_agency_id(n)
            for name, channel, address in wanted:
                if (address, channel.medium) in blocked:
                    skipped.append(f"{name}: {address} opted out of {channel.medium}")
                    continue
                seen = context
                if channel.channel_type == "sms":
                    seen = for_sms(context, payment_links=self.settings.messages.sms_payment_links)
                try:
                    # An admin's test send carries the editor's text (saved or not); else the stored one.
                    source = test_text(n, channel.channel_type) or templates.get(
                        n.kind, channel.channel_type, agency_id
                    )
                    text = render(source.body, seen, field="body", limits=limits, syntax=source.syntax)
                    subject = (
                        render(source.subject, seen, field="subject", limits=limits, syntax=source.syntax)
                        if source.subject
                        else None
                    )
                except TemplateTimeout as exc:
                    # A runaway template, or a machine too busy: only this row waits, up to max_tries.
                    reason = f"template {n.kind}/{channel.channel_type}: {exc}"
                    if plan.attempt >= self.settings.rendering.max_tries:
                        plan.fail_reason = f"gave up after {plan.attempt} tries: {reason}"
                    else:
                        plan.retry_reason = reason
                    break
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
                if wants_template_data(channel):
                    data = self._template_data(name, channel, n.kind, context)
                    if data is None:
                        skipped.append(f"{name}: no template data for {n.kind}")
                        continue
                plan.candidates.append(Candidate(name, channel, address, subject, text, segments, data))
            plan.skipped = [(hop.partition(": ")[0], hop.partition(": ")[2]) for hop in skipped]
            if plan.retry_reason is not None:
                plan.candidates.clear()
            elif not plan.candidates and plan.fail_reason is None:
                plan.fail_reason = "no usable channel: " + ("; ".join(skipped) or "route is empty")
                # Not one channel had an address (a landline for SMS, no contact at all): the person cannot be
                # reached, which is not the same as a channel failing.
                plan.unreachable = not wanted and bool(skipped) and all(NO_ADDRESS in r for r in skipped)
        return plans

    def _plan_batch(self, ids: list[int], now: datetime) -> list[Plan]:
        with self.factory() as session:
            return self._plan(session, ids, now)

    def _route(
        self, n: PlainNotification, recipient: Recipient
    ) -> tuple[list[tuple[str, Channel, str]], list[str]]:
        """The audience's channels that can reach this recipient, in order, and why the others cannot."""
        wanted: list[tuple[str, Channel, str]] = []
        skipped: list[str] = []
        agency = n.dossier.agency.code if n.dossier is not None and n.dossier.agency is not None else None
        names = self.settings.routing.for_notification(n.audience, n.kind, agency)
        if n.dossier is not None and n.dossier.api_key is not None and n.dossier.api_key.test:
            # A test key's dossier never reaches a real provider: the test channel or nothing.
            names = [self.settings.api.test_channel]
            if not self.channels.configured(names[0]):
                return [], [f"api.test_channel: value '{names[0]}': no such channel configured"]
        for name in names:
            if not self.channels.enabled(name):
                skipped.append(f"{name}: disabled")
                continue
            channel = self._channel(name)
            address = channel.address_for(recipient)
            if address is None:
                skipped.append(f"{name}: {NO_ADDRESS} for {recipient.label}")
                continue
            wanted.append((name, channel, address))
        if n.is_test:
            # An admin's test send carries the editor's text for one channel type: its channels go first,
            # so the text on the screen is what arrives (the others keep their saved template as fallback).
            typed = [w for w in wanted if test_text(n, w[1].channel_type) is not None]
            wanted = typed + [w for w in wanted if w not in typed]
        return wanted, skipped

    def _channel(self, name: str) -> Channel:
        """A configured channel; one that keeps state (Zalo's tokens) gets the database on first use."""
        with self._building:  # two batches may plan at once, each in its own thread (see drain)
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
            limits = self.settings.rendering.limits()
            return {
                key: render(source, context, field=f"data.{key}", limits=limits)
                for key, source in fields.items()
            }
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

    # -- spend caps -------------------------------------------------------------------------------------
    def _check_spend(self, plans: list[Plan], now: datetime) -> None:
        """Citizen messages on a channel with a budget: hold their estimate, or pass the channel over
        (`[spend] on_cap = "fallback"`) or wait ("wait", or no channel left); see outbox.spend."""
        sendable = [
            p
            for p in plans
            if p.audience == Audience.CITIZEN
            and p.agency_id is not None
            and p.defer_until is None
            and p.fail_reason is None
            and p.retry_reason is None
            and p.candidates
        ]
        if not sendable:
            return
        asks = [
            Ask(
                p.notification_id,
                p.agency_id or 0,
                [(c.channel_name, price_of(c.channel, c.segments)) for c in p.candidates],
            )
            for p in sendable
        ]
        with self.factory() as session, session.begin():
            verdicts = self.spend.check(session, asks, now)
        for plan, verdict in zip(sendable, verdicts, strict=True):
            plan.skipped += verdict.over
            plan.candidates = plan.candidates[verdict.keep_from :]
            if verdict.wait_until is not None:
                plan.defer_until, plan.defer_reason = verdict.wait_until, verdict.wait_reason

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
            return Outcome("deferred", not_before=plan.defer_until, error=plan.defer_reason)
        outcome = Outcome("failed")
        started = self.clock.now()
        # Each hop the route passed over, with why: the record of how the message went where it went.
        outcome.attempts += [
            Attempt(
                notification_id=plan.notification_id,
                number=plan.attempt,
                channel=name,
                recipient=None,
                started_at=started,
                finished_at=started,
                outcome=AttemptOutcome.SKIPPED,
                error=why,
            )
            for name, why in plan.skipped
        ]
        if plan.fail_reason is not None:
            outcome.status = "unreachable" if plan.unreachable else "failed"
            outcome.error = plan.fail_reason
            return outcome
        if plan.retry_reason is not None:
            return self._retry(plan, now, plan.retry_reason, None, outcome)
        for index, cand in enumerate(plan.candidates):
            wait = await self._slot(plan, index, cand)
            if isinstance(wait, RateLimited):
                # Longer than worth holding the lease for: back to the queue, no attempt counted.
                outcome.status, outcome.not_before = "deferred", now + timedelta(seconds=wait.delay)
                return outcome
            if wait > 0:
                await asyncio.sleep(wait)
            attempt = Attempt(
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
            # Committed before the call: if this worker dies now, the reclaim knows the provider may hold the
            # message and does not resend it blindly. False: our claim was taken over, the new holder decides.
            if cannot_tell_repeats(cand.channel) and not await asyncio.to_thread(
                self._hand_off, plan.notification_id, cand.channel_name
            ):
                outcome.attempts.remove(attempt)
                outcome.status, outcome.not_before = "deferred", now
                return outcome
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

    def _ours(self, rows: ColumnElement[bool]) -> Update:
        """An UPDATE of those `rows` this worker still holds: sending, under its claim."""
        return update(Notification).where(
            rows, Notification.status == S.SENDING, Notification.claimed_by == self.worker_id
        )

    def _hand_off(self, notification_id: int, channel_name: str) -> bool:
        """Record that this row is about to go to a provider that cannot tell a repeat; False if not ours."""
        now = self.clock.now()
        with self.factory() as session, session.begin():
            mine = self._ours(Notification.id == notification_id)
            result = session.execute(mine.values(handed_off_at=now, handed_to=channel_name))
            return affected(result) == 1

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
                self._ours(among(Notification.id, ids, self._postgres))
                .values(updated_at=now)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
        )
        shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
        # Attempts happened whatever becomes of the claim. One executemany: the unit of work would spend
        # more on a batch's attempt objects than on everything else recorded here.
        attempts = [dict(vars(a)) for out in outcomes for a in out.attempts]
        if attempts:
            session.execute(insert(table_of(DeliveryAttempt)), attempts)
        for plan, out in zip(plans, outcomes, strict=True):
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
            stats.unreachable += out.status == "unreachable"
            stats.deferred += out.status == "deferred"
        # One executemany per shape of row instead of one UPDATE per notification.
        for keys, rows in shapes.items():
            stmt = (
                table.update()
                .where(table.c.id == bindparam("nid"), table.c.status == S.SENDING)
                .values({k: bindparam(f"v_{k}") for k in keys})
            )
            session.connection().execute(stmt, rows)
        # The one-stop system's callbacks: sent, failed and unreachable rows, in this transaction
        # (outbox.callbacks).
        changed = [
            p.notification_id
            for p, o in zip(plans, outcomes, strict=True)
            if p.notification_id in ours and o.status in ("sent", "failed", "unreachable")
        ]
        queue_changes(session, changed)
        if self.spend.enabled:
            sent_costs = [
                (p.agency_id, o.sent.channel_name, price_of(o.sent.channel, o.sent.segments) or 0)
                for p, o in zip(plans, outcomes, strict=True)
                if p.notification_id in ours and o.sent is not None and p.agency_id is not None
            ]
            self.spend.record(session, ours, sent_costs, now)
        # Receipts that beat us here (the provider called back before this batch was recorded).
        sent = [(p.notification_id, o.sent, o.provider_id) for p, o in zip(plans, outcomes, strict=True)]
        apply_pending(session, [(n, c.channel_name, pid) for n, c, pid in sent if c is not None], now)

    def _final_values(self, plan: Plan, out: Outcome, now: datetime) -> dict[str, object]:
        # The attempt's result is known now: the hand-off marker has done its job.
        values: dict[str, object] = {
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
            "handed_off_at": None,
            "handed_to": None,
        }
        if out.status == "deferred":
            values.update(status=S.QUEUED, not_before=out.not_before)
            if out.error is not None:  # waiting for budget: the operator sees why it is still queued
                values["error"] = out.error
            return values
        values["attempts"] = plan.attempt
        values["error"] = out.error
        if out.status == "sent" and out.sent is not None:
            values.update(
                status=S.SENT,
                # When the provider accepted it, so sent_at - not_before is the row's due-to-accepted time.
                sent_at=out.attempts[-1].finished_at if out.attempts else self.clock.now(),
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
        elif out.status == "unreachable":
            values["status"] = S.UNREACHABLE
        else:
            values["status"] = S.FAILED
        return values

    async def run_once(self, limit: int | None = None) -> DispatchStats:
        stats = DispatchStats()
        if self._stopping:
            return stats
        now = self.clock.now()
        # Off the event loop too: a claim waits on the database, and the other batch's sends (see drain)
        # would stall behind it. A worker killed meanwhile leaves its claim to the lease, like any other.
        ids = await asyncio.to_thread(self.claim, now, limit or self.settings.dispatch.batch_size)
        stats.claimed = len(ids)
        if not ids:
            return stats
        try:
            # Off the event loop: planning is database work and rendering agency-edited templates, bounded
            # (rules.sandbox) but up to [rendering] timeout_seconds per row; /healthz shares this loop in
            # `notifier run`, and the sends of the batch before this one (see drain) go on meanwhile.
            plans = await asyncio.to_thread(self._plan_batch, ids, now)
        except Exception:
            # Planning failed as a whole (database gone): give the rows back rather than leave them leased.
            self._release(ids, now)
            raise
        try:
            if self.spend.enabled:
                # Before the rate limits: a channel over its budget is not the one to reserve a slot on.
                await asyncio.to_thread(self._check_spend, plans, now)
            # Off the event loop: on a shared database it may wait for another worker's reservation.
            await asyncio.to_thread(self._reserve_first, plans)
        except Exception:
            self._release(ids, now)
            raise
        # `concurrency` lanes taking the next plan in turn, rather than a task per plan queued on a semaphore:
        # the same sends in flight, without a batch's worth of tasks and wake-ups on the event loop.
        outcomes: list[Outcome | None] = [None] * len(plans)
        turns = iter(range(len(plans)))  # shared by the lanes; one event loop, so no two take the same

        async def lane() -> None:
            for i in turns:
                if self._stopping:
                    # The process is stopping: a message not begun goes back to the queue, no attempt
                    # counted, for the next worker at once (not after its lease), rather than being sent
                    # after the service manager has run out of patience and killed us mid-send.
                    outcomes[i] = Outcome("deferred", not_before=now)
                    continue
                outcomes[i] = await self._deliver(plans[i], now)

        await asyncio.gather(*(lane() for _ in range(min(self.settings.dispatch.concurrency, len(plans)))))
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(plans)  # every lane ran to its end (an error would have raised above)
        await asyncio.to_thread(self._record_batch, plans, done, now, stats)
        if stats.retried or stats.failed:
            # A provider in trouble must show in the log at its default level (WARNING), once per batch.
            nid, error = next(
                (p.notification_id, o.error)
                for p, o in zip(plans, done, strict=True)
                if o.status in ("retry", "failed")
            )
            log.warning(
                "dispatch: %d of %d to be retried, %d failed; first: notification %s: %s",
                stats.retried,
                stats.claimed,
                stats.failed,
                nid,
                mask_contacts(error or "no reason given"),
            )
        return stats

    def _record_batch(
        self, plans: list[Plan], outcomes: list[Outcome], now: datetime, stats: DispatchStats
    ) -> None:
        with self.factory() as session, session.begin():
            self._record(session, plans, outcomes, now, stats)

    def _release(self, ids: list[int], now: datetime) -> None:
        with self.factory() as session, session.begin():
            session.execute(
                self._ours(among(Notification.id, ids, self._postgres))
                .values(status=S.QUEUED, claimed_by=None, lease_until=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def stop(self, grace_seconds: float) -> int:
        """Stop sending, for a process that is shutting down (SIGTERM from systemd or `docker stop`, Ctrl-C).

        No batch is claimed after this, and no message of a batch in flight is begun: those go back to the
        queue. The messages already on the wire are answered and recorded, waited for up to `grace_seconds`,
        so that none is left leased (delayed by the lease, or sent twice by a provider that took it but whose
        answer was never recorded). A batch still sending after the grace is cancelled, which ends it as a
        crash would: its rows keep their lease (and a Telegram or Zalo row its hand-off marker), rather than
        being recorded as failed by sends cut off when the channels close. Returns how many batches that was.
        The dispatcher sends nothing more after this.
        """
        self._stopping = True
        pending = {batch for batch in self._batches if not batch.done()}
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=grace_seconds)
        if still:
            log.warning(
                "%d batch(es) still sending after %g s of stopping: their rows wait for their lease",
                len(still),
                grace_seconds,
            )
            for batch in still:
                batch.cancel()
            await asyncio.wait(still)
        return len(still)

    async def drain(self, max_batches: int | None = None) -> DispatchStats:
        """Send everything due now; stops when a batch comes back empty with no other batch in flight.

        On PostgreSQL two batches are in flight: one is claimed, planned and recorded while the other's
        messages are on the wire, so the provider connection never idles between batches. SQLite has one
        writer, so its batches take turns.

        An empty claim while the other batch is in flight only means that batch holds what was due: the
        rows that become due meanwhile are looked for once it is done, rather than left to the next poll
        (at a steady trickle the two claims meet at once, and stopping there put an interval on every
        row's wait).
        """
        total = DispatchStats()
        started, exhausted, waiting = 0, False, False
        running: set[asyncio.Task[DispatchStats]] = set()
        in_flight = 2 if self._postgres else 1
        try:
            while True:
                while not self._stopping and not exhausted and not waiting and len(running) < in_flight and (
                    max_batches is None or started < max_batches
                ):
                    batch = asyncio.create_task(self.run_once())
                    running.add(batch)
                    self._batches.add(batch)
                    batch.add_done_callback(self._batches.discard)
                    started += 1
                if not running:
                    return total
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                # Every finished batch's error is read here: both batches may meet one database outage, and
                # an error nobody reads is logged again by asyncio, traceback and all, for every run.
                # A batch cancelled by stop() ended as a crash would: nothing of it to add.
                finished = [task for task in done if not task.cancelled()]
                errors = [error for task in finished if (error := task.exception()) is not None]
                if errors:
                    raise errors[0]
                for task in finished:
                    stats = task.result()
                    total.add(stats)
                    if stats.claimed == 0:
                        exhausted = exhausted or not running
                        waiting = bool(running)
                if not running:
                    waiting = False
        finally:
            # An error in one batch: let the other finish recording what it sent, then raise.
            if running:
                await asyncio.wait(running)
                for task in running:  # read, for the same reason: the error being raised says it already
                    if not task.cancelled():
                        task.exception()
