"""Callbacks to the one-stop system: each status change of an API key's messages is queued in the
transaction of the change and POSTed, signed, until the receiver takes it; a receiver that is down for a
while loses nothing and can drop repeats by event id."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from notifier.channels.webhook import Receipt
from notifier.outbox.callbacks import CallbackSender, event_id
from notifier.outbox.receipts import record_receipt
from notifier.rules.clock import FixedClock
from notifier.store.models import CallbackEvent, Notification
from notifier.web.api import create_app
from notifier.workflows.apikeys import ApiKeys
from notifier.workflows.deliveries import retry_notification
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.officer_actions import cancel_queued
from notifier.workflows.service import Service
from tests.conftest import migrated_service
from tests.factories import dossier
from tests.fakes.server import FakeServer


class Receiver(FakeServer):
    """The one-stop system: checks each signature, answers 503 while `down`, keeps every id it took."""

    def __init__(self, secret: str = "") -> None:
        super().__init__()
        self.secret = secret
        self.down = False
        self.taken: list[str] = []
        self.bodies: dict[str, dict[str, object]] = {}
        self.bad_signatures = 0
        self.app.router.add_post("/cb", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-Notifier-Timestamp"]
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers["X-Notifier-Signature"], f"sha256={expected}"):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.down:
            return web.Response(status=503)
        event = json.loads(body)
        assert event["event_id"] == request.headers["X-Notifier-Event-Id"]
        self.taken.append(event["event_id"])
        self.bodies[event["event_id"]] = event
        return web.Response(status=204)

    async def restart_on(self, port: int) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()


async def test_a_receiver_down_for_a_while_gets_every_event_once_by_id(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    service = migrated_service(db_url, tmp_path, clock, callbacks={"backoff_base_seconds": 5})
    receiver = Receiver()
    url = await receiver.start()
    port = int(url.rsplit(":", 1)[1])
    sender = CallbackSender(service.factory, clock, service.settings.callbacks)
    try:
        keys = ApiKeys(service)
        new = keys.create("motcua", "t", callback_url=f"{url}/cb")
        receiver.secret = new.callback_secret or ""
        plain = keys.create("khac", "t")  # no callback: its dossiers make no events
        items = [dossier(f"CB-{i}", TrangThaiHoSo=2, NgayTiepNhan="20261201080000") for i in range(3)]
        ImportWorkflow(service).dossiers(items, "api:motcua", new_id(service, "motcua"))
        other = [dossier("OTHER-1", TrangThaiHoSo=2, NgayTiepNhan="20261201080000")]
        ImportWorkflow(service).dossiers(other, "api:khac", new_id(service, plain.name))

        await receiver.stop()  # down: connections refused
        service.scan()
        with service.factory() as session:
            queued = session.scalars(select(CallbackEvent)).all()
            assert {(e.status, e.dossier_code) for e in queued} == {("queued", f"CB-{i}") for i in range(3)}
        assert (await sender.run_once()).failed == 3

        await receiver.restart_on(port)
        receiver.down = True  # up, but answering 503
        await service.dispatcher.drain()
        clock.advance(timedelta(seconds=5))
        stats = await sender.run_once()
        assert stats.delivered == 0 and stats.failed == 6  # 3 queued (due again) + 3 sent

        with service.factory() as session, session.begin():
            first = session.scalar(
                select(Notification).where(Notification.status == "sent").order_by(Notification.id)
            )
            assert first is not None
            record_receipt(
                session, "file", "file", Receipt("delivered", notification_id=first.id), clock.now()
            )

        receiver.down = False
        # A sender that posts and dies before recording: the receiver has the events, we do not know it.
        due = sender.claim(clock.now() + timedelta(hours=1))
        for d in due:
            assert await sender.post(d) is None
        # Later, every event is due again (the held ones after their hold): each is posted again, same id.
        for _ in range(8):
            clock.advance(timedelta(minutes=10))
            await sender.run_once()

        with service.factory() as session:
            events = session.scalars(select(CallbackEvent).order_by(CallbackEvent.id)).all()
            assert all(e.delivered for e in events)
            ids = {event_id(e.id) for e in events}
            by_status = sorted(e.status for e in events)
        assert set(receiver.taken) == ids  # nothing lost
        assert len(receiver.taken) > len(ids)  # repeats happened on the wire, with the same ids
        assert by_status == ["delivered"] + ["queued"] * 3 + ["sent"] * 3
        assert receiver.bad_signatures == 0
        assert {e["dossier"] for e in receiver.bodies.values()} == {"CB-0", "CB-1", "CB-2"}
        delivered = [e for e in receiver.bodies.values() if e["status"] == "delivered"]
        assert delivered[0]["channel"] == "file" and delivered[0]["notification_id"] == first.id
    finally:
        await sender.aclose()
        await receiver.stop()
        service.engine.dispose()


async def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    service = migrated_service(db_url, tmp_path, clock)
    receiver = Receiver(secret="not the key's secret")
    url = await receiver.start()
    sender = CallbackSender(service.factory, clock, service.settings.callbacks)
    try:
        ApiKeys(service).create("motcua", "t", callback_url=f"{url}/cb")
        items = [dossier("CB-0", TrangThaiHoSo=2, NgayTiepNhan="20261201080000")]
        ImportWorkflow(service).dossiers(items, "api:motcua", new_id(service, "motcua"))
        service.scan()
        stats = await sender.run_once()
        assert (stats.delivered, stats.failed, receiver.bad_signatures) == (0, 1, 1)
        with service.factory() as session:
            [event] = session.scalars(select(CallbackEvent)).all()
            assert not event.delivered and event.last_error and "HTTP 401" in event.last_error
            assert event.next_at == clock.now() + timedelta(seconds=5)
        clock.advance(timedelta(seconds=30))
        scraped = TestClient(create_app(service)).get("/metrics").text
        assert "notifier_callbacks_pending 1.0" in scraped and "notifier_callbacks_age_seconds 30.0" in scraped
    finally:
        await sender.aclose()
        await receiver.stop()
        service.engine.dispose()


def test_a_retry_from_the_admin_log_tells_the_receiver_it_is_queued_again(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    service = migrated_service(db_url, tmp_path, clock)
    try:
        ApiKeys(service).create("motcua", "t", callback_url="http://127.0.0.1:9/cb")
        items = [dossier("CB-0", TrangThaiHoSo=2, NgayTiepNhan="20261201080000")]
        ImportWorkflow(service).dossiers(items, "api:motcua", new_id(service, "motcua"))
        service.scan()
        with service.factory() as session, session.begin():
            [nid] = session.scalars(select(Notification.id)).all()
            session.execute(update(Notification).where(Notification.id == nid).values(status="failed"))
        clock.advance(timedelta(minutes=1))
        retry_notification(service, nid, "quantri", None)
        with service.factory() as session:
            events = session.execute(
                select(CallbackEvent.status, CallbackEvent.occurred_at).order_by(CallbackEvent.id)
            ).all()
        assert [s for s, _ in events] == ["queued", "queued"] and events[1][1] == clock.now()
    finally:
        service.engine.dispose()


def new_id(service, name: str) -> int:  # type: ignore[no-untyped-def]
    from notifier.store.apikeys import key_named

    with service.factory() as session:
        row = key_named(session, name)
        assert row is not None
        return row.id


def _one_queued_row(service: Service, code: str = "CB-0") -> int:
    ApiKeys(service).create("motcua", "t", callback_url="http://127.0.0.1:9/cb")
    items = [dossier(code, TrangThaiHoSo=2, NgayTiepNhan="20261201080000")]
    ImportWorkflow(service).dossiers(items, "api:motcua", new_id(service, "motcua"))
    service.scan()
    with service.factory() as session:
        [nid] = session.scalars(select(Notification.id)).all()
        return nid


def _events(service: Service) -> list[tuple[str, object]]:
    with service.factory() as session:
        rows = session.execute(
            select(CallbackEvent.status, CallbackEvent.occurred_at).order_by(CallbackEvent.id)
        )
        return [(status, at) for status, at in rows]


def test_a_cancelled_notice_is_told_to_the_receiver(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    service = migrated_service(db_url, tmp_path, clock)
    try:
        nid = _one_queued_row(service)
        clock.advance(timedelta(minutes=1))
        with service.factory() as session, session.begin():
            dossier_id = session.scalar(select(Notification.dossier_id).where(Notification.id == nid))
            assert dossier_id is not None
            assert cancel_queued(session, dossier_id, ("received",), clock.now(), "test") == 1
        assert _events(service) == [
            ("queued", clock.now() - timedelta(minutes=1)),
            ("cancelled", clock.now()),
        ]
    finally:
        service.engine.dispose()


def test_a_row_left_unknown_by_a_dead_worker_is_told_to_the_receiver(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    service = migrated_service(db_url, tmp_path, clock)
    try:
        nid = _one_queued_row(service)
        # A worker took the row, handed it to a provider that cannot tell a repeat, and died.
        with service.factory() as session, session.begin():
            session.execute(
                update(Notification)
                .where(Notification.id == nid)
                .values(
                    status="sending",
                    claimed_by="dead",
                    lease_until=clock.now(),
                    handed_off_at=clock.now(),
                    handed_to="telegram",
                )
            )
        clock.advance(timedelta(minutes=10))
        assert service.dispatcher.reclaim_expired() == 1
        assert [s for s, _ in _events(service)] == ["queued", "unknown"]
        assert _events(service)[1][1] == clock.now()
    finally:
        service.engine.dispose()


async def test_an_unreachable_citizen_is_told_to_the_receiver(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    service = migrated_service(db_url, tmp_path, clock)
    try:
        ApiKeys(service).create("motcua", "t", callback_url="http://127.0.0.1:9/cb")
        # A landline and no e-mail: no channel of the route can reach the applicant.
        items = [
            dossier(
                "CB-1", TrangThaiHoSo=2, NgayTiepNhan="20261201080000", SoDienThoai="02253842666", Email=None
            )
        ]
        ImportWorkflow(service).dossiers(items, "api:motcua", new_id(service, "motcua"))
        service.scan()
        await service.dispatcher.drain()
        assert [s for s, _ in _events(service)] == ["queued", "unreachable"]
    finally:
        service.engine.dispose()
