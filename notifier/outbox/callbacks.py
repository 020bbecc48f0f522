"""Status changes POSTed to the one-stop system: queued in the transaction of the change, sent by a job.

`queue_changes` is the one way an event is made: the enqueue, the dispatcher's record step and reclaim
(`unknown`), the receipts, and the cancellations (officer actions, erasure) call it right after they move
rows, in the same transaction, so a change is never without its event nor an event without its change. It
snapshots each row's status and channel as they are now, for rows of dossiers imported by an API key that
has a callback URL and is not revoked.

`CallbackSender.run_once` claims due events, POSTs each signed (see `sign`), and records the answer: 2xx
delivers it, anything else tries again after an exponential backoff, for as long as it takes (a receiver
that is down loses nothing). An event is re-POSTed only when its answer was not recorded (a crash, a
timeout), with the same id: the receiver drops repeats by `X-Notifier-Event-Id`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.base import TransientError
from notifier.channels.http import HttpClient
from notifier.config import CallbackSettings
from notifier.rules.clock import VN_TZ, Clock
from notifier.rules.hours import backoff
from notifier.store.engine import among, is_postgres
from notifier.store.models import ApiKey, CallbackEvent, Dossier, Notification, table_of

log = logging.getLogger("notifier.callbacks")

TIMESTAMP_HEADER = "X-Notifier-Timestamp"
SIGNATURE_HEADER = "X-Notifier-Signature"
EVENT_ID_HEADER = "X-Notifier-Event-Id"


# Built once: the query runs before every enqueue (a dozen times a scan), and building the statement cost
# more than running it.
_ANY_CALLBACK = select(exists().where(ApiKey.callback_url.is_not(None), ApiKey.revoked_at.is_(None)))


def has_callbacks(session: Session) -> bool:
    # Most installations have no callback URL: one indexed look spares every batch the INSERT … SELECT.
    return bool(session.scalar(_ANY_CALLBACK))


def queue_changes(session: Session, notification_ids: Sequence[int]) -> None:
    """Queue an event for each of these rows whose dossier's API key has a callback. Call it right after
    the change: the event's time is the row's `updated_at`, which every status change sets."""
    if not notification_ids or not has_callbacks(session):
        return
    rows = (
        select(
            ApiKey.id,
            Notification.id,
            Dossier.code,
            Notification.kind,
            Notification.status,
            Notification.channel,
            Notification.updated_at,
            literal(False),
            literal(0),
            Notification.updated_at,
        )
        .join(Dossier, Dossier.id == Notification.dossier_id)
        .join(ApiKey, ApiKey.id == Dossier.api_key_id)
        .where(
            among(Notification.id, notification_ids, is_postgres(session)),
            ApiKey.callback_url.is_not(None),
            ApiKey.revoked_at.is_(None),
        )
    )
    columns = [
        "api_key_id",
        "notification_id",
        "dossier_code",
        "kind",
        "status",
        "channel",
        "occurred_at",
        "delivered",
        "attempts",
        "next_at",
    ]
    session.execute(table_of(CallbackEvent).insert().from_select(columns, rows))


def event_id(row_id: int) -> str:
    return f"evt_{row_id}"


def event_body(event: CallbackEvent) -> bytes:
    """The JSON the receiver gets; the same bytes for every try of one event."""
    doc = {
        "event_id": event_id(event.id),
        "type": "notification.status",
        "dossier": event.dossier_code,
        "notification_id": event.notification_id,
        "kind": event.kind,
        "status": event.status,
        "channel": event.channel,
        "at": event.occurred_at.astimezone(VN_TZ).isoformat(),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256, keyed by the secret, of the timestamp, a dot and the body."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass
class Due:
    id: int
    url: str
    secret: str
    body: bytes
    attempts: int


@dataclass
class CallbackStats:
    delivered: int = 0
    failed: int = 0


class CallbackSender:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, settings: CallbackSettings) -> None:
        self.factory = factory
        self.clock = clock
        self.settings = settings
        self.client = HttpClient("callback", settings.timeout_seconds)

    def claim(self, now: datetime) -> list[Due]:
        # Past the POST's timeout: a sender that dies holding a claim leaves the event due again then.
        hold = now + timedelta(seconds=self.settings.timeout_seconds * 2 + 1)
        with self.factory() as session, session.begin():
            ids = list(
                session.scalars(
                    select(CallbackEvent.id)
                    .where(CallbackEvent.delivered.is_(False), CallbackEvent.next_at <= now)
                    .order_by(CallbackEvent.next_at, CallbackEvent.id)
                    .limit(self.settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            session.execute(
                update(CallbackEvent).where(CallbackEvent.id.in_(ids)).values(next_at=hold)
            )
            rows = session.execute(
                select(CallbackEvent, ApiKey.callback_url, ApiKey.callback_secret)
                .join(ApiKey, ApiKey.id == CallbackEvent.api_key_id)
                .where(CallbackEvent.id.in_(ids))
                .order_by(CallbackEvent.id)
            ).all()
            return [
                Due(ev.id, url or "", secret or "", event_body(ev), ev.attempts) for ev, url, secret in rows
            ]

    async def post(self, due: Due) -> str | None:
        """None when the receiver took it (2xx), else why not."""
        if not due.url:
            return "the key has no callback URL any more"
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(due.secret, timestamp, due.body),
            EVENT_ID_HEADER: event_id(due.id),
        }
        try:
            answer = await self.client.post(due.url, content=due.body, headers=headers)
        except TransientError as exc:
            return str(exc)
        if 200 <= answer.status < 300:
            return None
        return f"HTTP {answer.status}: {answer.text[:200]}"

    def record(self, results: list[tuple[Due, str | None]], now: datetime) -> None:
        with self.factory() as session, session.begin():
            for due, error in results:
                values: dict[str, object] = {"attempts": due.attempts + 1}
                if error is None:
                    values.update(delivered=True, delivered_at=now, last_error=None)
                else:
                    s = self.settings
                    wait = backoff(due.attempts + 1, s.backoff_base_seconds, s.backoff_max_seconds)
                    values.update(next_at=now + wait, last_error=error)
                session.execute(update(CallbackEvent).where(CallbackEvent.id == due.id).values(**values))

    async def run_once(self) -> CallbackStats:
        stats = CallbackStats()
        due = await asyncio.to_thread(self.claim, self.clock.now())
        if not due:
            return stats
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(d: Due) -> str | None:
            async with gate:
                return await self.post(d)

        errors = await asyncio.gather(*(one(d) for d in due))
        await asyncio.to_thread(self.record, list(zip(due, errors, strict=True)), self.clock.now())
        stats.delivered = sum(e is None for e in errors)
        stats.failed = len(errors) - stats.delivered
        if stats.failed:
            first = next(e for e in errors if e)
            log.warning("callbacks: %d of %d not taken (first: %s)", stats.failed, len(due), first)
        return stats

    async def aclose(self) -> None:
        await self.client.aclose()
