"""Templates: the list by kind × channel type × agency, the editor with live preview, versions, tests."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from notifier.outbox.context import build_context
from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.outbox.views import dossier_view
from notifier.rules.clerk import Syntax, fields_for
from notifier.rules.kinds import REGISTRY, Audience, Kind, audience_of, is_kind, kind_info
from notifier.rules.payloads import TestPayload, TestTarget, TestText
from notifier.rules.rendering import (
    CHANNEL_TYPES,
    TemplateError,
    for_sms,
    load_template_files,
    sample_context,
)
from notifier.rules.workdays import WorkCalendar
from notifier.store import audit
from notifier.store import templates as template_store
from notifier.store.models import Agency, Dossier, Notification, Officer, Template
from notifier.web.admin.auth import AnyViewer, NotFound, Viewer, checked_form, checked_json, service_of
from notifier.web.admin.isolated import check_isolated, preview_isolated
from notifier.web.admin.preview import Preview, Problem, vietnamese
from notifier.web.admin.web import flash, page
from notifier.workflows.service import Service

router = APIRouter()

SOURCES = {
    "sample": "Dữ liệu mẫu: công dân",
    "business": "Dữ liệu mẫu: doanh nghiệp",
    "minimal": "Dữ liệu mẫu: thiếu các trường không bắt buộc",
    "dossier": "Hồ sơ thật (nhập mã hồ sơ)",
}


@dataclass(frozen=True)
class Target:
    """One editable template family: kind, channel type, and the agency (None = the province default)."""

    kind: str
    channel_type: str
    agency: Agency | None

    @property
    def agency_id(self) -> int | None:
        return self.agency.id if self.agency else None

    @property
    def agency_code(self) -> str:
        return self.agency.code if self.agency else ""

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.channel_type}/{self.agency_code or 'province'}"

    def url(self, root: str, action: str = "") -> str:
        base = f"{root}/templates/{self.channel_type}/{self.kind}"
        if action:
            base += f"/{action}"
        return base + (f"?agency={self.agency_code}" if self.agency else "")


def resolve(
    session: Session, viewer: Viewer, kind: str, channel_type: str, agency_code: str | None
) -> Target:
    """The template family a request names; another agency's, or the province's for an agency user, is 404.

    An agency user who names no agency means their own: they edit their agency's override.
    """
    if not is_kind(kind) or channel_type not in CHANNEL_TYPES:
        raise NotFound(f"mẫu {kind}/{channel_type}")
    code = (agency_code or "").strip() or (None if viewer.is_admin else viewer.agency_code)
    if code is None:
        if not viewer.is_admin:
            raise NotFound("mẫu chung của tỉnh")
        return Target(kind, channel_type, None)
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None or not viewer.sees(agency.id):
        raise NotFound(f"đơn vị {code}")
    return Target(kind, channel_type, agency)


def _agency_filter(agency_id: int | None) -> Any:
    return Template.agency_id.is_(None) if agency_id is None else Template.agency_id == agency_id


def versions(session: Session, target: Target) -> list[Template]:
    return list(
        session.scalars(
            select(Template)
            .where(
                Template.kind == target.kind,
                Template.channel_type == target.channel_type,
                _agency_filter(target.agency_id),
            )
            .order_by(Template.version.desc())
        )
    )


def latest_by_family(session: Session) -> dict[tuple[str, str, int | None], Template]:
    rows = template_store.newest_versions(session)
    return {(t.kind, t.channel_type, t.agency_id): t for t in rows}


@dataclass(frozen=True)
class Starting:
    """What the editor opens with: the target's newest version, or what it would inherit."""

    subject: str | None
    body: str
    version: int  # the target's newest version; 0 when it has none yet
    inherited_from: str | None  # "province" or "file" when the text is not the target's own
    syntax: str = Syntax.SIMPLE


def starting_text(session: Session, target: Target, history: list[Template]) -> Starting:
    if history:
        t = history[0]
        return Starting(t.subject, t.body, t.version, None, t.syntax)
    if target.agency is not None:
        province = versions(session, Target(target.kind, target.channel_type, None))
        if province:
            return Starting(province[0].subject, province[0].body, 0, "province", province[0].syntax)
    for f in load_template_files():
        if (f.kind, f.channel_type) == (target.kind, target.channel_type):
            return Starting(f.subject, f.body, 0, "file", f.syntax)
    return Starting(None, "", 0, "file")


