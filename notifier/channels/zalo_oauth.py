"""Zalo's OAuth tokens, shared by every channel of one Zalo app (ZNS and the Official Account).

Access tokens last about a day and the refresh token is single-use (each refresh returns a new one), so
refreshed tokens are stored (`provider_tokens`) and shared by all workers and by both Zalo channels: two
channels of the same app must name the same `token_key`, or one would spend the refresh token the other
still holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import InitVar, dataclass, field
from datetime import timedelta

from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.base import TransientError
from notifier.channels.common import ProviderSettings, SecretEnv, env_secret
from notifier.channels.http import HttpClient
from notifier.rules.clock import Clock
from notifier.store.tokens import DbTokenStore, MemoryTokenStore, Tokens, TokenStore


class ZaloAppSettings(ProviderSettings):
    """What both Zalo channels (ZNS and the Official Account) know of their Zalo app."""

    oauth_url: str = "https://oauth.zaloapp.com/v4/oa/access_token"
    app_id: str
    app_secret_env: SecretEnv = "ZALO_APP_SECRET"
    # The first tokens; once refreshed, the stored copy (provider_tokens) wins over these.
    access_token_env: str | None = "ZALO_ACCESS_TOKEN"
    refresh_token_env: SecretEnv = "ZALO_REFRESH_TOKEN"
    refresh_margin_seconds: int = Field(300, ge=0)
    # The provider_tokens row; the ZNS and OA channels of one Zalo app must share it (single-use refresh
    # token). Unset: the channel's own name.
    token_key: str | None = None


    def oauth(self, instance_name: str, clock: Clock, http: HttpClient) -> ZaloOAuth:
        """The token keeper of this app, seeded from the environment."""
        return ZaloOAuth(
            key=self.token_key or instance_name,
            app_id=self.app_id,
            app_secret=env_secret(self.app_secret_env, "app_secret_env") or "",
            oauth_url=self.oauth_url,
            seed=Tokens(
                env_secret(self.access_token_env, "access_token_env") if self.access_token_env else None,
                env_secret(self.refresh_token_env, "refresh_token_env"),
            ),
            clock=clock,
            http=http,
            refresh_margin_seconds=self.refresh_margin_seconds,
        )


# Compared by identity and shown without its fields (the app secret is one of them).
@dataclass(kw_only=True, eq=False, repr=False)
class ZaloOAuth:
    key: str  # the provider_tokens row
    app_id: str
    app_secret: str
    oauth_url: str
    seed: Tokens
    clock: Clock
    http: HttpClient
    refresh_margin_seconds: InitVar[int]
    margin: timedelta = field(init=False)
    store: TokenStore = field(init=False, default_factory=MemoryTokenStore)
    _tokens: Tokens | None = field(init=False, default=None)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self, refresh_margin_seconds: int) -> None:
        self.margin = timedelta(seconds=refresh_margin_seconds)

    def bind_storage(self, factory: sessionmaker[Session]) -> None:
        if not isinstance(self.store, DbTokenStore):
            self.store = DbTokenStore(factory)
            self._tokens = None

    def _current(self) -> Tokens:
        if self._tokens is None:
            self._tokens = self.store.load(self.key) or self.seed
        return self._tokens

    def _fresh(self, tokens: Tokens) -> bool:
        if not tokens.access_token:
            return False
        if tokens.expires_at is None:
            return True
        return self.clock.now() < tokens.expires_at - self.margin

    async def access_token(self, *, stale: str | None = None) -> str:
        """A usable access token; `stale` is one the API just refused, so it is refreshed."""
        tokens = self._current()
        if self._fresh(tokens) and tokens.access_token != stale:
            return tokens.access_token or ""
        async with self._lock:
            # Another coroutine, worker or Zalo channel may have refreshed while we waited.
            stored = self.store.load(self.key)
            if stored is not None and self._fresh(stored) and stored.access_token != stale:
                self._tokens = stored
                return stored.access_token or ""
            self._tokens = await self._refresh(stored or tokens)
            return self._tokens.access_token or ""

    async def _refresh(self, tokens: Tokens) -> Tokens:
        if not tokens.refresh_token:
            raise TransientError("Zalo: no refresh token to renew the access token")
        form = {"refresh_token": tokens.refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"}
        response = await self.http.post(self.oauth_url, form=form, headers={"secret_key": self.app_secret})
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"Zalo token refresh failed: {type(exc).__name__}: {exc}") from exc
        if response.status != 200 or not body.get("access_token"):
            # Refresh tokens are single-use: a worker that lost the race finds the winner's in the store.
            stored = self.store.load(self.key)
            if stored is not None and stored.refresh_token != tokens.refresh_token and stored.access_token:
                return stored
            detail = (
                body.get("error_name") or body.get("message") or body.get("error") or response.status
            )
            raise TransientError(f"Zalo token refresh refused: {detail}")
        expires_in = int(body.get("expires_in") or 0)
        now = self.clock.now()
        fresh = Tokens(
            body["access_token"],
            body.get("refresh_token") or tokens.refresh_token,
            now + timedelta(seconds=expires_in) if expires_in else None,
        )
        self.store.save(self.key, fresh, now)
        return fresh
