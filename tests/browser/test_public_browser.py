"""The public dossier page (/tra-cuu) in Debian's headless Chromium at phone size (360×740): look-up, QR
link, timeline, the apology letter's download, subscribe, opt-out, feedback and the English view, with
screenshots, and axe-core (from npm, installed by scripts/test) finding no serious or critical problem."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from notifier.store.models import ConsentRecord, Contact, Feedback
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.officer_actions import Actor, ApologyWorkflow
from notifier.workflows.public_links import public_url
from tests.browser.conftest import Live
from tests.factories import dossier, ts

PHONE = {"width": 360, "height": 740}
CODE = "000.00.30.H26-261125-0042"
AXE = Path(
    os.environ.get(
        "NOTIFIER_AXE", Path.home() / ".cache" / "notifier-axe" / "node_modules/axe-core/axe.min.js"
    )
)


@pytest.fixture(scope="module", autouse=True)
def link_secret() -> Iterator[None]:
    # The links are signed with this key rather than a key file made in the working directory.
    os.environ["NOTIFIER_PUBLIC_LINK_SECRET"] = "khoa-thu-nghiem-trang-cong-khai"
    yield
    os.environ.pop("NOTIFIER_PUBLIC_LINK_SECRET", None)


@pytest.fixture(scope="module")
def site(live: Live) -> str:
    """The live server's root, with one overdue dossier that went through a supplement request, an
    inter-agency step and an apology letter."""
    service = live.province.service
    imports = ImportWorkflow(service)
    base = dict(
        NgayTiepNhan=ts(2026, 11, 25, 8, 30),
        NgayHenTra=ts(2026, 11, 30, 17, 0),
        SoDienThoai="0912345678",
        Email="an.nguyen@example.vn",
    )
    imports.dossiers([dossier(CODE, TrangThaiHoSo=5, **base)], "test")
    imports.dossiers([dossier(CODE, TrangThaiHoSo=4, **base)], "test")
    ApologyWorkflow(service).set_new_date(
        CODE, "10/12/2026", "Cần xác minh thêm tại địa phương", Actor("test")
    )
    return live.url.removesuffix("/admin")


@pytest.fixture
def phone(browser) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport=PHONE, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def axe_problems(browser: Any, url: str, cookies: list[Any]) -> list[str]:
    """Serious and critical axe-core findings on `url`. axe is a script, which the page's policy refuses
    (as it should): it runs in a context that bypasses the policy, with the same cookies."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/test installs axe-core from npm")
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale="vi-VN")
    try:
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(url)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document)")
    finally:
        context.close()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def look_up(page: Page, site: str, code: str, digits: str) -> None:
    page.goto(site + "/tra-cuu")
    page.get_by_label("Mã hồ sơ").fill(code)
    page.get_by_label("4 số cuối điện thoại").fill(digits)
    page.get_by_role("button", name="Tra cứu").click()


