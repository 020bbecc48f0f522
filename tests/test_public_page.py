"""The public dossier page /tra-cuu through HTTP: the look-up with the chatbot's rules (same bytes for a
wrong digit and an unknown code, throttles per client and per code held in the database, so across app
instances on separate engines), QR links, the pass cookie, CSRF, the dossier's view and its actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from notifier.rules.clock import FixedClock
from notifier.rules.privacy import RequestKind
from notifier.store.models import ConsentRecord, Contact, Feedback, LookupFailure, PrivacyRequest
from notifier.web.api import create_app
from notifier.workflows.errors import NotFound
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.officer_actions import Actor, ApologyWorkflow
from notifier.workflows.public_links import public_url, revoke
from notifier.workflows.public_page import Medium, PublicPage
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings
from tests.factories import dossier, officers, ts
from tests.fakes.helpers import free_port

CODE = "000.00.30.H26-261120-0001"  # phone 0912345678
OTHER = "000.00.30.H26-261120-0002"  # phone 0987654321
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LIMIT = 3


def _settings(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(
        db_url,
        tmp_path,
        public={"link_key_file": str(tmp_path / "link.key"), "base_url": "https://tracuu.example.vn"},
        bot={"failed_lookup_limit": LIMIT, "code_failed_lookup_limit": LIMIT + 2},
    )


@pytest.fixture
def svc(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.delenv("NOTIFIER_PUBLIC_LINK_SECRET", raising=False)
    service = Service.build(_settings(db_url, tmp_path), FixedClock(T0))
    service.migrate()
    imports = ImportWorkflow(service)
    imports.officers(officers())
    imports.dossiers(
        [
            dossier(CODE, TrangThaiHoSo=6, DaThanhToan=0, DuongDanThanhToan="https://dichvucong.gov.vn/p/1"),
            dossier(OTHER, SoDienThoai="0987654321", Email=None),
        ],
        "test",
    )
    yield service
    service.engine.dispose()


def client(service: Service, address: str = "203.0.113.7") -> TestClient:
    return TestClient(create_app(service), base_url="https://tracuu.example.vn", client=(address, 40000))


def token_of(c: TestClient, path: str = "/tra-cuu") -> str:
    match = CSRF.search(c.get(path).text)
    assert match is not None
    return match[1]


def look_up(c: TestClient, code: str, digits: str, token: str | None = None):  # type: ignore[no-untyped-def]
    data = {"ma_ho_so": code, "so_cuoi": digits, "csrf_token": token or token_of(c)}
    return c.post("/tra-cuu", data=data, follow_redirects=False)


def failures(service: Service) -> int:
    with service.factory() as session:
        return int(session.scalar(select(func.count()).select_from(LookupFailure)) or 0)


def test_wrong_digits_and_unknown_code_give_the_same_bytes(svc: Service) -> None:
    c = client(svc)
    token = token_of(c)
    wrong = look_up(c, CODE, "0000", token)
    unknown = look_up(c, "000.00.30.H26-261120-9999", "5678", token)
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.content == unknown.content
    assert {k: v for k, v in wrong.headers.items() if k != "date"} == {
        k: v for k, v in unknown.headers.items() if k != "date"
    }
    assert "set-cookie" not in wrong.headers
    assert "Không tìm thấy hồ sơ" in wrong.text and CODE not in wrong.text
    assert failures(svc) == 2  # both counted, as in the chat


def test_right_digits_open_the_dossier_with_masked_data(svc: Service) -> None:
    c = client(svc)
    found = look_up(c, CODE.lower(), "5678")
    assert found.status_code == 303 and found.headers["location"] == "/tra-cuu/ho-so"
    cookie = found.headers["set-cookie"]
    assert "tc_pass=" in cookie and "HttpOnly" in cookie and "Secure" in cookie and "Path=/tra-cuu" in cookie
    page = c.get("/tra-cuu/ho-so")
    assert page.status_code == 200
    assert CODE in page.text and "091****678" in page.text and "a***@example.vn" in page.text
    assert "0912345678" not in page.text and "an.nguyen@example.vn" not in page.text
    assert "Nguyễn Văn An" not in page.text  # the applicant's name is not shown to whoever has 4 digits
    # Payment asked: the amount as Vietnamese documents write it, and the portal's link.
    assert "200.000 đồng" in page.text and "https://dichvucong.gov.vn/p/1" in page.text
    assert len(page.content) < 30_000


def test_a_refused_dossiers_page_shows_no_appointment(svc: Service) -> None:
    c = opened(svc)
    assert "Hẹn trả kết quả" in c.get("/tra-cuu/ho-so").text
    ImportWorkflow(svc).dossiers([dossier(CODE, TrangThaiHoSo=3)], "test")
    page = c.get("/tra-cuu/ho-so")
    assert "Không được tiếp nhận" in page.text and "Hẹn trả kết quả" not in page.text


def test_page_is_strict_and_scriptless(svc: Service) -> None:
    c = client(svc)
    page = c.get("/tra-cuu")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp and "script-src" not in csp
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text.lower() and 'lang="vi"' in page.text
    assert re.search(r'<a [^>]*href="\?lang=en"[^>]*>English</a>', page.text)


def test_throttle_per_client_holds_across_app_instances(svc: Service, db_url: str, tmp_path: Path) -> None:
    # A second service on its own engine: another process's view of the same database.
    second = Service.build(_settings(db_url, tmp_path), svc.clock)
    try:
        apps = [client(svc), client(second)]
        tokens = [token_of(a) for a in apps]
        for i in range(LIMIT):
            assert look_up(apps[i % 2], CODE, f"000{i}", tokens[i % 2]).status_code == 200
        # The right digits, from either instance: slowed down now.
        for a, token in zip(apps, tokens, strict=True):
            slowed = look_up(a, CODE, "5678", token)
            assert slowed.status_code == 429 and "Retry-After" in slowed.headers
        # Another client address is not slowed by this one's failures.
        other = client(second, "198.51.100.9")
        assert look_up(other, CODE, "5678").status_code == 303
        # After the slowdown, one try is allowed again.
        svc.clock.advance(timedelta(seconds=svc.settings.bot.slowdown_seconds + 1))  # type: ignore[attr-defined]
        assert look_up(apps[1], CODE, "5678", tokens[1]).status_code == 303
    finally:
        second.engine.dispose()


def test_throttle_per_code_holds_across_clients_and_instances(
    svc: Service, db_url: str, tmp_path: Path
) -> None:
    second = Service.build(_settings(db_url, tmp_path), svc.clock)
    try:
        code_limit = svc.settings.bot.code_failed_lookup_limit
        for i in range(code_limit):
            c = client(svc if i % 2 else second, f"192.0.2.{i + 1}")
            assert look_up(c, CODE, f"00{i:02d}").status_code == 200
        # A fresh client, right digits: the code itself is slowed.
        assert look_up(client(second, "192.0.2.200"), CODE, "5678").status_code == 429
        # Another dossier is not.
        assert look_up(client(svc, "192.0.2.201"), OTHER, "4321").status_code == 303
    finally:
        second.engine.dispose()


def test_post_without_csrf_token_is_refused_and_not_counted(svc: Service) -> None:
    c = client(svc)
    c.get("/tra-cuu")
    refused = c.post("/tra-cuu", data={"ma_ho_so": CODE, "so_cuoi": "5678", "csrf_token": "x"})
    assert refused.status_code == 403
    fresh = client(svc, "203.0.113.8")  # a token from another browser (another nonce) is no token
    stolen = token_of(c)
    assert look_up(fresh, CODE, "5678", stolen).status_code == 403
    assert failures(svc) == 0


def qr_path(service: Service, issued=None) -> str:  # type: ignore[no-untyped-def]
    return urlsplit(public_url(service.settings, CODE, issued or T0.date())).path


def test_qr_link_opens_and_refusals_look_alike(svc: Service) -> None:
    c = client(svc)
    opened = c.get(qr_path(svc), follow_redirects=False)
    assert opened.status_code == 303 and "tc_pass=" in opened.headers["set-cookie"]
    assert CODE in c.get("/tra-cuu/ho-so").text

    path = qr_path(svc)
    forged = client(svc).get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
    revoke(svc, CODE, "test")
    revoked = client(svc).get(path)
    assert forged.status_code == revoked.status_code == 404
    assert forged.content == revoked.content


def test_no_pass_no_dossier(svc: Service) -> None:
    c = client(svc)
    assert c.get("/tra-cuu/ho-so").status_code == 403
    c.cookies.set("tc_pass", "MDAw.9999999999.forged", domain="tracuu.example.vn", path="/tra-cuu")
    assert c.get("/tra-cuu/ho-so").status_code == 403
    # A pass expires.
    look_up(c, CODE, "5678")
    assert c.get("/tra-cuu/ho-so").status_code == 200
    svc.clock.advance(timedelta(minutes=svc.settings.public.pass_minutes + 1))  # type: ignore[attr-defined]
    assert c.get("/tra-cuu/ho-so").status_code == 403


def test_every_action_refuses_a_dossier_that_is_gone_alike(svc: Service) -> None:
    # A pass outlives its dossier only if the dossier goes (erased); each action then says "unknown dossier".
    page = PublicPage(svc)
    gone = "000.00.30.H26-261120-9999"
    actions = {
        "dossier": lambda: page.dossier(gone),
        "notices": lambda: page.set_notices(gone, Medium.SMS, True, "203.0.113.7"),
        "feedback": lambda: page.feedback(gone, "Hồ sơ của tôi đã quá hạn trả kết quả.", "203.0.113.7"),
        "privacy": lambda: page.privacy(gone, RequestKind.ACCESS, None, "203.0.113.7"),
    }
    for name, action in actions.items():
        with pytest.raises(NotFound) as refused:
            action()
        assert refused.value.refusal == "unknown_dossier", name
    with svc.factory() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0
        assert session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0


def opened(service: Service, code: str = CODE, digits: str = "5678") -> TestClient:
    c = client(service)
    assert look_up(c, code, digits).status_code == 303
    return c


def test_subscribe_records_consent_and_opt_out_stops(svc: Service) -> None:
    c = opened(svc)
    token = token_of(c, "/tra-cuu/ho-so")
    no_consent = c.post("/tra-cuu/ho-so/thong-bao", data={"csrf_token": token, "kenh": "sms", "lam": "bat"})
    assert no_consent.status_code == 422
    stop = c.post("/tra-cuu/ho-so/thong-bao", data={"csrf_token": token, "kenh": "sms", "lam": "tat"})
    assert stop.status_code == 200
    with svc.factory() as session:
        contact = session.scalars(select(Contact).where(Contact.address == "+84912345678")).one()
        assert contact.medium == "sms" and contact.opted_out_at is not None and contact.source == "web"
    assert "đang tắt thông báo" in c.get("/tra-cuu/ho-so").text
    on = c.post(
        "/tra-cuu/ho-so/thong-bao", data={"csrf_token": token, "kenh": "email", "lam": "bat", "dong_y": "1"}
    )
    assert on.status_code == 200
    with svc.factory() as session:
        record = session.scalars(select(ConsentRecord).where(ConsentRecord.medium == "email")).one()
        assert record.address == "an.nguyen@example.vn" and record.channel == "web"
        assert record.purpose == svc.settings.privacy.consent_purpose and record.withdrawn_at is None


def test_feedback_and_privacy_request_go_through_their_workflows(svc: Service) -> None:
    c = opened(svc)
    token = token_of(c, "/tra-cuu/ho-so")
    text = "Hồ sơ của tôi đã quá hạn mà chưa có ai liên hệ."
    sent = c.post("/tra-cuu/ho-so/phan-anh", data={"csrf_token": token, "noi_dung": text, "dong_y": "1"})
    assert sent.status_code == 200
    short = c.post("/tra-cuu/ho-so/phan-anh", data={"csrf_token": token, "noi_dung": "ngắn", "dong_y": "1"})
    assert short.status_code == 422
    asked = c.post(
        "/tra-cuu/ho-so/du-lieu", data={"csrf_token": token, "loai": "access", "dong_y": "1", "chi_tiet": ""}
    )
    assert asked.status_code == 200
    with svc.factory() as session:
        fb = session.scalars(select(Feedback)).one()
        assert fb.text == text and fb.dossier is not None and fb.dossier.code == CODE
        req = session.scalars(select(PrivacyRequest)).one()
        assert (req.kind, req.channel, req.dossier_code) == ("access", "web", CODE)
        consents = session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [(c.address, c.medium, c.channel, c.purpose) for c in consents] == [
            ("+84912345678", "sms", "web", svc.settings.public.feedback_consent_purpose),
            ("+84912345678", "sms", "web", svc.settings.public.privacy_consent_purpose),
        ]


def test_a_nul_in_feedback_or_a_privacy_detail_is_refused_not_a_server_error(svc: Service) -> None:
    # PostgreSQL refuses NUL in text: both forms were a 500 there.
    c = opened(svc)
    token = token_of(c, "/tra-cuu/ho-so")
    text = "Hồ sơ của tôi\x00 đã quá hạn mà chưa có ai liên hệ."
    sent = c.post("/tra-cuu/ho-so/phan-anh", data={"csrf_token": token, "noi_dung": text, "dong_y": "1"})
    assert sent.status_code == 422 and "Chưa gửi được" in sent.text
    asked = c.post(
        "/tra-cuu/ho-so/du-lieu",
        data={"csrf_token": token, "loai": "correct", "dong_y": "1", "chi_tiet": "Sửa tên\x00 giúp tôi"},
    )
    assert asked.status_code == 422 and "Chưa gửi được" in asked.text
    with svc.factory() as session:
        assert session.scalars(select(Feedback)).all() == []
        assert session.scalars(select(PrivacyRequest)).all() == []


def test_apology_letter_downloads_as_pdf(svc: Service) -> None:
    c = opened(svc)
    assert "van-ban-xin-loi.pdf" not in c.get("/tra-cuu/ho-so").text
    assert c.get("/tra-cuu/ho-so/van-ban-xin-loi.pdf").status_code == 404
    ImportWorkflow(svc).dossiers([dossier(CODE, TrangThaiHoSo=4, NgayHenTra=ts(2026, 12, 1, 8, 0))], "test")
    ApologyWorkflow(svc).set_new_date(CODE, "10/12/2026", "Cần xác minh thêm tại địa phương", Actor("test"))
    page = c.get("/tra-cuu/ho-so").text
    assert "van-ban-xin-loi.pdf" in page and "10/12/2026" in page
    pdf = c.get("/tra-cuu/ho-so/van-ban-xin-loi.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"


def test_english_view_is_kept_in_a_cookie(svc: Service) -> None:
    c = opened(svc)
    en = c.get("/tra-cuu/ho-so?lang=en")
    assert 'lang="en"' in en.text and "Application" in en.text and "Progress" in en.text
    assert "Tiếng Việt" in en.text and "200,000 VND" in en.text
    # The status reads as the notifications and the chatbot word it in English (the `messages` catalog).
    from notifier.rules.statuses import status_name
    from notifier.store.models import Dossier

    with svc.factory() as session:
        status = session.scalars(select(Dossier.status).where(Dossier.code == CODE)).one()
    assert status_name(status, "en") in en.text and status_name(status, "en") != status_name(status)
    again = c.get("/tra-cuu/ho-so")
    assert 'lang="en"' in again.text
    assert 'lang="vi"' in c.get("/tra-cuu?lang=vi").text
    # After a form (a POST), the language link leads to a page that can be fetched, in English.
    token = token_of(c, "/tra-cuu/ho-so")
    done = c.post("/tra-cuu/ho-so/thong-bao", data={"csrf_token": token, "kenh": "sms", "lam": "tat"})
    switch = re.search(r'<a href="([^"]+)" hreflang="en"', done.text)
    assert switch is not None and switch[1] == "/tra-cuu/ho-so?lang=en"
    failed = look_up(c, OTHER, "0000")
    switch = re.search(r'<a href="([^"]+)" hreflang="en"', failed.text)
    assert switch is not None and switch[1] == "/tra-cuu?lang=en"
    assert c.get(switch[1]).status_code == 200
    # A QR link opened in English keeps English on the dossier's page.
    fresh = client(svc, "198.51.100.20")
    opened_en = fresh.get(qr_path(svc) + "?lang=en")
    assert 'lang="en"' in opened_en.text and "Application" in opened_en.text


def test_parallel_guesses_from_one_client_cannot_pass_the_count(svc: Service, db_url: str) -> None:
    """Requests of one browser arrive in parallel (the chat's events come one at a time): the look-ups of
    one client and one code take turns, so a burst records `LIMIT` failures and slows the rest."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers itself; the turns are PostgreSQL advisory locks")
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from notifier.workflows.public_page import PublicPage

    page = PublicPage(svc)
    burst = 12
    start = threading.Barrier(burst)

    def guess(i: int) -> str:
        start.wait()
        return page.lookup("203.0.113.50", CODE, f"{1000 + i}").outcome

    with ThreadPoolExecutor(burst) as pool:
        outcomes = list(pool.map(guess, range(burst)))
    assert sorted(outcomes) == ["not_found"] * LIMIT + ["slowed"] * (burst - LIMIT)
    assert failures(svc) == LIMIT


