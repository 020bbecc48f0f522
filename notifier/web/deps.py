"""What the API's handlers share: the caller's API key, the answer to an import, and the words for a refusal.

As in FastAPI's usual layout (`api/deps.py`), handlers declare these as parameters (`caller: Caller`).
Every refusal answers `{"detail": [{"field", "value", "reason"}]}`, whether the body failed its model
(`body_errors`) or a workflow refused (`status_of`)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from notifier.rules.portal import ImportReport, dossier_code, jsonable
from notifier.workflows.apikeys import ApiKeys, KeyRateLimited
from notifier.workflows.apikeys import Caller as ApiCaller
from notifier.workflows.errors import DomainError, NotAllowed, NotFound, WrongState


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


def body_errors(exc: RequestValidationError) -> list[dict[str, Any]] | None:
    """A body that failed its model, as field/value/reason; None when an error is about the path, the query
    or a header (those keep FastAPI's own answer)."""
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if not loc or loc[0] != "body":
            return None
        if err.get("type") == "json_invalid":
            error = (err.get("ctx") or {}).get("error", err.get("msg"))
            out.append({"field": "body", "value": None, "reason": f"not JSON: {error}"})
            continue
        value = None if err.get("type") == "missing" else err.get("input")
        reason = str(err.get("msg", "")).removeprefix("Value error, ")
        out.append({"field": ".".join(loc[1:]) or "body", "value": jsonable(value), "reason": reason})
    return out


def require_key_info(request: Request, authorization: Annotated[str | None, Header()] = None) -> ApiCaller:
    """The caller's key; 401 without a valid `Authorization: Bearer <key>` (the scheme's name in any case,
    as RFC 7235 says), 429 over the key's rate."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    keys: ApiKeys | None = getattr(request.app.state, "api_keys", None)
    if keys is None:  # one per app: its rate limiter caches the limits
        keys = request.app.state.api_keys = ApiKeys(request.app.state.service)
    try:
        caller = keys.authenticate(token.strip())
    except KeyRateLimited as exc:
        raise HTTPException(
            429, str(exc), headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        ) from exc
    if caller is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return caller


def require_key(caller: Annotated[ApiCaller, Depends(require_key_info)]) -> str:
    """The caller's key name."""
    return caller.name


CallerKey = Annotated[ApiCaller, Depends(require_key_info)]
Caller = Annotated[str, Depends(require_key)]

# A dossier code in a URL path: refused (422 naming `code`) before any query when it is no code at all, a
# NUL in one was a 500 on PostgreSQL.
DossierCode = Annotated[str, AfterValidator(dossier_code)]
