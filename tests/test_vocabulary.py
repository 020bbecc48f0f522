"""The outbox's vocabulary: notification statuses and their moves, attempt outcomes, audiences, the kind
registry and the typed payloads. The expected tables are written out here on purpose, apart from the code:
they are what the database holds and what the admin page shows, so a change must be made twice."""

from __future__ import annotations

import itertools
import typing
from datetime import UTC, date, datetime

import pytest

from notifier.channels.webhook import ReceiptStatus
from notifier.rules import payloads as p  # as a module: pytest would collect its Test* names
from notifier.rules.kinds import (
    ACTIONABLE_KINDS,
    DIGEST_KINDS,
    FEEDBACK_KINDS,
    MISSED_APPOINTMENT_KINDS,
    REGISTRY,
    STATUS_KINDS,
    Audience,
    Kind,
    audience_of,
    is_kind,
    kind_info,
)
from notifier.rules.outbox_status import (
    FINAL_STATUSES,
    MISSED_STATUSES,
    PENDING_STATUSES,
    RANK,
    REACHED_STATUSES,
    SENT_STATUSES,
    TRANSITIONS,
    AttemptOutcome,
    NotificationStatus,
    can_move,
    moves_forward,
)
from notifier.rules.rendering import CHANNEL_TYPES, load_template_files
from notifier.rules.statuses import Status
from notifier.web.admin import labels
from notifier.web.admin.deliveries import STATUSES
from notifier.workflows.deliveries import RETRYABLE

S = NotificationStatus
STATUS_VALUES = [
    "queued", "sending", "sent", "delivered", "undelivered", "failed", "cancelled", "unreachable", "unknown",
]

# ------------------------------------------------------------------------------------ statuses and moves

# Every move the dispatcher and the admin page may make; every other pair is refused.
ALLOWED_MOVES = {
    ("queued", "sending"),  # a worker claims the row
    ("queued", "failed"),  # (no move of ours today; kept open for a row that can never be sent)
    ("queued", "cancelled"),  # the reason for it went away (officer actions)
    ("sending", "queued"),  # a retry, a deferral, an expired lease
    ("sending", "sent"),
    ("sending", "failed"),
    ("sent", "delivered"),
    ("sent", "undelivered"),
    ("sent", "failed"),
    ("sending", "unreachable"),  # no channel of the route has an address for the recipient
    ("failed", "queued"),  # "Gửi lại" on the admin page
    ("sending", "unknown"),  # reclaimed after a hand-off to a provider that cannot tell a repeat
    ("unknown", "queued"),  # "Gửi lại" after the operator checked
    ("unknown", "failed"),
    ("unreachable", "queued"),  # "Gửi lại" once the citizen's contact is known
}


def test_status_values_are_the_stored_ones() -> None:
    assert [s.value for s in NotificationStatus] == STATUS_VALUES
    assert all(isinstance(s, str) and s == s.value for s in NotificationStatus)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(STATUS_VALUES, repeat=2)))
def test_transition_table(current: str, new: str) -> None:
    assert can_move(current, new) is ((current, new) in ALLOWED_MOVES)


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        ("sending", "sent", True),  # a receipt that beat the dispatcher's record
        ("queued", "sent", True),  # an earlier attempt reached the provider after all
        ("sent", "delivered", True),
        ("sent", "undelivered", True),
        ("sent", "failed", True),
        ("delivered", "sent", False),  # callbacks out of order: never backwards
        ("delivered", "undelivered", False),  # the same rank: the first word stands
        ("undelivered", "delivered", False),
        ("failed", "delivered", False),
        ("cancelled", "sent", False),
        ("sent", "sent", False),
        ("sent", "read", False),  # not a status of ours
        ("bogus", "sent", False),
    ],
)
def test_a_receipt_only_moves_forward(current: str, new: str, expected: bool) -> None:
    assert moves_forward(current, new) is expected


def test_unknown_statuses_never_move() -> None:
    assert not can_move("queued", "paused") and not can_move("paused", "queued")


def test_the_table_and_the_ranks_cover_every_status() -> None:
    assert set(TRANSITIONS) == set(NotificationStatus) == set(RANK)


def test_only_retries_move_back_in_rank() -> None:
    backwards = {(a, b) for a, moves in TRANSITIONS.items() for b in moves if RANK[b] <= RANK[a]}
    assert backwards == {
        (S.SENDING, S.QUEUED), (S.FAILED, S.QUEUED), (S.UNKNOWN, S.QUEUED), (S.UNREACHABLE, S.QUEUED)
    }