def test_follow_on_zalo_gives_a_one_time_code(svc: Service, db_url: str, tmp_path: Path) -> None:
    c = opened(svc)
    assert "/tra-cuu/ho-so/zalo" not in c.get("/tra-cuu/ho-so").text  # no OA configured: no Zalo action
    settings = make_settings(
        db_url,
        tmp_path,
        public={"link_key_file": str(tmp_path / "link.key"), "zalo_url": "http://127.0.0.1:9/zalo-oa-4321"},
    )
    with_oa = Service.build(settings, svc.clock)
    try:
        z = opened(with_oa)
        token = token_of(z, "/tra-cuu/ho-so")
        page = z.post("/tra-cuu/ho-so/zalo", data={"csrf_token": token})
        assert page.status_code == 200 and 'href="http://127.0.0.1:9/zalo-oa-4321"' in page.text
        match = re.search(r"<strong>LK ([A-Z2-9]{8})</strong>", page.text)
        assert match is not None
        from notifier.store.models import DossierLinkCode
        from notifier.store.zalo import hash_code

        with with_oa.factory() as session:
            row = session.scalars(select(DossierLinkCode)).one()
            assert row.code_hash == hash_code(match[1]) and row.used_at is None
    finally:
        with_oa.engine.dispose()


SERVE = """
import sys, uvicorn
from notifier.config import load_settings
from notifier.web.api import create_app
from notifier.workflows.service import Service
uvicorn.run(create_app(Service.build(load_settings(sys.argv[1]))), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", lifespan="off")
"""


