"""The public dossier page, /tra-cuu: parse the forms, call notifier.workflows.public_page, render.

One small HTML page per answer, no JavaScript and no external asset: the style sheet is inline and allowed
by its hash in a Content-Security-Policy that allows nothing else. Every form carries a token derived from
a random nonce kept in a cookie (another site can make a browser post, but cannot read the nonce). A
look-up or a QR link gives the browser a pass (a signed cookie naming one dossier, `[public]
pass_minutes`); the dossier's page and its actions read the dossier from the pass, never from the form.

A failed look-up renders the same bytes whether the code is unknown or the digits are wrong: the form is
not refilled with what was typed, and nothing in the page depends on the dossier.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from notifier.rules import i18n
from notifier.rules.privacy import RequestKind
from notifier.rules.public_page import Line, Step, form_token, form_token_ok, read_pass, sign_pass
from notifier.rules.rendering import format_datetime, format_money
from notifier.rules.statuses import status_name
from notifier.workflows import feedback as fb
from notifier.workflows.apology import PdfUnavailable
from notifier.workflows.errors import DomainError
from notifier.workflows.public_links import link_key, open_token
from notifier.workflows.public_page import Medium, PublicPage
from notifier.workflows.service import Service

HERE = Path(__file__).parent
PREFIX = "/tra-cuu"
NONCE_COOKIE = "tc_nonce"
PASS_COOKIE = "tc_pass"
LANG_COOKIE = "tc_lang"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 8 * 1024
T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def _(message: str) -> str:
    """Marks a string for the `web` catalog; it is translated where it is shown (`t`)."""
    return message


STEP_LABELS: dict[Step, str] = {
    Step.RECEIVED: _("Tiếp nhận hồ sơ"),
    Step.SUPPLEMENT: _("Yêu cầu bổ sung giấy tờ"),
    Step.SUPPLEMENT_DONE: _("Đã bổ sung giấy tờ"),
    Step.TRANSFER: _("Chuyển xử lý liên thông"),
    Step.PAYMENT: _("Yêu cầu nộp phí, lệ phí"),
    Step.PAID: _("Đã nộp phí, lệ phí"),
    Step.APOLOGY: _("Văn bản xin lỗi, hẹn lại ngày trả"),
    Step.RESOLVED: _("Đã có kết quả"),
    Step.RETURNED: _("Đã trả kết quả"),
    Step.ENDED: _("Kết thúc"),
}
MEDIUM_LABELS: dict[str, str] = {Medium.SMS: _("Tin nhắn SMS tới"), Medium.EMAIL: _("Thư điện tử tới")}
PRIVACY_LABELS: tuple[tuple[RequestKind, str], ...] = (
    (RequestKind.ACCESS, _("Xem dữ liệu cá nhân đang được lưu")),
    (RequestKind.CORRECT, _("Sửa dữ liệu cá nhân")),
    (RequestKind.ERASE, _("Xóa dữ liệu cá nhân")),
    (RequestKind.WITHDRAW, _("Rút lại sự đồng ý nhận thông báo")),
)
PRIVACY_DONE: dict[RequestKind, str] = dict(PRIVACY_LABELS)


@cache
def _css() -> tuple[str, str]:
    """The inline style sheet and its CSP source (`'sha256-…'`)."""
    css = (HERE / "style.css").read_text(encoding="utf-8").strip()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return css, f"'sha256-{digest}'"


def _money(lang: str) -> Callable[[int | None], str]:
    def money(value: int | None) -> str:
        if value is None:
            return "—"
        # English readers (foreign investors) read 1,500,000 VND; Vietnamese texts write 1.500.000 đồng.
        return format_money(value, lang)

    return money


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates ship with the code: no stat of each file on every render to see whether it changed.
    auto_reload=False,
)
env.filters["datetime"] = lambda v: format_datetime(v) if v is not None else "—"


def t(lang: str, message: str) -> str:
    return i18n.gettext(lang, "web", message)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _page(request: Request) -> PublicPage:
    """The page's workflow, one per app (it holds the look-up's prepared rules)."""
    page: PublicPage | None = getattr(request.app.state, "public_page", None)
    if page is None:
        page = request.app.state.public_page = PublicPage(_service(request))
    return page


def _database_threads(request: Request) -> CapacityLimiter:
    """The threads the page's database work runs in, one per pooled connection of this process.

    Starlette's shared pool runs up to 40 at once: past the engine's pool size every further thread opens
    a connection of its own and closes it after the request (a PostgreSQL process started and ended per
    look-up under load, several times the look-up's own cost). Requests past the pool wait here instead,
    in the event loop, for a pooled connection to come free."""
    loop = asyncio.get_running_loop()
    # One per event loop (a limiter's waiters belong to the loop they wait in; tests run several).
    known: tuple[asyncio.AbstractEventLoop, CapacityLimiter] | None = getattr(
        request.app.state, "public_threads", None
    )
    if known is not None and known[0] is loop:
        return known[1]
    size = getattr(_service(request).engine.pool, "size", None)
    threads = size() if callable(size) else 0
    limiter = CapacityLimiter(max(threads, 1))
    request.app.state.public_threads = (loop, limiter)
    return limiter


async def _in_thread(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in one of the page's database threads (it blocks on the database)."""
    return await to_thread.run_sync(fn, *args, limiter=_database_threads(request))


def _language(request: Request) -> str:
    asked = request.query_params.get("lang")
    return i18n.normalise_language(asked if asked is not None else request.cookies.get(LANG_COOKIE))


def _secure(service: Service) -> bool:
    return service.settings.public.base_url.startswith("https://")


def _headers(response: Response) -> Response:
    _, style = _css()
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style}; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # The QR address holds a token: no Referer may carry it to the payment portal or elsewhere.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def _nonce(request: Request) -> tuple[str, bool]:
    """The browser's CSRF nonce, and whether it is new (then the response sets the cookie)."""
    nonce = request.cookies.get(NONCE_COOKIE)
    if nonce and 16 <= len(nonce) <= 64:
        return nonce, False
    return secrets.token_urlsafe(24), True


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    service = _service(request)
    lang = _language(request)
    nonce, new = _nonce(request)
    key = link_key(service.settings)
    css, _style = _css()
    template = env.get_template(name)
    # The other language's address: this page again (GET), or after a form the page the form came from.
    other = "en" if lang == "vi" else "vi"
    if request.method == "GET":
        switch = f"?lang={other}"
    else:
        on_dossier = request.url.path.startswith(f"{PREFIX}/ho-so") and _code_of(request) is not None
        back = f"{PREFIX}/ho-so" if on_dossier else PREFIX
        switch = f"{request.scope.get('root_path', '')}{back}?lang={other}"
    html = template.render(
        switch=switch,
        _=lambda message: t(lang, message),
        lang=lang,
        css=css,
        csrf=form_token(key, nonce),
        root=request.scope.get("root_path", ""),
        province=service.settings.province.name,
        **context,
    )
    response = _headers(HTMLResponse(html, status_code=status_code))
    secure = _secure(service)
    if new:
        response.set_cookie(NONCE_COOKIE, nonce, httponly=True, samesite="lax", secure=secure, path=PREFIX)
    if request.query_params.get("lang") is not None:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax", secure=secure, path=PREFIX
        )
    return response


