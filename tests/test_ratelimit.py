"""Token buckets: channel-wide and per-recipient limits, reservations in order, refusal past max wait."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifier.channels.common import ProviderSettings
from notifier.rules.ratelimit import (
    ADMIN_LOGIN,
    BucketState,
    ChannelLimiter,
    FailureLimit,
    Limits,
    RateLimited,
    RateLimits,
    TokenBucket,
)


class Tick:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    tick = Tick()
    bucket = TokenBucket(rate=2, burst=3, now=tick)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    # further takes are reservations on credit, each half a second after the previous one
    assert bucket.take() == pytest.approx(0.5)
    assert bucket.take() == pytest.approx(1.0)
    tick.t += 1.0  # pays back the two tokens taken on credit
    assert bucket.delay() == pytest.approx(0.5)
    tick.t += 0.5
    assert bucket.take() == pytest.approx(0.0)


def test_tokens_never_accumulate_beyond_the_burst() -> None:
    tick = Tick()
    bucket = TokenBucket(rate=1, burst=2, now=tick)
    tick.t += 3600
    assert [bucket.take() for _ in range(3)] == [0, 0, pytest.approx(1.0)]


def test_per_recipient_limit_spaces_one_chat_but_not_others() -> None:
    tick = Tick()
    limiter = ChannelLimiter(Limits(rate_per_second=30, burst=30, per_recipient_per_second=1), tick)
    assert limiter.reserve("chat-1") == 0
    assert limiter.reserve("chat-2") == 0
    assert limiter.reserve("chat-1") == pytest.approx(1.0)
    assert limiter.reserve("chat-1") == pytest.approx(2.0)
    tick.t += 2.0
    assert limiter.reserve("chat-1") == pytest.approx(1.0)


def test_channel_wide_limit_applies_across_recipients() -> None:
    tick = Tick()
    limiter = ChannelLimiter(Limits(rate_per_second=10, burst=1), tick)
    waits = [limiter.reserve(f"+8491234567{i}") for i in range(4)]
    assert waits == [0, pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]


def test_a_wait_beyond_max_wait_reserves_nothing() -> None:
    tick = Tick()
    limiter = ChannelLimiter(Limits(per_recipient_per_second=1 / 60, max_wait_seconds=5), tick)
    assert limiter.reserve("chat") == 0
    with pytest.raises(RateLimited) as info:
        limiter.reserve("chat")
    assert info.value.delay == pytest.approx(60)
    tick.t += 50
    with pytest.raises(RateLimited) as again:  # nothing was taken by the refused call: 10 s left, not 70
        limiter.reserve("chat")
    assert again.value.delay == pytest.approx(10)
    tick.t += 6
    assert limiter.reserve("chat") == pytest.approx(4)


def test_a_channel_without_declared_limits_is_unlimited() -> None:
    limits = RateLimits(Tick())
    assert limits.reserve("file", None, "x") == 0  # declares no limits: unlimited
    assert limits.reserve("file", None, "x") == 0
    tg = Limits(rate_per_second=30, burst=30, per_recipient_per_second=1, per_recipient_burst=1)
    assert limits.reserve("telegram", tg, "42") == 0
    assert limits.reserve("telegram", tg, "42") == pytest.approx(1.0)


def test_idle_recipient_buckets_are_pruned() -> None:
    tick = Tick()
    limiter = ChannelLimiter(Limits(per_recipient_per_second=1), tick)
    limiter.PRUNE_AT = 3
    for chat in ("a", "b", "c"):
        limiter.reserve(chat)
    tick.t += 10
    limiter.reserve("d")
    assert set(limiter._per) == {"d"}


def test_a_max_wait_of_zero_means_never_wait() -> None:
    limits = ProviderSettings(rate_per_second=1, burst=1, max_wait_seconds=0).rate_limits()
    assert limits.max_wait_seconds == 0
    limiter = ChannelLimiter(limits, Tick())
    assert limiter.reserve("a") == 0
    with pytest.raises(RateLimited):
        limiter.reserve("b")
    assert ProviderSettings(rate_per_second=1).rate_limits().max_wait_seconds == 10.0


def test_a_stored_bucket_goes_on_where_it_was() -> None:
    tick = Tick()
    bucket = TokenBucket(rate=2, burst=3, now=tick)
    for _ in range(4):
        bucket.take()
    assert bucket.state == BucketState(-1.0, 1000.0)
    assert bucket.full_at() == pytest.approx(1002.0)  # four tokens at two a second
    again = TokenBucket(rate=2, burst=3, now=tick, state=bucket.state)
    assert again.take() == pytest.approx(1.0)
    # a lowered burst applies at once; a never-touched bucket (second 0) is full
    assert TokenBucket(rate=2, burst=1, now=tick, state=BucketState(3.0, 1000.0)).state.tokens == 1.0
    assert TokenBucket(rate=2, burst=3, now=tick, state=BucketState(0.0, 0.0)).delay() == 0


def test_time_running_backwards_refills_nothing_and_freezes_nothing() -> None:
    tick = Tick()
    # written by a host whose clock is an hour ahead, with the last token taken
    bucket = TokenBucket(rate=1, burst=1, now=tick, state=BucketState(0.0, tick.t + 3600))
    assert bucket.delay() == pytest.approx(1.0)
    tick.t += 1
    assert bucket.delay() == 0


def test_reserve_many_refuses_some_and_still_serves_the_rest() -> None:
    tick = Tick()
    limiter = ChannelLimiter(Limits(rate_per_second=10, burst=10, per_recipient_per_second=1, max_wait_seconds=0.5),
                             tick, recipients={"busy": BucketState(0.0, tick.t)})  # fmt: skip
    results = limiter.reserve_many(["busy", "a", "a", "b"])
    assert isinstance(results[0], RateLimited) and results[0].delay == pytest.approx(1.0)
    assert results[1] == 0 and isinstance(results[2], RateLimited) and results[3] == 0
    buckets = limiter.buckets()
    assert set(buckets) == {None, "busy", "a", "b"}
    assert buckets[None].state.tokens == pytest.approx(8)  # refused messages took nothing
    memory = RateLimits(tick)
    assert memory.reserve_many("file", None, ["x", "x"]) == [0.0, 0.0]


def test_a_failure_limit_locks_at_its_count_within_its_window() -> None:
    now = datetime(2026, 12, 1, 9, 0)
    assert (ADMIN_LOGIN.max_failures, ADMIN_LOGIN.window) == (5, timedelta(minutes=15))
    assert not ADMIN_LOGIN.locked(4) and ADMIN_LOGIN.locked(5)
    assert ADMIN_LOGIN.since(now) == datetime(2026, 12, 1, 8, 45)
    with pytest.raises(ValueError, match="max_failures: value 0"):
        FailureLimit(0, timedelta(minutes=1))
    with pytest.raises(ValueError, match="window: value"):
        FailureLimit(5, timedelta(0))


def test_bad_limits_are_named() -> None:
    with pytest.raises(ValueError, match="rate: value 0"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst: value 0"):
        TokenBucket(1, 0)
