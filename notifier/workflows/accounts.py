"""Admin page accounts: who may log in, with which role, and where a test message to them goes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifier.rules.phones import InvalidPhone, normalize_phone
from notifier.rules.ratelimit import ADMIN_LOGIN
from notifier.store import audit
from notifier.store.limits import LoginFailures
from notifier.store.models import Agency, User

ROLES = ("admin", "agency")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

# Argon2id with the library's defaults (RFC 9106 "second recommended" profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password, only spends time")


class UserError(ValueError):
    """Bad account data; the message names the field and the value."""


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
        raise UserError(f"password: must have at least {MIN_PASSWORD} characters, got {len(password)}")


def create_user(session: Session, new: NewUser, password: str, now: datetime) -> User:
    username = new.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError(
            f"username: value '{new.username}': 2-64 characters, lower-case letters, digits, '.', '_', '-'"
        )
    if new.role not in ROLES:
        raise UserError(f"role: value '{new.role}': expected one of {', '.join(ROLES)}")
    agency_id: int | None = None
    if new.role == "agency":
        if not new.agency_code:
            raise UserError("agency: an agency user needs --agency CODE (MaDonVi)")
        agency_id = session.scalar(select(Agency.id).where(Agency.code == new.agency_code))
        if agency_id is None:
            raise UserError(f"agency: value '{new.agency_code}': no agency with that code")
    elif new.agency_code:
        raise UserError(f"agency: value '{new.agency_code}': an admin sees every agency, leave it out")
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"username: value '{username}': already exists")
    phone = None
    if new.phone:
        try:
            phone = normalize_phone(new.phone)
        except InvalidPhone as exc:
            raise UserError(f"phone: value '{new.phone}': {exc.reason}") from exc
    chat = (new.telegram_chat_id or "").strip() or None
    if chat is not None and not chat.lstrip("-").isdigit():
        raise UserError(f"telegram_chat_id: value '{chat}': a Telegram chat id is a number")
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
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user is not None else _DUMMY_HASH
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
