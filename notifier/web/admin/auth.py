"""Who is looking: the session cookie, CSRF tokens on every form, roles and agency scoping, login."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import ColumnElement, SQLColumnExpression, false, true
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from notifier.config import AdminSettings
from notifier.rules.ratelimit import ADMIN_LOGIN, FailureLimit, LoginRules
from notifier.store.admin_sessions import open_session, revoke, session_user
from notifier.store.limits import LoginFailures
from notifier.store.models import Agency
from notifier.web.admin.web import csrf_token, expected_csrf, page
from notifier.workflows.accounts import authenticate, log_in_with_code
from notifier.workflows.service import Service

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    """Raised for pages a role may not use; data of another agency is answered 404 instead."""


class CsrfFailed(Exception):
    pass


class UnreadableInput(Exception):
    """A NUL character in a form field, the query or the path: PostgreSQL can neither store nor compare it
    (a 500 there, on the login form too); answered 422 naming the field."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def readable_input(request: Request) -> None:
    """A dependency of every admin route: no NUL in the path or the query."""
    if "\x00" in request.url.path:
        raise UnreadableInput("địa chỉ trang")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise UnreadableInput(name.replace("\x00", ""))


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


def _load_viewer(service: Service, sid: str) -> Viewer | None:
    with service.factory() as session:
        user = session_user(session, sid, service.clock.now())
        if user is None:
            return None
        agency = session.get(Agency, user.agency_id) if user.agency_id is not None else None
    values: dict[str, Any] = {
        "agency_code": agency.code if agency else None,
        "agency_name": agency.name if agency else None,
    }
    # Every other field is the user's own, under the same name.
    values.update((f.name, getattr(user, f.name)) for f in fields(Viewer) if f.name not in values)
    return Viewer(**values)


def current_viewer(request: Request) -> Viewer:
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        raise LoginRequired()
    viewer = _load_viewer(service_of(request), sid)
    if viewer is None:
        request.session.clear()
        raise LoginRequired()
    request.scope["admin_viewer"] = viewer
    return viewer


