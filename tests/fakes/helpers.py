"""Building a service whose routing goes through provider channels, and reading back what happened."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from sqlalchemy import select

from notifier.rules.clock import FixedClock
from notifier.store.models import Contact, DeliveryAttempt, Notification
from notifier.workflows.ingest import upsert
from notifier.workflows.service import Service
from tests.conftest import make_settings, migrated_service
from tests.factories import dossier, ts


def build(
    db_url: str,
    tmp_path: Path,
    clock: FixedClock,
    channels: dict[str, dict[str, Any]],
    citizen: list[str],
    officer: list[str] | None = None,
    **overrides: Any,
) -> Service:
    routing = {"citizen": citizen, "officer": officer or ["file"], "head": officer or ["file"]}
    svc = Service.build(
        make_settings(db_url, tmp_path, channels=channels, routing=routing, **overrides), clock
    )
    svc.migrate()
    return svc


def received_dossier(service: Service, code: str = "000.00.30.H26-261120-0001", **fields: Any) -> None:
    """A dossier just accepted (status 2): the scan queues one `received` notice for the citizen."""
    item = dossier(code, **{"TrangThaiHoSo": 2, "NgayTiepNhan": ts(2026, 12, 1, 8, 0), **fields})
    with service.factory() as session, session.begin():
        report = upsert(session, [item], service.clock.now(), source="test")
    assert not report.errors, report.errors
    service.scan()


def scripted_with_received(
    db_url: str, tmp_path: Path, clock: FixedClock, dossiers: int, **dispatch: Any
) -> Service:
    """Citizens texted through the "scripted" gateway (tests.plugins; the test puts its own in), these
    `[dispatch]` settings, and a received notice queued for each of `dossiers` new dossiers."""
    svc = migrated_service(
        db_url, tmp_path, clock, routing={"citizen": ["scripted"], "officer": ["file"], "head": ["file"]},
        dispatch=dispatch,
    )
    with svc.factory() as session, session.begin():
        items = [dossier(f"{i:04d}", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0)) for i in range(dossiers)]
        assert not upsert(session, items, clock.now(), source="test").errors
    svc.scan()
    return svc


def notes(service: Service) -> list[Notification]:
    with service.factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def attempts(service: Service) -> list[DeliveryAttempt]:
    with service.factory() as session:
        return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def opted_out(service: Service, address: str, medium: str) -> bool:
    with service.factory() as session:
        contact = session.scalar(select(Contact).where(Contact.address == address, Contact.medium == medium))
        return contact is not None and contact.opted_out_at is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts in another process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
