"""HTTP endpoints for officers and leaders: apology, resolve, inter-agency progress, 766 reports.

All need `Authorization: Bearer <key>` (notifier.web.deps.Caller). Refusals answer with the field and the
value (notifier.web.deps.refusal): 404 unknown dossier, 403 officer of another agency, 409 wrong status,
422 bad input.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from notifier.web.bodies import ApologyBody, ProgressBatch, ResolveBody
from notifier.web.deps import Caller, DossierCode, import_response
from notifier.workflows.apology import PdfUnavailable
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.officer_actions import Actor, ApologyWorkflow, ResolveWorkflow
from notifier.workflows.reports import RenderedReport, ReportWorkflow
from notifier.workflows.service import Service

router = APIRouter(prefix="/api/v1", tags=["officers"])


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


@router.post("/dossiers/{code}/apology")
async def post_apology(
    code: DossierCode, body: ApologyBody, request: Request, caller: Caller
) -> JSONResponse:
    """Issue Mẫu 04 (apology and proposed extension): `{"new_due": "15/12/2026", "reason": "…",
    "officer": "CB01"}`.

    `NgayHenTraMoi`, `LyDoTreHan` and `MaCanBo` are accepted for `new_due`, `reason` and `officer`. Moves
    the appointment, numbers the document and lets the scan send it to the citizen once. The rules allow one
    extension: a further one is recorded, and answered with `"compliant": false` and a `warning`.
    """
    by = Actor("api", caller=caller, officer=body.officer_code)
    done = await run_in_threadpool(
        ApologyWorkflow(_service(request)).set_new_date, code, body.due, body.delay_reason, by
    )
    return JSONResponse(
        {
            "MaHoSo": code,
            "number": done.number,
            "old_due_at": done.old_due_at.isoformat(),
            "new_due_at": done.new_due_at.isoformat(),
            "reason": done.reason,
            "corrected": done.corrected,
            # The rules allow one extension: a further one is recorded but flagged.
            "extension_no": done.extension_no,
            "compliant": done.compliant,
            "warning": None
            if done.compliant
            else f"extension {done.extension_no} of this dossier: not compliant (the rules allow one)",
            "slip": f"/api/v1/dossiers/{code}/apology",
        }
    )


@router.get("/dossiers/{code}/apology")
def get_apology(
    code: DossierCode,
    request: Request,
    caller: Caller,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
    number: str | None = None,
) -> Response:
    """The dossier's latest Mẫu 04 (or the one with `number`) as a printable page or a PDF."""
    try:
        slip = ApologyWorkflow(_service(request)).slip(code, number, "pdf" if format == "pdf" else "html")
    except PdfUnavailable as exc:
        raise HTTPException(501, detail=str(exc)) from exc
    return Response(slip.content, media_type=slip.media_type)


@router.post("/dossiers/{code}/resolve")
async def post_resolve(
    code: DossierCode, request: Request, caller: Caller, body: ResolveBody | None = None
) -> JSONResponse:
    """Mark "Đã xử lý xong" (status 9); the citizen's `result_ready` notice follows. Body optional:
    `{"officer": "CB01", "note": "…"}`."""
    body = body or ResolveBody()
    by = Actor("api", caller=caller, officer=body.officer_code)
    done = await run_in_threadpool(ResolveWorkflow(_service(request)).resolve, code, by, body.note)
    return JSONResponse({"MaHoSo": code, "status": done.status, "at": done.at.isoformat()})


@router.post("/progress")
async def post_progress(body: ProgressBatch, request: Request, caller: Caller) -> JSONResponse:
    """Inter-agency progress items (`CapNhatTienDoHoSoMC`), `{"data": [...]}` or a list."""
    imports = ImportWorkflow(_service(request))
    return import_response(await run_in_threadpool(imports.progress, body.data, f"api:{caller}"))


def _report_response(report: RenderedReport) -> Response:
    headers = {}
    if report.fmt in ("csv", "xlsx"):
        headers["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return Response(report.body, media_type=report.media_type, headers=headers)


@router.get("/reports/monthly")
def get_monthly(
    request: Request, caller: Caller, month: str, format: str = "json", headers: str = "vi"
) -> Response:
    """`?month=2026-10&format=json|csv|xlsx|html`; a CSV is headed in Vietnamese, or `&headers=keys`."""
    return _report_response(ReportWorkflow(_service(request)).monthly(month, format, headers == "keys"))


@router.get("/reports/period")
def get_period(
    request: Request,
    caller: Caller,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    format: str = "json",
    headers: str = "vi",
) -> Response:
    """`?from=2026-01-01&to=2026-06-30&format=…`, both days included (the six-monthly report); a CSV is
    headed in Vietnamese, or by keys with `&headers=keys`."""
    return _report_response(ReportWorkflow(_service(request)).span(from_, to, format, headers == "keys"))