def test_status_groups() -> None:
    assert SENT_STATUSES == (S.SENT, S.DELIVERED, S.UNDELIVERED)
    assert FINAL_STATUSES == (
        S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.CANCELLED, S.UNKNOWN, S.UNREACHABLE
    )
    assert PENDING_STATUSES == (S.QUEUED, S.SENDING)
    assert set(REACHED_STATUSES) == {S.SENT, S.DELIVERED}
    assert set(MISSED_STATUSES) == {S.UNDELIVERED, S.FAILED, S.UNREACHABLE}
    # Every row is either waiting for a worker or finished, never both.
    assert set(PENDING_STATUSES) | set(FINAL_STATUSES) == set(NotificationStatus)
    assert not set(PENDING_STATUSES) & set(FINAL_STATUSES)
    assert set(SENT_STATUSES) <= set(FINAL_STATUSES)


def test_provider_receipts_speak_our_statuses() -> None:
    for status in typing.get_args(ReceiptStatus):
        assert S(status) in SENT_STATUSES or S(status) is S.FAILED


def test_admin_retry_is_a_move_the_table_allows() -> None:
    assert RETRYABLE and all(can_move(s, S.QUEUED) for s in RETRYABLE)
    # `sending` → `queued` is the dispatcher's move (a lease, a deferral), never an operator's.
    assert set(RETRYABLE) == {S.FAILED, S.UNKNOWN, S.UNREACHABLE}
    assert list(STATUSES) == STATUS_VALUES


def test_attempt_outcomes_are_the_stored_ones() -> None:
    assert [o.value for o in AttemptOutcome] == ["sent", "transient", "permanent", "skipped"]


@pytest.mark.parametrize(
    ("table", "codes"),
    [
        (labels.STATUS_LABELS, list(NotificationStatus)),
        (labels.OUTCOME_LABELS, list(AttemptOutcome)),
        (labels.AUDIENCE_LABELS, list(Audience)),
        (labels.KIND_LABELS, list(Kind)),
    ],
)
def test_every_code_has_a_vietnamese_label(table: dict[str, str], codes: list[str]) -> None:
    assert set(table) == {str(c) for c in codes}
    for code in codes:
        shown = labels.label(table, str(code))
        assert shown != code and any(ord(ch) > 127 for ch in shown), (code, shown)


# -------------------------------------------------------------------------------------------- registry

# kind: (audience, digest, actionable, feedback, missed appointment)
EXPECTED_KINDS: dict[str, tuple[str, bool, bool, bool, bool]] = {
    "received": ("citizen", False, False, False, False),
    "rejected": ("citizen", False, False, False, False),
    "supplement_requested": ("citizen", False, False, False, False),
    "payment_requested": ("citizen", False, False, False, False),
    "payment_reminder": ("citizen", False, False, False, False),
    "overdue_apology": ("citizen", False, False, False, True),
    "overdue_notice": ("citizen", False, False, False, True),
    "new_appointment": ("citizen", False, False, False, True),
    "result_ready": ("citizen", False, False, False, False),
    "returned": ("citizen", False, False, False, False),
    "withdrawn": ("citizen", False, False, False, False),
    "stopped": ("citizen", False, False, False, False),
    "due_soon": ("officer", False, False, False, False),
    "apology_due": ("officer", False, True, False, False),
    "overdue_alert": ("officer", False, True, False, False),
    "escalation": ("head", False, False, False, False),
    "officer_digest": ("officer", True, False, False, False),
    "head_digest": ("head", True, False, False, False),
    "step_overdue": ("officer", False, False, False, False),
    "feedback_received": ("officer", False, False, True, False),
    "feedback_answer": ("citizen", False, False, True, False),
    "spend_warning": ("head", False, False, False, False),
}
TEMPLATE_FILES = {(t.kind, t.channel_type) for t in load_template_files()}


def test_the_registry_holds_every_kind_once() -> None:
    assert [k.value for k in REGISTRY] == list(EXPECTED_KINDS)
    assert all(info.kind is kind for kind, info in REGISTRY.items())


