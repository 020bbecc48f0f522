"""Public links: the key (environment, else a key file made once by whichever process comes first), the
dossier's address, and when a genuine link still opens its dossier (closed too long ago, revoked)."""

from __future__ import annotations

import multiprocessing
import stat
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from notifier.rules import public_token
from notifier.rules.clock import FixedClock
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.public_links import link_key, open_token, public_url, revoke
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings
from tests.factories import dossier, officers, ts

CODE = "000.00.30.H26-261120-0001"


def _settings(tmp_path: Path, **public: object):  # type: ignore[no-untyped-def]
    return make_settings(
        f"sqlite:///{tmp_path / 'n.db'}",
        tmp_path,
        public={"link_key_file": str(tmp_path / "keys" / "link.key"), **public},
    )


def _key_in_child(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from tests.conftest import make_settings as ms

    settings = ms("sqlite://", Path(path).parent, public={"link_key_file": path})
    queue.put(link_key(settings))


def test_key_file_is_made_once_with_owner_only_permissions(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFIER_PUBLIC_LINK_SECRET", raising=False)
    path = tmp_path / "shared" / "link.key"
    # Forked, not spawned: four processes of their own racing for the file all the same, started within
    # milliseconds of each other (a spawned child first imported the whole service: 7.7 s for the four on
    # this 2-core machine, 0.05 s forked). This process has not read this key, so none inherits it.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_key_in_child, args=(str(path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    keys = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert path.read_bytes() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["link.key"]  # no temporary file left behind


def test_environment_key_wins(tmp_path: Path, monkeypatch) -> None:
    settings = _settings(tmp_path)
    monkeypatch.setenv("NOTIFIER_PUBLIC_LINK_SECRET", "bi-mat-cua-tinh")
    assert link_key(settings) == b"bi-mat-cua-tinh"
    assert not Path(settings.public.link_key_file).exists()


@pytest.mark.parametrize("code", [CODE, "H31.22-261201-0001", "ab-c.d_e"])
def test_public_url_round_trips_the_code(tmp_path: Path, monkeypatch, code: str) -> None:
    monkeypatch.delenv("NOTIFIER_PUBLIC_LINK_SECRET", raising=False)
    settings = _settings(tmp_path, base_url="https://dichvucong.haiphong.gov.vn/")
    url = public_url(settings, code, date(2026, 12, 1))
    parts = urlsplit(url)
    assert url.startswith("https://dichvucong.haiphong.gov.vn/tra-cuu/q/")
    assert " " not in url
    token = unquote(parts.path.rsplit("/", 1)[1])
    assert public_token.verify(link_key(settings), token) == public_token.PublicToken(code, date(2026, 12, 1))


def _service(tmp_path: Path, clock: FixedClock, db_url: str) -> Service:
    settings = make_settings(
        db_url, tmp_path, public={"link_key_file": str(tmp_path / "link.key"), "link_days_after_close": 30}
    )
    svc = Service.build(settings, clock)
    svc.migrate()
    imports = ImportWorkflow(svc)
    imports.officers(officers())
    imports.dossiers([dossier(CODE)], "test")
    return svc


def _token(svc: Service, issued: date) -> str:
    return unquote(public_url(svc.settings, CODE, issued).rsplit("/", 1)[1])


def test_open_token_refuses_forged_closed_and_revoked(db_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFIER_PUBLIC_LINK_SECRET", raising=False)
    clock = FixedClock(T0)
    svc = _service(tmp_path, clock, db_url)
    try:
        token = _token(svc, T0.date())
        assert open_token(svc, token) == CODE
        assert open_token(svc, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert open_token(svc, public_token.sign(b"x" * 32, CODE, T0.date())) is None
        # A link mangled to a non-ASCII letter (a URL's %C2%80) is refused like any forgery, not a TypeError.
        assert open_token(svc, token[:-1] + "\x80") is None
        # Revoked today: today's link and older ones stop; one printed tomorrow works.
        revoke(svc, CODE, "cli")
        assert open_token(svc, token) is None
        assert open_token(svc, _token(svc, T0.date() - timedelta(days=3))) is None
        tomorrow = _token(svc, T0.date() + timedelta(days=1))
        clock.advance(timedelta(days=1))
        assert open_token(svc, tomorrow) == CODE
        # Returned (closed) on 02/12: the link works for 30 days after, not 31.
        ImportWorkflow(svc).dossiers(
            [dossier(CODE, TrangThaiHoSo=10, NgayTra=ts(2026, 12, 2, 10, 0))], "test"
        )
        clock.advance(timedelta(days=29))
        assert open_token(svc, tomorrow) == CODE
        clock.advance(timedelta(days=2))
        assert open_token(svc, tomorrow) is None
    finally:
        svc.engine.dispose()


def test_cli_revoke_stops_todays_links(tmp_path: Path, monkeypatch) -> None:
    from tests.test_cli import _cli, _config

    monkeypatch.delenv("NOTIFIER_PUBLIC_LINK_SECRET", raising=False)
    db = f"sqlite:///{tmp_path / 'n.db'}"
    svc = _service(tmp_path, FixedClock(T0), db)
    try:
        _config(tmp_path, db)
        with (tmp_path / "config.toml").open("a", encoding="utf-8") as f:
            f.write(f'[public]\nlink_key_file = "{tmp_path / "link.key"}"\n')
        token = _token(svc, T0.date())
        assert open_token(svc, token) == CODE
        done = _cli(tmp_path, "public", "revoke", CODE, "--by", "CB01", "--now", "2026-12-01T10:00")
        assert done.returncode == 0, done.stderr
        assert "01/12/2026" in done.stdout
        assert open_token(svc, token) is None
        unknown = _cli(tmp_path, "public", "revoke", "KHONG-CO-1", "--now", "2026-12-01T10:00")
        assert unknown.returncode == 1 and "KHONG-CO-1" in unknown.stderr
    finally:
        svc.engine.dispose()


def test_admin_button_revokes_links(db_url: str, tmp_path: Path, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from notifier.store.models import AuditEntry, Dossier
    from tests.browser.kit import client_for, csrf_of, ready_province

    monkeypatch.setenv("NOTIFIER_PUBLIC_LINK_SECRET", "khoa-thu")
    province = ready_province(db_url, tmp_path, clock)
    svc = province.service
    try:
        with svc.factory() as session:
            code = session.scalars(select(Dossier.code).order_by(Dossier.id)).first()
        assert code is not None
        token = _token_for(svc, code)
        assert open_token(svc, token) == code
        agency = client_for(svc, "stp")
        refused = agency.post("/admin/public-links/revoke", data={"csrf_token": "x", "dossier": code})
        assert refused.status_code in (403, 303)
        assert open_token(svc, token) == code
        admin = client_for(svc, "quantri")
        form = csrf_of(admin.get("/admin/privacy").text)
        done = admin.post("/admin/public-links/revoke", data={"csrf_token": form, "dossier": code})
        assert (
            done.status_code == 200 and f"Đã thu hồi liên kết tra cứu (mã QR) của hồ sơ {code}." in done.text
        )
        assert open_token(svc, token) is None
        unknown = admin.post("/admin/public-links/revoke", data={"csrf_token": form, "dossier": "KHONG-CO-1"})
        assert unknown.status_code == 422 and "KHONG-CO-1" in unknown.text
        with svc.factory() as session:
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "public.revoke_links")
            ).one()
            assert (entry.actor, entry.target) == ("quantri", code)
    finally:
        svc.engine.dispose()


def _token_for(svc: Service, code: str) -> str:
    return unquote(public_url(svc.settings, code, svc.clock.now().date()).rsplit("/", 1)[1])
