"""Vietnamese names for the codes the admin page shows; an unknown code is shown as itself."""

from __future__ import annotations

KIND_LABELS: dict[str, str] = {
    "received": "Tiếp nhận hồ sơ",
    "rejected": "Không tiếp nhận hồ sơ",
    "supplement_requested": "Yêu cầu bổ sung hồ sơ",
    "payment_requested": "Yêu cầu nộp phí, lệ phí",
    "payment_reminder": "Nhắc nộp phí, lệ phí",
    "overdue_apology": "Xin lỗi do trễ hẹn",
    "new_appointment": "Hẹn lại ngày trả kết quả",
    "result_ready": "Đã có kết quả",
    "returned": "Đã trả kết quả",
    "withdrawn": "Rút hồ sơ",
    "stopped": "Dừng xử lý",
    "due_soon": "Sắp đến hạn (cán bộ)",
    "overdue_alert": "Quá hạn (cán bộ)",
    "escalation": "Báo lãnh đạo hồ sơ quá hạn",
    "officer_digest": "Tổng hợp hằng ngày (cán bộ)",
    "head_digest": "Tổng hợp hằng ngày (lãnh đạo)",
}

CHANNEL_TYPE_LABELS: dict[str, str] = {"sms": "SMS", "chat": "Tin nhắn chat", "email": "Thư điện tử"}

AUDIENCE_LABELS: dict[str, str] = {"citizen": "Công dân", "officer": "Cán bộ", "head": "Lãnh đạo"}

STATUS_LABELS: dict[str, str] = {
    "queued": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi",
    "delivered": "Đã nhận",
    "undelivered": "Không đến được",
    "failed": "Thất bại",
    "cancelled": "Đã hủy",
}

OUTCOME_LABELS: dict[str, str] = {
    "sent": "Đã gửi",
    "transient": "Lỗi tạm thời",
    "permanent": "Lỗi vĩnh viễn",
    "skipped": "Bỏ qua",
}

MEDIUM_LABELS: dict[str, str] = {
    "sms": "SMS",
    "telegram": "Telegram",
    "zalo": "Zalo",
    "email": "Thư điện tử",
}

ROLE_LABELS: dict[str, str] = {"admin": "Quản trị toàn tỉnh", "agency": "Cán bộ đơn vị"}


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return "—"
    return table.get(code, code)
