"""The HTTP API: dossier and officer ingest for the portal, status look-up, health."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool

from notifier.web.bodies import DossierBatch, OfficerBatch
from notifier.web.body_limit import BodyLimitMiddleware, BodyLimits
from notifier.web.deps import Caller, CallerKey, DossierCode, body_errors, import_response, refusal
from notifier.workflows.dossier_status import DossierLookup
from notifier.workflows.errors import DomainError, NotFound
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service

log = logging.getLogger("notifier.web")


def create_app(
    service: Service,
    lifespan: Callable[[FastAPI], Any] | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The API, webhooks, metrics and the admin page; `routers` adds routes of other interfaces (the
    Telegram webhook, wired by `jobs.processes`)."""

    @asynccontextmanager
    async def default_lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    # strict_content_type off: the portal's JSON is read even when it names no Content-Type, as before the
    # bodies were declared (the bearer key, not the content type, keeps browsers' cross-site posts out).
    app = FastAPI(
        title="notifier", version="0.1.0", lifespan=lifespan or default_lifespan, strict_content_type=False
    )
    app.state.service = service
    api = service.settings.api
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits(api.max_body_bytes, api.import_max_body_bytes, api.webhook_max_body_bytes),
    )

    @app.exception_handler(DomainError)
    async def refused(_request: Request, exc: DomainError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        detail = body_errors(exc)
        if detail is None:
            return await request_validation_exception_handler(request, exc)
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The database is down or locked past the wait: the client should retry, not report a bug. The
        # driver's message (host, port, SQL) stays in the server's log.
        log.warning("database unavailable: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200])
        return JSONResponse(
            {"detail": "database unavailable; try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from notifier.web.metrics import Metrics

    if service.metrics is None:
        service.metrics = Metrics(service)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            with service.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readyz: database unreachable: %s", type(exc).__name__)
            # no driver message: it names the database host and port to whoever asks
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    imports = ImportWorkflow(service)

    @app.post("/api/v1/dossiers")
    async def post_dossiers(body: DossierBatch, caller: CallerKey) -> JSONResponse:
        """Dossiers (`DongBoHoSoMC`), `{"data": [...]}` or a list: each bad item is reported with its row,
        field, value and reason (422), and the good ones are stored all the same."""
        report = await run_in_threadpool(imports.dossiers, body.data, f"api:{caller.name}", caller.id)
        return import_response(report)

    @app.post("/api/v1/officers")
    async def post_officers(body: OfficerBatch, caller: Caller) -> JSONResponse:
        """Agencies and officers, `{"data": [...]}` or a list; reported per item like dossiers."""
        return import_response(await run_in_threadpool(imports.officers, body.data))

    @app.get("/api/v1/dossiers/{code}")
    def get_dossier(code: DossierCode, caller: Caller) -> dict[str, Any]:
        try:
            return DossierLookup(service).status(code)
        except NotFound as exc:
            raise HTTPException(404, f"MaHoSo '{code}': not found") from exc

    from notifier.web.feedback import feedback_router  # citizens' feedback and officers' answers

    app.include_router(feedback_router())
    for router in routers:
        app.include_router(router)

    from notifier.web import webhooks  # provider delivery receipts and inbound SMS

    app.include_router(webhooks.router)

    from notifier.web.officers import router as officer_router  # apology, resolve, progress, 766 reports

    app.include_router(officer_router)

    from notifier.web.qr import router as qr_router  # QR codes of public links, printable slips

    app.include_router(qr_router)
    if service.settings.public.enabled:
        from notifier.web.public.app import router as public_router  # the public dossier page at /tra-cuu

        app.include_router(public_router, include_in_schema=False)

    if service.settings.admin.enabled:
        from notifier.web.admin.app import mount_admin  # the admin web page at /admin

        mount_admin(app, service)

    return app
