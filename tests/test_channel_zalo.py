"""zalo_zns: the real channel (aiohttp) against a loopback fake of ZNS and of Zalo's OAuth token refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notifier.channels.base import Message, PermanentError, TransientError
from notifier.channels.registry import ChannelConfigError, build
from notifier.rules.clock import FixedClock
from notifier.store.models import ProviderToken
from notifier.workflows.service import Service
from tests.fakes.helpers import attempts, notes, received_dossier
from tests.fakes.helpers import build as build_service
from tests.fakes.zalo import FakeZalo

LONG_NAME = "Nguyễn Thị Phương Thảo Hoàng Bảo Ngọc Anh"  # 41 characters, over ZNS's 30 for a name

KINDS = {
    "received": {
        "template_id": "250001",
        "params": {
            "customer_name": "{{ dossier.applicant_name }}",
            "ma_ho_so": "{{ dossier.code }}",
            "ngay_hen": "{{ dossier.due_at|date }}",
            "co_quan": {"value": "{{ agency.name }}", "max": 200},
        },
    }
}


@pytest.fixture
async def zalo(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeZalo]:
    fake = FakeZalo()
    await fake.start()
    monkeypatch.setenv("TEST_ZALO_SECRET", fake.app_secret)
    monkeypatch.setenv("TEST_ZALO_ACCESS", fake.access_token)
    monkeypatch.setenv("TEST_ZALO_REFRESH", fake.refresh_token)
    yield fake
    await fake.stop()


def table(fake: FakeZalo, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "zalo_zns",
        "base_url": fake.url,
        "oauth_url": f"{fake.url}/v4/oa/access_token",
        "app_id": fake.app_id,
        "app_secret_env": "TEST_ZALO_SECRET",
        "access_token_env": "TEST_ZALO_ACCESS",
        "refresh_token_env": "TEST_ZALO_REFRESH",
        "kinds": KINDS,
        **extra,
    }


def message(data: dict[str, str] | None = None, n: int = 42) -> Message:
    data = data or {
        "customer_name": "Nguyễn Văn An",
        "ma_ho_so": "000.00.30.H26-261120-0001",
        "ngay_hen": "04/12/2026",
        "co_quan": "Sở Tư pháp thành phố Hải Phòng",
    }
    return Message(n, "received", "citizen", "+84912345678", "(văn bản lưu)", data=data)


async def test_zns_gets_phone_84_template_data_and_our_tracking_id(zalo: FakeZalo, clock: FixedClock) -> None:
    channel = build("zalo_zns", table(zalo), clock)
    try:
        provider_id = await channel.send(message())
    finally:
        await channel.aclose()
    assert zalo.received == [
        {
            "phone": "84912345678",
            "template_id": "250001",
            "template_data": {
                "customer_name": "Nguyễn Văn An",
                "ma_ho_so": "000.00.30.H26-261120-0001",
                "ngay_hen": "04/12/2026",
                "co_quan": "Sở Tư pháp thành phố Hải Phòng",
            },
            "tracking_id": "42",
        }
    ]
    assert zalo.tokens_seen == ["access-1"] and provider_id == "zns-1"


async def test_values_are_cut_to_the_parameter_limit(zalo: FakeZalo, clock: FixedClock) -> None:
    data = {"customer_name": LONG_NAME, "ma_ho_so": "X", "ngay_hen": "04/12/2026", "co_quan": "Sở " * 80}
    channel = build("zalo_zns", table(zalo), clock)
    try:
        await channel.send(message(data))
    finally:
        await channel.aclose()
    sent = zalo.received[0]["template_data"]
    assert sent["customer_name"] == "Nguyễn Thị Phương Thảo Hoàng…"  # 29 + "…": no dangling space
    assert len(sent["co_quan"]) == 200


@pytest.mark.parametrize(
    ("code", "kind", "fallback"),
    [(-118, PermanentError, True), (-108, PermanentError, True), (-109, PermanentError, True),
     (-100, TransientError, None), (-115, TransientError, None)],
)  # fmt: skip
async def test_zns_errors_map_to_transient_or_fall_through(
    zalo: FakeZalo, clock: FixedClock, code: int, kind: type, fallback: bool | None
) -> None:
    zalo.script = [code]
    channel = build("zalo_zns", table(zalo), clock)
    try:
        with pytest.raises(kind, match=f"Zalo {code}") as info:
            await channel.send(message())
    finally:
        await channel.aclose()
    if fallback is not None:
        assert info.value.fallback is fallback and not info.value.opt_out


async def test_invalid_access_token_is_refreshed_once_and_the_send_retried(
    zalo: FakeZalo, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZALO_ACCESS", "expired-token")
    channel = build("zalo_zns", table(zalo), clock)
    try:
        await channel.send(message())
        await channel.send(message(n=43))
    finally:
        await channel.aclose()
    assert zalo.refreshes == [{"refresh_token": "refresh-1", "app_id": "4321", "grant_type": "refresh_token"}]
    assert zalo.tokens_seen == ["expired-token", "access-2", "access-2"]
    assert [r["tracking_id"] for r in zalo.received] == ["42", "43"]


async def test_concurrent_sends_share_one_refresh(
    zalo: FakeZalo, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZALO_ACCESS", "expired-token")
    channel = build("zalo_zns", table(zalo), clock)
    try:
        await asyncio.gather(*(channel.send(message(n=i)) for i in range(5)))
    finally:
        await channel.aclose()
    assert len(zalo.refreshes) == 1  # a second refresh would have spent the rotated refresh token
    assert len(zalo.received) == 5


async def test_token_close_to_expiry_is_refreshed_before_sending(zalo: FakeZalo, clock: FixedClock) -> None:
    channel = build("zalo_zns", table(zalo, access_token_env=None), clock)
    try:
        await channel.send(message())  # no access token yet: refresh first
        clock.advance(timedelta(seconds=zalo.expires_in - 200))  # inside the 300 s margin
        await channel.send(message(n=43))
    finally:
        await channel.aclose()
    assert [r["refresh_token"] for r in zalo.refreshes] == ["refresh-1", "refresh-2"]
    assert zalo.tokens_seen == ["access-2", "access-3"]  # never sent a token about to expire


async def test_a_refused_refresh_is_transient(
    zalo: FakeZalo, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZALO_ACCESS", "expired-token")
    monkeypatch.setenv("TEST_ZALO_REFRESH", "spent-token")
    channel = build("zalo_zns", table(zalo), clock)
    try:
        with pytest.raises(TransientError, match="Invalid refresh token"):
            await channel.send(message())
    finally:
        await channel.aclose()


def test_template_expressions_are_checked_when_the_config_is_read(zalo: FakeZalo, clock: FixedClock) -> None:
    bad = {"received": {"template_id": "1", "params": {"x": "{{ dossier.nope }}"}}}
    with pytest.raises(ChannelConfigError, match=r"kinds\.received\.params\.x.*nope"):
        build("zalo_zns", table(zalo, kinds=bad), clock)
    with pytest.raises(ChannelConfigError, match=r"kinds\.recieved: unknown kind"):
        build("zalo_zns", table(zalo, kinds={"recieved": {"template_id": "1"}}), clock)


# -- through the dispatcher ---------------------------------------------------------------------------------


def _service(db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo) -> Service:
    return build_service(db_url, tmp_path, clock, {"zalo_zns": table(zalo)}, citizen=["zalo_zns", "file"])


async def test_dispatch_fills_template_data_from_the_dossier_and_stores_refreshed_tokens(
    db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ZALO_ACCESS", "expired-token")
    svc = _service(db_url, tmp_path, clock, zalo)
    received_dossier(svc, ChuHoSo=LONG_NAME)
    assert (await svc.dispatcher.drain()).sent == 1
    await svc.channels.aclose()
    [n] = notes(svc)
    assert (n.status, n.channel, n.provider_id) == ("sent", "zalo_zns", "zns-1")
    [body] = zalo.received
    assert body["tracking_id"] == str(n.id) and body["phone"] == "84912345678"
    assert body["template_data"] == {
        "customer_name": "Nguyễn Thị Phương Thảo Hoàng…",
        "ma_ho_so": "000.00.30.H26-261120-0001",
        "ngay_hen": "04/12/2026",
        "co_quan": "Sở Tư pháp thành phố Hải Phòng",
    }
    assert n.body and "000.00.30.H26-261120-0001" in n.body  # the readable text is kept on the row
    with svc.factory() as session:
        [token] = session.scalars(select(ProviderToken)).all()
    assert (token.channel, token.access_token, token.refresh_token) == ("zalo_zns", "access-2", "refresh-2")
    assert token.expires_at == clock.now() + timedelta(seconds=zalo.expires_in)

    # another worker (or a restart) uses the stored token: the env's refresh token was spent
    other = _service(db_url, tmp_path, clock, zalo)
    received_dossier(other, "B")
    assert (await other.dispatcher.drain()).sent == 1
    await other.channels.aclose()
    assert len(zalo.refreshes) == 1 and zalo.tokens_seen[-1] == "access-2"


async def test_citizen_not_on_zalo_falls_through_to_the_next_channel(
    db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo
) -> None:
    svc = _service(db_url, tmp_path, clock, zalo)
    zalo.not_on_zalo = {"84912345678"}
    received_dossier(svc)
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    [n] = notes(svc)
    assert (n.status, n.channel) == ("sent", "file")
    assert [(a.channel, a.outcome) for a in attempts(svc)] == [("zalo_zns", "permanent"), ("file", "sent")]
    assert "Zalo -118" in (attempts(svc)[0].error or "")


async def test_kind_without_a_zns_template_goes_to_the_next_channel_unasked(
    db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo
) -> None:
    svc = _service(db_url, tmp_path, clock, zalo)
    received_dossier(svc, TrangThaiHoSo=5)  # supplement_requested: no ZNS template configured
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    [n] = notes(svc)
    assert (n.kind, n.status, n.channel) == ("supplement_requested", "sent", "file")
    assert zalo.received == []
    # The hop passed over is recorded with why (routing: "each hop recorded with why").
    assert [(a.channel, a.outcome) for a in attempts(svc)] == [("zalo_zns", "skipped"), ("file", "sent")]
    assert attempts(svc)[0].error == "no template data for supplement_requested"


async def test_zalo_then_sms_the_route_a_province_would_use(
    db_url: str, tmp_path: Path, clock: FixedClock, zalo: FakeZalo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.esms import FakeEsms
    from tests.test_channel_esms import table as esms_table

    esms = FakeEsms()
    await esms.start()
    for key, value in {"TEST_ESMS_KEY": esms.api_key, "TEST_ESMS_SECRET": esms.secret_key,
                       "TEST_ESMS_CALLBACK": "t"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    channels = {"zalo_zns": table(zalo), "sms_esms": esms_table(esms, khong_dau=True)}
    svc = build_service(db_url, tmp_path, clock, channels, citizen=["zalo_zns", "sms_esms", "file"])
    zalo.not_on_zalo = {"84912345678"}
    received_dossier(svc, "A")
    received_dossier(svc, "B", SoDienThoai="0987654321")  # this one is on Zalo
    await svc.dispatcher.drain()
    await svc.channels.aclose()
    await esms.stop()
    by_code = {n.recipient: n.channel for n in notes(svc)}
    assert by_code == {"+84912345678": "sms_esms", "+84987654321": "zalo_zns"}
    [sms] = esms.received
    assert sms["Phone"] == "0912345678" and sms["IsUnicode"] == "0"
