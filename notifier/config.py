"""Settings: config.toml, overridden by NOTIFIER_* environment variables (nested with `__`)."""

from __future__ import annotations

import os
import re
from datetime import date, time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notifier.rules.slip_numbers import check_number_format

DEFAULT_CONFIG = Path("config.toml")


class DatabaseSettings(BaseModel):
    url: str = "sqlite:///var/notifier.db"
    echo: bool = False


class ProvinceSettings(BaseModel):
    name: str = "Hải Phòng"
    portal_url: str = "https://dichvucong.haiphong.gov.vn"


class CalendarSettings(BaseModel):
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)


class RemindersSettings(BaseModel):
    due_soon_working_days: int = Field(2, ge=0)
    escalation_working_days: int = Field(2, ge=1)
    payment_reminder_working_days: int = Field(2, ge=1)


class HoursSettings(BaseModel):
    start: time
    end: time


class ScanSettings(BaseModel):
    interval_seconds: int = Field(300, ge=1)
    # Rescans read only dossiers that crossed a threshold or changed since the last scan; every Nth scan
    # reads everything (it also picks up config changes such as new thresholds or holidays).
    full_every: int = Field(12, ge=1)
    overlap_seconds: int = Field(600, ge=0)


class DispatchSettings(BaseModel):
    interval_seconds: float = Field(5, gt=0)
    batch_size: int = Field(200, ge=1)
    concurrency: int = Field(20, ge=1)
    max_attempts: int = Field(5, ge=1)
    backoff_base_seconds: float = Field(60, ge=0)
    backoff_max_seconds: float = Field(3600, ge=0)
    lease_seconds: int = Field(300, ge=1)


class RoutingSettings(BaseModel):
    citizen: list[str] = Field(default_factory=lambda: ["file"])
    officer: list[str] = Field(default_factory=lambda: ["file"])
    head: list[str] = Field(default_factory=lambda: ["file"])

    def for_audience(self, audience: str) -> list[str]:
        return list(getattr(self, audience))


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080


class BotSettings(BaseModel):
    """The citizen chatbot; it runs when `[channels.telegram]` has a token (see notifier.bot.config)."""

    webhook_url: str | None = None  # unset: long polling; set: Telegram posts updates to this URL
    webhook_secret: str | None = None  # required with webhook_url; Telegram echoes it in a header
    redis_url: str | None = None  # FSM storage shared by several processes; unset: in memory
    # Lookups that fail this many times in the window slow the chat down to one try per slowdown.
    failed_lookup_limit: int = Field(5, ge=1)
    failed_lookup_window_seconds: int = Field(3600, ge=1)
    slowdown_seconds: int = Field(300, ge=1)
    feedback_answer_working_days: int = Field(10, ge=1)
    feedback_agency: str | None = None  # MaDonVi that receives feedback not about a dossier

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: str | None) -> str | None:
        # Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - (and rejects setWebhook otherwise).
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError(f"webhook_secret: value '{value[:4]}…': use 1-256 characters A-Z a-z 0-9 _ -")
        return value


class AdminSettings(BaseModel):
    enabled: bool = True
    # The session cookie is signed with the secret in this environment variable; without it a random
    # secret is made at start-up (sessions then end when the process restarts).
    secret_env: str = "NOTIFIER_ADMIN_SECRET"
    cookie_secure: bool = False  # true behind HTTPS: the browser then sends the cookie only over HTTPS
    session_max_age_seconds: int = Field(8 * 3600, ge=60)
    sms_price_vnd: int = Field(800, ge=0)  # price of one SMS segment, for the editor's cost estimate


class DigestSettings(BaseModel):
    """The daily officer and head digests (notifier.outbox.digests)."""

    enabled: bool = True
    at: time = time(7, 45)  # queued from this time of day on working days (Vietnam time)
    due_soon_working_days: int = Field(3, ge=0)  # list dossiers with at most this many working days left
    send_empty: bool = False  # also send "nothing due" digests


class ApologySettings(BaseModel):
    """Apology slips (notifier.workflows.apology)."""

    number_format: str = "{seq}/PXL"  # fields {seq}, {year}, {agency_code}; numbered per agency and year
    pdf_font: str | None = None  # a .ttf with Vietnamese glyphs for PDF slips; unset: DejaVu Sans if found

    @field_validator("number_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        return check_number_format(value)


class RetentionSettings(BaseModel):
    """Personal data kept in finished notifications (notifier.outbox.retention, Decree 13/2023)."""

    # Text and address of sent, delivered, undelivered and failed notifications are erased this many days
    # after their last change; kind, channel, status, segments and times stay for the reports.
    days: int = Field(90, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", env_nested_delimiter="__", extra="ignore")
    toml_path: ClassVar[Path | None] = None

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    province: ProvinceSettings = Field(default_factory=ProvinceSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    reminders: RemindersSettings = Field(default_factory=RemindersSettings)
    # Citizens are not woken at night; officers are paged only while they are at work.
    quiet_hours: HoursSettings = Field(default_factory=lambda: HoursSettings(start=time(21), end=time(7)))
    working_hours: HoursSettings = Field(
        default_factory=lambda: HoursSettings(start=time(7, 30), end=time(17, 0))
    )
    scan: ScanSettings = Field(default_factory=ScanSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    # Each channel validates its own table with its own settings model (see notifier.channels.base).
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"file": {"path": "var/outbox.jsonl"}, "console": {}}
    )
    api: ApiSettings = Field(default_factory=ApiSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    apology: ApologySettings = Field(default_factory=ApologySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("channels")
    @classmethod
    def _channel_tables(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, table in value.items():
            if not isinstance(table, dict):
                raise ValueError(f"[channels.{name}] must be a table, got {table!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = getattr(settings_cls, "toml_path", None)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def config_path(explicit: str | Path | None = None) -> Path | None:
    """--config wins, then NOTIFIER_CONFIG, then ./config.toml if present; otherwise built-in defaults."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"config: file '{path}' does not exist")
        return path
    env = os.environ.get("NOTIFIER_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"NOTIFIER_CONFIG: file '{path}' does not exist")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    resolved = config_path(path)
    # A throwaway subclass carries the file path into settings_customise_sources without global state.
    cls = type("FileSettings", (Settings,), {"toml_path": resolved})
    return cls(**overrides)