def admin_viewer(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_admin:
        raise Forbidden()
    return viewer


# A row's id in a path: past a BIGINT it was a 500 (the database's integers overflowed), now a 404 page.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

AnyViewer = Annotated[Viewer, Depends(current_viewer)]
AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


# ------------------------------------------------------------------------------------------------ CSRF


def _check(request: Request, sent: Any) -> None:
    expected = expected_csrf(request)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


async def checked_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    _check(request, form.get(CSRF_FIELD))
    for name, value in form.multi_items():
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise UnreadableInput(name.replace("\x00", ""))
    return form


def form_values(form: FormData, *names: str) -> dict[str, str]:
    """The form's fields `names`, each with its white space stripped ("" for a field not sent)."""
    return {name: str(form.get(name, "")).strip() for name in names}


async def checked_json(request: Request) -> Any:
    """A fetch() call's JSON body, after checking the X-CSRF-Token header."""
    _check(request, request.headers.get(CSRF_HEADER))
    body = await request.json()
    if isinstance(body, dict):
        for name, value in body.items():
            if isinstance(value, str) and "\x00" in value:
                raise UnreadableInput(name)
    return body


# ----------------------------------------------------------------------------------------------- login


class Locked:
    """The name had too many failures lately: no password is checked."""


@dataclass(frozen=True)
class CodeNeeded:
    """The password was right and the account has a second factor: no session until its code."""

    user_id: int
    username: str


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
    ) -> str | Locked | CodeNeeded | None:
        """`check`, its database steps in worker threads and its password hash after waiting for one of
        this process's hashing slots. The limits are counted first, so a refused try waits for no slot;
        Locked too when the slots already have `login_queue` tries waiting."""
        now = self.service.clock.now()
        try_id = await run_in_threadpool(self.failures.begin, username, address, now)
        if try_id is None:
            return Locked()
        if self.hashing.locked() and self.waiting >= self.queue:
            await run_in_threadpool(self.failures.withdraw, try_id)  # not checked: no failure
            return Locked()
        self.waiting += 1
        try:
            await self.hashing.acquire()
        finally:
            self.waiting -= 1
        try:
            return await run_in_threadpool(self._verify, username, password, try_id)
        finally:
            self.hashing.release()

    def check(self, username: str, password: str, address: str | None) -> str | Locked | CodeNeeded | None:
        """A new session's id, None for a wrong name or password, or Locked (synchronously)."""
        try_id = self.failures.begin(username, address, self.service.clock.now())
        if try_id is None:
            return Locked()
        return self._verify(username, password, try_id)

    def _verify(self, username: str, password: str, try_id: int) -> str | CodeNeeded | None:
        service = self.service
        max_age = timedelta(seconds=service.settings.admin.session_max_age_seconds)
        needed: CodeNeeded | None = None
        try:
            with service.factory() as session, session.begin():
                now = service.clock.now()
                user = authenticate(session, username, password, now)
                found = None
                if user is not None and user.totp_enabled_at is not None:
                    needed = CodeNeeded(user.id, user.username)
                elif user is not None:
                    found = open_session(session, user, now, max_age)
        except Exception:
            self.failures.withdraw(try_id)  # no answer is no failure
            raise
        if needed is not None:
            # A right password is no failure, but the name's earlier failures still count until the code
            # is right too: a stolen password does not buy fresh tries at the code.
            self.failures.withdraw(try_id)
            return needed
        if found is not None:
            self.failures.succeeded(username, try_id)
        return found

    async def check_code_async(
        self, pending: CodeNeeded, code: str, address: str | None
    ) -> str | Locked | None:
        """The second step: a session's id for the right code, None for a wrong one (counted as a failed
        login of the name, under the same limits as passwords), Locked past them."""
        now = self.service.clock.now()
        try_id = await run_in_threadpool(self.failures.begin, pending.username, address, now)
        if try_id is None:
            return Locked()
        try:
            found = await run_in_threadpool(log_in_with_code, self.service, pending.user_id, code)
        except Exception:
            await run_in_threadpool(self.failures.withdraw, try_id)
            raise
        if found is not None:
            await run_in_threadpool(self.failures.succeeded, pending.username, try_id)
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
    if isinstance(found, CodeNeeded):
        # The password was right: remembered in the signed cookie for a few minutes, until the code.
        service = service_of(request)
        request.session.clear()
        request.session[PENDING] = {
            "uid": found.user_id,
            "name": found.username,
            "until": service.clock.now().timestamp() + service.settings.admin.totp_login_seconds,
            "next": target,
        }
        return RedirectResponse(request.scope.get("root_path", "") + "/login/code", status_code=303)
    if isinstance(found, Locked):
        return page(
            request,
            "login.html",
            status_code=429,
            next=target,
            username=username,
            error=LOCKED_TEXT,
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
    # A fresh session on login: nothing an attacker planted before it survives (session fixation). The
    # cookie holds the session's id only; the CSRF token is derived from it (web.csrf_token).
    request.session.clear()
    request.session["sid"] = found
    return RedirectResponse(target, status_code=303)


PENDING = "pending_login"
LOCKED_TEXT = "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút."


def _pending(request: Request) -> tuple[CodeNeeded, str] | None:
    """The login waiting for its second-factor code, and where it goes next; None if none or too old."""
    held = request.session.get(PENDING)
    if not isinstance(held, dict):
        return None
    try:
        pending = CodeNeeded(int(held["uid"]), str(held["name"]))
        until = float(held["until"])
        target = str(held.get("next", ""))
    except (KeyError, TypeError, ValueError):
        return None
    if service_of(request).clock.now().timestamp() > until:
        return None
    return pending, target


@router.get("/login/code")
def code_form(request: Request) -> Response:
    if _pending(request) is None:
        request.session.pop(PENDING, None)
        return RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)
    return page(request, "login_code.html", error=None)


@router.post("/login/code")
async def login_code(request: Request) -> Response:
    form = await checked_form(request)
    held = _pending(request)
    root = request.scope.get("root_path", "")
    if held is None:
        request.session.pop(PENDING, None)
        csrf_token(request)
        return page(
            request,
            "login.html",
            status_code=401,
            next="",
            username="",
            error="Đã quá thời gian nhập mã. Vui lòng đăng nhập lại.",
        )
    pending, target = held
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else None
    found = await throttle.check_code_async(pending, str(form.get("code", "")), address)
    if isinstance(found, Locked):
        request.session.pop(PENDING, None)
        csrf_token(request)
        return page(
            request, "login.html", status_code=429, next="", username=pending.username, error=LOCKED_TEXT
        )
    if found is None:
        return page(request, "login_code.html", status_code=401, error="Mã xác thực không đúng hoặc đã dùng.")
    request.session.clear()
    request.session["sid"] = found
    return RedirectResponse(_safe_next(request, target or None) if target else root + "/", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    sid = request.session.get("sid")
    if isinstance(sid, str):
        # Revoked where every process looks: the cookie, even copied before, opens nothing any more.
        service = service_of(request)

        def revoke_it() -> None:
            with service.factory() as session, session.begin():
                revoke(session, sid, service.clock.now())

        await run_in_threadpool(revoke_it)
    request.session.clear()
    return RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)