def test_lookup_timeline_and_english(site: str, phone: Page, browser, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    phone.goto(site + "/tra-cuu")
    expect(phone.get_by_role("heading", name="Tra cứu hồ sơ thủ tục hành chính")).to_be_visible()
    phone.screenshot(path=str(screenshots / "public-lookup.png"), full_page=True)
    assert axe_problems(browser, site + "/tra-cuu", []) == []

    look_up(phone, site, CODE, "0000")
    expect(phone.get_by_role("alert")).to_contain_text("Không tìm thấy hồ sơ")
    phone.screenshot(path=str(screenshots / "public-not-found.png"), full_page=True)

    look_up(phone, site, CODE, "5678")
    expect(phone.get_by_role("heading", name=f"Hồ sơ {CODE}")).to_be_visible()
    timeline = phone.locator("ol.tl")
    for step in ("Tiếp nhận hồ sơ", "Yêu cầu bổ sung giấy tờ", "Đã bổ sung giấy tờ", "Văn bản xin lỗi"):
        expect(timeline).to_contain_text(step)
    expect(timeline).to_contain_text("10/12/2026")
    expect(phone.locator("body")).to_contain_text("091****678")
    # The inline style sheet applies under the page's policy (allowed by its hash): the header's rule.
    border = phone.locator("header").evaluate("e => getComputedStyle(e).borderBottomStyle")
    assert border == "solid"
    phone.screenshot(path=str(screenshots / "public-dossier.png"), full_page=True)
    cookies = phone.context.cookies()
    assert axe_problems(browser, site + "/tra-cuu/ho-so", cookies) == []

    phone.get_by_role("link", name="English").click()
    expect(phone.get_by_role("heading", name=f"Application {CODE}")).to_be_visible()
    expect(phone.locator("ol.tl")).to_contain_text("Application received")
    assert phone.locator("html").get_attribute("lang") == "en"
    phone.screenshot(path=str(screenshots / "public-dossier-en.png"), full_page=True)
    assert axe_problems(browser, site + "/tra-cuu/ho-so?lang=en", cookies) == []
    # The choice is kept: the look-up page is in English too, and offers the way back.
    phone.goto(site + "/tra-cuu")
    expect(phone.get_by_role("heading", name="Look up an administrative application")).to_be_visible()
    phone.get_by_role("link", name="Tiếng Việt").click()
    expect(phone.get_by_role("heading", name="Tra cứu hồ sơ thủ tục hành chính")).to_be_visible()


def test_qr_link_and_letter_download(site: str, phone: Page, live: Live, screenshots: Path) -> None:
    service = live.province.service
    url = public_url(service.settings, CODE, service.clock.now().date())
    phone.goto(site + urlsplit(url).path)
    expect(phone.get_by_role("heading", name=f"Hồ sơ {CODE}")).to_be_visible()
    with phone.expect_download() as info:
        phone.get_by_role("link", name="Tải văn bản xin lỗi (PDF)").click()
    download = info.value
    target = screenshots.parent / "public-apology.pdf"
    download.save_as(target)
    assert target.read_bytes().startswith(b"%PDF-")
    target.unlink()
    phone.goto(site + "/tra-cuu/q/" + "000.00.30.H26-261125-0042~abc~forged")
    expect(phone.get_by_role("heading", name="Liên kết không mở được hồ sơ")).to_be_visible()
    phone.screenshot(path=str(screenshots / "public-link-refused.png"), full_page=True)


def test_subscribe_opt_out_and_feedback(site: str, phone: Page, live: Live, screenshots: Path) -> None:
    service = live.province.service
    look_up(phone, site, CODE, "5678")
    sms = phone.locator("form", has=phone.locator('input[name="kenh"][value="sms"]'))
    sms.get_by_role("button", name="Ngừng nhận thông báo").click()
    expect(phone.get_by_role("status")).to_contain_text("không nhận thông báo qua kênh này")
    phone.get_by_role("link", name="Quay lại hồ sơ").click()
    sms = phone.locator("form", has=phone.locator('input[name="kenh"][value="sms"]'))
    expect(sms).to_contain_text("đang tắt thông báo")
    # Receiving again needs the consent box: the browser refuses the form until it is ticked.
    sms.get_by_role("button", name="Đăng ký nhận thông báo").click()
    expect(phone.get_by_role("heading", name=f"Hồ sơ {CODE}")).to_be_visible()
    sms.get_by_role("checkbox").check()
    sms.get_by_role("button", name="Đăng ký nhận thông báo").click()
    expect(phone.get_by_role("status")).to_contain_text("Bạn sẽ nhận thông báo")
    with service.factory() as session:
        contact = session.scalars(
            select(Contact).where(Contact.address == "+84912345678", Contact.medium == "sms")
        ).one()
        assert contact.opted_out_at is None and contact.source == "web"
        consent = session.scalars(
            select(ConsentRecord).where(
                ConsentRecord.address == "+84912345678", ConsentRecord.channel == "web"
            )
        ).one()
        assert consent.withdrawn_at is None

    phone.get_by_role("link", name="Quay lại hồ sơ").click()
    phone.get_by_label("Nội dung", exact=True).fill("Hồ sơ đã quá hạn, xin cho biết khi nào có kết quả.")
    form = phone.locator("form", has=phone.get_by_label("Nội dung", exact=True))
    form.get_by_role("checkbox").check()
    phone.screenshot(path=str(screenshots / "public-feedback.png"), full_page=True)
    form.get_by_role("button", name="Gửi phản ánh").click()
    expect(phone.get_by_role("heading", name="Đã gửi phản ánh")).to_be_visible()
    with service.factory() as session:
        texts = [f.text for f in session.scalars(select(Feedback).where(Feedback.chat_id.like("web:%")))]
    assert texts == ["Hồ sơ đã quá hạn, xin cho biết khi nào có kết quả."]
    assert re.search(r"Đã gửi phản ánh", phone.content())
