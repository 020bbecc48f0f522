"""Dispatch: persist first, send once, retry, fall back, respect hours, survive a dead worker."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.channels.base import PermanentError, TransientError
from notifier.outbox.dispatch import Dispatcher, DispatchStats, RoutingError
from notifier.rules.clock import VN_TZ, FixedClock
from notifier.store.models import DeliveryAttempt, Notification, Template
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from tests.conftest import chat_service, make_settings, migrated_service
from tests.factories import dossier, officers, ts
from tests.plugins import ScriptedSms


def _import(service: Service, items: list[dict]) -> None:
    with service.factory() as session, session.begin():
        report = upsert(session, items, service.clock.now(), source="test")
    assert not report.errors


def _outbox(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _notes(service: Service) -> list[Notification]:
    with service.factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def _with_routing(db_url: str, tmp_path: Path, clock: FixedClock, **routing: list[str]) -> Service:
    return migrated_service(db_url, tmp_path, clock, routing=routing)


async def test_received_notice_reaches_the_file_channel(service: Service, tmp_path: Path) -> None:
    _import(service, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    service.scan()
    stats = await service.dispatcher.drain()
    assert (stats.sent, stats.failed) == (1, 0)
    [line] = _outbox(tmp_path / "outbox.jsonl")
    assert set(line) == {
        "id",
        "kind",
        "audience",
        "channel",
        "recipient",
        "dossier_code",
        "subject",
        "text",
        "sent_at",
    }
    assert line["kind"] == "received" and line["audience"] == "citizen" and line["channel"] == "file"
    assert line["recipient"] == "+84912345678"
    assert line["dossier_code"] == "000.00.30.H26-261120-0001"
    assert "04/12/2026" in line["text"] and "Sở Tư pháp thành phố Hải Phòng" in line["text"]
    assert line["sent_at"] == "2026-12-01T09:00:00+07:00"
    [n] = _notes(service)
    assert (n.status, n.attempts, n.channel, n.segments) == ("sent", 1, "file", n.segments)
    assert n.body == line["text"] and n.segments and n.segments >= 1


async def test_a_sent_row_is_never_sent_again(service: Service, tmp_path: Path) -> None:
    _import(service, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    service.scan()
    await service.dispatcher.drain()
    # a re-delivered job, a rescan and a second worker find nothing to do
    service.scan()
    again = await service.dispatcher.drain()
    other = Dispatcher(service.factory, service.settings, service.clock, service.channels, service.calendar)
    assert again.claimed == 0 and (await other.drain()).claimed == 0
    assert other.claim(service.clock.now(), 100) == []
    assert len(_outbox(tmp_path / "outbox.jsonl")) == 1


async def test_quiet_hours_defer_citizens_to_the_morning(
    service: Service, clock: FixedClock, tmp_path: Path
) -> None:
    clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=VN_TZ))
    _import(service, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    service.scan()
    stats = await service.dispatcher.drain()
    assert (stats.deferred, stats.sent) == (1, 0)
    [n] = _notes(service)
    assert (n.status, n.attempts) == ("queued", 0)
    assert n.not_before == datetime(2026, 12, 2, 7, 0, tzinfo=VN_TZ)
    clock.set(datetime(2026, 12, 2, 6, 59, tzinfo=VN_TZ))
    assert (await service.dispatcher.drain()).claimed == 0
    clock.set(datetime(2026, 12, 2, 7, 0, tzinfo=VN_TZ))
    assert (await service.dispatcher.drain()).sent == 1
    assert _outbox(tmp_path / "outbox.jsonl")[0]["sent_at"] == "2026-12-02T07:00:00+07:00"


async def test_officer_alerts_wait_for_the_next_working_morning(service: Service, clock: FixedClock) -> None:
    with service.factory() as session, session.begin():
        upsert_officers(session, officers())
    clock.set(datetime(2026, 12, 4, 18, 0, tzinfo=VN_TZ))  # Friday evening
    _import(service, [dossier(MaCanBo="CB01", NgayHenTra=ts(2026, 12, 4, 17, 0))])
    service.scan()
    await service.dispatcher.drain()
    notes = {n.kind: n for n in _notes(service)}
    assert notes["overdue_alert"].not_before == datetime(2026, 12, 7, 7, 30, tzinfo=VN_TZ)  # Monday
    # the citizen notice (no Mẫu 04 issued) is not held by officers' hours, only by quiet hours (18:00 is fine)
    assert notes["overdue_notice"].status == "sent"


async def test_transient_failures_retry_with_backoff_then_succeed(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(db_url, tmp_path, clock, citizen=["scripted"], officer=["file"], head=["file"])
    gateway = ScriptedSms([TransientError("HTTP 503"), TransientError("timeout")])
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}
    _import(svc, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    assert (await svc.dispatcher.drain()).retried == 1
    [n] = _notes(svc)
    assert (n.status, n.attempts, n.error) == ("queued", 1, "scripted: HTTP 503")
    assert n.not_before == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=60))
    await svc.dispatcher.drain()
    [n] = _notes(svc)
    assert n.not_before == clock.now() + timedelta(seconds=120)  # doubled
    clock.advance(timedelta(seconds=120))
    assert (await svc.dispatcher.drain()).sent == 1
    [n] = _notes(svc)
    assert (n.status, n.attempts, n.provider_id) == ("sent", 3, "sm-1")
    with svc.factory() as session:
        outcomes = list(session.scalars(select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)))
    assert outcomes == ["transient", "transient", "sent"]
    assert len(gateway.received) == 1


async def test_retry_after_is_honoured_and_attempts_are_bounded(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(db_url, tmp_path, clock, citizen=["scripted"], officer=["file"], head=["file"])
    svc.channels.put("scripted", ScriptedSms(decide=lambda m: TransientError("429", retry_after=900)))
    svc.settings.channels["scripted"] = {}
    _import(svc, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    await svc.dispatcher.drain()
    [n] = _notes(svc)
    assert n.not_before == clock.now() + timedelta(seconds=900)
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        await svc.dispatcher.drain()
    [n] = _notes(svc)
    assert (n.status, n.attempts) == ("failed", 3)
    assert n.error == "gave up after 3 attempts: scripted: 429"


async def test_permanent_failure_falls_back_and_opt_out_is_remembered(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(
        db_url, tmp_path, clock, citizen=["scripted", "file"], officer=["file"], head=["file"]
    )
    gateway = ScriptedSms([PermanentError("21610 unsubscribed", opt_out=True)])
    svc.channels.put("scripted", gateway)
    svc.settings.channels["scripted"] = {}
    _import(svc, [dossier("A", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    assert (await svc.dispatcher.drain()).sent == 1
    [n] = _notes(svc)
    assert (n.status, n.channel) == ("sent", "file")
    # the next message to that number skips SMS without asking the gateway
    _import(svc, [dossier("B", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    await svc.dispatcher.drain()
    assert [n.channel for n in _notes(svc)] == ["file", "file"]
    assert gateway.outcomes == [] and gateway.received == []


async def test_permanent_failure_without_fallback_ends_failed(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(db_url, tmp_path, clock, citizen=["scripted"], officer=["file"], head=["file"])
    svc.channels.put("scripted", ScriptedSms([PermanentError("21211 invalid To number")]))
    svc.settings.channels["scripted"] = {}
    _import(svc, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    await svc.dispatcher.drain()
    [n] = _notes(svc)
    assert (n.status, n.error) == ("failed", "scripted: 21211 invalid To number")


async def test_citizen_without_a_phone_has_no_usable_sms_route(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(db_url, tmp_path, clock, citizen=["scripted"], officer=["file"], head=["file"])
    svc.channels.put("scripted", ScriptedSms())
    svc.settings.channels["scripted"] = {}
    _import(svc, [dossier(TrangThaiHoSo=2, SoDienThoai=None, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    svc.scan()
    await svc.dispatcher.drain()
    [n] = _notes(svc)
    assert (n.status, n.error) == ("unreachable", "no usable channel: scripted: no address for citizen")
    assert n.channel is None and n.sent_at is None


async def test_landline_only_citizen_falls_through_to_the_next_channel(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = _with_routing(db_url, tmp_path, clock, citizen=["scripted", "file"], officer=["file"], head=["file"])
    sms = ScriptedSms()
    svc.channels.put("scripted", sms)
    svc.settings.channels["scripted"] = {}
    company = dossier(TrangThaiHoSo=2, SoDienThoai="0225 3838888", Email="lienhe@cangxanh.vn",
                      ChuHoSo="Công ty TNHH Thương mại Cảng Xanh", LoaiDoiTuong=2,
                      NgayTiepNhan=ts(2026, 12, 1, 8, 0))  # fmt: skip
    mobile = dossier(MaHoSo="000.00.30.H26-261120-0002", TrangThaiHoSo=2, SoDienThoai="0912 000 111",
                     NgayTiepNhan=ts(2026, 12, 1, 8, 0))  # fmt: skip
    _import(svc, [company, mobile])
    svc.scan()
    stats = await svc.dispatcher.drain()
    assert (stats.sent, stats.failed, stats.unreachable) == (2, 0, 0)
    # The landline never reached the SMS gateway; the mobile did.
    assert [m.address for m in sms.received] == ["+84912000111"]
    [line] = _outbox(tmp_path / "outbox.jsonl")
    assert line["recipient"] == "lienhe@cangxanh.vn" and line["dossier_code"] == company["MaHoSo"]
    assert {(n.channel, n.recipient) for n in _notes(svc)} == {
        ("file", "lienhe@cangxanh.vn"),
        ("scripted", "+84912000111"),
    }


async def test_a_citizen_no_channel_can_reach_is_unreachable_not_sent_to_the_file(
    service: Service, tmp_path: Path
) -> None:
    # Routing ["file"]: the file used to record the label "citizen" as an address and call it sent.
    landline_only = dossier(TrangThaiHoSo=2, SoDienThoai="02253838888", Email=None,
                            NgayTiepNhan=ts(2026, 12, 1, 8, 0))  # fmt: skip
    _import(service, [landline_only])
    service.scan()
    stats = await service.dispatcher.drain()
    assert (stats.sent, stats.failed, stats.unreachable) == (0, 0, 1)
    assert _outbox(tmp_path / "outbox.jsonl") == []
    [n] = _notes(service)
    assert n.status == "unreachable" and n.channel is None and n.recipient is None
    assert n.error == "no usable channel: file: no address for citizen"


async def test_broken_template_fails_its_rows_only(
    service: Service, tmp_path: Path, clock: FixedClock
) -> None:
    with service.factory() as session, session.begin():
        # written straight to the table: the editor's validation would refuse it
        session.add(
            Template(
                kind="received",
                channel_type="sms",
                agency_id=None,
                version=99,
                body="Hồ sơ {{ dossier.code }} hẹn {{ dossier.returned_at | date }}",
                author="test",
                created_at=clock.now(),
            )
        )
    _import(
        service,
        [
            dossier("R", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0)),
            dossier("S", TrangThaiHoSo=5, NgayTiepNhan=ts(2026, 12, 1, 8, 0)),
        ],
    )
    service.scan()
    stats = await service.dispatcher.drain()
    assert (stats.sent, stats.failed) == (1, 1)
    notes = {n.kind: n for n in _notes(service)}
    assert notes["supplement_requested"].status == "sent"
    assert notes["received"].status == "failed"
    assert notes["received"].error.startswith("template received/sms: ")
    assert "None" in notes["received"].error


def test_unknown_channel_in_routing_is_named(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    svc = Service.build(make_settings(db_url, tmp_path, routing={"citizen": ["file", "smsx"]}), clock)
    with pytest.raises(RoutingError, match=r"routing.citizen: value 'smsx': channel 'smsx'"):
        svc.dispatcher  # noqa: B018


async def test_dead_worker_rows_are_replayed_without_a_second_copy(
    service: Service, clock: FixedClock, tmp_path: Path
) -> None:
    from notifier.channels.registry import Channels

    # a long-lived worker (its own process, its own channel memory) has already sent something today
    live = Dispatcher(
        service.factory,
        service.settings,
        clock,
        Channels(service.settings.channels, clock),
        service.calendar,
        "live",
    )
    _import(service, [dossier("EARLIER", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))])
    service.scan()
    assert (await live.drain()).sent == 1

    _import(
        service, [dossier(f"K-{i}", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0)) for i in range(5)]
    )
    service.scan()
    dead = Dispatcher(
        service.factory,
        service.settings,
        clock,
        Channels(service.settings.channels, clock),
        service.calendar,
        "dead",
    )
    ids = dead.claim(clock.now(), 10)
    assert len(ids) == 5
    # it wrote two messages to the provider, then stalled before recording anything
    with service.factory() as session:
        plans = dead._plan(session, ids[:2], clock.now())
    outcomes = [await dead._deliver(plan, clock.now()) for plan in plans]
    assert len(_outbox(tmp_path / "outbox.jsonl")) == 3
    # the live worker cannot take leased rows until the lease runs out
    assert (await live.drain()).claimed == 0
    assert live.reclaim_expired() == 0
    clock.advance(timedelta(seconds=service.settings.dispatch.lease_seconds + 1))
    assert live.reclaim_expired() == 5
    assert (await live.drain()).sent == 5
    lines = _outbox(tmp_path / "outbox.jsonl")
    assert len(lines) == 6 and sorted(line["id"] for line in lines)[1:] == sorted(ids)  # each once
    # the stalled worker wakes up and tries to record: the status guard refuses both writes
    stats = DispatchStats()
    with service.factory() as session, session.begin():
        dead._record(session, plans, outcomes, clock.now(), stats)
    assert (stats.lost, stats.sent) == (2, 0)
    notes = [n for n in _notes(service) if n.id in ids]
    assert all(n.status == "sent" and n.claimed_by == None for n in notes)  # noqa: E711
    assert {n.attempts for n in notes} == {2}  # the dead worker's try counts


def _payment_due() -> dict:
    return dossier(TrangThaiHoSo=6, DaThanhToan=0, NgayTiepNhan=ts(2026, 12, 1, 8, 0),
                   DuongDanThanhToan="https://dichvucong.gov.vn/p/thanh-toan?ma=000.00.30.H26-261120-0001")  # fmt: skip


@pytest.mark.parametrize(("template", "links", "shown"), [
    ("sms", None, False),   # the default: no link in SMS
    ("sms", True, True),    # [messages] sms_payment_links = true puts it back
    ("chat", None, True),   # chat and e-mail keep it
    ("email", None, True),
])  # fmt: skip
async def test_payment_links_stay_out_of_sms_by_default(
    db_url: str, tmp_path: Path, clock: FixedClock, template: str, links: bool | None, shown: bool
) -> None:
    overrides: dict = {"channels": {"file": {"path": str(tmp_path / "outbox.jsonl"), "template": template}}}
    if links is not None:
        overrides["messages"] = {"sms_payment_links": links}
    svc = migrated_service(db_url, tmp_path, clock, **overrides)
    _import(svc, [_payment_due()])
    svc.scan()
    await svc.dispatcher.drain()
    [line] = [x for x in _outbox(tmp_path / "outbox.jsonl") if x["kind"] == "payment_requested"]
    assert ("https://dichvucong.gov.vn/p/thanh-toan" in line["text"]) is shown, line["text"]
    assert "nghĩa vụ tài chính" in line["text"] and "200.000 đồng" in line["text"]
    if not shown:
        assert "Nộp trực tuyến trên dichvucong.gov.vn." in line["text"] and "http" not in line["text"]


async def test_escalation_to_the_head_names_the_assigned_officer_or_says_unassigned(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    svc = chat_service(db_url, tmp_path, clock)
    with svc.factory() as session, session.begin():
        upsert_officers(session, officers())
    # Both due Friday 27/11/2026: 2 working days over on Tuesday 01/12, the escalation threshold.
    _import(svc, [
        dossier("ASSIGNED", MaCanBo="CB02", NgayHenTra=ts(2026, 11, 27, 17, 0)),
        dossier("UNASSIGNED", NgayHenTra=ts(2026, 11, 27, 17, 0)),
    ])  # fmt: skip
    svc.scan()
    await svc.dispatcher.drain()
    texts = {x["dossier_code"]: x["text"] for x in _outbox(tmp_path / "outbox.jsonl") if x["kind"] == "escalation"}
    assert set(texts) == {"ASSIGNED", "UNASSIGNED"}
    for text in texts.values():
        assert "Kính gửi đồng chí Phạm Quốc Hùng," in text  # the head receives it...
        assert "Cán bộ xử lý: Phạm Quốc Hùng" not in text  # ...but does not hold the dossier
    assert "Cán bộ xử lý: Trần Văn Minh\n" in texts["ASSIGNED"]
    assert "Cán bộ xử lý: chưa phân công\n" in texts["UNASSIGNED"]
