"""Agencies and officers in: `notifier import-officers FILE` (JSON or CSV)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.portal import (
    EmailText,
    ImportReport,
    Phone,
    RowError,
    none_if_blank,
    validation_errors,
)
from notifier.store.models import Agency, Officer


class OfficerRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    MaCanBo: str = Field(min_length=1, max_length=64)
    HoTen: str = Field(min_length=1, max_length=255)
    MaDonVi: str = Field(min_length=1, max_length=64)
    TenDonVi: str | None = None
    SoDienThoai: Phone | None = None
    Email: EmailText | None = None
    TelegramChatId: str | None = None
    LaLanhDao: int = Field(0, ge=0, le=1)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        value = none_if_blank(value)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("LaLanhDao", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return 0 if value is None else value

    @field_validator("TelegramChatId")
    @classmethod
    def _chat(cls, value: str | None) -> str | None:
        if value is not None and not value.lstrip("-").isdigit():
            raise ValueError("a Telegram chat id is a number")
        return value


def upsert_officers(session: Session, items: Iterable[Mapping[str, Any]]) -> ImportReport:
    report = ImportReport()
    for row, raw in enumerate(items, start=1):
        try:
            item = OfficerRow.model_validate(raw)
        except ValidationError as exc:
            errors = validation_errors(row, raw, exc)
            for e in errors:
                e.code = raw.get("MaCanBo") if isinstance(raw, Mapping) else None
                e.key = "MaCanBo"
            report.errors.extend(errors)
            continue
        with session.begin_nested():
            agency = session.scalar(select(Agency).where(Agency.code == item.MaDonVi))
            if agency is None:
                agency = Agency(code=item.MaDonVi, name=item.TenDonVi or item.MaDonVi)
                session.add(agency)
                session.flush()
            elif item.TenDonVi and agency.name != item.TenDonVi:
                agency.name = item.TenDonVi
            officer = session.scalar(select(Officer).where(Officer.code == item.MaCanBo))
            values = dict(
                name=item.HoTen,
                agency_id=agency.id,
                phone=item.SoDienThoai,
                email=item.Email,
                telegram_chat_id=item.TelegramChatId,
                is_head=bool(item.LaLanhDao),
                active=True,
            )
            if officer is None:
                session.add(Officer(code=item.MaCanBo, **values))
                report.created += 1
            elif any(getattr(officer, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(officer, k, v)
                report.updated += 1
            else:
                report.unchanged += 1
    return report


__all__ = ["OfficerRow", "RowError", "upsert_officers"]
