"""The notification kinds: who each is for, and what it is (a digest, an alert with actions, feedback).

One registry, so "which kinds are digests" or "who receives an escalation" is answered in one place; the
scans, the dispatcher, the templates, the admin page and the reports all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    NEW_APPOINTMENT = "new_appointment"
    RESULT_READY = "result_ready"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    STOPPED = "stopped"
    DUE_SOON = "due_soon"
    OVERDUE_ALERT = "overdue_alert"
    ESCALATION = "escalation"
    OFFICER_DIGEST = "officer_digest"
    HEAD_DIGEST = "head_digest"
    STEP_OVERDUE = "step_overdue"
    FEEDBACK_RECEIVED = "feedback_received"
    FEEDBACK_ANSWER = "feedback_answer"


@dataclass(frozen=True)
class KindInfo:
    kind: Kind
    audience: Audience
    label: str  # the Vietnamese name the admin page shows
    digest: bool = False  # a daily list read when rendered, about no single dossier
    actionable: bool = False  # carries the officer's buttons (new date / done)
    feedback: bool = False  # about a citizen's phản ánh, kiến nghị (carried in the payload)
    about_missed_appointment: bool = False  # shows the missed and the new appointment


_C, _O, _H = Audience.CITIZEN, Audience.OFFICER, Audience.HEAD

REGISTRY: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(Kind.RECEIVED, _C, "Tiếp nhận hồ sơ"),
        KindInfo(Kind.REJECTED, _C, "Không tiếp nhận hồ sơ"),
        KindInfo(Kind.SUPPLEMENT_REQUESTED, _C, "Yêu cầu bổ sung hồ sơ"),
        KindInfo(Kind.PAYMENT_REQUESTED, _C, "Yêu cầu nộp phí, lệ phí"),
        KindInfo(Kind.PAYMENT_REMINDER, _C, "Nhắc nộp phí, lệ phí"),
        KindInfo(Kind.OVERDUE_APOLOGY, _C, "Xin lỗi do trễ hẹn", about_missed_appointment=True),
        KindInfo(Kind.NEW_APPOINTMENT, _C, "Hẹn lại ngày trả kết quả", about_missed_appointment=True),
        KindInfo(Kind.RESULT_READY, _C, "Đã có kết quả"),
        KindInfo(Kind.RETURNED, _C, "Đã trả kết quả"),
        KindInfo(Kind.WITHDRAWN, _C, "Rút hồ sơ"),
        KindInfo(Kind.STOPPED, _C, "Dừng xử lý"),
        KindInfo(Kind.DUE_SOON, _O, "Sắp đến hạn (cán bộ)"),
        KindInfo(Kind.OVERDUE_ALERT, _O, "Quá hạn (cán bộ)", actionable=True),
        KindInfo(Kind.ESCALATION, _H, "Báo lãnh đạo hồ sơ quá hạn"),
        KindInfo(Kind.OFFICER_DIGEST, _O, "Tổng hợp hằng ngày (cán bộ)", digest=True),
        KindInfo(Kind.HEAD_DIGEST, _H, "Tổng hợp hằng ngày (lãnh đạo)", digest=True),
        KindInfo(Kind.STEP_OVERDUE, _O, "Bước liên thông quá hạn (cán bộ)"),
        KindInfo(Kind.FEEDBACK_RECEIVED, _O, "Phản ánh, kiến nghị mới (cán bộ)", feedback=True),
        KindInfo(Kind.FEEDBACK_ANSWER, _C, "Trả lời phản ánh, kiến nghị", feedback=True),
    )
}

# In registry order (a scan reports its counts in this order).
DIGEST_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.digest)
ACTIONABLE_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.actionable)
FEEDBACK_KINDS: tuple[Kind, ...] = tuple(k for k, i in REGISTRY.items() if i.feedback)
MISSED_APPOINTMENT_KINDS: tuple[Kind, ...] = tuple(
    k for k, i in REGISTRY.items() if i.about_missed_appointment
)


def kind_info(kind: str) -> KindInfo:
    """The registry entry of `kind`; ValueError naming the value and the known kinds otherwise."""
    try:
        return REGISTRY[Kind(kind)]
    except ValueError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(REGISTRY)}") from None


def audience_of(kind: str) -> Audience:
    return kind_info(kind).audience


def is_kind(value: str) -> bool:
    return value in Kind._value2member_map_
