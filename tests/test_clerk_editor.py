"""The editor with the clerks' language over HTTP: saving, refusals that keep the text, the advanced mode,
and a test send of unsaved text that counts in no export, report or dashboard."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.rules import payloads  # not its Test* names: pytest would collect them as test classes
from notifier.rules.clerk import fields_for
from notifier.rules.kinds import Kind
from notifier.store.models import Notification, Template
from notifier.web.admin.auth import Viewer
from notifier.web.admin.dashboard import figures
from notifier.workflows.costs import cost_summary
from tests.browser.kit import STP, Province, client_for, csrf_of
from tests.conftest import migrated_service

URL = "/admin/templates/sms/received"


def _post(client: TestClient, action: str, body: str, **extra: str):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get(URL).text)
    data = {"csrf_token": token, "body": body, "base_version": "1", "agency": "", **extra}
    return client.post(f"{URL}/{action}", data=data, follow_redirects=False)


def _newest(province: Province) -> Template:
    with province.service.factory() as session:
        rows = session.scalars(
            select(Template)
            .where(Template.kind == "received", Template.channel_type == "sms", Template.agency_id.is_(None))
            .order_by(Template.version.desc())
        ).all()
        return rows[0]


def test_the_editor_opens_a_shipped_template_in_the_simple_language_with_its_fields(
    province: Province,
) -> None:
    page = html.unescape(client_for(province.service, "quantri").get(URL).text)
    assert "((co_quan_ngan)): Hồ sơ ((ma_ho_so))" in page  # the shipped text, as the clerk reads it
    assert "Mẫu đơn giản" in page and 'id="gutter"' in page
    for name, field in fields_for("received").items():
        assert f'data-field="{name}"' in page and field.description in page
    assert 'data-field="ly_do_tre"' not in page  # not a field of this kind


def test_a_clerks_text_is_saved_as_simple_and_sent_as_written(province: Province) -> None:
    client = client_for(province.service, "quantri")
    body = "((co_quan_ngan)): đã nhận hồ sơ ((ma_ho_so))((ngay_hen_tra??, hẹn ((ngay_hen_tra)))). Cảm ơn ((xung_ho))."
    saved = _post(client, "save", body, syntax="simple")
    assert saved.status_code == 303, html.unescape(saved.text)[:2000]
    row = _newest(province)
    assert (row.version, row.syntax, row.body) == (2, "simple", body)
    history = client.get(f"{URL}/history").text
    assert "Phiên bản 2" in history or "phiên bản 2" in history


def test_a_refused_save_says_chua_luu_keeps_the_text_and_names_the_line(province: Province) -> None:
    client = client_for(province.service, "quantri")
    body = "Dòng một\nDòng hai ((ma_ho_s))\nDòng ba"
    resp = _post(client, "save", body, syntax="simple")
    assert resp.status_code == 422
    page = html.unescape(resp.text)
    assert "Chưa lưu." in page
    assert "Nội dung, dòng 2: không có trường ((ma_ho_s)); có phải ý bạn là ((ma_ho_so))?" in page
    assert f">{body}</textarea>" in page  # the typed text, not the stored one
    assert '<span class="err">2</span>' in page  # the gutter marks the line without JavaScript
    assert _newest(province).version == 1


def test_an_agency_clerk_cannot_switch_a_template_to_advanced(province: Province) -> None:
    clerk = client_for(province.service, "stp")
    page = clerk.get(URL).text
    assert 'name="syntax" id="syntax" value="simple"' in page and '<select name="syntax"' not in page
    token = csrf_of(page)
    resp = clerk.post(
        f"{URL}/save",
        data={"csrf_token": token, "body": "{{ dossier.code }}", "base_version": "0", "syntax": "jinja"},
        follow_redirects=False,
    )
    assert resp.status_code == 422
    assert "chỉ quản trị viên mới chuyển được mẫu sang chế độ nâng cao" in html.unescape(resp.text)
    with province.service.factory() as session:
        assert session.scalar(select(Template).where(Template.agency_id.is_not(None))) is None
    # An admin may: the version is stored as advanced and marked so.
    admin = client_for(province.service, "quantri")
    assert _post(admin, "save", "Hồ sơ {{ dossier.code }}.", syntax="jinja").status_code == 303
    assert _newest(province).syntax == "jinja"
    assert "Chế độ nâng cao (Jinja)" in admin.get(URL).text


async def test_a_test_send_of_unsaved_text_is_delivered_and_counted_nowhere(province: Province) -> None:
    service = province.service
    client = client_for(service, "quantri")
    viewer = Viewer(1, "quantri", "admin", None, None, None, None, None, None)
    with service.factory() as session:
        before = figures(session, viewer, service.clock.now())
    day = service.clock.now().strftime("%d/%m/%Y")
    costs_before = cost_summary(service, day, day)
    export_before = client.get("/admin/log.csv").text

    body = "THỬ ((co_quan_ngan)) ((ma_ho_so))((ly_do_tre??không có))"
    refused = _post(client, "test", body.replace("((ly_do_tre??không có))", "((ly_do_tre))"), syntax="simple")
    assert refused.status_code == 422 and "Chưa gửi thử." in html.unescape(refused.text)

    sent_page = _post(client, "test", "THỬ ((co_quan_ngan)) ((ma_ho_so))", syntax="simple")
    assert sent_page.status_code == 200
    assert "Đã xếp tin thử" in sent_page.text and "THỬ ((co_quan_ngan)) ((ma_ho_so))" in html.unescape(
        sent_page.text
    )
    assert _newest(province).version == 1  # nothing saved
    with service.factory() as session:
        n = session.scalar(select(Notification).where(Notification.is_test))
        assert n is not None and n.dossier_id is None
    received = len(province.sms.received)
    await service.dispatcher.drain()
    [message] = province.sms.received[received:]
    assert message.address == "+84912000999"
    assert message.text.startswith("THỬ So ") or message.text.startswith("THỬ Sở ")
    with service.factory() as session:
        row = session.get(Notification, n.id)
        assert row is not None and row.status == "sent" and row.body == message.text

    with service.factory() as session:
        after = figures(session, viewer, service.clock.now())
    assert (after.sent_today, after.today) == (before.sent_today, before.today)
    assert cost_summary(service, day, day) == costs_before
    export = client.get("/admin/log.csv").text
    assert export == export_before and message.text not in export
    # The log itself still lists it, so the admin sees the test arrive.
    assert f"/admin/log/{n.id}" in client.get("/admin/log").text


def test_a_clerk_cannot_roll_back_to_an_advanced_version_of_a_simple_template(province: Province) -> None:
    admin = client_for(province.service, "quantri")
    url = f"{URL}?agency={STP}"
    token = csrf_of(admin.get(url).text)
    data = {
        "csrf_token": token,
        "agency": STP,
        "base_version": "0",
        "syntax": "jinja",
        "body": "{{ dossier.code }}",
    }
    assert admin.post(f"{URL}/save", data=data, follow_redirects=False).status_code == 303
    clerk = client_for(province.service, "stp")
    token = csrf_of(clerk.get(URL).text)
    data = {"csrf_token": token, "base_version": "1", "syntax": "simple", "body": "Hồ sơ ((ma_ho_so))."}
    assert clerk.post(f"{URL}/save", data=data, follow_redirects=False).status_code == 303
    back = clerk.post(f"{URL}/rollback", data={"csrf_token": token, "version": "1"}, follow_redirects=True)
    assert "chỉ quản trị viên mới chuyển được mẫu sang chế độ này" in html.unescape(back.text)
    with province.service.factory() as session:
        rows = session.scalars(
            select(Template).where(Template.agency_id.is_not(None)).order_by(Template.version)
        )
        assert [(t.version, t.syntax) for t in rows] == [(1, "jinja"), (2, "simple")]


async def test_a_test_send_goes_first_through_a_channel_of_its_texts_type(
    db_url: str, tmp_path: Path, clock
) -> None:  # type: ignore[no-untyped-def]
    # Citizens are routed SMS first, chat second; the test carries a chat text, so the chat channel takes it.
    channels = {
        "file_sms": {"plugin": "file", "path": str(tmp_path / "sms.jsonl")},
        "file_chat": {"plugin": "file", "path": str(tmp_path / "chat.jsonl"), "template": "chat"},
    }
    service = migrated_service(
        db_url, tmp_path, clock, channels=channels, routing={"citizen": ["file_sms", "file_chat"]}
    )
    try:
        now = service.clock.now()
        payload = payloads.TestPayload(
            test=payloads.TestTarget(by="quantri", phone="+84912000999"),
            text=payloads.TestText(
                channel_type="chat", body="Thử chat ((ma_ho_so)) ((xung_ho))", syntax="simple"
            ),
        )
        with service.factory() as session, session.begin():
            new_id = enqueue(
                session, NewNotification("test:quantri:1", Kind.RECEIVED, payload=payload, is_test=True), now
            )
        await service.dispatcher.drain()
        with service.factory() as session:
            row = session.get(Notification, new_id)
            assert row is not None and row.status == "sent" and row.channel == "file_chat"
            assert re.fullmatch(r"Thử chat \S+ Ông/Bà", row.body or ""), row.body
        assert not (tmp_path / "sms.jsonl").exists()
    finally:
        service.engine.dispose()
