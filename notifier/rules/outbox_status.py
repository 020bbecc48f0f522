"""The life of an outbox row: its statuses and the only moves between them.

queued → sending (claimed by a worker) → sent → delivered / undelivered (the provider's receipt);
sending → unknown (reclaimed after a hand-off to a provider that cannot tell a repeat; see ResendPolicy);
sending → queued (a retry, a deferral, an expired lease); queued/sending → failed; queued → cancelled
(the reason for it went away). A receipt only ever moves a row to a later rank, whatever order the
provider's callbacks arrive in.
"""

from __future__ import annotations

from enum import StrEnum


class NotificationStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Handed to a provider that cannot tell a repeat (Telegram, Zalo), and the worker stopped before the
    # answer: it may or may not have arrived. An operator checks, then resends or leaves it.
    UNKNOWN = "unknown"


class ResendPolicy(StrEnum):
    """What to do with a row reclaimed after it was handed to a provider that cannot de-duplicate."""

    CHECK = "check"  # mark it `unknown` with the reason, for an operator: never sent twice
    RESEND = "resend"  # queue it again: never lost, possibly sent twice


S = NotificationStatus

# queued and sending are ours; a receipt can only push a row to a later rank.
RANK: dict[NotificationStatus, int] = {
    S.QUEUED: 0,
    S.SENDING: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.CANCELLED: 3,
    S.UNKNOWN: 2,  # like sent: a receipt saying delivered or undelivered settles it
}

# Tuples in rank order rather than sets: an IN list built from them is the same SQL on every run.
# The statuses of a message that left for the provider (reports count these as sent).
SENT_STATUSES: tuple[NotificationStatus, ...] = (S.SENT, S.DELIVERED, S.UNDELIVERED)
# Nothing more will happen to the row: retention may erase its text.
# `unknown` too: no worker will touch it again; an operator may resend it, as a failed row.
FINAL_STATUSES: tuple[NotificationStatus, ...] = (
    S.SENT,
    S.DELIVERED,
    S.UNDELIVERED,
    S.FAILED,
    S.CANCELLED,
    S.UNKNOWN,
)
# Waiting for a worker or held by one: what the queue depth counts.
PENDING_STATUSES: tuple[NotificationStatus, ...] = (S.QUEUED, S.SENDING)
# The provider took it (the dashboard's "sent"), or it did not reach the person (its "failed").
REACHED_STATUSES: tuple[NotificationStatus, ...] = (S.SENT, S.DELIVERED)
MISSED_STATUSES: tuple[NotificationStatus, ...] = (S.UNDELIVERED, S.FAILED)

# Moves the dispatcher and the admin page make (a receipt's moves are decided by RANK).
TRANSITIONS: dict[NotificationStatus, frozenset[NotificationStatus]] = {
    S.QUEUED: frozenset({S.SENDING, S.FAILED, S.CANCELLED}),
    S.SENDING: frozenset({S.QUEUED, S.SENT, S.FAILED, S.UNKNOWN}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    S.DELIVERED: frozenset(),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset({S.QUEUED}),  # "Gửi lại" on the admin page
    S.CANCELLED: frozenset(),
    S.UNKNOWN: frozenset({S.QUEUED, S.FAILED}),  # an operator resends it or closes it
}


def can_move(current: str, new: str) -> bool:
    """True when the transition table allows `current` → `new`; unknown statuses never move."""
    try:
        return NotificationStatus(new) in TRANSITIONS[NotificationStatus(current)]
    except ValueError:
        return False


def moves_forward(current: str, new: str) -> bool:
    """True when a receipt saying `new` may replace `current`; unknown states never move."""
    try:
        return RANK[NotificationStatus(new)] > RANK[NotificationStatus(current)]
    except ValueError:
        return False


class AttemptOutcome(StrEnum):
    """How one delivery attempt (a `delivery_attempts` row) ended."""

    SENT = "sent"  # the provider accepted it
    TRANSIENT = "transient"  # a retry may succeed (timeout, 5xx, rate limit)
    PERMANENT = "permanent"  # this channel will never carry it (bad number, opted out)
    SKIPPED = "skipped"  # not tried on this channel
