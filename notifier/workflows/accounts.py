"""Admin page accounts: who may log in, with which role, and where a test message to them goes."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifier.rules.phones import InvalidPhone, normalize_phone
from notifier.rules.ratelimit import ADMIN_LOGIN
from notifier.store import audit
from notifier.store.admin_sessions import open_session
from notifier.store.limits import LoginFailures
from notifier.store.models import Agency, User
from notifier.workflows.service import Service

ROLES = ("admin", "agency")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

# Argon2id with the library's defaults (RFC 9106 "second recommended" profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password. Made by
# the first log-in attempt, whoever it names, not at import: a hash costs 0.2-0.8 s of CPU on this 2-core
# machine, which every process importing this module (`notifier run` at start-up) paid before any log-in.
_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    """A hash made with the current hasher's parameters, so it costs what a real account's check does."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash("not a real password, only spends time"))
    return _dummy[1]


class UserError(ValueError):
    """Bad account data; the message names the field and the value (for the command line and logs), `vi`
    says it to the admin page's reader."""

    def __init__(self, message: str, vi: str | None = None) -> None:
        super().__init__(message)
        self.vi = vi or message


@dataclass(frozen=True)
class NewUser:
    username: str
    role: str
    agency_code: str | None = None
    phone: str | None = None
    telegram_chat_id: str | None = None
    email: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(
            f"password: must have at least {MIN_PASSWORD} characters, got {len(password)}",
            f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự (mới có {len(password)}).",
        )


def create_user(session: Session, new: NewUser, password: str, now: datetime) -> User:
    username = new.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError(
            f"username: value '{new.username}': 2-64 characters, lower-case letters, digits, '.', '_', '-'",
            f"Tên đăng nhập '{new.username}': 2-64 ký tự, chữ thường không dấu, chữ số, '.', '_', '-'.",
        )
    if new.role not in ROLES:
        raise UserError(
            f"role: value '{new.role}': expected one of {', '.join(ROLES)}", f"Vai trò '{new.role}' không có."
        )
    agency_id: int | None = None
    if new.role == "agency":
        if not new.agency_code:
            raise UserError(
                "agency: an agency user needs --agency CODE (MaDonVi)",
                "Tài khoản cán bộ đơn vị cần chọn đơn vị.",
            )
        agency_id = session.scalar(select(Agency.id).where(Agency.code == new.agency_code))
        if agency_id is None:
            raise UserError(
                f"agency: value '{new.agency_code}': no agency with that code",
                f"Không có đơn vị mã '{new.agency_code}'.",
            )
    elif new.agency_code:
        raise UserError(
            f"agency: value '{new.agency_code}': an admin sees every agency, leave it out",
            "Quản trị toàn tỉnh xem mọi đơn vị: để trống ô đơn vị.",
        )
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"username: value '{username}': already exists", f"Tên đăng nhập '{username}' đã có.")
    phone = None
    if new.phone:
        try:
            phone = normalize_phone(new.phone)
        except InvalidPhone as exc:
            raise UserError(
                f"phone: value '{new.phone}': {exc.reason}", f"Số điện thoại '{new.phone}' không hợp lệ."
            ) from exc
    chat = (new.telegram_chat_id or "").strip() or None
    if chat is not None and not chat.lstrip("-").isdigit():
        raise UserError(
            f"telegram_chat_id: value '{chat}': a Telegram chat id is a number",
            f"Mã chat Telegram '{chat}' phải là một số.",
        )
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=new.role,
        agency_id=agency_id,
        phone=phone,
        telegram_chat_id=chat,
        email=(new.email or "").strip() or None,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str, now: datetime) -> User | None:
    """The active user with this name and password, else None (timing does not reveal which was wrong)."""
    dummy = _dummy_hash()  # before the look-up, so its one-time cost does not tell unknown names apart
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user is not None else dummy
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return user


def set_password(session: Session, user: User, password: str) -> None:
    check_password_rules(password)
    user.password_hash = hash_password(password)
    session.flush()


def unlock_login(factory: sessionmaker[Session], username: str, now: datetime, by: str) -> int:
    """Lift the login locks of `username` (its failures from every address no longer count): the way back
    for an admin whom someone keeps locked out. The number of failures cleared; audited."""
    name = username.strip().lower()
    cleared = LoginFailures(factory, ADMIN_LOGIN).unlock(name)
    with factory() as session, session.begin():
        audit.record(session, now, by, "user.unlock", name, cleared=cleared)
    return cleared


# ------------------------------------------------------------------------------------- password changes


def _user_named(session: Session, username: str) -> User:
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise UserError(f"username: value '{name}': no such account", f"Không có tài khoản '{name}'.")
    return user


