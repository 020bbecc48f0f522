"""Consent and opt-out per address and medium (sms, telegram, zalo, email).

`contacts` holds the current state per address and medium; every consent is also kept in `consent_records`
(what was consented to, when, through which channel) and closed when it is withdrawn."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from notifier.store.engine import among, insert_into, is_postgres
from notifier.store.models import ConsentRecord, Contact


def _get(session: Session, address: str, medium: str, now: datetime) -> Contact:
    """The row of this address and medium, made when missing by an INSERT that yields to one another
    transaction is making at the same moment: two batches in flight can each record an opt-out of one
    blocked chat, and a second plain INSERT would break the unique key and fail its whole batch."""
    found = select(Contact).where(Contact.address == address, Contact.medium == medium)
    contact = session.scalar(found)
    if contact is None:
        session.execute(
            insert_into(session, Contact)
            .values(address=address, medium=medium, updated_at=now)
            .on_conflict_do_nothing(index_elements=["address", "medium"])
        )
        contact = session.scalars(found).one()  # ours, or the other's once it committed
    return contact


def record_opt_out(
    session: Session,
    address: str,
    medium: str,
    now: datetime,
    *,
    reason: str | None = None,
    source: str | None = None,
) -> Contact:
    contact = _get(session, address, medium, now)
    if contact.opted_out_at is None:
        contact.opted_out_at = now
    session.execute(
        update(ConsentRecord)
        .where(
            ConsentRecord.address == address,
            ConsentRecord.medium == medium,
            ConsentRecord.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
        .execution_options(synchronize_session=False)
    )
    contact.reason, contact.source, contact.updated_at = reason, source, now
    session.flush()
    return contact


def record_opt_in(
    session: Session,
    address: str,
    medium: str,
    now: datetime,
    *,
    reason: str | None = None,
    source: str | None = None,
    purpose: str | None = None,
) -> Contact:
    """`purpose`: what the citizen consents to (config `[privacy] consent_purpose`); else the reason."""
    contact = _get(session, address, medium, now)
    contact.opted_out_at = None
    contact.consent_at = now
    session.add(
        ConsentRecord(
            address=address,
            medium=medium,
            purpose=purpose or reason or medium,
            channel=source or "unknown",
            given_at=now,
        )
    )
    contact.reason, contact.source, contact.updated_at = reason, source, now
    session.flush()
    return contact


def opted_out_addresses(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    wanted = list(set(pairs))
    if not wanted:
        return set()
    # By address and medium apart, then the pairs: a tuple IN list is two parameters a pair, each batch.
    pg = is_postgres(session)
    rows = session.execute(
        select(Contact.address, Contact.medium).where(
            among(Contact.address, {a for a, _ in wanted}, pg),
            among(Contact.medium, {m for _, m in wanted}, pg),
            Contact.opted_out_at.is_not(None),
        )
    ).all()
    asked = set(wanted)
    return {(a, m) for a, m in rows if (a, m) in asked}
