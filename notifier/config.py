"""Settings: config.toml, overridden by NOTIFIER_* environment variables (nested with `__`).

Every settings model refuses keys it does not know: a typo such as `[dispatch] max_attempt` would otherwise
load silently and leave the default in force. `load_settings` reports each problem on a line of its own,
naming where the value came from (the file, the environment variable, or the caller's overrides).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notifier.rules.outbox_status import ResendPolicy
from notifier.rules.sandbox import RenderLimits
from notifier.rules.slip_numbers import check_number_format

DEFAULT_CONFIG = Path("config.toml")
ENV_PREFIX = "NOTIFIER_"
ENV_NESTED = "__"


class ConfigError(ValueError):
    """Settings that cannot be used: one line per problem, each naming its source, setting and value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Section(BaseModel):
    """A table of config.toml. An unknown key is an error: a misspelt setting must not go unnoticed."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str = "sqlite:///var/notifier.db"
    echo: bool = False


class ProvinceSettings(Section):
    name: str = "Hải Phòng"
    portal_url: str = "https://dichvucong.haiphong.gov.vn"


class CalendarSettings(Section):
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)


class RemindersSettings(Section):
    due_soon_working_days: int = Field(2, ge=0)
    escalation_working_days: int = Field(2, ge=1)
    payment_reminder_working_days: int = Field(2, ge=1)


class HoursSettings(Section):
    start: time
    end: time


class ScanSettings(Section):
    interval_seconds: int = Field(300, ge=1)
    # Rescans read only dossiers that crossed a threshold or changed since the last scan; every Nth scan
    # reads everything (it also picks up config changes such as new thresholds or holidays).
    full_every: int = Field(12, ge=1)
    overlap_seconds: int = Field(600, ge=0)


class DispatchSettings(Section):
    interval_seconds: float = Field(1, gt=0)
    batch_size: int = Field(200, ge=1)
    concurrency: int = Field(20, ge=1)
    max_attempts: int = Field(5, ge=1)
    backoff_base_seconds: float = Field(60, ge=0)
    backoff_max_seconds: float = Field(3600, ge=0)
    lease_seconds: int = Field(300, ge=1)
    # A row reclaimed after it was handed to a provider that cannot tell a repeat (Telegram, Zalo): "check"
    # leaves it `unknown` for an operator, "resend" queues it again (the citizen may get it twice).
    unconfirmed_resend: ResendPolicy = ResendPolicy.CHECK


class RenderingSettings(Section):
    """Bounds on one render of an (agency-editable) template; see notifier.rules.sandbox."""

    timeout_seconds: float = Field(1.0, gt=0, le=60)
    max_output_chars: int = Field(200_000, ge=1000)
    max_value_chars: int = Field(200_000, ge=1000)
    # Renders stopped by the time limit are retried (a busy machine); after this many the row fails.
    max_tries: int = Field(3, ge=1)
    # The editor's preview and save checks run in a child process killed after this many seconds.
    preview_timeout_seconds: float = Field(5.0, gt=0, le=60)

    def limits(self) -> RenderLimits:
        return RenderLimits(
            seconds=self.timeout_seconds,
            max_output=self.max_output_chars,
            max_value=self.max_value_chars,
        )


class RoutingSettings(Section):
    citizen: list[str] = Field(default_factory=lambda: ["file"])
    officer: list[str] = Field(default_factory=lambda: ["file"])
    head: list[str] = Field(default_factory=lambda: ["file"])

    def for_audience(self, audience: str) -> list[str]:
        return list(getattr(self, audience))


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    # Calls per second one API key may make, shared by every web process (bucket of `key_burst` calls).
    key_rate_per_second: float = Field(10.0, gt=0)
    key_burst: int = Field(50, ge=1)
    # Everything a test key's dossiers cause is sent through this channel only (never a real provider).
    test_channel: str = "file"


class CallbackSettings(Section):
    """POSTs of status changes to API keys' callback URLs (notifier.outbox.callbacks)."""

    interval_seconds: float = Field(2, gt=0)
    batch_size: int = Field(200, ge=1)
    concurrency: int = Field(10, ge=1)
    timeout_seconds: float = Field(10, gt=0)
    # A receiver that does not answer 2xx is tried again after base, 2·base, 4·base … seconds, at most
    # max apart, for as long as it takes: nothing is dropped.
    backoff_base_seconds: float = Field(5, ge=0)
    backoff_max_seconds: float = Field(600, ge=0)


