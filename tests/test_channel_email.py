"""email: aiosmtplib against a local aiosmtpd server; the received mail is read back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Message, PermanentError, TransientError
from notifier.channels.registry import build
from notifier.rules.clock import FixedClock
from notifier.workflows.officer_import import upsert_officers
from tests.factories import officers
from tests.fakes.helpers import build as build_service
from tests.fakes.helpers import notes, received_dossier
from tests.fakes.smtp import FakeSmtp


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    server = FakeSmtp()
    await server.start()
    yield server
    await server.stop()


def table(server: FakeSmtp, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "start_tls": False,
        "from_address": "thongbao@haiphong.gov.vn",
        "from_name": "Bộ phận Một cửa Hải Phòng",
        **extra,
    }


def message(address: str = "an.nguyen@example.vn") -> Message:
    return Message(
        9,
        "overdue_apology",
        "citizen",
        address,
        "Kính gửi Ông/Bà Nguyễn Văn An,\nSở Tư pháp thành phố Hải Phòng trân trọng xin lỗi.",
        subject="Thư xin lỗi về việc trễ hẹn hồ sơ 000.00.30.H26-261120-0001",
    )


async def test_mail_arrives_with_utf8_subject_body_and_stable_message_id(smtp: FakeSmtp, clock: FixedClock) -> None:
    channel = build("email", table(smtp), clock)
    provider_id = await channel.send(message())
    [mail] = smtp.messages
    assert mail["Subject"] == "Thư xin lỗi về việc trễ hẹn hồ sơ 000.00.30.H26-261120-0001"
    assert mail["To"] == "an.nguyen@example.vn"
    assert mail["From"].addresses[0].display_name == "Bộ phận Một cửa Hải Phòng"
    assert mail["From"].addresses[0].addr_spec == "thongbao@haiphong.gov.vn"
    assert mail["Message-ID"] == "<notifier-9@haiphong.gov.vn>" == provider_id
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert mail.get_content() == (
        "Kính gửi Ông/Bà Nguyễn Văn An,\nSở Tư pháp thành phố Hải Phòng trân trọng xin lỗi.\n"
    )
    assert smtp.handler.envelopes[0].rcpt_tos == ["an.nguyen@example.vn"]


async def test_refused_mailbox_is_permanent_and_falls_through(smtp: FakeSmtp, clock: FixedClock) -> None:
    smtp.handler.refuse["nobody@example.vn"] = "550 5.1.1 No such user"
    channel = build("email", table(smtp), clock)
    with pytest.raises(PermanentError, match=r"550 .*No such user") as info:
        await channel.send(message("nobody@example.vn"))
    assert info.value.fallback is True and smtp.messages == []


async def test_greylisting_is_transient(smtp: FakeSmtp, clock: FixedClock) -> None:
    smtp.handler.refuse["busy@example.vn"] = "451 4.7.1 Try again later"
    channel = build("email", table(smtp), clock)
    with pytest.raises(TransientError, match="451"):
        await channel.send(message("busy@example.vn"))


async def test_no_server_is_transient(clock: FixedClock) -> None:
    server = FakeSmtp()
    port = await server.start()
    await server.stop()
    channel = build("email", {**table(server), "port": port, "timeout_seconds": 2}, clock)
    with pytest.raises(TransientError, match="SMTP unreachable"):
        await channel.send(message())


async def test_dispatch_renders_the_email_template_with_its_subject(
    db_url: str, tmp_path: Path, clock: FixedClock, smtp: FakeSmtp
) -> None:
    svc = build_service(db_url, tmp_path, clock, {"email": table(smtp)}, citizen=["email", "file"])
    received_dossier(svc)
    assert (await svc.dispatcher.drain()).sent == 1
    [mail] = smtp.messages
    [n] = notes(svc)
    assert (n.channel, n.recipient) == ("email", "an.nguyen@example.vn")
    assert mail["Subject"] == n.subject and "000.00.30.H26-261120-0001" in mail["Subject"]
    assert mail.get_content().rstrip("\n") == n.body
    assert "04/12/2026" in mail.get_content()


async def test_officer_without_email_goes_to_the_next_channel(
    db_url: str, tmp_path: Path, clock: FixedClock, smtp: FakeSmtp
) -> None:
    from notifier.workflows.ingest import upsert
    from tests.factories import dossier, ts

    svc = build_service(db_url, tmp_path, clock, {"email": table(smtp)}, citizen=["file"], officer=["email", "file"])
    with svc.factory() as session, session.begin():
        upsert_officers(session, officers())
        upsert(session, [dossier(MaCanBo="CB02", NgayHenTra=ts(2026, 11, 30, 17, 0))], clock.now(), source="t")
    svc.scan()
    await svc.dispatcher.drain()
    alert = next(n for n in notes(svc) if n.kind == "overdue_alert")
    assert (alert.status, alert.channel) == ("sent", "file")  # CB02 has no e-mail address
