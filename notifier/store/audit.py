"""The audit trail: one row per change a person or the portal made."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from notifier.store.models import AuditEntry


def record(
    session: Session, now: datetime, actor: str, action: str, target: str, **detail: Any
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor=actor,
        action=action,
        target=target,
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
    )
    session.add(entry)
    return entry
