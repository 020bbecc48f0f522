"""Dispatch against hostile templates and lost provider answers (issue 11).

- A saved "sleeper" template (valid on the samples, explosive on one dossier) fails only its own row, with
  the reason, in the batch where it is first met and after a restart; a render that runs out of time is
  retried up to `[rendering] max_tries`, then fails; the rest of the batch is sent.
- Telegram cannot tell a repeat: the hand-off is committed before the call, and a row reclaimed after a
  crash between hand-off and answer becomes `unknown` instead of being sent again (policy "check"), or is
  sent again under policy "resend".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from notifier.channels.registry import Channels
from notifier.outbox.dispatch import Dispatcher
from notifier.rules.clock import FixedClock
from notifier.rules.rendering import validate
from notifier.store.models import Notification, Template
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.conftest import migrated_service
from tests.factories import dossier, officers, ts
from tests.fakes.helpers import build as build_service
from tests.fakes.helpers import notes, received_dossier
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo import FakeZalo

SLEEPER = (
    "{% if dossier.code.endswith('NO') %}{{ 7 ** 100000000 }}{% endif %}"
    "Hồ sơ {{ dossier.code }} đã được tiếp nhận."
)
# Exponential macro recursion: no single operation is large, only the time is.
SLOW = (
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    "{% if dossier.code.endswith('CHAM') %}{{ f(40) }}{% endif %}"
    "Hồ sơ {{ dossier.code }} đã được tiếp nhận."
)


def _save_template(service: Service, body: str) -> None:
    with service.factory() as session, session.begin():
        session.add(
            Template(kind="received", channel_type="sms", agency_id=None, version=99, body=body,
                     author="test", created_at=service.clock.now())
        )  # fmt: skip


def _received(service: Service, *codes: str) -> None:
    items = [dossier(code, TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0)) for code in codes]
    with service.factory() as session, session.begin():
        assert not upsert(session, items, service.clock.now(), source="test").errors
    service.scan()


def _by_code(service: Service) -> dict[str, Notification]:
    with service.factory() as session:
        rows = session.query(Notification).all()
        return {n.dossier.code: n for n in rows if n.dossier is not None}


def test_the_sleeper_passes_validation() -> None:
    # The premise: the editor's checks cannot catch it, so dispatch must.
    assert validate(SLEEPER, kind="received", channel_type="sms") == []


async def test_a_sleeper_template_fails_only_its_row_with_the_reason(
    service: Service, clock: FixedClock
) -> None:
    _save_template(service, SLEEPER)
    _received(service, "A-OK", "B-NO", "C-OK")
    stats = await service.dispatcher.drain()
    rows = _by_code(service)
    assert (stats.sent, stats.failed) == (2, 1)
    assert rows["A-OK"].status == rows["C-OK"].status == "sent"
    sleeper = rows["B-NO"]
    assert sleeper.status == "failed" and sleeper.attempts == 1
    assert sleeper.error is not None and "template received/sms" in sleeper.error
    assert "larger than the limit" in sleeper.error


async def test_a_sleeper_reclaimed_after_a_crash_fails_and_the_batch_goes_out(
    service: Service, clock: FixedClock
) -> None:
    _save_template(service, SLEEPER)
    _received(service, "A-OK", "B-NO", "C-OK")
    dead = Dispatcher(service.factory, service.settings, clock, Channels(service.settings.channels, clock),
                      service.calendar, "dead")  # fmt: skip
    assert len(dead.claim(clock.now(), 10)) == 3  # then killed before planning anything
    clock.advance(timedelta(seconds=service.settings.dispatch.lease_seconds + 1))
    restarted = service.dispatcher
    assert restarted.reclaim_expired() == 3
    stats = await restarted.drain()
    rows = _by_code(service)
    assert (stats.sent, stats.failed) == (2, 1)
    assert rows["B-NO"].status == "failed" and "larger than the limit" in (rows["B-NO"].error or "")


async def test_a_render_out_of_time_is_retried_then_failed_while_the_batch_is_sent(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = migrated_service(db_url, tmp_path, clock, rendering={"timeout_seconds": 0.2, "max_tries": 2})
    _save_template(svc, SLOW)
    _received(svc, "A-OK", "B-CHAM", "C-OK")
    first = await svc.dispatcher.drain()
    rows = _by_code(svc)
    assert (first.sent, first.retried) == (2, 1)
    slow = rows["B-CHAM"]
    assert (slow.status, slow.attempts) == ("queued", 1)
    assert "longer than 0.2 s" in (slow.error or "")
    clock.advance(timedelta(hours=2))
    second = await svc.dispatcher.drain()
    slow = _by_code(svc)["B-CHAM"]
    assert (second.claimed, second.failed) == (1, 1)
    assert slow.status == "failed" and (slow.error or "").startswith(
        "gave up after 2 tries: template received"
    )


async def test_a_row_whose_workers_keep_dying_fails_instead_of_stopping_every_worker(
    service: Service, clock: FixedClock
) -> None:
    _received(service, "A-OK")
    for n in range(service.settings.dispatch.max_attempts):
        dead = Dispatcher(service.factory, service.settings, clock,
                          Channels(service.settings.channels, clock), service.calendar, f"dead{n}")  # fmt: skip
        assert len(dead.claim(clock.now(), 10)) == 1
        clock.advance(timedelta(seconds=service.settings.dispatch.lease_seconds + 1))
        assert service.dispatcher.reclaim_expired() == 1
    [row] = _by_code(service).values()
    assert row.status == "failed" and row.attempts == service.settings.dispatch.max_attempts
    assert "stopped 3 times" in (row.error or "")


# -- Telegram: hand-off before the call ------------------------------------------------------------------

CHAT = "987654321"


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    monkeypatch.setenv("TEST_TG_TOKEN", fake.token)
    yield fake
    await fake.stop()


def _telegram_service(
    db_url: str, tmp_path: Path, clock: FixedClock, fake: FakeTelegram, **kw: Any
) -> Service:
    # The officer's alerts go to one chat: at Telegram's default of one message a second per chat, each
    # one after the first waited a real second, which these tests of the hand-off do not need
    # (test_channel_telegram checks the per-chat limit).
    table = {"token_env": "TEST_TG_TOKEN", "base_url": fake.url, "per_recipient_per_second": 1000.0}
    svc = build_service(
        db_url, tmp_path, clock, {"telegram": table}, citizen=["file"], officer=["telegram"], **kw
    )
    rows = officers()
    rows[0]["TelegramChatId"] = CHAT
    with svc.factory() as session, session.begin():
        upsert_officers(session, rows)
    items = [dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0))]
    with svc.factory() as session, session.begin():
        assert not upsert(session, items, svc.clock.now(), source="test").errors
    svc.scan()
    return svc


async def _crash_after_hand_off(svc: Service, clock: FixedClock, telegram: FakeTelegram) -> Notification:
    """A worker claims the officer's alert, sends it to Telegram, and dies before recording the answer."""
    dead = Dispatcher(svc.factory, svc.settings, clock, Channels(svc.settings.channels, clock),
                      svc.calendar, "dead")  # fmt: skip
    alert = next(n for n in notes(svc) if n.kind == "overdue_alert")
    # Only the alert: the citizen's apology goes to the file channel, which checks repeats itself.
    with svc.factory() as session, session.begin():
        session.execute(update(Notification).where(Notification.id != alert.id).values(status="cancelled"))
    ids = dead.claim(clock.now(), 10)
    assert ids == [alert.id]
    with svc.factory() as session:
        [plan] = dead._plan(session, ids, clock.now())
    outcome = await dead._deliver(plan, clock.now())
    await dead.channels.aclose()
    assert outcome.status == "sent" and len(telegram.received) == 1
    held = next(n for n in notes(svc) if n.id == alert.id)
    assert (held.status, held.handed_to) == ("sending", "telegram") and held.handed_off_at is not None
    clock.advance(timedelta(seconds=svc.settings.dispatch.lease_seconds + 1))
    return held


