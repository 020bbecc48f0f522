"""Where a channel keeps OAuth tokens that rotate (Zalo): in memory, or in the `provider_tokens` table so
that a refreshed token survives restarts and is shared by every worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from notifier.store.models import ProviderToken


@dataclass(frozen=True)
class Tokens:
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime | None = None


class TokenStore(Protocol):
    def load(self, channel: str) -> Tokens | None: ...

    def save(self, channel: str, tokens: Tokens, now: datetime) -> None: ...


class MemoryTokenStore:
    def __init__(self) -> None:
        self._tokens: dict[str, Tokens] = {}

    def load(self, channel: str) -> Tokens | None:
        return self._tokens.get(channel)

    def save(self, channel: str, tokens: Tokens, now: datetime) -> None:
        self._tokens[channel] = tokens


class DbTokenStore:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def load(self, channel: str) -> Tokens | None:
        with self.factory() as session:
            row = session.get(ProviderToken, channel)
            if row is None:
                return None
            return Tokens(row.access_token, row.refresh_token, row.expires_at)

    def save(self, channel: str, tokens: Tokens, now: datetime) -> None:
        with self.factory() as session, session.begin():
            row = session.get(ProviderToken, channel)
            if row is None:
                row = ProviderToken(channel=channel, updated_at=now)
                session.add(row)
            row.access_token = tokens.access_token or ""
            row.refresh_token = tokens.refresh_token
            row.expires_at = tokens.expires_at
            row.updated_at = now
