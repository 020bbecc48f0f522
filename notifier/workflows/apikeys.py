"""API keys as operators manage them (the CLI and the admin page) and as callers present them (the API).

A key is shown once, at creation; with a callback URL the signing secret is shown with it. Each call
charges the key's token bucket in the database (`rate_buckets`, channel `API_BUCKET`), so the limit holds
across every web process, and records the key's last use (at most one write a minute per key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from notifier.rules.ratelimit import Limits, RateLimited
from notifier.store import apikeys
from notifier.store.audit import record
from notifier.store.limits import SharedRateLimits
from notifier.workflows.errors import InvalidInput, NotFound, WrongState
from notifier.workflows.service import Service

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The `rate_buckets.channel` of API keys' buckets; a colon is in no channel's name.
API_BUCKET = "api:key"
LAST_USE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    name: str
    key: str
    test: bool
    callback_url: str | None
    callback_secret: str | None


@dataclass(frozen=True)
class KeyView:
    name: str
    test: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    callback_url: str | None

    @property
    def kind(self) -> str:
        return "test" if self.test else "live"


@dataclass(frozen=True)
class Caller:
    """Who called the API: the key's id and name, and whether it is a test key."""

    id: int
    name: str
    test: bool


class KeyRateLimited(Exception):
    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"API key '{name}': over {API_BUCKET} rate; retry in {retry_after:.1f} s")
        self.retry_after = retry_after


def check_callback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("callback_url", url, "must be an absolute http:// or https:// URL")
    return url


class ApiKeys:
    def __init__(self, service: Service, limits: SharedRateLimits | None = None) -> None:
        self.service = service
        self.limits = limits or SharedRateLimits(service.factory)

    def create(self, name: str, actor: str, *, test: bool = False, callback_url: str | None = None) -> NewKey:
        name = name.strip()
        if not NAME_RE.match(name):
            raise InvalidInput("name", name, "1-128 characters: letters, digits, '.', '_', '-'")
        if callback_url is not None:
            callback_url = check_callback_url(callback_url.strip()) if callback_url.strip() else None
        test_channel = self.service.settings.api.test_channel
        if test and not self.service.channels.configured(test_channel):
            raise InvalidInput("api.test_channel", test_channel, "a test key needs this channel configured")
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            if apikeys.key_named(session, name) is not None:
                raise WrongState("name", name, "an API key with this name exists already")
            key, row = apikeys.issue_key(session, name, now, test=test, callback_url=callback_url)
            record(session, now, actor, "apikey.create", name, test=test, callback_url=callback_url)
            return NewKey(name, key, row.test, row.callback_url, row.callback_secret)

    def list(self) -> list[KeyView]:
        with self.service.factory() as session:
            return [
                KeyView(k.name, k.test, k.created_at, k.last_used_at, k.revoked_at, k.callback_url)
                for k in apikeys.all_keys(session)
            ]

    def revoke(self, name: str, actor: str) -> None:
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            row = apikeys.key_named(session, name)
            if row is None:
                raise NotFound("name", name, "no API key with this name")
            if row.revoked_at is not None:
                raise WrongState("name", name, "already revoked")
            row.revoked_at = now
            record(session, now, actor, "apikey.revoke", name)

    def authenticate(self, presented: str) -> Caller | None:
        """The caller of a valid, unrevoked key, charged one call; None for an unknown or revoked key.
        Raises KeyRateLimited when the key is over its rate (nothing is charged then)."""
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            row = apikeys.verify_key(session, presented)
            if row is None:
                return None
            caller = Caller(row.id, row.name, row.test)
        settings = self.service.settings.api
        limits = Limits(
            per_recipient_per_second=settings.key_rate_per_second,
            per_recipient_burst=settings.key_burst,
            max_wait_seconds=0.0,  # a wait would hold a web worker: over the rate is refused at once
        )
        [slot] = self.limits.reserve_many(API_BUCKET, limits, [caller.name])
        if isinstance(slot, RateLimited):
            raise KeyRateLimited(caller.name, slot.delay)
        with self.service.factory() as session, session.begin():
            apikeys.mark_used(session, caller.id, now, now - LAST_USE_EVERY)
        return caller