class BotSettings(Section):
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


class AdminSettings(Section):
    enabled: bool = True
    # The session cookie is signed with the secret in this environment variable; without it a random
    # secret is made at start-up (sessions then end when the process restarts).
    secret_env: str = "NOTIFIER_ADMIN_SECRET"
    cookie_secure: bool = False  # true behind HTTPS: the browser then sends the cookie only over HTTPS
    session_max_age_seconds: int = Field(8 * 3600, ge=60)
    sms_price_vnd: int = Field(800, ge=0)  # price of one SMS segment, for the editor's cost estimate


class DigestSettings(Section):
    """The daily officer and head digests (notifier.outbox.digests)."""

    enabled: bool = True
    at: time = time(7, 45)  # queued from this time of day on working days (Vietnam time)
    due_soon_working_days: int = Field(3, ge=0)  # list dossiers with at most this many working days left
    send_empty: bool = False  # also send "nothing due" digests


class ApologySettings(Section):
    """Apology slips (notifier.workflows.apology)."""

    number_format: str = "{seq}/PXL"  # fields {seq}, {year}, {agency_code}; numbered per agency and year
    pdf_font: str | None = None  # a .ttf with Vietnamese glyphs for PDF slips; unset: DejaVu Sans if found

    @field_validator("number_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        return check_number_format(value)


class RetentionSettings(Section):
    """Personal data kept in finished notifications (notifier.outbox.retention, Decree 13/2023)."""

    # Text and address of sent, delivered, undelivered and failed notifications are erased this many days
    # after their last change; kind, channel, status, segments and times stay for the reports.
    days: int = Field(default=90, ge=1)


class Settings(BaseSettings):
    # extra="forbid": an unknown table or top-level key is refused like an unknown key in a table.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid")
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
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    rendering: RenderingSettings = Field(default_factory=RenderingSettings)
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

    @property
    def source(self) -> str:
        """Where these settings were read, for error messages: the config file, or the built-in defaults."""
        return str(self.toml_path) if self.toml_path is not None else "built-in defaults"

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
    """The settings from the config file, the environment and `overrides` (highest first).

    Raises ConfigError naming every problem at once: the file and `[table] key`, the environment variable,
    or the override; the value and what is wrong with it (for an unknown key, the nearest known one)."""
    resolved = config_path(path)
    file_data: dict[str, Any] = {}
    if resolved is not None:
        try:
            file_data = tomllib.loads(resolved.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{resolved}: not valid TOML: {exc}"]) from None
    origin = _Origin(resolved, file_data, overrides)
    problems = unknown_environment(os.environ)
    # A throwaway subclass carries the file path into settings_customise_sources without global state.
    cls = type("FileSettings", (Settings,), {"toml_path": resolved})
    try:
        settings: Settings = cls(**overrides)
    except ValidationError as exc:
        problems += [origin.describe(error) for error in exc.errors()]
    if problems:
        raise ConfigError(problems)
    return settings


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """NOTIFIER_* variables that look like settings but name none.

    `NOTIFIER_<SECTION>__<KEY>` is a setting; pydantic-settings reads only the sections it knows, so one
    naming an unknown section would be ignored: refused here (an unknown key of a known section is refused
    by the section's model). `NOTIFIER_<SECTION>_<KEY>` spelling a setting with one underscore where two
    are meant is refused too. Any other NOTIFIER_* name (NOTIFIER_CONFIG, NOTIFIER_ADMIN_SECRET, a test's
    own variables) is not a setting and is left alone."""
    sections = _sections()
    problems: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, nested, keys = rest.partition(ENV_NESTED)
        if nested:
            if section not in sections:
                close = _closest(section, list(sections))
                hint = f" (did you mean {_env_name(close, keys)}?)" if close else ""
                problems.append(f"environment: {name}: unknown setting{hint}")
            continue
        for known, fields in sections.items():
            for key in fields:
                if rest == f"{known}_{key}":
                    meant = _env_name(known, key)
                    problems.append(f"environment: {name}: not a setting (did you mean {meant}?)")
    return problems


class _Origin:
    """Where a setting's value came from, to name it as the operator wrote it. The sources are read in
    pydantic-settings' order: the caller's overrides, then the environment, then the file."""

    def __init__(self, path: Path | None, file_data: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.path = path
        self.file_data = file_data
        self.overrides = overrides
        # pydantic-settings matches environment names without regard to case
        self.env = {name.upper(): name for name in os.environ if name.upper().startswith(ENV_PREFIX)}

    def describe(self, error: Mapping[str, Any]) -> str:
        loc = tuple(error["loc"])
        source, name, spell = self._source(loc)
        if error["type"] == "extra_forbidden":
            close = _closest(str(loc[-1]), _fields_at(loc[:-1]))
            hint = f" (did you mean {spell(close)}?)" if close else ""
            return f"{source}: {name}: unknown setting{hint}"
        if error["type"] == "value_error":
            # Our own validators show the value themselves (masked when secret) and may name the setting.
            message = str(error["msg"]).removeprefix("Value error, ").removeprefix(f"{loc[-1]}: ")
            return f"{source}: {name}: {message}"
        value = error.get("input")
        shown = "" if isinstance(value, dict) else f" value {value!r}:"
        return f"{source}: {name}:{shown} {error['msg']}"

    def _source(self, loc: tuple[Any, ...]) -> tuple[str, str, Callable[[str], str]]:
        """(where, the setting's name there, how a sibling key is spelt there).

        The deepest part of `loc` that a source holds decides: a missing key (`[quiet_hours]` without
        `start`) is named in the table that lacks it."""
        parent = loc[:-1]
        names = [str(p) for p in loc]
        for depth in range(len(loc), 0, -1):
            if _holds(self.overrides, loc[:depth]):
                return "settings", _dotted(loc), str
            env = self.env.get(_env_name(*names[:depth]))
            if env is not None:
                shown = env if depth == len(loc) else f"{env} {_dotted(loc[depth:])}"
                return "environment", shown, lambda key: _env_name(*map(str, parent), key)
            if self.path is not None and _holds(self.file_data, loc[:depth]):
                if len(loc) == 1 and isinstance(self.file_data[loc[0]], dict):
                    return str(self.path), f"[{loc[0]}]", lambda key: f"[{key}]"
                if len(loc) == 1:
                    return str(self.path), str(loc[0]), str
                return str(self.path), f"[{loc[0]}] {_dotted(loc[1:])}", str
        return "settings", _dotted(loc), str


def _sections() -> dict[str, list[str]]:
    """Each top-level setting and the keys of its table (none for `channels`: each channel checks its own)."""
    return {name: _fields_at((name,)) for name in Settings.model_fields}


def _fields_at(path: tuple[Any, ...]) -> list[str]:
    """The keys the settings models accept at `path` (none where it leads out of the models)."""
    model: type[BaseModel] = Settings
    for part in path:
        field = model.model_fields.get(str(part))
        sub = field.annotation if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return []
        model = sub
    return list(model.model_fields)


def _holds(data: Any, loc: tuple[Any, ...]) -> bool:
    """Whether `data` (nested dicts and lists) has a value at `loc`."""
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
            continue
        if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            continue
        return False
    return True


def _dotted(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _env_name(*parts: str) -> str:
    return ENV_PREFIX + ENV_NESTED.join(parts).upper()


def _closest(key: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None
