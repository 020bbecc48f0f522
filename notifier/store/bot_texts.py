"""The chatbot's replies: Jinja2 sources in notifier/templates/bot/, seeded into the `templates` table
(channel type "bot") so admins edit them like the notification templates, rendered in the same sandbox.

Every text has sample contexts; a source is valid when it renders with all of them. An admin's edit that
breaks at run time falls back to the shipped file rather than silencing the bot.

Languages: the shipped texts mark their sentences `{{ _("…") }}` (the Vietnamese text is the msgid of the
`chat` catalog, notifier/locales), so one source serves a Vietnamese and an English chat. An admin's edit
is Vietnamese: Vietnamese chats see it; English chats keep the shipped text in English, since the catalog
has no translation of wording it has never seen (an edit that keeps the `_("…")` of shipped sentences
still reads translated there if rendered, but the rule stays simple: edits are for Vietnamese chats).
The versions the database was seeded with (author "system") are copies of the files of their day, not
edits: the files win over them, so a corrected shipped text reaches deployments seeded before it.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from notifier.rules.clock import VN_TZ
from notifier.rules.i18n import DEFAULT_LANGUAGE, LANGUAGES
from notifier.rules.lookup import CitizenView
from notifier.rules.rendering import TEMPLATES_DIR, TemplateError, TemplateFile, render
from notifier.store.models import Template
from notifier.store.templates import SYSTEM, NewVersion, store_version

log = logging.getLogger(__name__)

CHANNEL_TYPE = "bot"
TEXTS_DIR = TEMPLATES_DIR / CHANNEL_TYPE
PLATFORMS = ("Telegram", "Zalo", "SMS")  # as notifier.workflows.conversation names them
_SAMPLE_NOW = datetime(2027, 2, 3, 9, 0, tzinfo=VN_TZ)


def _view(**overrides: Any) -> CitizenView:
    base: dict[str, Any] = {
        "code": "000.00.30.H26-270115-0012",
        "procedure_name": "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
        "phone_masked": "091****678",
        "status": 4,
        "status_name": "Đang xử lý",
        "received_at": datetime(2027, 1, 15, 9, 15, tzinfo=VN_TZ),
        "due_at": datetime(2027, 2, 5, 17, 0, tzinfo=VN_TZ),
        "returned_at": None,
        "working_days_left": 2,
        "working_days_overdue": None,
        "payment_pending": False,
        "fee_amount": None,
        "payment_link": None,
        "supplement_note": None,
        "apology_sent_at": None,
        "new_due_at": None,
    }
    base.update(overrides)
    return CitizenView(**base)


_AGENCY = SimpleNamespace(
    code="000.00.30.H26",
    name="Sở Tư pháp thành phố Hải Phòng",
    phone="0225 3842 666",
    address="Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
    level="province",
    parent_name="UBND THÀNH PHỐ HẢI PHÒNG",
    short_name="So Tu phap HP",
    seat="Hải Phòng",
    desk_name="Trung tâm Phục vụ hành chính công thành phố Hải Phòng",
)
_AGENCY_BARE = SimpleNamespace(
    code="000.00.30.H26",
    name="Sở Tư pháp thành phố Hải Phòng",
    phone=None,
    address=None,
    level="province",
    parent_name=None,
    short_name=None,
    seat=None,
    desk_name=None,
)


def base_samples() -> dict[str, list[dict[str, Any]]]:
    """Every text's contexts, from the fullest to the sparsest: what a valid source must render."""
    overdue = _view(
        due_at=datetime(2027, 1, 29, 17, 0, tzinfo=VN_TZ),
        working_days_left=None,
        working_days_overdue=3,
        apology_sent_at=datetime(2027, 2, 1, 8, 0, tzinfo=VN_TZ),
        new_due_at=datetime(2027, 2, 10, 17, 0, tzinfo=VN_TZ),
    )
    payment = _view(
        status=6,
        status_name="Yêu cầu thực hiện nghĩa vụ tài chính",
        working_days_left=None,
        payment_pending=True,
        fee_amount=200_000,
        payment_link="https://dichvucong.gov.vn/p/thanh-toan?ma=000.00.30.H26-270115-0012",
    )
    bare = _view(
        phone_masked=None,
        received_at=None,
        due_at=None,
        working_days_left=None,
        status=5,
        status_name="Yêu cầu bổ sung giấy tờ",
        payment_pending=True,
    )
    returned = _view(status=10, status_name="Đã trả kết quả", returned_at=_SAMPLE_NOW, working_days_left=None)
    items = [overdue, payment, returned]
    return {
        "welcome": [
            {"first_name": "Hương", "province": "Hải Phòng"},
            {"first_name": None, "province": "Hải Phòng"},
        ],
        "help": [{}],
        "lookup_prompt": [{}],
        "lookup_need_digits": [{"code": "000.00.30.H26-270115-0012"}],
        "lookup_not_found": [{}],
        "lookup_slowed": [{"minutes": 5, "retry_at": _SAMPLE_NOW + timedelta(minutes=5)}],
        "lookup_result": [
            {"dossier": _view(), "agency": _AGENCY, "subscribable": True},
            {"dossier": overdue, "agency": _AGENCY, "subscribable": False},
            {"dossier": _view(working_days_left=0), "agency": _AGENCY, "subscribable": False},
            {
                "dossier": _view(working_days_left=None, working_days_overdue=0),
                "agency": _AGENCY,
                "subscribable": False,
            },
            {"dossier": payment, "agency": _AGENCY_BARE, "subscribable": True},
            {"dossier": bare, "agency": _AGENCY_BARE, "subscribable": False},
            {"dossier": returned, "agency": _AGENCY_BARE, "subscribable": False},
        ],
        "contact_not_own": [{}],
        "contact_invalid": [{}],
        "contact_linked": [
            {"phone_masked": "091****678", "items": items},
            {"phone_masked": "091****678", "items": []},
        ],
        "my_dossiers": [{"items": items, "opted_out": True}, {"items": [bare], "opted_out": False}],
        "my_dossiers_empty": [{}],
        "stopped": [{}],
        "resumed": [{}],
        "subscribed": [{"code": "000.00.30.H26-270115-0012"}],
        "contact_moved": [{"phone_masked": "091****678"}],
        "link_pending": [{"code": "000.00.30.H26-270115-0012"}],
        # requester: the platform of the chat asking to receive the dossier too (it may differ from ours)
        "link_request": [{"code": "000.00.30.H26-270115-0012", "requester": p} for p in PLATFORMS[:2]],
        "link_confirmed": [{"code": "000.00.30.H26-270115-0012", "requester": p} for p in PLATFORMS[:2]],
        "action_expired": [{}],
        "feedback_choose": [{"has_dossiers": True}, {"has_dossiers": False}],
        "feedback_ask_text": [
            {"code": "000.00.30.H26-270115-0012", "min_length": 10, "max_length": 2000},
            {"code": None, "min_length": 10, "max_length": 2000},
        ],
        "feedback_invalid": [{"min_length": 10, "max_length": 2000}],
        "feedback_sent": [
            {"id": 27, "agency_name": _AGENCY.name, "deadline_at": _SAMPLE_NOW + timedelta(days=14)},
            {"id": 28, "agency_name": None, "deadline_at": _SAMPLE_NOW + timedelta(days=14)},
        ],
        "feedback_cancelled": [{}],
        "feedback_limited": [{"retry_at": _SAMPLE_NOW + timedelta(hours=20)}],
        "privacy_help": [
            {
                "law": "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15",
                "decree": "Nghị định số 356/2025/NĐ-CP",
                "working_days": 2,
            }
        ],
        "privacy_requested": [
            {"id": 3, "kind": kind, "deadline_at": _SAMPLE_NOW + timedelta(days=2)}
            for kind in ("access", "correct", "erase", "withdraw")
        ],
        "privacy_not_linked": [{}],
        "privacy_correct_ask": [{}],
        "error": [{}],
        # Zalo OA (notifier.workflows.zalo_oa)
        "zalo_phone_request": [{}],
        "officer_linked": [{"officer_name": "Trần Thị Bình", "code": "CB01"}],
        "officer_link_refused": [{}],
    }


