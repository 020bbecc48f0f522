"""Accounts and the delivery log in a real headless Chromium: one's own password change, TOTP enrolment
(QR code and secret) and a log-in asking the code, a search by part of a dossier code and a retry.
Screenshots of the account page with its QR code and of the code step."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from notifier.store.models import AuditEntry, Dossier, Notification, User
from tests.browser.conftest import Live
from tests.browser.kit import PASSWORD

NEW = "mat-khau-moi-cua-stp-2027"


def password_step(page: Page, live: Live, username: str, password: str) -> None:
    page.goto(live.url + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()


def test_change_ones_own_password(live: Live, page: Page) -> None:
    password_step(page, live, "stp", PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("Tổng quan"))).to_be_visible()
    page.locator("#my-account").click()
    expect(page.get_by_role("heading", name="Tài khoản của tôi")).to_be_visible()
    expect(page.locator("#second-factor")).to_have_count(0)  # an agency officer has no second factor
    form = page.locator("#password-form")
    form.get_by_label("Mật khẩu hiện tại").fill("khong-dung-mat-khau")
    form.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill(NEW)
    form.get_by_label("Nhập lại mật khẩu mới").fill(NEW)
    form.get_by_role("button", name="Đổi mật khẩu").click()
    expect(page.locator("#password-error")).to_have_text("Mật khẩu hiện tại không đúng.")
    form = page.locator("#password-form")
    form.get_by_label("Mật khẩu hiện tại").fill(PASSWORD)
    form.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill(NEW)
    form.get_by_label("Nhập lại mật khẩu mới").fill(NEW)
    form.get_by_role("button", name="Đổi mật khẩu").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đổi mật khẩu")
    page.get_by_role("link", name="Nhật ký gửi tin").click()  # still logged in
    expect(page.get_by_role("heading", name="Nhật ký gửi tin")).to_be_visible()
    log_out(page)
    password_step(page, live, "stp", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("không đúng")
    password_step(page, live, "stp", NEW)
    expect(page.get_by_role("heading", name=re.compile("Tổng quan"))).to_be_visible()


def test_totp_enrolment_and_log_in_with_the_code(live: Live, page: Page, screenshots: Path) -> None:
    clock = live.province.service.clock
    password_step(page, live, "quantri", PASSWORD)
    page.locator("#my-account").click()
    expect(page.locator("#totp-state")).to_contain_text("Chưa bật")
    page.get_by_role("button", name="Bật xác thực hai lớp").click()
    expect(page.locator("#totp-qr")).to_be_visible()
    box = page.locator("#totp-qr").bounding_box()
    assert box is not None and box["width"] >= 200  # a QR code a phone can read off the screen
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.screenshot(path=str(screenshots / "account-totp.png"), full_page=True)
    totp = pyotp.TOTP(secret)
    page.locator("#totp-confirm").get_by_label("Mã xác thực").fill("000000" if totp.at(clock.now()) != "000000" else "111111")
    page.get_by_role("button", name="Xác nhận và bật").click()
    expect(page.locator("#totp-error")).to_contain_text("Mã không đúng")
    page.locator("#totp-confirm").get_by_label("Mã xác thực").fill(totp.at(clock.now()))
    page.get_by_role("button", name="Xác nhận và bật").click()
    expect(page.get_by_role("status")).to_contain_text("Đã bật xác thực hai lớp")
    expect(page.locator("#totp-state")).to_contain_text("Đang bật")
    log_out(page)

    clock.advance(timedelta(seconds=30))  # the next code: the one used to enrol is never accepted again
    password_step(page, live, "quantri", PASSWORD)
    expect(page.get_by_role("heading", name="Mã xác thực")).to_be_visible()
    page.screenshot(path=str(screenshots / "login-code.png"), full_page=True)
    page.goto(live.url + "/")  # the password alone opens nothing
    expect(page).to_have_url(re.compile(r"/admin/login"))
    password_step(page, live, "quantri", PASSWORD)
    page.get_by_label("Mã xác thực").fill(totp.at(clock.now() - timedelta(seconds=30)))  # the used one
    page.get_by_role("button", name="Xác nhận").click()
    expect(page.get_by_role("alert")).to_contain_text("Mã xác thực không đúng")
    page.get_by_label("Mã xác thực").fill(totp.at(clock.now()))
    page.get_by_role("button", name="Xác nhận").click()
    expect(page.get_by_role("heading", name=re.compile("Tổng quan"))).to_be_visible()
    with live.province.service.factory() as session:
        user = session.scalar(select(User).where(User.username == "quantri"))
        assert user is not None and user.totp_enabled_at is not None
    # Back to no second factor, for the other tests of this module's server.
    with live.province.service.factory() as session, session.begin():
        user = session.scalar(select(User).where(User.username == "quantri"))
        assert user is not None
        user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None


def test_search_the_log_by_part_of_a_code_and_retry(live: Live, page: Page, screenshots: Path) -> None:
    with live.province.service.factory() as session:
        failed = session.scalars(
            select(Notification).where(Notification.status == "failed").order_by(Notification.id)
        ).first()
        assert failed is not None
        code = session.scalar(select(Dossier.code).where(Dossier.id == failed.dossier_id))
        assert code is not None
    part = code.rsplit("-", 1)[1]  # "0011": the number the citizen reads out on the phone
    password_step(page, live, "quantri", PASSWORD)
    page.get_by_role("link", name="Nhật ký gửi tin").click()
    page.get_by_label("Mã hồ sơ").fill(part)
    page.get_by_label("Trạng thái").select_option("failed")
    page.get_by_role("button", name="Tìm").click()
    expect(page.locator("#log-table")).to_contain_text(code)
    page.locator("#log-table tbody tr", has_text=code).locator("a").first.click()
    expect(page.locator("#channel")).to_have_text("scripted_sms")
    expect(page.locator("#recipient")).to_have_text(re.compile(r"^0\d{2}\*{4}\d{3}$"))  # masked
    page.screenshot(path=str(screenshots / "log-detail-channel.png"), full_page=True)
    page.get_by_role("button", name="Gửi lại").click()
    expect(page.get_by_role("status")).to_contain_text("trở lại hàng đợi")
    expect(page.locator("#status")).to_have_text("Chờ gửi")
    expect(page.get_by_role("button", name="Gửi lại")).to_have_count(0)  # no longer failed
    expect(page.locator("main")).to_contain_text("quantri · Gửi lại")
    with live.province.service.factory() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.target == f"notification:{failed.id}"))
        assert entry is not None and entry.action == "notification.retry" and entry.actor == "quantri"


def test_an_admin_resets_another_accounts_password(live: Live, page: Page, screenshots: Path) -> None:
    password_step(page, live, "quantri", PASSWORD)
    page.get_by_role("link", name="Tài khoản", exact=True).click()
    expect(page.get_by_role("heading", name="Tài khoản", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshots / "users.png"), full_page=True)
    page.get_by_label("Mật khẩu mới cho skh").fill("mat-khau-dat-lai-cho-skh")
    page.locator('form.reset-password[data-user="skh"]').get_by_role("button", name="Đặt lại").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đặt lại mật khẩu cho tài khoản skh")
    log_out(page)
    password_step(page, live, "skh", "mat-khau-dat-lai-cho-skh")
    expect(page.get_by_role("heading", name=re.compile("Tổng quan"))).to_be_visible()
