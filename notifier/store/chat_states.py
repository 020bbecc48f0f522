"""Conversations' form steps (`chat_states`) and, read in the same statement, the chat's chosen language:
what the conversation core needs before it can answer an event, in one round trip."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from notifier.store.models import ChatFormState, ChatPreference

# Built once with bound parameters: it runs for every chat event, and a statement built per call costs
# more CPU (its cache key) than running it.
_LIVE = (
    (ChatFormState.platform == bindparam("platform"))
    & (ChatFormState.chat_id == bindparam("chat_id"))
    & (ChatFormState.expires_at > bindparam("now"))
)
LOAD = select(
    select(ChatFormState.step).where(_LIVE).scalar_subquery(),
    select(ChatFormState.data).where(_LIVE).scalar_subquery(),
    select(ChatPreference.language).where(ChatPreference.chat_id == bindparam("chat_id")).scalar_subquery(),
)


def load(
    session: Session, platform: str, chat_id: str, now: datetime
) -> tuple[str | None, dict[str, Any], str | None]:
    """(step, data, chosen language) of a conversation; an expired step reads as none."""
    params = {"platform": platform, "chat_id": chat_id, "now": now}
    step, data, language = session.execute(LOAD, params).one()
    if step is None:
        return None, {}, language
    parsed = json.loads(data or "{}")
    return step, parsed if isinstance(parsed, dict) else {}, language


def save(
    session: Session,
    platform: str,
    chat_id: str,
    step: str | None,
    data: dict[str, Any] | None,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Set (or with `step` None, clear) the conversation's step; it lasts `ttl` from now."""
    row = session.get(ChatFormState, (platform, chat_id))
    if step is None:
        if row is not None:
            session.delete(row)
        return
    encoded = json.dumps(data or {}, ensure_ascii=False)
    if row is None:
        row = ChatFormState(platform=platform, chat_id=chat_id, step=step, data=encoded, expires_at=now + ttl)
        session.add(row)
    row.step, row.data, row.expires_at, row.updated_at = step, encoded, now + ttl, now


def purge_expired(session: Session, now: datetime) -> int:
    """Drop the steps nobody finished (they already read as none)."""
    result = session.execute(delete(ChatFormState).where(ChatFormState.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
