"""Dossiers in: the portal's sync item (DongBoHoSoMC data[]) plus our extensions, upserted by MaHoSo."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ValidationError,
)
from sqlalchemy import String, insert, select, update
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
from notifier.workflows.import_files import columns
from notifier.workflows.import_files import items as file_items
from notifier.workflows.officer_actions import DEADLINE_ALERTS, MOVED_ALERTS, cancel_queued
from notifier.workflows.officer_import import OfficerRow, upsert_officers
from notifier.workflows.service import Service
from notifier.workflows.steps import ProgressItem, is_progress_file, is_progress_item, upsert_progress

log = logging.getLogger(__name__)

# Rows per transaction of an import: a concurrent writer (on SQLite, any other writer) waits for one batch,
# not for a whole 20k-item import, and a 1M-row file is never held in one transaction's memory.
BATCH_ROWS = 500
BATCH_TRIES = 6
_RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

Coded = TypeVar("Coded", Agency, Procedure, Officer)  # the rows an import names by their code


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


def officers_file(path: Path) -> list[dict[str, Any]]:
    """An officers file's items (a small file, read whole); ValueError for a bad file or a CSV header
    without the columns an officer needs."""
    fields = list(OfficerRow.model_fields)
    return list(file_items(path, lambda names: columns(names, fields, _required(OfficerRow))))


def portal_file(path: Path, progress: bool = False) -> Iterator[dict[str, Any]]:
    """The dossiers or progress items of a file (as `progress` says, or as its columns look), read as they
    are stored; ValueError now for a bad file or a CSV header without the columns the items need."""
    known = list(PortalDossier.model_fields) + [
        f for f in ProgressItem.model_fields if f not in PortalDossier.model_fields
    ]

    def header(names: list[str]) -> list[str]:
        read = columns(names, known, [])
        model = ProgressItem if progress or is_progress_item(dict.fromkeys(read)) else PortalDossier
        return columns(read, known, _required(model))

    return file_items(path, header)


def _required(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items() if info.is_required()]


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
        self.found_agencies: dict[str, Agency | None] = {}
        self.found_procedures: dict[str, Procedure | None] = {}

    def forget(self) -> None:
        """After a rolled-back savepoint: what it created is gone, so look everything up again."""
        self.agencies.clear()
        self.procedures.clear()
        self.officers.clear()
        self.found_agencies.clear()
        self.found_procedures.clear()

    def prefetch(self, items: list[PortalDossier]) -> None:
        """A batch's agencies, procedures and officers in three SELECTs, not one per distinct code."""
        # found, not yet used: `agency` and `procedure` still name a new one or rename an old one
        agencies = {i.agency_code for i in items} - self.agencies.keys()
        if agencies:
            self.found_agencies = self._by_code(Agency, agencies)
        procedures = {i.MaTTHC for i in items} - self.procedures.keys()
        if procedures:
            self.found_procedures = self._by_code(Procedure, procedures)
        officers = {i.MaCanBo for i in items if i.MaCanBo} - self.officers.keys()
        if officers:
            self.officers.update(self._by_code(Officer, officers))

    def _by_code(self, model: type[Coded], codes: set[str]) -> dict[str, Coded | None]:
        """Each code's row, None where there is none, in one SELECT."""
        found = self.session.scalars(select(model).where(model.code.in_(codes)))
        return dict.fromkeys(codes) | {row.code: row for row in found}

    def _found(self, model: type[Coded], prefetched: dict[str, Coded | None], code: str) -> Coded | None:
        """The row of that code: the batch's prefetch if it looked for the code, else its own SELECT."""
        if code in prefetched:
            return prefetched[code]
        return self.session.scalar(select(model).where(model.code == code))

    def agency(self, code: str, name: str | None) -> Agency:
        if code not in self.agencies:
            found = self._found(Agency, self.found_agencies, code)
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
            found = self._found(Procedure, self.found_procedures, code)
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


