"""The REST limiter on a fake clock: limits held under concurrency, replies folded in, 429/418,
priorities (a LOW flood against a CRITICAL request), Binance weights by parameters."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from query.market.limits import (
    Banned,
    Limiter,
    Priority,
    RateLimited,
    Throttled,
    parse_remaining_req,
    request_weight,
)

WALL0 = 1_800_000_000.0  # the fake wall clock's epoch seconds at fake time 0


class FakeClock:
    """Time moves only when every task is waiting on it: then it jumps to the next sleeper."""

    def __init__(self) -> None:
        self.t = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return WALL0 + self.t

    async def sleep(self, s: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.t + max(0.0, s), next(self._seq), fut))
        await fut

    async def _settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def run(self, until: float = float("inf")) -> None:
        """Run every task, advancing time from timer to timer, until no timer is left or the
        next one is beyond ``until``."""
        await self._settle()
        while self._timers and self._timers[0][0] <= until:
            at, _, fut = heapq.heappop(self._timers)
            self.t = max(self.t, at)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        self.t = max(self.t, until) if until != float("inf") else self.t


def make(clock: FakeClock, **kw) -> Limiter:
    return Limiter(now=clock.now, sleep=clock.sleep, wall=clock.wall, **kw)


def max_in_window(grants: list[tuple[float, int]], window: float) -> int:
    """The most units granted in any window [t, t + window) starting at a grant."""
    return max(sum(w for u, w in grants if t <= u < t + window) for t, _ in grants)


async def grant_log(lim: Limiter, clock: FakeClock, venue: str, endpoint: str,
                    weights: list[int], priority: Priority = Priority.NORMAL) -> list[tuple[float, int]]:
    grants: list[tuple[float, int]] = []

    async def one(w: int) -> None:
        await lim.acquire(venue, endpoint, w, priority, max_wait=None)
        grants.append((clock.now(), w))

    tasks = [asyncio.create_task(one(w)) for w in weights]
    await clock.run()
    await asyncio.gather(*tasks)
    return grants


# ---------------------------------------------------------------------------- the limit holds


async def test_upbit_group_never_exceeds_ten_per_second_under_concurrency() -> None:
    clock = FakeClock()
    lim = make(clock)
    grants = await grant_log(lim, clock, "upbit", "/v1/candles/minutes/1", [1] * 55)
    assert len(grants) == 55
    assert max_in_window(grants, 1.0) == 10
    # Full speed still: 55 requests at 10 per (1 s + margin) take a bit over 5 windows.
    assert grants[-1][0] == pytest.approx(5 * 1.05)


async def test_upbit_groups_are_counted_apart() -> None:
    clock = FakeClock()
    lim = make(clock)
    for _ in range(10):
        assert await lim.acquire("upbit", "candle") == 0.0
    # The ticker group has its own ten.
    for _ in range(10):
        assert await lim.acquire("upbit", "/v1/ticker") == 0.0
    assert lim.used("upbit", "/v1/candles/days") == 10


async def test_binance_weight_never_exceeds_the_minute_budget() -> None:
    clock = FakeClock()
    lim = make(clock)
    weights = [request_weight("binance-usdm", "/fapi/v1/klines", {"limit": 1500})] * 300  # 10 each
    weights += [request_weight("binance-usdm", "/fapi/v1/depth", {"limit": 1000})] * 50  # 20 each
    grants = await grant_log(lim, clock, "binance-usdm", "/fapi/v1/klines", weights)
    assert sum(w for _, w in grants) == 4000
    assert max_in_window(grants, 60.0) <= 2400


async def test_a_weight_that_can_never_fit_and_unknown_names_are_refused() -> None:
    lim = make(FakeClock())
    with pytest.raises(ValueError, match="1..10"):
        await lim.acquire("upbit", "ticker", 11)
    with pytest.raises(ValueError, match="venues: upbit, binance-usdm, binance-spot"):
        await lim.acquire("kraken", "ticker")
    with pytest.raises(ValueError, match="groups: market, candle"):
        await lim.acquire("upbit", "/v1/nothing")


# ---------------------------------------------------------------------------- replies


async def test_remaining_req_shrinks_the_budget_for_another_program_on_the_ip() -> None:
    clock = FakeClock()
    lim = make(clock)
    await lim.acquire("upbit", "candle")
    # Upbit says 2 left this second: another program spent 7.
    lim.observe("upbit", "/v1/candles/minutes/1", 200,
                {"remaining-req": "group=candle; min=1800; sec=2"})
    assert lim.used("upbit", "candle") == 8
    grants = await grant_log(lim, clock, "upbit", "candle", [1] * 3)
    assert [t for t, _ in grants] == [0.0, 0.0, pytest.approx(1.05)]


async def test_remaining_req_names_its_own_group() -> None:
    lim = make(FakeClock())
    lim.observe("upbit", "/v1/candles/minutes/1", 200, {"Remaining-Req": "group=ticker; min=1800; sec=0"})
    assert lim.used("upbit", "ticker") == 10
    assert lim.used("upbit", "candle") == 0
    assert parse_remaining_req("group=default; min=1800") is None


async def test_used_weight_header_shrinks_the_binance_budget() -> None:
    clock = FakeClock()
    lim = make(clock)
    lim.observe("binance-usdm", "/fapi/v1/ticker/24hr", 200, {"X-MBX-USED-WEIGHT-1M": "2390"})
    assert await lim.acquire("binance-usdm", "/fapi/v1/klines", 10) == 0.0
    with pytest.raises(Throttled):
        await lim.acquire("binance-usdm", "/fapi/v1/depth", 20, max_wait=5.0)
    # A lower count than ours changes nothing.
    lim.observe("binance-usdm", "/fapi/v1/klines", 200, {"X-MBX-USED-WEIGHT-1M": "3"})
    assert lim.used("binance-usdm", "weight") == 2400


async def test_upbit_429_plain_text_waits_a_window() -> None:
    clock = FakeClock()
    lim = make(clock)
    lim.observe("upbit", "/v1/ticker", 429, {}, b"Too many API requests.")
    assert lim.blocked_until("upbit", "ticker") is not None
    task = asyncio.create_task(lim.acquire("upbit", "ticker", max_wait=None))
    await clock.run()
    assert await task == pytest.approx(1.05)


async def test_binance_429_waits_retry_after() -> None:
    clock = FakeClock()
    lim = make(clock)
    lim.observe("binance-usdm", "/fapi/v1/klines", 429, {"Retry-After": "7"},
                b'{"code":-1003,"msg":"Too many requests."}')
    task = asyncio.create_task(lim.acquire("binance-usdm", "/fapi/v1/klines", 1, max_wait=None))
    await clock.run()
    # The 429 also fills the window, so the wait is the longer of the two: the window here.
    assert await task == pytest.approx(61.0)


async def test_418_stops_the_group_and_says_until_when() -> None:
    clock = FakeClock()
    lim = make(clock)
    lim.observe("binance-usdm", "/fapi/v1/depth", 418, {"Retry-After": "120"},
                b'{"code":-1003,"msg":"Way too much request weight used; IP banned until 1800000120000."}')
    with pytest.raises(Banned) as err:
        await lim.acquire("binance-usdm", "/fapi/v1/ticker/price", 1, Priority.CRITICAL, max_wait=10.0)
    e = err.value
    assert isinstance(e, RateLimited)
    assert (e.venue, e.group, e.wait_s) == ("binance-usdm", "weight", 120.0)
    assert e.until.timestamp() == WALL0 + 120
    assert "until 2027-01-15T08:02:00+00:00" in str(e)
    # A caller who can wait goes at the end of the block.
    task = asyncio.create_task(lim.acquire("binance-usdm", "/fapi/v1/ticker/price", max_wait=None))
    await clock.run()
    assert await task == pytest.approx(120.0)


async def test_418_body_until_time_and_default_when_unnamed() -> None:
    clock = FakeClock()
    lim = make(clock)
    lim.observe("binance-spot", "/api/v3/depth", 418, {},
                b'{"code":-1003,"msg":"IP banned until 1800000300000."}')
    assert lim.blocked_until("binance-spot", "weight").timestamp() == WALL0 + 300
    lim.observe("upbit", "/v1/orderbook", 418, {}, "Too many requests; blocked.")
    assert lim.blocked_until("upbit", "orderbook").timestamp() == WALL0 + 60  # UPBIT.ban_s
    lim.observe("upbit", "/v1/trades/ticks", 418, {}, "blocked for 30 seconds")
    assert lim.blocked_until("upbit", "trade").timestamp() == WALL0 + 30


async def test_418_fails_queued_callers_that_cannot_wait_at_once() -> None:
    clock = FakeClock()
    lim = make(clock)
    for _ in range(10):
        await lim.acquire("upbit", "candle")
    patient = asyncio.create_task(lim.acquire("upbit", "candle", max_wait=None))
    hurried = asyncio.create_task(lim.acquire("upbit", "candle", max_wait=5.0))
    await clock.run(until=0.0)
    lim.observe("upbit", "candle", 418, {}, b"blocked for 600 seconds")
    await clock.run(until=0.0)
    assert hurried.done() and isinstance(hurried.exception(), Banned)
    await clock.run()
    assert await patient == pytest.approx(600.0)


# ---------------------------------------------------------------------------- priorities


async def test_a_low_flood_never_delays_critical_beyond_one_window() -> None:
    clock = FakeClock()
    lim = make(clock)
    low_done: list[float] = []

    async def low() -> None:
        await lim.acquire("upbit", "candle", 1, Priority.LOW, max_wait=None)
        low_done.append(clock.now())

    # Three months of one-minute candles: 130k candles / 200 a page = 650 pages.
    lows = [asyncio.create_task(low()) for _ in range(650)]
    waits: list[float] = []
    for k in range(5):
        await clock.run(until=3.3 + 7.1 * k)
        crit = asyncio.create_task(lim.acquire("upbit", "candle", 1, Priority.CRITICAL))
        start = clock.now()
        while not crit.done():
            await clock.run(until=clock.now() + 0.01)
        assert await crit >= 0.0
        waits.append(clock.now() - start)
    assert max(waits) <= 1.05 + 0.01  # one window (and the margin), the fake clock's step
    await clock.run()
    await asyncio.gather(*lows)
    assert len(low_done) == 650


async def test_higher_classes_first_and_fifo_within_a_class() -> None:
    clock = FakeClock()
    lim = make(clock)
    for _ in range(10):
        await lim.acquire("upbit", "ticker")
    order: list[str] = []

    async def one(name: str, p: Priority) -> None:
        await lim.acquire("upbit", "ticker", 1, p, max_wait=None)
        order.append(name)

    specs = [("low1", Priority.LOW), ("norm1", Priority.NORMAL), ("low2", Priority.LOW),
             ("crit1", Priority.CRITICAL), ("high1", Priority.HIGH), ("norm2", Priority.NORMAL),
             ("crit2", Priority.CRITICAL)]
    tasks = []
    for name, p in specs:
        tasks.append(asyncio.create_task(one(name, p)))
        await asyncio.sleep(0)
    await clock.run()
    await asyncio.gather(*tasks)
    assert order == ["crit1", "crit2", "high1", "norm1", "norm2", "low1", "low2"]


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    clock = FakeClock()
    lim = make(clock)
    for _ in range(10):
        await lim.acquire("upbit", "ticker")
    first = asyncio.create_task(lim.acquire("upbit", "ticker", max_wait=None))
    second = asyncio.create_task(lim.acquire("upbit", "ticker", max_wait=None))
    await clock.run(until=0.5)
    first.cancel()
    await clock.run()
    assert first.cancelled()
    assert await second == pytest.approx(1.05)
    assert lim.used("upbit", "ticker") == 1


async def test_default_clock_is_asyncio_and_monotonic() -> None:
    lim = Limiter()
    assert await lim.acquire("upbit", "/v1/ticker", priority=Priority.CRITICAL) < 0.1


# ---------------------------------------------------------------------------- weights


@pytest.mark.parametrize(("venue", "path", "params", "weight"), [
    ("binance-usdm", "/fapi/v1/klines", {"limit": 99}, 1),
    ("binance-usdm", "/fapi/v1/klines", {"limit": 100}, 2),
    ("binance-usdm", "/fapi/v1/klines", {}, 5),  # default 500
    ("binance-usdm", "/fapi/v1/klines", {"limit": "1000"}, 5),
    ("binance-usdm", "/fapi/v1/klines", {"limit": 1001}, 10),
    ("binance-usdm", "/fapi/v1/depth", {"limit": 20}, 2),
    ("binance-usdm", "/fapi/v1/depth", {"limit": 100}, 5),
    ("binance-usdm", "/fapi/v1/depth", {}, 10),
    ("binance-usdm", "/fapi/v1/depth", {"limit": 1000}, 20),
    ("binance-usdm", "/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, 1),
    ("binance-usdm", "/fapi/v1/ticker/24hr", {}, 40),
    ("binance-usdm", "/fapi/v1/ticker/bookTicker", {}, 5),
    ("binance-usdm", "/fapi/v1/exchangeInfo", {}, 1),
    ("binance-spot", "/api/v3/depth", {}, 5),
    ("binance-spot", "/api/v3/depth", {"limit": 500}, 25),
    ("binance-spot", "/api/v3/depth", {"limit": 1000}, 50),
    ("binance-spot", "/api/v3/depth", {"limit": 5000}, 250),
    ("binance-spot", "/api/v3/klines", {"limit": 1000}, 2),
    ("binance-spot", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
    ("binance-spot", "/api/v3/ticker/24hr", {"symbols": '["A","B","C"]'}, 2),
    ("binance-spot", "/api/v3/ticker/24hr", {"symbols": ["S"] * 21}, 40),
    ("binance-spot", "/api/v3/ticker/24hr", {}, 80),
    ("binance-spot", "/api/v3/exchangeInfo", {}, 20),
    ("upbit", "/v1/candles/minutes/1", {"count": 200}, 1),
])
def test_request_weight_by_parameters(venue: str, path: str, params: dict, weight: int) -> None:
    assert request_weight(venue, path, params) == weight


def test_bad_weight_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[5, 10, 20, 50, 100, 500, 1000\]"):
        request_weight("binance-usdm", "/fapi/v1/depth", {"limit": 7})
    with pytest.raises(ValueError, match="1..1500"):
        request_weight("binance-usdm", "/fapi/v1/klines", {"limit": 1501})


async def test_mixed_classes_and_another_program_still_never_exceed_the_limit() -> None:
    clock = FakeClock()
    lim = make(clock)
    grants: list[tuple[float, int]] = []

    async def one(p: Priority) -> None:
        await lim.acquire("upbit", "orderbook", 1, p, max_wait=None)
        grants.append((clock.now(), 1))
        # Each reply says another program took 3 of this second.
        lim.observe("upbit", "/v1/orderbook", 200,
                    {"Remaining-Req": f"group=orderbook; min=1800; sec={max(0, 7 - lim.used('upbit', 'orderbook'))}"})

    tasks = [asyncio.create_task(one(Priority(i % 4))) for i in range(80)]
    await clock.run()
    await asyncio.gather(*tasks)
    assert len(grants) == 80
    assert max_in_window(grants, 1.0) <= 10
