"""PostgreSQL content kept and put back: the tests' way to give each test a database at a known state.

Its own module, not conftest: pytest imports conftest as `conftest`, and the tests that import
`tests.conftest` get a second copy of it, with a second registry of the run's databases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, MetaData, text

from notifier.store.engine import make_engine


class PgContent:
    """What a PostgreSQL database holds, to be put back later: the COPY text of every table that has rows and
    every sequence's position. Putting it back empties every table and copies the rows back: a few round trips
    on one connection, where a new database per test cost a CREATE and a DROP DATABASE (which forces a
    checkpoint of the whole server)."""

    def __init__(self, url: str) -> None:
        engine = make_engine(url)
        try:
            meta = MetaData()
            meta.reflect(engine)
            tables = [t.name for t in meta.sorted_tables]  # parents before children
        finally:
            engine.dispose()
        self._rows: dict[str, bytes] = {}
        reset = [
            # like DROP DATABASE ... WITH (FORCE): whatever a test left connected (a pool, a process that
            # outlived it, an open transaction) goes; a lock nobody releases fails the test, not the run
            sql.SQL(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"  # not an autovacuum worker
            ),
            sql.SQL("SET lock_timeout = '30s'"),
        ]
        reset += [sql.SQL("DELETE FROM {}").format(sql.Identifier(t)) for t in reversed(tables)]
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            for table in tables:
                with cur.copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as copy:
                    data = b"".join(bytes(chunk) for chunk in copy)
                if data:
                    self._rows[table] = data
            query = "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
            for [name] in cur.execute(query).fetchall():
                value, called = cur.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(name))
                ).fetchone()  # type: ignore[misc]
                quoted = sql.Identifier(name).as_string(cur)
                setval = sql.SQL("SELECT setval({}, {}, {})")
                reset.append(setval.format(*map(sql.Literal, (quoted, value, called))))
            # one simple query, so one round trip, for all of it
            self._reset = sql.SQL("; ").join(reset).as_string(conn)

    def put_back(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(self._reset)
            for table, data in self._rows.items():
                with cur.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
                    copy.write(data)


class PristinePg:
    """One PostgreSQL database for the run, put back to its just-migrated content before each test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.content = PgContent(url)
        self._conn = psycopg.connect(url, autocommit=True)
        _pristine[url] = self

    def restore(self, content: PgContent | None = None) -> None:
        """Back to its just-migrated content, or to `content` taken from this database later."""
        (content or self.content).put_back(self._conn)

    def close(self) -> None:
        _pristine.pop(self.url, None)
        self._conn.close()


# The run's database by URL: putting content back ends every other connection to it, its own included, so
# content taken from it later goes back through its connection.
_pristine: dict[str, PristinePg] = {}


def put_back(url: str, content: PgContent) -> None:
    """`content`, taken from the PostgreSQL database at `url` earlier, put back into it."""
    pristine = _pristine.get(url)
    if pristine is not None:
        pristine.restore(content)
        return
    with psycopg.connect(url, autocommit=True) as conn:
        content.put_back(conn)


def waits_for_a_lock(engine: Engine, over: Callable[[float], bool], wait_event: str | None = None) -> bool:
    """Whether another connection to the engine's PostgreSQL database is seen waiting for a lock (of kind
    `wait_event`, when named), looking every 50 ms for up to 10 s; False as soon as `over(0.05)` says
    whatever might have waited has finished."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    if wait_event is not None:
        query += " AND wait_event = :event"
    with engine.connect() as probe:
        for _ in range(200):
            waiting = probe.scalar(text(query), {"event": wait_event})
            probe.rollback()  # pg_stat_activity is read once per transaction: a new one each look
            if waiting:
                return True
            if over(0.05):
                return False
    return False
