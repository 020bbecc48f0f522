"""Provider webhooks on the core app: signed receipts move statuses forward only; inbound SMS commands."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from notifier.rules.clock import FixedClock
from notifier.store.models import ChannelReceipt, InboundMessage, LookupFailure, Notification
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.fakes.esms import FakeEsms
from tests.fakes.helpers import build as build_service
from tests.fakes.helpers import notes, opted_out, received_dossier
from tests.fakes.twilio import FakeTwilio
from tests.fakes.zalo import FakeZalo
from tests.test_channel_esms import table as esms_table
from tests.test_channel_twilio import PUBLIC
from tests.test_channel_twilio import table as twilio_table
from tests.test_channel_zalo import table as zalo_table

CODE = "000.00.30.H26-261120-0001"


@pytest.fixture
async def fakes(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    twilio, esms, zalo = FakeTwilio(now=clock.now), FakeEsms(), FakeZalo()
    for fake in (twilio, esms, zalo):
        await fake.start()
    env = {
        "TEST_TWILIO_TOKEN": twilio.auth_token,
        "TEST_ESMS_KEY": esms.api_key,
        "TEST_ESMS_SECRET": esms.secret_key,
        "TEST_ESMS_CALLBACK": "cb-token-123",
        "TEST_ZALO_SECRET": zalo.app_secret,
        "TEST_ZALO_ACCESS": zalo.access_token,
        "TEST_ZALO_REFRESH": zalo.refresh_token,
        "TEST_ZALO_OA_SECRET": "oa-secret",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield {"twilio": twilio, "esms": esms, "zalo": zalo}
    for fake in (twilio, esms, zalo):
        await fake.stop()


def _service(db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any], citizen: list[str],
             **twilio_extra: Any) -> Service:  # fmt: skip
    channels = {
        "sms_twilio": twilio_table(fakes["twilio"], **twilio_extra),
        "sms_esms": esms_table(fakes["esms"]),
        "zalo_zns": zalo_table(fakes["zalo"], oa_secret_env="TEST_ZALO_OA_SECRET"),
    }
    return build_service(db_url, tmp_path, clock, channels, citizen=citizen)


@pytest.fixture
async def svc(db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]) -> AsyncIterator[Service]:
    service = _service(db_url, tmp_path, clock, fakes, ["sms_twilio", "file"])
    yield service
    await service.channels.aclose()
    service.engine.dispose()


def client(service: Service) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(service))
    return httpx.AsyncClient(transport=transport, base_url="http://notifier.internal")


def twilio_signature(path_qs: str, form: dict[str, str], token: str = "test-auth-token") -> str:
    return RequestValidator(token).compute_signature(PUBLIC + path_qs, form)


async def post_twilio(c: httpx.AsyncClient, path_qs: str, form: dict[str, str], signature: str | None = "auto"):  # type: ignore[no-untyped-def]
    headers = {}
    if signature == "auto":
        signature = twilio_signature(path_qs, form)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await c.post(path_qs, data=form, headers=headers)


def status_form(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "To": "+84912345678", "AccountSid": "AC1", **extra}


def row(service: Service, notification_id: int) -> Notification:
    with service.factory() as session:
        n = session.get(Notification, notification_id)
        assert n is not None
        return n


def receipts_count(service: Service) -> int:
    with service.factory() as session:
        return session.scalar(select(func.count()).select_from(ChannelReceipt)) or 0


async def _sent_by_twilio(service: Service) -> Notification:
    received_dossier(service)
    assert (await service.dispatcher.drain()).sent == 1
    [n] = notes(service)
    assert n.channel == "sms_twilio" and n.provider_id
    return n


# -- Twilio receipts -----------------------------------------------------------------------------------------


async def test_signed_status_callback_marks_the_message_delivered(svc: Service) -> None:
    n = await _sent_by_twilio(svc)
    async with client(svc) as c:
        r = await post_twilio(c, f"/webhooks/sms_twilio/receipt?n={n.id}", status_form(n.provider_id, "delivered"))
    assert r.status_code == 200 and r.json() == {"received": 1, "outcomes": ["moved"]}
    assert row(svc, n.id).status == "delivered"


@pytest.mark.parametrize("signature", [None, "bm90LWEtc2lnbmF0dXJl", "other-token"])
async def test_unsigned_or_wrongly_signed_callbacks_get_403_and_change_nothing(
    svc: Service, signature: str | None
) -> None:
    n = await _sent_by_twilio(svc)
    path = f"/webhooks/sms_twilio/receipt?n={n.id}"
    form = status_form(n.provider_id, "failed", ErrorCode="30003")
    if signature == "other-token":
        signature = twilio_signature(path, form, token="someone-else")
    async with client(svc) as c:
        r = await post_twilio(c, path, form, signature)
        # a valid signature for other parameters does not cover these
        forged = await c.post(path, data={**form, "MessageStatus": "undelivered"},
                              headers={"X-Twilio-Signature": twilio_signature(path, form)})  # fmt: skip
    assert r.status_code == 403 and forged.status_code == 403
    assert row(svc, n.id).status == "sent" and receipts_count(svc) == 0


async def test_status_only_moves_forward(svc: Service) -> None:
    n = await _sent_by_twilio(svc)
    path = f"/webhooks/sms_twilio/receipt?n={n.id}"
    async with client(svc) as c:
        delivered = await post_twilio(c, path, status_form(n.provider_id, "delivered"))
        late_sent = await post_twilio(c, path, status_form(n.provider_id, "sent"))
        late_failed = await post_twilio(c, path, status_form(n.provider_id, "failed", ErrorCode="30008"))
        queued = await post_twilio(c, path, status_form(n.provider_id, "queued"))
    assert [r.json()["outcomes"] for r in (delivered, late_sent, late_failed, queued)] == [
        ["moved"], ["stale"], ["stale"], [],
    ]  # fmt: skip
    assert row(svc, n.id).status == "delivered" and row(svc, n.id).error is None


async def test_undelivered_records_the_error_and_unsubscribed_opts_out(svc: Service) -> None:
    n = await _sent_by_twilio(svc)
    async with client(svc) as c:
        r = await post_twilio(
            c, f"/webhooks/sms_twilio/receipt?n={n.id}", status_form(n.provider_id, "undelivered", ErrorCode="21610")
        )
    assert r.status_code == 200
    got = row(svc, n.id)
    assert (got.status, got.error) == ("undelivered", "sms_twilio receipt: undelivered: Twilio 21610")
    assert opted_out(svc, "+84912345678", "sms")


async def test_a_receipt_that_beats_the_dispatcher_is_applied_when_the_row_is_recorded(svc: Service) -> None:
    received_dossier(svc)
    d = svc.dispatcher
    now = svc.clock.now()
    ids = d.claim(now, 10)
    with svc.factory() as session:
        plans = d._plan(session, ids, now)
    outcomes = [await d._deliver(p, now) for p in plans]
    sid = outcomes[0].provider_id
    async with client(svc) as c:  # Twilio calls back while the batch is still being sent
        r = await post_twilio(c, f"/webhooks/sms_twilio/receipt?n={ids[0]}", status_form(sid, "delivered"))
    assert r.json()["outcomes"] == ["pending"] and row(svc, ids[0]).status == "sending"
    from notifier.outbox.dispatch import DispatchStats

    stats = DispatchStats()
    with svc.factory() as session, session.begin():
        d._record(session, plans, outcomes, now, stats)
    got = row(svc, ids[0])
    assert stats.sent == 1 and (got.status, got.provider_id, got.channel) == ("delivered", sid, "sms_twilio")
    with svc.factory() as session:
        [rc] = session.scalars(select(ChannelReceipt)).all()
    assert rc.outcome == "moved" and rc.applied_at is not None


async def test_receipts_for_unknown_or_receiptless_channels_are_404(svc: Service) -> None:
    async with client(svc) as c:
        assert (await c.post("/webhooks/nope/receipt")).status_code == 404
        assert (await c.post("/webhooks/file/receipt")).status_code == 404


# -- eSMS and Zalo receipts ----------------------------------------------------------------------------------


async def test_esms_callback_with_the_token_moves_the_row(
    db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]
) -> None:
    service = _service(db_url, tmp_path, clock, fakes, ["sms_esms"])
    received_dossier(service)
    await service.dispatcher.drain()
    [n] = notes(service)
    query = {"SMSID": n.provider_id, "RequestId": f"notifier-{n.id}", "SendStatus": "5", "phonenumber": "0912345678"}
    async with client(service) as c:
        forged = await c.get("/webhooks/sms_esms/receipt?" + urlencode({**query, "token": "guess"}))
        missing = await c.get("/webhooks/sms_esms/receipt?" + urlencode(query))
        assert row(service, n.id).status == "sent"
        ok = await c.get("/webhooks/sms_esms/receipt?" + urlencode({**query, "token": "cb-token-123"}))
    await service.channels.aclose()
    assert (forged.status_code, missing.status_code, ok.status_code) == (403, 403, 200)
    assert row(service, n.id).status == "delivered"


def zalo_event(msg_id: str, tracking_id: str) -> bytes:
    event = {
        "app_id": "4321",
        "event_name": "user_received_message",
        "message": {"msg_id": msg_id, "tracking_id": tracking_id, "delivery_time": "1764554400000"},
        "timestamp": "1764554400123",
    }
    return json.dumps(event).encode()


def zalo_mac(body: bytes, secret: str = "oa-secret") -> str:
    return "mac=" + hashlib.sha256(("4321" + body.decode() + "1764554400123" + secret).encode()).hexdigest()


async def test_zalo_delivery_event_needs_the_oa_signature(
    db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]
) -> None:
    service = _service(db_url, tmp_path, clock, fakes, ["zalo_zns"])
    received_dossier(service)
    await service.dispatcher.drain()
    [n] = notes(service)
    body = zalo_event(n.provider_id or "", str(n.id))
    headers = {"content-type": "application/json"}
    async with client(service) as c:
        bad = await c.post("/webhooks/zalo_zns/receipt", content=body,
                           headers={**headers, "X-ZEvent-Signature": zalo_mac(body, "wrong")})  # fmt: skip
        assert row(service, n.id).status == "sent"
        good = await c.post("/webhooks/zalo_zns/receipt", content=body,
                            headers={**headers, "X-ZEvent-Signature": zalo_mac(body)})  # fmt: skip
    await service.channels.aclose()
    assert (bad.status_code, good.status_code) == (403, 200)
    assert row(service, n.id).status == "delivered"


# -- inbound SMS ---------------------------------------------------------------------------------------------


def inbound_form(body: str, sid: str = "SM-in-1", sender: str = "+84912345678") -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body, "AccountSid": "AC1"}


async def test_huy_opts_out_of_sms_and_answers_with_twiml(svc: Service) -> None:
    async with client(svc) as c:
        r = await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form("hủy"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Quý khách đã ngừng nhận tin nhắn SMS thông báo '
        "hồ sơ. Soạn DK gửi số này để nhận lại.</Message></Response>"
    )
    assert opted_out(svc, "+84912345678", "sms")
    # from now on the citizen's notices skip SMS
    received_dossier(svc)
    await svc.dispatcher.drain()
    [n] = notes(svc)
    assert (n.status, n.channel) == ("sent", "file")


async def test_dk_opts_back_in(svc: Service) -> None:
    async with client(svc) as c:
        await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form("STOP", "SM-a"))
        r = await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form("Đk", "SM-b"))
    assert "Quý khách đã đăng ký nhận lại" in r.text
    assert not opted_out(svc, "+84912345678", "sms")


async def test_tracuu_answers_the_dossiers_own_number_only(svc: Service) -> None:
    received_dossier(svc)
    async with client(svc) as c:
        own = await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE}", "SM-1"))
        other = await post_twilio(
            c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE}", "SM-2", sender="+84987654321")
        )
    assert f"Hồ sơ {CODE}: Được tiếp nhận. Hẹn trả kết quả: 04/12/2026." in own.text
    assert f"Không tìm thấy hồ sơ {CODE} gắn với số điện thoại này." in other.text
    assert "Được tiếp nhận" not in other.text


async def test_tracuu_with_the_last_four_digits_goes_through_the_conversation_core(svc: Service) -> None:
    received_dossier(svc)
    stranger = "+84987654321"
    async with client(svc) as c:
        right = await post_twilio(
            c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE} 5678", "SM-d1", sender=stranger)
        )
        assert f"Hồ sơ {CODE}: Được tiếp nhận." in right.text
        # Misses are counted per sending number in the database, as for every chat platform.
        for i in range(5):
            wrong = await post_twilio(
                c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE} 000{i}", f"SM-w{i}", sender=stranger)
            )
            assert f"Không tìm thấy hồ sơ {CODE}" in wrong.text
        # A provider re-sending one of them is answered from the log and not counted again.
        await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE} 0000", "SM-w0", sender=stranger))
        slowed = await post_twilio(
            c, "/webhooks/sms_twilio/inbound", inbound_form(f"TRACUU {CODE} 5678", "SM-d2", sender=stranger)
        )
        assert "tra cứu sai nhiều lần" in slowed.text and "Được tiếp nhận" not in slowed.text
    with svc.factory() as session:
        keys = session.execute(select(LookupFailure.chat_id, func.count()).group_by(LookupFailure.chat_id)).all()
    assert [tuple(k) for k in keys] == [(f"sms:{stranger}", 5)]


async def test_unsigned_inbound_is_refused_and_not_acted_on(svc: Service) -> None:
    async with client(svc) as c:
        r = await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form("HUY"), signature=None)
    assert r.status_code == 403 and not opted_out(svc, "+84912345678", "sms")
    with svc.factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


async def test_khong_dau_channel_answers_without_diacritics(
    db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]
) -> None:
    service = _service(db_url, tmp_path, clock, fakes, ["sms_twilio"], khong_dau=True)
    async with client(service) as c:
        r = await post_twilio(c, "/webhooks/sms_twilio/inbound", inbound_form("HUY"))
    await service.channels.aclose()
    assert "<Message>Quy khach da ngung nhan tin nhan SMS thong bao ho so." in r.text


async def test_esms_inbound_reply_goes_out_as_a_new_sms(
    db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any]
) -> None:
    service = _service(db_url, tmp_path, clock, fakes, ["sms_esms"])
    form = {"Phone": "0912345678", "Content": "Huy", "SMSID": "mo-1"}
    async with client(service) as c:
        refused = await c.post("/webhooks/sms_esms/inbound?token=nope", json=form)
        r = await c.post("/webhooks/sms_esms/inbound?token=cb-token-123", json=form)
        again = await c.post("/webhooks/sms_esms/inbound?token=cb-token-123", json=form)  # gateway retry
    await service.channels.aclose()
    assert refused.status_code == 403
    assert r.json() == {"command": "opt_out", "reply_sent": True}
    assert again.status_code == 200
    sent = fakes["esms"].received
    assert len(fakes["esms"].accepted) == 1  # the retry reused the reply's request id
    assert sent[0]["Phone"] == "0912345678" and sent[0]["Content"].startswith("Quý khách đã ngừng nhận")
    assert sent[0]["RequestId"].startswith("notifier-in-") and sent[1]["RequestId"] == sent[0]["RequestId"]
    assert opted_out(service, "+84912345678", "sms")


# -- odd requests get a 4xx, never a 500 (issue 11) ------------------------------------------------------------


async def test_a_superscript_digit_in_a_signed_receipts_query_is_no_500(svc: Service) -> None:
    n = await _sent_by_twilio(svc)
    async with client(svc) as c:
        # "²".isdigit() is true but int("²") fails: the id is ignored and the provider's id finds the row.
        r = await post_twilio(
            c, "/webhooks/sms_twilio/receipt?n=%C2%B2", status_form(n.provider_id, "delivered")
        )
    assert r.status_code == 200 and r.json()["outcomes"] == ["moved"]
    assert row(svc, n.id).status == "delivered"


@pytest.mark.parametrize("kind", ["utf16", "nested", "superscript"])
async def test_odd_bodies_to_the_zalo_receipt_route_get_a_4xx(
    db_url: str, tmp_path: Path, clock: FixedClock, fakes: dict[str, Any], kind: str
) -> None:
    service = _service(db_url, tmp_path, clock, fakes, ["zalo_zns"])
    received_dossier(service)
    await service.dispatcher.drain()
    [n] = notes(service)
    body = zalo_event(n.provider_id or "", str(n.id))
    headers = {"content-type": "application/json"}
    if kind == "utf16":
        body = body.decode().encode("utf-16")  # json.loads reads it; the signature's text cannot
        expected = 400
    elif kind == "nested":
        body = b"[" * 20_000 + b"]" * 20_000  # under the 64 kB limit, past the recursion limit
        expected = 422
    else:
        body = zalo_event("", "²")
        expected = 200  # "²".isdigit() but no id: a receipt that matches no row (it was a 500)
    headers["X-ZEvent-Signature"] = zalo_mac(body.decode("utf-8", "replace").encode())
    async with client(service) as c:
        r = await c.post("/webhooks/zalo_zns/receipt", content=body, headers=headers)
    await service.channels.aclose()
    assert r.status_code == expected, r.text
    assert row(service, n.id).status == "sent"