SYNTAX_NAMES = {Syntax.SIMPLE: "Đơn giản", Syntax.JINJA: "Nâng cao (Jinja)"}


def chosen_syntax(viewer: Viewer, requested: object, start: Starting) -> tuple[str, list[Problem]]:
    """The syntax a form asks for, and why it may not have it: only an admin switches a template to
    the advanced mode (an agency clerk keeps an advanced text advanced, or makes it simple)."""
    syntax = str(requested) if str(requested) in {str(s) for s in Syntax} else start.syntax
    if syntax == Syntax.JINJA and start.syntax != Syntax.JINJA and not viewer.is_admin:
        message = "chỉ quản trị viên mới chuyển được mẫu sang chế độ nâng cao (Jinja)"
        return str(start.syntax), [Problem("body", None, message)]
    return syntax, []


# ---------------------------------------------------------------------------------------------- context


def dossier_context(
    session: Session, dossier: Dossier, kind: str, calendar: WorkCalendar, now: datetime
) -> dict[str, Any]:
    """What the dispatcher would pass for this dossier, built the same way (notifier.outbox.context)."""
    info = kind_info(kind)
    audience = info.audience
    officer: Officer | None = None
    if audience is Audience.OFFICER:
        officer = dossier.officer or session.scalar(
            select(Officer).where(Officer.agency_id == dossier.agency_id, Officer.active).order_by(Officer.id)
        )
    elif audience is Audience.HEAD:
        officer = session.scalar(
            select(Officer)
            .where(Officer.agency_id == dossier.agency_id, Officer.is_head, Officer.active)
            .order_by(Officer.id)
        )
    # An apology's preview is about the appointment the latest apology moved (else the current one).
    ref_at = dossier_view(dossier, calendar, now).missed_due_at if info.about_missed_appointment else None
    # Never added to the session: it only carries the relationships build_context reads (not an outbox
    # row, so not made by outbox.enqueue; tests/test_enqueue.py allows it by name).
    probe = Notification(kind=kind, audience=str(audience), ref_at=ref_at, dossier=dossier, officer=officer)
    context = build_context(probe, calendar, now)
    if info.digest and context["dossier"] is not None:
        context["items"] = [context["dossier"]]
    return context


def find_dossier(session: Session, viewer: Viewer, code: str) -> Dossier | None:
    return session.scalar(
        select(Dossier)
        .where(Dossier.code == code.strip(), viewer.scope(Dossier.agency_id))
        .options(selectinload(Dossier.agency), selectinload(Dossier.procedure), selectinload(Dossier.officer))
    )


def preview_for(
    service: Service,
    viewer: Viewer,
    target: Target,
    body: str,
    subject: str | None,
    source: str,
    dossier_code: str,
    syntax: str = Syntax.JINJA,
) -> Preview:
    now = service.clock.now()
    price = service.settings.admin.sms_price_vnd
    with service.factory() as session:
        if source == "dossier":
            dossier = find_dossier(session, viewer, dossier_code) if dossier_code.strip() else None
            if dossier is None:
                shown = dossier_code.strip() or "(trống)"
                return Preview(problems=[Problem("dossier", None, f"không tìm thấy hồ sơ '{shown}'")])
            context = dossier_context(session, dossier, target.kind, service.calendar, now)
        else:
            context = sample_context(
                now,
                target.kind,
                applicant_kind="business" if source == "business" else "citizen",
                minimal=source == "minimal",
            )
    if target.channel_type == "sms":  # what the dispatcher will show an SMS template
        context = for_sms(context, payment_links=service.settings.messages.sms_payment_links)
    # Outside the session: the child process may take up to the preview timeout.
    r = service.settings.rendering
    return preview_isolated(
        body,
        subject,
        target.kind,
        target.channel_type,
        context,
        price,
        limits=r.limits(),
        timeout=r.preview_timeout_seconds,
        syntax=syntax,
    )