async def test_a_telegram_message_handed_off_before_a_crash_is_not_sent_twice(
    db_url: str, tmp_path: Path, clock: FixedClock, telegram: FakeTelegram
) -> None:
    svc = _telegram_service(db_url, tmp_path, clock, telegram)
    held = await _crash_after_hand_off(svc, clock, telegram)
    assert svc.dispatcher.reclaim_expired() == 1
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    row = next(n for n in notes(svc) if n.id == held.id)
    assert len(telegram.received) == 1  # never resent
    assert row.status == "unknown" and row.claimed_by is None
    assert "handed to telegram" in (row.error or "") and "not resent" in (row.error or "")


async def test_policy_resend_sends_a_handed_off_row_again(
    db_url: str, tmp_path: Path, clock: FixedClock, telegram: FakeTelegram
) -> None:
    svc = _telegram_service(db_url, tmp_path, clock, telegram, dispatch={"unconfirmed_resend": "resend"})
    held = await _crash_after_hand_off(svc, clock, telegram)
    assert svc.dispatcher.reclaim_expired() == 1
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    row = next(n for n in notes(svc) if n.id == held.id)
    assert len(telegram.received) == 2  # knowingly: the operator chose "never lost" over "never twice"
    assert row.status == "sent" and row.handed_off_at is None


