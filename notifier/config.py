"""Settings: config.toml, overridden by NOTIFIER_* environment variables (nested with `__`).

Every settings model refuses keys it does not know: a typo such as `[dispatch] max_attempt` would otherwise
load silently and leave the default in force. `load_settings` reports each problem on a line of its own,
naming where the value came from (the file, the environment variable, or the caller's overrides).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notifier.rules.outbox_status import ResendPolicy
from notifier.rules.sandbox import RenderLimits
from notifier.rules.slip_numbers import check_number_format
from notifier.rules.spend import OnCap

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

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


def engine_url(url: str) -> URL:
    """`[database] url` as the engine opens it. The bare `postgresql://` scheme means psycopg 3, the driver
    notifier ships: SQLAlchemy 2.0 would take it for psycopg2 (2.1 for psycopg), which is not installed."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


class DatabaseSettings(Section):
    url: str = "sqlite:///var/notifier.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """A URL the engine can open (`engine_url`), refused here naming the setting rather than as a
        traceback at the first command: SQLite or PostgreSQL, through a driver that is installed."""
        expected = "expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        try:
            url = engine_url(value)
        except Exception:
            shown = re.sub(r":[^:/@]*@", ":***@", value)
            raise ValueError(f"url: value {shown!r}: not a database URL ({expected})") from None
        shown = url.render_as_string(hide_password=True)
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"url: value {shown!r}: database '{backend}' is not supported ({expected})")
        driver = url.get_driver_name()
        try:
            dialect = url.get_dialect()
            dialect.import_dbapi()
        except Exception as exc:
            raise ValueError(f"url: value {shown!r}: driver '{driver}': {exc}") from None
        if dialect.is_async:
            raise ValueError(f"url: value {shown!r}: driver '{driver}' is asynchronous ({expected})")
        return value


class ProvinceSettings(Section):
    name: str = "Hải Phòng"
    # The national portal: provincial portal interfaces closed on 01/7/2025 (Công văn 623/TTg-KSTT).
    portal_url: str = "https://dichvucong.gov.vn"
    # The province's one-stop desk: it signs messages about no particular agency (answers to feedback).
    desk_name: str = "Trung tâm Phục vụ hành chính công thành phố Hải Phòng"


class CalendarSettings(Section):
    # The government's yearly swaps (config.toml tells the yearly step); 2026: Công văn 12729/VPCP-KGVX.
    extra_days_off: list[date] = Field(default_factory=lambda: [date(2026, 1, 2)])
    extra_working_days: list[date] = Field(default_factory=lambda: [date(2026, 1, 10), date(2026, 8, 22)])
    # 24/11, Ngày Văn hóa Việt Nam: `holidays` marks it off from 2026, but whether the public sector took it
    # off is unconfirmed; counting it as a working day keeps deadlines early (see config.toml).
    culture_day_off: bool = False


class RemindersSettings(Section):
    due_soon_working_days: int = Field(2, ge=0)
    escalation_working_days: int = Field(2, ge=1)
    payment_reminder_working_days: int = Field(2, ge=1)


class MessagesSettings(Section):
    """What citizen messages carry, whatever the template says."""

    # Payment links in SMS: carriers and anti-phishing campaigns treat links in SMS as a risk, so by default
    # an SMS template sees no `dossier.payment_link` (chat, e-mail and the web page keep it).
    sms_payment_links: bool = False


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
    # On SIGTERM or Ctrl-C: how long the messages on the wire may take to be answered and recorded before
    # the process ends anyway (their rows then wait for their lease). Under docker stop's 10 s.
    stop_grace_seconds: float = Field(8, ge=0, le=600)
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
    preview_timeout_seconds: float = Field(4.0, gt=0, le=60)

    def limits(self) -> RenderLimits:
        return RenderLimits(
            seconds=self.timeout_seconds,
            max_output=self.max_output_chars,
            max_value=self.max_value_chars,
        )


class RouteRule(Section):
    """A route for some notifications: one kind, one agency (MaDonVi), or both; the most specific wins."""

    audience: str = "citizen"
    kind: str | None = None
    agency: str | None = None
    channels: list[str]

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if value not in ("citizen", "officer", "head"):
            raise ValueError(f"audience: value '{value}': expected citizen, officer or head")
        return value


class RoutingSettings(Section):
    citizen: list[str] = Field(default_factory=lambda: ["file"])
    officer: list[str] = Field(default_factory=lambda: ["file"])
    head: list[str] = Field(default_factory=lambda: ["file"])
    rules: list[RouteRule] = Field(default_factory=list)

    def for_audience(self, audience: str) -> list[str]:
        return list(getattr(self, audience))

    def for_notification(self, audience: str, kind: str, agency: str | None) -> list[str]:
        """The route of one notification: the most specific matching rule (agency and kind, then agency,
        then kind; the first written on a tie), else the audience's route."""
        best: tuple[int, RouteRule] | None = None
        for rule in self.rules:
            if rule.audience != audience or rule.kind not in (None, kind):
                continue
            if rule.agency not in (None, agency):
                continue
            score = 2 * (rule.agency is not None) + (rule.kind is not None)
            if best is None or score > best[0]:
                best = (score, rule)
        return list(best[1].channels) if best is not None else self.for_audience(audience)

    def all_routes(self) -> list[tuple[str, list[str]]]:
        """(where it is set, channels) for every route, to check them at start-up."""
        routes = [(f"routing.{a}", self.for_audience(a)) for a in ("citizen", "officer", "head")]
        routes += [(f"routing.rules[{i}]", r.channels) for i, r in enumerate(self.rules)]
        return routes


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    # Request bodies over these sizes are refused (413) before they are read (notifier.web.body_limit).
    max_body_bytes: int = Field(1_000_000, ge=1024)  # every route but imports and webhooks
    import_max_body_bytes: int = Field(50_000_000, ge=1024)  # POST /api/v1/dossiers, officers, progress
    webhook_max_body_bytes: int = Field(64_000, ge=1024)  # providers' receipts and inbound SMS
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
    # A form left half-way (feedback, an officer's new date) is forgotten after this long; Zalo's steps
    # are kept in the database (chat_states), Telegram's in the FSM storage.
    chat_state_ttl_seconds: int = Field(86400, ge=60)
    # Lookups that fail this many times in the window slow the chat down to one try per slowdown.
    failed_lookup_limit: int = Field(5, ge=1)
    failed_lookup_window_seconds: int = Field(3600, ge=1)
    slowdown_seconds: int = Field(300, ge=1)
    # Lookups of one dossier code failing this many times in the window, from any chats, slow the code
    # down: then it answers only its linked chats, and others get one try per code_slowdown_seconds.
    code_failed_lookup_limit: int = Field(10, ge=1)
    code_failed_lookup_window_seconds: int = Field(86400, ge=1)
    code_slowdown_seconds: int = Field(3600, ge=1)
    # Feedback accepted per chat and per dossier within feedback_window_seconds; more is refused.
    feedback_per_chat: int = Field(5, ge=1)
    feedback_per_dossier: int = Field(10, ge=1)
    feedback_window_seconds: int = Field(86400, ge=1)
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
    # None: Secure unless the API listens on a loopback address ([api] host); true/false force it.
    cookie_secure: bool | None = None
    session_max_age_seconds: int = Field(8 * 3600, ge=60)
    sms_price_vnd: int = Field(800, ge=0)  # price of one SMS segment, for the editor's cost estimate
    # Login tries refused before any password is hashed (notifier.rules.ratelimit.LoginRules): a name
    # from one address gets 5 failures per 15 minutes; these are the wider limits.
    login_failures_per_address: int = Field(30, ge=1)  # any names from one client address, per 15 min
    login_failures_per_name: int = Field(50, ge=1)  # one name from every address, per 15 min
    login_failures_overall: int = Field(300, ge=1)  # every name from every address, per 5 min
    login_concurrency: int = Field(2, ge=1)  # passwords hashed at once by one process; the rest wait
    login_queue: int = Field(20, ge=0)  # tries waiting for a hash beyond which one gets 429 at once
    # The name an authenticator app shows beside an admin's second-factor codes (the otpauth issuer).
    totp_issuer: str = Field("Thông báo Một cửa", min_length=1, max_length=64)
    # How long a right password waits for its second-factor code before the login starts over.
    totp_login_seconds: int = Field(300, ge=30)


