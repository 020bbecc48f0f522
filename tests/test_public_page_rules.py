"""The public page's pure rules: when a link still opens its dossier, the browser's pass, the form token,
and the dossier's timeline."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from notifier.rules.clock import VN_TZ
from notifier.rules.public_page import (
    Event,
    Step,
    Transfer,
    closed_at,
    form_token,
    form_token_ok,
    link_opens,
    read_pass,
    sign_pass,
    timeline,
)
from notifier.rules.statuses import Status

KEY = b"k" * 32
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=VN_TZ)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 12, day, hour, 0, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("status", "closed"),
    [
        (Status.PROCESSING, None),
        (Status.RESOLVED, None),  # done, waiting to be collected: still open
        (Status.RETURNED, at(3, 15)),  # the hand-over time
        (Status.WITHDRAWN, at(2)),  # the status change
        (Status.NOT_ACCEPTED, at(2)),
    ],
)
def test_closed_at(status: Status, closed: datetime | None) -> None:
    assert closed_at(status, at(3, 15) if status == Status.RETURNED else None, at(2)) == closed


def test_link_expires_days_after_close() -> None:
    closed = NOW - timedelta(days=90)
    assert link_opens(date(2026, 1, 1), closed + timedelta(minutes=1), None, NOW, 90)
    assert not link_opens(date(2026, 1, 1), closed - timedelta(minutes=1), None, NOW, 90)
    assert link_opens(date(2026, 1, 1), None, None, NOW, 0)


def test_revocation_covers_its_day_and_before() -> None:
    revoked = at(5, 16)
    assert not link_opens(date(2026, 12, 5), None, revoked, NOW, 90)
    assert not link_opens(date(2026, 12, 1), None, revoked, NOW, 90)
    assert link_opens(date(2026, 12, 6), None, revoked, NOW, 90)


def test_pass_names_its_dossier_until_it_expires() -> None:
    value = sign_pass(KEY, "000.00.30.H26-261120-0001", NOW + timedelta(minutes=30))
    assert read_pass(KEY, value, NOW) == "000.00.30.H26-261120-0001"
    assert read_pass(KEY, value, NOW + timedelta(minutes=30)) is None
    assert read_pass(b"other" * 8, value, NOW) is None
    body, stamp, tag = value.split(".")
    # A longer life or another dossier breaks the tag.
    assert read_pass(KEY, f"{body}.{int(stamp) + 3600}.{tag}", NOW) is None
    other = sign_pass(KEY, "000.00.30.H26-261120-0002", NOW + timedelta(minutes=30)).split(".")[0]
    assert read_pass(KEY, f"{other}.{stamp}.{tag}", NOW) is None
    for junk in (None, "", "...", "a.b", "x" * 500):
        assert read_pass(KEY, junk, NOW) is None


def test_form_token_belongs_to_its_nonce() -> None:
    token = form_token(KEY, "nonce-a-1234567890")
    assert form_token_ok(KEY, "nonce-a-1234567890", token)
    assert not form_token_ok(KEY, "nonce-b-1234567890", token)
    assert not form_token_ok(KEY, None, token)
    assert not form_token_ok(KEY, "nonce-a-1234567890", None)


def test_timeline_orders_the_dossier_history() -> None:
    lines = timeline(
        received_at=at(1),
        events=[
            Event(Status.SUPPLEMENT_REQUESTED, Status.PROCESSING, at(2)),
            Event(Status.PROCESSING, Status.SUPPLEMENT_REQUESTED, at(3)),
            Event(Status.PAYMENT_REQUESTED, Status.PROCESSING, at(5)),
            Event(Status.RESOLVED, Status.PAYMENT_REQUESTED, at(8)),
        ],
        transfers=[Transfer("Phòng Tài nguyên và Môi trường", at(4), None)],
        apologies=[(at(6), at(10, 17))],
        returned_at=None,
    )
    assert [line.step for line in lines] == [
        Step.RECEIVED,
        Step.SUPPLEMENT,
        Step.SUPPLEMENT_DONE,
        Step.TRANSFER,
        Step.PAYMENT,
        Step.APOLOGY,
        Step.PAID,
        Step.RESOLVED,
    ]
    transfer = lines[3]
    assert transfer.detail == "Phòng Tài nguyên và Môi trường" and not transfer.done
    assert lines[5].detail is not None and lines[5].detail.startswith("2026-12-10")


def test_the_page_names_every_step_of_the_timeline() -> None:
    # Status names come from rules.statuses.status_name (the `messages` catalog), as in the notifications.
    from notifier.web.public.app import STEP_LABELS

    assert set(STEP_LABELS) == set(Step)