def test_throttle_holds_across_two_uvicorn_processes(svc: Service, db_url: str, tmp_path: Path) -> None:
    """Two real server processes on one database: failures through one slow the client down on both."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    config = tmp_path / "two.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[channels.file]\npath = "{tmp_path / "o.jsonl"}"\n'
        f'[public]\nlink_key_file = "{tmp_path / "link.key"}"\n[bot]\nfailed_lookup_limit = {LIMIT}\n',
        encoding="utf-8",
    )
    ports = [free_port() for _ in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    procs = [
        subprocess.Popen([sys.executable, "-c", SERVE, str(config), str(p)], env=env, start_new_session=True)
        for p in ports
    ]
    try:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
        deadline = time.monotonic() + 60
        for c in clients:
            while True:
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        tokens = [CSRF.search(c.get("/tra-cuu").text)[1] for c in clients]  # type: ignore[index]

        def post(i: int, digits: str) -> int:
            data = {"ma_ho_so": CODE, "so_cuoi": digits, "csrf_token": tokens[i]}
            return clients[i].post("/tra-cuu", data=data, follow_redirects=False).status_code

        assert [post(i % 2, f"000{i}") for i in range(LIMIT)] == [200] * LIMIT
        assert post(0, "5678") == 429 and post(1, "5678") == 429
        assert failures(svc) == LIMIT
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_parallel_look_ups_share_the_pooled_connections(svc: Service) -> None:
    """A burst of look-ups waits for the engine's pooled connections instead of opening one more per
    request (each would start a PostgreSQL process and end it after the look-up)."""
    import asyncio

    import httpx
    from sqlalchemy import event

    app = create_app(svc)
    opened: list[object] = []
    event.listen(svc.engine, "connect", lambda conn, _record: opened.append(conn))
    burst = 24
    pool_size = svc.engine.pool.size()  # type: ignore[attr-defined]

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.60", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://tracuu.example.vn") as c:
            match = CSRF.search((await c.get("/tra-cuu")).text)
            assert match is not None
            data = {"ma_ho_so": CODE, "so_cuoi": "5678", "csrf_token": match[1]}
            answers = await asyncio.gather(*(c.post("/tra-cuu", data=data) for _ in range(burst)))
            return [a.status_code for a in answers]

    statuses = asyncio.run(main())
    assert statuses == [303] * burst
    assert 1 <= len(opened) <= pool_size < burst


def test_turns_are_taken_in_one_statement(svc: Service, db_url: str) -> None:
    """Both names' locks are held after one round trip, until the transaction ends."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the turns are PostgreSQL advisory locks")
    from sqlalchemy import event, text

    from notifier.store.limits import LOOKUP_LOCK_SPACE, take_turns

    statements: list[str] = []
    event.listen(svc.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
    with svc.factory() as session, session.begin():
        session.execute(text("SELECT 1"))
        statements.clear()
        take_turns(session, LOOKUP_LOCK_SPACE, ["web:203.0.113.9", "code:X", "web:203.0.113.9"])
        assert len(statements) == 1
        assert session.scalar(text(held)) == 2
    with svc.factory() as session, session.begin():
        assert session.scalar(text(held)) == 0
