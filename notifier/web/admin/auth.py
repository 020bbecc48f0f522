"""Who is looking: the session cookie, CSRF tokens on every form, roles and agency scoping, login."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import ColumnElement, SQLColumnExpression, false, select, true
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from notifier.config import AdminSettings
from notifier.rules.ratelimit import ADMIN_LOGIN, FailureLimit, LoginRules
from notifier.store.limits import LoginFailures
from notifier.store.models import Agency, User
from notifier.web.admin.web import csrf_token, page
from notifier.workflows.accounts import authenticate
from notifier.workflows.service import Service

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    """Raised for pages a role may not use; data of another agency is answered 404 instead."""


class CsrfFailed(Exception):
    pass


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class Viewer:
    id: int
    username: str
    role: str
    agency_id: int | None
    agency_code: str | None
    agency_name: str | None
    phone: str | None
    telegram_chat_id: str | None
    email: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees(self, agency_id: int | None) -> bool:
        """May this viewer see data of `agency_id` (None = province-wide rows, admins only)."""
        return self.is_admin or (agency_id is not None and agency_id == self.agency_id)

    def scope(self, column: SQLColumnExpression[Any]) -> ColumnElement[bool]:
        """A WHERE clause keeping only rows of the viewer's agency (everything for an admin)."""
        if self.is_admin:
            return true()
        if self.agency_id is None:
            return false()
        return column == self.agency_id


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _fingerprint(user: User) -> str:
    # A password change (or a re-hash) ends every session that was opened with the old one.
    return user.password_hash[-16:]


def _load_viewer(service: Service, uid: int, fingerprint: str) -> Viewer | None:
    with service.factory() as session:
        row = session.execute(
            select(User, Agency).outerjoin(Agency, Agency.id == User.agency_id).where(User.id == uid)
        ).first()
    if row is None:
        return None
    user, agency = row
    if not user.active or not hmac.compare_digest(_fingerprint(user), fingerprint):
        return None
    return Viewer(
        id=user.id,
        username=user.username,
        role=user.role,
        agency_id=user.agency_id,
        agency_code=agency.code if agency else None,
        agency_name=agency.name if agency else None,
        phone=user.phone,
        telegram_chat_id=user.telegram_chat_id,
        email=user.email,
    )


def current_viewer(request: Request) -> Viewer:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        raise LoginRequired()
    viewer = _load_viewer(service_of(request), uid, str(request.session.get("fp", "")))
    if viewer is None:
        request.session.clear()
        raise LoginRequired()
    request.scope["admin_viewer"] = viewer
    return viewer


def admin_viewer(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_admin:
        raise Forbidden()
    return viewer


AnyViewer = Annotated[Viewer, Depends(current_viewer)]
AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


# ------------------------------------------------------------------------------------------------ CSRF


def _check(request: Request, sent: Any) -> None:
    expected = request.session.get("csrf")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, str(expected)):
        raise CsrfFailed()


async def checked_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    _check(request, form.get(CSRF_FIELD))
    return form


async def checked_json(request: Request) -> Any:
    """A fetch() call's JSON body, after checking the X-CSRF-Token header."""
    _check(request, request.headers.get(CSRF_HEADER))
    return await request.json()


# ----------------------------------------------------------------------------------------------- login


class Locked:
    """The name had too many failures lately: no password is checked."""


def login_rules(settings: AdminSettings) -> LoginRules:
    five = ADMIN_LOGIN
    return LoginRules(
        name_and_address=five,
        address=FailureLimit(settings.login_failures_per_address, five.window),
        name=FailureLimit(settings.login_failures_per_name, five.window),
        overall=FailureLimit(settings.login_failures_overall, LoginRules().overall.window),
    )


class LoginThrottle:
    """Failed logins (rules: `LoginRules`), kept in the database with the client's address, so every
    process serving the admin page counts them together; and at most `login_concurrency` passwords
    hashed at once in this process, so a flood of tries waits here instead of filling the thread pool
    that every other request needs."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings.admin
        self.failures = LoginFailures(service.factory, login_rules(settings))
        self.hashing = asyncio.Semaphore(settings.login_concurrency)
        self.queue = settings.login_queue
        self.waiting = 0

    async def check_async(
        self, username: str, password: str, address: str | None
    ) -> tuple[int, str] | Locked | None:
        """`check` in a worker thread, after waiting for a hashing slot; Locked when too many wait."""
        if self.hashing.locked() and self.waiting >= self.queue:
            return Locked()
        self.waiting += 1
        try:
            await self.hashing.acquire()
        finally:
            self.waiting -= 1
        try:
            return await run_in_threadpool(self.check, username, password, address)
        finally:
            self.hashing.release()

    def check(self, username: str, password: str, address: str | None) -> tuple[int, str] | Locked | None:
        """The user's id and session fingerprint, None for a wrong name or password, or Locked."""
        service = self.service
        try_id = self.failures.begin(username, address, service.clock.now())
        if try_id is None:
            return Locked()
        try:
            with service.factory() as session, session.begin():
                user = authenticate(session, username, password, service.clock.now())
                found = (user.id, _fingerprint(user)) if user else None
        except Exception:
            self.failures.withdraw(try_id)  # no answer is no failure
            raise
        if found is not None:
            self.failures.succeeded(username, try_id)
        return found


router = APIRouter()


def _safe_next(request: Request, target: str | None) -> str:
    root: str = request.scope.get("root_path", "")
    if target and target.startswith(root + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return root + "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    csrf_token(request)
    return page(request, "login.html", next=next or "", error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    target = _safe_next(request, str(form.get("next", "")) or None)
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else None

    found = await throttle.check_async(username, password, address)
    if isinstance(found, Locked):
        return page(
            request,
            "login.html",
            status_code=429,
            next=target,
            username=username,
            error="Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút.",
        )
    if found is None:
        return page(
            request,
            "login.html",
            status_code=401,
            next=target,
            username=username,
            error="Tên đăng nhập hoặc mật khẩu không đúng.",
        )
    # A fresh session on login: nothing an attacker planted before it survives (session fixation).
    request.session.clear()
    request.session.update(uid=found[0], fp=found[1], csrf=secrets.token_urlsafe(32))
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)
