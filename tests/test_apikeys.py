"""API keys: create, list and revoke (CLI, admin page), a per-key rate shared by every process, last use,
and test keys whose dossiers send only through the test channel and stay out of reports and the dashboard."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.rules.clock import FixedClock
from notifier.store.models import ApiKey, Dossier, Notification
from notifier.web.admin.auth import Viewer
from notifier.web.admin.dashboard import figures
from notifier.web.api import create_app
from notifier.workflows.accounts import NewUser, create_user
from notifier.workflows.apikeys import ApiKeys
from notifier.workflows.errors import InvalidInput, NotFound, WrongState
from notifier.workflows.reports import ReportWorkflow
from notifier.workflows.service import Service
from tests.browser.kit import PASSWORD, client_for, csrf_of
from tests.cli_process import run_notifier
from tests.conftest import migrated_service
from tests.factories import dossier


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args)


def test_cli_creates_lists_and_revokes_keys(service: Service, tmp_path: Path, db_url: str) -> None:
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    live = _cli(tmp_path, "apikey", "create", "motcua", "--callback-url", "https://motcua.example.vn/cb")
    assert live.returncode == 0, live.stderr
    key, secret_line = live.stdout.splitlines()
    assert key.startswith("nk_") and secret_line.startswith("callback signing secret: ")
    test = _cli(tmp_path, "apikey", "create", "thu-nghiem", "--test")
    assert test.returncode == 0 and test.stdout.startswith("nkt_") and len(test.stdout.splitlines()) == 1
    bad = _cli(tmp_path, "apikey", "create", "x", "--callback-url", "ftp://nowhere")
    assert bad.returncode == 1 and "callback_url" in bad.stderr and "ftp://nowhere" in bad.stderr
    again = _cli(tmp_path, "apikey", "create", "motcua")
    assert again.returncode == 1 and "exists already" in again.stderr

    client = TestClient(create_app(service))
    assert client.get("/api/v1/dossiers/NONE", headers=_auth(key)).status_code == 404  # a use
    listed = _cli(tmp_path, "apikey", "list").stdout
    [motcua] = [line for line in listed.splitlines() if "motcua" in line]
    [thu] = [line for line in listed.splitlines() if "thu-nghiem" in line]
    assert "live" in motcua and "01/12/2026" in motcua and "https://motcua.example.vn/cb" in motcua
    assert "test" in thu

    assert _cli(tmp_path, "apikey", "revoke", "motcua").returncode == 0
    assert client.get("/api/v1/dossiers/NONE", headers=_auth(key)).status_code == 401
    twice = _cli(tmp_path, "apikey", "revoke", "motcua")
    assert twice.returncode == 1 and "already revoked" in twice.stderr
    assert _cli(tmp_path, "apikey", "revoke", "nobody").returncode == 1
    with service.factory() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "motcua"))
        assert row is not None and row.revoked_at is not None and row.callback_secret in secret_line


def test_workflow_refusals_name_the_field_and_value(service: Service) -> None:
    keys = ApiKeys(service)
    with pytest.raises(InvalidInput, match="name: value 'bad name'"):
        keys.create("bad name", "t")
    with pytest.raises(InvalidInput, match=r"callback_url: value 'motcua\.vn'"):
        keys.create("a", "t", callback_url="motcua.vn")
    with pytest.raises(NotFound, match="name: value 'nobody'"):
        keys.revoke("nobody", "t")
    keys.create("a", "t")
    with pytest.raises(WrongState, match="name: value 'a'"):
        keys.create("a", "t")


def test_rate_limit_is_shared_by_two_processes_and_last_use_recorded(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # Two services on one database stand for two web processes: the key's 3 calls are for both together.
    api = {"key_rate_per_second": 0.001, "key_burst": 3}
    one = migrated_service(db_url, tmp_path, clock, api=api)
    two = migrated_service(db_url, tmp_path, clock, api=api)
    try:
        key = ApiKeys(one).create("motcua", "t").key
        other = ApiKeys(one).create("khac", "t").key
        a, b = TestClient(create_app(one)), TestClient(create_app(two))
        codes = [c.get("/api/v1/dossiers/NONE", headers=_auth(key)).status_code for c in (a, b, a, b)]
        assert codes == [404, 404, 404, 429]
        refused = b.get("/api/v1/dossiers/NONE", headers=_auth(key))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert a.get("/api/v1/dossiers/NONE", headers=_auth(other)).status_code == 404  # a bucket per key
        [view] = [k for k in ApiKeys(two).list() if k.name == "motcua"]
        assert view.last_used_at == clock.now()
        [unused] = [k for k in ApiKeys(two).list() if k.name == "khac"]
        assert unused.last_used_at == clock.now()
    finally:
        one.engine.dispose()
        two.engine.dispose()


def test_test_key_sends_only_to_the_test_channel_and_stays_out_of_reports(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # Live messages go to the console ("a real provider" here); the test channel is the file.
    routing = {"citizen": ["console"], "officer": ["console"], "head": ["console"]}
    service = migrated_service(db_url, tmp_path, clock, routing=routing)
    try:
        live_key = ApiKeys(service).create("motcua", "t").key
        test_key = ApiKeys(service).create("thu", "t", test=True).key
        client = TestClient(create_app(service))
        for code, key in (("LIVE-1", live_key), ("TEST-1", test_key)):
            item = dossier(code, TrangThaiHoSo=2, NgayTiepNhan="20261201080000")  # "received" is due
            assert client.post("/api/v1/dossiers", json=[item], headers=_auth(key)).status_code == 200
        # Test and live data do not mix: neither key may change the other's dossier.
        crossed = client.post("/api/v1/dossiers", json=[dossier("LIVE-1", TrangThaiHoSo=4)], headers=_auth(test_key))
        assert crossed.status_code == 422 and "live dossier" in crossed.json()["errors"][0]["reason"]
        crossed = client.post("/api/v1/dossiers", json=[dossier("TEST-1", TrangThaiHoSo=4)], headers=_auth(live_key))
        assert crossed.status_code == 422 and "test key's dossier" in crossed.json()["errors"][0]["reason"]

        service.scan()
        asyncio.run(service.dispatcher.drain())
        with service.factory() as session:
            rows = session.execute(
                select(Dossier.code, Notification.channel, Notification.status).join(
                    Dossier, Dossier.id == Notification.dossier_id
                )
            ).all()
        live = {(ch, st) for code, ch, st in rows if code == "LIVE-1"}
        test = {(ch, st) for code, ch, st in rows if code == "TEST-1"}
        assert live and {ch for ch, _ in live} == {"console"}
        assert test and test == {("file", "sent")}
        written = [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text().splitlines()]
        assert written and all(x.get("dossier") in (None, "TEST-1") or "TEST-1" in json.dumps(x) for x in written)

        admin = Viewer(1, "quantri", "admin", None, None, None, None, None, None)
        with service.factory() as session:
            today = figures(session, admin, clock.now()).today
        assert "console" in today and "file" not in today  # the dashboard counts live messages only
        december = json.loads(ReportWorkflow(service).monthly("2026-12").body)
        assert december["total"]["received"] == 1  # LIVE-1 only
        assert "file" not in json.dumps(december["total"])  # the test key's messages are not counted
    finally:
        service.engine.dispose()


def test_admin_page_lists_creates_and_revokes_keys(service: Service) -> None:
    with service.factory() as session, session.begin():
        create_user(session, NewUser("quantri", "admin"), PASSWORD, service.clock.now())
    client = client_for(service, "quantri")
    page = client.get("/admin/apikeys")
    assert page.status_code == 200 and "Khóa API" in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "name": "motcua", "test": "1", "callback_url": "https://motcua.example.vn/cb"}
    made = client.post("/admin/apikeys", data=form)
    assert made.status_code == 201 and 'id="new-key">nkt_' in made.text and 'id="new-secret">' in made.text
    key = made.text.split('id="new-key">')[1].split("<")[0]
    assert key not in client.get("/admin/apikeys").text  # shown once
    assert TestClient(create_app(service)).get("/api/v1/dossiers/NONE", headers=_auth(key)).status_code == 404
    bad = client.post("/admin/apikeys", data={"csrf_token": token, "name": "x", "callback_url": "nope"})
    assert bad.status_code == 422 and "callback_url: nope" in bad.text
    listed = client.get("/admin/apikeys").text
    assert "motcua" in listed and "Thử nghiệm" in listed and "Đang dùng" in listed
    revoked = client.post("/admin/apikeys/motcua/revoke", data={"csrf_token": token}, follow_redirects=True)
    assert "Đã thu hồi" in revoked.text
    assert TestClient(create_app(service)).get("/api/v1/dossiers/NONE", headers=_auth(key)).status_code == 401
    assert client.post("/admin/apikeys/nobody/revoke", data={"csrf_token": token}).status_code == 404


def test_a_test_key_needs_its_test_channel_configured(db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    service = migrated_service(db_url, tmp_path, clock, api={"test_channel": "sandbox"})
    try:
        with pytest.raises(InvalidInput, match=r"api\.test_channel: value 'sandbox'"):
            ApiKeys(service).create("thu", "t", test=True)
        assert ApiKeys(service).create("that", "t").test is False  # live keys do not need it
    finally:
        service.engine.dispose()
