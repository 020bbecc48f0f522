"""Inter-agency (liên thông) steps: the portal's progress items, their deadlines and who caused a delay.

A progress update (`CapNhatTienDoHoSoMC`) says which unit (PhongBanXuLy) handles a dossier from
NgayBatDau, with its own regulated end (NgayKetThucTheoQuyDinh). A step is identified by (dossier, unit,
start); a later update of the same step fills in ThoiDiemXuLy, the moment the unit handled it and passed it
on, which closes it. A step still open past its own deadline alerts that unit's officers (`step_overdue`),
even while the dossier as a whole is on time, and the monthly report blames a late dossier on the step
that overran the most.

Extensions to the portal's fields: `MaDonViXuLy` (the unit's agency code, when the unit is another
agency) and `MaCanBoXuLy` (the handling officer's code). Without them the unit is matched by agency code
or name, and otherwise the dossier's own agency is alerted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import (
    Select,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from notifier.rules.portal import (
    ImportReport,
    RowError,
    none_if_blank,
    parse_portal_date,
    validation_errors,
)
from notifier.store.models import Agency, AwareDateTime, Dossier, DossierStep, Officer

# Fields only a progress item has; `notifier import` tells the two kinds of file apart by them.
PROGRESS_FIELDS = frozenset({"PhongBanXuLy", "NgayKetThucTheoQuyDinh", "NoiDungXuLy", "ThoiDiemXuLy"})


class ProgressItem(BaseModel):
    """One `CapNhatTienDoHoSoMC` item; field names are the portal's so errors name what was sent."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    MaHoSo: str = Field(min_length=1, max_length=64)
    PhongBanXuLy: str = Field(min_length=1, max_length=255)
    NgayBatDau: datetime
    NgayKetThucTheoQuyDinh: datetime | None = None
    ThoiDiemXuLy: datetime | None = None
    NguoiXuLy: str | None = Field(None, max_length=255)
    ChucDanh: str | None = Field(None, max_length=255)
    NoiDungXuLy: str | None = None
    TrangThai: int | None = None
    MaDonViXuLy: str | None = Field(None, max_length=64)
    MaCanBoXuLy: str | None = Field(None, max_length=64)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return none_if_blank(value)

    @field_validator("NgayBatDau", "NgayKetThucTheoQuyDinh", "ThoiDiemXuLy", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> datetime | None:
        return parse_portal_date(value)

    @model_validator(mode="after")
    def _coherent(self) -> ProgressItem:
        if self.NgayKetThucTheoQuyDinh and self.NgayKetThucTheoQuyDinh < self.NgayBatDau:
            raise ValueError(
                f"NgayKetThucTheoQuyDinh: value '{self.NgayKetThucTheoQuyDinh:%Y%m%d%H%M%S}': before "
                f"NgayBatDau '{self.NgayBatDau:%Y%m%d%H%M%S}'"
            )
        if self.ThoiDiemXuLy and self.ThoiDiemXuLy < self.NgayBatDau:
            raise ValueError(
                f"ThoiDiemXuLy: value '{self.ThoiDiemXuLy:%Y%m%d%H%M%S}': before NgayBatDau "
                f"'{self.NgayBatDau:%Y%m%d%H%M%S}'"
            )
        return self


def is_progress_item(raw: Any) -> bool:
    return isinstance(raw, Mapping) and "TrangThaiHoSo" not in raw and bool(PROGRESS_FIELDS & set(raw))


def is_progress_file(items: list[Any]) -> bool:
    """A file is progress items when its first object looks like one (dossier files carry TrangThaiHoSo)."""
    first = next((i for i in items if isinstance(i, Mapping)), None)
    return first is not None and is_progress_item(first)


def _resolve_unit(session: Session, item: ProgressItem, fallback_agency: int) -> tuple[int, int | None]:
    """(unit agency id, officer id): the officer code wins, then the unit's agency code or name."""
    officer = None
    if item.MaCanBoXuLy:
        officer = session.scalar(select(Officer).where(Officer.code == item.MaCanBoXuLy))
    if officer is not None:
        return officer.agency_id, officer.id
    for code in filter(None, (item.MaDonViXuLy, item.PhongBanXuLy)):
        found = session.scalar(
            select(Agency.id).where(or_(Agency.code == code, func.lower(Agency.name) == code.lower()))
        )
        if found is not None:
            return found, None
    return fallback_agency, None


def upsert_progress(
    session: Session, items: Iterable[Mapping[str, Any]], now: datetime, source: str
) -> ImportReport:
    """Store progress items; re-sending the same item changes nothing, a later one updates the step."""
    report = ImportReport()
    for row, raw in enumerate(items, start=1):
        if not isinstance(raw, Mapping):
            report.errors.append(RowError(row, None, "data", raw, "each item must be a JSON object"))
            continue
        try:
            item = ProgressItem.model_validate(raw)
        except ValidationError as exc:
            report.errors.extend(validation_errors(row, raw, exc))
            continue
        dossier = session.scalar(select(Dossier).where(Dossier.code == item.MaHoSo))
        if dossier is None:
            report.errors.append(
                RowError(
                    row, item.MaHoSo, "MaHoSo", item.MaHoSo, "unknown dossier (import the dossier first)"
                )
            )
            continue
        if (
            item.MaCanBoXuLy
            and session.scalar(select(Officer.id).where(Officer.code == item.MaCanBoXuLy)) is None
        ):
            report.warnings.append(
                f"MaHoSo {item.MaHoSo}: field MaCanBoXuLy: value '{item.MaCanBoXuLy}': unknown officer; "
                "the unit's officers are alerted"
            )
        unit_agency, officer_id = _resolve_unit(session, item, dossier.agency_id)
        values = {
            "unit_agency_id": unit_agency,
            "officer_id": officer_id,
            "handler_name": item.NguoiXuLy,
            "handler_title": item.ChucDanh,
            "content": item.NoiDungXuLy,
            "state": item.TrangThai,
            "deadline": item.NgayKetThucTheoQuyDinh,
            "finished_at": item.ThoiDiemXuLy,
        }
        with session.begin_nested():
            step = session.scalar(
                select(DossierStep).where(
                    DossierStep.dossier_id == dossier.id,
                    DossierStep.unit == item.PhongBanXuLy,
                    DossierStep.started_at == item.NgayBatDau,
                )
            )
            if step is None:
                session.add(
                    DossierStep(
                        dossier_id=dossier.id,
                        unit=item.PhongBanXuLy,
                        started_at=item.NgayBatDau,
                        created_at=now,
                        updated_at=now,
                        **values,
                    )
                )
                report.created += 1
            elif any(getattr(step, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(step, k, v)
                step.updated_at = now
                report.updated += 1
            else:
                report.unchanged += 1
            session.flush()
    report.errors.sort(key=lambda e: e.row)
    return report


# ------------------------------------------------------------------------------------------------- scan


# ------------------------------------------------------------------------------------------- attribution


@dataclass(frozen=True)
class Blame:
    """The step a late dossier is attributed to."""

    dossier_id: int
    step_id: int
    unit: str
    officer: str | None
    overrun_seconds: float


def late_steps(
    session: Session, dossier_ids: Iterable[int] | Select[tuple[int]], end: datetime
) -> dict[int, Blame]:
    """For each dossier, the step that overran its own deadline the most, as of `end`.

    A step finished after its deadline overran by (finish - deadline); one still open at `end` (or
    finished after it) by (end - deadline). Ties go to the earlier step: it delayed everything after it.
    `dossier_ids` is a list, or a SELECT of ids (the report passes its own, so the database joins them).
    """
    if isinstance(dossier_ids, Select):
        batches: list[Any] = [dossier_ids]
    else:
        ids = list(dossier_ids)
        batches = [ids[i : i + 5000] for i in range(0, len(ids), 5000)]
    out: dict[int, Blame] = {}
    end_ = literal(end, AwareDateTime())
    for batch in batches:
        rows = session.execute(
            select(
                DossierStep.id,
                DossierStep.dossier_id,
                DossierStep.unit,
                DossierStep.handler_name,
                Officer.name,
                DossierStep.deadline,
                DossierStep.finished_at,
            )
            .outerjoin(Officer, Officer.id == DossierStep.officer_id)
            .where(
                DossierStep.dossier_id.in_(batch),
                DossierStep.deadline.is_not(None),
                DossierStep.deadline < end_,
                or_(DossierStep.finished_at.is_(None), DossierStep.finished_at > DossierStep.deadline),
            )
            .order_by(DossierStep.dossier_id, DossierStep.started_at, DossierStep.id)
        ).all()
        for step_id, dossier_id, unit, handler, officer_name, deadline, finished in rows:
            assert deadline is not None  # the query reads only steps with a deadline
            stop = finished if finished is not None and finished < end else end
            overrun = (stop - deadline).total_seconds()
            if overrun <= 0:
                continue
            best = out.get(dossier_id)
            if best is None or overrun > best.overrun_seconds:
                out[dossier_id] = Blame(dossier_id, step_id, unit, officer_name or handler, overrun)
    return out
