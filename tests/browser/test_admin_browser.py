"""The admin page in a real headless Chromium: log in, edit with live preview, save, roll back, search the
log, retry, and agency isolation (also by typing URLs). Screenshots of the editor and the dashboard."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from notifier.store.models import Dossier, Notification, Template
from tests.browser.conftest import Live
from tests.browser.kit import PASSWORD, REFUSED, SKH, STP

PHONE = {"width": 390, "height": 844}
LONG_BODY = (
    "Hồ sơ {{ dossier.code }} của Ông/Bà {{ dossier.applicant_name }} đã được {{ agency.name }} "
    "tiếp nhận{% if dossier.due_at %}, hẹn trả kết quả ngày {{ dossier.due_at|date }}{% endif %}."
)
# Within the `received` kind's budget of two SMS parts, so it can be saved.
SAVED_BODY = "Hồ sơ {{ dossier.code }} của {{ dossier.applicant_name }} đã được tiếp nhận."


def log_in(page: Page, live: Live, username: str) -> None:
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name=re.compile("Tổng quan"))).to_be_visible()


def versions(live: Live, kind: str = "received", channel_type: str = "sms") -> list[Template]:
    with live.province.service.factory() as session:
        return list(
            session.scalars(
                select(Template)
                .where(Template.kind == kind, Template.channel_type == channel_type, Template.agency_id.is_(None))
                .order_by(Template.version)
            )
        )


def test_edit_preview_save_and_roll_back(live: Live, page: Page, screenshots: Path) -> None:
    log_in(page, live, "quantri")
    page.get_by_role("link", name="Mẫu tin nhắn").click()
    page.screenshot(path=str(screenshots / "templates.png"), full_page=True)
    page.locator('a[data-kind="received"][data-channel-type="sms"]').click()
    expect(page.get_by_role("heading", name=re.compile("Tiếp nhận hồ sơ"))).to_be_visible()
    before = versions(live)
    assert [t.version for t in before] == [1]

    # These texts are Jinja: the advanced mode, which an admin may choose (the clerks' language:
    # tests/browser/test_clerk_browser.py).
    page.locator("#syntax").select_option("jinja")
    # Live preview: a short text is one SMS; the long one with diacritics needs more UCS-2 parts.
    body = page.locator("#body")
    body.fill("Hồ sơ {{ dossier.code }} đã được tiếp nhận.")
    expect(page.locator("#preview-text")).to_contain_text("đã được tiếp nhận.")
    expect(page.locator("#sms-segments")).to_have_text("1")
    expect(page.locator("#sms-encoding")).to_have_text("UCS-2")
    body.fill(LONG_BODY)
    expect(page.locator("#preview-text")).to_contain_text("Nguyễn Thị Hương")
    expect(page.locator("#sms-segments")).to_have_text("3")
    expect(page.locator("#sms-cost")).to_have_text("2.400 đồng")
    expect(page.locator("#kd-encoding")).to_have_text("GSM-7")
    expect(page.locator("#kd-segments")).to_have_text("1")
    expect(page.locator("#kd-text")).to_contain_text("Nguyen Thi Huong da duoc So Xay dung")
    # Three parts is over the `received` kind's SMS budget of two: the editor says so, in Vietnamese.
    expect(page.locator("#preview-problems li")).to_have_count(1)
    expect(page.locator("#preview-problems li")).to_contain_text("vượt định mức 2 phần")

    # A real dossier instead of sample data.
    with live.province.service.factory() as session:
        code = session.scalar(select(Dossier.code).where(Dossier.status == 2).order_by(Dossier.id))
    page.locator("#dossier").fill(code)
    page.locator("#dossier").dispatch_event("change")
    expect(page.locator("#preview-text")).to_contain_text(code)

    # An unknown placeholder is named with its line, and saving stores nothing.
    body.fill("Dòng một\nHồ sơ {{ dossier.cod }}")
    expect(page.locator("#preview-problems")).to_contain_text("dòng 2")
    expect(page.locator("#preview-problems")).to_contain_text("dossier.cod")
    page.get_by_role("button", name="Lưu phiên bản mới").click()
    expect(page.locator("#preview-problems")).to_contain_text("có phải ý bạn là 'dossier.code'")
    assert [t.version for t in versions(live)] == [1]

    body.fill(LONG_BODY)
    expect(page.locator("#sms-segments")).to_have_text("3")
    page.screenshot(path=str(screenshots / "editor.png"), full_page=True)
    page.get_by_role("button", name="Lưu phiên bản mới").click()  # over the budget: refused
    expect(page.locator("#preview-problems")).to_contain_text("vượt định mức 2 phần")
    assert [t.version for t in versions(live)] == [1]
    body.fill(SAVED_BODY)
    page.get_by_role("button", name="Lưu phiên bản mới").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu phiên bản 2")
    saved = versions(live)
    assert [(t.version, t.author) for t in saved] == [(1, "system"), (2, "quantri")]
    assert saved[1].body == SAVED_BODY

    page.set_viewport_size(PHONE)
    page.screenshot(path=str(screenshots / "editor-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # History, diff, one-click rollback (a rollback is a new version).
    page.get_by_role("link", name="Lịch sử phiên bản").click()
    page.locator("#versions").get_by_role("link", name="Khác biệt").first.click()
    expect(page.locator("#diff .d-add").first).to_contain_text("applicant_name")
    page.go_back()
    page.locator('button[data-rollback="1"]').click()
    expect(page.get_by_role("status")).to_contain_text("Đã khôi phục phiên bản 1 thành phiên bản mới 3")
    after = versions(live)
    assert [t.version for t in after] == [1, 2, 3]
    assert after[2].body == before[0].body and after[2].author == "quantri"


def test_search_the_log_and_retry(live: Live, page: Page, screenshots: Path) -> None:
    log_in(page, live, "quantri")
    page.get_by_role("link", name="Nhật ký gửi tin").click()
    page.get_by_label("Số điện thoại").fill("0983 000 222")
    page.get_by_role("button", name="Tìm").click()
    rows = page.locator("#log-table tbody tr")
    # The dossier's officer alerts come up too (they are about the same dossier); the citizen's rows show
    # the number masked.
    expect(page.locator("#log-table")).to_contain_text("098****222")
    assert "0983000222" not in page.content() and REFUSED not in page.content()
    page.screenshot(path=str(screenshots / "log.png"), full_page=True)
    citizen_rows = rows.filter(has_text="098****222")
    count = citizen_rows.count()
    assert count >= 1
    for i in range(count):  # the gateway refuses this number for good
        expect(citizen_rows.nth(i)).to_contain_text("Thất bại")

    # By dossier code and status.
    with live.province.service.factory() as session:
        failed = session.scalars(select(Notification).where(Notification.status == "failed")).first()
        assert failed is not None
        code = session.scalar(select(Dossier.code).where(Dossier.id == failed.dossier_id))
    page.get_by_label("Số điện thoại").fill("")
    page.get_by_label("Mã hồ sơ").fill(code)
    page.get_by_label("Trạng thái").select_option("failed")
    page.get_by_role("button", name="Tìm").click()
    expect(page.locator("#log-total")).to_have_text("1 thông báo")
    page.locator("#log-table tbody tr a").first.click()
    expect(page.locator("#attempts-table")).to_contain_text("Lỗi vĩnh viễn")
    expect(page.locator("#attempts-table")).to_contain_text("21211")
    page.screenshot(path=str(screenshots / "log-detail.png"), full_page=True)
    page.get_by_role("button", name="Gửi lại").click()
    expect(page.get_by_role("status")).to_contain_text("trở lại hàng đợi")
    expect(page.locator("#status")).to_have_text("Chờ gửi")
    expect(page.locator("#attempts")).to_have_text("0")


def test_an_agency_user_sees_only_its_agency(live: Live, page: Page) -> None:
    service = live.province.service
    with service.factory() as session:
        other = session.scalars(
            select(Notification.id).join(Dossier).where(Dossier.code.startswith(SKH))
        ).first()
    log_in(page, live, "stp")
    expect(page.locator("header")).to_contain_text("Sở Tư pháp")
    page.get_by_role("link", name="Nhật ký gửi tin").click()
    codes = page.locator("#log-table tbody tr td:nth-child(3)").all_inner_texts()
    # Officer digests carry no dossier ("—"); they are the agency's own officers' messages.
    assert any(c.startswith(STP) for c in codes), codes
    assert all(c.startswith(STP) or c == "—" for c in codes), codes
    expect(page.get_by_role("link", name="Từ chối nhận tin")).to_have_count(0)

    # Typing another agency's addresses does not help.
    response = page.goto(f"{live.url}/log/{other}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Không tìm thấy")).to_be_visible()
    response = page.goto(f"{live.url}/templates/sms/received?agency={SKH}")
    assert response is not None and response.status == 404
    response = page.goto(f"{live.url}/log?code={SKH}-261201-0011")
    assert response is not None and response.status == 200
    expect(page.locator("#log-total")).to_have_text("0 thông báo")
    response = page.goto(f"{live.url}/contacts")
    assert response is not None and response.status == 403
    export = page.request.get(f"{live.url}/log.csv")  # the page's own cookies
    assert export.status == 200 and STP in export.text() and SKH not in export.text()

    # The dashboard counts only the agency's own dossiers.
    page.goto(live.url + "/")
    expect(page.locator("#overdue-table")).to_contain_text("Sở Tư pháp")
    expect(page.locator("#overdue-table")).not_to_contain_text("Kế hoạch")


def test_dashboard(live: Live, page: Page, screenshots: Path) -> None:
    log_in(page, live, "quantri")
    expect(page.locator("#today-table")).to_contain_text("scripted_sms")
    expect(page.locator("#overdue-table")).to_contain_text("UBND phường Lê Chân")
    expect(page.locator("svg.chart")).to_contain_text("Sở Tư pháp thành phố Hải Phòng")
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(screenshots / "dashboard-phone.png"), full_page=True)
