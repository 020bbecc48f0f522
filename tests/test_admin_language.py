"""The admin page speaks only Vietnamese: a walk over every page an admin and an agency officer can reach
(the navigation, every link of the list pages, detail pages of each kind, the error pages) fails on any
visible text matching a known English leak: a kind's key, Jinja's or Starlette's messages, English column
headers, English button words."""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.rules.kinds import REGISTRY
from notifier.store.models import Notification, Template, User
from notifier.store.templates import NewVersion, store_version
from tests.browser.kit import Province, client_for, csrf_of, ready_province

# Whole words, as they would show on the page.
LEAKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    *((f"kind key {k}", re.compile(rf"\b{re.escape(str(k))}\b")) for k in REGISTRY if "_" in str(k)),
    ("Jinja", re.compile(r"\bunexpected\b|\bundefined\b|\bis not defined\b|expected token|TemplateSyntaxError", re.I)),
    ("Python", re.compile(r"Traceback|\bNone\b|\bTrue\b|\bFalse\b|Exception")),
    ("Starlette", re.compile(r"Not Found|Method Not Allowed|Internal Server Error|Unprocessable|Forbidden", re.I)),
    (
        "column",
        re.compile(
            r"\b(created_at|updated_at|sent_at|dossier_code|status|channel|recipient|attempts|audience|kind|"
            r"segments|username|password)\b"
        ),
    ),
    ("word", re.compile(r"\b(Save|Delete|Cancel|Submit|Error|Edit|Search|Login|Log in|Logout|Password|Status)\b")),
    ("phrase", re.compile(r"not found|field required|invalid value|is required", re.I)),
)

# At most this many pages of one shape (/admin/log/N, an editor of a kind): each shape renders the same.
PER_SHAPE = 3


class Visible(HTMLParser):
    """The text a person sees: text nodes (not scripts, styles or an editor's own template text) and the
    attributes a browser shows (placeholders, titles, alternative texts, button values)."""

    SHOWN = ("placeholder", "title", "alt", "aria-label")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._hidden += 1
        values = dict(attrs)
        self.parts += [v for k, v in attrs if k in self.SHOWN and v]
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> tuple[str, list[str]]:
    parser = Visible()
    parser.feed(html)
    return unescape(" ".join(parser.parts)), parser.links


def leaks(text: str) -> list[str]:
    found = []
    for name, pattern in LEAKS:
        for m in pattern.finditer(text):
            start = max(0, m.start() - 40)
            found.append(f"{name}: {m.group(0)!r} in …{text[start : m.end() + 40]!r}…")
    return found


def shape(path: str) -> str:
    path = re.sub(r"^/admin/templates/[^/]+/[^/]+", "/admin/templates/T/K", path)
    return re.sub(r"\d+", "N", path)


def walk(client: TestClient, start: str = "/admin/") -> dict[str, list[str]]:
    """Every page reachable from `start` through links under /admin (downloads and static files aside):
    {url: leaks}, at most PER_SHAPE pages of each shape."""
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    queue = deque([start])
    result: dict[str, list[str]] = {}
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        key = shape(parts.path)
        if shapes.get(key, 0) >= PER_SHAPE:
            continue
        shapes[key] = shapes.get(key, 0) + 1
        resp = client.get(url, follow_redirects=False)
        assert resp.status_code == 200, (url, resp.status_code)
        text, links = visible(resp.text)
        result[url] = leaks(text)
        for href in links:
            target = urlsplit(href)
            if target.netloc or not target.path.startswith("/admin"):
                continue
            if target.path.startswith("/admin/static/") or target.path.endswith(".csv"):
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return result


@pytest.fixture
def province(db_url: str, tmp_path: Path, clock) -> Province:  # type: ignore[no-untyped-def]
    p = ready_province(db_url, tmp_path, clock)
    # A second version of one template, so the history has a diff to link to.
    with p.service.factory() as session, session.begin():
        first = session.scalar(
            select(Template).where(Template.kind == "received", Template.channel_type == "sms", Template.agency_id.is_(None))
        )
        assert first is not None
        store_version(session, NewVersion("received", "sms", None, None, first.body), "quantri", clock.now())
    yield p
    p.service.engine.dispose()


def _editor_pages(result: dict[str, list[str]]) -> bool:
    return any(u.startswith("/admin/templates/") for u in result)


def test_the_leak_patterns_catch_what_they_should() -> None:
    for english in (
        "Loại tin: step_overdue",
        "'dossier' is undefined",
        "unexpected '}'",
        "created_at",
        "Trạng thái: status",
        "Save",
        "Not Found",
        "Method Not Allowed",
        "None",
    ):
        assert leaks(english), english
    assert not leaks("Bước liên thông quá hạn (cán bộ) · Đã gửi · Lưu · Xóa · Không tìm thấy · SMS · Zalo OA")
    text, links = visible('<p title="Save">Xin <b>chào</b></p><textarea>{{ status }}</textarea><a href="/admin/x">x</a>')
    assert "Save" in text and "chào" in text and "status" not in text and links == ["/admin/x"]


