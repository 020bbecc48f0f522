"""Delivery log, retry, CSV, opt-outs, dashboard and agency scoping over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from notifier.rules.kinds import REGISTRY
from notifier.store.contacts import opted_out_addresses
from notifier.store.models import AuditEntry, Contact, DeliveryAttempt, Dossier, Notification
from tests.browser.kit import REFUSED, SKH, STP, Province, client_for, csrf_of

KIND_LABELS = {str(k): i.label for k, i in REGISTRY.items()}


def _ids(html: str) -> list[int]:
    import re

    return [int(m) for m in re.findall(r'<td><a href="/admin/log/(\d+)">', html)]


def _total(html: str) -> int:
    import re

    found = re.search(r'id="log-total">([\d.]+) thông báo<', html)
    assert found, "no total"
    return int(found.group(1).replace(".", ""))


def _failed(province: Province, agency: str) -> Notification:
    with province.service.factory() as session:
        n = session.scalar(
            select(Notification).join(Dossier).where(Notification.status == "failed", Dossier.code.startswith(agency))
        )
        assert n is not None
        return n


def test_search_by_code_phone_kind_channel_status_and_date(province: Province) -> None:
    client = client_for(province.service, "quantri")
    with province.service.factory() as session:
        all_ids = set(session.scalars(select(Notification.id)))
        failed = set(session.scalars(select(Notification.id).where(Notification.status == "failed")))
        refused_dossiers = set(session.scalars(select(Dossier.id).where(Dossier.phone == REFUSED)))
        some = session.scalar(select(Notification).where(Notification.dossier_id.is_not(None)).order_by(Notification.id))
        assert some is not None
        code = session.scalar(select(Dossier.code).where(Dossier.id == some.dossier_id))
        assert code is not None
        # Part of a code: every row of every dossier whose code holds it.
        part = code[-4:-1]  # "001" of "…-0011": the day's numbers 0010 to 0019, of every agency
        agency_part = code.split("-", 1)[0][-6:]  # "30.H26": every dossier of that agency
        by_code = set(
            session.scalars(select(Notification.id).join(Dossier).where(Dossier.code.contains(code)))
        )
        by_part = set(session.scalars(select(Notification.id).join(Dossier).where(Dossier.code.contains(part))))
        by_agency = set(
            session.scalars(select(Notification.id).join(Dossier).where(Dossier.code.contains(agency_part)))
        )
        by_phone = set(session.scalars(select(Notification.id).where(Notification.dossier_id.in_(refused_dossiers))))
    first = client.get("/admin/log").text
    assert _total(first) == len(all_ids) > 50
    assert _ids(first) == sorted(all_ids, reverse=True)[:50]  # newest first, 50 a page
    second = client.get("/admin/log", params={"page": 2}).text
    assert _ids(second) == sorted(all_ids, reverse=True)[50:100]
    assert set(_ids(client.get("/admin/log", params={"code": code}).text)) == by_code
    assert by_code < by_part < all_ids  # the part is shared by other dossiers' codes, not by every one
    assert set(_ids(client.get("/admin/log", params={"code": part}).text)) == by_part
    assert by_code < by_agency < all_ids and len(by_agency) <= 50  # on one page
    assert set(_ids(client.get("/admin/log", params={"code": agency_part.lower()}).text)) == by_agency
    assert _ids(client.get("/admin/log", params={"code": "%"}).text) == []  # a LIKE wildcard is a letter
    page = client.get("/admin/log", params={"phone": "0983.000.222"})
    assert set(_ids(page.text)) == by_phone and by_phone
    assert "098****222" in page.text and "0983000222" not in page.text and REFUSED not in page.text
    assert set(_ids(client.get("/admin/log", params={"status": "failed"}).text)) == failed
    # A failed row has no channel of its own; its attempts tell which one refused it.
    assert set(_ids(client.get("/admin/log", params={"channel": "scripted_sms", "status": "failed"}).text)) == failed
    assert _ids(client.get("/admin/log", params={"kind": "escalation", "code": code}).text) == []
    assert _total(client.get("/admin/log", params={"date_from": "01/12/2026", "date_to": "1/12/2026"}).text) == len(all_ids)
    assert _ids(client.get("/admin/log", params={"date_from": "02/12/2026"}).text) == []
    assert _ids(client.get("/admin/log", params={"date_to": "2026-11-30"}).text) == []
    bad = client.get("/admin/log", params={"phone": "12ab", "date_to": "31/02/2026"})
    assert "Số điện thoại &#39;12ab&#39; không hợp lệ." in bad.text and "Đến ngày: giá trị &#39;31/02/2026&#39;" in bad.text


def test_detail_shows_attempts_and_retry_requeues_a_failed_one(province: Province) -> None:
    client = client_for(province.service, "quantri")
    n = _failed(province, STP)
    detail = client.get(f"/admin/log/{n.id}")
    assert "Lỗi vĩnh viễn" in detail.text and "21211" in detail.text and 'id="retry"' in detail.text
    # A failed row has no channel or address of its own: the last attempt's are shown, masked.
    assert n.channel is None and n.recipient is None
    assert '<dd id="channel">scripted_sms</dd>' in detail.text
    assert '<dd id="recipient">098****222</dd>' in detail.text and REFUSED not in detail.text
    token = csrf_of(detail.text)
    resp = client.post(f"/admin/log/{n.id}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    with province.service.factory() as session:
        row = session.get(Notification, n.id)
        assert row is not None and (row.status, row.attempts, row.error) == ("queued", 0, None)
        assert row.not_before == province.service.clock.now()
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "notification.retry"))
        assert entry is not None and entry.actor == "quantri" and entry.target == f"notification:{n.id}"
        assert json.loads(entry.detail or "{}")["attempts"] == 1
    history = client.get(f"/admin/log/{n.id}").text
    assert "quantri · Gửi lại" in history and "notification.retry" not in history
    # Without the form's token nothing moves (CSRF).
    with province.service.factory() as session, session.begin():
        session.get(Notification, n.id).status = "failed"  # type: ignore[union-attr]
    forged = client.post(f"/admin/log/{n.id}/retry", data={"csrf_token": "x" * 64})
    assert forged.status_code == 403
    with province.service.factory() as session:
        assert session.get(Notification, n.id).status == "failed"  # type: ignore[union-attr]
        session_rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "notification.retry"))
        assert len(list(session_rows)) == 1
    client.post(f"/admin/log/{n.id}/retry", data={"csrf_token": token})
    # Only failed rows: a second click, or a sent row, changes nothing.
    again = client.post(f"/admin/log/{n.id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "không ở trạng thái thất bại" in again.text
    with province.service.factory() as session:
        sent = session.scalar(select(Notification).where(Notification.status == "sent"))
        assert sent is not None
    client.post(f"/admin/log/{sent.id}/retry", data={"csrf_token": token})
    with province.service.factory() as session:
        assert session.get(Notification, sent.id).status == "sent"  # type: ignore[union-attr]
        assert session.scalar(select(DeliveryAttempt.number).where(DeliveryAttempt.notification_id == n.id)) == 1


def test_csv_export_follows_the_filter_and_masks_phones(province: Province) -> None:
    client = client_for(province.service, "quantri")
    resp = client.get("/admin/log.csv", params={"status": "failed"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
    # For people: Vietnamese headers, kinds and statuses by name.
    assert rows[0] == [
        "Số", "Tạo lúc", "Mã hồ sơ", "Loại tin", "Người nhận", "Kênh", "Địa chỉ nhận", "Trạng thái",
        "Số lần gửi", "Số tin SMS", "Đã gửi lúc", "Lỗi",
    ]  # fmt: skip
    with province.service.factory() as session:
        failed = list(session.scalars(select(Notification).where(Notification.status == "failed")))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(n.id for n in failed)
    assert {r[7] for r in rows[1:]} == {"Thất bại"} and {r[5] for r in rows[1:]} == {"scripted_sms"}
    assert {r[3] for r in rows[1:]} <= set(KIND_LABELS.values()) and {r[4] for r in rows[1:]} == {"Công dân"}
    # For scripts: `?headers=keys` keeps the keys and the codes.
    keyed = client.get("/admin/log.csv", params={"status": "failed", "headers": "keys"})
    krows = list(csv.reader(io.StringIO(keyed.text.lstrip("\ufeff"))))
    assert krows[0][:5] == ["id", "created_at", "dossier_code", "kind", "audience"] and krows[0][7] == "status"
    assert [r[0] for r in krows[1:]] == [r[0] for r in rows[1:]]
    assert {r[7] for r in krows[1:]} == {"failed"} and {r[4] for r in krows[1:]} == {"citizen"}
    assert {r[3] for r in krows[1:]} <= set(KIND_LABELS) and REFUSED not in keyed.text
    assert REFUSED not in resp.text and "0983000222" not in resp.text
    assert client.get("/admin/log.csv", params={"phone": "abc"}).status_code == 422


def _code(province: Province, n: Notification) -> str:
    with province.service.factory() as session:
        return session.scalar(select(Dossier.code).where(Dossier.id == n.dossier_id)) or ""


def _officer_rows(province: Province, agency: str) -> list[int]:
    from notifier.store.models import Agency, Officer

    with province.service.factory() as session:
        return list(
            session.scalars(
                select(Notification.id)
                .join(Officer, Officer.id == Notification.officer_id)
                .join(Agency, Agency.id == Officer.agency_id)
                .where(Notification.dossier_id.is_(None), Agency.code == agency)
            )
        )


def test_an_agency_user_sees_and_touches_only_its_own_agency(province: Province) -> None:
    stp = client_for(province.service, "stp")
    mine, theirs = _failed(province, STP), _failed(province, SKH)
    with province.service.factory() as session:
        own_ids = set(
            session.scalars(
                select(Notification.id).join(Dossier).where(Dossier.code.startswith(STP))
            )
        )
    page = stp.get("/admin/log").text
    listed = set(_ids(page))
    assert listed and listed <= own_ids | set(_officer_rows(province, STP)) and theirs.id not in listed
    assert _total(page) == len(own_ids) + len(_officer_rows(province, STP))
    assert stp.get(f"/admin/log/{mine.id}").status_code == 200
    assert stp.get(f"/admin/log/{theirs.id}").status_code == 404
    token = csrf_of(stp.get("/admin/").text)
    assert stp.post(f"/admin/log/{theirs.id}/retry", data={"csrf_token": token}).status_code == 404
    with province.service.factory() as session:
        assert session.get(Notification, theirs.id).status == "failed"  # type: ignore[union-attr]
    export = stp.get("/admin/log.csv").text
    assert STP in export and SKH not in export
    assert stp.get(f"/admin/templates/sms/received?agency={SKH}").status_code == 404
    assert stp.get("/admin/templates?agency=" + SKH).status_code == 404
    preview = stp.post(
        "/admin/templates/sms/received/preview",
        json={"body": "{{ dossier.code }}", "source": "dossier", "dossier": _code(province, theirs)},
        headers={"X-CSRF-Token": token},
    )
    assert preview.json()["problems"][0]["message"].startswith("không tìm thấy hồ sơ")
    for path in ("/admin/contacts", "/admin/users"):
        assert stp.get(path).status_code == 403
    assert stp.post("/admin/contacts", data={"csrf_token": token, "address": "0912345678", "medium": "sms",
                                            "action": "opt_out", "reason": "x"}).status_code == 403
    dash = stp.get("/admin/")
    assert "Sở Tư pháp" in dash.text and "Kế hoạch" not in dash.text and "Lê Chân" not in dash.text


def test_opt_out_needs_a_reason_is_audited_and_stops_sends(province: Province) -> None:
    client = client_for(province.service, "quantri")
    token = csrf_of(client.get("/admin/contacts").text)
    form = {"csrf_token": token, "address": "0912 000 111", "medium": "sms", "action": "opt_out"}
    missing = client.post("/admin/contacts", data={**form, "reason": "  "})
    assert missing.status_code == 422 and "Lý do: bắt buộc" in missing.text
    bad = client.post("/admin/contacts", data={**form, "address": "09", "reason": "gọi điện"})
    assert bad.status_code == 422 and "không hợp lệ" in bad.text
    with province.service.factory() as session:
        assert session.scalar(select(Contact)) is None

    ok = client.post("/admin/contacts", data={**form, "reason": "Công dân gọi tổng đài 1022 đề nghị dừng"}, follow_redirects=True)
    assert "Đã ghi nhận từ chối nhận tin qua SMS" in ok.text and "091****111" in ok.text
    with province.service.factory() as session:
        contact = session.scalar(select(Contact))
        assert contact is not None and contact.address == "+84912000111" and contact.opted_out_at is not None
        assert contact.source == "admin:quantri" and contact.reason == "Công dân gọi tổng đài 1022 đề nghị dừng"
        assert opted_out_addresses(session, [("+84912000111", "sms")]) == {("+84912000111", "sms")}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.opt_out"))
        assert entry is not None and entry.target == "contact:sms:+84912000111"

    back = client.post("/admin/contacts", data={**form, "action": "opt_in", "reason": "Đăng ký lại tại quầy"})
    assert back.status_code == 200
    with province.service.factory() as session:
        contact = session.scalar(select(Contact))
        assert contact is not None and contact.opted_out_at is None and contact.consent_at is not None
    listing = client.get("/admin/contacts", params={"q": "0912000111", "state": "in"})
    assert "Đăng ký lại tại quầy" in listing.text


def test_dashboard_counts(province: Province) -> None:
    client = client_for(province.service, "quantri")
    with province.service.factory() as session:
        sent = session.scalar(select(Notification.id).where(Notification.status == "sent").limit(1))
        statuses = list(session.scalars(select(Notification.status)))
    assert sent is not None
    page = client.get("/admin/").text
    assert f'id="sent-today">{statuses.count("sent")}<' in page
    # "Failed" on the dashboard: did not reach the person, refused by the gateway or with no mobile at all.
    missed = statuses.count("failed") + statuses.count("unreachable")
    assert statuses.count("unreachable") > 0  # the demo's landline-only and contactless applicants
    assert f'id="failed-today">{missed}<' in page
    assert "UBND phường Lê Chân" in page and '<svg class="chart"' in page
    # Each demo agency resolved two dossiers, one on time and one late.
    assert page.count("50,0% (1/2)") == 7


def test_an_unknown_row_is_shown_for_a_check_and_can_be_resent(province: Province) -> None:
    # What the dispatcher leaves after a worker died between a Telegram/Zalo hand-off and the answer.
    from sqlalchemy import update

    reason = "handed to telegram but the worker stopped before the answer; check with the recipient"
    n = _failed(province, STP)
    with province.service.factory() as session, session.begin():
        session.execute(
            update(Notification).where(Notification.id == n.id).values(status="unknown", error=reason)
        )
    client = client_for(province.service, "quantri")
    listing = client.get("/admin/log", params={"status": "unknown"})
    assert _ids(listing.text) == [n.id] and "Cần kiểm tra" in listing.text
    detail = client.get(f"/admin/log/{n.id}")
    # Said in Vietnamese: who had it, and what to do.
    assert "Đã chuyển cho telegram nhưng tiến trình gửi dừng trước khi có phản hồi" in detail.text
    assert reason not in detail.text and 'id="retry"' in detail.text
    resp = client.post(
        f"/admin/log/{n.id}/retry", data={"csrf_token": csrf_of(detail.text)}, follow_redirects=False
    )
    assert resp.status_code == 303
    with province.service.factory() as session:
        row = session.get(Notification, n.id)
        assert row is not None and (row.status, row.error) == ("queued", None)


def test_csv_export_shows_a_formula_in_an_error_as_text(province: Province) -> None:
    evil = '=HYPERLINK("http://evil.example","Bấm")'
    with province.service.factory() as session, session.begin():
        n = session.scalars(select(Notification).where(Notification.status == "failed")).first()
        assert n is not None
        n.error = evil  # a provider's error text is whatever the provider (or a fake one) said
    client = client_for(province.service, "quantri")
    text = client.get("/admin/log.csv", params={"status": "failed"}).text
    cells = [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]
    assert "'" + evil in cells and evil not in cells


def test_the_retry_workflow_refuses_every_status_but_the_retryable_and_other_agencies_rows(
    province: Province,
) -> None:
    from sqlalchemy import update

    from notifier.rules.outbox_status import NotificationStatus
    from notifier.store.models import Agency
    from notifier.workflows.deliveries import RETRYABLE, retry_notification
    from notifier.workflows.errors import NotFound, WrongState

    n = _failed(province, STP)
    for status in NotificationStatus:
        with province.service.factory() as session, session.begin():
            session.execute(update(Notification).where(Notification.id == n.id).values(status=status, attempts=2))
        if status in RETRYABLE:
            retry_notification(province.service, n.id, "quantri", None)
            with province.service.factory() as session:
                row = session.get(Notification, n.id)
                assert row is not None and (row.status, row.attempts) == ("queued", 0), status
        else:
            with pytest.raises(WrongState):
                retry_notification(province.service, n.id, "quantri", None)
            with province.service.factory() as session:
                assert session.get(Notification, n.id).status == status  # type: ignore[union-attr]
    with province.service.factory() as session, session.begin():
        session.execute(update(Notification).where(Notification.id == n.id).values(status="failed"))
        stp, skh = (session.scalar(select(Agency.id).where(Agency.code == c)) for c in (STP, SKH))
    with pytest.raises(NotFound):
        retry_notification(province.service, n.id, "skh", skh)  # another agency's row: as if absent
    with pytest.raises(NotFound):
        retry_notification(province.service, 99_999_999, "quantri", None)
    retry_notification(province.service, n.id, "stp", stp)  # its own agency's
    with province.service.factory() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "notification.retry").order_by(AuditEntry.id)
        ).all()
    assert actors == ["quantri"] * len(RETRYABLE) + ["stp"]


@pytest.mark.parametrize(
    "params",
    [
        {"code": "0011\x00"},
        {"kind": "received\x00"},
        {"date_to": "31/12/9999"},
        {"date_from": "01/01/0001"},
        {"page": str(10**20)},
    ],
)
def test_odd_filters_are_explained_not_a_server_error(province: Province, params: dict[str, str]) -> None:
    # A NUL was a 500 on PostgreSQL, the day after 31/12/9999 and an offset past the integers on both.
    client = client_for(province.service, "quantri")
    page = client.get("/admin/log", params=params)
    if any("\x00" in v for v in params.values()):
        assert page.status_code == 422 and "ký tự không đọc được" in page.text, page.text[:300]
        assert client.get("/admin/log.csv", params=params).status_code == 422
        return
    assert page.status_code == 200, page.text[:300]
    if "page" not in params:
        assert 'class="flash flash-error"' in page.text
        csv_export = client.get("/admin/log.csv", params=params)
        assert csv_export.status_code == 422, csv_export.text[:300]


def test_an_opted_out_address_named_in_an_error_is_masked_on_the_page_and_in_exports(province: Province) -> None:
    """The dispatcher's reason names the address that opted out: the log, the row's page and both CSV
    variants showed the whole phone number (and e-mail) there, while the address column was masked."""
    import asyncio

    from notifier.store.contacts import record_opt_out
    from notifier.workflows.ingest import upsert
    from tests.factories import dossier, ts

    svc = province.service
    now = svc.clock.now()
    with svc.factory() as session, session.begin():
        record_opt_out(session, "+84912777888", "sms", now, reason="gọi tổng đài", source="admin")
        item = dossier("OPT-1", SoDienThoai="0912777888", TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))
        assert not upsert(session, [item], now, source="test").errors
    svc.scan()
    asyncio.run(svc.dispatcher.drain())
    with svc.factory() as session:
        n = session.scalars(select(Notification).join(Dossier).where(Dossier.code == "OPT-1")).one()
    assert n.status == "failed" and "+84912777888 opted out of sms" in (n.error or "")
    client = client_for(svc, "quantri")
    detail = client.get(f"/admin/log/{n.id}").text
    assert "091****888 đã từ chối nhận tin qua sms" in detail
    listing = client.get("/admin/log", params={"code": "OPT-1"}).text
    exported = client.get("/admin/log.csv", params={"code": "OPT-1"}).text
    keys = client.get("/admin/log.csv", params={"code": "OPT-1", "headers": "keys"}).text
    for text in (detail, listing, exported, keys):
        assert "912777888" not in text
    assert "091****888 opted out of sms" in keys
    from notifier.web.admin.labels import error_text

    assert error_text("email: an.nguyen@example.vn opted out of email") == (
        "email: a***@example.vn đã từ chối nhận tin qua email"
    )
