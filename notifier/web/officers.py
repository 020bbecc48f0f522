"""HTTP endpoints for officers and leaders: apology, resolve, inter-agency progress, 766 reports.

All need `Authorization: Bearer <key>` (notifier.web.api.Caller). Refusals answer with the field and the
value: 404 unknown dossier, 403 officer of another agency, 409 wrong status, 422 bad input.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from notifier.store.models import Officer
from notifier.store.queries import slips_for
from notifier.web.deps import Caller, import_response, items_of, json_body
from notifier.workflows import reports
from notifier.workflows.apology import (
    ActionError,
    PdfUnavailable,
    render_slip_html,
    render_slip_pdf,
)
from notifier.workflows.officer_actions import mark_resolved, set_new_date
from notifier.workflows.service import Service
from notifier.workflows.steps import upsert_progress

router = APIRouter(prefix="/api/v1", tags=["officers"])


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _refuse(exc: ActionError) -> HTTPException:
    return HTTPException(exc.status, detail=[exc.as_dict()])


def _officer(session: Session, code: Any) -> Officer | None:
    if code in (None, ""):
        return None
    officer = session.scalar(select(Officer).where(Officer.code == str(code)))
    if officer is None:
        raise ActionError("officer", code, "unknown officer code (MaCanBo)")
    return officer


def _body(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise HTTPException(
            422, detail=[{"field": "body", "value": None, "reason": "expected a JSON object"}]
        )
    return payload


@router.post("/dossiers/{code}/apology")
async def post_apology(code: str, request: Request, caller: Caller) -> JSONResponse:
    """Set a new appointment date and reason: `{"new_due": "15/12/2026", "reason": "…", "officer": "CB01"}`.

    `NgayHenTraMoi` and `LyDoTreHan` are accepted for `new_due` and `reason`. Moves the appointment,
    issues the numbered slip and lets the scan send the citizen's apology (or the follow-up) once.
    """
    body = _body(await json_body(request))
    service = _service(request)
    s = service.settings

    def act() -> dict[str, Any]:
        with service.factory() as session, session.begin():
            officer = _officer(session, body.get("officer") or body.get("MaCanBo"))
            done = set_new_date(
                session,
                code,
                body.get("new_due", body.get("NgayHenTraMoi")),
                body.get("reason", body.get("LyDoTreHan")),
                service.clock.now(),
                actor=f"api:{caller}" + (f":{officer.code}" if officer else ""),
                source="api",
                calendar=service.calendar,
                number_format=s.apology.number_format,
                default_time=s.working_hours.end,
                officer=officer,
            )
            slip = done.slip
            return {
                "MaHoSo": code,
                "number": slip.number,
                "old_due_at": slip.old_due_at.isoformat(),
                "new_due_at": slip.new_due_at.isoformat(),
                "reason": slip.reason,
                "corrected": done.corrected,
                "slip": f"/api/v1/dossiers/{code}/apology",
            }

    try:
        return JSONResponse(await run_in_threadpool(act))
    except ActionError as exc:
        raise _refuse(exc) from exc


@router.get("/dossiers/{code}/apology")
def get_apology(
    code: str,
    request: Request,
    caller: Caller,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
    number: str | None = None,
) -> Response:
    """The dossier's latest apology slip (or the one with `number`) as a printable page or a PDF."""
    service = _service(request)
    with service.factory() as session:
        slips = slips_for(session, code)
    if number is not None:
        slips = [s for s in slips if s.number == number]
    if not slips:
        raise HTTPException(404, detail=[{"field": "MaHoSo", "value": code, "reason": "no apology slip"}])
    slip, province = slips[-1], service.settings.province.name
    if format == "pdf":
        try:
            pdf = render_slip_pdf(slip, province, service.settings.apology.pdf_font)
        except PdfUnavailable as exc:
            raise HTTPException(501, detail=str(exc)) from exc
        return Response(pdf, media_type="application/pdf")
    return HTMLResponse(render_slip_html(slip, province))


@router.post("/dossiers/{code}/resolve")
async def post_resolve(code: str, request: Request, caller: Caller) -> JSONResponse:
    """Mark "Đã xử lý xong" (status 9); the citizen's `result_ready` notice follows. Body optional:
    `{"officer": "CB01", "note": "…"}`."""
    raw = await request.body()
    body = _body(await json_body(request)) if raw.strip() else {}
    service = _service(request)

    def act() -> dict[str, Any]:
        with service.factory() as session, session.begin():
            officer = _officer(session, body.get("officer") or body.get("MaCanBo"))
            done = mark_resolved(
                session,
                code,
                service.clock.now(),
                actor=f"api:{caller}" + (f":{officer.code}" if officer else ""),
                source="api",
                note=body.get("note"),
                officer=officer,
            )
            return {"MaHoSo": code, "status": done.dossier.status, "at": done.event.occurred_at.isoformat()}

    try:
        return JSONResponse(await run_in_threadpool(act))
    except ActionError as exc:
        raise _refuse(exc) from exc


@router.post("/progress")
async def post_progress(request: Request, caller: Caller) -> JSONResponse:
    """Inter-agency progress items (`CapNhatTienDoHoSoMC`), `{"data": [...]}` or a list."""
    items = items_of(await json_body(request))
    service = _service(request)

    def store() -> Any:
        with service.factory() as session, session.begin():
            return upsert_progress(session, items, service.clock.now(), source=f"api:{caller}")

    return import_response(await run_in_threadpool(store))


def _report_response(service: Service, period: reports.Period, fmt: str) -> Response:
    if fmt not in reports.FORMATS:
        raise HTTPException(
            422,
            detail=[
                {"field": "format", "value": fmt, "reason": f"expected one of {', '.join(reports.FORMATS)}"}
            ],
        )
    with service.factory() as session:
        report = reports.build_report(session, period, service.clock.now())
    body, media = reports.render(report, fmt)
    headers = {}
    if fmt in ("csv", "xlsx"):
        headers["Content-Disposition"] = f'attachment; filename="bao-cao-{period.slug}.{fmt}"'
    return Response(body, media_type=media, headers=headers)


def _bad_period(exc: ValueError) -> HTTPException:
    field, _, rest = str(exc).partition(": value ")
    value, _, reason = rest.partition(": ")
    return HTTPException(
        422, detail=[{"field": field, "value": value.strip("'"), "reason": reason or str(exc)}]
    )


@router.get("/reports/monthly")
def get_monthly(request: Request, caller: Caller, month: str, format: str = "json") -> Response:
    """`?month=2026-10&format=json|csv|xlsx|html`."""
    try:
        period = reports.month_period(month)
    except ValueError as exc:
        raise _bad_period(exc) from exc
    return _report_response(_service(request), period, format)


@router.get("/reports/period")
def get_period(
    request: Request,
    caller: Caller,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    format: str = "json",
) -> Response:
    """`?from=2026-01-01&to=2026-06-30&format=…`, both days included (the six-monthly report)."""
    try:
        period = reports.span_period(from_, to)
    except ValueError as exc:
        raise _bad_period(exc) from exc
    return _report_response(_service(request), period, format)
