"""Accounts over HTTP and the CLI (SQLite and PostgreSQL): one's own password change, an admin's reset of
another's, `notifier user set-password`, and the TOTP second factor (enrolment, log-in, replay, throttling,
recovery)."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from jobs.cli import app as cli
from notifier.rules.clock import FixedClock
from notifier.store.models import AuditEntry, User
from tests.browser.kit import PASSWORD, Province, client_for, csrf_of, login
from tests.test_admin_language import leaks, visible

NEW = "mot-mat-khau-moi-2027"


def _user(province: Province, name: str) -> User:
    with province.service.factory() as session:
        user = session.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


def _audit(province: Province, action: str) -> list[AuditEntry]:
    with province.service.factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _logged_in(client: TestClient) -> bool:
    return client.get("/admin/", follow_redirects=False).status_code == 200


def test_own_password_change_asks_the_current_one_and_ends_the_other_sessions(province: Province) -> None:
    here, elsewhere = client_for(province.service, "stp"), client_for(province.service, "stp")
    token = csrf_of(here.get("/admin/account").text)

    def change(current: str, new: str, confirm: str) -> object:
        return here.post(
            "/admin/account/password",
            data={"csrf_token": token, "current": current, "new": new, "confirm": confirm},
            follow_redirects=False,
        )

    wrong = change("khong-phai-mat-khau", NEW, NEW)
    assert wrong.status_code == 422 and "Mật khẩu hiện tại không đúng." in wrong.text  # type: ignore[attr-defined]
    differ = change(PASSWORD, NEW, NEW + "x")
    assert differ.status_code == 422 and "không giống nhau" in differ.text  # type: ignore[attr-defined]
    short = change(PASSWORD, "ngan", "ngan")
    assert short.status_code == 422 and "ít nhất 10 ký tự" in short.text  # type: ignore[attr-defined]
    assert "$argon2" in _user(province, "stp").password_hash and login(TestClient(here.app), "stp").status_code == 303

    done = change(PASSWORD, NEW, NEW)
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert "Đã đổi mật khẩu" in here.get("/admin/account").text
    assert _logged_in(here) and not _logged_in(elsewhere)  # this browser goes on, the other session ended
    assert login(client_for(province.service), "stp").status_code == 401
    assert login(client_for(province.service), "stp", NEW).status_code == 303
    [entry] = _audit(province, "user.password")
    assert (entry.actor, entry.target) == ("stp", "user:stp")
    # Without the form's token nothing changes (CSRF).
    forged = here.post(
        "/admin/account/password", data={"csrf_token": "x", "current": NEW, "new": PASSWORD, "confirm": PASSWORD}
    )
    assert forged.status_code == 403 and login(client_for(province.service), "stp", NEW).status_code == 303


def test_an_admin_resets_another_accounts_password(province: Province) -> None:
    admin, victim = client_for(province.service, "quantri"), client_for(province.service, "stp")
    stp = _user(province, "stp")
    page = admin.get("/admin/users").text
    token = csrf_of(page)
    assert f'action="/admin/users/{stp.id}/password"' in page
    short = admin.post(f"/admin/users/{stp.id}/password", data={"csrf_token": token, "password": "ngan"})
    assert short.status_code == 422 and "ít nhất 10 ký tự" in short.text
    ok = admin.post(
        f"/admin/users/{stp.id}/password", data={"csrf_token": token, "password": NEW}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert not _logged_in(victim) and login(client_for(province.service), "stp", NEW).status_code == 303
    [entry] = _audit(province, "user.password_reset")
    assert (entry.actor, entry.target) == ("quantri", "user:stp")
    # An agency officer resets nobody's password; an unknown account is 404; no token, no change.
    agency = client_for(province.service, "skh")
    refused = agency.post(
        f"/admin/users/{stp.id}/password", data={"csrf_token": csrf_of(agency.get("/admin/").text), "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert admin.post("/admin/users/999999/password", data={"csrf_token": token, "password": NEW}).status_code == 404
    assert admin.post(f"/admin/users/{stp.id}/password", data={"password": PASSWORD}).status_code == 403
    assert login(client_for(province.service), "stp", NEW).status_code == 303


def test_cli_sets_a_password_from_standard_input(
    province: Province, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE__URL", str(province.service.settings.database.url))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    victim = client_for(province.service, "skh")
    ok = runner.invoke(cli, ["user", "set-password", "SKH"], input=NEW + "\n")
    assert ok.exit_code == 0, ok.output
    assert "user skh: password set" in ok.output and NEW not in ok.output
    assert not _logged_in(victim) and login(client_for(province.service), "skh", NEW).status_code == 303
    assert [e.actor for e in _audit(province, "user.password_reset")] == ["cli"]
    short = runner.invoke(cli, ["user", "set-password", "skh"], input="ngan\n")
    assert short.exit_code == 1 and "at least 10" in short.output
    unknown = runner.invoke(cli, ["user", "set-password", "khong-co"], input=NEW + "\n")
    assert unknown.exit_code == 1 and "no such account" in unknown.output
    # The password is never an argument: the command takes none.
    assert runner.invoke(cli, ["user", "set-password", "skh", NEW]).exit_code == 2


def _enrol(province: Province, client: TestClient) -> str:
    """Start TOTP on the account page, read the secret shown once, confirm with a code: the secret."""
    token = csrf_of(client.get("/admin/account").text)
    started = client.post("/admin/account/second-factor", data={"csrf_token": token})
    assert started.status_code == 200
    shown = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', started.text)
    assert shown and 'src="data:image/svg+xml' in started.text
    assert not leaks(visible(started.text)[0])  # the enrolment page speaks Vietnamese too
    secret = shown.group(1).replace(" ", "")
    uri = html.unescape(re.search(r'<code class="small" id="totp-uri">([^<]+)</code>', started.text).group(1))  # type: ignore[union-attr]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    now = province.service.clock.now()
    assert _user(province, "quantri").totp_enabled_at is None  # pending: protects nothing yet
    wrong = client.post("/admin/account/second-factor/confirm", data={"csrf_token": token, "code": "000000"})
    if pyotp.TOTP(secret).at(now) != "000000":
        assert wrong.status_code == 422 and "Mã không đúng" in wrong.text
        assert _user(province, "quantri").totp_enabled_at is None
    code = pyotp.TOTP(secret).at(now)
    confirmed = client.post(
        "/admin/account/second-factor/confirm", data={"csrf_token": token, "code": code}, follow_redirects=False
    )
    assert confirmed.status_code == 303 and _user(province, "quantri").totp_enabled_at == now
    return secret


def _code_step(client: TestClient, code: str) -> object:
    token = csrf_of(client.get("/admin/login/code").text)
    return client.post("/admin/login/code", data={"csrf_token": token, "code": code}, follow_redirects=False)


def test_totp_enrolment_then_log_in_asks_the_code_after_the_password(
    province: Province, clock: FixedClock
) -> None:
    admin = client_for(province.service, "quantri")
    secret = _enrol(province, admin)
    assert "Đang bật" in admin.get("/admin/account").text
    assert [e.target for e in _audit(province, "user.totp_enable")] == ["user:quantri"]
    totp = pyotp.TOTP(secret)

    clock.advance(timedelta(minutes=1))
    browser = client_for(province.service)
    first = login(browser, "quantri")
    assert first.status_code == 303 and first.headers["location"].endswith("/admin/login/code")
    assert not _logged_in(browser)  # the password alone opens nothing
    assert not leaks(visible(browser.get("/admin/login/code").text)[0])
    wrong = _code_step(browser, "123456" if totp.now() != "123456" else "654321")
    assert wrong.status_code == 401 and "Mã xác thực không đúng" in wrong.text  # type: ignore[attr-defined]
    code = totp.at(clock.now())
    right = _code_step(browser, code)
    assert right.status_code == 303 and _logged_in(browser)  # type: ignore[attr-defined]

    # The same code twice is refused, even within its 30 seconds (seen over a shoulder).
    again = client_for(province.service)
    assert login(again, "quantri").status_code == 303
    assert _code_step(again, code).status_code == 401  # type: ignore[attr-defined]
    # A code from the step before (a phone whose clock lags) still opens it, once.
    clock.advance(timedelta(seconds=30))
    assert _code_step(again, totp.at(clock.now())).status_code == 303  # type: ignore[attr-defined]

    # The password step expires: a code after `totp_login_seconds` starts over.
    late = client_for(province.service)
    assert login(late, "quantri").status_code == 303
    clock.advance(timedelta(seconds=province.service.settings.admin.totp_login_seconds + 1))
    token = csrf_of(late.get("/admin/login").text)
    expired = late.post("/admin/login/code", data={"csrf_token": token, "code": totp.at(clock.now())})
    assert expired.status_code == 401 and "Đã quá thời gian nhập mã" in expired.text
    assert not _logged_in(late)


def test_wrong_codes_are_throttled_like_passwords_and_another_admin_turns_totp_off(
    province: Province, clock: FixedClock
) -> None:
    admin = client_for(province.service, "quantri")
    secret = _enrol(province, admin)
    with province.service.factory() as session, session.begin():
        from notifier.workflows.accounts import NewUser, create_user

        create_user(session, NewUser("quantri2", "admin"), PASSWORD, clock.now())
    clock.advance(timedelta(minutes=1))
    browser = client_for(province.service)
    assert login(browser, "quantri").status_code == 303
    right = pyotp.TOTP(secret).at(clock.now())
    wrong = "111111" if right != "111111" else "222222"
    for _ in range(5):
        assert _code_step(browser, wrong).status_code == 401  # type: ignore[attr-defined]
    locked = _code_step(browser, right)
    assert locked.status_code == 429 and "quá nhiều lần" in locked.text  # type: ignore[attr-defined]
    assert not _logged_in(browser)

    # Recovery: another admin resets the password and turns the second factor off.
    other = client_for(province.service, "quantri2")
    me = _user(province, "quantri")
    token = csrf_of(other.get("/admin/users").text)
    reset = other.post(
        f"/admin/users/{me.id}/password",
        data={"csrf_token": token, "password": NEW, "second_factor_off": "1"},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    user = _user(province, "quantri")
    assert user.totp_enabled_at is None and user.totp_secret is None
    [entry] = _audit(province, "user.password_reset")
    assert entry.actor == "quantri2" and json.loads(entry.detail or "{}") == {"second_factor_off": True}
    clock.advance(timedelta(minutes=16))  # the lock's window
    fresh = client_for(province.service)
    assert login(fresh, "quantri", NEW).headers["location"] == "/admin/"  # no code asked any more


def test_only_admins_enrol_and_an_admin_may_turn_anothers_totp_off(province: Province) -> None:
    agency = client_for(province.service, "stp")
    page = agency.get("/admin/account").text
    assert "Đổi mật khẩu" in page and "Xác thực hai lớp" not in page
    assert agency.post("/admin/account/second-factor", data={"csrf_token": csrf_of(page)}).status_code == 403
    admin = client_for(province.service, "quantri")
    _enrol(province, admin)
    second = client_for(province.service)
    with province.service.factory() as session, session.begin():
        from notifier.workflows.accounts import NewUser, create_user

        create_user(session, NewUser("quantri2", "admin"), PASSWORD, province.service.clock.now())
    assert login(second, "quantri2").status_code == 303
    me = _user(province, "quantri")
    token = csrf_of(second.get("/admin/users").text)
    off = second.post(f"/admin/users/{me.id}/second-factor-off", data={"csrf_token": token}, follow_redirects=False)
    assert off.status_code == 303 and _user(province, "quantri").totp_enabled_at is None
    assert [e.actor for e in _audit(province, "user.totp_disable")] == ["quantri2"]


def test_user_list_tells_scripts_run_whether_a_first_admin_is_needed(
    db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import migrated_service

    service = migrated_service(db_url, tmp_path, clock)
    try:
        monkeypatch.setenv("NOTIFIER_DATABASE__URL", str(service.settings.database.url))
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        empty = runner.invoke(cli, ["user", "list", "--names"])
        assert empty.exit_code == 0 and empty.output.strip() == ""  # scripts/run prints the create command
        made = runner.invoke(cli, ["user", "create", "admin", "--role", "admin"], input=f"{NEW}\n{NEW}\n")
        assert made.exit_code == 0, made.output
        assert runner.invoke(cli, ["user", "list", "--names"]).output.split() == ["admin"]
        table = runner.invoke(cli, ["user", "list"]).output
        assert "admin" in table and "off" in table and "yes" in table
    finally:
        service.engine.dispose()
