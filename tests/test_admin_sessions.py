"""Admin sessions are server-side: logout revokes them, and the cookie carries no token or hash (issue 11)."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from notifier.store.models import AdminSession, User
from notifier.workflows.accounts import set_password
from tests.browser.kit import Province, client_for, csrf_of


def _cookie_payload(value: str) -> dict[str, object]:
    # Starlette's cookie: base64(JSON).timestamp.signature — signed, not encrypted, so readable.
    data = value.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))  # type: ignore[no-any-return]


def test_a_cookie_copied_before_logout_opens_nothing_after_it(province: Province) -> None:
    client = client_for(province.service, "quantri")
    stolen = client.cookies.get("notifier_admin")
    assert stolen
    home = client.get("/admin/")
    assert home.status_code == 200
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    thief = client_for(province.service)
    thief.cookies.set("notifier_admin", stolen, path="/admin")
    replay = thief.get("/admin/", follow_redirects=False)
    assert replay.status_code == 303 and "/admin/login" in replay.headers["location"]
    with province.service.factory() as session:
        [row] = session.scalars(select(AdminSession)).all()
    assert row.revoked_at == province.service.clock.now()


def test_the_cookie_carries_no_csrf_token_and_no_hash_fragment(province: Province) -> None:
    client = client_for(province.service, "quantri")
    home = client.get("/admin/")
    token = csrf_of(home.text)
    raw = client.cookies.get("notifier_admin") or ""
    payload = _cookie_payload(raw)
    assert set(payload) == {"sid"}
    with province.service.factory() as session:
        password_hash = session.scalar(select(User.password_hash).where(User.username == "quantri"))
    assert password_hash and password_hash[-16:] not in raw and token not in json.dumps(payload)
    # And the token still works: a form posted with it is accepted.
    assert client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303


def test_a_password_change_ends_the_open_sessions(province: Province) -> None:
    client = client_for(province.service, "stp")
    assert client.get("/admin/").status_code == 200
    with province.service.factory() as session, session.begin():
        user = session.scalar(select(User).where(User.username == "stp"))
        assert user is not None
        set_password(session, user, "mot-mat-khau-moi-2027")
    assert client.get("/admin/", follow_redirects=False).status_code == 303
