"""Dossiers in: the portal's sync item (DongBoHoSoMC data[]) plus our extensions, upserted by MaHoSo."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from notifier.rules.portal import (
    ImportReport,
    PortalDossier,
    RowError,
    validation_errors,
)
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status
from notifier.store.models import Agency, ApiKey, Dossier, DossierEvent, Officer, Procedure
from notifier.workflows.import_files import items as file_items
from notifier.workflows.officer_import import upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.steps import is_progress_file, upsert_progress

log = logging.getLogger(__name__)

# Rows per transaction of an import: a concurrent writer (on SQLite, any other writer) waits for one batch,
# not for a whole 20k-item import, and a 1M-row file is never held in one transaction's memory.
BATCH_ROWS = 500
BATCH_TRIES = 6
_RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def parse_items(
    items: Iterable[Mapping[str, Any]], first_row: int = 1
) -> tuple[list[tuple[int, PortalDossier]], list[RowError]]:
    good: list[tuple[int, PortalDossier]] = []
    bad: list[RowError] = []
    for row, raw in enumerate(items, start=first_row):
        if not isinstance(raw, Mapping):
            bad.append(RowError(row, None, "data", raw, "each item must be a JSON object"))
            continue
        try:
            good.append((row, PortalDossier.model_validate(raw)))
        except ValidationError as exc:
            bad.extend(validation_errors(row, raw, exc))
    return good, bad


def read_file(path: Path) -> list[dict[str, Any]]:
    """The whole file's items in a list (small files: officers); imports stream with `import_files.items`."""
    return list(file_items(path))


def fit_source(source: str) -> str:
    """What fits of "api:<key name>" or "import:<file name>": a long name is no reason to refuse a row."""
    column_type = DossierEvent.__table__.c.source.type
    assert isinstance(column_type, String) and column_type.length is not None
    return source[: column_type.length]


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

    def forget(self) -> None:
        """After a rolled-back savepoint: what it created is gone, so look everything up again."""
        self.agencies.clear()
        self.procedures.clear()
        self.officers.clear()

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
    *,
    first_row: int = 1,
    seen: dict[str, int] | None = None,
    api_key: ApiKey | None = None,
) -> ImportReport:
    """Validate every item, store the good ones (each in its own savepoint), report the bad ones.

    `first_row` numbers the items of a later batch; `seen` (MaHoSo → row) spans the batches of one import,
    so a code given twice is reported with the row that won (the last: each row overwrites the one before).
    `api_key` is the caller's key: new dossiers remember it (its callback and test flag follow them), and
    test and live data do not mix, so a test key never makes a live dossier send, nor a live key a test one.
    """
    report = ImportReport()
    source = fit_source(source)
    seen = {} if seen is None else seen
    here: dict[str, int] = {}  # added to `seen` once the batch is through, so a batch tried again is clean
    good, bad = parse_items(items, first_row)
    report.errors.extend(bad)
    lookups = _Lookups(session)
    for row, item in good:
        earlier = here.get(item.MaHoSo) or seen.get(item.MaHoSo)
        here[item.MaHoSo] = row
        if earlier is not None:
            report.warnings.append(
                f"row {row}: field MaHoSo: value '{item.MaHoSo}': also at row {earlier}; "
                f"row {row} (the later) won"
            )
        try:
            outcome = _store_row(session, lookups, item, now, source, report, api_key)
        except OperationalError:
            # the database went away or stayed locked: not this row's fault, so not a row rejection
            raise
        except RowRefused as exc:
            lookups = _Lookups(session)
            report.errors.append(RowError(row, item.MaHoSo, "MaHoSo", item.MaHoSo, f"not stored: {exc}"))
            continue
        except Exception as exc:  # a database refusal of one row must not lose the others
            lookups = _Lookups(session)
            # The database's words (its SQL and parameters) go to the log, not to the sender.
            log.warning("row %d (MaHoSo %s) not stored: %s", row, item.MaHoSo, exc)
            reason = f"not stored: the database refused the row ({type(exc).__name__})"
            report.errors.append(RowError(row, item.MaHoSo, "MaHoSo", item.MaHoSo, reason))
            continue
        if outcome == "created":
            report.created += 1
        elif outcome == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
    report.errors.sort(key=lambda e: e.row)
    seen.update(here)
    return report


