"""The claimed notifications as the dispatcher plans them: plain rows of the columns planning reads, not ORM
objects. A batch is hundreds of notifications, each with its dossier, procedure, agency and officers;
loaded as ORM objects with joined eager loads, building the instances and reading their instrumented
attributes cost about a quarter of planning's CPU. The attribute names are the models', so the same
context, route and link code reads either (`NotificationLike`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.store.engine import among
from notifier.store.models import Agency, ApiKey, Dossier, Notification, Officer, Procedure


@dataclass(slots=True)
class PlainAgency:
    id: int
    code: str
    name: str
    phone: str | None
    address: str | None
    level: str
    parent_name: str | None
    short_name: str | None
    seat: str | None
    desk_name: str | None


@dataclass(slots=True)
class PlainOfficer:
    id: int
    code: str
    name: str
    agency_id: int
    phone: str | None
    email: str | None
    telegram_chat_id: str | None
    zalo_user_id: str | None
    title: str | None
    _: KW_ONLY
    agency: PlainAgency


@dataclass(slots=True)
class PlainProcedure:
    id: int
    code: str
    name: str


@dataclass(slots=True)
class PlainApiKey:
    id: int
    test: bool


@dataclass(slots=True)
class PlainDossier:
    id: int
    code: str
    procedure_id: int
    agency_id: int
    officer_id: int | None
    api_key_id: int | None
    applicant_name: str
    applicant_kind: int
    phone: str | None
    email: str | None
    status: int
    received_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    fee_amount: int | None
    fee_paid: bool
    payment_link: str | None
    supplement_note: str | None
    delay_reason: str | None
    apology_old_due_at: datetime | None
    apology_new_due_at: datetime | None
    apology_extensions: int
    _: KW_ONLY  # from the batch's own look-ups (planning_rows)
    procedure: PlainProcedure
    agency: PlainAgency
    officer: PlainOfficer | None
    api_key: PlainApiKey | None


@dataclass(slots=True)
class PlainNotification:
    id: int
    kind: str
    audience: str
    dossier_id: int | None
    officer_id: int | None
    ref_at: datetime | None
    payload: str | None
    is_test: bool
    attempts: int
    _: KW_ONLY
    dossier: PlainDossier | None
    officer: PlainOfficer | None


NotificationLike = Notification | PlainNotification
DossierLike = Dossier | PlainDossier
OfficerLike = Officer | PlainOfficer
AgencyLike = Agency | PlainAgency

# The relationships planning_rows fills in itself: not columns.
_RELATIONS = {"_", "procedure", "agency", "officer", "api_key", "dossier"}


def _columns(cls: type, model: type) -> list[Any]:
    table = model.__table__  # type: ignore[attr-defined]
    return [table.c[f.name] for f in fields(cls) if f.name not in _RELATIONS]


_N = _columns(PlainNotification, Notification)
_D = _columns(PlainDossier, Dossier)
_P = _columns(PlainProcedure, Procedure)
_K = _columns(PlainApiKey, ApiKey)
_O = _columns(PlainOfficer, Officer)
_A = _columns(PlainAgency, Agency)


def planning_rows(session: Session, ids: Iterable[int], postgres: bool) -> list[PlainNotification]:
    """The notifications `ids` in id order, with their dossier (its procedure, agency, officer, API key)
    and officer (with the officer's agency). The few agencies, procedures, officers and keys a batch
    shares are read once each, by their distinct ids, not once per notification."""
    nn = len(_N)
    rows: Sequence[Any] = session.execute(  # Rows, read by position
        select(*_N, *_D)
        .select_from(Notification.__table__)
        .outerjoin(Dossier.__table__, Dossier.id == Notification.dossier_id)
        .where(among(Notification.id, ids, postgres))
        .order_by(Notification.id)
    ).all()
    # where the look-up keys sit in each row
    d_procedure, d_agency = nn + _key(_D, "procedure_id"), nn + _key(_D, "agency_id")
    d_officer, d_key = nn + _key(_D, "officer_id"), nn + _key(_D, "api_key_id")
    o_officer = _key(_N, "officer_id")
    with_dossier = [row for row in rows if row[nn] is not None]
    procedures = _by_id(session, _P, {row[d_procedure] for row in with_dossier}, postgres)
    keys = _by_id(session, _K, {row[d_key] for row in with_dossier if row[d_key]}, postgres)
    officer_ids = {row[o_officer] for row in rows if row[o_officer]}
    officer_ids |= {row[d_officer] for row in with_dossier if row[d_officer]}
    officer_rows = _by_id(session, _O, officer_ids, postgres)
    o_agency = _key(_O, "agency_id")
    agency_ids = {row[d_agency] for row in with_dossier} | {row[o_agency] for row in officer_rows.values()}
    agencies = {i: PlainAgency(*row) for i, row in _by_id(session, _A, agency_ids, postgres).items()}
    officers = {i: PlainOfficer(*row, agency=agencies[row[o_agency]]) for i, row in officer_rows.items()}
    procs = {i: PlainProcedure(*row) for i, row in procedures.items()}
    api_keys = {i: PlainApiKey(*row) for i, row in keys.items()}
    out: list[PlainNotification] = []
    for row in rows:
        dossier = None
        if row[nn] is not None:
            dossier = PlainDossier(
                *row[nn:],
                procedure=procs[row[d_procedure]],
                agency=agencies[row[d_agency]],
                officer=officers.get(row[d_officer]) if row[d_officer] else None,
                api_key=api_keys.get(row[d_key]) if row[d_key] else None,
            )
        officer = officers.get(row[o_officer]) if row[o_officer] else None
        out.append(PlainNotification(*row[:nn], dossier=dossier, officer=officer))
    return out


def _key(columns: list[Any], name: str) -> int:
    return [c.name for c in columns].index(name)


def _by_id(
    session: Session, columns: list[Any], ids: set[int], postgres: bool
) -> dict[int, Any]:
    """Rows of one table by id (its first column), one query; none when there are no ids."""
    if not ids:
        return {}
    return {row[0]: row for row in session.execute(select(*columns).where(among(columns[0], ids, postgres)))}
