"""Spend caps per agency, channel and month (issue 17): checked at dispatch, on SQLite and PostgreSQL.

The capped channel is a file channel named `sms` priced 1.000 đồng a message (its `chat` template family
has no SMS parts, so every message costs exactly the price); `mail` is free and reaches the same citizens.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from notifier.channels.webhook import Receipt
from notifier.config import ConfigError, SpendSettings
from notifier.outbox.dispatch import Dispatcher, DispatchStats, RoutingError, check_routing
from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.outbox.receipts import record_receipt
from notifier.outbox.spend import Ask
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.kinds import Kind
from notifier.rules.outbox_status import AttemptOutcome
from notifier.rules.outbox_status import NotificationStatus as S
from notifier.rules.spend import SpendState, Standing, month_bounds, month_key
from notifier.store.models import Agency, DeliveryAttempt, Dossier, Notification, Officer, SpendMonth
from notifier.web.api import create_app
from notifier.workflows.accounts import NewUser, create_user
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.reports import NO_AGENCY, ReportWorkflow
from notifier.workflows.service import Service
from tests.browser.kit import client_for, login
from tests.cli_process import run_notifier
from tests.conftest import make_settings
from tests.factories import AGENCY, dossier, officers, ts
from tests.fakes.helpers import build
from tests.pg_content import waits_for_a_lock

PRICE = 1000


def spend_service(
    db_url: str,
    tmp_path: Path,
    clock: FixedClock,
    budget: int = 5 * PRICE,
    officer: list[str] | None = None,
    dispatch: dict[str, Any] | None = None,
    **spend: Any,
) -> Service:
    channels = {
        "sms": {
            "plugin": "file",
            "path": str(tmp_path / "sms.jsonl"),
            "template": "chat",
            "price_vnd": PRICE,
        },
        "mail": {"plugin": "file", "path": str(tmp_path / "mail.jsonl"), "template": "email"},
        "file": {"path": str(tmp_path / "staff.jsonl"), "template": "chat"},
    }
    svc = build(
        db_url,
        tmp_path,
        clock,
        channels,
        citizen=["sms", "mail"],
        officer=officer or ["file"],
        spend={"budgets": {"sms": budget}, **spend},
        **({"dispatch": dispatch} if dispatch else {}),
    )
    with svc.factory() as session, session.begin():
        upsert_officers(session, officers())  # LD01 is the agency's head
        create_user(
            session,
            NewUser("quantri", "admin", email="quantri@haiphong.gov.vn"),
            "mật-khẩu-dài-1",
            clock.now(),
        )
        create_user(
            session, NewUser("khongdiachi", "admin"), "mật-khẩu-dài-2", clock.now()
        )  # nowhere to reach
    return svc


def queue_citizen_notices(svc: Service, count: int, start: int = 0) -> None:
    """`count` dossiers just accepted: the scan queues one `received` notice each for the citizen."""
    items = [
        dossier(f"{AGENCY}-261201-{i:04d}", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))
        for i in range(start, start + count)
    ]
    with svc.factory() as session, session.begin():
        report = upsert(session, items, svc.clock.now(), source="test")
    assert not report.errors
    svc.scan()


def citizen_rows(svc: Service) -> list[Notification]:
    with svc.factory() as session:
        return list(
            session.scalars(
                select(Notification).where(Notification.audience == "citizen").order_by(Notification.id)
            )
        )


def warnings(svc: Service) -> list[tuple[str, str]]:
    """(dedupe key, status) of every spend warning."""
    with svc.factory() as session:
        rows = session.execute(
            select(Notification.dedupe_key, Notification.status).where(
                Notification.kind == Kind.SPEND_WARNING
            )
        )
        return sorted((key, status) for key, status in rows)


def counter(svc: Service, channel: str = "sms") -> SpendMonth:
    with svc.factory() as session:
        row = session.scalar(select(SpendMonth).where(SpendMonth.channel == channel))
        assert row is not None
        return row


def by_channel(svc: Service) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for n in citizen_rows(svc):
        if n.status in (S.SENT, S.DELIVERED):
            out[n.channel] = out.get(n.channel, 0) + 1
    return out


async def test_two_dispatchers_racing_never_pass_the_cap_and_warn_once(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=5 * PRICE)
    queue_citizen_notices(svc, 12)
    other = Dispatcher(svc.factory, svc.settings, clock, svc.channels, svc.calendar, worker_id="worker-2")
    # Small batches from two workers at once, until nothing is left: each check sees the other's holds.
    for _ in range(6):
        await asyncio.gather(svc.dispatcher.run_once(limit=2), other.run_once(limit=2))
    sent = by_channel(svc)
    assert sent == {"sms": 5, "mail": 7}, sent
    assert counter(svc).spent_vnd == 5 * PRICE
    with svc.factory() as session:
        sms_cost = session.scalar(
            select(func.sum(Notification.cost_vnd)).where(
                Notification.channel == "sms", Notification.audience == "citizen"
            )
        )
    assert sms_cost == 5 * PRICE  # never one đồng past the budget on the planned channel
    month = month_key(clock.now())
    expected = [
        f"spend:{AGENCY}:sms:{month}:{level}:{who}"
        for level in ("cap", "warn")
        for who in (f"admin:{admin_id(svc)}", f"officer:{head_id(svc)}")
    ]
    assert [key for key, _ in warnings(svc)] == sorted(expected)  # the admin without an address is left out
    # More messages, another worker, a restart: the month's warnings are not repeated.
    queue_citizen_notices(svc, 3, start=100)
    restarted = Service.build(svc.settings, clock)
    await restarted.dispatcher.drain()
    await other.drain()
    assert len(warnings(svc)) == 4
    assert by_channel(svc) == {"sms": 5, "mail": 10}


def admin_id(svc: Service) -> int:
    from notifier.store.models import User

    with svc.factory() as session:
        found = session.scalar(select(User.id).where(User.username == "quantri"))
        assert found is not None
        return found


def head_id(svc: Service) -> int:
    with svc.factory() as session:
        found = session.scalar(select(Officer.id).where(Officer.code == "LD01"))
        assert found is not None
        return found


async def test_the_80_percent_warning_reaches_the_head_and_the_admin_in_vietnamese(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=5 * PRICE)
    queue_citizen_notices(svc, 4)  # 4 of 5: 80 %
    await svc.dispatcher.drain()
    assert [key.split(":")[4] for key, _ in warnings(svc)] == ["warn", "warn"]
    await svc.dispatcher.drain()  # the warnings themselves go out (working hours, the staff route)
    assert {status for _, status in warnings(svc)} == {S.SENT}
    staff = (tmp_path / "staff.jsonl").read_text(encoding="utf-8")
    assert "Cảnh báo chi phí gửi tin - Sở Tư pháp thành phố Hải Phòng" in staff
    assert "đã đạt 80% ngân sách (ngưỡng cảnh báo 80%)" in staff
    assert "Đã dùng: 4.000 đồng, ngân sách tháng: 5.000 đồng." in staff
    assert "Kính gửi đồng chí Phạm Quốc Hùng," in staff and "Kính gửi đồng chí quantri," in staff
    assert "quantri@haiphong.gov.vn" in staff


async def test_a_spent_budget_sends_citizens_by_the_next_channel_and_says_why(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=2 * PRICE)
    queue_citizen_notices(svc, 3)
    await svc.dispatcher.drain()
    rows = citizen_rows(svc)
    assert [(n.status, n.channel) for n in rows] == [(S.SENT, "sms"), (S.SENT, "sms"), (S.SENT, "mail")]
    with svc.factory() as session:
        hops = session.execute(
            select(DeliveryAttempt.channel, DeliveryAttempt.outcome, DeliveryAttempt.error)
            .where(DeliveryAttempt.notification_id == rows[2].id)
            .order_by(DeliveryAttempt.id)
        ).all()
    assert [(c, o) for c, o, _ in hops] == [("sms", AttemptOutcome.SKIPPED), ("mail", AttemptOutcome.SENT)]
    assert hops[0][2] == "vượt ngân sách tháng 12/2026: đã dùng 2.000 đồng / 2.000 đồng, tin này 1.000 đồng"
    assert [key.split(":")[4] for key, _ in warnings(svc)] == ["cap", "cap", "warn", "warn"]


async def test_wait_keeps_citizen_messages_queued_until_the_budget_is_raised_or_the_month_turns(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=2 * PRICE, on_cap="wait", wait_recheck_seconds=600)
    queue_citizen_notices(svc, 5)
    await svc.dispatcher.drain()
    rows = citizen_rows(svc)
    assert [n.status for n in rows] == [S.SENT, S.SENT, S.QUEUED, S.QUEUED, S.QUEUED]
    waiting = rows[2]
    assert waiting.attempts == 0 and waiting.channel is None
    assert waiting.not_before == clock.now() + timedelta(seconds=600)
    assert waiting.error is not None and waiting.error.startswith("chờ ngân sách: sms: vượt ngân sách")
    clock.advance(timedelta(minutes=11))
    await svc.dispatcher.drain()  # looked at again: still spent
    assert [n.status for n in citizen_rows(svc)].count(S.QUEUED) == 3
    # The province raises the budget (a new config.toml and a restart): the next look lets one more out.
    raised = svc.settings.model_copy(
        update={"spend": svc.settings.spend.model_copy(update={"budgets": {"sms": 3 * PRICE}})}
    )
    restarted = Service.build(raised, clock)
    clock.advance(timedelta(minutes=11))
    await restarted.dispatcher.drain()
    assert by_channel(svc) == {"sms": 3}
    # The month turns: a fresh budget. The rows waiting were due again at midnight at the latest.
    clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=VN_TZ))
    await restarted.dispatcher.drain()
    assert by_channel(svc) == {"sms": 5} and all(n.status == S.SENT for n in citizen_rows(svc))
    with svc.factory() as session:
        months = {m: v for m, v in session.execute(select(SpendMonth.month, SpendMonth.spent_vnd))}
    assert months == {"2026-12": 3 * PRICE, "2027-01": 2 * PRICE}


async def test_a_waiting_message_is_due_again_when_the_month_turns(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 12, 31, 20, 55, tzinfo=VN_TZ))
    svc = spend_service(db_url, tmp_path, clock, budget=PRICE, on_cap="wait", wait_recheck_seconds=86400)
    queue_citizen_notices(svc, 2)
    await svc.dispatcher.drain()
    waiting = citizen_rows(svc)[1]
    assert waiting.status == S.QUEUED
    assert waiting.not_before == month_bounds(clock.now())[1] == datetime(2027, 1, 1, tzinfo=VN_TZ)


async def test_officer_alerts_pass_a_spent_budget_and_count_in_it(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=2 * PRICE, officer=["sms"])
    queue_citizen_notices(svc, 3)
    await svc.dispatcher.drain()
    await svc.dispatcher.drain()  # the warnings queued by the first
    assert by_channel(svc) == {"sms": 2, "mail": 1}
    # The heads' warnings (and any alert the scan queued for officers) went by sms past the cap, and count.
    assert {status for _, status in warnings(svc)} == {S.SENT}
    before = counter(svc).spent_vnd
    assert before == sms_spend(svc) > 2 * PRICE
    with svc.factory() as session, session.begin():
        d = session.scalar(select(Dossier).order_by(Dossier.id))
        ha = session.scalar(select(Officer).where(Officer.code == "CB01"))
        assert d is not None and ha is not None
        alert = NewNotification("test:due_soon", Kind.DUE_SOON, dossier_id=d.id, officer_id=ha.id)
        assert enqueue(session, alert, clock.now()) is not None
    await svc.dispatcher.drain()
    with svc.factory() as session:
        sent = session.scalar(select(Notification).where(Notification.dedupe_key == "test:due_soon"))
    assert sent is not None and (sent.status, sent.channel, sent.cost_vnd) == (S.SENT, "sms", PRICE)
    assert counter(svc).spent_vnd == before + PRICE == sms_spend(svc)


def sms_spend(svc: Service) -> int:
    """What every message of the agency sent by sms cost, from the outbox itself."""
    with svc.factory() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(Notification.cost_vnd), 0))
                .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
                .outerjoin(Officer, Officer.id == Notification.officer_id)
                .where(
                    Notification.channel == "sms",
                    func.coalesce(Dossier.agency_id, Officer.agency_id).is_not(None),
                )
            )
            or 0
        )


async def test_an_agency_override_of_zero_lifts_the_cap(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=PRICE, agencies={AGENCY: {"sms": 0}})
    queue_citizen_notices(svc, 3)
    await svc.dispatcher.drain()
    assert by_channel(svc) == {"sms": 3} and warnings(svc) == []


def test_budgets_and_standing() -> None:
    spend = SpendSettings(budgets={"sms": 5000}, agencies={"A": {"sms": 9000, "zns": 100}, "B": {"sms": 0}})
    assert spend.budget_for("A", "sms") == 9000 and spend.budget_for("A", "zns") == 100
    assert spend.budget_for("B", "sms") == 0 and spend.budget_for("C", "sms") == 5000
    assert spend.budget_for(None, "mail") == 0
    assert spend.enabled and not SpendSettings().enabled and not SpendSettings(budgets={"sms": 0}).enabled
    assert Standing(3999, 5000, 80).state is SpendState.OK
    assert Standing(4000, 5000, 80).state is SpendState.WARNED
    assert Standing(5000, 5000, 80).state is SpendState.CAPPED
    assert Standing(4999, 5000, 80).fits(1) and not Standing(4999, 5000, 80).fits(2)
    # The month is Vietnam's: 17:30 UTC on 31/12 is already 00:30 on 01/01 in Hanoi.
    assert month_key(datetime(2026, 12, 31, 23, 30, tzinfo=VN_TZ)) == "2026-12"
    assert month_key(datetime.fromisoformat("2026-12-31T17:30:00+00:00")) == "2027-01"


@pytest.mark.parametrize(
    ("spend", "named"),
    [
        ({"budgets": {"sms": -1}}, "spend.budgets.sms"),
        ({"agencies": {AGENCY: {"sms": "nhiều"}}}, f"spend.agencies.{AGENCY}.sms"),
        ({"on_cap": "stop"}, "spend.on_cap"),
        ({"warn_percent": 100}, "spend.warn_percent"),
        ({"budget": {"sms": 1}}, "spend.budget"),
    ],
)
def test_config_errors_name_the_setting(tmp_path: Path, spend: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings("sqlite://", tmp_path, spend=spend)
    assert named in str(caught.value)


def test_a_budget_on_a_channel_not_configured_is_refused_at_start(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock)
    bad = svc.settings.model_copy(
        update={"spend": SpendSettings(budgets={"sms": 1}, agencies={AGENCY: {"sms_esms": 5}})}
    )
    with pytest.raises(RoutingError, match=f"spend.agencies.{AGENCY}: value 'sms_esms': no such channel"):
        check_routing(bad, svc.channels)


async def test_dashboard_report_and_metrics_show_the_months_spend(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=5 * PRICE)
    queue_citizen_notices(svc, 4)
    await svc.dispatcher.drain()
    await svc.dispatcher.drain()

    client = client_for(svc)
    assert login(client, "quantri", "mật-khẩu-dài-1").status_code == 303
    page = client.get("/admin/").text
    table = page[page.index('id="spend-table"') : page.index("</table>", page.index('id="spend-table"'))]
    assert "Chi phí gửi tin tháng 12/2026" in page
    row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table))
    assert "Sở Tư pháp thành phố Hải Phòng sms 4.000 5.000 80,0% Đã đến ngưỡng cảnh báo" in row

    # An account of another agency sees none of it.
    with svc.factory() as session, session.begin():
        session.add(Agency(code="000.00.13.H26", name="Sở Tài chính thành phố Hải Phòng"))
        session.flush()
        create_user(session, NewUser("skh", "agency", "000.00.13.H26"), "mật-khẩu-dài-3", clock.now())
    other = client_for(svc)
    assert login(other, "skh", "mật-khẩu-dài-3").status_code == 303
    assert "Tháng này chưa có tin nào tính phí." in other.get("/admin/").text

    report = json.loads(ReportWorkflow(svc).monthly("2026-12", "json").body)
    # The warning to the admin account is of no agency: a row of its own, so the total adds up.
    agency, unowned = report["agencies"]
    assert unowned["name"] == NO_AGENCY and unowned["sent_total"] >= 1, unowned
    assert report["total"]["sent_total"] == agency["sent_total"] + unowned["sent_total"]
    assert agency["cost_vnd"] == 4 * PRICE == report["total"]["cost_vnd"]
    assert [p["cost_vnd"] for p in agency["procedures"]] == [4 * PRICE]
    html = ReportWorkflow(svc).monthly("2026-12", "html").body.decode("utf-8")
    assert "Chi phí gửi tin (đồng)" in html and "4.000" in html

    scraped = TestClient(create_app(svc)).get("/metrics").text
    assert f'notifier_spend_vnd{{agency="{AGENCY}",channel="sms"}} 4000.0' in scraped
    assert f'notifier_spend_budget_vnd{{agency="{AGENCY}",channel="sms"}} 5000.0' in scraped

    # The same report from the command line (a process of its own, on the same database).
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    done = run_notifier(tmp_path, "report", "monthly", "--month", "2026-12", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agencies"][0]["cost_vnd"] == 4 * PRICE


async def test_a_dead_workers_holds_stop_counting_once_its_rows_are_reclaimed(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # One reclaim is the last: the dead worker's rows fail, so no later check plans them (and drops their
    # holds) again; only the rows' status tells that those holds no longer count.
    svc = spend_service(db_url, tmp_path, clock, budget=2 * PRICE, dispatch={"max_attempts": 1})
    queue_citizen_notices(svc, 2)
    dead = Dispatcher(svc.factory, svc.settings, clock, svc.channels, svc.calendar, worker_id="dead")
    # The worker claims the rows and holds their cost, then stops before sending anything.
    ids = dead.claim(clock.now(), 10)
    plans = dead._plan_batch(ids, clock.now())
    dead._check_spend(plans, clock.now())
    assert [p.candidates[0].channel_name for p in plans if p.audience == "citizen"] == ["sms", "sms"]
    clock.advance(timedelta(seconds=svc.settings.dispatch.lease_seconds + 1))
    assert svc.dispatcher.reclaim_expired() == len(ids)
    assert {n.status for n in citizen_rows(svc)} == {S.FAILED}
    queue_citizen_notices(svc, 2, start=10)
    await svc.dispatcher.drain()
    assert by_channel(svc) == {"sms": 2}  # the dead worker's holds did not count against the budget
    assert counter(svc).spent_vnd == 2 * PRICE


async def test_a_cost_the_provider_reports_replaces_the_estimate(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=5 * PRICE)
    queue_citizen_notices(svc, 2)
    await svc.dispatcher.drain()
    first, _ = citizen_rows(svc)
    assert (first.cost_vnd, counter(svc).spent_vnd) == (PRICE, 2 * PRICE)
    # The provider bills the first for less than the list price (a ZNS-style charge, say), and a repeat of
    # the same receipt changes nothing more.
    for _ in range(2):
        with svc.factory() as session, session.begin():
            receipt = Receipt("delivered", notification_id=first.id, cost_vnd=600)
            record_receipt(session, "sms", "file", receipt, clock.now())
    assert [n.cost_vnd for n in citizen_rows(svc)] == [600, PRICE]
    assert counter(svc).spent_vnd == 600 + PRICE == sms_spend(svc)
    # 600 + 4 × 1.000 = 4.600 of 5.000: three more go by sms (the estimates alone would have let two),
    # then the next would pass the budget and takes e-mail.
    queue_citizen_notices(svc, 4, start=10)
    await svc.dispatcher.drain()
    assert by_channel(svc) == {"sms": 5, "mail": 1}
    assert counter(svc).spent_vnd == 600 + 4 * PRICE


async def test_a_cost_in_a_receipt_that_beat_the_record_step_is_applied_with_it(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = spend_service(db_url, tmp_path, clock, budget=5 * PRICE)
    queue_citizen_notices(svc, 1)
    d = svc.dispatcher
    now = clock.now()
    # run_once, step by step, with the provider's receipt arriving while the row is still `sending`.
    ids = d.claim(now, 10)
    plans = d._plan_batch(ids, now)
    d._check_spend(plans, now)
    d._reserve_first(plans)
    outcomes = [await d._deliver(p, now) for p in plans]
    [citizen] = citizen_rows(svc)
    with svc.factory() as session, session.begin():
        receipt = Receipt("delivered", notification_id=citizen.id, cost_vnd=700)
        assert record_receipt(session, "sms", "file", receipt, now) == "pending"
    d._record_batch(plans, outcomes, now, DispatchStats())
    [citizen] = citizen_rows(svc)
    assert (citizen.status, citizen.cost_vnd) == (S.DELIVERED, 700)
    assert counter(svc).spent_vnd == 700 == sms_spend(svc)


def test_a_batch_recorded_while_the_months_row_is_made_counts(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """The month's row starts from the SUM of what was sent; a batch recorded meanwhile adds to the row.
    On PostgreSQL the two used to cross: the batch found no row to add to and committed after the SUM was
    read, so its cost counted nowhere (seen once in the suite as a counter short of the outbox's sum)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: the row's SUM and the batch's update cannot cross there")
    svc = spend_service(db_url, tmp_path, clock)
    queue_citizen_notices(svc, 2)
    gate = svc.dispatcher.spend
    now = clock.now()
    with svc.factory() as session:
        first, second = (n.id for n in citizen_rows(svc))
        agency_id = session.scalar(select(Agency.id).where(Agency.code == AGENCY))
    assert agency_id is not None
    done = threading.Event()

    def record_a_batch() -> None:
        # What Dispatcher records for a batch that sent `second` by sms: the row sent, then its cost added.
        with svc.factory() as session, session.begin():
            row = session.get(Notification, second)
            assert row is not None
            row.status, row.channel, row.cost_vnd, row.sent_at = S.SENT, "sms", PRICE, now
            session.flush()
            gate.record(session, [], [(agency_id, "sms", PRICE)], now)
        done.set()

    with svc.factory() as making, making.begin():
        # The month's first check of the channel makes its row from the SUM of what was sent: nothing yet.
        gate.check(making, [Ask(first, agency_id, [("sms", PRICE)])], now)
        recorder = threading.Thread(target=record_a_batch)
        recorder.start()
        # Until the row is committed the recorder must wait its turn; without the turn it finishes now.
        waits_for_a_lock(svc.engine, done.wait, "advisory")
        assert not done.is_set(), "the batch was recorded while the month's row was being made"
    recorder.join(timeout=30)
    assert done.is_set()
    assert counter(svc).spent_vnd == sms_spend(svc) == PRICE