def test_every_admin_page_speaks_vietnamese(province: Province) -> None:
    admin = client_for(province.service, "quantri")
    pages = walk(admin)
    # The walk reached the navigation, the lists and a detail page of each kind.
    for must in ("/admin/", "/admin/log", "/admin/templates", "/admin/users", "/admin/contacts", "/admin/privacy",
                 "/admin/apikeys", "/admin/account"):  # fmt: skip
        assert must in pages, must
    assert any(re.fullmatch(r"/admin/log/\d+", u) for u in pages)
    assert any(u.endswith("/history") for u in pages) and any("/diff?" in u for u in pages)
    assert _editor_pages(pages)
    agency = client_for(province.service, "stp")
    pages.update({f"[stp] {u}": found for u, found in walk(agency).items()})

    # Error pages and refusals, as each would be met.
    with province.service.factory() as session:
        failed = session.scalar(select(Notification.id).where(Notification.status == "failed"))
        stp = session.scalar(select(User.id).where(User.username == "stp"))
    token = csrf_of(admin.get("/admin/").text)
    stranger = client_for(province.service)
    login_token = csrf_of(stranger.get("/admin/login").text)
    errors = {
        "unknown page": admin.get("/admin/khong-co-trang-nay"),
        "unknown notification": admin.get("/admin/log/99999999"),
        "letters for a number": admin.get("/admin/log/abc"),
        "wrong method": admin.get("/admin/logout"),
        "agency on an admin page": agency.get("/admin/users"),
        "no CSRF token": admin.post("/admin/users", data={"username": "x"}),
        "bad filter": admin.get("/admin/log", params={"phone": "abc", "date_from": "31/02/2026"}),
        "bad account": admin.post("/admin/users", data={"csrf_token": token, "username": "A B", "role": "admin", "password": "x"}),
        "short password": admin.post("/admin/users", data={"csrf_token": token, "username": "ab", "role": "admin", "password": "ngan"}),
        "wrong current password": admin.post(
            "/admin/account/password", data={"csrf_token": token, "current": "sai", "new": "x" * 12, "confirm": "x" * 12}
        ),
        "reset too short": admin.post(f"/admin/users/{stp}/password", data={"csrf_token": token, "password": "ngan"}),
        "retry of a sent row": admin.post(
            f"/admin/log/{failed}/retry", data={"csrf_token": token}, follow_redirects=True
        ),
        "retry again": admin.post(f"/admin/log/{failed}/retry", data={"csrf_token": token}, follow_redirects=True),
        "wrong login": stranger.post(
            "/admin/login", data={"csrf_token": login_token, "username": "quantri", "password": "sai-mat-khau", "next": ""}
        ),
        "login page": stranger.get("/admin/login"),
        "unknown template kind": admin.get("/admin/templates/sms/khong_co"),
    }
    for name, resp in errors.items():
        assert resp.status_code in (200, 401, 403, 404, 405, 422), (name, resp.status_code)
        assert resp.headers["content-type"].startswith("text/html"), (name, resp.text[:200])
        pages[f"error: {name}"] = leaks(visible(resp.text)[0])

    editor = {u: found for u, found in pages.items() if "/templates/" in u and found}
    ours = {u: found for u, found in pages.items() if u not in editor and found}
    assert not ours, "\n".join(f"{u}: {f}" for u, found in ours.items() for f in found[:5])
    # The editor's pages are another engineer's (i15a): their leaks are reported here, and fail too.
    assert not editor, "\n".join(f"{u}: {f}" for u, found in editor.items() for f in found[:5])


def test_delivery_errors_are_said_in_vietnamese_and_the_providers_words_kept() -> None:
    from notifier.web.admin.labels import error_text

    said = {
        "no usable channel: scripted_sms: no address for citizen; file: disabled": (
            "Không có kênh gửi được: scripted_sms: không có địa chỉ nhận của công dân; file: kênh đang tắt"
        ),
        "no usable channel: route is empty": "Không có kênh gửi được: chưa cấu hình kênh gửi cho người nhận này",
        "gave up after 5 attempts: sms_esms: 429 too many": "Đã dừng sau 5 lần gửi: sms_esms: 429 too many",
        "reclaimed after the lease of a stopped worker expired": (
            "Tiến trình gửi bị dừng giữa chừng; tin đã được đưa lại vào hàng đợi"
        ),
        "gave up: the worker holding this row stopped 5 times (last error: none)": (
            "Đã dừng: tiến trình gửi bị dừng giữa chừng 5 lần (lỗi cuối: không có)"
        ),
        "zalo_zns: no template data for step_overdue": (
            "zalo_zns: chưa có mẫu của kênh cho loại tin “Bước liên thông quá hạn (cán bộ)”"
        ),
        "21211 invalid 'To' phone number": "21211 invalid 'To' phone number",  # the provider's own words
    }
    for raw, vietnamese in said.items():
        assert error_text(raw) == vietnamese
        assert not leaks(error_text(raw)), raw
    assert error_text(None) == ""
