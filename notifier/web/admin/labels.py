"""Vietnamese names for the codes the admin page shows; an unknown code is shown as itself."""

from __future__ import annotations

from notifier.rules.kinds import REGISTRY, Audience
from notifier.rules.outbox_status import AttemptOutcome, NotificationStatus

# The label lives in the kind registry, beside the kind's audience and flags.
KIND_LABELS: dict[str, str] = {str(kind): info.label for kind, info in REGISTRY.items()}

CHANNEL_TYPE_LABELS: dict[str, str] = {"sms": "SMS", "chat": "Tin nhắn chat", "email": "Thư điện tử"}

AUDIENCE_LABELS: dict[str, str] = {
    Audience.CITIZEN: "Công dân",
    Audience.OFFICER: "Cán bộ",
    Audience.HEAD: "Lãnh đạo",
}

STATUS_LABELS: dict[str, str] = {
    NotificationStatus.QUEUED: "Chờ gửi",
    NotificationStatus.SENDING: "Đang gửi",
    NotificationStatus.SENT: "Đã gửi",
    NotificationStatus.DELIVERED: "Đã nhận",
    NotificationStatus.UNDELIVERED: "Không đến được",
    NotificationStatus.FAILED: "Thất bại",
    NotificationStatus.UNREACHABLE: "Không có địa chỉ nhận",
    NotificationStatus.CANCELLED: "Đã hủy",
    NotificationStatus.UNKNOWN: "Cần kiểm tra",
}

OUTCOME_LABELS: dict[str, str] = {
    AttemptOutcome.SENT: "Đã gửi",
    AttemptOutcome.TRANSIENT: "Lỗi tạm thời",
    AttemptOutcome.PERMANENT: "Lỗi vĩnh viễn",
    AttemptOutcome.SKIPPED: "Bỏ qua",
}

MEDIUM_LABELS: dict[str, str] = {
    "sms": "SMS",
    "telegram": "Telegram",
    "zalo": "Zalo",
    "zalo_oa": "Zalo OA",
    "email": "Thư điện tử",
}

ROLE_LABELS: dict[str, str] = {"admin": "Quản trị toàn tỉnh", "agency": "Cán bộ đơn vị"}


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return "—"
    return table.get(code, code)