class DigestSettings(Section):
    """The daily officer and head digests (notifier.outbox.digests)."""

    enabled: bool = True
    at: time = time(7, 45)  # queued from this time of day on working days (Vietnam time)
    due_soon_working_days: int = Field(3, ge=0)  # list dossiers with at most this many working days left
    send_empty: bool = False  # also send "nothing due" digests


class ApologySettings(Section):
    """Mẫu 04 documents (notifier.workflows.apology)."""

    number_format: str = "{seq:02d}/VBXL"  # fields {seq}, {year}, {agency_code}; per agency and year
    pdf_font: str | None = None  # a serif .ttf with Vietnamese glyphs; unset: Liberation Serif if found
    # The officer's `apology_due` alert goes out this many working days before the appointment.
    prompt_working_days_before: int = Field(1, ge=0)

    @field_validator("number_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        return check_number_format(value)


class RetentionSettings(Section):
    """Personal data kept in finished notifications (notifier.outbox.retention; see [privacy] for the law)."""

    # Text and address of sent, delivered, undelivered and failed notifications are erased this many days
    # after their last change; kind, channel, status, segments and times stay for the reports. SMS received
    # and applied Zalo OA webhook events lose sender, text and body as long after they came or were applied.
    days: int = Field(default=90, ge=1)


class ProcessingEntry(Section):
    """One line of the processing record: which personal data, why, for how long, on what basis."""

    data: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    retention: str = Field(min_length=1)
    basis: str = Field(min_length=1)


class ReportSettings(Section):
    """The publishable form of the Decision 766 report (notifier.workflows.reports, HTML): Decree 30/2020
    layout, every name from here so a reorganisation is a config change."""

    parent_body: str = "UBND THÀNH PHỐ HẢI PHÒNG"
    issuing_body: str = "VĂN PHÒNG UBND THÀNH PHỐ"
    # "Số: …" left blank for the clerk to fill in at registration, then the symbol: "Số:     /BC-VP".
    number_symbol: str = "/BC-VP"
    place: str = "Hải Phòng"
    recipients: list[str] = Field(
        default_factory=lambda: ["Chủ tịch UBND thành phố (để báo cáo)", "Các sở, ban, ngành", "Lưu: VT."]
    )
    signer_title: str = "KT. CHÁNH VĂN PHÒNG\nPHÓ CHÁNH VĂN PHÒNG"
    signer_name: str = ""


class SpendSettings(Section):
    """Monthly SMS (and other paid channel) budgets per agency (notifier.outbox.spend): in đồng, per
    calendar month in Vietnam time, per channel; 0 or absent is no cap."""

    # Every agency's monthly budget per channel name, e.g. {sms_esms = 5000000}.
    budgets: dict[str, NonNegativeInt] = Field(default_factory=dict)
    # Per agency (MaDonVi) and channel: replaces the default for that agency (0: no cap for it).
    agencies: dict[str, dict[str, NonNegativeInt]] = Field(default_factory=dict)
    # The agency's head and the admins are warned once when this share of a budget is spent, and once
    # when all of it is.
    warn_percent: int = Field(80, ge=1, le=99)
    # A spent budget: citizen messages take the next channel of their route ("fallback", and wait when
    # none is left) or stay queued ("wait"). Officer and head messages are never held.
    on_cap: OnCap = OnCap.FALLBACK
    # A waiting message is looked at again after this long (a raised budget is seen then) and at the
    # start of the next month, whichever comes first.
    wait_recheck_seconds: int = Field(900, ge=1)

    def budget_for(self, agency_code: str | None, channel: str) -> int:
        """The monthly cap of one agency on one channel in đồng; 0 when there is none."""
        own = self.agencies.get(agency_code or "", {})
        if channel in own:
            return own[channel]
        return self.budgets.get(channel, 0)

    @property
    def enabled(self) -> bool:
        return any(self.budgets.values()) or any(any(t.values()) for t in self.agencies.values())


PROCESSING_RECORD = Path(__file__).parent / "templates" / "privacy" / "processing_record.toml"


def shipped_processing_record() -> list[ProcessingEntry]:
    """The processing record shipped with notifier (a data file, so the texts stay out of the code)."""
    with PROCESSING_RECORD.open("rb") as f:
        return [ProcessingEntry(**entry) for entry in tomllib.load(f)["processing"]]


class PrivacySettings(Section):
    """Data-subject requests and the processing record (notifier.workflows.privacy)."""

    # The law and its decree, as printed in texts and the processing record: a reform is a config change.
    law: str = "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15"
    decree: str = "Nghị định số 356/2025/NĐ-CP"
    controller: str = "Ủy ban nhân dân thành phố Hải Phòng"
    # Working days to answer a request (DOMAIN.md: 2 for access per Decree 356, medium confidence).
    answer_working_days: int = Field(2, ge=1)
    # What a citizen consents to when linking a chat or subscribing, as recorded in consent_records.
    consent_purpose: str = "Nhận thông báo về tình trạng hồ sơ thủ tục hành chính"
    processing: list[ProcessingEntry] = Field(default_factory=lambda: shipped_processing_record())


class PublicSettings(Section):
    """The public dossier page (/tra-cuu) and the QR codes that open it."""

    enabled: bool = True
    # The address citizens reach the page at: printed on slips and encoded in QR codes.
    base_url: str = "http://127.0.0.1:8080"
    # HMAC key of the links in QR codes (notifier.rules.public_token). Unset: a key is made once and kept in
    # link_key_file, so printed codes keep working after a restart.
    link_secret_env: str = "NOTIFIER_PUBLIC_LINK_SECRET"
    link_key_file: str = "var/public_link.key"
    # A link stops opening the dossier this many days after the dossier is closed.
    link_days_after_close: int = Field(90, ge=0)
    # A look-up or a QR link lets that browser see the one dossier for this long (a signed cookie).
    pass_minutes: int = Field(30, ge=1, le=24 * 60)
    # The Zalo OA's address (https://zalo.me/<OA id>) the page's "follow on Zalo" opens, with a one-time
    # code to send to it ("LK <code>"); empty: the page offers no Zalo.
    zalo_url: str = ""
    # What a citizen agrees to when sending feedback or a data-subject request from the page (kept in
    # consent_records with the dossier's phone, else its e-mail).
    feedback_consent_purpose: str = "Xử lý và trả lời phản ánh, kiến nghị về hồ sơ"
    privacy_consent_purpose: str = "Xử lý yêu cầu của chủ thể dữ liệu cá nhân về hồ sơ"

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"base_url: value {value!r} is not an http(s) address")
        return value.rstrip("/")