def _store_row(
    session: Session,
    lookups: _Lookups,
    item: PortalDossier,
    now: datetime,
    source: str,
    report: ImportReport,
    api_key: ApiKey | None = None,
) -> str:
    """One row in its own savepoint. A unique key another import inserted meanwhile (the same MaHoSo or a
    new agency, committed after our look-up) is a race, not bad data: the row is tried once more, and
    then finds the other import's row and updates it."""
    try:
        with session.begin_nested():
            return _upsert_one(session, lookups, item, now, source, report, api_key)
    except IntegrityError:
        lookups.forget()
    with session.begin_nested():
        return _upsert_one(session, lookups, item, now, source, report, api_key)


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
    dossier.online_payment = item.DuocThanhToanTrucTuyen
    dossier.filing_channel = item.KenhThucHien
    dossier.processing_ended_at = item.NgayKetThucXuLy
    dossier.supplement_count = len(item.DanhSachHoSoBoSung)
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


class RowRefused(ValueError):
    """A rule of ours refused the row (its words are for the sender), unlike a database refusal."""


def _check_same_world(dossier: Dossier, api_key: ApiKey | None) -> None:
    dossier_test = dossier.api_key is not None and dossier.api_key.test
    caller_test = api_key is not None and api_key.test
    if dossier_test and not caller_test:
        raise RowRefused("a test key's dossier; only test keys may change it")
    if caller_test and not dossier_test:
        raise RowRefused("a live dossier; a test key may change only the dossiers test keys imported")


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

    def dossiers(
        self, items: Iterable[Any], source: str, api_key_id: int | None = None, batch_rows: int = BATCH_ROWS
    ) -> ImportReport:
        """Items in batches of `batch_rows`, each batch one transaction: an iterator is read as it goes.
        A failure part way keeps the batches before it; importing the same data again completes it
        (items are upserted by MaHoSo; an unchanged one is counted, not written)."""
        report = ImportReport()
        seen: dict[str, int] = {}
        row = 1
        rows = iter(items)
        while chunk := list(itertools.islice(rows, batch_rows)):
            for attempt in range(1, BATCH_TRIES + 1):
                try:
                    with self.service.factory() as session, session.begin():
                        now = self.service.clock.now()
                        key = session.get(ApiKey, api_key_id) if api_key_id is not None else None
                        part = upsert(session, chunk, now, source, first_row=row, seen=seen, api_key=key)
                    break
                except OperationalError as exc:
                    # two imports inserting the same codes in another order: PostgreSQL ends one of them
                    # as a deadlock. Nothing of the batch was kept, so it is simply tried again.
                    if attempt == BATCH_TRIES or getattr(exc.orig, "sqlstate", None) not in _RETRY_STATES:
                        raise
                    # a pause, different for each import, lets the other one commit its batch first
                    time.sleep(random.uniform(0.05, 0.3) * attempt)
            row += len(chunk)
            report.created += part.created
            report.updated += part.updated
            report.unchanged += part.unchanged
            report.errors.extend(part.errors)
            report.warnings.extend(part.warnings)
        return report

    def progress(self, items: Iterable[Any], source: str) -> ImportReport:
        with self.service.factory() as session, session.begin():
            return upsert_progress(session, items, self.service.clock.now(), source=source)

    def officers(self, items: Iterable[Any]) -> ImportReport:
        with self.service.factory() as session, session.begin():
            return upsert_officers(session, items)

    def portal_items(self, items: Iterable[Any], source: str, progress: bool = False) -> Imported:
        """Dossiers or progress items, as `progress` says or, failing that, as the first item looks."""
        items = iter(items)
        first = list(itertools.islice(items, 1))
        items = itertools.chain(first, items)
        if progress or is_progress_file(first):
            return Imported(self.progress(items, source), progress=True)
        return Imported(self.dossiers(items, source))
