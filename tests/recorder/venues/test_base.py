"""Shared venue types: URL joining, token bucket, sliding windows, backoff, classification."""

from __future__ import annotations

import random

import pytest

from recorder.venues.base import (
    Backoff,
    ErrorClass,
    Limits,
    TokenBucket,
    WeightBudget,
    WindowLimit,
    classify,
    join_url,
    parse_retry_after,
)


def test_join_url_keeps_only_scheme_host_port_of_the_base():
    assert join_url("ws://127.0.0.1:9001/ignored/path?x=1", "/public/stream", "streams=a") == \
        "ws://127.0.0.1:9001/public/stream?streams=a"
    with pytest.raises(ValueError):
        join_url("127.0.0.1:9001", "/x")


def test_token_bucket_never_exceeds_rate_plus_capacity_in_any_second():
    bucket = TokenBucket(rate=5, capacity=5, now=0.0)
    sent = []
    t = 0.0
    while t < 10.0:
        if bucket.try_take(t):
            sent.append(t)
        t = round(t + 0.01, 6)
    for start in sent:
        in_window = [s for s in sent if start <= s < start + 1.0]
        assert len(in_window) <= 10
    assert 50 <= len(sent) <= 56  # ~5/s steady after the burst of 5
    assert bucket.delay(10.0, 1) >= 0.0


def test_token_bucket_delay_says_when():
    bucket = TokenBucket(rate=2, capacity=1, now=100.0)
    assert bucket.try_take(100.0)
    assert bucket.delay(100.0) == pytest.approx(0.5)
    assert not bucket.try_take(100.25)
    assert bucket.try_take(100.5)
    with pytest.raises(ValueError):
        bucket.delay(100.5, 2)


def test_window_limit_is_exact_over_a_sliding_window():
    lim = WindowLimit(3, 1.0)
    assert lim.try_take(0.0) and lim.try_take(0.2) and lim.try_take(0.4)
    assert not lim.try_take(0.9)
    assert lim.delay(0.9) == pytest.approx(0.1)  # the unit taken at 0.0 leaves at 1.0
    assert lim.try_take(1.0)
    assert lim.used(1.0) == 3


def test_limits_require_every_part():
    both = Limits((WindowLimit(5, 1.0), WindowLimit(7, 60.0)))
    taken = [t / 10 for t in range(100) if both.try_take(t / 10)]
    assert len(taken) == 7  # the per-minute part binds after the second second
    assert taken[:5] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert both.delay(9.9) == pytest.approx(60.0 - 9.9)


def test_weight_budget_with_observed_venue_count():
    budget = WeightBudget(100, 60.0)
    budget.take(0.0, 20)
    assert budget.delay(1.0, 80) == 0.0
    budget.observe_used(1.0, 90)  # another process spent weight on our IP
    assert budget.used(1.0) == 90
    assert budget.delay(1.0, 20) == pytest.approx(59.0)  # waits for the first 20 to expire
    assert budget.delay(61.0, 20) == 0.0


def test_weight_budget_keeps_its_own_count_over_a_lower_venue_count():
    # query.market's limiter folds every reply's count in: a stale or lower one (the venue's
    # window turned over before ours) must never free what we spent.
    budget = WeightBudget(10, 1.05)  # a 1 s venue window held with a 50 ms margin
    budget.take(0.0, 6)
    budget.observe_used(0.5, 2)
    assert budget.used(0.5) == 6
    budget.observe_used(0.5, 10)  # the venue says its window is spent
    assert budget.delay(0.5, 1) == pytest.approx(0.55)  # our 6 of 0.0 leave at 1.05
    assert budget.used(1.05) == 4 and budget.delay(1.05, 6) == 0.0
    assert budget.delay(1.6, 10) == 0.0  # the venue's 4 of 0.5 left at 1.55


def test_window_limit_refuses_what_can_never_fit():
    lim = WindowLimit(3, 1.0)
    with pytest.raises(ValueError, match="never fit"):
        lim.delay(0.0, 4)


def test_backoff_sequence_is_reproducible_and_capped():
    policy = Backoff(initial_s=1.0, factor=2.0, max_s=30.0, jitter=0.5)
    v = policy.verdict(ErrorClass.NETWORK)
    seq_a = [policy.delay(v, n, random.Random(7)) for n in range(8)]
    seq_b = [policy.delay(v, n, random.Random(7)) for n in range(8)]
    assert seq_a == seq_b
    rng = random.Random(42)
    delays = [policy.delay(v, n, rng) for n in range(8)]
    bases = [1, 2, 4, 8, 16, 30, 30, 30]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= d <= base
    no_jitter = Backoff(jitter=0.0)
    assert [no_jitter.delay(v, n, rng) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_floors_and_no_retry_classes():
    policy = Backoff(jitter=0.0, rate_limit_s=60.0, ip_ban_s=300.0)
    rng = random.Random(0)
    assert policy.delay(policy.verdict(ErrorClass.RATE_LIMIT), 0, rng) == 60.0
    assert policy.delay(policy.verdict(ErrorClass.RATE_LIMIT, retry_after=7.0), 0, rng) == 7.0
    assert policy.delay(policy.verdict(ErrorClass.IP_BAN, retry_after=7200.0), 0, rng) == 7200.0
    assert policy.delay(policy.verdict(ErrorClass.IP_BAN), 3, rng) == 300.0
    for cls in (ErrorClass.AUTH, ErrorClass.UNKNOWN_SYMBOL, ErrorClass.FATAL):
        assert policy.delay(policy.verdict(cls), 0, rng) is None


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"status": 418}, ErrorClass.IP_BAN),
    ({"status": 429, "message": "Invalid symbol"}, ErrorClass.RATE_LIMIT),
    ({"status": 401}, ErrorClass.AUTH),
    ({"status": 503}, ErrorClass.NETWORK),
    ({"status": 400}, ErrorClass.FATAL),
    ({"close_code": 1001}, ErrorClass.NETWORK),
    ({"close_code": 1006}, ErrorClass.NETWORK),
    ({"close_code": 1008}, ErrorClass.RATE_LIMIT),
    ({"close_code": 1002}, ErrorClass.FATAL),
    ({"exc": "ConnectionResetError"}, ErrorClass.NETWORK),
    ({"exc": "gaierror"}, ErrorClass.NETWORK),
    ({"exc": "InvalidURI"}, ErrorClass.FATAL),
    ({"exc": "SomethingNew"}, ErrorClass.NETWORK),
    ({}, ErrorClass.NETWORK),
])
def test_generic_classification(kwargs, expected):
    assert classify(**kwargs) is expected


def test_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(b" 5 ") == 5.0
    assert parse_retry_after(3) == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
