"""Opt-out records made by two transactions at once: one row, and neither transaction fails."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from notifier.rules.clock import FixedClock
from notifier.store.contacts import record_opt_out
from notifier.store.models import Contact
from tests.conftest import migrated_service
from tests.pg_content import waits_for_a_lock

CHAT = "987654321"


def test_two_transactions_recording_one_new_opt_out_make_one_row(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # Two batches in flight, each with a message to one chat that has blocked the bot: both record its
    # opt-out as they finish. The second must wait for the first's row and update it, not insert another
    # and fail its whole batch on the unique key.
    svc = migrated_service(db_url, tmp_path, clock)
    errors: list[Exception] = []

    def second() -> None:
        try:
            with svc.factory() as session, session.begin():
                record_opt_out(session, CHAT, "telegram", clock.now(), reason="blocked", source="provider")
        except Exception as exc:
            errors.append(exc)

    try:
        with svc.factory() as first, first.begin():
            record_opt_out(first, CHAT, "telegram", clock.now(), reason="blocked", source="provider")
            other = threading.Thread(target=second)
            other.start()
            if db_url.startswith("postgresql"):  # SQLite: the second waits for the write lock to begin at all
                waiting = waits_for_a_lock(svc.engine, lambda wait: other.join(wait) or not other.is_alive())
                assert waiting, "the second transaction never waited for the first's row"
        other.join(timeout=30)
        assert not other.is_alive() and errors == []
        with svc.factory() as session:
            assert session.scalar(select(func.count()).select_from(Contact)) == 1
            assert session.scalars(select(Contact)).one().opted_out_at == clock.now()
    finally:
        svc.engine.dispose()
