"""Token buckets for provider rate limits: one per channel, and one per recipient where the provider
limits each chat (Telegram: ~30 messages/s per bot, 1/s per chat).

A bucket hands out reservations: `reserve` takes a token now, possibly on credit, and says how long the
caller must wait before using it, so concurrent senders queue up in order without polling. A caller that
would have to wait longer than it is willing to is told so and nothing is taken (the dispatcher then puts
the row back in the queue for later instead of holding its lease).

Time is `time.monotonic` (injected for tests): rate limits are about the wall of the provider, not the
domain clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Monotonic = Callable[[], float]


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: Monotonic = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate: value {rate!r}: must be above 0 per second")
        if burst < 1:
            raise ValueError(f"burst: value {burst!r}: must be at least 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._at = now()

    def _refill(self) -> float:
        t = self._now()
        self._tokens = min(float(self.burst), self._tokens + (t - self._at) * self.rate)
        self._at = t
        return self._tokens

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

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """Read the limit fields of any channel's settings; a plugin without them is unlimited."""
        max_wait = getattr(settings, "max_wait_seconds", None)
        return cls(
            rate_per_second=getattr(settings, "rate_per_second", None),
            burst=getattr(settings, "burst", None),
            per_recipient_per_second=getattr(settings, "per_recipient_per_second", None),
            per_recipient_burst=getattr(settings, "per_recipient_burst", None) or 1,
            # 0 is a setting (never wait: defer at once), not a missing one.
            max_wait_seconds=10.0 if max_wait is None else max_wait,
        )

    @property
    def unlimited(self) -> bool:
        return self.rate_per_second is None and self.per_recipient_per_second is None


def _burst_for(rate: float, burst: int | None) -> int:
    return burst if burst is not None else max(1, math.ceil(rate))


class ChannelLimiter:
    """The channel-wide bucket and the per-recipient buckets of one channel."""

    # Per-recipient buckets that have refilled carry no state; drop them once there are this many.
    PRUNE_AT = 10_000

    def __init__(self, limits: Limits, now: Monotonic = time.monotonic) -> None:
        self.limits = limits
        self._now = now
        self._global = (
            TokenBucket(limits.rate_per_second, _burst_for(limits.rate_per_second, limits.burst), now)
            if limits.rate_per_second
            else None
        )
        self._per: dict[str, TokenBucket] = {}

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

    def reserve(self, recipient: str) -> float:
        """Reserve a slot for one message to `recipient`: seconds to wait, or RateLimited."""
        buckets = [b for b in (self._global, self._bucket(recipient)) if b is not None]
        delay = max((b.delay() for b in buckets), default=0.0)
        if delay > self.limits.max_wait_seconds:
            raise RateLimited(delay)
        # Both buckets are charged together, so the wait is the longer of the two.
        return max((b.take() for b in buckets), default=0.0)


class RateLimits:
    """Limiters by channel name, built on first use from each channel's settings."""

    def __init__(self, now: Monotonic = time.monotonic) -> None:
        self._now = now
        self._by_name: dict[str, ChannelLimiter | None] = {}

    def reserve(self, channel_name: str, settings: Any, recipient: str) -> float:
        if channel_name not in self._by_name:
            limits = Limits.from_settings(settings)
            self._by_name[channel_name] = None if limits.unlimited else ChannelLimiter(limits, self._now)
        limiter = self._by_name[channel_name]
        return 0.0 if limiter is None else limiter.reserve(recipient)