@dataclass(frozen=True)
class _Batch:
    """What every row of one import batch is stored with."""

    session: Session
    lookups: _Lookups
    now: datetime
    source: str
    api_key: ApiKey | None


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
    batch = _Batch(session, _Lookups(session), now, source, api_key)
    twice = False
    for row, item in good:
        earlier = here.get(item.MaHoSo) or seen.get(item.MaHoSo)
        twice = twice or item.MaHoSo in here
        here[item.MaHoSo] = row
        if earlier is not None:
            report.warnings.append(
                f"row {row}: field MaHoSo: value '{item.MaHoSo}': also at row {earlier}; "
                f"row {row} (the later) won"
            )
    # A code twice in one batch is stored row by row, in order (the later row updates the earlier one).
    stored = None if twice or not good else _try_batch(batch, good)
    if stored is not None:
        counts, warnings = stored
        report.created += counts["created"]
        report.updated += counts["updated"]
        report.unchanged += counts["unchanged"]
        report.warnings.extend(warnings)
        good = []
    else:
        batch.lookups.forget()
    for row, item in good:
        try:
            outcome = _store_row(batch, item, report)
        except OperationalError:
            # the database went away or stayed locked: not this row's fault, so not a row rejection
            raise
        except RowRefused as exc:
            batch.lookups.forget()
            report.errors.append(RowError(row, item.MaHoSo, "MaHoSo", item.MaHoSo, f"not stored: {exc}"))
            continue
        except Exception as exc:  # a database refusal of one row must not lose the others
            batch.lookups.forget()
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


def _store_row(batch: _Batch, item: PortalDossier, report: ImportReport) -> str:
    """One row in its own savepoint. A unique key another import inserted meanwhile (the same MaHoSo or a
    new agency, committed after our look-up) is a race, not bad data: the row is tried once more, and
    then finds the other import's row and updates it."""
    try:
        with batch.session.begin_nested():
            return _upsert_one(batch, item, report)
    except IntegrityError:
        batch.lookups.forget()
    with batch.session.begin_nested():
        return _upsert_one(batch, item, report)


def _officer(lookups: _Lookups, item: PortalDossier, warnings: list[str]) -> Officer | None:
    if not item.MaCanBo:
        return None
    officer = lookups.officer(item.MaCanBo)
    if officer is None:
        warnings.append(
            f"MaHoSo {item.MaHoSo}: field MaCanBo: value '{item.MaCanBo}': unknown officer "
            "(import officers first); alerts go to the agency's officers"
        )
    return officer


def _fields(
    lookups: _Lookups, item: PortalDossier, digest: str, now: datetime, warnings: list[str]
) -> dict[str, Any]:
    """The columns every stored row (new or changed) takes from its item; the one place that maps them,
    shared by the per-row and the batch path."""
    agency = lookups.agency(item.agency_code, item.TenDonVi or item.DonViXuLy)
    procedure = lookups.procedure(item.MaTTHC, item.TenTTHC)
    officer = _officer(lookups, item, warnings)
    supplement_note = next(
        (s.NoiDungBoSung for s in reversed(item.DanhSachHoSoBoSung) if s.NoiDungBoSung), None
    ) or (item.GhiChu if item.TrangThaiHoSo == Status.SUPPLEMENT_REQUESTED else None)
    fields: dict[str, Any] = {
        "procedure_id": procedure.id,
        "agency_id": agency.id,
        "officer_id": officer.id if officer else None,
        "applicant_name": item.ChuHoSo,
        "applicant_kind": item.LoaiDoiTuong,
        "phone": item.SoDienThoai,
        "email": item.Email,
        "received_at": item.NgayTiepNhan,
        "due_at": item.NgayHenTra,
        "returned_at": item.NgayTra,
        "fee_amount": item.fee_amount,
        "fee_paid": bool(item.DaThanhToan),
        "payment_link": item.DuongDanThanhToan,
        "supplement_note": supplement_note,
        "online_payment": item.DuocThanhToanTrucTuyen,
        "filing_channel": item.KenhThucHien,
        "processing_ended_at": item.NgayKetThucXuLy,
        "supplement_count": len(item.DanhSachHoSoBoSung),
        "payload_hash": digest,
        "updated_at": now,
    }
    if item.LyDoTreHan:  # a later sync without the reason keeps the one given before
        fields["delay_reason"] = item.LyDoTreHan
    return fields


