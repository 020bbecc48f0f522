"""Alembic environment: the engine comes from notifier (config.toml / NOTIFIER_DATABASE__URL)."""

from __future__ import annotations

from alembic import context

from notifier.store.models import Base

config = context.config


def _engine():  # type: ignore[no-untyped-def]
    engine = config.attributes.get("engine")
    if engine is None:
        from notifier.config import load_settings
        from notifier.store.engine import make_engine

        settings = load_settings()
        engine = make_engine(settings.database.url)
    return engine


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            # autogenerate (and `alembic check`) also compare column types and server defaults, so a
            # model drifting from the deployed schema shows up in tests/test_migrations.py
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
