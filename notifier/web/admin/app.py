"""The admin page as a sub-application mounted on the API's FastAPI app at /admin."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from notifier.web.admin import accounts, apikeys, dashboard, deliveries, editor, optouts, privacy
from notifier.web.admin.auth import (
    CsrfFailed,
    Forbidden,
    LoginRequired,
    LoginThrottle,
    NotFound,
    UnreadableInput,
    readable_input,
)
from notifier.web.admin.auth import router as auth_router
from notifier.web.admin.isolated import warm_up
from notifier.web.admin.web import STATIC_DIR, page
from notifier.workflows.service import Service

log = logging.getLogger("notifier.web.admin")

PREFIX = "/admin"
ROUTERS = (
    auth_router,
    dashboard.router,
    editor.router,
    deliveries.router,
    optouts.router,
    privacy.router,
    accounts.router,
    apikeys.router,
)
COOKIE = "notifier_admin"

# What the page says for the HTTP errors Starlette raises itself (its own texts are English).
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    404: ("Không tìm thấy", "Không có trang này."),
    405: (
        "Không thực hiện được",
        "Trang này không nhận thao tác theo cách vừa gửi. Vui lòng quay lại và thử lại.",
    ),
    413: ("Dữ liệu quá lớn", "Nội dung gửi lên vượt giới hạn cho phép."),
    429: ("Quá nhiều yêu cầu", "Vui lòng chờ một lát rồi thử lại."),
}


# The pages for errors whose words do not depend on the error.
FIXED_ERRORS: dict[type[Exception], tuple[int, str, str]] = {
    Forbidden: (403, "Không có quyền", "Trang này chỉ dành cho quản trị viên toàn tỉnh."),
    CsrfFailed: (
        403,
        "Yêu cầu không hợp lệ",
        "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Vui lòng tải lại trang.",
    ),
    # Starlette logs the exception and re-raises it after this answer; the officer reads Vietnamese,
    # not "Internal Server Error".
    Exception: (
        500,
        "Có lỗi xảy ra",
        "Hệ thống gặp lỗi khi xử lý yêu cầu. Vui lòng thử lại; nếu vẫn lỗi, báo quản trị viên.",
    ),
    # A typed-in URL with letters where a number goes (/log/abc): a page, not FastAPI's English JSON.
    RequestValidationError: (
        404,
        "Không tìm thấy",
        "Địa chỉ trang không đúng. Vui lòng kiểm tra lại đường dẫn.",
    ),
}


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return page(request, "error.html", status_code=status_code, title=title, message=message)


def fixed_error(
    status_code: int, title: str, message: str
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler answering every error of its class with the same page."""

    async def handler(request: Request, _exc: Exception) -> Response:
        return error_page(request, status_code, title, message)

    return handler


def session_secret(service: Service) -> str:
    name = service.settings.admin.secret_env
    secret = os.environ.get(name, "")
    if secret:
        return secret
    log.warning("%s is not set: admin sessions use a random secret and end when the process restarts", name)
    return secrets.token_urlsafe(48)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def cookie_secure(service: Service) -> bool:
    """`[admin] cookie_secure`, or by default Secure unless the API listens on loopback only (a server
    reached from other hosts sits behind HTTPS; a cookie sent over plain HTTP could be read on the way)."""
    forced = service.settings.admin.cookie_secure
    if forced is not None:
        return forced
    host = service.settings.api.host
    return not (host in LOOPBACK or host.startswith("127."))


def create_admin_app(service: Service) -> FastAPI:
    admin = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(readable_input)])
    admin.state.service = service
    admin.state.login_throttle = LoginThrottle(service)
    warm_up()  # the editor's previews run in child processes of a forkserver: start it now
    settings = service.settings.admin
    secret = session_secret(service)
    # CSRF tokens are keyed apart from the cookie's signature (same secret, another purpose).
    admin.state.csrf_key = hashlib.sha256(b"notifier-admin-csrf:" + secret.encode()).digest()
    admin.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=COOKIE,
        max_age=settings.session_max_age_seconds,
        path=PREFIX,
        same_site="lax",
        https_only=cookie_secure(service),
    )

    @admin.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        # Nothing here may be framed (clickjacking) or cached by a shared computer's browser.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        if not request.url.path.startswith(f"{PREFIX}/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @admin.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        root = request.scope.get("root_path", "")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = root + "/"
        from urllib.parse import quote

        return RedirectResponse(f"{root}/login?next={quote(target)}", status_code=303)

    @admin.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return error_page(request, 404, "Không tìm thấy", f"Không tìm thấy {exc.what}.")

    @admin.exception_handler(UnreadableInput)
    async def _unreadable(request: Request, exc: UnreadableInput) -> Response:
        return error_page(
            request,
            422,
            "Dữ liệu không hợp lệ",
            f"Ô “{exc.field}” có ký tự không đọc được (NUL). Vui lòng nhập lại rồi gửi.",
        )

    @admin.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title, message = HTTP_ERRORS.get(
            exc.status_code, ("Có lỗi xảy ra", "Yêu cầu không thực hiện được. Vui lòng thử lại sau.")
        )
        return error_page(request, exc.status_code, title, message)

    for exc_class, (status_code, title, message) in FIXED_ERRORS.items():
        admin.add_exception_handler(exc_class, fixed_error(status_code, title, message))

    admin.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module_router in ROUTERS:
        admin.include_router(module_router)
    return admin


def mount_admin(app: FastAPI, service: Service) -> FastAPI:
    """Serve the admin page at /admin on `app`; its session cookie is limited to that path."""
    admin = create_admin_app(service)
    app.mount(PREFIX, admin)
    return admin
