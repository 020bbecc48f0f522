"""The test databases themselves: each test's is migrated, seeded and its own, or empty when it asks."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import MetaData, func, inspect, select

from notifier.rules.clock import FixedClock
from notifier.rules.rendering import load_template_files
from notifier.store.bot_texts import load_text_files
from notifier.store.engine import at_head, make_engine
from notifier.store.models import Agency, ApiKey, Template
from notifier.store.templates import NewVersion, Seeded, store_version
from notifier.workflows.service import Service
from tests.browser import kit
from tests.conftest import T0, make_settings
from tests.pg_content import PristinePg


def test_a_shipped_text_corrected_in_a_release_reaches_the_copies_nobody_edited(
    db_url: str, tmp_path: Path
) -> None:
    """A database seeded by an earlier release holds the shipped texts as they were then (author
    `system`). `db upgrade` on the new release brings those copies to the new text as a new version; a
    family someone saved, and an agency's own version, keep what they have."""
    svc = Service.build(make_settings(db_url, tmp_path), FixedClock(T0))
    files = {(f.kind, f.channel_type): f for f in load_template_files()}
    stale, edited = ("escalation", "sms"), ("due_soon", "sms")
    try:
        with svc.factory() as session, session.begin():
            # As the earlier release stored them: the escalation SMS with last year's wording...
            old = session.scalars(
                select(Template).where(
                    Template.kind == stale[0], Template.channel_type == stale[1], Template.agency_id.is_(None)
                )
            ).one()
            old.body = "((co_quan_ngan)): Hồ sơ ((ma_ho_so)) quá hạn. Đề nghị đồng chí chỉ đạo xử lý."
            # ...and a clerk's own wording of due_soon for the province, and an agency's of the escalation.
            store_version(
                session, NewVersion(*edited, None, None, "{{ dossier.code }} sắp đến hạn"), "an", T0
            )
            agency = session.scalars(select(Agency)).first() or Agency(code="STP", name="Sở Tư pháp")
            session.add(agency)
            session.flush()
            store_version(
                session, NewVersion(*stale, agency.id, None, "{{ dossier.code }} quá hạn"), "binh", T0
            )

        assert svc.migrate() == Seeded(added=0, updated=1)

        with svc.factory() as session:

            def versions(
                kind: str, channel_type: str, agency_id: int | None = None
            ) -> list[tuple[int, str, str]]:
                rows = session.scalars(
                    select(Template)
                    .where(Template.kind == kind, Template.channel_type == channel_type)
                    .where(
                        Template.agency_id.is_(None) if agency_id is None else Template.agency_id == agency_id
                    )
                    .order_by(Template.version)
                )
                return [(t.version, t.author, t.body) for t in rows]

            province = versions(*stale)
            assert [(v, a) for v, a, _ in province] == [(1, "system"), (2, "system")]
            assert province[-1][2] == files[stale].body
            assert [(v, a) for v, a, _ in versions(*edited)] == [(1, "system"), (2, "an")]
            assert versions(*stale, agency.id) == [(1, "binh", "{{ dossier.code }} quá hạn")]
        assert svc.migrate() == Seeded(0, 0)  # the new text is stored once
    finally:
        svc.engine.dispose()


def test_a_test_starts_on_a_migrated_and_seeded_database_of_its_own(db_url: str, tmp_path: Path) -> None:
    svc = Service.build(make_settings(db_url, tmp_path))
    try:
        assert at_head(svc.engine)
        with svc.factory() as session:
            shipped = len([*load_template_files(), *load_text_files()])
            assert session.scalar(select(func.count()).select_from(Template)) == shipped
            assert session.scalar(select(func.min(Template.created_at))) == T0
            assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert svc.migrate() == Seeded(0, 0)  # nothing left to add or bring up to date
    finally:
        svc.engine.dispose()


@pytest.mark.empty_database
def test_an_empty_database_has_no_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
        assert not at_head(engine)
    finally:
        engine.dispose()


def test_restoring_forgets_rows_resets_ids_and_ends_stray_connections(pg_pristine: PristinePg) -> None:
    """PostgreSQL's database is shared by the session's tests: restoring it must leave nothing behind."""
    shipped = len([*load_template_files(), *load_text_files()])
    key = {"name": "a", "prefix": "p", "key_hash": "h", "created_at": T0}
    engine = make_engine(pg_pristine.url)
    try:
        pg_pristine.restore()
        with engine.begin() as conn:
            conn.execute(ApiKey.__table__.insert(), key)
            first_id = conn.scalar(select(ApiKey.id))
            conn.execute(Template.__table__.delete())
        # a connection a test forgot, in a transaction holding a lock on a table that restoring empties
        stray = psycopg.connect(pg_pristine.url)
        stray.execute(f"SELECT * FROM {ApiKey.__tablename__} FOR UPDATE")
        pg_pristine.restore()
        with pytest.raises(psycopg.OperationalError):
            stray.execute("SELECT 1")
        stray.close()
        with engine.begin() as conn:
            assert conn.scalar(select(func.count()).select_from(ApiKey)) == 0
            assert conn.scalar(select(func.count()).select_from(Template)) == shipped
            conn.execute(ApiKey.__table__.insert(), key)
            assert conn.scalar(select(ApiKey.id)) == first_id  # ids start where a fresh database starts
    finally:
        engine.dispose()


def _everything(url: str, folder: Path) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, bytes]]:
    """Every row of every table, in primary-key order, and every file beside the database but its own."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            rows = {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in meta.sorted_tables
            }
    finally:
        engine.dispose()
    return rows, kit.files_beside_the_database(folder)


def test_a_copied_province_is_the_populated_one(
    db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin tests' province is populated once per test process and copied after: the copy must hold
    what populating leaves, row for row, file for file and message for message, and be a copy (the next
    test's changes are its own)."""
    monkeypatch.setattr(kit, "_populated", {})  # this test populates, whatever ran before it
    first = tmp_path / "first"
    first.mkdir()
    url = db_url.replace(str(tmp_path), str(first)) if db_url.startswith("sqlite") else db_url
    if url != db_url:
        (tmp_path / "notifier.db").rename(first / "notifier.db")
    populated = kit.ready_province(url, first, clock)
    populated.service.engine.dispose()
    made = _everything(url, first), list(populated.sms.received)
    assert made[0][0]["notifications"] and made[1] and "outbox.jsonl" in made[0][1]

    with populated.service.factory() as session, session.begin():  # what a test might do to its copy
        session.execute(Template.__table__.delete())
    second = tmp_path / "second"
    second.mkdir()
    url2 = url.replace(str(first), str(second))
    copied = kit.ready_province(url2, second, clock)
    try:
        assert (_everything(url2, second), list(copied.sms.received)) == made
        assert copied.sms.received is not populated.sms.received
    finally:
        copied.service.engine.dispose()
