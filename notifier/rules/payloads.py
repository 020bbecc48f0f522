"""What a notification carries beyond its dossier, as typed models stored as JSON in `notifications.payload`.

- feedback kinds: the feedback (and the agency, and the chat that asked, for an answer);
- digests: the day and the end of the window the scan chose (written in SQL by the digest scan);
- step_overdue: the step (written in SQL by the step scan);
- spend_warning: the agency, channel, month and figures, and the admin to reach (outbox.spend);
- a test send from the admin page: whom to reach and whose template to use (any kind).

One parser for all of them, so a payload is read in one place and a malformed one fails with its kind.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from notifier.rules.kinds import Kind, kind_info


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=False)


class FeedbackFacts(_Payload):
    id: int
    text: str = ""
    created_at: datetime | None = None
    deadline_at: datetime | None = None
    answer: str | None = None
    answered_at: datetime | None = None


class AgencyFacts(_Payload):
    code: str = ""
    name: str
    phone: str | None = None
    address: str | None = None
    level: str = "province"
    parent_name: str | None = None
    short_name: str | None = None
    seat: str | None = None
    desk_name: str | None = None


class FeedbackPayload(_Payload):
    feedback: FeedbackFacts
    agency: AgencyFacts | None = None  # set on an answer: the feedback may be about no dossier
    chat_id: str | None = None  # set on an answer: the chat the feedback came from


class DigestPayload(_Payload):
    day: date
    until: datetime


class StepPayload(_Payload):
    step_id: int


class Addressee(_Payload):
    """Someone reached by address rather than as an officer (an admin warned of an agency's spend)."""

    name: str
    phone: str | None = None
    telegram_chat_id: str | None = None
    email: str | None = None


class SpendPayload(_Payload):
    """A spend warning: whose budget, which channel and month, how far; `to` an admin (None: the row's
    officer, a head of the agency)."""

    agency: AgencyFacts
    channel: str
    month: str  # YYYY-MM
    level: str  # rules.spend.SpendLevel
    spent_vnd: int
    budget_vnd: int
    warn_percent: int
    on_cap: str  # rules.spend.OnCap
    to: Addressee | None = None


class TestTarget(_Payload):
    by: str
    agency_id: int | None = None
    phone: str | None = None
    telegram_chat_id: str | None = None
    email: str | None = None


class TestText(_Payload):
    """The text on the editor's screen, saved or not, for one channel type (rules.clerk.Syntax names
    `syntax`); other channel types of the route use their saved template."""

    channel_type: str
    body: str
    subject: str | None = None
    syntax: str = "jinja"


class TestPayload(_Payload):
    """An admin's "send a test": the row is about no dossier and reaches the admin, not a citizen."""

    test: TestTarget
    text: TestText | None = None  # None: the saved template (tests queued before the editor sent its text)


Payload = FeedbackPayload | DigestPayload | StepPayload | TestPayload | SpendPayload


class PayloadError(ValueError):
    pass


def parse_payload(kind: str, text: str | None) -> Payload | None:
    """The payload of a notification of `kind`, or None when it has none; PayloadError when malformed."""
    if not text:
        return None
    try:
        if '"test"' in text:
            try:
                return TestPayload.model_validate_json(text)
            except ValidationError:
                pass  # a feedback text may contain the word; fall through to the kind's own model
        info = kind_info(kind)
        if info.feedback:
            return FeedbackPayload.model_validate_json(text)
        if info.digest:
            return DigestPayload.model_validate_json(text)
        if info.kind is Kind.STEP_OVERDUE:
            return StepPayload.model_validate_json(text)
        if info.kind is Kind.SPEND_WARNING:
            return SpendPayload.model_validate_json(text)
    except ValidationError as exc:
        raise PayloadError(f"notification payload of kind {kind}: {exc.errors()[0]['msg']}") from exc
    return None


def test_target(kind: str, text: str | None) -> TestTarget | None:
    """The admin to reach when the row is a test send, else None (never raises: a test is a test)."""
    try:
        payload = parse_payload(kind, text)
    except (PayloadError, ValueError):
        return None
    return payload.test if isinstance(payload, TestPayload) else None
