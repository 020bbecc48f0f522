"""The notification kinds: who each is for, and what it is (a digest, an alert with actions, feedback).

One registry, so "which kinds are digests" or "who receives an escalation" is answered in one place; the
scans, the dispatcher, the templates, the admin page and the reports all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from notifier.rules.statuses import Status


class Audience(StrEnum):
    CITIZEN = "citizen"
    OFFICER = "officer"
    HEAD = "head"

    @property
    def is_staff(self) -> bool:
        """Officers and heads: paged in working hours only, and never a citizen's personal data."""
        return self is not Audience.CITIZEN


class Kind(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    PAYMENT_REQUESTED = "payment_requested"
    PAYMENT_REMINDER = "payment_reminder"
    OVERDUE_APOLOGY = "overdue_apology"
    OVERDUE_NOTICE = "overdue_notice"
    NEW_APPOINTMENT = "new_appointment"
    RESULT_READY = "result_ready"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    STOPPED = "stopped"
    DUE_SOON = "due_soon"
    APOLOGY_DUE = "apology_due"
    OVERDUE_ALERT = "overdue_alert"
    ESCALATION = "escalation"
    OFFICER_DIGEST = "officer_digest"
    HEAD_DIGEST = "head_digest"
    STEP_OVERDUE = "step_overdue"
    FEEDBACK_RECEIVED = "feedback_received"
    FEEDBACK_ANSWER = "feedback_answer"
    SPEND_WARNING = "spend_warning"


class Lane(IntEnum):
    """The dispatcher claims due rows lane by lane, lowest first (`notifications.priority`), so a large
    digest run never delays a citizen's status notice."""

    TRANSACTIONAL = 0  # a citizen's notices: status changes, payment, apology, answers
    ALERT = 1  # officers' and heads' alerts about one dossier
    BULK = 2  # daily digests


@dataclass(frozen=True)
class KindInfo:
    kind: Kind
    audience: Audience
    label: str  # the Vietnamese name the admin page shows
    digest: bool = False  # a daily list read when rendered, about no single dossier
    actionable: bool = False  # carries the officer's buttons (new date / done)
    feedback: bool = False  # about a citizen's phản ánh, kiến nghị (carried in the payload)
    about_missed_appointment: bool = False  # shows the missed and the new appointment
    overdue: bool = False  # about a dossier past its appointment (the samples show it late)
    # The dossier's status when this kind goes out (the samples show it); with `status_notice`, the status
    # change the status scan announces with this kind.
    dossier_status: Status = Status.PROCESSING
    status_notice: bool = False
    # The SMS segment budget: UCS-2 parts (with diacritics, as a channel with khong_dau = false sends it)
    # that every shipped SMS template of this kind fits on every sample (tests/test_templates.py).
    sms_segments: int = 3

    @property
    def lane(self) -> Lane:
        if self.digest:
            return Lane.BULK
        return Lane.TRANSACTIONAL if self.audience is Audience.CITIZEN else Lane.ALERT


_C, _O, _H = Audience.CITIZEN, Audience.OFFICER, Audience.HEAD


def _notice(kind: Kind, label: str, status: Status, sms_segments: int = 3) -> KindInfo:
    """A citizen notice the status scan queues when a dossier enters `status`."""
    return KindInfo(kind, _C, label, dossier_status=status, status_notice=True, sms_segments=sms_segments)


REGISTRY: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        _notice(Kind.RECEIVED, "Tiếp nhận hồ sơ", Status.ACCEPTED, sms_segments=2),
        _notice(Kind.REJECTED, "Không tiếp nhận hồ sơ", Status.NOT_ACCEPTED, sms_segments=2),
        _notice(Kind.SUPPLEMENT_REQUESTED, "Yêu cầu bổ sung hồ sơ", Status.SUPPLEMENT_REQUESTED),
        _notice(Kind.PAYMENT_REQUESTED, "Yêu cầu thực hiện nghĩa vụ tài chính", Status.PAYMENT_REQUESTED),
        KindInfo(
            Kind.PAYMENT_REMINDER,
            _C,
            "Nhắc thực hiện nghĩa vụ tài chính",
            dossier_status=Status.PAYMENT_REQUESTED,
        ),
        # The agency's Mẫu 04 (apology and proposed extension), sent when the document is issued.
        KindInfo(
            Kind.OVERDUE_APOLOGY,
            _C,
            "Văn bản xin lỗi và đề nghị gia hạn (Mẫu 04)",
            about_missed_appointment=True,
            overdue=True,
        ),
        # The deadline passed with no Mẫu 04: the plain fact, not the legal apology.
        KindInfo(
            Kind.OVERDUE_NOTICE,
            _C,
            "Hồ sơ chưa có kết quả đúng hẹn",
            about_missed_appointment=True,
            overdue=True,
        ),
        KindInfo(
            Kind.NEW_APPOINTMENT,
            _C,
            "Hẹn lại ngày trả kết quả",
            about_missed_appointment=True,
            overdue=True,
            sms_segments=2,
        ),
        _notice(Kind.RESULT_READY, "Đã có kết quả", Status.RESOLVED),
        _notice(Kind.RETURNED, "Đã trả kết quả", Status.RETURNED),
        _notice(Kind.WITHDRAWN, "Rút hồ sơ", Status.WITHDRAWN, sms_segments=2),
        _notice(Kind.STOPPED, "Dừng xử lý", Status.STOPPED, sms_segments=2),
        KindInfo(Kind.DUE_SOON, _O, "Sắp đến hạn (cán bộ)", sms_segments=2),
        # `[apology] prompt_working_days_before` the deadline: issue Mẫu 04 now if the date cannot be kept.
        KindInfo(Kind.APOLOGY_DUE, _O, "Cần lập Mẫu 04 trước hạn (cán bộ)", actionable=True),
        KindInfo(Kind.OVERDUE_ALERT, _O, "Quá hạn (cán bộ)", actionable=True, overdue=True),
        KindInfo(Kind.ESCALATION, _H, "Báo lãnh đạo hồ sơ quá hạn", overdue=True, sms_segments=2),
        KindInfo(Kind.OFFICER_DIGEST, _O, "Tổng hợp hằng ngày (cán bộ)", digest=True),
        KindInfo(Kind.HEAD_DIGEST, _H, "Tổng hợp hằng ngày (lãnh đạo)", digest=True),
        KindInfo(Kind.STEP_OVERDUE, _O, "Bước liên thông quá hạn (cán bộ)"),
        KindInfo(Kind.FEEDBACK_RECEIVED, _O, "Phản ánh, kiến nghị mới (cán bộ)", feedback=True),
        KindInfo(Kind.FEEDBACK_ANSWER, _C, "Trả lời phản ánh, kiến nghị", feedback=True),
        # An agency's monthly budget of a channel is nearly or wholly spent (notifier.outbox.spend): to its
        # heads and the admins, about no dossier (the figures are in the payload).
        KindInfo(Kind.SPEND_WARNING, _H, "Cảnh báo chi phí gửi tin theo ngân sách tháng", sms_segments=2),
    )
}

# In registry order (a scan reports its counts in this order).
DIGEST_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.digest)
ACTIONABLE_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.actionable)
FEEDBACK_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.feedback)
MISSED_APPOINTMENT_KINDS: tuple[Kind, ...] = tuple(
    k for k, i in REGISTRY.items() if i.about_missed_appointment
)
# Which citizen notice a status change triggers (the status scan).
STATUS_KINDS: dict[Status, Kind] = {i.dossier_status: k for k, i in REGISTRY.items() if i.status_notice}


def kind_info(kind: str) -> KindInfo:
    """The registry entry of `kind`; ValueError naming the value and the known kinds otherwise."""
    try:
        return REGISTRY[Kind(kind)]
    except ValueError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(REGISTRY)}") from None


def audience_of(kind: str) -> Audience:
    return kind_info(kind).audience


def lane_of(kind: str) -> Lane:
    return kind_info(kind).lane


# Every kind's lane, for SQL that sets `priority` from a `kind` column (INSERT … SELECT).
LANES: dict[Kind, Lane] = {k: i.lane for k, i in REGISTRY.items()}


def is_kind(value: str) -> bool:
    return value in Kind._value2member_map_
