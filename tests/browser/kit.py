"""Shared set-up for the admin page tests: a province with two agencies' data, real sends, accounts."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import make_url, select

from notifier.channels.base import Message, PermanentError
from notifier.store.models import Notification
from notifier.web.api import create_app
from notifier.workflows.accounts import NewUser, create_user
from notifier.workflows.demo import seed
from notifier.workflows.service import Service
from tests.conftest import make_settings
from tests.pg_content import PgContent, put_back
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


@dataclass(frozen=True)
class Populated:
    """What `populate` left, kept to be put back for the next test that asks for the same province: the
    database, the scripted gateway's memory and the files it wrote beside the database (the officers' file)."""

    database: PgContent | bytes  # PostgreSQL's content, or the SQLite file's bytes
    received: tuple[Message, ...]
    files: dict[str, bytes]


# Per test process: (database URL, or "sqlite" for any test's own file; the clock's time; the overrides).
_populated: dict[tuple[str, str, str], Populated] = {}


def ready_province(db_url: str, tmp_path: Path, clock: Any, **overrides: Any) -> Province:
    """build_service + populate, for synchronous tests and fixtures, on a database just migrated.

    Populating (demo data, a scan, a dispatch) costs half a second or more, and dozens of tests ask for the
    same province, so the first one populates and the others get a copy of what that left: the same rows,
    ids and sequences, the same gateway memory, the same files."""
    url = make_url(db_url)
    sqlite = url.get_backend_name() == "sqlite"
    key = ("sqlite" if sqlite else db_url, clock.now().isoformat(), repr(sorted(overrides.items())))
    done = _populated.get(key)
    if done is None:
        before = files_beside_the_database(tmp_path)
        province = build_service(db_url, tmp_path, clock, **overrides)
        asyncio.run(populate(province))
        province.service.engine.dispose()  # SQLite: every write in the file; the pool reconnects when used
        if sqlite:
            with closing(sqlite3.connect(str(url.database))) as conn:
                database: PgContent | bytes = conn.serialize()
        else:
            database = PgContent(db_url)
        after = files_beside_the_database(tmp_path)
        files = {name: data for name, data in after.items() if before.get(name) != data}
        _populated[key] = Populated(database, tuple(province.sms.received), files)
        return province
    if isinstance(done.database, bytes):
        path = Path(str(url.database))
        for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        path.write_bytes(done.database)
    else:
        put_back(db_url, done.database)
    for name, data in done.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    province = build_service(db_url, tmp_path, clock, **overrides)
    province.sms.received.extend(done.received)
    return province


def files_beside_the_database(folder: Path) -> dict[str, bytes]:
    """The files below `folder` by relative name, but the SQLite database's own."""
    return {
        str(f.relative_to(folder)): f.read_bytes()
        for f in folder.rglob("*")
        if f.is_file() and not f.name.startswith("notifier.db")
    }


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
