"""The HTTP API: dossier and officer ingest for the portal, status look-up, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from notifier.apikeys import verify_key
from notifier.ingest import ImportReport, upsert
from notifier.officers import upsert_officers
from notifier.queries import dossier_status
from notifier.service import Service


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return payload["data"]
    if isinstance(payload, list):
        return payload
    raise HTTPException(
        422,
        detail=[
            {"field": "data", "value": None, "reason": "expected a list or an object with a 'data' list"}
        ],
    )


def _report(report: ImportReport) -> JSONResponse:
    body = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": [e.as_dict() for e in report.errors],
        "warnings": report.warnings,
    }
    return JSONResponse(body, status_code=422 if report.errors else 200)


def require_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's key name; 401 without a valid `Authorization: Bearer <key>`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    service: Service = request.app.state.service
    with service.factory() as session:
        key = verify_key(session, authorization.removeprefix("Bearer ").strip())
    if key is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return key.name


Caller = Annotated[str, Depends(require_key)]


def create_app(service: Service, lifespan: Callable[[FastAPI], Any] | None = None) -> FastAPI:
    @asynccontextmanager
    async def default_lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="notifier", version="0.1.0", lifespan=lifespan or default_lifespan)
    app.state.service = service

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from notifier.metrics import Metrics

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
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.post("/api/v1/dossiers")
    async def post_dossiers(request: Request, caller: Caller) -> JSONResponse:
        items = _items(await _json(request))

        def store() -> ImportReport:
            with service.factory() as session, session.begin():
                return upsert(session, items, service.clock.now(), source=f"api:{caller}")

        return _report(await run_in_threadpool(store))

    @app.post("/api/v1/officers")
    async def post_officers(request: Request, caller: Caller) -> JSONResponse:
        items = _items(await _json(request))

        def store() -> ImportReport:
            with service.factory() as session, session.begin():
                return upsert_officers(session, items)

        return _report(await run_in_threadpool(store))

    @app.get("/api/v1/dossiers/{code}")
    def get_dossier(code: str, caller: Caller) -> dict[str, Any]:
        with service.factory() as session:
            found = dossier_status(session, code, service.calendar, service.clock.now())
        if found is None:
            raise HTTPException(404, f"MaHoSo '{code}': not found")
        return found

    from notifier.bot.config import webhook_path
    from notifier.bot.http import feedback_router, webhook_router  # citizens' feedback, Telegram updates

    app.include_router(feedback_router())
    bot_path = webhook_path(service.settings)
    if bot_path is not None:
        app.include_router(webhook_router(bot_path))

    from notifier import webhooks  # provider delivery receipts and inbound SMS

    app.include_router(webhooks.router)

    from notifier.officer_api import router as officer_router  # apology, resolve, progress, 766 reports

    app.include_router(officer_router)

    if service.settings.admin.enabled:
        from notifier.admin import mount_admin  # the admin web page at /admin

        mount_admin(app, service)

    return app


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise HTTPException(
            422, detail=[{"field": "body", "value": None, "reason": f"not JSON: {exc}"}]
        ) from exc