def change_own_password(service: Service, user_id: int, current: str, new: str, confirm: str) -> str:
    """The logged-in user's new password, after checking the current one. Every session of the account
    ends (`admin_sessions.fingerprint`); the id of a fresh one is returned for the browser that asked."""
    if new != confirm:
        raise UserError(
            "password: the two new passwords differ", "Hai lần nhập mật khẩu mới không giống nhau."
        )
    check_password_rules(new)
    now = service.clock.now()
    with service.factory() as session, session.begin():
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise UserError("user: no such active account", "Tài khoản không còn hoạt động.")
        try:
            _hasher.verify(user.password_hash, current)
        except (VerificationError, InvalidHashError):
            raise UserError(
                "password: the current password is wrong", "Mật khẩu hiện tại không đúng."
            ) from None
        set_password(session, user, new)
        audit.record(session, now, user.username, "user.password", f"user:{user.username}")
        max_age = timedelta(seconds=service.settings.admin.session_max_age_seconds)
        return open_session(session, user, now, max_age)


def reset_password(
    service: Service, username: str, new: str, actor: str, second_factor_off: bool = False
) -> str:
    """An admin (or `notifier user set-password`) gives `username` a new password; every session of it
    ends. `second_factor_off` also turns its TOTP off: the way back for someone who lost the phone.
    The account's name."""
    check_password_rules(new)
    now = service.clock.now()
    with service.factory() as session, session.begin():
        user = _user_named(session, username)
        set_password(session, user, new)
        had_totp = user.totp_enabled_at is not None
        if second_factor_off:
            _totp_off(user)
        audit.record(
            session,
            now,
            actor,
            "user.password_reset",
            f"user:{user.username}",
            second_factor_off=second_factor_off and had_totp,
        )
        return user.username


# -------------------------------------------------------------------------------------- second factor

TOTP_DIGITS = 6
TOTP_PERIOD = 30  # seconds, what every authenticator app assumes


@dataclass(frozen=True)
class TotpEnrolment:
    """Shown once on the admin page: the secret as text and as an otpauth:// URI (the QR code)."""

    secret: str
    uri: str

    @property
    def grouped(self) -> str:
        """The secret in groups of four, as it is typed into an app by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _totp_off(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None


def start_totp(service: Service, user_id: int) -> TotpEnrolment:
    """A new pending secret for an admin (replacing any pending one); it protects nothing until a code
    from the app confirms it (`confirm_totp`)."""
    with service.factory() as session, session.begin():
        user = session.get(User, user_id)
        if user is None or user.role != "admin":
            raise UserError(
                "totp: only admins have a second factor", "Chỉ quản trị viên bật được xác thực hai lớp."
            )
        if user.totp_enabled_at is not None:
            raise UserError("totp: already enabled", "Xác thực hai lớp đã bật.")
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        user.totp_secret = secret
        user.totp_last_step = None
        uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
            name=user.username, issuer_name=service.settings.admin.totp_issuer
        )
        return TotpEnrolment(secret, uri)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (of now, or one either side for a clock that drifts) whose code is `code`."""
    code = "".join(code.split())
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = totp.timecode(now)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):  # every step compared: no timing hint
            found = step
    return found


def accept_code(user: User, code: str, now: datetime) -> bool:
    """True when `code` is the user's current TOTP code and was not used before (no replay); marks it used."""
    if not user.totp_secret:
        return False
    step = _matching_step(user.totp_secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def confirm_totp(service: Service, user_id: int, code: str) -> bool:
    """Turn the pending secret on when `code` comes from it; False (nothing changes) otherwise."""
    now = service.clock.now()
    with service.factory() as session, session.begin():
        user = session.get(User, user_id)
        if user is None or user.totp_secret is None or user.totp_enabled_at is not None:
            return False
        if not accept_code(user, code, now):
            return False
        user.totp_enabled_at = now
        audit.record(session, now, user.username, "user.totp_enable", f"user:{user.username}")
        return True


def second_factor_off(service: Service, user_id: int, actor: str) -> str:
    """An admin turns another account's TOTP off (a lost phone); its sessions stay. The account's name."""
    with service.factory() as session, session.begin():
        user = session.get(User, user_id)
        if user is None:
            raise UserError(f"user: no account {user_id}", f"Không có tài khoản số {user_id}.")
        _totp_off(user)
        audit.record(session, service.clock.now(), actor, "user.totp_disable", f"user:{user.username}")
        return user.username


def new_random_password() -> str:
    """A password for a first account printed once to a terminal: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def log_in_with_code(service: Service, user_id: int, code: str) -> str | None:
    """The second step of an admin's login, after the right password: a new session's id when `code` is
    the account's current, unused TOTP code, else None."""
    now = service.clock.now()
    with service.factory() as session, session.begin():
        user = session.get(User, user_id)
        if (
            user is None
            or not user.active
            or user.totp_enabled_at is None
            or not accept_code(user, code, now)
        ):
            return None
        user.last_login_at = now
        max_age = timedelta(seconds=service.settings.admin.session_max_age_seconds)
        return open_session(session, user, now, max_age)
