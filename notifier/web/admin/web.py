"""HTML rendering for the admin page: one Jinja2 environment (autoescaped), filters, masking."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from notifier.rules.logmask import mask_email
from notifier.rules.phones import mask_phone
from notifier.rules.rendering import format_date, format_datetime, format_money
from notifier.web.admin import labels

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

_EMAIL_RE = re.compile(r"^([^@]+)@(.+)$")


@functools.lru_cache(maxsize=4096)  # a CSV export masks the same numbers over and over
def mask_address(value: str | None) -> str:
    """A recipient for screens and exports: phones and e-mails partly hidden, chat ids shortened.

    Personal-data law ([privacy] law): an officer reading the log needs to tell numbers apart, not to read
    them whole.
    """
    if not value:
        return "—"
    if _EMAIL_RE.match(value):
        return mask_email(value)
    digits = value.lstrip("+-")
    if digits.isascii() and digits.isdigit():
        if value.startswith("+84") or value.startswith("0"):
            return mask_phone(value)
        # A Telegram chat id or a Zalo user id: enough to tell two apart.
        return value[:2] + "*" * max(len(value) - 4, 1) + value[-2:]
    if len(value) > 8:  # a file path or anything else: the start only
        return value[:6] + "…"
    return value


def _dt(value: Any) -> str:
    return format_datetime(value) if value is not None else "—"


def _d(value: Any) -> str:
    return format_date(value) if value is not None else "—"


def _money(value: Any) -> str:
    return format_money(value) if value is not None else "—"


def _number(value: int | float) -> str:
    # Vietnamese groups thousands with dots: 12.345
    return f"{value:,.0f}".replace(",", ".")


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",") + "%"


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(
    datetime=_dt,
    date=_d,
    money=_money,
    number=_number,
    percent=_percent,
    mask=mask_address,
    kind=lambda c: labels.label(labels.KIND_LABELS, c),
    channel_type=lambda c: labels.label(labels.CHANNEL_TYPE_LABELS, c),
    audience=lambda c: labels.label(labels.AUDIENCE_LABELS, c),
    status=lambda c: labels.label(labels.STATUS_LABELS, c),
    outcome=lambda c: labels.label(labels.OUTCOME_LABELS, c),
    medium=lambda c: labels.label(labels.MEDIUM_LABELS, c),
    role=lambda c: labels.label(labels.ROLE_LABELS, c),
    channel=lambda c: labels.label(labels.CHANNEL_LABELS, c),
    audit=lambda c: labels.label(labels.AUDIT_LABELS, c),
    error_text=labels.error_text,
)


def expected_csrf(request: Request) -> str | None:
    """The CSRF token of this session: an HMAC of its id (or, before login, of a random nonce) with the
    app's secret. The cookie carries no token that could be read out of it; None before any page."""
    base = request.session.get("sid") or request.session.get("nonce")
    if not isinstance(base, str):
        return None
    key: bytes = request.app.state.csrf_key
    return hmac.new(key, b"csrf:" + base.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (a nonce made on first use); every form and fetch() call sends it back."""
    token = expected_csrf(request)
    if token is None:
        request.session["nonce"] = secrets.token_urlsafe(16)
        token = expected_csrf(request)
    assert token is not None
    return token


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `name` with what every page needs: the viewer, the CSRF token, the mount prefix."""
    context.setdefault("viewer", request.scope.get("admin_viewer"))
    context.setdefault("flash", request.session.pop("flash", None))
    html = env.get_template(name).render(
        request=request,
        root=request.scope.get("root_path", ""),
        csrf_token=csrf_token(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}
