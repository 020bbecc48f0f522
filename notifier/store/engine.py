"""Engine, sessions and schema migrations."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Engine, any_, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from notifier.config import engine_url

MIGRATIONS = Path(__file__).parent / "migrations"


# Every engine of this process still in use, for `dispose_all`; weak, so an engine nobody holds still goes.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    _engines.add(engine)
    return engine


def dispose_all() -> None:
    """Close the pooled connections of every engine still in use: what a process leaving without its final
    garbage collection (jobs.cli) must do itself. SQLite checkpoints its WAL into the database file when
    the last connection closes; PostgreSQL sees a goodbye, not a dropped socket."""
    for engine in list(_engines):
        engine.dispose()


# How long a writer waits for another (another thread, `notifier run`, a CLI import) before giving up.
# Import transactions are batched (notifier.workflows.ingest), so a wait is one batch, not one import.
SQLITE_BUSY_SECONDS = 60


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling begins lazily, before the first write: a transaction that read
    # first then fails to upgrade its lock at once ("database is locked"), without the busy wait. We begin
    # the transactions ourselves (below), so the driver must not.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the web app read while the dispatcher writes; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock at the start, waiting (busy_timeout) while another writer holds
    # it: writers queue instead of failing. Readers are not blocked by it in WAL mode; a transaction that
    # only reads holds the write lock for its short life, which is the price of never failing a write.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def _script_heads() -> frozenset[str]:
    # The migration files are part of the installed package: they do not change while a process runs.
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config(None)).get_heads())


def schema_revisions(engine: Engine) -> tuple[frozenset[str], frozenset[str]]:
    """(the migrations the database's schema is at, none before `db upgrade`; the newest ones this code has).
    Raises what the driver raises when the database does not answer."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads()), _script_heads()


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at the newest migration."""
    current, heads = schema_revisions(engine)
    return current == heads


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    # Alembic's own run at head loads every migration file and env.py to do nothing; asking the database
    # first keeps a start-up (and every test's `migrate()`) on a migrated database cheap.
    if revision == "head" and at_head(engine):
        return
    command.upgrade(alembic_config(engine), revision)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def insert_into(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the session's dialect: the one with ON CONFLICT, which PostgreSQL and
    SQLite spell alike (DO NOTHING, DO UPDATE)."""
    return postgresql.insert(table) if is_postgres(session) else sqlite.insert(table)


def among(column: Any, values: Iterable[Any], postgres: bool) -> ColumnElement[bool]:
    """`column IN values`, as one array parameter (`= ANY(…)`) on PostgreSQL.

    An IN list of a batch's 500 ids is 500 parameters: SQLAlchemy expands them and psycopg re-parses the
    long statement on every execution (it caches only short ones), milliseconds per query of a batch.
    The array keeps the statement short and the same. ORM UPDATEs using it need
    `synchronize_session=False` (the session cannot evaluate `ANY` on objects it holds).
    """
    values = list(values)
    if postgres:
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]