def samples() -> dict[str, list[dict[str, Any]]]:
    """Every sample once per platform: the conversation core gives each text `platform`, the name of the
    chat app the citizen reads it in ("qua Zalo này"); a text must render for each."""
    return {
        name: [{**context, "platform": platform} for context in contexts for platform in PLATFORMS]
        for name, contexts in base_samples().items()
    }


NAMES: frozenset[str] = frozenset(samples())


def load_text_files(root: Path | None = None) -> list[TemplateFile]:
    """Every `<name>.j2` under templates/bot; an unknown name is an error (it would never be shown)."""
    root = TEXTS_DIR if root is None else root
    found = []
    for path in sorted(root.glob("*.j2")):
        name = path.name.removesuffix(".j2")
        if name not in NAMES:
            raise ValueError(f"{path}: unknown bot text; expected one of {', '.join(sorted(NAMES))}")
        found.append(TemplateFile(name, CHANNEL_TYPE, None, path.read_text(encoding="utf-8")))
    return found


def validate_text(name: str, source: str) -> list[TemplateError]:
    """[] when `source` renders with every sample context of text `name` (in Vietnamese: an admin's edit
    is shown to Vietnamese chats only)."""
    if name not in NAMES:
        raise ValueError(f"unknown bot text {name!r}; expected one of {', '.join(sorted(NAMES))}")
    errors: list[TemplateError] = []
    seen: set[str] = set()
    for i, context in enumerate(samples()[name], start=1):
        try:
            text = render(source, context, field="body", language=DEFAULT_LANGUAGE)
        except TemplateError as exc:
            if str(exc) not in seen:
                seen.add(str(exc))
                errors.append(TemplateError(f"{exc.message} (sample {i})", field="body", line=exc.line))
            continue
        if len(text) > 4096:
            errors.append(TemplateError(f"{len(text)} characters, more than Telegram's 4096 (sample {i})"))
    return errors


