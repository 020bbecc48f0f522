"""Queries on the Zalo OA's tables: the webhook inbox (stored once per event), followers and their
interaction window, and officers' one-time link codes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from notifier.store.engine import among, insert_into, is_postgres
from notifier.store.models import DossierLinkCode, Officer, OfficerLinkCode, ZaloFollower, ZaloInboxEvent

Code = TypeVar("Code", OfficerLinkCode, DossierLinkCode)


@dataclass(frozen=True)
class InboxRow:
    """What the webhook stores for one event; see `ZaloInboxEvent`."""

    event_id: str
    event_name: str
    user_id: str | None
    occurred_at: datetime | None
    body: str


def store_events(session: Session, channel: str, events: Sequence[InboxRow], now: datetime) -> set[str]:
    """Insert the events that are not stored yet; returns the ids of those that were new. A retried event
    (same id) is left as it is: INSERT ... ON CONFLICT DO NOTHING, so two concurrent retries cannot both
    insert (nor two copies within one batch)."""
    if not events:
        return set()
    rows = [
        {
            "channel": channel,
            "event_id": e.event_id,
            "event_name": e.event_name,
            "user_id": e.user_id,
            "occurred_at": e.occurred_at,
            "body": e.body,
            "received_at": now,
            "tries": 0,
        }
        for e in events
    ]
    stmt = insert_into(session, ZaloInboxEvent).values(rows)
    stmt = stmt.on_conflict_do_nothing(index_elements=["channel", "event_id"])
    return set(session.scalars(stmt.returning(ZaloInboxEvent.event_id)))


def pending_events(
    session: Session, channel: str, limit: int, max_tries: int, now: datetime
) -> list[ZaloInboxEvent]:
    """Events not applied yet and not held by another worker (its claim has not run out)."""
    return list(
        session.scalars(
            select(ZaloInboxEvent)
            .where(
                ZaloInboxEvent.channel == channel,
                ZaloInboxEvent.processed_at.is_(None),
                ZaloInboxEvent.tries < max_tries,
                or_(ZaloInboxEvent.claimed_until.is_(None), ZaloInboxEvent.claimed_until < now),
            )
            .order_by(ZaloInboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def follower(session: Session, channel: str, user_id: str, now: datetime) -> ZaloFollower:
    """The follower row, created on first sight (an event from someone we have not seen follow)."""
    row = session.scalar(
        select(ZaloFollower).where(ZaloFollower.channel == channel, ZaloFollower.user_id == user_id)
    )
    if row is None:
        row = ZaloFollower(channel=channel, user_id=user_id, following=True, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
    return row


def last_interaction(session: Session, channel: str, user_id: str) -> tuple[bool, datetime | None] | None:
    """(still following, last message) of a follower; None when we never heard from them."""
    row = session.execute(
        select(ZaloFollower.following, ZaloFollower.last_interaction_at).where(
            ZaloFollower.channel == channel, ZaloFollower.user_id == user_id
        )
    ).first()
    return None if row is None else (bool(row[0]), row[1])


def followers_by_phone(session: Session, phones: Iterable[str]) -> dict[str, str]:
    """phone -> the Zalo user id that shared it with consent and still follows (the newest interaction
    first when several accounts shared one phone)."""
    wanted = {p for p in phones if p}
    if not wanted:
        return {}
    found: dict[str, str] = {}
    rows = session.execute(
        select(ZaloFollower.phone, ZaloFollower.user_id)
        .where(among(ZaloFollower.phone, wanted, is_postgres(session)), ZaloFollower.following)
        .order_by(ZaloFollower.last_interaction_at.desc(), ZaloFollower.id.desc())
    ).all()
    for phone, user_id in rows:
        if phone:
            found.setdefault(phone, user_id)
    return found


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode("utf-8")).hexdigest()


def add_link_code(session: Session, officer: Officer, code: str, now: datetime, ttl: timedelta) -> None:
    # A new code replaces the officer's unused ones: only the latest printed code works.
    session.execute(
        update(OfficerLinkCode)
        .where(OfficerLinkCode.officer_id == officer.id, OfficerLinkCode.used_at.is_(None))
        .values(expires_at=now)
    )
    session.add(OfficerLinkCode(officer_id=officer.id, code_hash=hash_code(code), created_at=now,
                                expires_at=now + ttl))  # fmt: skip


def _spend(session: Session, table: type[Code], code: str, zalo_user_id: str, now: datetime) -> Code | None:
    """The unused, unexpired row of this code, now spent by the follower; None for any other code (spent,
    expired, unknown: the same answer, so codes cannot be probed)."""
    row = session.scalar(
        select(table).where(table.code_hash == hash_code(code), table.used_at.is_(None)).with_for_update()
    )
    if row is None or row.expires_at <= now:
        return None
    row.used_at, row.used_by = now, zalo_user_id
    return row


def use_link_code(session: Session, code: str, zalo_user_id: str, now: datetime) -> Officer | None:
    """Link the officer whose unused, unexpired code this is; None for any other code."""
    row = _spend(session, OfficerLinkCode, code, zalo_user_id, now)
    if row is None:
        return None
    officer = session.get(Officer, row.officer_id)
    if officer is None or not officer.active:
        return None
    # One Zalo account per officer, and one officer per Zalo account.
    session.execute(update(Officer).where(Officer.zalo_user_id == zalo_user_id).values(zalo_user_id=None))
    officer.zalo_user_id = zalo_user_id
    return officer


def officer_by_zalo(session: Session, zalo_user_id: str) -> Officer | None:
    return session.scalar(select(Officer).where(Officer.zalo_user_id == zalo_user_id, Officer.active))


def add_dossier_link_code(
    session: Session, dossier_id: int, code: str, now: datetime, ttl: timedelta
) -> None:
    """A citizen's code for one dossier (the public page); several may be live (two family members)."""
    session.add(DossierLinkCode(dossier_id=dossier_id, code_hash=hash_code(code), created_at=now,
                                expires_at=now + ttl))  # fmt: skip


def use_dossier_link_code(session: Session, code: str, zalo_user_id: str, now: datetime) -> int | None:
    """The dossier whose unused, unexpired code this is (now spent); None for any other code."""
    row = _spend(session, DossierLinkCode, code, zalo_user_id, now)
    return None if row is None else row.dossier_id
