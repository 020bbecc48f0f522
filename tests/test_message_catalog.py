"""The words code puts into notifications (status names, the money unit, the salutation, the officers'
alert buttons) come from the `messages` catalog: an edited catalog changes what is sent, and English is
complete."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po, write_po

from notifier.cli import catalogs
from notifier.rules import i18n, phrases
from notifier.rules.clerk import business_flag_expression, fields_for, salutation_expression
from notifier.rules.clock import FixedClock
from notifier.rules.kinds import Kind
from notifier.rules.officer_buttons import BUTTON_NEW_DATE, BUTTON_RESOLVED, alert_buttons
from notifier.rules.rendering import format_money, render
from notifier.rules.statuses import STATUS_NAMES, status_name
from notifier.workflows.ingest import upsert
from notifier.workflows.officer_import import upsert_officers
from tests.conftest import migrated_service
from tests.factories import dossier, officers, ts

VIETNAMESE = re.compile("[àáảãạăắằẳẵặâấầẩẫậèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵđ]", re.I)


def _forget_translations() -> None:
    i18n.translations.cache_clear()
    phrases.t.cache_clear()


@pytest.fixture
def edited_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the shipped catalogs in which every Vietnamese `messages` entry reads «msgid», as if a
    translator had reworded them all."""
    locales = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo"))
    po = locales / "vi" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="vi", domain="messages")
    for message in catalog:
        if message.id:
            message.string = f"«{message.id}»"
    with po.open("wb") as handle:
        write_po(handle, catalog)
    monkeypatch.setattr(i18n, "LOCALES_DIR", locales)
    _forget_translations()
    yield
    _forget_translations()  # before the monkeypatch is undone, so the next test reads the shipped catalog


def _english() -> dict[str, str]:
    catalog = catalogs.load("en", "messages")
    assert catalog is not None
    return {str(m.id): str(m.string) for m in catalog if m.id}


def test_every_status_name_comes_from_the_catalog(edited_catalog: None) -> None:
    assert {code: status_name(code) for code in STATUS_NAMES} == {
        code: f"«{name}»" for code, name in STATUS_NAMES.items()
    }
    assert status_name(42) == "«Không rõ (42)»"


def test_the_money_unit_and_the_salutation_come_from_the_catalog(edited_catalog: None) -> None:
    assert render("{{ 1500000|money }}", {}) == "1.500.000 «đồng»"
    business = {"dossier": SimpleNamespace(applicant_kind="business")}
    citizen = {"dossier": SimpleNamespace(applicant_kind="citizen")}
    assert render("{{ " + salutation_expression() + " }}", business) == "«Quý tổ chức»"
    assert render("{{ " + salutation_expression() + " }}", citizen) == "«Ông/Bà»"
    assert render("{{ " + business_flag_expression() + " }}", business) == "«có»"
    assert render("{{ " + business_flag_expression() + " }}", citizen) == ""
    # The buttons an officer's alert carries in chat.
    assert [label for label, _ in alert_buttons(Kind.APOLOGY_DUE, 7)] == [
        f"«{BUTTON_NEW_DATE}»",
        f"«{BUTTON_RESOLVED}»",
    ]


def test_the_shipped_vietnamese_is_the_msgid() -> None:
    # The catalog's Vietnamese is the text the templates' exact-text tests expect.
    assert [status_name(code) for code in STATUS_NAMES] == list(STATUS_NAMES.values())
    assert format_money(1_500_000) == "1.500.000 đồng"
    business = {"dossier": SimpleNamespace(applicant_kind="business")}
    assert render("{{ " + fields_for(Kind.RECEIVED)["xung_ho"].expression + " }}", business) == "Quý tổ chức"


def test_english_is_complete_and_free_of_vietnamese() -> None:
    english = _english()
    assert set(english) == {str(m.id) for m in catalogs.extract("messages") if m.id}
    assert all(text and not VIETNAMESE.search(text) for text in english.values()), english
    assert {code: status_name(code, "en") for code in STATUS_NAMES} == {
        code: english[name] for code, name in STATUS_NAMES.items()
    }
    assert status_name(42, "en") == "Unknown (42)"
    assert format_money(1_500_000, "en") == "1,500,000 VND"
    business = {"dossier": SimpleNamespace(applicant_kind="business")}
    citizen = {"dossier": SimpleNamespace(applicant_kind="citizen")}
    assert render("{{ " + salutation_expression("en") + " }}", business) == english["Quý tổ chức"]
    assert render("{{ " + salutation_expression("en") + " }}", citizen) == english["Ông/Bà"]
    assert [label for label, _ in alert_buttons(Kind.APOLOGY_DUE, 7, "en")] == [
        english[BUTTON_NEW_DATE],
        english[BUTTON_RESOLVED],
    ]


async def test_dispatched_messages_carry_the_catalog_words(
    edited_catalog: None, db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    # The whole way: import, scan, render, send to the file channel (e-mail templates, which name the status).
    outbox = tmp_path / "outbox.jsonl"
    svc = migrated_service(db_url, tmp_path, clock, channels={"file": {"path": str(outbox), "template": "email"}})
    try:
        with svc.factory() as session, session.begin():
            upsert_officers(session, officers())
            items = [
                dossier("LATE", MaCanBo="CB02", NgayHenTra=ts(2026, 11, 27, 17, 0)),
                dossier("FEE", TrangThaiHoSo=6, DaThanhToan=0, NgayTiepNhan=ts(2026, 12, 1, 8, 0)),
            ]
            assert not upsert(session, items, svc.clock.now(), source="test").errors
        svc.scan()
        await svc.dispatcher.drain()
    finally:
        svc.engine.dispose()
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    texts = {(x["kind"], x["dossier_code"]): x["text"] for x in lines}
    assert "- Trạng thái: «Đang xử lý»\n" in texts[("overdue_alert", "LATE")]
    assert "200.000 «đồng»" in texts[("payment_requested", "FEE")]
