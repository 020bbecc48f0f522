"""Token buckets for provider rate limits: one per channel, and one per recipient where the provider
limits each chat (Telegram: ~30 messages/s per bot, 1/s per chat).

A bucket hands out reservations: `reserve` takes a token now, possibly on credit, and says how long the
caller must wait before using it, so concurrent senders queue up in order without polling. A caller that
would have to wait longer than it is willing to is told so and nothing is taken (the dispatcher then puts
the row back in the queue for later instead of holding its lease).

Time is physical seconds (injected for tests), not the domain clock: rate limits are about the wall of
the provider, and a clock fixed by `--now` must not freeze them. In one process that is `time.monotonic`;
buckets shared by several processes through the database (notifier.store.limits) are stored as a
`BucketState` and use `time.time`, the one clock the processes have in common.

A failure limit (`FailureLimit`) is the other kind of limit here: so many failures within a window lock
a key (an account name) until the window has passed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

Monotonic = Callable[[], float]


@dataclass(frozen=True)
class BucketState:
    """A bucket as stored: `tokens` (below zero while reserved on credit) as of second `at`."""

    tokens: float
    at: float


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, now: Monotonic = time.monotonic, state: BucketState | None = None
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate: value {rate!r}: must be above 0 per second")
        if burst < 1:
            raise ValueError(f"burst: value {burst!r}: must be at least 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        if state is None:
            self._tokens, self._at = float(burst), now()
        else:  # a lowered burst applies to a stored bucket at once
            self._tokens, self._at = min(float(burst), state.tokens), state.at

    def _refill(self) -> float:
        t = self._now()
        # A shared bucket is read by processes whose clocks differ a little: time that seems to run
        # backwards refills nothing, and the bucket goes on from the reader's time instead of waiting for
        # a clock that is ahead (a bucket must never freeze).
        self._tokens = min(float(self.burst), self._tokens + max(0.0, t - self._at) * self.rate)
        self._at = t
        return self._tokens

    @property
    def state(self) -> BucketState:
        return BucketState(self._tokens, self._at)

    def full_at(self) -> float:
        """When the bucket will be full again: from then on it carries no state and may be forgotten."""
        return self._at + max(0.0, self.burst - self._tokens) / self.rate

    def delay(self) -> float:
        """Seconds until a token would be free, without taking one."""
        tokens = self._refill()
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self) -> float:
        """Take a token (on credit if need be); the seconds to wait before using it."""
        wait = self.delay()
        self._tokens -= 1
        return wait

    def idle(self) -> bool:
        return self._refill() >= self.burst


class RateLimited(Exception):
    """Waiting for a token would take longer than allowed; nothing was reserved."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"rate limit: next slot in {delay:.1f} s")
        self.delay = delay


@dataclass(frozen=True)
class Limits:
    rate_per_second: float | None = None
    burst: int | None = None
    per_recipient_per_second: float | None = None
    per_recipient_burst: int = 1
    max_wait_seconds: float = 10.0

    @property
    def unlimited(self) -> bool:
        return self.rate_per_second is None and self.per_recipient_per_second is None


def _burst_for(rate: float, burst: int | None) -> int:
    return burst if burst is not None else max(1, math.ceil(rate))


class ChannelLimiter:
    """The channel-wide bucket and the per-recipient buckets of one channel.

    Buckets start full unless their stored states are given (`channel`, `recipients`); `buckets()` gives
    them back for storing.
    """

    # Per-recipient buckets that have refilled carry no state; drop them once there are this many.
    PRUNE_AT = 10_000

    def __init__(
        self,
        limits: Limits,
        now: Monotonic = time.monotonic,
        channel: BucketState | None = None,
        recipients: dict[str, BucketState] | None = None,
    ) -> None:
        self.limits = limits
        self._now = now
        rate = limits.rate_per_second
        self._global = TokenBucket(rate, _burst_for(rate, limits.burst), now, channel) if rate else None
        self._per: dict[str, TokenBucket] = {}
        per_rate = limits.per_recipient_per_second
        if per_rate:
            for key, state in (recipients or {}).items():
                self._per[key] = TokenBucket(per_rate, limits.per_recipient_burst, now, state)

    def _bucket(self, key: str) -> TokenBucket | None:
        rate = self.limits.per_recipient_per_second
        if not rate:
            return None
        bucket = self._per.get(key)
        if bucket is None:
            if len(self._per) >= self.PRUNE_AT:
                self._per = {k: b for k, b in self._per.items() if not b.idle()}
            bucket = self._per[key] = TokenBucket(rate, self.limits.per_recipient_burst, self._now)
        return bucket

    def buckets(self) -> dict[str | None, TokenBucket]:
        """Every bucket this limiter holds: the channel-wide one under None, the others by recipient."""
        found: dict[str | None, TokenBucket] = {}
        if self._global is not None:
            found[None] = self._global
        found.update(self._per)
        return found

    def reserve(self, recipient: str) -> float:
        """Reserve a slot for one message to `recipient`: seconds to wait, or RateLimited."""
        buckets = [b for b in (self._global, self._bucket(recipient)) if b is not None]
        delay = max((b.delay() for b in buckets), default=0.0)
        if delay > self.limits.max_wait_seconds:
            raise RateLimited(delay)
        # Both buckets are charged together, so the wait is the longer of the two.
        return max((b.take() for b in buckets), default=0.0)

    def reserve_many(self, recipients: Sequence[str]) -> list[float | RateLimited]:
        """`reserve` for each recipient in order: the wait for each, or the refusal of those that would
        wait too long (a refused one takes nothing, so a later one may still fit, e.g. another chat)."""
        results: list[float | RateLimited] = []
        for recipient in recipients:
            try:
                results.append(self.reserve(recipient))
            except RateLimited as refused:
                results.append(refused)
        return results


