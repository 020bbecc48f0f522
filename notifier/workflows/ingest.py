"""Dossiers in: the portal's sync item (DongBoHoSoMC data[]) plus our extensions, upserted by MaHoSo."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.portal import (
    ImportReport,
    PortalDossier,
    RowError,
    validation_errors,
)
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status
from notifier.store.models import Agency, ApiKey, Dossier, DossierEvent, Officer, Procedure
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.steps import is_progress_file, upsert_progress


def parse_items(items: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[int, PortalDossier]], list[RowError]]:
    good: list[tuple[int, PortalDossier]] = []
    bad: list[RowError] = []
    for row, raw in enumerate(items, start=1):
        if not isinstance(raw, Mapping):
            bad.append(RowError(row, None, "data", raw, "each item must be a JSON object"))
            continue
        try:
            good.append((row, PortalDossier.model_validate(raw)))
        except ValidationError as exc:
            bad.extend(validation_errors(row, raw, exc))
    return good, bad


def read_file(path: Path) -> list[dict[str, Any]]:
    """JSON (`{"data": [...]}` or a list) or CSV with the same column names."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"file '{path}': not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if isinstance(doc, dict):
        doc = doc.get("data")
    if not isinstance(doc, list):
        raise ValueError(f"file '{path}': expected a list or an object with a 'data' list")
    return doc


