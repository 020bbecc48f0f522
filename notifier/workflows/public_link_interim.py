"""A dossier's public link (``{base_url}/tra-cuu/q/<token>``), for the QR codes until the public page's own
``notifier.workflows.public_links.public_url`` lands: the same contract (``notifier.rules.public_token`` and
``[public]``), in one function, so the QR code and slips switch to it by changing one import.

The key: the environment variable ``[public] link_secret_env`` when set, else the file ``[public]
link_key_file``, made once (32 random bytes, hex, mode 0600) so codes already printed keep opening their
dossier after a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import date
from pathlib import Path
from urllib.parse import quote

from notifier.config import Settings
from notifier.rules import public_token


def link_key(settings: Settings) -> bytes:
    """The HMAC key of public links: the environment variable, else the key file (made when missing)."""
    from_env = os.environ.get(settings.public.link_secret_env, "")
    if from_env:
        return from_env.encode("utf-8")
    path = Path(settings.public.link_key_file)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and linked into place: two processes starting together both end
        # up with the one key that won, never a half-written file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process's key won: use that one
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_bytes().strip()
    if not key:
        raise ValueError(f"public.link_key_file: value '{path}': the file is empty")
    return key


def public_url(settings: Settings, code: str, issued: date) -> str:
    """The address a dossier's QR code opens: ``{base_url}/tra-cuu/q/<token>``, the token issued on
    ``issued`` (the day the code is printed)."""
    token = public_token.sign(link_key(settings), code, issued)
    # "~" separates the token's parts and is unreserved in URLs: kept as it is, the rest percent-encoded.
    return f"{settings.public.base_url}/tra-cuu/q/{quote(token, safe='~')}"
