"""Accounts (admins only): list, create, lock, unlock; the first admin comes from `notifier user create`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from notifier.store import audit
from notifier.store.models import Agency, User
from notifier.web.admin.auth import AdminViewer, NotFound, checked_form, service_of
from notifier.web.admin.web import flash, page
from notifier.workflows.accounts import NewUser, UserError, create_user
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
    values = {
        k: str(form.get(k, "")).strip()
        for k in ("username", "role", "agency", "phone", "telegram_chat_id", "email")
    }
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
        return _render(request, 422, str(exc), values)
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
async def users_active(request: Request, viewer: AdminViewer, user_id: int) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    active = str(form.get("active", "")) == "1"

    def run() -> str:
        with service.factory() as session, session.begin():
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"tài khoản số {user_id}")
            if user.id == viewer.id and not active:
                raise UserError("Không thể tự khóa tài khoản của chính mình.")
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
        return _render(request, 422, str(exc))
    flash(request, f"Đã {'mở khóa' if active else 'khóa'} tài khoản {name}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/users", status_code=303)