class Reservations(Protocol):
    """What the dispatcher reserves slots from: in this process (`RateLimits`) or shared by every process
    on the database (notifier.store.limits.SharedRateLimits)."""

    def reserve(self, channel_name: str, limits: Limits | None, recipient: str) -> float: ...

    def reserve_many(
        self, channel_name: str, limits: Limits | None, recipients: Sequence[str]
    ) -> list[float | RateLimited]: ...


class RateLimits:
    """Limiters by channel name, built on first use from each channel's settings; in this process only."""

    def __init__(self, now: Monotonic = time.monotonic) -> None:
        self._now = now
        self._by_name: dict[str, ChannelLimiter | None] = {}
        self._lock = threading.Lock()  # reservations may come from worker threads

    def _limiter(self, channel_name: str, limits: Limits | None) -> ChannelLimiter | None:
        if channel_name not in self._by_name:
            limits = limits or Limits()
            self._by_name[channel_name] = None if limits.unlimited else ChannelLimiter(limits, self._now)
        return self._by_name[channel_name]

    def reserve(self, channel_name: str, limits: Limits | None, recipient: str) -> float:
        with self._lock:
            limiter = self._limiter(channel_name, limits)
            return 0.0 if limiter is None else limiter.reserve(recipient)

    def reserve_many(
        self, channel_name: str, limits: Limits | None, recipients: Sequence[str]
    ) -> list[float | RateLimited]:
        with self._lock:
            limiter = self._limiter(channel_name, limits)
            return [0.0] * len(recipients) if limiter is None else limiter.reserve_many(recipients)


@dataclass(frozen=True)
class FailureLimit:
    """`max_failures` within `window` lock a key until the oldest of them is older than the window."""

    max_failures: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError(f"max_failures: value {self.max_failures!r}: must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError(f"window: value {self.window!r}: must be above 0")

    def since(self, now: datetime) -> datetime:
        """Failures after this moment count."""
        return now - self.window

    def locked(self, recent_failures: int) -> bool:
        return recent_failures >= self.max_failures


# The admin page: five wrong passwords lock an account name for 15 minutes (README "Admin page").
ADMIN_LOGIN = FailureLimit(max_failures=5, window=timedelta(minutes=15))


@dataclass(frozen=True)
class LoginRules:
    """Every limit a login try must pass before its password is hashed (Argon2 costs a core for a moment,
    so a flood of tries must be refused before it, not after).

    - `name_and_address`: a name's tries from one client address. A stranger who fails five times locks
      the name only for themselves, never for the admin at another address.
    - `address`: tries of any names from one address (a client spraying random names).
    - `name`: a name's tries from every address (guessing spread over many addresses); `notifier user
      unlock NAME` clears it (and the name's other counts) for an admin locked out by such a flood.
    - `overall`: tries of every name from every address, the last guard of the CPU.
    """

    name_and_address: FailureLimit = ADMIN_LOGIN
    address: FailureLimit = FailureLimit(max_failures=30, window=timedelta(minutes=15))
    name: FailureLimit = FailureLimit(max_failures=50, window=timedelta(minutes=15))
    overall: FailureLimit = FailureLimit(max_failures=300, window=timedelta(minutes=5))

    @property
    def longest(self) -> timedelta:
        return max(r.window for r in (self.name_and_address, self.address, self.name, self.overall))


ADMIN_LOGIN_RULES = LoginRules()
