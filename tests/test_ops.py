"""Operations: metrics, health, retention of personal data, masking phone numbers in logs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.outbox.retention import purge
from notifier.rules.logmask import MaskingFilter, mask_text
from notifier.store.models import DeliveryAttempt, Notification
from notifier.web.api import create_app
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.factories import dossier, ts


def _sent_one(service: Service) -> None:
    with service.factory() as session, session.begin():
        upsert(session, [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))], service.clock.now(), "t")
    service.scan()


async def test_metrics_show_the_outbox(service: Service) -> None:
    _sent_one(service)
    client = TestClient(create_app(service))
    text = client.get("/metrics").text
    assert 'notifier_notifications{channel="",kind="received",status="queued"} 1.0' in text
    assert "notifier_queue_age_seconds 0.0" in text
    service.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    assert "notifier_queue_age_seconds 300.0" in client.get("/metrics").text
    await service.dispatcher.drain()
    text = client.get("/metrics").text
    assert 'notifier_notifications{channel="file",kind="received",status="sent"} 1.0' in text


async def test_retention_erases_text_and_address_but_keeps_counts(service: Service) -> None:
    _sent_one(service)
    await service.dispatcher.drain()
    with service.factory() as session, session.begin():
        assert purge(session, service.clock.now() + timedelta(days=89), 90) == 0
    with service.factory() as session, session.begin():
        assert purge(session, service.clock.now() + timedelta(days=91), 90) == 1
    with service.factory() as session:
        n = session.scalar(select(Notification))
        attempt = session.scalar(select(DeliveryAttempt))
    assert n is not None and attempt is not None
    assert (n.body, n.recipient, n.subject) == (None, None, None)
    assert (n.status, n.kind, n.channel, n.segments) == ("sent", "received", "file", n.segments) and n.segments
    assert attempt.recipient is None


def test_phone_numbers_are_masked_in_log_lines(caplog) -> None:  # type: ignore[no-untyped-def]
    assert mask_text("to +84912345678, 0912.345.678 or 84 912 345 678") == "to 091****678, 091****678 or 091****678"
    assert mask_text("dossier 000.00.30.H26-261120-0001 at 20261201090000") == (
        "dossier 000.00.30.H26-261120-0001 at 20261201090000")
    log = logging.getLogger("notifier.test")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    handler.addFilter(MaskingFilter())
    log.addHandler(handler)
    try:
        log.warning("sms to %s failed", "+84912345678")
    finally:
        log.removeHandler(handler)
    assert records == ["sms to 091****678 failed"]


async def test_retention_erases_an_error_naming_the_address(service: Service) -> None:
    """A notice refused because its number opted out: its attempt's reason names the number, and stayed
    in delivery_attempts after the purge erased the rest."""
    from notifier.store.contacts import record_opt_out

    with service.factory() as session, session.begin():
        record_opt_out(session, "+84912345678", "file", service.clock.now(), reason="test", source="admin")
    _sent_one(service)
    await service.dispatcher.drain()
    with service.factory() as session:
        [attempt] = session.scalars(select(DeliveryAttempt)).all()
    assert attempt.error == "+84912345678 opted out of file"
    with service.factory() as session, session.begin():
        assert purge(session, service.clock.now() + timedelta(days=91), 90) == 1
    with service.factory() as session:
        n = session.scalars(select(Notification)).one()
        attempt = session.scalars(select(DeliveryAttempt)).one()
    assert n.status == "failed" and "912345678" not in (n.error or "") and "912345678" not in (attempt.error or "")
    assert attempt.outcome == "skipped"


def test_phone_numbers_are_masked_in_a_logged_traceback() -> None:
    """A job's error logged with its traceback (APScheduler's "Job raised an exception", log.exception):
    the exception's words, a provider quoting the number or SQLAlchemy its parameters, are part of the
    line the operator reads and must be masked like the message."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("notifier.test.traceback")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError("provider refused +84912345678 (0912 345 678)")
        except ValueError:
            log.exception("zalo inbox event %s", 7)
        log.error("stack of %s", "0987654321", stack_info=True)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert "zalo inbox event 7" in text and "ValueError: provider refused 091****678 (091****678)" in text
    assert "stack of 098****321" in text and "Stack (most recent call last)" in text
    assert "912345678" not in text and "912 345 678" not in text and "987654321" not in text


def test_the_web_servers_own_log_lines_are_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    """uvicorn logs an unhandled error of a request ("Exception in ASGI application", with its traceback)
    through handlers of its own, not the root's that carry the masking filter."""
    from jobs.processes import web_server

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    web_server(app, "127.0.0.1", 8080)
    try:
        raise RuntimeError("provider refused +84912345678")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    err = capsys.readouterr().err
    assert "Exception in ASGI application" in err and "RuntimeError: provider refused 091****678" in err
    assert "912345678" not in err