def _apology(
    item: PortalDossier, old_status: int | None, old_due: datetime | None, now: datetime
) -> dict[str, Any]:
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
        return {"apology_old_due_at": old_due, "apology_new_due_at": item.NgayHenTra, "apology_set_at": now}
    return {}


def _upsert_one(batch: _Batch, item: PortalDossier, report: ImportReport) -> str:
    digest = _hash(item)
    dossier = batch.session.scalar(select(Dossier).where(Dossier.code == item.MaHoSo))
    if dossier is not None:
        _check_same_world(dossier, batch.api_key)
    if dossier is not None and dossier.payload_hash == digest:
        return "unchanged"

    fields = _fields(batch.lookups, item, digest, batch.now, report.warnings)
    created = dossier is None
    if dossier is None:
        dossier = Dossier(**_new_dossier(item, batch.now, batch.api_key))
        old_status: int | None = None
        old_due: datetime | None = None
    else:
        old_status = dossier.status
        old_due = dossier.due_at
    fields.update(_apology(item, old_status, old_due, batch.now))
    for name, value in fields.items():
        setattr(dossier, name, value)

    if created or old_status != item.TrangThaiHoSo:
        dossier.status = item.TrangThaiHoSo
        dossier.status_changed_at = _status_time(item, batch.now)
        batch.session.add(dossier)
        batch.session.flush()
        batch.session.add(
            DossierEvent(
                **_event(dossier.id, old_status, item, dossier.status_changed_at, batch.now, batch.source)
            )
        )
    else:
        batch.session.add(dossier)
    batch.session.flush()
    if not created:
        _cancel_moot_alerts(batch, [(dossier.id, old_status, old_due, item)])
    return "created" if created else "updated"


def _cancel_moot_alerts(
    batch: _Batch, changes: list[tuple[int, int | None, datetime | None, PortalDossier]]
) -> None:
    """Officer alerts still queued (held for working hours) that the portal's new state made untrue, as an
    officer's own action cancels them (officer_actions): all deadline alerts of a dossier that left 2/4, the
    alerts about an appointment the portal moved. (dossier id, old status, old due, item) per change."""
    left = {  # a set: every other change of a batch is looked up in it below
        i
        for i, status, _, item in changes
        if status in OPEN_FOR_DEADLINE and item.TrangThaiHoSo not in OPEN_FOR_DEADLINE
    }
    cancel_queued(batch.session, left, DEADLINE_ALERTS, batch.now, "the portal ended the deadline")
    for dossier_id, _, old_due, item in changes:
        if dossier_id not in left and old_due is not None and item.NgayHenTra != old_due:
            cancel_queued(
                batch.session,
                dossier_id,
                MOVED_ALERTS,
                batch.now,
                "the portal moved the appointment",
                ref_at=old_due,
            )


class RowRefused(ValueError):
    """A rule of ours refused the row (its words are for the sender), unlike a database refusal."""


def _check_same_world(dossier: Dossier, api_key: ApiKey | None) -> None:
    dossier_test = dossier.api_key is not None and dossier.api_key.test
    caller_test = api_key is not None and api_key.test
    if dossier_test and not caller_test:
        raise RowRefused("a test key's dossier; only test keys may change it")
    if caller_test and not dossier_test:
        raise RowRefused("a live dossier; a test key may change only the dossiers test keys imported")


def _try_batch(
    batch: _Batch, good: list[tuple[int, PortalDossier]]
) -> tuple[dict[str, int], list[str]] | None:
    """The batch stored set-based in one savepoint, or None when the database refused it: then nothing of
    it was kept and the caller stores it row by row, so a bad row (or a code another import inserted
    meanwhile, or a dossier of the other kind of key) rejects or retries only itself."""
    try:
        with batch.session.begin_nested():
            return _store_batch(batch, [item for _, item in good])
    except OperationalError:
        raise  # the database went away or a deadlock: the whole batch is tried again by the caller
    except Exception as exc:
        log.info("batch of %d rows stored row by row: %s", len(good), type(exc).__name__)
        return None


