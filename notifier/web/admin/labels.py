"""Vietnamese names for the codes the admin page shows; an unknown code is shown as itself."""

from __future__ import annotations

import re
from collections.abc import Callable

from notifier.rules.kinds import REGISTRY, Audience
from notifier.rules.logmask import mask_contacts
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

# A channel by the plugin it runs (`[channels.NAME]`, `plugin` defaulting to NAME): an instance of
# another name is shown as its name.
CHANNEL_LABELS: dict[str, str] = {
    "file": "Ghi ra tệp (thử nghiệm)",
    "console": "In ra màn hình (thử nghiệm)",
    "sms_twilio": "SMS (Twilio)",
    "sms_esms": "SMS (eSMS)",
    "telegram": "Telegram",
    "zalo_zns": "Zalo ZNS",
    "zalo_oa": "Zalo OA",
    "email": "Thư điện tử",
}

# What an admin did, as the delivery log's history shows it (`audit_log.action`).
AUDIT_LABELS: dict[str, str] = {
    "notification.retry": "Gửi lại",
    "template.test": "Gửi thử mẫu tin",
    "user.create": "Tạo tài khoản",
    "user.lock": "Khóa tài khoản",
    "user.unlock": "Mở khóa tài khoản",
    "user.password": "Đổi mật khẩu",
    "user.password_reset": "Đặt lại mật khẩu",
    "user.totp_enable": "Bật xác thực hai lớp",
    "user.totp_disable": "Tắt xác thực hai lớp",
}

# The delivery log's CSV columns: the key (`?headers=keys`, for scripts) and the Vietnamese header.
LOG_CSV_HEADERS: dict[str, str] = {
    "id": "Số",
    "created_at": "Tạo lúc",
    "dossier_code": "Mã hồ sơ",
    "kind": "Loại tin",
    "audience": "Người nhận",
    "channel": "Kênh",
    "recipient": "Địa chỉ nhận",
    "status": "Trạng thái",
    "attempts": "Số lần gửi",
    "segments": "Số tin SMS",
    "sent_at": "Đã gửi lúc",
    "error": "Lỗi",
}


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return "—"
    return table.get(code, code)


# The dispatcher's reasons (`notifications.error`, `delivery_attempts.error`) are written for logs, in
# English; the page says them in Vietnamese. A provider's own words (after the channel's name) stay as the
# provider wrote them: they are what its support desk answers to.
_RECIPIENTS = {"citizen": "công dân", "officer": "cán bộ", "head": "lãnh đạo"}
_ERROR_TEXTS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^no usable channel: "), "Không có kênh gửi được: "),
    (re.compile(r"route is empty"), "chưa cấu hình kênh gửi cho người nhận này"),
    (
        re.compile(r"no address for (citizen|officer|head)\b"),
        lambda m: f"không có địa chỉ nhận của {_RECIPIENTS[m.group(1)]}",
    ),
    (re.compile(r"(\S+) opted out of (\w+)"), lambda m: f"{m.group(1)} đã từ chối nhận tin qua {m.group(2)}"),
    (
        re.compile(r"no template data for (\w+)"),
        lambda m: f"chưa có mẫu của kênh cho loại tin “{label(KIND_LABELS, m.group(1))}”",
    ),
    (re.compile(r": disabled\b"), ": kênh đang tắt"),
    (re.compile(r"^gave up after (\d+) attempts: "), r"Đã dừng sau \1 lần gửi: "),
    (re.compile(r"^gave up after (\d+) tries: "), r"Đã dừng sau \1 lần thử: "),
    (
        re.compile(r"^gave up: the worker holding this row stopped (\d+) times \(last error: (.*)\)$", re.S),
        r"Đã dừng: tiến trình gửi bị dừng giữa chừng \1 lần (lỗi cuối: \2)",
    ),
    (
        re.compile(r"^reclaimed after the lease of a stopped worker expired$"),
        "Tiến trình gửi bị dừng giữa chừng; tin đã được đưa lại vào hàng đợi",
    ),
    (
        re.compile(r"^handed to (.+?) but the worker stopped before the answer;.*$", re.S),
        r"Đã chuyển cho \1 nhưng tiến trình gửi dừng trước khi có phản hồi; nhà cung cấp này không phân biệt "
        r"được tin gửi lặp nên chưa gửi lại: hãy hỏi người nhận, rồi gửi lại hoặc để nguyên",
    ),
    (re.compile(r"\bnone\)$"), "không có)"),
)


def error_text(raw: str | None) -> str:
    """A delivery error as the admin page shows it (see _ERROR_TEXTS); empty for none."""
    if not raw:
        return ""
    text = raw
    for pattern, replacement in _ERROR_TEXTS:
        text = pattern.sub(replacement, text)
    # A delivery error names the address that opted out; a provider's answer may quote the number.
    return mask_contacts(text)