@pytest.mark.parametrize("kind", list(EXPECTED_KINDS))
def test_registry_entry(kind: str) -> None:
    audience, digest, actionable, feedback, missed = EXPECTED_KINDS[kind]
    info = kind_info(kind)
    assert info.audience == audience and audience_of(kind) is info.audience
    assert (info.digest, info.actionable, info.feedback, info.about_missed_appointment) == (
        digest,
        actionable,
        feedback,
        missed,
    )
    assert info.label.strip() and any(ord(ch) > 127 for ch in info.label)  # Vietnamese, with diacritics
    assert labels.label(labels.KIND_LABELS, kind) == info.label
    for channel_type in CHANNEL_TYPES:
        assert (kind, channel_type) in TEMPLATE_FILES, f"no template {channel_type}/{kind}.j2"


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("step_overdue", "Bước liên thông quá hạn (cán bộ)"),
        ("feedback_received", "Phản ánh, kiến nghị mới (cán bộ)"),
        ("feedback_answer", "Trả lời phản ánh, kiến nghị"),
    ],
)
def test_kinds_once_missing_on_the_admin_page_have_labels(kind: str, label: str) -> None:
    assert labels.label(labels.KIND_LABELS, kind) == label


def test_flag_lists_follow_the_registry() -> None:
    assert DIGEST_KINDS == (Kind.OFFICER_DIGEST, Kind.HEAD_DIGEST)
    assert ACTIONABLE_KINDS == (Kind.APOLOGY_DUE, Kind.OVERDUE_ALERT)
    assert FEEDBACK_KINDS == (Kind.FEEDBACK_RECEIVED, Kind.FEEDBACK_ANSWER)
    assert MISSED_APPOINTMENT_KINDS == (Kind.OVERDUE_APOLOGY, Kind.OVERDUE_NOTICE, Kind.NEW_APPOINTMENT)
    overdue = {str(k) for k, i in REGISTRY.items() if i.overdue}
    assert overdue == {"overdue_apology", "overdue_notice", "new_appointment", "overdue_alert", "escalation"}


def test_status_notices() -> None:
    assert {int(s): str(k) for s, k in STATUS_KINDS.items()} == {
        2: "received",
        3: "rejected",
        5: "supplement_requested",
        6: "payment_requested",
        7: "withdrawn",
        8: "stopped",
        9: "result_ready",
        10: "returned",
    }
    notices = [i for i in REGISTRY.values() if i.status_notice]
    assert len(notices) == len(STATUS_KINDS)  # no two notices for one status
    # The status scan writes every notice with the citizen audience.
    assert all(i.audience is Audience.CITIZEN for i in notices)
    # Neither "new" nor "processing" is announced: the officer's work is not news to the citizen.
    assert Status.NEW not in STATUS_KINDS and Status.PROCESSING not in STATUS_KINDS


def test_staff_audiences() -> None:
    assert [a.value for a in Audience if a.is_staff] == ["officer", "head"]


def test_an_unknown_kind_is_named() -> None:
    assert not is_kind("birthday") and is_kind("received")
    with pytest.raises(ValueError, match="unknown kind 'birthday'; expected one of received, "):
        kind_info("birthday")


# -------------------------------------------------------------------------------------------- payloads

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (
            "feedback_received",
            p.FeedbackPayload(feedback=p.FeedbackFacts(id=7, text="Hồ sơ chậm", created_at=AT)),
        ),
        (
            "feedback_answer",
            p.FeedbackPayload(
                feedback=p.FeedbackFacts(id=7, text="Hồ sơ chậm", answer="Đã xử lý", answered_at=AT),
                agency=p.AgencyFacts(code="H26", name="Sở Xây dựng"),
                chat_id="123456",
            ),
        ),
        ("officer_digest", p.DigestPayload(day=date(2026, 12, 1), until=AT)),
        ("step_overdue", p.StepPayload(step_id=42)),
        ("received", p.TestPayload(test=p.TestTarget(by="admin", phone="+84912345678"))),
        ("feedback_answer", p.TestPayload(test=p.TestTarget(by="admin", email="a@example.com"))),
    ],
)
def test_a_payload_reads_back_as_it_was_written(kind: str, payload: object) -> None:
    assert p.parse_payload(kind, payload.dump()) == payload  # type: ignore[attr-defined]


def test_a_feedback_text_mentioning_test_is_still_feedback() -> None:
    payload = p.FeedbackPayload(feedback=p.FeedbackFacts(id=1, text='chữ "test" trong phản ánh'))
    assert p.parse_payload("feedback_received", payload.dump()) == payload
    assert p.test_target("feedback_received", payload.dump()) is None


def test_kinds_without_a_payload_read_none() -> None:
    assert p.parse_payload("received", None) is None
    assert p.parse_payload("received", '{"anything": 1}') is None


def test_a_malformed_payload_names_its_kind() -> None:
    with pytest.raises(p.PayloadError, match="payload of kind step_overdue"):
        p.parse_payload("step_overdue", '{"step": 1}')
