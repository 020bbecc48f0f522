"""Limits shared by every process on one database: providers' token buckets (`SharedRateLimits`) and
failed admin logins (`LoginFailures`). The arithmetic is notifier.rules.ratelimit's; this module makes
each change atomic across processes, so N workers together keep a provider's rate, and N web processes
together allow an account name its five tries.

A reservation locks the rows of the buckets it charges, computes with the pure buckets and writes them
back, in one transaction. The rows are locked by the upsert that loads them: on PostgreSQL it takes
their row locks, in key order so that two workers cannot deadlock; on SQLite it is the transaction's
first write, which takes the database's write lock. The dispatcher reserves all messages of one channel
in a batch at once (`reserve_many`), so the database is asked once per channel and batch, not per
message.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, false, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from notifier.rules.ratelimit import (
    BucketState,
    ChannelLimiter,
    FailureLimit,
    Limits,
    LoginRules,
    Monotonic,
    RateLimited,
)
from notifier.store.engine import insert_into, is_postgres
from notifier.store.models import LoginFailure, RateBucket, table_of

# The key of a channel-wide bucket in `rate_buckets.recipient`; a real address is never empty.
CHANNEL_WIDE = ""
RECIPIENT_LENGTH = 255  # rate_buckets.recipient


class SharedRateLimits:
    """Token buckets in the `rate_buckets` table, charged by every process on the database.

    `wall` is `time.time` (injected for tests): the processes have no monotonic clock in common, and the
    domain clock may stand still (`--now`). Clocks of different hosts should agree (NTP): a skew of d
    seconds lets d × rate extra messages through, never stops a channel.
    """

    # Rows of buckets that have refilled carry no state; they are deleted at most this often (seconds).
    PRUNE_EVERY = 60.0

    def __init__(self, factory: sessionmaker[Session], wall: Monotonic = time.time) -> None:
        self.factory = factory
        self.wall = wall
        self._limits: dict[str, Limits] = {}
        self._pruned_at = -math.inf

    def _limits_of(self, channel_name: str, declared: Limits | None) -> Limits:
        limits = self._limits.get(channel_name)
        if limits is None:
            limits = self._limits[channel_name] = declared or Limits()
        return limits

    def reserve(self, channel_name: str, limits: Limits | None, recipient: str) -> float:
        """A slot for one message: seconds to wait, or RateLimited (then nothing is taken)."""
        [result] = self.reserve_many(channel_name, limits, [recipient])
        if isinstance(result, RateLimited):
            raise result
        return result

    def reserve_many(
        self, channel_name: str, declared: Limits | None, recipients: Sequence[str]
    ) -> list[float | RateLimited]:
        """Slots for messages to `recipients` in this order, in one transaction: for each the seconds to
        wait from now, or its RateLimited (a refused message takes nothing)."""
        limits = self._limits_of(channel_name, declared)
        if limits.unlimited or not recipients:
            return [0.0] * len(recipients)
        wanted = [_bucket_key(r) for r in recipients]
        keys = [CHANNEL_WIDE] if limits.rate_per_second else []
        if limits.per_recipient_per_second:
            keys += sorted(set(wanted))
        with self.factory() as session, session.begin():
            stored = _locked_buckets(session, channel_name, keys)
            # Read after the locks are ours: a process that waited for them sees a later time than the one
            # that held them, so the bucket's time only moves forward.
            now = self.wall()
            channel = stored.pop(CHANNEL_WIDE, None)
            limiter = ChannelLimiter(limits, lambda: now, channel, stored)
            results = limiter.reserve_many(wanted)
            rows = [
                {
                    "b_recipient": CHANNEL_WIDE if key is None else key,
                    "b_tokens": bucket.state.tokens,
                    "b_at": bucket.state.at,
                    "b_idle_at": bucket.full_at(),
                }
                for key, bucket in limiter.buckets().items()
            ]
            table = table_of(RateBucket)
            session.connection().execute(
                table.update()
                .where(table.c.channel == channel_name, table.c.recipient == bindparam("b_recipient"))
                .values(tokens=bindparam("b_tokens"), at=bindparam("b_at"), idle_at=bindparam("b_idle_at")),
                rows,
            )
        self._prune(now)
        return results

    def _prune(self, now: float) -> None:
        if now - self._pruned_at < self.PRUNE_EVERY:
            return
        self._pruned_at = now
        # A transaction of its own: deleting while holding bucket locks could wait on another worker that
        # waits on us.
        with self.factory() as session, session.begin():
            session.execute(delete(RateBucket).where(RateBucket.idle_at < now))


def _bucket_key(recipient: str) -> str:
    """The recipient's row key: the address itself, or its digest when longer than the column (a plugin's
    address may be; a value the column refuses would fail the whole batch)."""
    if len(recipient) <= RECIPIENT_LENGTH:
        return recipient
    return "sha256:" + hashlib.sha256(recipient.encode()).hexdigest()


def _locked_buckets(session: Session, channel_name: str, keys: list[str]) -> dict[str, BucketState]:
    """Lock (creating where missing) and read the buckets `keys` of one channel, in key order."""
    table = table_of(RateBucket)
    upsert = insert_into(session, table)
    # A new row is a bucket last touched at second 0: the refill makes it full whatever its burst is.
    upsert = upsert.values(
        [{"channel": channel_name, "recipient": k, "tokens": 0.0, "at": 0.0, "idle_at": 0.0} for k in keys]
    )
    # Updating a row to itself takes its lock and lets RETURNING give the stored state.
    locking = upsert.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.recipient], set_={"tokens": table.c.tokens}
    ).returning(table.c.recipient, table.c.tokens, table.c.at)
    return {r: BucketState(tokens, at) for r, tokens, at in session.execute(locking)}


class LoginFailures:
    """Failed admin logins in the `login_failures` table: every process serving the admin page counts
    the same rows, so the limits (`LoginRules`) hold for all of them together, not per process.

    A try is written before its password is checked and counts as a failure until `succeeded` says
    otherwise: tries sent at the same moment cannot all pass the count before any of them is written.
    """

    # Old rows are kept this long (for rules by address or over all names), deleted at most this often.
    KEEP = timedelta(days=1)
    PRUNE_EVERY = timedelta(minutes=10)
    NAME_LENGTH = 128  # the column's length; longer names are no account anyway
    ADDRESS_LENGTH = 64  # an IPv6 address with a zone fits

    def __init__(self, factory: sessionmaker[Session], limit: FailureLimit | LoginRules) -> None:
        self.factory = factory
        # A single limit is the name-and-address rule alone (the other rules out of reach).
        self.rules = limit if isinstance(limit, LoginRules) else _only(limit)
        self._pruned_at: datetime | None = None

    def begin(self, username: str, address: str | None, now: datetime) -> int | None:
        """Count one try of `username` from `address`: its id, or None when a rule refuses it."""
        name = username[: self.NAME_LENGTH]
        address = address[: self.ADDRESS_LENGTH] if address else None
        rules = self.rules
        with self.factory() as session, session.begin():
            if is_postgres(session):
                # Tries of one name take turns: under READ COMMITTED two of them could otherwise count
                # the same rows and both go on. (Tries of different names may overshoot the address and
                # overall counts by the few that run at the same instant.)
                session.execute(select(func.pg_advisory_xact_lock(LOGIN_LOCK_SPACE, _lock_key(name))))
            # On SQLite this insert is the transaction's first write: it takes the database's write lock.
            try_id: int | None = session.scalar(
                insert(LoginFailure)
                .values(username=name, address=address, at=now, cleared=False)
                .returning(LoginFailure.id)
            )
            assert try_id is not None
            f = LoginFailure
            same_name = (f.username == name) & f.cleared.is_(False)
            same_address = f.address == address if address is not None else false()

            def within(rule: FailureLimit, *where: ColumnElement[bool]) -> Any:
                return func.coalesce(func.sum(case((and_(f.at > rule.since(now), *where), 1), else_=0)), 0)

            counts = session.execute(
                select(
                    within(rules.name_and_address, same_name, same_address),
                    within(rules.address, same_address),
                    within(rules.name, same_name),
                    within(rules.overall),
                ).where(f.at > now - rules.longest, f.id != try_id)
            ).one()
            limits = (rules.name_and_address, rules.address, rules.name, rules.overall)
            if any(rule.locked(int(n)) for rule, n in zip(limits, counts, strict=True)):
                # A refused try checks no password, so it is no failure either.
                session.execute(delete(LoginFailure).where(LoginFailure.id == try_id))
                return None
        self._prune(now)
        return try_id

    def unlock(self, username: str) -> int:
        """Clear the name's failures (`notifier user unlock`): its own locks lift at once; the rows stay
        for the address and overall counts. The number of failures cleared."""
        name = username[: self.NAME_LENGTH]
        with self.factory() as session, session.begin():
            result = session.execute(
                update(LoginFailure)
                .where(LoginFailure.username == name, LoginFailure.cleared.is_(False))
                .values(cleared=True)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def succeeded(self, username: str, try_id: int) -> None:
        """The password was right: the try was no failure, and the name starts afresh."""
        name = username[: self.NAME_LENGTH]
        with self.factory() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.id == try_id))
            # Kept, not deleted: a rule by address still sees them.
            session.execute(
                update(LoginFailure)
                .where(LoginFailure.username == name, LoginFailure.cleared.is_(False))
                .values(cleared=True)
            )

    def withdraw(self, try_id: int) -> None:
        """The try ended without an answer (the database failed mid-check): it counts for nothing."""
        with self.factory() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.id == try_id))

    def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and abs(now - self._pruned_at) < self.PRUNE_EVERY:
            return
        self._pruned_at = now
        with self.factory() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.at < now - self.KEEP))


# pg_advisory_xact_lock(int, int) keys do not overlap the one-bigint keys (the scans' lock); the first
# int keeps login names apart from any other two-int lock.
LOGIN_LOCK_SPACE = 0x6C6F67  # "log"


# Look-ups of the public page take turns per client and per dossier code (notifier.workflows.chat).
LOOKUP_LOCK_SPACE = 0x6C6B70  # "lkp"

# Making an agency's month row of spend and adding a recorded cost to it take turns per agency, channel and
# month (notifier.outbox.spend).
SPEND_LOCK_SPACE = 0x73706E  # "spn"


# Storing the shipped templates' copies takes turns (notifier.store.templates.seed_defaults): two processes
# starting at once on one release must not both store the same new version.
SEED_LOCK_SPACE = 0x736564  # "sed"


def take_turns(session: Session, space: int, names: Sequence[str]) -> None:
    """On PostgreSQL, wait for the transaction-long locks on `names` (in one order, so two transactions
    cannot deadlock): transactions that name one of them run one after the other. SQLite serialises
    writers already, so nothing is taken there."""
    if not is_postgres(session):
        return
    keys = sorted({_lock_key(n) for n in names})
    if not keys:
        return
    # One statement for all of them (one round trip, not one per name): PostgreSQL evaluates a select
    # list left to right, so the locks are still taken in key order.
    session.execute(select(*(func.pg_advisory_xact_lock(space, key) for key in keys)))


def _only(limit: FailureLimit) -> LoginRules:
    never = FailureLimit(max_failures=2**31, window=limit.window)
    return LoginRules(name_and_address=limit, address=never, name=never, overall=never)


def _lock_key(name: str) -> int:
    """A stable 32-bit key for a name; two names that share one only take turns needlessly."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)
