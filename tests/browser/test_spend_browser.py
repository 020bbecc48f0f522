"""The dashboard's spend table in a real headless Chromium: an agency past the warning threshold of its
monthly SMS budget, on a laptop and on a phone (screenshots)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from playwright.sync_api import Page, expect

from notifier.workflows.ingest import upsert
from tests.browser.conftest import Live
from tests.browser.kit import PASSWORD, STP
from tests.factories import dossier, ts

PHONE = {"width": 390, "height": 844}


def test_the_dashboard_shows_this_months_spend_against_the_budget(
    live: Live, page: Page, screenshots: Path
) -> None:
    service, sms = live.province.service, live.province.sms
    # From now on the scripted gateway costs 800 đồng a part and Sở Tư pháp has 10.000 đồng a month on it
    # (this module's own live server: nothing else sees the change). The scripted gateway is put into the
    # registry, not configured, so a budget on it is set on the running service, after the dispatcher's
    # start-up check (which refuses budgets on unconfigured channels) has passed.
    assert service.dispatcher is not None
    sms.settings.price_vnd = 800
    service.settings.spend.agencies[STP] = {"scripted_sms": 10_000}
    items = [
        dossier(
            f"{STP}-261201-{i:04d}",
            MaDonVi=STP,
            TrangThaiHoSo=2,
            NgayTiepNhan=ts(2026, 12, 1, 8, 0),
            SoDienThoai=f"09120{i:05d}",
        )
        for i in range(5)
    ]
    with service.factory() as session, session.begin():
        assert not upsert(session, items, service.clock.now(), source="test").errors
    service.scan()
    # Playwright's sync API holds this thread's event loop: the dispatcher drains in a thread of its own.
    worker = threading.Thread(target=lambda: asyncio.run(service.dispatcher.drain()))
    worker.start()
    worker.join()

    page.goto(live.url + "/")
    page.get_by_label("Tên đăng nhập").fill("quantri")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    table = page.locator("#spend-table")
    expect(page.get_by_role("heading", name="Chi phí gửi tin tháng 12/2026")).to_be_visible()
    row = table.locator("tr", has_text="scripted_sms").filter(has_text="10.000")
    expect(row).to_contain_text("Sở Tư pháp")
    expect(row).to_contain_text("Đã đến ngưỡng cảnh báo")
    page.locator("#spend-table").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "dashboard-spend.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(screenshots / "dashboard-spend-phone.png"), full_page=True)