def save_text(session: Session, name: str, body: str, author: str, now: datetime) -> Template:
    """Validate and store a new province-wide version of a bot text."""
    errors = validate_text(name, body)
    if errors:
        raise errors[0]
    return store_version(session, NewVersion(name, CHANNEL_TYPE, None, None, body), author, now)


class BotTexts:
    """The newest stored version of every text, re-read at most every `ttl` seconds."""

    def __init__(self, factory: sessionmaker[Session] | None = None, ttl: float = 30.0) -> None:
        self._factory = factory
        self._ttl = ttl
        self._files = {f.kind: f.body for f in load_text_files()}
        self._stored: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        if self._factory is None:
            return
        newest = (
            select(Template.kind, func.max(Template.version).label("v"))
            .where(Template.channel_type == CHANNEL_TYPE, Template.agency_id.is_(None))
            .group_by(Template.kind)
            .subquery()
        )
        with self._factory() as session:
            rows = session.execute(
                select(Template.kind, Template.body, Template.author)
                .join(newest, (Template.kind == newest.c.kind) & (Template.version == newest.c.v))
                .where(Template.channel_type == CHANNEL_TYPE, Template.agency_id.is_(None))
            ).all()
        with self._lock:
            self._stored = {kind: body for kind, body, author in rows if author != SYSTEM}
            self._loaded_at = _time.monotonic()

    def stale(self) -> bool:
        return self._factory is not None and (
            self._loaded_at is None or _time.monotonic() - self._loaded_at >= self._ttl
        )

    def render(self, name: str, *, language: str = DEFAULT_LANGUAGE, **context: Any) -> str:
        """Text `name` in `language` ("vi", "en"); an admin's edit only in Vietnamese (see the module)."""
        if name not in NAMES:
            raise KeyError(f"unknown bot text {name!r}")
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        edited = self._stored.get(name) if language == DEFAULT_LANGUAGE else None
        source = edited or self._files[name]
        try:
            return render(source, context, field=name, language=language)
        except (TemplateError, jinja2.TemplateError) as exc:
            if source is self._files[name]:
                raise
            log.error("bot text %s: the stored version fails (%s); using the shipped one", name, exc)
            return render(self._files[name], context, field=name, language=language)
