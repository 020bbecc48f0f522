"""The template editor over HTTP: preview figures, validation with nothing saved, versions, rollback, test send."""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.store.models import Agency, AuditEntry, Dossier, Notification, Template
from notifier.store.templates import TemplateCache
from tests.browser.kit import STP, Province, client_for, csrf_of, ready_province


def _token(client: TestClient) -> str:
    return csrf_of(client.get("/admin/templates/sms/received").text)


def _preview(client: TestClient, body: str, **extra: str) -> dict:
    resp = client.post(
        "/admin/templates/sms/received/preview",
        json={"body": body, "syntax": "jinja", **extra},
        headers={"X-CSRF-Token": _token(client)},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _versions(province: Province, kind: str = "received", ct: str = "sms", agency_id: int | None = None) -> list[Template]:
    with province.service.factory() as session:
        where = Template.agency_id.is_(None) if agency_id is None else Template.agency_id == agency_id
        return list(
            session.scalars(
                select(Template).where(Template.kind == kind, Template.channel_type == ct, where).order_by(Template.version)
            )
        )


def _save(client: TestClient, body: str, base_version: int, ct: str = "sms", **extra: str):  # type: ignore[no-untyped-def]
    # These texts are Jinja: the advanced mode an admin may choose (the clerks' language: tests/test_clerk_editor.py).
    data = {"csrf_token": _token(client), "body": body, "base_version": str(base_version), "syntax": "jinja", **extra}
    return client.post(f"/admin/templates/{ct}/received/save", data=data, follow_redirects=False)


def test_preview_shows_encoding_segments_cost_and_khong_dau(province: Province) -> None:
    client = client_for(province.service, "quantri")
    short = _preview(client, "Hồ sơ {{ dossier.code }} đã được tiếp nhận.")
    assert short["ok"] and short["problems"] == []
    assert short["sms"]["encoding"] == "UCS-2" and short["sms"]["segments"] == 1
    assert short["sms"]["cost_vnd"] == 800
    assert short["khong_dau_text"] == "Ho so 000.00.30.H26-261201-0012 da duoc tiep nhan."
    assert short["khong_dau"]["encoding"] == "GSM-7"

    long = _preview(client, "Hồ sơ {{ dossier.code }} của {{ recipient_name }} đã được {{ agency.name }} tiếp nhận, xin cảm ơn.")
    assert long["sms"]["segments"] == 2 and long["sms"]["cost_vnd"] == 1600
    assert long["sms"]["chars"] == len(long["text"])
    assert long["khong_dau"]["segments"] == 1

    # A real dossier of the viewer's scope, by code.
    with province.service.factory() as session:
        code = session.scalar(select(Dossier.code).where(Dossier.code.startswith(STP)).order_by(Dossier.id))
    real = _preview(client, "{{ dossier.code }} · {{ dossier.applicant_name }}", source="dossier", dossier=code)
    assert real["text"].startswith(code)
    missing = _preview(client, "{{ dossier.code }}", source="dossier", dossier="KHONG-CO")
    assert missing["problems"][0]["message"] == "không tìm thấy hồ sơ 'KHONG-CO'"


def test_price_per_segment_comes_from_config(db_url: str, tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    province = ready_province(db_url, tmp_path, clock, admin={"sms_price_vnd": 650})
    client = client_for(province.service, "quantri")
    assert _preview(client, "Hồ sơ {{ dossier.code }} đã được tiếp nhận.")["sms"]["cost_vnd"] == 650
    province.service.engine.dispose()


def test_invalid_templates_are_explained_and_nothing_is_saved(province: Province) -> None:
    client = client_for(province.service, "quantri")
    cases = [
        ("Xin chào\n{% if dossier.code %}chưa đóng", "dòng 2"),
        ("Dòng 1\nDòng 2\nHồ sơ {{ dossier.cod }} của {{ ten_cong_dan }}", "trường không có 'dossier.cod'"),
        ("{{ dossier.__class__ }}", "không an toàn 'dossier.__class__'"),
        ("{{ ''.__class__.__mro__ }}", "sandbox"),
        ("Hạn {{ dossier.due_at|date }}", "bộ lọc 'date' nhận giá trị rỗng"),
        ("{{ dossier.code|khong_co_bo_loc }}", "khong_co_bo_loc"),
    ]
    for body, expected in cases:
        resp = _save(client, body, base_version=1)
        assert resp.status_code == 422, body
        text = html.unescape(resp.text)
        assert expected in text, (body, text[text.find("preview-problems") : text.find("preview-problems") + 600])
        assert body.split("\n")[0] in text  # the officer's text is kept in the editor
    named = _save(client, "Dòng 1\nDòng 2\nHồ sơ {{ dossier.cod }} của {{ ten_cong_dan }}", base_version=1)
    assert "Nội dung, dòng 3: trường không có 'dossier.cod'; có phải ý bạn là 'dossier.code'?" in html.unescape(named.text)
    assert "ten_cong_dan" in named.text
    assert [t.version for t in _versions(province)] == [1]
    with province.service.factory() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "template.save")) is None


