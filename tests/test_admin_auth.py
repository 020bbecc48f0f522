"""Admin page accounts and sessions: hashed passwords, login, logout, throttling, CSRF on every form."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from jobs.cli import app as cli
from notifier.rules.clock import FixedClock
from notifier.rules.ratelimit import ADMIN_LOGIN
from notifier.store.engine import make_engine, session_factory
from notifier.store.limits import LoginFailures
from notifier.store.models import LoginFailure, User
from notifier.web.admin.app import ROUTERS
from notifier.web.api import create_app
from notifier.workflows.accounts import set_password
from notifier.workflows.service import Service
from tests.browser.kit import PASSWORD, Province, client_for, csrf_of, login
from tests.conftest import T0, make_settings


def test_passwords_are_stored_as_argon2_hashes(province: Province) -> None:
    with province.service.factory() as session:
        user = session.scalar(select(User).where(User.username == "quantri"))
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_login_logout_and_pages_need_a_session(province: Province) -> None:
    client = client_for(province.service)
    anonymous = client.get("/admin/log?code=X", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/admin/login?next=/admin/log%3Fcode%3DX"

    wrong = login(client, "quantri", "sai-mat-khau-roi")
    assert wrong.status_code == 401 and "không đúng" in wrong.text
    unknown = login(client, "khong-co-ai", PASSWORD)
    assert unknown.status_code == 401 and unknown.text.count("không đúng") == wrong.text.count("không đúng")

    ok = login(client, "QuanTri")  # user names are case-insensitive
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/"
    cookie = ok.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "path=/admin" in cookie.lower()
    home = client.get("/admin/")
    assert home.status_code == 200 and "Tổng quan" in home.text and "quantri" in home.text

    # Logging out is a form too: without the token it does nothing.
    assert client.post("/admin/logout", data={}).status_code == 403
    assert client.get("/admin/", follow_redirects=False).status_code == 200
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_login_redirects_only_inside_the_admin_page(province: Province) -> None:
    client = client_for(province.service)
    token = csrf_of(client.get("/admin/login").text)
    for target, expected in (
        ("/admin/log?status=failed", "/admin/log?status=failed"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/admin/", "/admin/"),
    ):
        client.cookies.clear()
        token = csrf_of(client.get("/admin/login").text)
        resp = client.post(
            "/admin/login",
            data={"username": "quantri", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert resp.headers["location"] == expected


def test_a_locked_account_or_a_changed_password_ends_the_session(province: Province) -> None:
    client = client_for(province.service, "stp")
    assert client.get("/admin/", follow_redirects=False).status_code == 200
    with province.service.factory() as session, session.begin():
        user = session.scalar(select(User).where(User.username == "stp"))
        assert user is not None
        set_password(session, user, "mot-mat-khau-moi-2027")
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    assert login(client, "stp", "mot-mat-khau-moi-2027").status_code == 303

    with province.service.factory() as session, session.begin():
        user = session.scalar(select(User).where(User.username == "stp"))
        assert user is not None
        user.active = False
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    assert login(client, "stp", "mot-mat-khau-moi-2027").status_code == 401


def test_repeated_failures_lock_the_name_for_a_while(province: Province) -> None:
    client = client_for(province.service)
    for _ in range(5):
        assert login(client, "skh", "doan-mo-mat-khau").status_code == 401
    locked = login(client, "skh")  # even the right password waits now
    assert locked.status_code == 429 and "quá nhiều lần" in locked.text
    assert login(client, "quantri").status_code == 303  # other names are not affected


def test_two_app_instances_on_one_database_lock_a_name_after_five_failures_in_all(
    province: Province, clock: FixedClock
) -> None:
    # A second `notifier run` process: its own engine and app on the same database.
    other = Service.build(province.service.settings, clock)
    try:
        first, second = client_for(province.service), client_for(other)
        for client in (first, second, first, second, first):
            assert login(client, "skh", "doan-mo-mat-khau").status_code == 401
        for client in (first, second):
            locked = login(client, "skh")
            assert locked.status_code == 429 and "quá nhiều lần" in locked.text
        assert login(second, "quantri").status_code == 303
        assert login(second, "x" * 500, "doan-mo-mat-khau").status_code == 401  # cut to the column, counted
    finally:
        other.engine.dispose()
    with province.service.factory() as session:
        rows = session.scalars(select(LoginFailure).where(LoginFailure.username == "skh")).all()
    # five failures by name and client address; the refused tries checked no password and left no row
    assert [(r.address, r.cleared) for r in rows] == [("testclient", False)] * 5


def test_the_lock_lifts_after_the_window_and_a_right_password_starts_afresh(
    province: Province, clock: FixedClock
) -> None:
    client = client_for(province.service)
    for _ in range(4):
        assert login(client, "stp", "doan-mo-mat-khau").status_code == 401
    assert login(client, "stp").status_code == 303
    for _ in range(4):  # the four before the right password no longer count
        assert login(client, "stp", "doan-mo-mat-khau").status_code == 401
    assert login(client, "stp", "doan-mo-mat-khau").status_code == 401
    assert login(client, "stp").status_code == 429
    clock.advance(timedelta(minutes=14))
    assert login(client, "stp").status_code == 429
    clock.advance(timedelta(minutes=1, seconds=1))  # the first of the five is over 15 minutes old
    assert login(client, "stp").status_code == 303


def test_tries_at_the_same_moment_get_five_password_checks_in_all(province: Province, clock: FixedClock) -> None:
    url = province.service.settings.database.url
    engines = [make_engine(url) for _ in range(4)]
    throttles = [LoginFailures(session_factory(e), ADMIN_LOGIN) for e in engines]
    start = threading.Barrier(len(throttles))
    allowed: list[int] = []

    def attacker(throttle: LoginFailures) -> None:
        start.wait()
        for _ in range(5):
            try_id = throttle.begin("quantri", "203.0.113.7", clock.now())
            if try_id is not None:
                allowed.append(try_id)

    threads = [threading.Thread(target=attacker, args=(t,)) for t in throttles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    # Twenty tries sent together: five were let through to the password check, the rest refused.
    assert len(allowed) == 5


def test_every_form_refuses_a_missing_or_forged_csrf_token(province: Province) -> None:
    posts = [r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert len(posts) >= 10
    client = client_for(province.service, "quantri")
    paths = {
        p.replace("{channel_type}", "sms").replace("{kind}", "received").replace("{notification_id}", "1")
        .replace("{user_id}", "1").replace("{request_id}", "1")
        for p in posts
    }
    for path in sorted(paths):
        for data in ({}, {"csrf_token": "forged"}):
            resp = client.post(f"/admin{path}", data=data, follow_redirects=False)
            assert resp.status_code == 403, (path, data, resp.status_code)
            assert "không hợp lệ" in resp.text
    preview = client.post(
        "/admin/templates/sms/received/preview", json={"body": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert preview.status_code == 403
    # The login form itself is protected too (login CSRF).
    client.cookies.clear()
    client.get("/admin/login")
    assert client.post("/admin/login", data={"username": "quantri", "password": PASSWORD}).status_code == 403


def test_security_headers(province: Province) -> None:
    client = client_for(province.service, "quantri")
    resp = client.get("/admin/")
    assert resp.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"] == "no-store"


def test_cli_creates_users(province: Province, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE__URL", str(province.service.settings.database.url))
    monkeypatch.setenv("NEW_ADMIN_PASSWORD", "mat-khau-cua-admin-moi")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["user", "create", "Admin2", "--role", "admin", "--password-env", "NEW_ADMIN_PASSWORD", "--phone", "0912 345 678"]
    )
    assert ok.exit_code == 0, ok.output
    assert "user admin2 created (admin)" in ok.output
    with province.service.factory() as session:
        user = session.scalar(select(User).where(User.username == "admin2"))
    assert user is not None and user.phone == "+84912345678" and user.agency_id is None

    prompted = runner.invoke(
        cli, ["user", "create", "canbo.stp", "--role", "agency", "--agency", "000.00.30.H26"],
        input="mat-khau-nhap-tay\nmat-khau-nhap-tay\n",
    )
    assert prompted.exit_code == 0, prompted.output

    for args, message in (
        (["user", "create", "x1", "--role", "agency", "--password-env", "NEW_ADMIN_PASSWORD"], "agency"),
        (["user", "create", "x2", "--role", "agency", "--agency", "999.KHONG.CO", "--password-env", "NEW_ADMIN_PASSWORD"], "999.KHONG.CO"),
        (["user", "create", "x3", "--role", "boss", "--password-env", "NEW_ADMIN_PASSWORD"], "boss"),
        (["user", "create", "admin2", "--role", "admin", "--password-env", "NEW_ADMIN_PASSWORD"], "already exists"),
        (["user", "create", "x4", "--role", "admin", "--password-env", "UNSET_VARIABLE_X"], "UNSET_VARIABLE_X"),
    ):
        bad = runner.invoke(cli, args)
        assert bad.exit_code != 0 and message in bad.output, (args, bad.output)
    os.environ.pop("NEW_ADMIN_PASSWORD", None)
    monkeypatch.setenv("SHORT_PW", "ngan")
    short = runner.invoke(cli, ["user", "create", "x5", "--role", "admin", "--password-env", "SHORT_PW"])
    assert short.exit_code == 1 and "at least 10" in short.output


def test_each_error_is_answered_with_its_own_page(province: Province) -> None:
    """The error pages of app.FIXED_ERRORS and the two that name what went wrong: status and words."""
    admin = client_for(province.service, "quantri")
    agency = client_for(province.service, "stp")
    cases = {
        "Trang này chỉ dành cho quản trị viên toàn tỉnh.": (agency.get("/admin/users"), 403),
        "Phiên làm việc đã hết hạn": (admin.post("/admin/users", data={"username": "x"}), 403),
        "Địa chỉ trang không đúng.": (admin.get("/admin/log/abc"), 404),
        "Không có trang này.": (admin.get("/admin/khong-co-trang-nay"), 404),
        "Không tìm thấy thông báo": (admin.get("/admin/log/99999999"), 404),
    }
    for words, (resp, status) in cases.items():
        assert resp.status_code == status, (words, resp.status_code)
        assert words in resp.text, (words, resp.text[:300])


def test_an_unexpected_error_is_answered_with_the_admin_error_page(tmp_path: Path) -> None:
    # The login form reaches for a database nobody listens for: the error nobody planned for.
    dead = "postgresql://postgres@127.0.0.1:1/notifier"
    service = Service.build(make_settings(dead, tmp_path), FixedClock(T0))
    client = TestClient(create_app(service), raise_server_exceptions=False)
    token = csrf_of(client.get("/admin/login").text)
    resp = client.post("/admin/login", data={"csrf_token": token, "username": "quantri", "password": PASSWORD})
    assert resp.status_code == 500 and resp.headers["content-type"].startswith("text/html")
    assert "Hệ thống gặp lỗi khi xử lý yêu cầu." in resp.text and "Internal Server Error" not in resp.text


def test_a_nul_in_the_login_form_is_refused_naming_the_field(province: Province) -> None:
    # Anyone could make the login form a 500 on PostgreSQL (the failure row could not be stored).
    client = TestClient(create_app(province.service))
    for username, password, field in (
        ("quan\x00tri", "mật khẩu sai", "username"),
        ("quantri", "x\x00y", "password"),
    ):
        resp = login(client, username, password)
        assert resp.status_code == 422, resp.text[:300]
        assert f"Ô “{field}”" in resp.text
    assert login(client, "quantri").status_code == 303  # nothing was counted against the name


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        (
            "post",
            "/admin/users",
            {"username": "nv1", "role": "agency", "agency": "H26\x00", "password": "a" * 12},
        ),
        ("post", "/admin/apikeys", {"name": "k2", "callback_url": "https://x.vn/\x00"}),
        (
            "post",
            "/admin/contacts",
            {"address": "0912345678", "medium": "sms", "action": "opt_out", "reason": "\x00"},
        ),
        ("post", "/admin/privacy", {"kind": "access", "dossier": "HS\x00"}),
        ("post", "/admin/public-links/revoke", {"dossier": "HS\x00"}),
        ("post", "/admin/templates/sms/received/save", {"body": "Xin chào\x00", "base_version": "0"}),
        ("post", "/admin/apikeys/k%00/revoke", {}),
        ("get", "/admin/contacts?q=%00", None),
        ("get", "/admin/templates/sms/received/history?agency=%00", None),
        (
            "json",
            "/admin/templates/sms/received/preview",
            {"body": "Xin chào", "source": "dossier", "dossier": "\x00"},
        ),
    ],
)
def test_a_nul_anywhere_in_an_admin_request_is_refused_not_a_server_error(
    province: Province, method: str, path: str, data: dict[str, str] | None
) -> None:
    # PostgreSQL can neither store nor compare a NUL: each of these was a 500 there.
    client = client_for(province.service, "quantri")
    token = csrf_of(client.get("/admin/users").text)
    if method == "get":
        resp = client.get(path)
    elif method == "json":
        resp = client.post(path, json=data, headers={"X-CSRF-Token": token})
    else:
        resp = client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 422, resp.text[:300]
    assert "ký tự không đọc được" in resp.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/admin/log/{10**20}"),
        ("post", f"/admin/log/{10**20}/retry"),
        ("post", f"/admin/users/{10**20}/active"),
    ],
)
def test_a_row_id_past_the_databases_integers_is_not_found(
    province: Province, method: str, path: str
) -> None:
    client = client_for(province.service, "quantri")
    token = csrf_of(client.get("/admin/users").text)
    resp = client.request(method.upper(), path, data={"csrf_token": token} if method == "post" else None)
    assert resp.status_code == 404, resp.text[:300]