def _hash(item: PortalDossier) -> str:
    payload = item.model_dump(mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class _Lookups:
    """Agencies, procedures and officers seen during one import, so each is fetched once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.agencies: dict[str, Agency] = {}
        self.procedures: dict[str, Procedure] = {}
        self.officers: dict[str, Officer | None] = {}

    def agency(self, code: str, name: str | None) -> Agency:
        if code not in self.agencies:
            found = self.session.scalar(select(Agency).where(Agency.code == code))
            if found is None:
                found = Agency(code=code, name=name or code)
                self.session.add(found)
                self.session.flush()
            elif name and found.name == found.code:
                found.name = name
            self.agencies[code] = found
        return self.agencies[code]

    def procedure(self, code: str, name: str) -> Procedure:
        if code not in self.procedures:
            found = self.session.scalar(select(Procedure).where(Procedure.code == code))
            if found is None:
                found = Procedure(code=code, name=name)
                self.session.add(found)
                self.session.flush()
            elif found.name != name:
                found.name = name
            self.procedures[code] = found
        return self.procedures[code]

    def officer(self, code: str) -> Officer | None:
        if code not in self.officers:
            self.officers[code] = self.session.scalar(select(Officer).where(Officer.code == code))
        return self.officers[code]


def _status_time(item: PortalDossier, now: datetime) -> datetime:
    """When the current status began, as far as the payload tells; otherwise when we learned of it."""
    if item.TrangThaiHoSo == Status.RETURNED and item.NgayTra:
        return item.NgayTra
    if item.TrangThaiHoSo == Status.ACCEPTED and item.NgayTiepNhan:
        return item.NgayTiepNhan
    return now


def _supplement_reset(item: PortalDossier, new_due: datetime) -> bool:
    # A new date that a supplement request set is the citizen's clock reset, not the agency's delay.
    return any(s.NgayHenTraMoi == new_due for s in item.DanhSachHoSoBoSung)


def upsert(
    session: Session,
    items: Iterable[Mapping[str, Any]],
    now: datetime,
    source: str,
    api_key: ApiKey | None = None,
) -> ImportReport:
    """Validate every item, store the good ones (each in its own savepoint), report the bad ones.

    `api_key` is the caller's key: new dossiers remember it (its callback and test flag follow them), and
    test and live data do not mix, so a test key never makes a live dossier send, nor a live key a test one.
    """
    report = ImportReport()
    good, bad = parse_items(items)
    report.errors.extend(bad)
    lookups = _Lookups(session)
    for row, item in good:
        try:
            with session.begin_nested():
                outcome = _upsert_one(session, lookups, item, now, source, report, api_key)
        except Exception as exc:  # a database refusal of one row must not lose the others
            lookups = _Lookups(session)
            report.errors.append(RowError(row, item.MaHoSo, "MaHoSo", item.MaHoSo, f"not stored: {exc}"))
            continue
        if outcome == "created":
            report.created += 1
        elif outcome == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
    report.errors.sort(key=lambda e: e.row)
    return report


def _upsert_one(
    session: Session,
    lookups: _Lookups,
    item: PortalDossier,
    now: datetime,
    source: str,
    report: ImportReport,
    api_key: ApiKey | None = None,
) -> str:
    digest = _hash(item)
    dossier = session.scalar(select(Dossier).where(Dossier.code == item.MaHoSo))
    if dossier is not None:
        _check_same_world(dossier, api_key)
    if dossier is not None and dossier.payload_hash == digest:
        return "unchanged"

    agency = lookups.agency(item.agency_code, item.TenDonVi or item.DonViXuLy)
    procedure = lookups.procedure(item.MaTTHC, item.TenTTHC)
    officer = None
    if item.MaCanBo:
        officer = lookups.officer(item.MaCanBo)
        if officer is None:
            report.warnings.append(
                f"MaHoSo {item.MaHoSo}: field MaCanBo: value '{item.MaCanBo}': unknown officer "
                "(import officers first); alerts go to the agency's officers"
            )
    supplement_note = next(
        (s.NoiDungBoSung for s in reversed(item.DanhSachHoSoBoSung) if s.NoiDungBoSung), None
    ) or (item.GhiChu if item.TrangThaiHoSo == Status.SUPPLEMENT_REQUESTED else None)

    created = dossier is None
    if dossier is None:
        dossier = Dossier(
            code=item.MaHoSo,
            created_at=now,
            status=item.TrangThaiHoSo,
            status_changed_at=_status_time(item, now),
            api_key_id=api_key.id if api_key is not None else None,
        )
        old_status: int | None = None
        old_due: datetime | None = None
    else:
        old_status = dossier.status
        old_due = dossier.due_at

    dossier.procedure_id = procedure.id
    dossier.agency_id = agency.id
    dossier.officer_id = officer.id if officer else None
    dossier.applicant_name = item.ChuHoSo
    dossier.applicant_kind = item.LoaiDoiTuong
    dossier.phone = item.SoDienThoai
    dossier.email = item.Email
    dossier.received_at = item.NgayTiepNhan
    dossier.due_at = item.NgayHenTra
    dossier.returned_at = item.NgayTra
    dossier.fee_amount = item.fee_amount
    dossier.fee_paid = bool(item.DaThanhToan)
    dossier.payment_link = item.DuongDanThanhToan
    dossier.supplement_note = supplement_note
    if item.LyDoTreHan:
        dossier.delay_reason = item.LyDoTreHan
    dossier.payload_hash = digest
    dossier.updated_at = now

    # A later appointment set after the old one had passed, while the agency still held the dossier,
    # is the "new appointment date" the written apology must carry.
    if (
        old_due is not None
        and item.NgayHenTra is not None
        and item.NgayHenTra > old_due
        and old_due < now
        and (old_status in OPEN_FOR_DEADLINE)
        and not _supplement_reset(item, item.NgayHenTra)
    ):
        dossier.apology_old_due_at = old_due
        dossier.apology_new_due_at = item.NgayHenTra
        dossier.apology_set_at = now

    if created or old_status != item.TrangThaiHoSo:
        dossier.status = item.TrangThaiHoSo
        dossier.status_changed_at = _status_time(item, now)
        session.add(dossier)
        session.flush()
        session.add(
            DossierEvent(
                dossier_id=dossier.id,
                from_status=old_status,
                to_status=item.TrangThaiHoSo,
                occurred_at=dossier.status_changed_at,
                recorded_at=now,
                source=source,
            )
        )
    else:
        session.add(dossier)
    session.flush()
    return "created" if created else "updated"


def _check_same_world(dossier: Dossier, api_key: ApiKey | None) -> None:
    dossier_test = dossier.api_key is not None and dossier.api_key.test
    caller_test = api_key is not None and api_key.test
    if dossier_test and not caller_test:
        raise ValueError("a test key's dossier; only test keys may change it")
    if caller_test and not dossier_test:
        raise ValueError("a live dossier; a test key may change only the dossiers test keys imported")


# ------------------------------------------------------------------------------------------------- service


@dataclass(frozen=True)
class Imported:
    """What one import stored and refused; `progress` tells progress items from dossiers."""

    report: ImportReport
    progress: bool = False


class ImportWorkflow:
    """The portal's data in, each import in one transaction: dossiers, inter-agency progress, officers."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def dossiers(self, items: Iterable[Any], source: str, api_key_id: int | None = None) -> ImportReport:
        with self.service.factory() as session, session.begin():
            key = session.get(ApiKey, api_key_id) if api_key_id is not None else None
            return upsert(session, items, self.service.clock.now(), source=source, api_key=key)

    def progress(self, items: Iterable[Any], source: str) -> ImportReport:
        with self.service.factory() as session, session.begin():
            return upsert_progress(session, items, self.service.clock.now(), source=source)

    def officers(self, items: Iterable[Any]) -> ImportReport:
        with self.service.factory() as session, session.begin():
            return upsert_officers(session, items)

    def portal_items(self, items: list[Any], source: str, progress: bool = False) -> Imported:
        """Dossiers or progress items, as `progress` says or, failing that, as the first item looks."""
        if progress or is_progress_file(items):
            return Imported(self.progress(items, source), progress=True)
        return Imported(self.dossiers(items, source))