async def test_a_recorded_telegram_send_clears_the_hand_off(
    db_url: str, tmp_path: Path, clock: FixedClock, telegram: FakeTelegram
) -> None:
    svc = _telegram_service(db_url, tmp_path, clock, telegram)
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    alert = next(n for n in notes(svc) if n.kind == "overdue_alert")
    assert alert.status == "sent" and (alert.handed_off_at, alert.handed_to) == (None, None)
    # and a later reclaim has nothing to say about it
    clock.advance(timedelta(hours=1))
    assert svc.dispatcher.reclaim_expired() == 0


async def test_file_rows_are_not_marked_and_are_replayed_as_before(
    service: Service, clock: FixedClock
) -> None:
    # The file channel re-reads its file on a repeat: no hand-off needed, a reclaimed row is queued again.
    _received(service, "A-OK")
    dead = Dispatcher(service.factory, service.settings, clock, Channels(service.settings.channels, clock),
                      service.calendar, "dead")  # fmt: skip
    ids = dead.claim(clock.now(), 10)
    with service.factory() as session:
        [plan] = dead._plan(session, ids, clock.now())
    assert (await dead._deliver(plan, clock.now())).status == "sent"
    [row] = _by_code(service).values()
    assert row.handed_off_at is None
    clock.advance(timedelta(seconds=service.settings.dispatch.lease_seconds + 1))
    assert service.dispatcher.reclaim_expired() == 1
    assert (await service.dispatcher.drain()).sent == 1


def test_exactly_telegram_and_zalo_get_a_hand_off() -> None:
    from notifier.channels.abilities import cannot_tell_repeats
    from tests.test_channel_abilities import SHIPPED

    marked = {name for name, (cls, _) in SHIPPED.items() if cannot_tell_repeats(cls)}  # type: ignore[arg-type]
    assert marked == {"telegram", "zalo_zns"}


# -- Zalo ZNS: the same, with the process dying while the request is in flight ---------------------------


@pytest.fixture
async def zalo(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeZalo]:
    fake = FakeZalo()
    await fake.start()
    monkeypatch.setenv("TEST_ZALO_SECRET", fake.app_secret)
    monkeypatch.setenv("TEST_ZALO_ACCESS", fake.access_token)
    monkeypatch.setenv("TEST_ZALO_REFRESH", fake.refresh_token)
    yield fake
    await fake.stop()


async def test_a_zalo_message_in_flight_when_the_worker_dies_is_left_for_a_check(
    db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo
) -> None:
    from tests.test_channel_zalo import table as zalo_table

    svc = build_service(db_url, tmp_path, clock, {"zalo_zns": zalo_table(zalo)}, citizen=["zalo_zns", "file"])
    received_dossier(svc)
    dead = Dispatcher(svc.factory, svc.settings, clock, Channels(svc.settings.channels, clock),
                      svc.calendar, "dead")  # fmt: skip
    ids = dead.claim(clock.now(), 10)
    with svc.factory() as session:
        [plan] = dead._plan(session, ids, clock.now())
    flight = asyncio.create_task(dead._deliver(plan, clock.now()))
    for _ in range(500):
        if zalo.received:
            break
        await asyncio.sleep(0.01)
    flight.cancel()  # the process dies: whatever Zalo answered is never recorded
    with contextlib.suppress(asyncio.CancelledError):
        await flight
    await dead.channels.aclose()
    assert len(zalo.received) == 1
    clock.advance(timedelta(seconds=svc.settings.dispatch.lease_seconds + 1))
    assert svc.dispatcher.reclaim_expired() == 1
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    [row] = notes(svc)
    assert len(zalo.received) == 1 and not (tmp_path / "outbox.jsonl").exists()  # not resent anywhere
    assert row.status == "unknown" and "handed to zalo_zns" in (row.error or "")
