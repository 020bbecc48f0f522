"""Shared column types and the declarative base: times are stored in UTC and come back aware, in Vietnam
time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import BigInteger, CursorResult, DateTime, Integer, Result, String, Table, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from notifier.rules.clock import VN_TZ

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns Vietnam time; SQLite has no time zones, so naive values are read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the database; attach a time zone first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(VN_TZ)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: AwareDateTime}


class OneTimeCode:
    """The columns of a one-time code table (officers' and dossiers' Zalo link codes): only the code's hash
    is kept; spending it fills `used_at` and `used_by` (notifier.store.zalo)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(64))


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed as a Table (`__table__` is declared as any FromClause)."""
    return cast(Table, model.__table__)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (`rowcount` lives on the cursor result the statement returns)."""
    return cast(CursorResult[Any], result).rowcount
