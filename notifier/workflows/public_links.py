"""A dossier's public link (the QR code on its receipt): the key that signs it, its address, opening it,
and revoking it.

The key comes from the environment variable `[public] link_secret_env`; unset, from `[public]
link_key_file`, made once (32 random bytes, mode 0600) by whichever process needs it first: it is written
to a temporary file and hard-linked into place, so two processes starting together agree on one key and a
half-written key is never read.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from datetime import date
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.config import Settings
from notifier.rules import public_token
from notifier.rules.public_page import closed_at, link_opens
from notifier.store.audit import record as audit
from notifier.store.models import Dossier, PublicLinkRevocation
from notifier.workflows.errors import NotFound
from notifier.workflows.service import Service

log = logging.getLogger(__name__)

KEY_BYTES = 32
_lock = threading.Lock()
_file_keys: dict[Path, bytes] = {}
# The same keys by the setting as written and the working directory it is relative to: every page request
# asks for the key (form tokens, passes), and resolving the path is a few stat calls each time.
_keys_by_setting: dict[tuple[str, str], bytes] = {}


def _key_path(settings: Settings) -> Path:
    return Path(settings.public.link_key_file).expanduser().resolve()


def _read_key(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data if len(data) >= KEY_BYTES else None


def link_key(settings: Settings) -> bytes:
    """The HMAC key of public links: the environment variable's value, else the key file's (made once)."""
    secret = os.environ.get(settings.public.link_secret_env, "")
    if secret:
        return secret.encode("utf-8")
    setting = (settings.public.link_key_file, os.getcwd())
    known = _keys_by_setting.get(setting)
    if known is not None:
        return known
    path = _key_path(settings)
    with _lock:
        cached = _file_keys.get(path)
        if cached is not None:
            _keys_by_setting[setting] = cached
            return cached
        key = _read_key(path)
        if key is None:
            key = _create_key(path)
            log.warning(
                "%s is not set: public links are signed with the key in %s",
                settings.public.link_secret_env,
                path,
            )
        _file_keys[path] = key
        _keys_by_setting[setting] = key
        return key


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if another process put its key there first: then theirs is the key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    key = _read_key(path)
    if key is None:
        raise RuntimeError(f"public link key file {path} is shorter than {KEY_BYTES} bytes")
    return key


def public_url(settings: Settings, code: str, issued: date) -> str:
    """The address a receipt's QR code opens: `{base_url}/tra-cuu/q/{token}` (the code percent-encoded)."""
    token = public_token.sign(link_key(settings), code, issued)
    return f"{settings.public.base_url}/tra-cuu/q/{quote(token, safe='~')}"


def lookup_url(settings: Settings) -> str:
    """The look-up page's address, printed under the QR code for those who type the code."""
    return f"{settings.public.base_url}/tra-cuu"


def revoked_at(session: Session, dossier_id: int) -> PublicLinkRevocation | None:
    return session.get(PublicLinkRevocation, dossier_id)


def open_token(service: Service, token: str) -> str | None:
    """The dossier code a QR token opens now, or None (forged, unknown dossier, closed too long ago, or
    revoked after the token was issued): every refusal is the same None."""
    settings = service.settings
    found = public_token.verify(link_key(settings), token)
    if found is None:
        return None
    with service.factory() as session:
        row = session.execute(
            select(
                Dossier.id, Dossier.code, Dossier.status, Dossier.returned_at, Dossier.status_changed_at
            ).where(Dossier.code == found.code)
        ).first()
        if row is None:
            return None
        dossier_id, code, status, returned, changed = row
        revoked = revoked_at(session, dossier_id)
    ok = link_opens(
        found.issued,
        closed_at(status, returned, changed),
        revoked.revoked_at if revoked is not None else None,
        service.clock.now(),
        settings.public.link_days_after_close,
    )
    return str(code) if ok else None


def revoke(service: Service, code: str, by: str) -> PublicLinkRevocation:
    """Links to dossier `code` issued up to today stop opening it (`notifier public revoke`, the admin's
    button); a receipt printed from tomorrow on carries a working link again."""
    now = service.clock.now()
    with service.factory() as session, session.begin():
        dossier_id = session.scalar(select(Dossier.id).where(Dossier.code == code))
        if dossier_id is None:
            raise NotFound("MaHoSo", code, "no dossier with this code", refusal="unknown_dossier")
        row = session.get(PublicLinkRevocation, dossier_id)
        if row is None:
            row = PublicLinkRevocation(dossier_id=dossier_id, revoked_at=now, revoked_by=by[:128])
            session.add(row)
        else:
            row.revoked_at, row.revoked_by = now, by[:128]
        audit(session, now, actor=by, action="public.revoke_links", target=code)
        session.flush()
        session.expunge(row)
        return row
