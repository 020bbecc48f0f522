"""The QR code of a dossier's public link and the printable slips (notifier.workflows.qr_slips), for the
portal and the one-stop desk's software. `Authorization: Bearer <key>` like the rest of /api/v1; an unknown
dossier or agency, or a day without receipts, answers 404 naming it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from notifier.web.deps import Caller, DossierCode
from notifier.workflows.apology import PdfUnavailable
from notifier.workflows.qr_slips import QrFormat, QrWorkflow, Rendered

router = APIRouter(prefix="/api/v1", tags=["qr"])


def _answer(done: Rendered) -> Response:
    # inline: a browser shows the code or the slip; the name is what "save as" offers
    headers = {"Content-Disposition": f'inline; filename="{done.filename}"', "X-Slip-Count": str(done.count)}
    if done.skipped:  # dossiers of the day left without a slip: their codes cannot be put in a link
        headers["X-Slips-Skipped"] = ",".join(done.skipped)
    return Response(done.content, media_type=done.media_type, headers=headers)


@router.get("/dossiers/{code}/qr")
async def get_qr(
    code: DossierCode, request: Request, caller: Caller, format: QrFormat = QrFormat.SVG
) -> Response:
    """`?format=svg|png` the QR code of the dossier's public page; `pdf` the A6 slip with the code, the
    appointment date and the look-up page's address."""
    try:
        done = await run_in_threadpool(QrWorkflow(request.app.state.service).qr, code, format)
    except PdfUnavailable as exc:
        raise HTTPException(501, detail=str(exc)) from exc
    return _answer(done)


@router.get("/agencies/{agency}/qr-slips")
async def get_day_slips(
    agency: str, request: Request, caller: Caller, day: Annotated[str, Query(alias="date")]
) -> Response:
    """`?date=07/12/2026`: one PDF with the slips of every dossier the agency received that day, four A6
    slips to an A4 sheet, in the order received."""
    try:
        done = await run_in_threadpool(QrWorkflow(request.app.state.service).day_slips, agency, day)
    except PdfUnavailable as exc:
        raise HTTPException(501, detail=str(exc)) from exc
    return _answer(done)