def test_save_makes_a_version_with_author_and_rollback_makes_another(province: Province) -> None:
    client = client_for(province.service, "quantri")
    original = _versions(province)[0]
    new_body = "Hồ sơ {{ dossier.code }} đã được tiếp nhận. Cảm ơn Ông/Bà."
    resp = _save(client, new_body, base_version=1)
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/templates/sms/received"
    assert "Đã lưu phiên bản 2" in client.get(resp.headers["location"]).text
    v = _versions(province)
    assert [(t.version, t.author, t.body) for t in v[1:]] == [(2, "quantri", new_body)]
    assert v[1].created_at == province.service.clock.now()

    # Saving again from the stale version 1 is a conflict, not a silent overwrite.
    stale = _save(client, "Hồ sơ {{ dossier.code }}: bản của người khác.", base_version=1)
    assert stale.status_code == 422 and "quantri đã lưu phiên bản 2" in stale.text
    assert len(_versions(province)) == 2

    history = client.get("/admin/templates/sms/received/history")
    assert 'data-rollback="1"' in history.text and 'data-rollback="2"' not in history.text
    diff = client.get("/admin/templates/sms/received/diff?v=2")
    assert '<span class="d-add">+Hồ sơ {{ dossier.code }} đã được tiếp nhận. Cảm ơn Ông/Bà.</span>' in diff.text

    back = client.post(
        "/admin/templates/sms/received/rollback",
        data={"csrf_token": csrf_of(history.text), "version": "1", "agency": ""},
        follow_redirects=False,
    )
    assert back.status_code == 303
    v = _versions(province)
    assert [t.version for t in v] == [1, 2, 3] and v[2].body == original.body and v[2].author == "quantri"
    with province.service.factory() as session:
        actions = [(a.action, a.target, json.loads(a.detail or "{}")) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert ("template.save", "received/sms/province", {"version": 2, "syntax": "jinja"}) in actions
        assert ("template.rollback", "received/sms/province", {"from_version": 1, "version": 3}) in actions
        # The dispatcher now renders version 3.
        assert TemplateCache(session).get("received", "sms", None).version == 3


def test_email_templates_need_a_subject(province: Province) -> None:
    client = client_for(province.service, "quantri")
    base = _versions(province, ct="email")[-1].version
    no_subject = _save(client, "Kính gửi {{ recipient_name }}", base, ct="email", subject="")
    assert no_subject.status_code == 422 and "thư điện tử cần có tiêu đề" in no_subject.text
    bad_subject = _save(client, "Kính gửi {{ recipient_name }}", base, ct="email", subject="Hồ sơ {{ dossier.ma }}")
    assert bad_subject.status_code == 422 and "Tiêu đề, dòng 1" in bad_subject.text
    ok = _save(client, "Kính gửi {{ recipient_name }}", base, ct="email", subject="Hồ sơ {{ dossier.code }}")
    assert ok.status_code == 303
    assert _versions(province, ct="email")[-1].subject == "Hồ sơ {{ dossier.code }}"


def test_an_agency_override_wins_for_that_agency_only(province: Province) -> None:
    client = client_for(province.service, "stp")
    editor = client.get("/admin/templates/sms/received")  # an agency user edits its own override
    assert "Đơn vị chưa có mẫu riêng" in editor.text and 'name="agency" value="000.00.30.H26"' in editor.text
    # An agency clerk writes in the clerks' language (switching to Jinja is for admins: test_clerk_editor.py).
    resp = _save(client, "STP: hồ sơ ((ma_ho_so)) đã được tiếp nhận.", base_version=0, agency=STP, syntax="simple")
    assert resp.status_code == 303
    with province.service.factory() as session:
        stp = session.scalar(select(Agency.id).where(Agency.code == STP))
        other = session.scalar(select(Agency.id).where(Agency.code != STP))
        cache = TemplateCache(session)
        assert cache.get("received", "sms", stp).body.startswith("STP:")
        assert not cache.get("received", "sms", other).body.startswith("STP:")
    assert [t.author for t in _versions(province, agency_id=stp)] == ["stp"]
    listing = client_for(province.service, "quantri").get("/admin/templates")
    assert "1 đơn vị có mẫu riêng" in listing.text


async def test_send_a_test_goes_through_the_outbox_to_the_admins_phone(province: Province) -> None:
    client = client_for(province.service, "quantri")
    # The text on the screen is sent, saved or not (here: never saved), and stays on the screen.
    body = "THU NGHIEM {{ dossier.code }} {{ recipient_name }}"
    resp = client.post(
        "/admin/templates/sms/received/test",
        data={"csrf_token": _token(client), "agency": "", "body": body, "syntax": "jinja"},
        follow_redirects=False,
    )
    assert resp.status_code == 200
    assert "Đã xếp tin thử" in resp.text and html.escape(body) in resp.text
    assert [t.version for t in _versions(province)] == [1]
    with province.service.factory() as session:
        n = session.scalar(select(Notification).where(Notification.dedupe_key.startswith("test:quantri:")))
        assert n is not None and n.dossier_id is None and n.status == "queued" and n.is_test
    before = len(province.sms.received)
    await province.service.dispatcher.drain()
    sent = province.sms.received[before:]
    assert [(m.address, m.text) for m in sent] == [("+84912000999", "THU NGHIEM 000.00.30.H26-261201-0012 Nguyễn Thị Hương")]

    # An account without any address is told so, and nothing is queued.
    skh = client_for(province.service, "skh")
    refused = skh.post(
        "/admin/templates/sms/received/test",
        data={"csrf_token": _token(skh), "agency": "", "body": "((ma_ho_so))"},
        follow_redirects=True,
    )
    assert "chưa có số điện thoại" in refused.text
    with province.service.factory() as session:
        assert session.scalar(select(Notification).where(Notification.dedupe_key.startswith("test:skh:"))) is None