def message(request: Request, title: str, text: str, status_code: int = 200, **flags: Any) -> Response:
    lang = _language(request)
    return render(request, "message.html", status_code, title=t(lang, title), message=t(lang, text), **flags)


async def _form(request: Request) -> FormData | None:
    """The posted form when its CSRF token is right; None otherwise."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return None
    form = await request.form()
    nonce = request.cookies.get(NONCE_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not form_token_ok(
        link_key(_service(request).settings), nonce, sent if isinstance(sent, str) else None
    ):
        return None
    return form


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _expired(request: Request) -> Response:
    return message(
        request,
        _("Biểu mẫu đã hết hạn"),
        _("Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."),
        403,
        warn=True,
    )


def _with_pass(request: Request, code: str) -> Response:
    service = _service(request)
    minutes = service.settings.public.pass_minutes
    expires = service.clock.now() + timedelta(minutes=minutes)
    # A QR link opened with ?lang=en keeps the language on the dossier's page.
    asked = request.query_params.get("lang")
    query = f"?lang={i18n.normalise_language(asked)}" if asked is not None else ""
    target = f"{request.scope.get('root_path', '')}{PREFIX}/ho-so{query}"
    response = _headers(RedirectResponse(target, 303))
    response.set_cookie(
        PASS_COOKIE,
        sign_pass(link_key(service.settings), code, expires),
        max_age=minutes * 60,
        httponly=True,
        samesite="lax",
        secure=_secure(service),
        path=PREFIX,
    )
    return response


def _code_of(request: Request) -> str | None:
    service = _service(request)
    return read_pass(link_key(service.settings), request.cookies.get(PASS_COOKIE), service.clock.now())


def _no_pass(request: Request) -> Response:
    return message(
        request,
        _("Phiên tra cứu đã hết"),
        _("Phiên tra cứu đã hết hạn. Vui lòng tra cứu lại bằng mã hồ sơ hoặc quét lại mã QR."),
        403,
        warn=True,
    )


def _refused(request: Request, title: str, text: str, status_code: int) -> Response:
    """A form on the dossier's page that was not accepted: a warning with a way back to the page."""
    return message(request, title, text, status_code, back=True, warn=True)


