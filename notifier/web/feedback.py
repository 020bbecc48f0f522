"""HTTP routes for citizens' feedback: listing it and officers' answers (bearer API key)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from notifier.store.models import Agency, Feedback
from notifier.web.bodies import AnswerBody
from notifier.web.deps import Caller
from notifier.workflows import feedback as fb
from notifier.workflows.service import Service

log = logging.getLogger(__name__)


# Ids are bigints: anything outside is a 422, not a database overflow.
FeedbackId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _detail(field: str, value: object, reason: str) -> list[dict[str, Any]]:
    return [{"field": field, "value": value, "reason": reason}]


def feedback_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])

    @router.get("")
    def list_feedback(
        request: Request, caller: Caller, status: str = "open", agency: str | None = None
    ) -> Any:
        """Feedback by status (open, answered), oldest deadline first; `agency` is a MaDonVi."""
        if status not in ("open", "answered"):
            raise HTTPException(422, detail=_detail("status", status, "expected 'open' or 'answered'"))
        if agency is not None and "\x00" in agency:  # a NUL was a 500 on PostgreSQL
            raise HTTPException(422, detail=_detail("agency", agency, "contains a NUL character"))
        service: Service = request.app.state.service
        with service.factory() as session:
            query = (
                select(Feedback)
                .where(Feedback.status == status)
                .options(selectinload(Feedback.dossier), selectinload(Feedback.agency))
                .order_by(Feedback.deadline_at, Feedback.id)
                .limit(500)
            )
            if agency is not None:
                query = query.join(Agency, Feedback.agency_id == Agency.id).where(Agency.code == agency)
            return [fb.as_dict(row) for row in session.scalars(query)]

    @router.get("/{feedback_id}")
    def get_feedback(feedback_id: FeedbackId, request: Request, caller: Caller) -> Any:
        service: Service = request.app.state.service
        with service.factory() as session:
            row = session.get(Feedback, feedback_id, options=[selectinload(Feedback.dossier)])
            if row is None:
                raise HTTPException(404, f"feedback {feedback_id}: not found")
            return fb.as_dict(row)

    @router.post("/{feedback_id}/answer")
    async def answer(
        feedback_id: FeedbackId, body: AnswerBody, request: Request, caller: Caller
    ) -> JSONResponse:
        """Record the officer's answer and queue it for the citizen's chat (`feedback_answer`)."""
        service: Service = request.app.state.service
        by = body.answered_by
        actor = f"{by.strip()} (api:{caller})" if by else f"api:{caller}"

        def store() -> dict[str, Any]:
            with service.factory() as session, session.begin():
                row, notice = fb.answer(
                    session,
                    feedback_id,
                    body.answer,
                    actor,
                    service.clock.now(),
                    fallback_agency_name=service.settings.province.desk_name,
                )
                return {**fb.as_dict(row), "notification_id": notice.id}

        try:
            result = await run_in_threadpool(store)
        except fb.FeedbackError as exc:
            raise HTTPException(422, detail=_detail(exc.field, exc.value, exc.reason)) from exc
        except fb.FeedbackNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except fb.AlreadyAnswered as exc:
            raise HTTPException(409, str(exc)) from exc
        return JSONResponse(result)

    return router