class Settings(BaseSettings):
    # extra="forbid": an unknown table or top-level key is refused like an unknown key in a table.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid")
    toml_path: ClassVar[Path | None] = None

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    province: ProvinceSettings = Field(default_factory=ProvinceSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    reminders: RemindersSettings = Field(default_factory=RemindersSettings)
    messages: MessagesSettings = Field(default_factory=MessagesSettings)
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
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    public: PublicSettings = Field(default_factory=PublicSettings)
    spend: SpendSettings = Field(default_factory=SpendSettings)

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
        return _config_file(Path(explicit), "config")
    env = os.environ.get("NOTIFIER_CONFIG")
    if env:
        return _config_file(Path(env), "NOTIFIER_CONFIG")
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _config_file(path: Path, given_as: str) -> Path:
    if path.is_dir():
        raise FileNotFoundError(f"{given_as}: '{path}' is a directory, not a config file")
    if not path.is_file():
        raise FileNotFoundError(f"{given_as}: file '{path}' does not exist")
    return path


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """The settings from the config file, the environment and `overrides` (highest first).

    Raises ConfigError naming every problem at once: the file and `[table] key`, the environment variable,
    or the override; the value and what is wrong with it (for an unknown key, the nearest known one)."""
    resolved = config_path(path)
    file_data: dict[str, Any] = {}
    if resolved is not None:
        try:
            raw = resolved.read_bytes()
        except OSError as exc:  # no permission, a directory
            raise ConfigError([f"{resolved}: cannot read it: {exc.strerror or exc}"]) from None
        if raw.startswith(b"\xef\xbb\xbf"):
            # TOML has no byte-order mark, and the file is read again (as TOML) for the settings.
            raise ConfigError([f"{resolved}: starts with a byte-order mark: save it as UTF-8 without BOM"])
        try:
            file_data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                [f"{resolved}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}, line {line}): save it as UTF-8"]
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{resolved}: not valid TOML: {exc}"]) from None
    origin = _Origin(resolved, file_data, overrides)
    problems = unknown_environment(os.environ)
    try:
        settings: Settings = _file_settings(resolved)(**overrides)
    except ValidationError as exc:
        problems += [origin.describe(error) for error in exc.errors()]
    if problems:
        raise ConfigError(problems)
    return settings


@functools.lru_cache(maxsize=32)
def _file_settings(path: Path | None) -> type[Settings]:
    """A subclass of Settings that carries the file's path into settings_customise_sources without global
    state. Made once per path: building a pydantic model class costs more than reading the settings."""
    return type("FileSettings", (Settings,), {"toml_path": path})


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