def _store_batch(batch: _Batch, items: list[PortalDossier]) -> tuple[dict[str, int], list[str]]:
    """What `_upsert_one` does for each item, with one SELECT of the batch's dossiers, one INSERT of the new
    ones, one UPDATE per set of changed columns and one INSERT of the events (executemany), instead of a
    SELECT and two or three flushes per row. The codes must be distinct."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    warnings: list[str] = []
    known = (
        select(
            Dossier.code,
            Dossier.id,
            Dossier.payload_hash,
            Dossier.status,
            Dossier.due_at,
            ApiKey.test.label("key_test"),
        )
        .outerjoin(ApiKey, ApiKey.id == Dossier.api_key_id)
        .where(Dossier.code.in_([item.MaHoSo for item in items]))
    )
    existing = {r.code: r for r in batch.session.execute(known)}
    caller_test = batch.api_key is not None and batch.api_key.test
    if any(bool(r.key_test) != caller_test for r in existing.values()):
        # Test and live dossiers do not mix: the row-by-row path refuses each such row with its reason.
        raise RowRefused("a dossier of the other kind of key in the batch")
    batch.lookups.prefetch(items)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    new_items: dict[str, PortalDossier] = {}
    changes: list[tuple[int, int | None, datetime | None, PortalDossier]] = []
    for item in items:
        digest = _hash(item)
        old = existing.get(item.MaHoSo)
        if old is not None and old.payload_hash == digest:
            counts["unchanged"] += 1
            continue
        fields = _fields(batch.lookups, item, digest, batch.now, warnings)
        if old is None:
            fields.update(_new_dossier(item, batch.now, batch.api_key))
            inserts.append(fields)
            new_items[item.MaHoSo] = item
            counts["created"] += 1
            continue
        fields.update(_apology(item, old.status, old.due_at, batch.now), id=old.id)
        changes.append((old.id, old.status, old.due_at, item))
        if old.status != item.TrangThaiHoSo:
            fields.update(status=item.TrangThaiHoSo, status_changed_at=_status_time(item, batch.now))
            events.append(
                _event(old.id, old.status, item, fields["status_changed_at"], batch.now, batch.source)
            )
        updates.append(fields)
        counts["updated"] += 1
    # In code order, so two imports of overlapping files take their row locks in the same order.
    if inserts:
        inserts.sort(key=lambda f: str(f["code"]))
        # A plain executemany and then a SELECT of the new ids: with RETURNING, SQLAlchemy sends one long
        # multi-row INSERT whose text psycopg parses anew each time (longer than it caches), which cost
        # more than the storing itself.
        batch.session.execute(insert(Dossier), inserts)
        ids = batch.session.execute(select(Dossier.code, Dossier.id).where(Dossier.code.in_(new_items)))
        for code, dossier_id in ids:
            item = new_items[code]
            events.append(
                _event(dossier_id, None, item, _status_time(item, batch.now), batch.now, batch.source)
            )
    if updates:
        # rows with the same columns go in one executemany (a reason or an apology adds columns)
        updates.sort(key=lambda f: (sorted(f), f["id"]))
        batch.session.execute(update(Dossier), updates)
        _cancel_moot_alerts(batch, changes)
    if events:
        batch.session.execute(insert(DossierEvent), events)
    return counts, warnings


def _new_dossier(item: PortalDossier, now: datetime, api_key: ApiKey | None) -> dict[str, Any]:
    """The columns a dossier gets when it is first imported (the others come from `_fields`)."""
    return {
        "code": item.MaHoSo,
        "created_at": now,
        "status": item.TrangThaiHoSo,
        "status_changed_at": _status_time(item, now),
        "api_key_id": api_key.id if api_key is not None else None,
    }


def _event(
    dossier_id: int,
    old_status: int | None,
    item: PortalDossier,
    occurred: datetime,
    now: datetime,
    source: str,
) -> dict[str, Any]:
    return {
        "dossier_id": dossier_id,
        "from_status": old_status,
        "to_status": item.TrangThaiHoSo,
        "occurred_at": occurred,
        "recorded_at": now,
        "source": source,
        "pending": True,
    }


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
