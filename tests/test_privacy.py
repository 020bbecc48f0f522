"""Personal data (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): data-subject requests from the bot and from an
officer, each carried out on the real database; consent records; the processing record."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.rules.clock import VN_TZ
from notifier.rules.privacy import ERASED_NAME
from notifier.store.models import (
    ApologySlip,
    AuditEntry,
    ChatLink,
    ConsentRecord,
    Contact,
    Dossier,
    InboundMessage,
    Notification,
    PrivacyRequest,
)
from notifier.workflows.errors import InvalidInput, NotFound, WrongState
from notifier.workflows.ingest import upsert
from notifier.workflows.privacy import PrivacyWorkflow
from notifier.workflows.service import Service
from tests.cli_process import run_notifier
from tests.factories import dossier
from tests.fakes import bot_harness
from tests.fakes.bot_harness import CHAT, D1, D2, D3, OTHER, Harness, queue_notice

tg = bot_harness.tg  # the running bot (fixture)

# T0 is Tue 01/12/2026 09:00: two working days later, at the end of the working day.
DEADLINE = datetime(2026, 12, 3, 17, 0, tzinfo=VN_TZ)
PURPOSE = "Nhận thông báo về tình trạng hồ sơ thủ tục hành chính"


def _dossiers(service: Service) -> dict[str, Dossier]:
    with service.factory() as session:
        return {d.code: d for d in session.scalars(select(Dossier))}


async def test_bot_requests_need_a_proved_phone_and_carry_the_legal_deadline(tg: Harness) -> None:
    refused = await tg.say(CHAT, "/xoadulieu")
    assert refused["text"].startswith('Để bảo vệ dữ liệu của Ông/Bà, vui lòng bấm "Chia sẻ số điện thoại"')
    helped = await tg.say(CHAT, "/dulieu")
    assert helped["text"].startswith(
        "Theo Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định số 356/2025/NĐ-CP, Ông/Bà có quyền"
    )
    assert "trả lời trong 2 ngày làm việc" in helped["text"]

    await tg.contact(CHAT, "84912345678", contact_user_id=CHAT)
    with tg.service.factory() as session:
        [consent] = session.scalars(select(ConsentRecord)).all()
    assert (consent.address, consent.medium, consent.purpose, consent.channel) == (
        str(CHAT),
        "telegram",
        PURPOSE,
        "bot",
    )
    assert consent.given_at == tg.clock.now() and consent.withdrawn_at is None

    ask = await tg.say(CHAT, "/suadulieu")
    assert ask["text"].startswith("Vui lòng gửi lệnh kèm nội dung cần sửa")
    reply = await tg.say(CHAT, "/xemdulieu")
    assert reply["text"] == (
        "Đã ghi nhận yêu cầu xem dữ liệu cá nhân số 1.\nYêu cầu sẽ được giải quyết chậm nhất ngày 03/12/2026."
    )
    with tg.service.factory() as session:
        [req] = session.scalars(select(PrivacyRequest)).all()
        actions = session.scalars(select(AuditEntry.action)).all()
    assert (req.kind, req.channel, req.phone, req.chat_id, req.status) == (
        "access",
        "bot",
        "+84912345678",
        str(CHAT),
        "open",
    )
    assert req.deadline_at == DEADLINE
    assert "privacy.request" in actions

    # The admin lists it, then carries it out: the chat's own dossiers, not another citizen's.
    workflow = PrivacyWorkflow.of(tg.service)
    [listed] = workflow.list("open")
    assert listed["phone"] == "091****678" and listed["overdue"] is False
    done, data = workflow.done(1, "admin")
    assert done["status"] == "done"
    assert sorted(d["MaHoSo"] for d in data["dossiers"]) == [D1, D2]
    assert D3 not in json.dumps(data)
    assert data["consents"][0]["purpose"] == PURPOSE
    with pytest.raises(WrongState, match="already done"):
        workflow.done(1, "admin")


async def test_bot_withdrawal_stops_every_medium_and_closes_consents(tg: Harness) -> None:
    await tg.contact(CHAT, "84912345678", contact_user_id=CHAT)
    reply = await tg.say(CHAT, "/rutdongy")
    assert reply["text"].startswith("Đã ghi nhận yêu cầu rút lại sự đồng ý số 1.")
    PrivacyWorkflow.of(tg.service).done(1, "CB01")
    with tg.service.factory() as session:
        contacts = {(c.address, c.medium): c.opted_out_at for c in session.scalars(select(Contact))}
        consents = session.scalars(select(ConsentRecord)).all()
        links = session.scalars(select(ChatLink)).all()
    now = tg.clock.now()
    assert contacts[(str(CHAT), "telegram")] == now
    assert contacts[("+84912345678", "sms")] == now
    assert contacts[("+84912345678", "zalo")] == now
    assert contacts[("an.nguyen@example.vn", "email")] == now
    assert all(c.withdrawn_at == now for c in consents) and consents
    assert not any(link.active for link in links)
    # Another citizen's chat is untouched.
    assert (str(OTHER), "telegram") not in contacts


def _seed(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        report = upsert(
            session,
            [
                dossier("PD-1"),
                dossier("PD-2", TrangThaiHoSo=10, NgayTra="20261125100000"),
                dossier("PD-3", SoDienThoai="0987654321", ChuHoSo="Lê Thị Bình", Email="binh@example.vn"),
            ],
            now,
            source="test",
        )
        assert not report.errors


def test_erasure_keeps_the_counts_and_only_the_subjects_rows(service: Service) -> None:
    _seed(service)
    sent = queue_notice(
        service,
        "PD-2",
        status="sent",
        body="Hồ sơ PD-2 đã có kết quả",
        recipient="+84912345678",
        channel="sms",
    )
    queued = queue_notice(service, "PD-1", kind="due_soon", recipient="+84912345678")
    other = queue_notice(
        service, "PD-3", status="sent", body="Kết quả", recipient="+84987654321", channel="sms"
    )
    now = service.clock.now()
    with service.factory() as session, session.begin():
        pd1 = session.scalars(select(Dossier).where(Dossier.code == "PD-1")).one()
        session.add(
            ApologySlip(
                agency_id=pd1.agency_id,
                year=2026,
                seq=1,
                number="01/PXL",
                dossier_id=pd1.id,
                dossier_code="PD-1",
                agency_name="Sở Tư pháp",
                addressee="Nguyễn Văn An",
                applicant_kind=1,
                phone="+84912345678",
                email="an.nguyen@example.vn",
                procedure_code="1.001233",
                procedure_name="Cấp Phiếu lý lịch tư pháp",
                received_at=now,
                old_due_at=now,
                new_due_at=now,
                reason="Chờ xác minh",
                signer_name=None,
                issued_at=now,
                issued_by="CB01",
                source="test",
            )
        )
        for sender in ("+84912345678", "+84987654321"):
            session.add(
                InboundMessage(channel="sms", provider_id=sender, sender=sender, body="TRACUU PD", command="lookup",
                               reply="…", received_at=now)
            )  # fmt: skip
    workflow = PrivacyWorkflow.of(service)
    req = workflow.request(kind="erase", channel="officer", requested_by="CB01", phone="0912 345 678")
    assert req["deadline_at"] == DEADLINE.isoformat()
    with service.factory() as session:
        before = session.scalar(select(func.count()).select_from(Notification))
    done, counts = workflow.done(req["id"], "CB01")
    assert counts["dossiers"] == 2 and counts["cancelled"] == 1
    rows = _dossiers(service)
    assert len(rows) == 3  # the report's dossiers are all there
    for code in ("PD-1", "PD-2"):
        d = rows[code]
        assert (d.applicant_name, d.phone, d.email) == (ERASED_NAME, None, None)
        assert d.status in (4, 10) and d.received_at is not None and d.fee_amount == 200000
    assert rows["PD-3"].applicant_name == "Lê Thị Bình" and rows["PD-3"].phone == "+84987654321"
    with service.factory() as session:
        after = session.scalar(select(func.count()).select_from(Notification))
        by_id = {n.id: n for n in session.scalars(select(Notification))}
        stored = session.get(PrivacyRequest, req["id"])
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).all()
    assert after == before  # messages still counted
    assert by_id[sent].status == "sent" and by_id[sent].body is None and by_id[sent].recipient is None
    assert by_id[sent].channel == "sms"
    assert by_id[queued].status == "cancelled"
    assert by_id[other].body == "Kết quả"
    assert stored is not None and stored.phone == "091****678" and stored.status == "done"
    assert len(audit) == 1 and done["done_by"] == "CB01"
    with service.factory() as session:
        slip = session.scalars(select(ApologySlip)).one()
        inbound = dict(session.execute(select(InboundMessage.provider_id, InboundMessage.sender)).all())
    assert (slip.addressee, slip.phone, slip.email, slip.number) == (ERASED_NAME, None, None, "01/PXL")
    assert inbound == {"+84912345678": "", "+84987654321": "+84987654321"}


def test_correction_names_a_bad_field_or_value_and_sets_a_good_one(service: Service) -> None:
    _seed(service)
    workflow = PrivacyWorkflow.of(service)
    req = workflow.request(kind="correct", channel="admin", requested_by="admin", dossier_code="PD-3")
    with pytest.raises(InvalidInput, match="field Email: value 'binh@': not an e-mail address"):
        workflow.done(req["id"], "admin", {"Email": "binh@"})
    with pytest.raises(InvalidInput, match="field set: value 'DiaChi'"):
        workflow.done(req["id"], "admin", {"DiaChi": "x"})
    # Decomposed input (as some keyboards send it) is stored composed (NFC).
    decomposed = unicodedata.normalize("NFD", "Lê Thị Bính")
    workflow.done(req["id"], "admin", {"Email": "binh.le@example.vn", "ChuHoSo": decomposed})
    rows = _dossiers(service)
    assert (rows["PD-3"].email, rows["PD-3"].applicant_name) == ("binh.le@example.vn", "Lê Thị Bính")
    assert rows["PD-1"].email == "an.nguyen@example.vn"


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"kind": "forget"}, InvalidInput, "field kind: value 'forget': expected one of access, correct"),
        ({"channel": "fax"}, InvalidInput, "field channel: value 'fax'"),
        ({"phone": "0999"}, InvalidInput, "field phone: value '0999'"),
        ({"phone": None, "dossier_code": "NOPE"}, NotFound, "field dossier: value 'NOPE'"),
        ({"phone": None}, InvalidInput, "field phone: value 'None': name the data subject"),
    ],
)
def test_bad_requests_name_the_field_and_value(
    service: Service, fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    base: dict[str, Any] = {
        "kind": "access",
        "channel": "officer",
        "requested_by": "CB01",
        "phone": "0912345678",
    }
    with pytest.raises(error, match=message):
        PrivacyWorkflow.of(service).request(**{**base, **fields})


def test_cli_request_list_done_and_processing_record(tmp_path: Path, db_url: str, service: Service) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the workflow runs on both databases above; the command line once is enough")
    _seed(service)
    config = Path(__file__).parent.parent / "config.toml"
    text = config.read_text(encoding="utf-8").replace(
        'url = "sqlite:///var/notifier.db"', f'url = "{db_url}"'
    )
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        now = ("--now", "2026-12-04T09:00") if args[-1] != "report" else ()
        return run_notifier(tmp_path, *args, *now)

    made = cli("privacy", "request", "access", "--by", "CB01", "--phone", "0912345678")
    assert made.returncode == 0, made.stderr
    # Fri 04/12 09:00: two working days is Tue 08/12.
    assert made.stdout.startswith(
        "#1 access open subject 091****678 via officer by CB01 deadline 2026-12-08T17:00"
    )
    bad = cli("privacy", "request", "erase", "--by", "CB01", "--phone", "0999")
    assert bad.returncode == 1 and "field phone: value '0999'" in bad.stderr
    listed = cli("privacy", "list", "--status", "open")
    assert listed.stdout.count("\n") == 1 and "#1 access open" in listed.stdout
    done = cli("privacy", "done", "1", "--by", "CB01")
    assert done.returncode == 0, done.stderr
    assert '"MaHoSo": "PD-1"' in done.stdout and "PD-3" not in done.stdout
    report = cli("privacy", "report")
    assert report.returncode == 0, report.stderr
    assert "Căn cứ: Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15; Nghị định số 356/2025/NĐ-CP" in report.stdout
    assert "Thời hạn lưu trữ: 90 ngày sau lần thay đổi cuối" in report.stdout
    assert "13/2023" not in report.stdout


def test_admin_page_lists_records_and_carries_out_requests(db_url: str, tmp_path: Path, clock: Any) -> None:
    from tests.browser.kit import REFUSED, client_for, csrf_of, ready_province

    province = ready_province(db_url, tmp_path, clock)
    try:
        assert client_for(province.service, "stp").get("/admin/privacy").status_code == 403
        admin = client_for(province.service, "quantri")
        empty = admin.get("/admin/privacy")
        assert empty.status_code == 200 and "Không có yêu cầu." in empty.text
        token = csrf_of(empty.text)
        bad = admin.post("/admin/privacy", data={"csrf_token": token, "kind": "access", "phone": "09"})
        assert bad.status_code == 422 and "field phone: value &#39;09&#39;" in bad.text
        made = admin.post(
            "/admin/privacy",
            data={"csrf_token": token, "kind": "access", "phone": REFUSED, "detail": "Gọi tổng đài"},
            follow_redirects=True,
        )
        assert "Đã ghi nhận yêu cầu số 1." in made.text
        assert "098****222" in made.text and "17:00 03/12/2026" in made.text and REFUSED not in made.text
        done = admin.post("/admin/privacy/1", data={"csrf_token": token, "action": "done"})
        assert done.status_code == 200 and 'id="privacy-result"' in done.text
        assert "+84983000222" in done.text  # the subject's own data, shown to the admin who hands it over
        again = admin.post("/admin/privacy/1", data={"csrf_token": token, "action": "refuse", "reason": "x"})
        assert again.status_code == 422 and "already done" in again.text
        with province.service.factory() as session:
            actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "quantri")).all()
        assert {"privacy.request", "privacy.access"} <= set(actions)
    finally:
        province.service.engine.dispose()


async def test_erasure_erases_errors_naming_the_subjects_address(service: Service) -> None:
    """A notice refused because the subject's number opted out names the number in its error and its
    attempt's: an erasure left both."""
    from notifier.store.contacts import record_opt_out
    from notifier.store.models import DeliveryAttempt

    with service.factory() as session, session.begin():
        record_opt_out(session, "+84912345678", "file", service.clock.now(), reason="test", source="admin")
        item = dossier("PD-1", TrangThaiHoSo=2, NgayTiepNhan="20261201080000")
        assert not upsert(session, [item], service.clock.now(), source="test").errors
    service.scan()
    await service.dispatcher.drain()
    with service.factory() as session:
        errors = [e for e in session.scalars(select(Notification.error)) if e and "+84912345678" in e]
    assert errors  # the dispatcher's reason names the number
    workflow = PrivacyWorkflow.of(service)
    req = workflow.request(kind="erase", channel="officer", requested_by="CB01", phone="0912345678")
    workflow.done(req["id"], "CB01")
    with service.factory() as session:
        stored = [*session.scalars(select(Notification.error)), *session.scalars(select(DeliveryAttempt.error))]
    assert not [e for e in stored if e and "912345678" in e]


def test_processing_record_lists_what_citizens_send_with_its_retention(service: Service) -> None:
    """SMS received and the Zalo OA's webhook events hold what citizens wrote (and a name and phone): the
    record did not list them, nor the Zalo follower with the phone it shared."""
    record = PrivacyWorkflow.of(service).report()
    days = service.settings.retention.days
    by_data = {line.data: line.retention for line in record.lines}
    sms = [r for d, r in by_data.items() if d.startswith("Tin nhắn SMS công dân gửi đến")]
    zalo = [r for d, r in by_data.items() if d.startswith("Sự kiện Zalo OA gửi đến")]
    follower = [r for d, r in by_data.items() if d.startswith("Người quan tâm Zalo OA")]
    assert sms == [f"{days} ngày kể từ khi nhận; sau đó chỉ giữ kênh, mã tin, loại yêu cầu, thời gian"]
    assert zalo and zalo[0].startswith(f"{days} ngày sau khi xử lý")
    assert follower == ["Đến khi công dân yêu cầu xoá"]
