"""Accounts: admins list, create, lock, unlock others and reset their passwords and second factor; everyone
changes their own password, and admins may turn on a TOTP second factor ("Tài khoản của tôi").

The first admin comes from `notifier user create` (scripts/run prints the command at first start)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from notifier.store import audit
from notifier.store.models import Agency, User
from notifier.web.admin.auth import (
    AdminViewer,
    AnyViewer,
    NotFound,
    RowId,
    checked_form,
    form_values,
    service_of,
)
from notifier.web.admin.web import flash, page
from notifier.workflows.accounts import (
    NewUser,
    TotpEnrolment,
    UserError,
    change_own_password,
    confirm_totp,
    create_user,
    reset_password,
    second_factor_off,
    start_totp,
)
from notifier.workflows.errors import DomainError
from notifier.workflows.zalo_oa import LinkCode, new_link_code

router = APIRouter()


def _render(
    request: Request,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
    link: LinkCode | None = None,
    link_error: str | None = None,
) -> Response:
    service = service_of(request)
    with service.factory() as session:
        users = list(session.scalars(select(User).options(selectinload(User.agency)).order_by(User.username)))
        agencies = list(session.scalars(select(Agency).order_by(Agency.name)))
    return page(
        request,
        "users.html",
        status_code=status_code,
        users=users,
        agencies=agencies,
        error=error,
        form=form or {},
        link=link,
        link_error=link_error,
    )


@router.get("/users")
def users_page(request: Request, viewer: AdminViewer) -> Response:
    return _render(request)


@router.post("/users")
async def users_create(request: Request, viewer: AdminViewer) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    values = form_values(form, "username", "role", "agency", "phone", "telegram_chat_id", "email")
    password = str(form.get("password", ""))

    def run() -> str:
        with service.factory() as session, session.begin():
            user = create_user(
                session,
                NewUser(
                    values["username"],
                    values["role"],
                    values["agency"] or None,
                    values["phone"] or None,
                    values["telegram_chat_id"] or None,
                    values["email"] or None,
                ),
                password,
                service.clock.now(),
            )
            audit.record(
                session,
                service.clock.now(),
                viewer.username,
                "user.create",
                f"user:{user.username}",
                role=user.role,
                agency=values["agency"] or None,
            )
            return user.username

    try:
        name = await run_in_threadpool(run)
    except UserError as exc:
        return _render(request, 422, exc.vi, values)
    flash(request, f"Đã tạo tài khoản {name}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/users", status_code=303)


@router.post("/users/zalo-link-code")
async def zalo_link_code(request: Request, viewer: AdminViewer) -> Response:
    """A one-time code the officer sends to the Zalo OA ("LK <code>"). Shown once on this page, never put
    in the session cookie; only its hash is stored."""
    form = await checked_form(request)
    code = str(form.get("officer", "")).strip()
    try:
        link = await run_in_threadpool(new_link_code, service_of(request), code, viewer.username)
    except DomainError:
        return _render(request, 422, link_error=f"Mã cán bộ '{code}': không có cán bộ đang hoạt động.")
    return _render(request, link=link)


@router.post("/users/{user_id}/active")
async def users_active(request: Request, viewer: AdminViewer, user_id: RowId) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    active = str(form.get("active", "")) == "1"

    def run() -> str:
        with service.factory() as session, session.begin():
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"tài khoản số {user_id}")
            if user.id == viewer.id and not active:
                raise UserError("user: cannot lock oneself", "Không thể tự khóa tài khoản của chính mình.")
            user.active = active
            audit.record(
                session,
                service.clock.now(),
                viewer.username,
                "user.unlock" if active else "user.lock",
                f"user:{user.username}",
            )
            return user.username

    try:
        name = await run_in_threadpool(run)
    except UserError as exc:
        return _render(request, 422, exc.vi)
    flash(request, f"Đã {'mở khóa' if active else 'khóa'} tài khoản {name}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/users", status_code=303)


def _users_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/users"


def _username_of(request: Request, user_id: int) -> str:
    with service_of(request).factory() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"tài khoản số {user_id}")
        return user.username


@router.post("/users/{user_id}/password")
async def users_reset_password(request: Request, viewer: AdminViewer, user_id: RowId) -> Response:
    """Another account's new password, given by an admin; with the box ticked, its TOTP goes off too (the
    way back for someone who lost the phone)."""
    form = await checked_form(request)
    service = service_of(request)
    name = await run_in_threadpool(_username_of, request, user_id)
    if name == viewer.username:
        return _render(request, 422, "Đổi mật khẩu của chính mình ở trang “Tài khoản của tôi”.")
    off = str(form.get("second_factor_off", "")) == "1"
    try:
        await run_in_threadpool(
            reset_password, service, name, str(form.get("password", "")), viewer.username, off
        )
    except UserError as exc:
        return _render(request, 422, exc.vi)
    done = " và tắt xác thực hai lớp" if off else ""
    flash(
        request,
        f"Đã đặt lại mật khẩu{done} cho tài khoản {name}; các phiên đăng nhập của tài khoản đã kết thúc.",
    )
    return RedirectResponse(_users_url(request), status_code=303)


@router.post("/users/{user_id}/second-factor-off")
async def users_second_factor_off(request: Request, viewer: AdminViewer, user_id: RowId) -> Response:
    await checked_form(request)
    try:
        name = await run_in_threadpool(second_factor_off, service_of(request), user_id, viewer.username)
    except UserError as exc:
        raise NotFound(f"tài khoản số {user_id}") from exc
    flash(request, f"Đã tắt xác thực hai lớp của tài khoản {name}.")
    return RedirectResponse(_users_url(request), status_code=303)


# ------------------------------------------------------------------------------------- my own account


def _render_own(
    request: Request,
    viewer: AnyViewer,
    status_code: int = 200,
    error: str | None = None,
    totp_error: str | None = None,
    enrolment: TotpEnrolment | None = None,
) -> Response:
    with service_of(request).factory() as session:
        user = session.get(User, viewer.id)
        assert user is not None  # the viewer's session was just found with it
        totp_on = user.totp_enabled_at is not None
        totp_pending = user.totp_secret is not None and not totp_on
    qr = None
    if enrolment is not None:
        import segno

        # An SVG data: URI (the page's CSP allows data: images, nothing from elsewhere).
        qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    return page(
        request,
        "account.html",
        status_code=status_code,
        error=error,
        totp_error=totp_error,
        totp_on=totp_on,
        totp_pending=totp_pending,
        enrolment=enrolment,
        qr=qr,
    )


@router.get("/account")
def own_account(request: Request, viewer: AnyViewer) -> Response:
    return _render_own(request, viewer)


@router.post("/account/password")
async def own_password(request: Request, viewer: AnyViewer) -> Response:
    form = await checked_form(request)
    try:
        sid = await run_in_threadpool(
            change_own_password,
            service_of(request),
            viewer.id,
            str(form.get("current", "")),
            str(form.get("new", "")),
            str(form.get("confirm", "")),
        )
    except UserError as exc:
        return _render_own(request, viewer, 422, error=exc.vi)
    # Every session of the account ended with the old password; this browser goes on in a new one.
    request.session.clear()
    request.session["sid"] = sid
    flash(request, "Đã đổi mật khẩu. Các phiên đăng nhập khác của tài khoản đã kết thúc.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/account", status_code=303)


@router.post("/account/second-factor")
async def own_second_factor_start(request: Request, viewer: AdminViewer) -> Response:
    """A new secret, shown once in this answer (never stored in the cookie); a reload asks for another."""
    await checked_form(request)
    try:
        enrolment = await run_in_threadpool(start_totp, service_of(request), viewer.id)
    except UserError as exc:
        return _render_own(request, viewer, 422, totp_error=exc.vi)
    return _render_own(request, viewer, enrolment=enrolment)


@router.post("/account/second-factor/confirm")
async def own_second_factor_confirm(request: Request, viewer: AdminViewer) -> Response:
    form = await checked_form(request)
    if not await run_in_threadpool(confirm_totp, service_of(request), viewer.id, str(form.get("code", ""))):
        return _render_own(
            request,
            viewer,
            422,
            totp_error="Mã không đúng. Nhập mã đang hiện trong ứng dụng, hoặc tạo mã QR mới và quét lại.",
        )
    flash(request, "Đã bật xác thực hai lớp. Lần đăng nhập sau sẽ hỏi mã trong ứng dụng.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/account", status_code=303)
