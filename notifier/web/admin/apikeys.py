"""API keys (admins only): list, create (the key and signing secret are shown once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from notifier.web.admin.auth import AdminViewer, checked_form, form_values, service_of
from notifier.web.admin.web import flash, page
from notifier.workflows.apikeys import ApiKeys
from notifier.workflows.errors import DomainError, NotFound

router = APIRouter()


def _render(request: Request, status_code: int = 200, **context: Any) -> Response:
    keys = ApiKeys(service_of(request)).list()
    context.setdefault("form", {})
    return page(request, "apikeys.html", status_code=status_code, keys=keys, **context)


@router.get("/apikeys")
def apikeys_page(request: Request, viewer: AdminViewer) -> Response:
    return _render(request)


@router.post("/apikeys")
async def apikeys_create(request: Request, viewer: AdminViewer) -> Response:
    form = await checked_form(request)
    values = form_values(form, "name", "callback_url")
    test = str(form.get("test", "")) == "1"
    keys = ApiKeys(service_of(request))
    try:
        new = await run_in_threadpool(
            keys.create,
            values["name"],
            viewer.username,
            test=test,
            callback_url=values["callback_url"] or None,
        )
    except DomainError as exc:
        return _render(request, 422, error=exc.reason + f" ({exc.field}: {exc.value})", form=values)
    # Shown on this answer only (not flashed: the session cookie must not carry a key).
    return _render(request, 201, created=new)


@router.post("/apikeys/{name}/revoke")
async def apikeys_revoke(request: Request, viewer: AdminViewer, name: str) -> Response:
    await checked_form(request)
    try:
        await run_in_threadpool(ApiKeys(service_of(request)).revoke, name, viewer.username)
    except DomainError as exc:
        return _render(request, 404 if isinstance(exc, NotFound) else 409, error=f"{exc.reason} ({name})")
    flash(request, f"Đã thu hồi khóa {name}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/apikeys", status_code=303)
