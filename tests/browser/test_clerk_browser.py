"""A clerk's template in a real headless Chromium: the field list, a mistake shown at its line, saving,
a preview on a real dossier, history, diff, rollback, and a test send of text that was never saved."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from notifier.store.models import Dossier, Notification, Template
from tests.browser.conftest import Live
from tests.browser.test_admin_browser import log_in


def _versions(live: Live) -> list[Template]:
    with live.province.service.factory() as session:
        return list(
            session.scalars(
                select(Template)
                .where(
                    Template.kind == "received", Template.channel_type == "sms", Template.agency_id.is_(None)
                )
                .order_by(Template.version)
            )
        )


def test_write_a_template_with_the_field_list_save_and_roll_back(
    live: Live, page: Page, screenshots: Path
) -> None:
    log_in(page, live, "quantri")
    page.goto(live.url + "/templates/sms/received")
    expect(page.locator("#mode-badge")).to_contain_text("Mẫu đơn giản")
    body = page.locator("#body")
    gutter = page.locator("#gutter")

    # Typed text and fields inserted from the list at the cursor, by keyboard: Tab to a field, Enter.
    body.fill("")
    body.type("Hồ sơ ")
    field = page.locator('.field-button[data-field="ma_ho_so"]')
    field.focus()
    page.keyboard.press("Enter")
    expect(body).to_have_value("Hồ sơ ((ma_ho_so))")
    body.press("End")
    body.type(" của ")
    page.locator('.field-button[data-field="co_quan_ngan"]').click()
    body.press("End")
    body.type(" đã được tiếp nhận((ngay_hen_tra??, hẹn trả ((ngay_hen_tra)))).")
    expect(page.locator("#preview-text")).to_contain_text(
        re.compile(r"Hồ sơ \S+ của So XD Hai Phong đã được tiếp nhận, hẹn trả \d\d/\d\d/\d{4}\.")
    )
    expect(page.locator("#preview-problems li")).to_have_count(0)

    # A mistake on line 3: the Vietnamese message names the line and the gutter marks it.
    good = body.input_value()
    body.fill(good + "\n\nCảm ơn ((xung_ho)), xem ((ngay_hen_tr)).")
    expect(page.locator("#preview-problems")).to_contain_text("Nội dung, dòng 3")
    expect(page.locator("#preview-problems")).to_contain_text("có phải ý bạn là ((ngay_hen_tra))?")
    expect(gutter.locator("span.err")).to_have_text(["3"])
    page.screenshot(path=str(screenshots / "clerk-editor-error.png"), full_page=True)
    page.get_by_role("button", name="Lưu phiên bản mới").click()
    expect(page.locator("#refusal")).to_contain_text("Chưa lưu.")
    expect(page.locator("#refusal")).to_contain_text("dòng 3")
    expect(body).to_have_value(good + "\n\nCảm ơn ((xung_ho)), xem ((ngay_hen_tr)).")
    expect(gutter.locator("span.err")).to_have_text(["3"])
    assert [t.version for t in _versions(live)] == [1]

    # A real dossier, by code, updates the preview.
    with live.province.service.factory() as session:
        code = session.scalar(select(Dossier.code).where(Dossier.status == 2).order_by(Dossier.id))
    body.fill(good)
    page.locator("#dossier").fill(code)
    page.locator("#dossier").dispatch_event("change")
    expect(page.locator("#preview-text")).to_contain_text(f"Hồ sơ {code} của")

    page.get_by_role("button", name="Lưu phiên bản mới").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu phiên bản 2")
    saved = _versions(live)
    assert [(t.version, t.syntax, t.body) for t in saved[1:]] == [(2, "simple", good)]
    page.screenshot(path=str(screenshots / "clerk-editor.png"), full_page=True)

    # History, diff against version 1, and a rollback that makes version 3.
    page.get_by_role("link", name="Lịch sử phiên bản").click()
    page.locator("#versions").get_by_role("link", name="Khác biệt").first.click()
    expect(page.locator("#diff .d-add").first).to_contain_text(
        "((ngay_hen_tra??, hẹn trả ((ngay_hen_tra))))."
    )
    page.go_back()
    page.locator('button[data-rollback="1"]').click()
    expect(page.get_by_role("status")).to_contain_text("Đã khôi phục phiên bản 1 thành phiên bản mới 3")
    after = _versions(live)
    assert [(t.version, t.syntax) for t in after] == [(1, "simple"), (2, "simple"), (3, "simple")]
    assert after[2].body == after[0].body


def test_a_test_send_of_unsaved_text(live: Live, page: Page) -> None:
    log_in(page, live, "quantri")
    page.goto(live.url + "/templates/sms/received")
    versions = [t.version for t in _versions(live)]
    text = "THỬ NGHIỆM ((ma_ho_so)) chưa lưu"
    page.locator("#body").fill(text)
    page.get_by_role("button", name="Gửi thử cho tôi").click()
    expect(page.locator("#notice")).to_contain_text("Đã xếp tin thử")
    expect(page.locator("#body")).to_have_value(text)  # the screen keeps what was typed
    assert [t.version for t in _versions(live)] == versions  # nothing saved
    with live.province.service.factory() as session:
        row = session.scalar(
            select(Notification).where(Notification.is_test).order_by(Notification.id.desc())
        )
        assert row is not None and row.dossier_id is None and row.status == "queued"
