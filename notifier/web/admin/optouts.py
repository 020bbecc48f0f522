"""Opt-outs and consents per address and medium, changed only with a reason, every change audited.

Admins only: a contact is province-wide (one phone number across every agency), so one agency's change
would silence messages from all the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from notifier.rules.phones import phone_or_none
from notifier.store import audit
from notifier.store.contacts import record_opt_in, record_opt_out
from notifier.store.models import Contact
from notifier.web.admin.auth import AdminViewer, Viewer, checked_form, service_of
from notifier.web.admin.labels import MEDIUM_LABELS
from notifier.web.admin.web import flash, page

router = APIRouter()

PAGE_SIZE = 50
PHONE_MEDIA = ("sms", "zalo")


class ContactError(ValueError):
    pass


def normalize_address(medium: str, raw: str) -> str:
    """The address as channels store it: E.164 for phone media, lower-case e-mail, a numeric chat id."""
    value = raw.strip()
    if medium not in MEDIUM_LABELS:
        raise ContactError(f"Kênh '{medium}' không hợp lệ.")
    if not value:
        raise ContactError("Địa chỉ: bắt buộc.")
    if medium in PHONE_MEDIA:
        phone = phone_or_none(value)
        if phone is None:
            raise ContactError(f"Số điện thoại '{value}' không hợp lệ.")
        return phone
    if medium == "email":
        if "@" not in value:
            raise ContactError(f"Thư điện tử '{value}' không hợp lệ.")
        return value.lower()
    if not (value.isascii() and value.lstrip("-").isdigit()):
        raise ContactError(f"Mã chat Telegram '{value}' phải là số.")
    return value


@dataclass(frozen=True)
class Change:
    address: str
    medium: str
    action: str  # opt_out, opt_in
    reason: str


def apply_change(session: Session, viewer: Viewer, change: Change, now: datetime) -> Contact:
    if change.action not in ("opt_out", "opt_in"):
        raise ContactError(f"Thao tác '{change.action}' không hợp lệ.")
    if not change.reason.strip():
        raise ContactError("Lý do: bắt buộc khi thay đổi đồng ý hoặc từ chối nhận tin.")
    record = record_opt_out if change.action == "opt_out" else record_opt_in
    contact = record(
        session,
        change.address,
        change.medium,
        now,
        reason=change.reason.strip(),
        source=f"admin:{viewer.username}",
    )
    audit.record(
        session,
        now,
        viewer.username,
        f"contact.{change.action}",
        f"contact:{change.medium}:{change.address}",
        reason=change.reason.strip(),
    )
    return contact


def _list(session: Session, q: str, medium: str, state: str, page_no: int) -> tuple[list[Contact], int]:
    stmt = select(Contact)
    if q:
        phone = phone_or_none(q)
        if phone is not None:
            stmt = stmt.where(Contact.address == phone)
        else:
            stmt = stmt.where(func.lower(Contact.address) == q.strip().lower())
    if medium:
        stmt = stmt.where(Contact.medium == medium)
    if state == "out":
        stmt = stmt.where(Contact.opted_out_at.is_not(None))
    elif state == "in":
        stmt = stmt.where(Contact.opted_out_at.is_(None))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        session.scalars(
            stmt.order_by(Contact.updated_at.desc(), Contact.id.desc())
            .offset((page_no - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return rows, total


@router.get("/contacts")
def contacts_page(
    request: Request,
    viewer: AdminViewer,
    q: str = "",
    medium: str = "",
    state: str = "",
    page_no: int = 1,
) -> Response:
    service = service_of(request)
    with service.factory() as session:
        rows, total = _list(session, q, medium, state, max(1, page_no))
    return page(
        request,
        "contacts.html",
        rows=rows,
        total=total,
        q=q,
        medium=medium,
        state=state,
        media=MEDIUM_LABELS,
        error=None,
        form={},
    )


@router.post("/contacts")
async def contacts_change(request: Request, viewer: AdminViewer) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in ("address", "medium", "action", "reason")}

    def run() -> str:
        address = normalize_address(values["medium"], values["address"])
        with service.factory() as session, session.begin():
            apply_change(
                session,
                viewer,
                Change(address, values["medium"], values["action"], values["reason"]),
                service.clock.now(),
            )
        return address

    try:
        await run_in_threadpool(run)
    except ContactError as exc:
        with service.factory() as session:
            rows, total = _list(session, "", "", "", 1)
        return page(
            request,
            "contacts.html",
            status_code=422,
            rows=rows,
            total=total,
            q="",
            medium="",
            state="",
            media=MEDIUM_LABELS,
            error=str(exc),
            form=values,
        )
    verb = "từ chối nhận tin" if values["action"] == "opt_out" else "đồng ý nhận tin"
    flash(request, f"Đã ghi nhận {verb} qua {MEDIUM_LABELS[values['medium']]}.")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/contacts", status_code=303)
