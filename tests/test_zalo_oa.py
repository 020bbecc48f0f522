"""zalo_oa end to end: a loopback fake of Zalo's OA API and OAuth (a real HTTP server), the real webhook
route of the core app, the inbox worker and the dispatcher.

A citizen follows, shares their phone, gets status pushes inside the interaction window and a ZNS template
outside it (then SMS when ZNS cannot carry the kind); an officer links with a one-time code, gets an
overdue alert with signed buttons and sets a new date; forged, replayed and oversized webhook calls change
nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from notifier.config import RoutingSettings
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import ApologySlip, ChatFormState, Dossier, Officer, ZaloFollower, ZaloInboxEvent
from notifier.web.api import create_app
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import ZaloOaInbox, new_link_code
from tests.factories import dossier, officers, ts
from tests.fakes.helpers import attempts, notes, received_dossier
from tests.fakes.helpers import build as build_service
from tests.fakes.zalo import FakeZaloOa
from tests.test_channel_zalo import table as zns_table

OA_SECRET = "oa-secret"
CITIZEN = "7301000000000000001"  # Zalo user ids are long digit strings
OFFICER = "7301000000000000002"
INTRUDER = "7301000000000000003"


@pytest.fixture
async def oa(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeZaloOa]:
    fake = FakeZaloOa()
    await fake.start()
    monkeypatch.setenv("TEST_ZALO_SECRET", fake.app_secret)
    monkeypatch.setenv("TEST_ZALO_ACCESS", fake.access_token)
    monkeypatch.setenv("TEST_ZALO_REFRESH", fake.refresh_token)
    monkeypatch.setenv("TEST_ZALO_OA_SECRET", OA_SECRET)
    yield fake
    await fake.stop()


def oa_table(fake: FakeZaloOa, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "zalo_oa",
        "base_url": fake.url,
        "oauth_url": f"{fake.url}/v4/oa/access_token",
        "app_id": fake.app_id,
        "app_secret_env": "TEST_ZALO_SECRET",
        "oa_secret_env": "TEST_ZALO_OA_SECRET",
        "access_token_env": "TEST_ZALO_ACCESS",
        "refresh_token_env": "TEST_ZALO_REFRESH",
        "token_key": "zalo",
        "price_vnd": 0,
        **extra,
    }


def _service(db_url: str, tmp_path: Path, clock: FixedClock, fake: FakeZaloOa, **oa_extra: Any) -> Service:
    channels = {
        "zalo_oa": oa_table(fake, **oa_extra),
        "zalo_zns": zns_table(fake, token_key="zalo", price_vnd=300),
        # The file channel stands for SMS: an SMS template family, priced per part.
        "file": {"path": str(tmp_path / "outbox.jsonl"), "template": "sms", "price_vnd": 800},
    }
    svc = build_service(
        db_url,
        tmp_path,
        clock,
        channels,
        citizen=["zalo_oa", "zalo_zns", "file"],
        officer=["zalo_oa", "file"],
    )
    return svc


@pytest.fixture
async def svc(db_url: str, tmp_path: Path, clock: FixedClock, oa: FakeZaloOa) -> AsyncIterator[Service]:
    service = _service(db_url, tmp_path, clock, oa)
    yield service
    await service.channels.aclose()
    service.engine.dispose()


def event(clock: FixedClock, name: str, user: str, **fields: Any) -> dict[str, Any]:
    who = {"follower": {"id": user}} if name in ("follow", "unfollow") else {"sender": {"id": user}}
    return {
        "app_id": "4321",
        "event_name": name,
        **who,
        "recipient": {"id": "oa-1"},
        "timestamp": str(int(clock.now().timestamp() * 1000)),
        **fields,
    }


def text(clock: FixedClock, user: str, body: str, msg_id: str) -> dict[str, Any]:
    return event(clock, "user_send_text", user, message={"msg_id": msg_id, "text": body})


def signed(ev: dict[str, Any], secret: str = OA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(ev, ensure_ascii=False).encode()
    mac = hashlib.sha256(b"4321" + body + ev["timestamp"].encode() + secret.encode()).hexdigest()
    return body, {"content-type": "application/json", "X-ZEvent-Signature": f"mac={mac}"}


def client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service)), base_url="http://n.internal"
    )


async def deliver(service: Service, *events: dict[str, Any]) -> list[httpx.Response]:
    """Post each event to the real webhook, then let the inbox worker apply them."""
    async with client(service) as c:
        answers = [
            await c.post("/webhooks/zalo_oa/inbound", content=b, headers=h) for b, h in map(signed, events)
        ]
    await ZaloOaInbox(service).process()
    return answers


def inbox(service: Service) -> list[ZaloInboxEvent]:
    with service.factory() as session:
        return list(session.scalars(select(ZaloInboxEvent).order_by(ZaloInboxEvent.id)))


def follower(service: Service, user: str) -> ZaloFollower | None:
    with service.factory() as session:
        return session.scalar(select(ZaloFollower).where(ZaloFollower.user_id == user))


# -- the webhook ------------------------------------------------------------------------------------------


async def test_forged_replayed_and_oversized_calls_change_nothing(svc: Service, clock: FixedClock) -> None:
    ev = text(clock, CITIZEN, "xin chào", "m-1")
    body, headers = signed(ev)
    forged_body, forged_headers = signed(ev, secret="not-the-oa-secret")
    tampered = body.replace("xin chào".encode(), b"HUY")
    big = event(clock, "user_send_text", CITIZEN, message={"msg_id": "m-2", "text": "a" * 70_000})
    big_body, big_headers = signed(big)
    async with client(svc) as c:
        forged = await c.post("/webhooks/zalo_oa/inbound", content=forged_body, headers=forged_headers)
        changed = await c.post("/webhooks/zalo_oa/inbound", content=tampered, headers=headers)
        unsigned = await c.post(
            "/webhooks/zalo_oa/inbound", content=body, headers={"content-type": "application/json"}
        )
        oversized = await c.post("/webhooks/zalo_oa/inbound", content=big_body, headers=big_headers)
        assert inbox(svc) == []
        first = await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
        replayed = await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
    statuses = [r.status_code for r in (forged, changed, unsigned, oversized, first, replayed)]
    assert statuses == [403, 403, 403, 413, 200, 200]
    assert (first.json(), replayed.json()) == ({"received": 1, "new": 1}, {"received": 1, "new": 0})
    [stored] = inbox(svc)
    assert (stored.event_id, stored.user_id, stored.processed_at) == ("user_send_text:m-1", CITIZEN, None)
    stats = await ZaloOaInbox(svc).process()
    again = await ZaloOaInbox(svc).process()
    assert (stats.processed, again.processed) == (1, 0)  # applied once, whatever Zalo retried


async def test_concurrent_calls_share_a_commit_and_a_retry_among_them_is_stored_once(
    svc: Service, clock: FixedClock
) -> None:
    events = [text(clock, CITIZEN, f"tin {i}", f"m-{i}") for i in range(20)]
    calls = [signed(e) for e in events] + [signed(events[3]), signed(events[3])]
    async with client(svc) as c:
        answers = await asyncio.gather(
            *(c.post("/webhooks/zalo_oa/inbound", content=b, headers=h) for b, h in calls)
        )
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["new"] for a in answers) == 20  # each event counted new exactly once
    assert sorted(e.event_id for e in inbox(svc)) == sorted(f"user_send_text:m-{i}" for i in range(20))


# -- the citizen ------------------------------------------------------------------------------------------


async def test_citizen_follows_shares_phone_and_gets_pushes_in_the_window_then_zns_then_sms(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    await deliver(svc, event(clock, "follow", CITIZEN))
    # The core's welcome with its menu as query buttons (a menu button sends its label back as text),
    # then the request-user-info message: the phone comes only with the citizen's consent.
    assert len(oa.cs) == 2 and "Zalo" in oa.cs[0]["message"]["text"]
    menu = oa.cs[0]["message"]["attachment"]["payload"]["buttons"]
    assert {"title": "Tra cứu hồ sơ", "type": "oa.query.show", "payload": "Tra cứu hồ sơ"} in menu
    assert oa.cs[1]["message"]["attachment"]["payload"]["template_type"] == "request_user_info"

    info = {"name": "Nguyễn Văn An", "phone": "84912345678", "address": "", "city": "", "district": ""}
    await deliver(svc, event(clock, "user_submit_info", CITIZEN, info=info))
    f = follower(svc, CITIZEN)
    assert f is not None and (f.phone, f.following) == ("+84912345678", True)
    assert "091****678" in oa.texts_to(CITIZEN)[-1]

    # Inside the window: the status push is a free cs message on Zalo.
    received_dossier(svc)
    await svc.dispatcher.drain()
    [n1] = notes(svc)
    assert (n1.status, n1.channel, n1.recipient, n1.cost_vnd) == ("sent", "zalo_oa", f"zalo_oa:{CITIZEN}", 0)
    assert "000.00.30.H26-261120-0001" in oa.texts_to(CITIZEN)[-1]

    # Two days later the window (48 h) is closed: ZNS by phone carries the next one, never dropped.
    clock.advance(timedelta(hours=49))
    received_dossier(svc, "000.00.30.H26-261120-0002")
    cs_before = len(oa.cs)
    await svc.dispatcher.drain()
    n2 = notes(svc)[-1]
    assert (n2.status, n2.channel, n2.recipient, n2.cost_vnd) == ("sent", "zalo_zns", "+84912345678", 300)
    assert len(oa.cs) == cs_before and len(oa.received) == 1
    hops = [(a.channel, a.outcome) for a in attempts(svc) if a.notification_id == n2.id]
    assert hops == [("zalo_oa", "permanent"), ("zalo_zns", "sent")]
    why = next(a.error for a in attempts(svc) if a.notification_id == n2.id)
    assert why is not None and "outside the 48 h interaction window" in why

    # A kind without a ZNS template goes on to SMS, priced per part.
    received_dossier(svc, "000.00.30.H26-261120-0002", TrangThaiHoSo=5)
    await svc.dispatcher.drain()
    n3 = notes(svc)[-1]
    assert (n3.kind, n3.status, n3.channel) == ("supplement_requested", "sent", "file")
    assert n3.segments is not None and n3.cost_vnd == 800 * n3.segments

    # The citizen writes again: the window reopens and Zalo carries the next push.
    await deliver(svc, text(clock, CITIZEN, "cảm ơn", "m-9"))
    received_dossier(svc, "000.00.30.H26-261120-0003")
    await svc.dispatcher.drain()
    assert (notes(svc)[-1].channel, notes(svc)[-1].cost_vnd) == ("zalo_oa", 0)


async def test_an_unfollowed_citizen_gets_zns_and_the_hop_says_why(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    info = {"phone": "0912345678"}
    await deliver(svc, event(clock, "follow", CITIZEN), event(clock, "user_submit_info", CITIZEN, info=info))
    await deliver(svc, event(clock, "unfollow", CITIZEN))
    received_dossier(svc)
    await svc.dispatcher.drain()
    [n] = notes(svc)
    # Unfollowed: no longer an address at all; the skipped hop is recorded with why.
    assert n.channel == "zalo_zns"
    [skip] = [a for a in attempts(svc) if a.channel == "zalo_oa"]
    assert (skip.outcome, skip.error) == ("skipped", "no address for citizen")


async def test_a_delivery_event_on_the_app_webhook_is_a_zns_receipt(svc: Service, clock: FixedClock) -> None:
    received_dossier(svc)
    await svc.dispatcher.drain()
    [n] = notes(svc)
    assert (n.channel, n.status) == ("zalo_zns", "sent")
    msg = {"msg_id": n.provider_id, "tracking_id": str(n.id)}
    await deliver(svc, event(clock, "user_received_message", CITIZEN, message=msg))
    assert notes(svc)[0].status == "delivered"


# -- the officer ------------------------------------------------------------------------------------------


def _seed_officer_dossiers(service: Service) -> dict[str, int]:
    with service.factory() as session, session.begin():
        assert not upsert_officers(session, officers()).errors
        items = [dossier("A", MaCanBo="CB01", NgayHenTra=ts(2026, 11, 30, 17, 0))]  # overdue since yesterday
        assert not upsert(session, items, service.clock.now(), "test").errors
        return dict(session.execute(select(Dossier.code, Dossier.id)).all())


async def test_officer_links_gets_an_overdue_alert_and_sets_a_new_date_from_a_button(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    ids = _seed_officer_dossiers(svc)
    link = new_link_code(svc, "CB01")
    await deliver(
        svc, text(clock, OFFICER, "LK WRONG123", "m-1"), text(clock, INTRUDER, f"lk {link.code}", "m-2")
    )
    # The first to send the code gets the link; the code is spent.
    await deliver(svc, text(clock, OFFICER, f"LK {link.code}", "m-3"))
    assert "không đúng hoặc đã hết hạn" in oa.texts_to(OFFICER)[-1]
    with svc.factory() as session:
        cb01 = session.scalar(select(Officer).where(Officer.code == "CB01"))
        assert cb01 is not None and cb01.zalo_user_id == INTRUDER
    link = new_link_code(svc, "CB01")
    await deliver(svc, text(clock, OFFICER, f"LK {link.code}", "m-4"))
    assert "CB01" in oa.texts_to(OFFICER)[-1]
    with svc.factory() as session:
        cb01 = session.scalar(select(Officer).where(Officer.code == "CB01"))
        assert cb01 is not None and cb01.zalo_user_id == OFFICER

    svc.scan()
    await svc.dispatcher.drain()
    [alert] = [m for m in oa.cs if m["recipient"]["user_id"] == OFFICER and "attachment" in m["message"]]
    buttons = alert["message"]["attachment"]["payload"]["buttons"]
    assert [b["title"] for b in buttons] == ["Lập Mẫu 04 (xin lỗi, gia hạn)", "Đã xử lý xong"]
    assert all(b["type"] == "oa.query.show" for b in buttons)
    new_date = buttons[0]["payload"]
    assert new_date.startswith(f"#oa:n:{ids['A']}.")

    # Forwarded to someone else, the button does nothing: no answer, no change.
    before = len(oa.cs)
    await deliver(svc, text(clock, INTRUDER, new_date, "m-5"))
    assert len(oa.cs) == before and inbox(svc)[-1].outcome == "button_refused"
    forged = new_date[:-1] + ("0" if new_date[-1] != "0" else "1")
    await deliver(svc, text(clock, OFFICER, forged, "m-6"))
    assert len(oa.cs) == before

    # The core asks for the date and reason, and remembers it asked (Zalo has no reply-to-a-message).
    await deliver(svc, text(clock, OFFICER, new_date, "m-7"))
    assert "Đặt ngày hẹn mới cho hồ sơ A" in oa.texts_to(OFFICER)[-1]
    with svc.factory() as session:
        asked = session.get(ChatFormState, ("zalo_oa", f"zalo_oa:{OFFICER}"))
        assert asked is not None and asked.step == "OfficerNewDate"
    await deliver(svc, text(clock, OFFICER, "10/12/2026; Chờ kết quả xác minh của Công an", "m-8"))
    assert "10/12/2026" in oa.texts_to(OFFICER)[-1]
    with svc.factory() as session:
        slip = session.scalar(select(ApologySlip))
        assert slip is not None and slip.reason == "Chờ kết quả xác minh của Công an"
        d = session.get(Dossier, ids["A"])
        assert d is not None and d.apology_new_due_at is not None
        assert d.apology_new_due_at.strftime("%d/%m/%Y") == "10/12/2026"


async def test_cli_link_code_is_single_use_and_only_the_latest_works(svc: Service, clock: FixedClock) -> None:
    _seed_officer_dossiers(svc)
    old, new = new_link_code(svc, "CB01"), new_link_code(svc, "CB01")
    await deliver(svc, text(clock, OFFICER, f"LK {old.code}", "m-1"))
    assert [e.outcome for e in inbox(svc)] == ["link_refused"]
    clock.advance(timedelta(hours=25))
    await deliver(svc, text(clock, OFFICER, f"LK {new.code}", "m-2"))
    assert [e.outcome for e in inbox(svc)] == ["link_refused", "link_refused"]  # expired after 24 h
    with svc.factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(Officer).where(Officer.zalo_user_id.is_not(None)))
            == 0
        )


# -- tokens -----------------------------------------------------------------------------------------------


async def test_oa_and_zns_share_one_refresh_token(
    db_url: str, tmp_path: Path, clock: FixedClock, oa: FakeZaloOa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZALO_ACCESS", "access-expired")
    svc = _service(db_url, tmp_path, clock, oa)
    try:
        await deliver(svc, event(clock, "follow", CITIZEN))  # the OA refreshes, spending refresh-1
        received_dossier(svc)
        await svc.dispatcher.drain()  # the citizen gave no phone: ZNS... which has none either: SMS
        received_dossier(svc, "000.00.30.H26-261120-0002", SoDienThoai="0912345679")
        await svc.dispatcher.drain()
    finally:
        await svc.channels.aclose()
        svc.engine.dispose()
    # One refresh in all: ZNS found the OA's new tokens under the shared key instead of spending refresh-1.
    assert len(oa.refreshes) == 1
    assert oa.received and oa.tokens_seen[-1] == "access-2"


# -- routing rules ----------------------------------------------------------------------------------------


def test_the_most_specific_routing_rule_wins() -> None:
    routing = RoutingSettings.model_validate(
        {
            "citizen": ["zalo_oa", "zalo_zns", "sms"],
            "rules": [
                {"kind": "payment_due", "channels": ["zalo_zns", "sms"]},
                {"agency": "000.00.30.H26", "channels": ["sms"]},
                {"agency": "000.00.30.H26", "kind": "payment_due", "channels": ["email"]},
                {"audience": "officer", "kind": "payment_due", "channels": ["telegram"]},
            ],
        }
    )
    assert routing.for_notification("citizen", "received", None) == ["zalo_oa", "zalo_zns", "sms"]
    assert routing.for_notification("citizen", "payment_due", "OTHER") == ["zalo_zns", "sms"]
    assert routing.for_notification("citizen", "received", "000.00.30.H26") == ["sms"]
    assert routing.for_notification("citizen", "payment_due", "000.00.30.H26") == ["email"]
    assert routing.for_notification("officer", "overdue_alert", None) == ["file"]
    with pytest.raises(ValueError, match="audience: value 'people'"):
        RoutingSettings.model_validate({"rules": [{"audience": "people", "channels": ["sms"]}]})


async def test_the_scheduler_applies_the_inbox_about_every_second(svc: Service, clock: FixedClock) -> None:
    from jobs import tasks
    from jobs.scheduler import build_scheduler

    job = build_scheduler(svc).get_job("zalo_inbox")
    assert job is not None and job.trigger.interval == timedelta(seconds=1)
    async with client(svc) as c:
        body, headers = signed(event(clock, "follow", CITIZEN))
        assert (await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)).status_code == 200
    assert await tasks.zalo_inbox(job.args[0]) == 1
    assert [e.outcome for e in inbox(svc)] == ["follow"]


async def test_costs_per_channel_and_what_zalo_saved_against_sms(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    from notifier.workflows.costs import cost_summary, dong

    await deliver(
        svc,
        event(clock, "follow", CITIZEN),
        event(clock, "user_submit_info", CITIZEN, info={"phone": "0912345678"}),
    )
    received_dossier(svc)  # zalo_oa (in the window), free
    received_dossier(svc, "000.00.30.H26-261120-0002", SoDienThoai="0987654321")  # no follower: ZNS, 300
    received_dossier(svc, "000.00.30.H26-261120-0003", SoDienThoai="0987654322", TrangThaiHoSo=5)  # SMS
    await svc.dispatcher.drain()
    summary = cost_summary(svc, "01/12/2026", "01/12/2026")
    by = {c.channel: c for c in summary.channels}
    assert {k: (c.messages, c.cost_vnd) for k, c in by.items()} == {
        "zalo_oa": (1, 0),
        "zalo_zns": (1, 300),
        "file": (1, 800 * by["file"].parts),
    }
    assert summary.sms_price_vnd == 800 and summary.average_parts == by["file"].parts
    # Two messages not sent by SMS would have cost 2 × 800 × parts; ZNS cost 300 of that.
    assert summary.saved_vnd == 2 * 800 * by["file"].parts - 300
    assert dong(1_500_000) == "1.500.000 đồng"
    assert cost_summary(svc, "02/12/2026", "31/12/2026").channels == []


async def test_citizen_sends_feedback_on_zalo_and_gets_the_officers_answer_there(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    from notifier.store.models import Feedback
    from notifier.workflows.feedback import answer

    await deliver(svc, event(clock, "follow", CITIZEN))
    await deliver(svc, text(clock, CITIZEN, "Gửi phản ánh, kiến nghị", "m-1"))  # the menu button's label
    buttons = oa.cs[-1]["message"]["attachment"]["payload"]["buttons"]
    [none] = [b["payload"] for b in buttons if b["payload"].startswith("#fb:none.")]
    await deliver(svc, text(clock, CITIZEN, none, "m-2"))
    await deliver(
        svc, text(clock, CITIZEN, "Đề nghị cho biết vì sao hồ sơ của tôi chưa được giải quyết.", "m-3")
    )
    with svc.factory() as session, session.begin():
        fb = session.scalar(select(Feedback))
        assert fb is not None and fb.chat_id == f"zalo_oa:{CITIZEN}"
        answer(
            session, fb.id, "Hồ sơ đang chờ ý kiến của cơ quan phối hợp.", "CB01", clock.now(), "Hải Phòng"
        )
    await svc.dispatcher.drain()
    [n] = [n for n in notes(svc) if n.kind == "feedback_answer"]
    assert (n.status, n.channel, n.recipient) == ("sent", "zalo_oa", f"zalo_oa:{CITIZEN}")
    assert "Hồ sơ đang chờ ý kiến của cơ quan phối hợp." in oa.texts_to(CITIZEN)[-1]


def test_admin_page_gives_an_officer_a_link_code_shown_once(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    from tests.browser.kit import client_for, csrf_of, ready_province

    province = ready_province(db_url, tmp_path, clock)
    try:
        admin = client_for(province.service, "quantri")
        token = csrf_of(admin.get("/admin/users").text)
        with province.service.factory() as session:
            officer = session.scalar(select(Officer.code).order_by(Officer.id))
        shown = admin.post("/admin/users/zalo-link-code", data={"csrf_token": token, "officer": officer})
        unknown = admin.post("/admin/users/zalo-link-code", data={"csrf_token": token, "officer": "NOBODY"})
        agency = client_for(province.service, "stp")
        refused = agency.post("/admin/users/zalo-link-code", data={"csrf_token": token, "officer": officer})
    finally:
        province.service.engine.dispose()
    assert shown.status_code == 200 and f"Mã liên kết của {officer}: <strong>LK " in shown.text
    assert unknown.status_code == 422 and "NOBODY" in unknown.text
    assert refused.status_code == 403  # agency accounts cannot hand out codes
    with province.service.factory() as session:
        from notifier.store.models import AuditEntry, OfficerLinkCode

        assert session.scalar(select(func.count()).select_from(OfficerLinkCode)) == 1
        assert (
            session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "officer.zalo_link_code"))
            == "quantri"
        )


async def test_a_claimed_event_is_left_to_its_worker_until_the_claim_runs_out(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    async with client(svc) as c:
        body, headers = signed(event(clock, "follow", CITIZEN))
        await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
    first, second = ZaloOaInbox(svc), ZaloOaInbox(svc)
    assert first._claim(10) != []  # a worker took it, then stopped before applying it
    assert (await second.process()).processed == 0  # another worker leaves it alone meanwhile
    clock.advance(timedelta(minutes=3))
    assert (await second.process()).processed == 1  # the claim ran out: applied once
    assert [e.outcome for e in inbox(svc)] == ["follow"] and len(oa.cs) == 2


async def test_public_page_code_links_a_follower_to_one_dossier(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    """The public page's "follow on Zalo": a one-time code sent as "LK <code>" links the follower to the
    dossier (no phone shared), records the consent, and the dossier's next notice goes to that follower."""
    from notifier.store.models import ChatLink, ConsentRecord
    from notifier.workflows.public_page import PublicPage

    code = "000.00.30.H26-261120-0001"
    received_dossier(svc, code, SoDienThoai="0977000111")
    await svc.dispatcher.drain()
    await deliver(svc, event(clock, "follow", CITIZEN))
    link = PublicPage(svc).zalo_code(code, "203.0.113.7")
    await deliver(svc, text(clock, CITIZEN, f"LK {link.code.lower()}", "m-1"))
    assert f"Đã đăng ký nhận thông báo về hồ sơ {code} qua Zalo" in oa.texts_to(CITIZEN)[-1]
    # Spent: the same code from someone else is refused like any wrong code.
    await deliver(svc, text(clock, INTRUDER, f"LK {link.code}", "m-2"))
    assert "không đúng hoặc đã hết hạn" in oa.texts_to(INTRUDER)[-1]
    with svc.factory() as session:
        [chat] = session.scalars(select(ChatLink).where(ChatLink.chat_id == f"zalo_oa:{CITIZEN}")).all()
        assert chat.active and chat.dossier_id is not None and chat.phone is None
        consent = session.scalars(select(ConsentRecord).where(ConsentRecord.address == f"zalo_oa:{CITIZEN}"))
        assert [c.channel for c in consent] == ["web"]
    received_dossier(svc, code, TrangThaiHoSo=5)
    await svc.dispatcher.drain()
    last = notes(svc)[-1]
    assert (last.kind, last.channel, last.recipient) == ("supplement_requested", "zalo_oa", f"zalo_oa:{CITIZEN}")