def _not_agreed(request: Request) -> Response:
    return _refused(request, _("Chưa đồng ý"), _("Vui lòng đánh dấu ô đồng ý trước khi gửi."), 422)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _lines(lang: str, lines: list[Line]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        detail = line.detail
        if line.step is Step.ENDED and detail is not None and detail.isdigit():
            detail = status_name(int(detail), lang)
        elif line.step is Step.APOLOGY and detail is not None:
            detail = t(lang, "hẹn trả mới") + " " + detail[8:10] + "/" + detail[5:7] + "/" + detail[:4]
        out.append(
            {"label": t(lang, STEP_LABELS[line.step]), "detail": detail, "at": line.at, "done": line.done}
        )
    return out


router = APIRouter()


DossierHandler = Callable[[Request, FormData, str], Awaitable[Response]]


def _dossier_post(path: str) -> Callable[[DossierHandler], DossierHandler]:
    """Routes a form posted from the dossier's page to the handler, with the form and the dossier its pass
    names; a form whose token is wrong, or a browser without a pass, gets the page that says why."""

    def register(handler: DossierHandler) -> DossierHandler:
        @router.post(PREFIX + path, name=handler.__name__)
        async def posted(request: Request) -> Response:
            form = await _form(request)
            if form is None:
                return _expired(request)
            code = _code_of(request)
            if code is None:
                return _no_pass(request)
            return await handler(request, form, code)

        return handler

    return register


def _choice(form: FormData, name: str, choices: type[E]) -> E | None:
    """The form's field `name` as one of `choices`; None for anything else (a form the page did not make)."""
    try:
        return choices(_field(form, name))
    except ValueError:
        return None


@router.get(PREFIX)
async def lookup_form(request: Request) -> Response:
    return render(request, "lookup.html")


@router.post(PREFIX)
async def lookup(request: Request) -> Response:
    form = await _form(request)
    if form is None:
        return _expired(request)
    client = _client(request)
    result = await _in_thread(
        request, _page(request).lookup, client, _field(form, "ma_ho_so"), _field(form, "so_cuoi")
    )
    if result.outcome == "found" and result.found is not None:
        return _with_pass(request, result.found.view.code)
    lang = _language(request)
    if result.outcome == "slowed":
        text = t(lang, "Bạn đã thử sai nhiều lần. Vui lòng thử lại sau.")
        response = render(request, "lookup.html", 429, error=text)
        response.headers["Retry-After"] = "60"
        return response
    text = t(
        lang, "Không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại đã nhập. Vui lòng kiểm tra lại."
    )
    return render(request, "lookup.html", error=text)


@router.get(PREFIX + "/q/{token}")
async def qr_link(request: Request, token: str) -> Response:
    code = await _in_thread(request, open_token, _service(request), token)
    if code is None:
        return message(
            request,
            _("Liên kết không mở được hồ sơ"),
            _("Liên kết này không còn hiệu lực. Vui lòng tra cứu bằng mã hồ sơ và 4 số cuối điện thoại."),
            404,
            warn=True,
        )
    return _with_pass(request, code)


@router.get(PREFIX + "/ho-so")
async def dossier(request: Request) -> Response:
    code = _code_of(request)
    if code is None:
        return _no_pass(request)
    service = _service(request)
    try:
        d = await _in_thread(request, _page(request).dossier, code)
    except DomainError:
        return _no_pass(request)
    lang = _language(request)
    v = d.view
    left = v.working_days_left
    overdue = v.working_days_overdue
    consent = service.settings.privacy.consent_purpose
    return render(
        request,
        "dossier.html",
        v=v,
        status=status_name(v.status, lang),
        lines=_lines(lang, d.timeline),
        slips=d.slips,
        agency=d.agency,
        contacts=d.contacts,
        medium_label={m: t(lang, label) for m, label in MEDIUM_LABELS.items()},
        consent_text=t(lang, "Tôi đồng ý nhận thông báo về hồ sơ này qua kênh trên. Mục đích:")
        + " "
        + consent,
        left_text=t(lang, "Còn {n} ngày làm việc đến hạn trả kết quả.").replace("{n}", str(left)),
        overdue_text=t(lang, "Đã quá hạn {n} ngày làm việc.").replace("{n}", str(overdue)),
        privacy_kinds=[(str(k), t(lang, label)) for k, label in PRIVACY_LABELS],
        fb_min=fb.MIN_LENGTH,
        fb_max=fb.MAX_LENGTH,
        zalo=bool(service.settings.public.zalo_url),
        money=_money(lang),
    )


@router.get(PREFIX + "/ho-so/van-ban-xin-loi.pdf")
async def apology_pdf(request: Request) -> Response:
    code = _code_of(request)
    if code is None:
        return _no_pass(request)
    try:
        # Not in the database threads: rendering a PDF takes seconds, look-ups must not wait behind it.
        doc = await run_in_threadpool(_page(request).apology_pdf, code)
    except DomainError:
        return message(
            request, _("Không có văn bản"), _("Hồ sơ này chưa có văn bản xin lỗi."), 404, back=True
        )
    except PdfUnavailable:
        return message(
            request,
            _("Chưa tải được"),
            _("Máy chủ chưa tạo được tệp PDF. Vui lòng thử lại sau."),
            503,
            back=True,
        )
    name = "van-ban-xin-loi-" + "".join(ch if ch.isalnum() else "-" for ch in doc.number) + ".pdf"
    return _headers(
        Response(
            doc.content,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )


@_dossier_post("/ho-so/thong-bao")
async def notices(request: Request, form: FormData, code: str) -> Response:
    medium = _choice(form, "kenh", Medium)
    if medium is None:
        return _expired(request)
    wanted = _field(form, "lam") != "tat"
    if wanted and _field(form, "dong_y") != "1":
        return _not_agreed(request)
    client = _client(request)
    try:
        await _in_thread(request, _page(request).set_notices, code, medium, wanted, client)
    except DomainError:
        return _no_pass(request)
    if wanted:
        return message(request, _("Đã đăng ký"), _("Bạn sẽ nhận thông báo về hồ sơ này."), back=True)
    return message(request, _("Đã ngừng"), _("Bạn sẽ không nhận thông báo qua kênh này nữa."), back=True)


@_dossier_post("/ho-so/phan-anh")
async def feedback(request: Request, form: FormData, code: str) -> Response:
    if _field(form, "dong_y") != "1":
        return _not_agreed(request)
    client = _client(request)
    try:
        await _in_thread(request, _page(request).feedback, code, _field(form, "noi_dung"), client)
    except fb.FeedbackLimited:
        return _refused(
            request, _("Chưa gửi được"), _("Bạn đã gửi nhiều phản ánh. Vui lòng thử lại sau."), 429
        )
    except (fb.FeedbackError, DomainError):
        return _refused(request, _("Chưa gửi được"), _("Nội dung phản ánh cần từ 10 đến 2000 ký tự."), 422)
    return message(
        request,
        _("Đã gửi phản ánh"),
        _("Cơ quan đã nhận phản ánh và sẽ trả lời qua thông tin liên hệ của hồ sơ."),
        back=True,
    )


@_dossier_post("/ho-so/du-lieu")
async def privacy(request: Request, form: FormData, code: str) -> Response:
    kind = _choice(form, "loai", RequestKind)
    if kind is None:
        return _expired(request)
    if _field(form, "dong_y") != "1":
        return _not_agreed(request)
    detail = _field(form, "chi_tiet").strip() or None
    client = _client(request)
    try:
        await _in_thread(request, _page(request).privacy, code, kind, detail, client)
    except DomainError:
        return _refused(request, _("Chưa gửi được"), _("Yêu cầu chưa hợp lệ. Vui lòng kiểm tra lại."), 422)
    return message(
        request,
        _("Đã nhận yêu cầu"),
        _("Cơ quan đã nhận yêu cầu về dữ liệu cá nhân và sẽ trả lời trong thời hạn luật định."),
        back=True,
    )


@_dossier_post("/ho-so/zalo")
async def zalo(request: Request, form: FormData, code: str) -> Response:
    service = _service(request)
    if not service.settings.public.zalo_url:
        return _no_pass(request)
    client = _client(request)
    try:
        link = await _in_thread(request, _page(request).zalo_code, code, client)
    except DomainError:
        return _no_pass(request)
    return render(request, "zalo.html", zalo_url=service.settings.public.zalo_url, link=link)


@router.post(PREFIX + "/thoat")
async def leave(request: Request) -> Response:
    form = await _form(request)
    if form is None:
        return _expired(request)
    response = _headers(RedirectResponse(f"{request.scope.get('root_path', '')}{PREFIX}", 303))
    response.delete_cookie(PASS_COOKIE, path=PREFIX)
    return response