def recent_dossiers(session: Session, viewer: Viewer, limit: int = 30) -> list[str]:
    return list(
        session.scalars(
            select(Dossier.code)
            .where(viewer.scope(Dossier.agency_id))
            .order_by(Dossier.updated_at.desc(), Dossier.id.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------------------------------ pages


@router.get("/templates")
def template_list(request: Request, viewer: AnyViewer, agency: str | None = None) -> Response:
    service = service_of(request)
    with service.factory() as session:
        agencies = list(session.scalars(select(Agency).where(viewer.scope(Agency.id)).order_by(Agency.name)))
        code = (agency or "").strip() or (None if viewer.is_admin else viewer.agency_code)
        chosen = None
        if code is not None:
            chosen = next((a for a in agencies if a.code == code), None)
            if chosen is None:
                raise NotFound(f"đơn vị {code}")
        latest = latest_by_family(session)
    rows = []
    for kind, info in REGISTRY.items():
        cells = []
        for ct in CHANNEL_TYPES:
            province = latest.get((kind, ct, None))
            own = latest.get((kind, ct, chosen.id)) if chosen else None
            overrides = sum(1 for (k, c, a) in latest if (k, c) == (kind, ct) and a is not None)
            target = Target(kind, ct, chosen)
            cells.append(
                {
                    "channel_type": ct,
                    "url": target.url(request.scope.get("root_path", "")),
                    "province": province,
                    "own": own,
                    "overrides": overrides,
                }
            )
        rows.append({"kind": str(kind), "audience": info.audience, "cells": cells})
    return page(
        request,
        "templates_list.html",
        rows=rows,
        channel_types=CHANNEL_TYPES,
        agencies=agencies,
        chosen=chosen,
    )


@dataclass(frozen=True)
class Draft:
    """The editor's form as posted: the text on the screen and the preview's choices."""

    body: str
    subject: str | None
    source: str
    dossier_code: str
    base_version: int

    @classmethod
    def of(cls, form: FormData) -> Draft:
        try:
            base_version = int(str(form.get("base_version", "0")))
        except ValueError:
            base_version = 0
        return cls(
            body=str(form.get("body", "")).replace("\r\n", "\n"),
            subject=str(form.get("subject", "")).replace("\r\n", "\n") or None,
            source=str(form.get("source", "sample")),
            dossier_code=str(form.get("dossier", "")),
            base_version=base_version,
        )

    def subject_for(self, channel_type: str) -> str | None:
        """Only e-mail has a subject; another channel's form may still carry the field."""
        return self.subject if channel_type == "email" else None


def target_and_syntax(
    service: Service, viewer: Viewer, kind: str, channel_type: str, agency: str, requested_syntax: object
) -> tuple[Target, str, list[Problem]]:
    """The family a form names, the syntax it may use, and why it may not have the one it asked for."""
    with service.factory() as session:
        target = resolve(session, viewer, kind, channel_type, agency)
        start = starting_text(session, target, versions(session, target))
    syntax, refused = chosen_syntax(viewer, requested_syntax, start)
    return target, syntax, refused


def check_draft(service: Service, draft: Draft, kind: str, channel_type: str, syntax: str) -> list[Problem]:
    """Whether the draft could be saved; the check runs in a child process for up to the preview timeout."""
    r = service.settings.rendering
    return check_isolated(
        draft.body,
        draft.subject_for(channel_type),
        kind,
        channel_type,
        limits=r.limits(),
        timeout=r.preview_timeout_seconds,
        syntax=syntax,
    )


def _editor(
    request: Request,
    viewer: Viewer,
    target: Target,
    *,
    draft: Draft | None = None,
    base_version: int | None = None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    syntax: str | None = None,
    unsaved: str | None = None,
    notice: str | None = None,
) -> Response:
    """The editor page. `unsaved` heads a refusal ("Chưa lưu", "Chưa gửi thử") listing `problems`;
    `notice` says what was done with the text kept on the screen (a test send)."""
    service = service_of(request)
    with service.factory() as session:
        history = versions(session, target)
        start = starting_text(session, target, history)
        dossiers = recent_dossiers(session, viewer)
    body = start.body if draft is None else draft.body
    subject = start.subject if draft is None else draft.subject
    source = "sample" if draft is None else draft.source
    dossier_code = "" if draft is None else draft.dossier_code
    syntax = start.syntax if syntax is None else syntax
    preview = preview_for(service, viewer, target, body, subject, source, dossier_code, syntax)
    if problems:
        # The save's own findings come first (the conflict message, for one); the preview adds the rest.
        seen = {(p.field, p.line, p.message) for p in problems}
        preview.problems = problems + [
            p for p in preview.problems if (p.field, p.line, p.message) not in seen
        ]
    return page(
        request,
        "editor.html",
        status_code=status_code,
        target=target,
        body=body,
        subject=subject,
        start=start,
        base_version=start.version if base_version is None else base_version,
        history=history[:5],
        preview=preview,
        sources=SOURCES,
        source=source,
        dossier_code=dossier_code,
        dossiers=dossiers,
        price=service.settings.admin.sms_price_vnd,
        audience=audience_of(target.kind),
        syntax=syntax,
        syntax_names=SYNTAX_NAMES,
        # An agency clerk may not switch to advanced: offered only to admins, or kept when it already is.
        can_advance=viewer.is_admin or start.syntax == Syntax.JINJA,
        fields=list(fields_for(target.kind).values()),
        line_count=max(body.count("\n") + 1, 14),
        error_lines={p.line for p in preview.problems if p.line and p.field == "body"},
        save_refusal=list(problems or []) if unsaved else [],
        unsaved=unsaved,
        notice=notice,
    )


@router.get("/templates/{channel_type}/{kind}")
def editor(
    request: Request, viewer: AnyViewer, channel_type: str, kind: str, agency: str | None = None
) -> Response:
    service = service_of(request)
    with service.factory() as session:
        target = resolve(session, viewer, kind, channel_type, agency)
    return _editor(request, viewer, target)


@router.post("/templates/{channel_type}/{kind}/preview")
async def preview(request: Request, viewer: AnyViewer, channel_type: str, kind: str) -> Response:
    data = await checked_json(request)
    if not isinstance(data, dict):
        return JSONResponse({"detail": "body: expected a JSON object"}, status_code=422)
    service = service_of(request)

    def run() -> dict[str, Any]:
        target, syntax, refused = target_and_syntax(
            service, viewer, kind, channel_type, str(data.get("agency") or ""), data.get("syntax")
        )
        source = str(data.get("source") or "sample")
        if source not in SOURCES:
            source = "sample"
        result = preview_for(
            service,
            viewer,
            target,
            str(data.get("body") or ""),
            str(data.get("subject") or "") or None,
            source,
            str(data.get("dossier") or ""),
            syntax,
        )
        result.problems = refused + result.problems
        return result.as_dict()

    return JSONResponse(await run_in_threadpool(run))


@router.post("/templates/{channel_type}/{kind}/save")
async def save(request: Request, viewer: AnyViewer, channel_type: str, kind: str) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    draft = Draft.of(form)
    body, subject_, base_version = draft.body, draft.subject_for(channel_type), draft.base_version

    def store() -> tuple[Target, int | None, list[Problem], int, str]:
        target, syntax, refused = target_and_syntax(
            service, viewer, kind, channel_type, str(form.get("agency", "")), form.get("syntax")
        )
        # Before the transaction: the check runs in a child process for up to the preview timeout.
        checked = refused or check_draft(service, draft, kind, channel_type, syntax)
        with service.factory() as session, session.begin():
            target = resolve(session, viewer, kind, channel_type, str(form.get("agency", "")))
            problems = checked
            history = versions(session, target)
            latest = history[0] if history else None
            if problems:
                return target, None, problems, latest.version if latest else 0, syntax
            if latest is not None and latest.version != base_version:
                message = (
                    f"{latest.author} đã lưu phiên bản {latest.version} trong lúc bạn sửa; "
                    "hãy xem lịch sử rồi bấm Lưu lần nữa nếu vẫn muốn lưu nội dung của bạn."
                )
                return target, None, [Problem("body", None, message)], latest.version, syntax
            if (
                latest is not None
                and latest.body == body
                and (latest.subject or None) == subject_
                and latest.syntax == syntax
            ):
                return target, latest.version, [], latest.version, syntax
            try:
                row = template_store.save(
                    session,
                    template_store.NewVersion(kind, channel_type, target.agency_id, subject_, body, syntax),
                    viewer.username,
                    service.clock.now(),
                )
            except TemplateError as exc:  # the store's own check; `check` should have caught it
                return (
                    target,
                    None,
                    [Problem(exc.field, exc.line, vietnamese(exc.message))],
                    base_version,
                    syntax,
                )
            audit.record(
                session,
                service.clock.now(),
                viewer.username,
                "template.save",
                target.name,
                version=row.version,
                syntax=syntax,
            )
            return target, row.version, [], row.version, syntax

    target, saved, problems, latest_version, syntax = await run_in_threadpool(store)
    if problems:
        return _editor(
            request,
            viewer,
            target,
            draft=draft,
            base_version=latest_version,
            problems=problems,
            status_code=422,
            syntax=syntax,
            unsaved="Chưa lưu",
        )
    if saved == base_version:
        flash(request, "Không có thay đổi nào để lưu.", "info")
    else:
        flash(request, f"Đã lưu phiên bản {saved}.")
    return RedirectResponse(target.url(request.scope.get("root_path", "")), status_code=303)


def _family(
    request: Request, viewer: Viewer, kind: str, channel_type: str, agency: str | None
) -> tuple[Target, list[Template]]:
    """The template family a page's address names, and its versions, newest first."""
    with service_of(request).factory() as session:
        target = resolve(session, viewer, kind, channel_type, agency)
        return target, versions(session, target)


@router.get("/templates/{channel_type}/{kind}/history")
def history(
    request: Request, viewer: AnyViewer, channel_type: str, kind: str, agency: str | None = None
) -> Response:
    target, rows = _family(request, viewer, kind, channel_type, agency)
    return page(request, "history.html", target=target, versions=rows)


def diff_lines(old: Template | None, new: Template) -> list[tuple[str, str]]:
    """Unified diff of subject and body as (css class, line) pairs."""

    def text(t: Template | None) -> list[str]:
        if t is None:
            return []
        lines = [f"Tiêu đề: {t.subject}"] if t.subject is not None else []
        return lines + t.body.splitlines()

    out: list[tuple[str, str]] = []
    a = f"phiên bản {old.version}" if old else "(trống)"
    for line in difflib.unified_diff(text(old), text(new), a, f"phiên bản {new.version}", lineterm=""):
        if line.startswith(("+++", "---")):
            css = "file"
        elif line.startswith("@@"):
            css = "hunk"
        elif line.startswith("+"):
            css = "add"
        elif line.startswith("-"):
            css = "del"
        else:
            css = "same"
        out.append((css, line))
    return out


@router.get("/templates/{channel_type}/{kind}/diff")
def diff(
    request: Request,
    viewer: AnyViewer,
    channel_type: str,
    kind: str,
    v: int,
    against: int | None = None,
    agency: str | None = None,
) -> Response:
    target, rows = _family(request, viewer, kind, channel_type, agency)
    by_version = {t.version: t for t in rows}
    new = by_version.get(v)
    if new is None:
        raise NotFound(f"phiên bản {v}")
    old = by_version.get(against if against is not None else v - 1)
    return page(request, "diff.html", target=target, new=new, old=old, lines=diff_lines(old, new))


@router.post("/templates/{channel_type}/{kind}/rollback")
async def rollback(request: Request, viewer: AnyViewer, channel_type: str, kind: str) -> Response:
    form = await checked_form(request)
    service = service_of(request)
    try:
        version = int(str(form.get("version", "")))
    except ValueError as exc:
        raise NotFound(f"phiên bản {form.get('version')!r}") from exc

    def store() -> tuple[Target, str]:
        with service.factory() as session, session.begin():
            target = resolve(session, viewer, kind, channel_type, str(form.get("agency", "")))
            history = versions(session, target)
            old = next((t for t in history if t.version == version), None)
            if old is None:
                raise NotFound(f"phiên bản {version}")
            if old.version == history[0].version:
                return target, f"Phiên bản {version} đang là bản mới nhất."
            if old.syntax == Syntax.JINJA and history[0].syntax != Syntax.JINJA and not viewer.is_admin:
                # Going back to an advanced version is switching to the advanced mode: admins only.
                return target, (
                    f"Không khôi phục được phiên bản {version}: bản này viết ở chế độ nâng cao (Jinja), "
                    "chỉ quản trị viên mới chuyển được mẫu sang chế độ này."
                )
            try:
                row = template_store.save(
                    session,
                    template_store.NewVersion(
                        kind, channel_type, target.agency_id, old.subject, old.body, old.syntax
                    ),
                    viewer.username,
                    service.clock.now(),
                )
            except TemplateError as exc:
                # Placeholders the current schema no longer has: the old text cannot come back as it was.
                where = f" (dòng {exc.line})" if exc.line else ""
                return target, f"Không khôi phục được phiên bản {version}{where}: {vietnamese(exc.message)}"
            audit.record(
                session,
                service.clock.now(),
                viewer.username,
                "template.rollback",
                target.name,
                from_version=version,
                version=row.version,
            )
            return target, f"Đã khôi phục phiên bản {version} thành phiên bản mới {row.version}."

    target, message = await run_in_threadpool(store)
    flash(request, message, "ok" if message.startswith("Đã") else "error")
    return RedirectResponse(target.url(request.scope.get("root_path", ""), "history"), status_code=303)


@router.post("/templates/{channel_type}/{kind}/test")
async def send_test(request: Request, viewer: AnyViewer, channel_type: str, kind: str) -> Response:
    """Queue the text on the screen (saved or not), with sample data, to the viewer's own phone/chat/e-mail
    through the outbox, marked as a test; the editor comes back with the text as it was typed."""
    form = await checked_form(request)
    service = service_of(request)
    draft = Draft.of(form)
    body, subject_ = draft.body, draft.subject_for(channel_type)

    def queue() -> tuple[Target, str, list[Problem], str | None]:
        target, syntax, refused = target_and_syntax(
            service, viewer, kind, channel_type, str(form.get("agency", "")), form.get("syntax")
        )
        if not body.strip():
            return (
                target,
                syntax,
                [Problem("body", None, "nội dung mẫu đang trống, không có gì để gửi thử")],
                None,
            )
        if not (viewer.phone or viewer.telegram_chat_id or viewer.email):
            message = "tài khoản của bạn chưa có số điện thoại, Telegram hay thư điện tử để nhận tin thử"
            return target, syntax, [Problem("body", None, message)], None
        # A text that could not be saved is not sent either: the dispatcher would only fail it.
        problems = refused or check_draft(service, draft, kind, channel_type, syntax)
        if problems:
            return target, syntax, problems, None
        with service.factory() as session, session.begin():
            now = service.clock.now()
            payload = TestPayload(
                test=TestTarget(
                    by=viewer.username,
                    agency_id=target.agency_id,
                    phone=viewer.phone,
                    telegram_chat_id=viewer.telegram_chat_id,
                    email=viewer.email,
                ),
                text=TestText(channel_type=channel_type, body=body, subject=subject_, syntax=syntax),
            )
            key = f"test:{viewer.username}:{uuid.uuid4().hex}"
            new_id = enqueue(session, NewNotification(key, Kind(kind), payload=payload, is_test=True), now)
            if new_id is None:  # the key carries a fresh uuid: only a bug can repeat it
                raise RuntimeError(f"test send {key}: the dedupe key is already in the outbox")
            audit.record(session, now, viewer.username, "template.test", target.name, notification_id=new_id)
        route = ", ".join(service.settings.routing.for_audience(audience_of(kind)))
        return (
            target,
            syntax,
            [],
            f"Đã xếp tin thử số {new_id} vào hàng đợi với nội dung đang soạn (chưa lưu cũng được) và dữ liệu "
            f"mẫu, gửi tới địa chỉ của bạn qua các kênh {route}. Tin thử không tính vào báo cáo.",
        )

    target, syntax, problems, notice = await run_in_threadpool(queue)
    return _editor(
        request,
        viewer,
        target,
        draft=draft,
        base_version=draft.base_version,
        problems=problems,
        status_code=422 if problems else 200,
        syntax=syntax,
        unsaved="Chưa gửi thử" if problems else None,
        notice=notice,
    )
