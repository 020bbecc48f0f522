"""Agencies and officers in: `notifier import-officers FILE` (JSON or CSV)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.rules.agencies import AgencyLevel, parse_level
from notifier.rules.portal import (
    EmailText,
    ImportReport,
    Phone,
    RowError,
    none_if_blank,
    storable_text,
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
    # The signer's title on documents (GIÁM ĐỐC, PHÓ GIÁM ĐỐC, CHỦ TỊCH ...).
    ChucDanh: str | None = Field(None, max_length=128)
    # The agency's facts for document headers and texts; blank leaves what is stored.
    CapDonVi: AgencyLevel | None = None  # "province" (Sở ...) or "commune" (UBND xã, phường, đặc khu)
    CoQuanChuQuan: str | None = Field(None, max_length=255)  # the body above: "UBND THÀNH PHỐ HẢI PHÒNG"
    TenVietTat: str | None = Field(None, max_length=64)  # short name for SMS
    DiaDanh: str | None = Field(None, max_length=128)  # place name a document is dated at: "Hải Phòng"
    TenTrungTamPhucVu: str | None = Field(None, max_length=255)  # "Trung tâm Phục vụ hành chính công ..."

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        value = none_if_blank(storable_text(value))  # a NUL was a 500 on PostgreSQL
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("LaLanhDao", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return 0 if value is None else value

    @field_validator("CapDonVi", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return parse_level(value) if isinstance(value, str) else value

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
            _agency_facts(agency, item)
            officer = session.scalar(select(Officer).where(Officer.code == item.MaCanBo))
            values = dict(
                name=item.HoTen,
                agency_id=agency.id,
                phone=item.SoDienThoai,
                email=item.Email,
                telegram_chat_id=item.TelegramChatId,
                is_head=bool(item.LaLanhDao),
                title=item.ChucDanh,
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


def _agency_facts(agency: Agency, item: OfficerRow) -> None:
    """Copy the agency columns the row fills in; a blank cell keeps the stored value (rows of the same
    agency need not repeat them)."""
    facts = {
        "level": str(item.CapDonVi) if item.CapDonVi is not None else None,
        "parent_name": item.CoQuanChuQuan,
        "short_name": item.TenVietTat,
        "seat": item.DiaDanh,
        "desk_name": item.TenTrungTamPhucVu,
    }
    for key, value in facts.items():
        if value is not None and getattr(agency, key) != value:
            setattr(agency, key, value)


__all__ = ["OfficerRow", "RowError", "upsert_officers"]
