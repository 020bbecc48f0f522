"""Shared set-up for the admin page tests: a province with two agencies' data, real sends, accounts."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.channels.base import Message, PermanentError
from notifier.store.models import Notification
from notifier.web.api import create_app
from notifier.workflows.accounts import NewUser, create_user
from notifier.workflows.demo import seed
from notifier.workflows.service import Service
from tests.conftest import make_settings
from tests.plugins import ScriptedSms

PASSWORD = "mat-khau-rat-dai-2026"
STP = "000.00.30.H26"  # Sở Tư pháp
SKH = "000.00.13.H26"  # Sở Tài chính (business registration since the 2025 merger of Sở KH&ĐT)
# One demo applicant's number: the fake gateway refuses it for good, so the log has real failures.
REFUSED = "+84983000222"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Province:
    service: Service
    sms: ScriptedSms


def _refuse(message: Message) -> Exception | None:
    if message.address == REFUSED:
        return PermanentError("21211 invalid 'To' phone number", fallback=False)
    return None


def build_service(db_url: str, tmp_path: Path, clock: Any, **overrides: Any) -> Province:
    """A migrated service whose citizens are texted through a scripted SMS gateway (officers: file)."""
    settings = make_settings(
        db_url,
        tmp_path,
        routing={"citizen": ["scripted_sms"], "officer": ["file"], "head": ["file"]},
        **overrides,
    )
    service = Service.build(settings, clock)
    service.migrate()
    sms = ScriptedSms(decide=_refuse)
    service.channels.put("scripted_sms", sms)
    return Province(service, sms)


def ready_province(db_url: str, tmp_path: Path, clock: Any, **overrides: Any) -> Province:
    """build_service + populate, for synchronous tests and fixtures."""
    province = build_service(db_url, tmp_path, clock, **overrides)
    asyncio.run(populate(province))
    return province


async def populate(province: Province) -> None:
    """Demo dossiers of four agencies, one scan, one dispatch: sent and failed rows with attempts."""
    service = province.service
    with service.factory() as session, session.begin():
        seed(session, service.clock.now(), service.calendar)
        for username, role, agency, phone in (
            ("quantri", "admin", None, "0912000999"),
            ("stp", "agency", STP, "0912000888"),
            ("skh", "agency", SKH, None),
        ):
            create_user(session, NewUser(username, role, agency, phone), PASSWORD, service.clock.now())
    service.scan()
    await service.dispatcher.drain()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/admin/login").text)
    return client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": token, "next": ""},
        follow_redirects=False,
    )


def client_for(service: Service, username: str | None = None) -> TestClient:
    client = TestClient(create_app(service))
    if username:
        assert login(client, username).status_code == 303
    return client


def notification_ids(service: Service, **where: Any) -> list[int]:
    with service.factory() as session:
        q = select(Notification.id).order_by(Notification.id)
        for column, value in where.items():
            q = q.where(getattr(Notification, column) == value)
        return list(session.scalars(q))
