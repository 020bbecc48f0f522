"""Data-subject requests on the admin page: the list with deadlines, a request recorded on a citizen's
behalf, and carrying one out or refusing it. The work is notifier.workflows.privacy's. Admins only: a
citizen's data spans every agency."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from notifier.web.admin.auth import AdminViewer, RowId, checked_form, form_values, service_of
from notifier.web.admin.web import flash, page
from notifier.workflows.errors import DomainError
from notifier.workflows.privacy import PrivacyWorkflow, requests

router = APIRouter()

KIND_LABELS = {
    "access": "Xem dữ liệu",
    "correct": "Sửa dữ liệu",
    "erase": "Xoá dữ liệu",
    "withdraw": "Rút lại đồng ý",
}
STATUS_LABELS = {"open": "Đang chờ", "done": "Đã thực hiện", "refused": "Từ chối"}
CHANNEL_LABELS = {
    "bot": "Telegram",
    "officer": "Cán bộ",
    "admin": "Quản trị",
    "web": "Trang web",
    "zalo": "Zalo",
}


def _page(request: Request, status: str, error: str | None = None, **extra: Any) -> Response:
    service = service_of(request)
    with service.factory() as session:
        rows = requests(session, status or None)
        session.expunge_all()
    return page(
        request,
        "privacy.html",
        status_code=422 if error else 200,
        rows=rows,
        now=service.clock.now(),
        status=status,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        channels=CHANNEL_LABELS,
        error=error,
        form=extra.pop("form", {}),
        **extra,
    )


@router.get("/privacy")
def privacy_page(request: Request, viewer: AdminViewer, status: str = "open") -> Response:
    try:
        return _page(request, status)
    except DomainError as exc:
        return _page(request, "", error=f"Tình trạng '{exc.value}' không hợp lệ.")


@router.post("/privacy")
async def privacy_request(request: Request, viewer: AdminViewer) -> Response:
    form = await checked_form(request)
    values = form_values(form, "kind", "phone", "dossier", "detail")
    workflow = PrivacyWorkflow.of(service_of(request))
    try:
        made = await run_in_threadpool(
            lambda: workflow.request(
                kind=values["kind"],
                channel="admin",
                requested_by=viewer.username,
                phone=values["phone"] or None,
                dossier_code=values["dossier"] or None,
                detail=values["detail"] or None,
            )
        )
    except DomainError as exc:
        return _page(request, "open", error=str(exc), form=values)
    flash(request, f"Đã ghi nhận yêu cầu số {made['id']}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/privacy", status_code=303)


@router.post("/privacy/{request_id}")
async def privacy_done(request: Request, request_id: RowId, viewer: AdminViewer) -> Response:
    """Carry out (`action=done`, corrections as `set` lines FIELD=VALUE) or refuse (`action=refuse`)."""
    form = await checked_form(request)
    action = str(form.get("action", ""))
    workflow = PrivacyWorkflow.of(service_of(request))
    changes: dict[str, str] = {}
    for line in str(form.get("set", "")).splitlines():
        name, sep, value = line.partition("=")
        if sep:
            changes[name.strip()] = value.strip()
    try:
        if action == "refuse":
            await run_in_threadpool(workflow.refuse, request_id, viewer.username, str(form.get("reason", "")))
            flash(request, f"Đã từ chối yêu cầu số {request_id}.")
            return RedirectResponse(f"{request.scope.get('root_path', '')}/privacy", status_code=303)
        done, result = await run_in_threadpool(workflow.done, request_id, viewer.username, changes)
    except DomainError as exc:
        return _page(request, "open", error=str(exc))
    shown = json.dumps(result, ensure_ascii=False, indent=2) if done["kind"] == "access" else None
    return _page(request, "open", result=shown, done_id=request_id)


@router.post("/public-links/revoke")
async def public_links_revoke(request: Request, viewer: AdminViewer) -> Response:
    """Stop the dossier's QR links issued up to today (a receipt lost or shared; notifier.workflows.
    public_links): the citizen gets a working link on a receipt printed from tomorrow on."""
    from notifier.workflows.public_links import revoke

    form = await checked_form(request)
    code = str(form.get("dossier", "")).strip()
    try:
        await run_in_threadpool(revoke, service_of(request), code, viewer.username)
    except DomainError:
        return _page(request, "open", error=f"Không có hồ sơ mã '{code}'.")
    flash(request, f"Đã thu hồi liên kết tra cứu (mã QR) của hồ sơ {code}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/privacy", status_code=303)