async def test_the_window_follows_the_latest_message_when_retries_come_out_of_order(
    svc: Service, clock: FixedClock
) -> None:
    newer = text(clock, CITIZEN, "xin chào", "m-new")
    clock.advance(timedelta(hours=-3))
    older = text(clock, CITIZEN, "chào", "m-old")  # sent earlier, delivered later (a retry)
    clock.advance(timedelta(hours=3))
    await deliver(svc, newer)  # the first event creates the follower
    await deliver(svc, older)  # a known follower: one UPDATE, which must keep the later time
    with svc.factory() as session:
        f = session.scalar(select(ZaloFollower).where(ZaloFollower.user_id == CITIZEN))
        assert f is not None and f.following
        assert f.last_interaction_at == datetime.fromtimestamp(int(newer["timestamp"]) / 1000, VN_TZ)
    await deliver(svc, event(clock, "unfollow", CITIZEN))
    with svc.factory() as session:
        f = session.scalar(select(ZaloFollower).where(ZaloFollower.user_id == CITIZEN))
        assert f is not None and not f.following


async def test_a_zalo_followers_withdrawal_stops_the_oas_pushes_and_closes_its_consent(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    """/rutdongy sent on Zalo, carried out by the admin: the OA writes to that follower no more (it did,
    the conversation was opted out of "telegram"), and the follower's Zalo consent is closed."""
    from notifier.store.models import ConsentRecord
    from notifier.workflows.privacy import PrivacyWorkflow

    await deliver(svc, event(clock, "follow", CITIZEN))
    await deliver(svc, event(clock, "user_submit_info", CITIZEN, info={"phone": "84912345678"}))
    await deliver(svc, text(clock, CITIZEN, "/rutdongy", "m-1"))
    assert oa.texts_to(CITIZEN)[-1].startswith("Đã ghi nhận yêu cầu rút lại sự đồng ý số 1.")
    PrivacyWorkflow.of(svc).done(1, "admin")
    with svc.factory() as session:
        consents = session.scalars(select(ConsentRecord).where(ConsentRecord.address == f"zalo_oa:{CITIZEN}"))
        assert [(c.medium, c.withdrawn_at) for c in consents] == [("zalo_oa", clock.now())]
    cs_before = len(oa.cs)
    received_dossier(svc)
    await svc.dispatcher.drain()
    [n] = notes(svc)
    assert n.channel != "zalo_oa" and len(oa.cs) == cs_before
    assert any(a.channel == "zalo_oa" and "opted out of zalo_oa" in (a.error or "") for a in attempts(svc))


async def test_erasure_forgets_the_zalo_follower_its_phone_and_its_messages(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    """An erasure asked by phone: the follower who shared that phone, and the webhook events holding the
    name, phone and words they sent, go (they stayed: a new dossier with the number still went to them)."""
    from notifier.workflows.privacy import PrivacyWorkflow

    info = {"name": "Nguyễn Văn An", "phone": "84912345678"}
    await deliver(svc, event(clock, "follow", CITIZEN), event(clock, "user_submit_info", CITIZEN, info=info))
    await deliver(svc, text(clock, CITIZEN, "nhà tôi ở số 5 Lê Lợi", "m-1"))
    await deliver(svc, text(clock, INTRUDER, "xin chào", "m-2"))  # someone else's: kept
    workflow = PrivacyWorkflow.of(svc)
    req = workflow.request(kind="erase", channel="officer", requested_by="CB01", phone="0912345678")
    _, counts = workflow.done(req["id"], "CB01")
    assert follower(svc, CITIZEN) is None and follower(svc, INTRUDER) is not None
    stored = " ".join(e.body for e in inbox(svc))
    assert "0912345678" not in stored and "84912345678" not in stored
    assert "Lê Lợi" not in stored and "Nguyễn Văn An" not in stored and "xin chào" in stored
    assert len(inbox(svc)) == 4  # rows stay (a retry of the same event is still recognised)
    assert (counts["zalo_followers"], counts["zalo_events"]) == (1, 3)
    # The number, filed again on a new dossier, is not pushed to the forgotten follower.
    cs_before = len(oa.cs)
    received_dossier(svc, SoDienThoai="0912345678")
    await svc.dispatcher.drain()
    assert notes(svc)[-1].channel != "zalo_oa" and len(oa.cs) == cs_before


async def test_retention_empties_applied_webhook_events_and_leaves_waiting_ones(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    """The events as Zalo sent them (the follower's words, the name and phone of the shared-info form)
    were kept for ever: the retention purge never reached zalo_inbox. After [retention] days an applied
    event keeps its ids, name, times and outcome; one not applied yet is not touched."""
    from notifier.outbox.retention import purge

    info = {"name": "Nguyễn Văn An", "phone": "84912345678"}
    await deliver(svc, event(clock, "follow", CITIZEN), event(clock, "user_submit_info", CITIZEN, info=info))
    said = text(clock, CITIZEN, "nhà tôi ở số 5 Lê Lợi", "m-1")
    await deliver(svc, said)
    async with client(svc) as c:  # stored by the webhook, not applied yet
        body, headers = signed(text(clock, CITIZEN, "cho tôi hỏi hồ sơ", "m-2"))
        await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
    before = [(e.event_id, e.outcome, e.body) for e in inbox(svc)]
    with svc.factory() as session, session.begin():
        purge(session, clock.now() + timedelta(days=89), 90)
    assert [(e.event_id, e.outcome, e.body) for e in inbox(svc)] == before
    with svc.factory() as session, session.begin():
        purge(session, clock.now() + timedelta(days=91), 90)
    *applied, waiting = inbox(svc)
    assert [(e.body, e.user_id) for e in applied] == [("{}", None)] * 3
    assert [e.outcome for e in applied] == [b[1] for b in before[:3]] == ["follow", "user_submit_info", "user_send_text"]
    assert [e.event_id for e in applied] == [b[0] for b in before[:3]]
    assert (waiting.processed_at, waiting.user_id, waiting.body) == (None, CITIZEN, before[3][2])
    assert "hỏi hồ sơ" in waiting.body
    # Zalo retries an emptied event late: still recognised as stored, not applied again.
    async with client(svc) as c:
        body, headers = signed(said)
        again = await c.post("/webhooks/zalo_oa/inbound", content=body, headers=headers)
    assert again.json() == {"received": 1, "new": 0}
    assert (await ZaloOaInbox(svc).process()).processed == 1  # only the waiting one


async def test_access_gives_the_zalo_follower_and_what_the_subject_sent(
    svc: Service, clock: FixedClock, oa: FakeZaloOa
) -> None:
    """An access request by phone left out the Zalo follower who shared that phone (and when) and what
    they wrote to the OA, though an erasure of the same subject removes them; the SMS they sent are given
    too. The subject sees their own data: the phone as they shared it, like their dossiers' phone."""
    from notifier.outbox.inbound import handle
    from notifier.workflows.privacy import PrivacyWorkflow

    info = {"name": "Nguyễn Văn An", "phone": "84912345678"}
    await deliver(svc, event(clock, "follow", CITIZEN), event(clock, "user_submit_info", CITIZEN, info=info))
    shared_at = clock.now()
    clock.advance(timedelta(minutes=5))
    await deliver(svc, text(clock, CITIZEN, "nhà tôi ở số 5 Lê Lợi", "m-1"))
    await deliver(svc, text(clock, INTRUDER, "xin chào", "m-2"))  # someone else's
    with svc.factory() as session, session.begin():
        handle(session, "sms", "0912345678", "HUY", clock.now(), reply="Đã ngừng", provider_id="SM1")
    workflow = PrivacyWorkflow.of(svc)
    req = workflow.request(kind="access", channel="officer", requested_by="CB01", phone="0912345678")
    _, data = workflow.done(req["id"], "CB01")
    assert data["zalo_followers"] == [
        {
            "user_id": CITIZEN,
            "following": True,
            "phone": "+84912345678",
            "phone_shared_at": shared_at.isoformat(),
            "last_message_at": clock.now().isoformat(),
        }
    ]
    got = data["zalo_received"]
    assert [e["event"] for e in got] == ["user_submit_info", "user_send_text"]
    assert got[0]["info"] == info and got[1]["message"]["text"] == "nhà tôi ở số 5 Lê Lợi"
    assert "xin chào" not in json.dumps(data, ensure_ascii=False)
    assert [(m["sender"], m["body"]) for m in data["sms_received"]] == [("+84912345678", "HUY")]
