"""Ingest stores a batch set-based (a few statements, not a few per row), and falls back to row by row when
the database refuses the batch, so one refused row still rejects only itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select, text

from notifier.store.models import Agency, Dossier, DossierEvent, Procedure
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.factories import dossier

CODE = "000.00.30.H26-261120-{:04d}"


@contextmanager
def _statements(service: Service) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(service.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(service.engine, "before_cursor_execute", count)


def _events(service: Service) -> int:
    with service.factory() as session:
        return session.scalar(select(func.count()).select_from(DossierEvent)) or 0


def test_a_batch_takes_a_few_statements_not_a_few_per_row(service: Service) -> None:
    items = [dossier(CODE.format(i), TrangThaiHoSo=2 + i % 3) for i in range(60)]
    with _statements(service) as first:
        report = ImportWorkflow(service).dossiers(items, "test")
    assert (report.created, report.errors) == (60, [])
    # row by row this was a SELECT, a savepoint and two flushes per row (over 240 statements)
    assert len(first) < 30, first
    assert _events(service) == 60

    # again, with 20 rows changed (10 of them to another status) and 40 as they were
    again = list(items)
    for i in range(20):
        again[i] = dossier(CODE.format(i), TrangThaiHoSo=2 + i % 3 if i % 2 else 9, ChuHoSo=f"Trần Thị {i}")
    with _statements(service) as second:
        report = ImportWorkflow(service).dossiers(again, "test")
    assert (report.created, report.updated, report.unchanged) == (0, 20, 40)
    assert len(second) < 30, second
    assert _events(service) == 70
    with service.factory() as session:
        names = {c: v for c, v in session.execute(select(Dossier.code, Dossier.applicant_name))}
        statuses = {c: v for c, v in session.execute(select(Dossier.code, Dossier.status))}
    assert names[CODE.format(3)] == "Trần Thị 3" and names[CODE.format(30)] == "Nguyễn Văn An"
    assert statuses[CODE.format(4)] == 9 and statuses[CODE.format(5)] == 2 + 5 % 3


def test_a_reason_given_once_is_kept_when_a_later_row_of_the_batch_omits_it(service: Service) -> None:
    workflow = ImportWorkflow(service)
    workflow.dossiers([dossier(CODE.format(1), LyDoTreHan="Chờ ý kiến Sở Xây dựng")], "test")
    # a changed row without the reason, beside a changed row with a new one: two sets of columns
    report = workflow.dossiers(
        [dossier(CODE.format(1), ChuHoSo="Lê Văn Bình"), dossier(CODE.format(2), LyDoTreHan="Thiếu hồ sơ")],
        "test",
    )
    assert (report.created, report.updated) == (1, 1)
    with service.factory() as session:
        reasons = {c: v for c, v in session.execute(select(Dossier.code, Dossier.delay_reason))}
    assert reasons == {CODE.format(1): "Chờ ý kiến Sở Xây dựng", CODE.format(2): "Thiếu hồ sơ"}


@contextmanager
def _refusing(service: Service, code: str) -> Iterator[None]:
    """A database that refuses one code: a trigger, standing in for any refusal validation cannot foresee."""
    with service.engine.begin() as conn:
        if service.engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON dossiers "
                    f"WHEN NEW.code = '{code}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.code = '{code}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON dossiers FOR EACH ROW EXECUTE FUNCTION refuse_one()"
                )
            )
    try:
        yield
    finally:
        with service.engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER refuse_one" + (" ON dossiers" if conn.dialect.name != "sqlite" else ""))
            )
            if conn.dialect.name != "sqlite":
                conn.execute(text("DROP FUNCTION refuse_one()"))


def test_a_row_the_database_refuses_rejects_only_itself(service: Service) -> None:
    items = [dossier(CODE.format(i)) for i in range(10)]
    with _refusing(service, CODE.format(6)):
        report = ImportWorkflow(service).dossiers(items, "test")
    assert report.created == 9
    assert [(e.row, e.value) for e in report.errors] == [(7, CODE.format(6))]
    assert "refused" in report.errors[0].reason and "INSERT" not in report.errors[0].reason
    assert _events(service) == 9


def test_a_code_twice_in_one_batch_is_stored_in_order(service: Service) -> None:
    items = [dossier(CODE.format(1), TrangThaiHoSo=2), dossier(CODE.format(2)), dossier(CODE.format(1))]
    report = ImportWorkflow(service).dossiers(items, "test")
    assert (report.created, report.updated) == (2, 1)
    assert any("also at row 1" in w for w in report.warnings)
    with service.factory() as session:
        status = session.scalar(select(Dossier.status).where(Dossier.code == CODE.format(1)))
    assert status == 4  # the later row won, and its status change is an event
    assert _events(service) == 3


def test_names_of_known_agencies_and_procedures_are_still_brought_up_to_date(service: Service) -> None:
    workflow = ImportWorkflow(service)
    workflow.dossiers([dossier(CODE.format(1), TenDonVi=None, DonViXuLy=None)], "test")
    with service.factory() as session:
        agency = session.scalar(select(Agency).where(Agency.code == dossier()["MaDonVi"]))
        assert agency is not None and agency.name == agency.code  # no name given: the code stands in
    workflow.dossiers([dossier(CODE.format(2), TenTTHC="Cấp Thẻ công chứng viên (sửa đổi)")], "test")
    with service.factory() as session:
        agency = session.scalar(select(Agency).where(Agency.code == dossier()["MaDonVi"]))
        procedure = session.scalar(select(Procedure).where(Procedure.code == "1.001233"))
    assert agency is not None and agency.name == dossier()["TenDonVi"]
    assert procedure is not None and procedure.name == "Cấp Thẻ công chứng viên (sửa đổi)"
