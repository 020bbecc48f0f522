"""What the API's handlers share: the caller's API key, the JSON body, the answer to an import, and the words
for a workflow's refusal (`{"detail": [{"field", "value", "reason"}]}` with a status per kind of refusal).

As in FastAPI's usual layout (`api/deps.py`), handlers declare these as parameters (`caller: Caller`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from notifier.rules.portal import ImportReport
from notifier.store.apikeys import verify_key
from notifier.workflows.errors import DomainError, NotAllowed, NotFound, WrongState
from notifier.workflows.service import Service


def items_of(payload: Any) -> list[Any]:
    """The items of `{"data": [...]}` or of a plain list; 422 naming `data` otherwise."""
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


def import_response(report: ImportReport) -> JSONResponse:
    """The per-item report of an import: 422 when any item was rejected, 200 otherwise."""
    body = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": [e.as_dict() for e in report.errors],
        "warnings": report.warnings,
    }
    return JSONResponse(body, status_code=422 if report.errors else 200)


def status_of(exc: DomainError) -> int:
    """The HTTP status for a workflow's refusal."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, WrongState):
        return 409
    return 422  # InvalidInput


def refusal(exc: DomainError) -> JSONResponse:
    return JSONResponse({"detail": [exc.as_dict()]}, status_code=status_of(exc))


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


async def json_body(request: Request) -> Any:
    """The request's JSON, or 422 naming the body."""
    try:
        return await request.json()
    except ValueError as exc:
        raise HTTPException(
            422, detail=[{"field": "body", "value": None, "reason": f"not JSON: {exc}"}]
        ) from exc
