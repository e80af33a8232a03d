"""``fetch_candles`` against the simulator on loopback: Upbit and Binance pages, merged exactly.

The simulator's tape starts at ``START_MS``; its REST history ends the minute before. Counts
and ranges here end at that minute (``END``), so the answer is the seeded history alone,
whatever the live tape does meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from query.market.candles import MAX_COUNT, fetch_candles, interval
from query.market.candles.paging import MS
from query.market.errors import BadRequestError, UnknownIntervalError, VenueUnavailableError
from query.market.limits import UPBIT, VENUE_LIMITS, GroupLimit, Limiter
from query.market.normalize import binance_klines, parse, upbit_candles
from query.market.rest import RestClient
from tools.simulator import Simulator
from tools.simulator.upbit_candles import bar, page, parse_count, parse_to, shape

START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
END_MS = START_MS // 60_000 * 60_000  # the stream's first minute: history opens before it
END = END_MS * MS
MIN = 60_000


def _sim(**kw) -> Simulator:
    kw = {"source": "synthetic", "venues": ("upbit", "binance-usdm"), "seed": 11,
          "start_ms": START_MS, "history_minutes": 3000, **kw}
    return Simulator(**kw)


def _client(sim: Simulator, **kw) -> RestClient:
    rest = sim.urls.rest
    return RestClient(urls={"upbit": rest, "binance-usdm": rest, "binance-spot": rest}, **kw)


def _key(c) -> tuple:
    return (c.open_time_ns, c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.exch_ts_ns)


def _upbit_own(sim: Simulator, lo_ms: int = 0, hi_ms: int = END_MS) -> list:
    """The simulator's own Upbit 1m candles opening in [lo, hi), as ``Candle``s."""
    market = sim.venue("upbit").market
    market.activate("KRW-BTC")
    rows = [c for c in market.candles("KRW-BTC", 1) if lo_ms <= c["start"] < hi_ms]
    body = orjson.dumps([shape(c, 1, None) for c in rows])
    return upbit_candles(parse(body, "test"), recv_ns=0, now_ns=0, interval="1m")


def _binance_own(sim: Simulator, venue: str, lo_ms: int = 0, hi_ms: int = END_MS) -> list:
    market = sim.venue("binance-usdm").market
    market.activate("FOOUSDT")
    rows = [r for r in market.kline_rows("FOOUSDT") if lo_ms <= r[0] < hi_ms]
    return binance_klines(venue, "FOOUSDT", "1m", parse(orjson.dumps(rows), "test"), recv_ns=0, now_ns=0)


def _ascending_once(candles) -> None:
    opens = [c.open_time_ns for c in candles]
    assert opens == sorted(set(opens))  # ascending, no duplicate


def _candle_tos(sim: Simulator) -> list[str]:
    return [parse_qs(urlsplit(c.target).query)["to"][0] for c in sim.rest_log
            if c.target.startswith("/v1/candles/")]


@pytest.mark.parametrize("want", [1000, 1201])
async def test_upbit_1000_and_1201_minutes_equal_the_simulators_candle_for_candle(want):
    async with _sim() as sim, _client(sim) as rest:
        expect = _upbit_own(sim)[-want:]
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=want, end=END)
        assert len(got.candles) == want and got.complete and got.source == "rest"
        assert [_key(c) for c in got.candles] == [_key(c) for c in expect]
        _ascending_once(got.candles)
        assert all(c.closed and not c.fill and c.interval == "1m" for c in got.candles)
        # minutes without trades are absent: the want candles span more minutes than want,
        # which the first wave's allowance (one in 8) covers here, else a second wave does
        opens = [c.open_time_ns for c in expect]
        assert (opens[-1] - opens[0]) // (MIN * MS) + 1 > want
        assert -(-want // 200) <= got.requests <= -(-(want + want // 8) // 200) + 1
        assert got.requests == sum(1 for c in sim.rest_log if c.target.startswith("/v1/candles/"))


@pytest.mark.parametrize("border_has_candle", [True, False])
async def test_the_candle_at_a_page_border_is_neither_lost_nor_doubled(border_has_candle):
    """Pages meet at a ``to``: the candle opening exactly there belongs to the newer page (Upbit's
    ``to`` is exclusive), the one just before it to the older page; each appears once."""
    async with _sim() as sim, _client(sim) as rest:
        own = _upbit_own(sim)
        opens = {c.open_time_ns // MS for c in own}
        border = next(t for t in range(END_MS - 600 * MIN, 0, -MIN)
                      if (t in opens) == border_has_candle and t - MIN in opens)
        lo, hi = border - 200 * MIN, border + 200 * MIN
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=lo * MS, end=hi * MS)
        assert got.requests == 2
        assert sorted(_candle_tos(sim)) == sorted(
            datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in (border, hi))
        got_opens = [c.open_time_ns // MS for c in got.candles]
        assert got_opens.count(border) == (1 if border_has_candle else 0)
        assert got_opens.count(border - MIN) == 1
        assert [_key(c) for c in got.candles] == [_key(c) for c in _upbit_own(sim, lo, hi)]


@pytest.mark.parametrize(("venue", "want", "pages"), [("binance-usdm", 2000, 2), ("binance-spot", 1700, 2)])
async def test_binance_klines_beyond_one_page_equal_the_simulators(venue, want, pages):
    async with _sim() as sim, _client(sim) as rest:
        expect = _binance_own(sim, venue)[-want:]
        got = await fetch_candles(rest, venue, "FOOUSDT", "1m", count=want, end=END)
        assert [_key(c) for c in got.candles] == [_key(c) for c in expect] and len(expect) == want
        assert got.requests == pages and got.complete
        _ascending_once(got.candles)
        # a range: exactly [start, end), in slot-bounded pages of the venue's size
        lo, hi = END_MS - 2900 * MIN, END_MS - 7 * MIN
        got = await fetch_candles(rest, venue, "FOOUSDT", "1m", start=lo * MS, end=hi * MS)
        assert [_key(c) for c in got.candles] == [_key(c) for c in _binance_own(sim, venue, lo, hi)]
        assert len(got.candles) == 2893 and got.requests == (2 if venue == "binance-usdm" else 3)


async def test_a_range_is_exactly_the_candles_opening_in_it_whatever_the_bounds():
    async with _sim() as sim, _client(sim) as rest:
        start = datetime.fromtimestamp((END_MS - 450 * MIN) / 1000, UTC) + timedelta(seconds=20)
        end = datetime.fromtimestamp((END_MS - 20 * MIN) / 1000, UTC) + timedelta(milliseconds=1)
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=start, end=end)
        # opens at or after start (so not the minute start falls in), before end (so the one it does)
        lo, hi = END_MS - 449 * MIN, END_MS - 19 * MIN
        assert [_key(c) for c in got.candles] == [_key(c) for c in _upbit_own(sim, lo, hi)]
        assert got.requests == 3  # 430 minutes, 200 a page


async def test_fill_inserts_the_minutes_without_trades_flagged():
    async with _sim() as sim, _client(sim) as rest:
        lo, hi = END_MS - 700 * MIN, END_MS - 300 * MIN
        own = {c.open_time_ns: c for c in _upbit_own(sim, 0, hi)}
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=lo * MS, end=hi * MS, fill=True)
        assert [c.open_time_ns // MS for c in got.candles] == list(range(lo, hi, MIN))  # every minute
        filled = [c for c in got.candles if c.fill]
        assert filled and len(filled) == 400 - sum(1 for t in own if t >= lo * MS)
        prev = max((c for t, c in own.items() if t < lo * MS), key=lambda c: c.open_time_ns)
        for c in got.candles:
            if c.fill:
                assert c.open == c.high == c.low == c.close == prev.close and c.volume == 0
                assert c.quote_volume == 0 and c.closed and c.open_time_ns not in own
            else:
                assert _key(c) == _key(own[c.open_time_ns])
                prev = c
        assert got.requests == 3  # 400 minutes and the one before them (its close), 200 a page
        # a count with fill counts minutes: 500 consecutive ones
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=500, end=END, fill=True)
        assert [c.open_time_ns // MS for c in got.candles] == list(range(END_MS - 500 * MIN, END_MS, MIN))
        assert any(c.fill for c in got.candles) and got.complete


async def test_the_newest_count_ends_with_the_forming_candle_and_only_closed_ones_are_cached():
    async with _sim() as sim, _client(sim) as rest:
        own = _upbit_own(sim)
        newest = own[-1].open_time_ns
        now = newest + 30 * 1_000_000_000  # half way through the newest candle's minute
        cache = DictCache()
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=300, now_ns=now, cache=cache)
        assert [_key(c) for c in got.candles] == [_key(c) for c in own[-300:]]
        assert got.candles[-1].closed is False and all(c.closed for c in got.candles[:-1])
        assert cache.puts and all(c.closed for c in cache.puts) and newest not in {c.open_time_ns for c in cache.puts}
        # what was put has no hole: every candle of the simulator between its first and last
        lo, hi = cache.puts[0].open_time_ns, cache.puts[-1].open_time_ns
        assert [_key(c) for c in cache.puts] == [_key(c) for c in own if lo <= c.open_time_ns <= hi]
        # recorded as covered: from the oldest period asked up to the newest closed one
        assert len(cache.ranges) == 1 and cache.ranges[0][0] <= lo and cache.ranges[0][1] == newest
        # asked again: the closed minutes from the cache, the forming one from REST
        again = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=300, now_ns=now, cache=cache)
        assert again.source == "cache+rest" and again.requests == 1 < got.requests
        assert [_key(c) for c in again.candles] == [_key(c) for c in got.candles]


class DictCache:
    """An in-memory cache of closed candles that answers a range only when it was stored whole."""

    def __init__(self) -> None:
        self.rows: dict[int, object] = {}
        self.ranges: list[tuple[int, int]] = []
        self.puts: list = []
        self.gets = 0

    def get(self, venue, symbol, interval, start_ns, end_ns):
        self.gets += 1
        if any(a <= start_ns and end_ns <= b for a, b in self.ranges):
            return [c for t, c in sorted(self.rows.items()) if start_ns <= t < end_ns]
        return None

    def put(self, candles, *, covered):
        assert all(covered[0] <= c.open_time_ns < covered[1] and c.closed for c in candles)
        self.puts.extend(candles)
        self.ranges.append(covered)
        for c in candles:
            self.rows[c.open_time_ns] = c


async def test_a_cached_range_needs_no_request():
    async with _sim() as sim, _client(sim) as rest:
        lo, hi = END_MS - 500 * MIN, END_MS - 100 * MIN
        cache = DictCache()
        first = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=lo * MS, end=hi * MS, cache=cache)
        assert first.source == "rest" and first.requests == 2 and cache.puts
        assert (lo * MS, hi * MS) in cache.ranges  # the whole range, recorded as it was fetched
        again = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=lo * MS, end=hi * MS, cache=cache)
        assert again.source == "cache" and again.requests == 0
        assert [_key(c) for c in again.candles] == [_key(c) for c in first.candles]


@pytest.mark.parametrize("count", [0, -1, MAX_COUNT + 1])
async def test_a_bad_count_is_refused_before_any_request(count):
    async with _sim() as sim, _client(sim) as rest:
        with pytest.raises(BadRequestError, match=f"1..{MAX_COUNT}") as e:
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=count)
        assert isinstance(e.value, ValueError) and rest.requests == 0


async def test_bad_arguments_are_refused_clearly():
    async with _sim() as sim, _client(sim) as rest:
        with pytest.raises(UnknownIntervalError, match="1M, 1d, 1h, 1m, 1w") as e:
            await fetch_candles(rest, "upbit", "KRW-BTC", "2m", count=5)
        assert "4h" in e.value.choices
        with pytest.raises(UnknownIntervalError, match="12h"):
            await fetch_candles(rest, "binance-usdm", "FOOUSDT", "10m", count=5)
        with pytest.raises(BadRequestError, match="not count and start"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=5, start=END)
        with pytest.raises(BadRequestError, match="give count"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m")
        with pytest.raises(BadRequestError, match="holds no period"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=END, end=END - 1)
        with pytest.raises(BadRequestError, match="naive"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=datetime(2023, 11, 14), end=END)  # noqa: DTZ001
        with pytest.raises(BadRequestError, match="periods"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", start=0, end=END)
        with pytest.raises(BadRequestError, match="concurrency"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=5, concurrency=0)
        assert rest.requests == 0


class SlowTransport(httpx.AsyncBaseTransport):
    """The network with ``delay`` seconds more latency per request; counts requests in flight."""

    def __init__(self, delay: float) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.delay = delay
        self.inflight = self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            await asyncio.sleep(self.delay)
            return await self.inner.handle_async_request(request)
        finally:
            self.inflight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_concurrent_pages_finish_sooner_than_sequential_ones_under_the_same_limit():
    """1200 Upbit candles, 0.15 s of latency a request: the sequential baseline takes at least
    that per page; concurrent pages overlap it (several in flight), with the same answer."""
    delay = 0.15
    runs = {}
    for concurrency in (1, 8):
        # A simulator each: the simulator's per-second count must not carry one run into the other.
        transport = SlowTransport(delay)
        async with _sim() as sim, _client(sim, transport=transport) as rest:
            t = time.monotonic()
            got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=1200, end=END,
                                      concurrency=concurrency)
            runs[concurrency] = (time.monotonic() - t, got, transport.peak)
            assert not sim.venue("upbit").limits.stats()["127.0.0.1"]["refused"]  # type: ignore[union-attr]
    (seq_s, seq, seq_peak), (con_s, con, con_peak) = runs[1], runs[8]
    assert [_key(c) for c in con.candles] == [_key(c) for c in seq.candles]
    assert con.requests == seq.requests >= 6
    assert seq_peak == 1 and con_peak >= 5  # the first wave's six pages go out together
    assert seq_s >= seq.requests * delay  # each page waited for the one before
    assert con_s < seq_s
    print(f"1200 Upbit candles, {con.requests} pages, {delay} s latency: sequential {seq_s:.2f} s, "
          f"concurrent {con_s:.2f} s, {seq_s / con_s:.1f}x")


async def test_many_pages_stay_within_the_simulators_per_second_limit():
    """3000 candles is more pages than Upbit's 10 a second: the limiter spaces them and the
    simulator (which counts per address and second) refuses none."""
    async with _sim(history_minutes=4000) as sim:
        # A wider margin than the default: client and simulator share one loaded event loop here.
        limits = {**VENUE_LIMITS, "upbit": replace(UPBIT, margin_s=0.3)}
        async with _client(sim, limiter=Limiter(limits)) as rest:
            got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=3000, end=END)
        assert len(got.candles) == 3000 and got.requests >= 15
        assert [_key(c) for c in got.candles] == [_key(c) for c in _upbit_own(sim)[-3000:]]
        stats = sim.venue("upbit").limits.stats()["127.0.0.1"]  # type: ignore[union-attr]
        assert not stats["refused"].get("candle")
        assert sum(stats["accepted"]["candle"].values()) == got.requests
        assert max(stats["accepted"]["candle"].values()) <= 10



async def test_a_count_beyond_the_venues_history_answers_all_there_is():
    async with _sim(history_minutes=300) as sim, _client(sim) as rest:
        own = _upbit_own(sim)
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=1000, end=END)
        assert not got.complete and 200 < len(own) < 300
        assert [_key(c) for c in got.candles] == [_key(c) for c in own]
        assert got.requests == 6  # the planned pages (1125 minutes); short ones say history began


async def test_a_failing_page_cancels_the_others_and_raises_as_itself():
    async with _sim() as sim, _client(sim) as rest:
        sim.fault("rest_error", status=500, times=1, path="/v1/candles/")
        with pytest.raises(VenueUnavailableError, match="HTTP 500"):
            await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=1000, end=END)
        # a 429 on one page is waited out and asked again by the client: the answer is whole
        sim.fault("rest_error", status=429, times=1, retry_after=0.2, path="/v1/candles/")
        got = await fetch_candles(rest, "upbit", "KRW-BTC", "1m", count=1000, end=END)
        assert [_key(c) for c in got.candles] == [_key(c) for c in _upbit_own(sim)[-1000:]]


@pytest.mark.parametrize(("name", "unit", "count"), [("15m", 15, 250), ("1h", 60, 60), ("1d", "days", 2)])
async def test_upbit_longer_intervals_page_on_their_own_grid(name, unit, count):
    async with _sim(history_minutes=5000) as sim, _client(sim) as rest:
        market = sim.venue("upbit").market
        market.activate("KRW-BTC")
        iv = interval("upbit", name)
        end_ms = iv.floor(END_MS)  # a whole period before the stream: history alone
        rows = [c for c in market.candles("KRW-BTC", unit) if c["start"] < end_ms][-count:]
        body = orjson.dumps([shape(c, unit, None) for c in rows])
        expect = upbit_candles(parse(body, "test"), recv_ns=0, now_ns=0, interval=name)
        got = await fetch_candles(rest, "upbit", "KRW-BTC", name, count=count, end=end_ms * MS)
        assert [_key(c) for c in got.candles] == [_key(c) for c in expect] and len(expect) == count
        assert {c.interval for c in got.candles} == {name}
        assert got.requests == -(-count // 200)


def _thin_upbit(share: float, minutes: int, end_ms: int) -> tuple[list[dict], httpx.MockTransport]:
    """A fake Upbit whose market trades in about ``share`` of its minutes, paged by the
    simulator's own rule (``upbit_candles.page``); (its candles ascending, the transport)."""
    rng = random.Random(7)
    rows = [bar("KRW-THIN", t, 100.0, 101.0, 99.0, 100.5, t + 1000, 1.0, 100.0)
            for t in range(end_ms - minutes * MIN, end_ms, MIN) if rng.random() < share]

    def answer(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        body = page(rows, 1, to_ms=parse_to(q["to"]), count=parse_count(q.get("count")))
        return httpx.Response(200, content=orjson.dumps(body))

    return rows, httpx.MockTransport(answer)


@pytest.mark.parametrize("share", [0.3, 0.05])
async def test_a_thin_market_needs_more_waves_and_still_answers_exactly(share):
    """Most minutes without trades: the first wave falls short, later ones space their pages
    by the share of minutes that had a candle, and the answer is still the newest 1000."""
    rows, transport = _thin_upbit(share, 40_000, END_MS)
    fast = {**VENUE_LIMITS, "upbit": replace(UPBIT, groups={**UPBIT.groups, "candle": GroupLimit(1000, 1.0)})}
    async with RestClient(transport=transport, limiter=Limiter(fast)) as rest:
        got = await fetch_candles(rest, "upbit", "KRW-THIN", "1m", count=1000, end=END)
    assert [c.open_time_ns // MS for c in got.candles] == [r["start"] for r in rows[-1000:]]
    assert got.complete
    assert got.requests <= 3 * 5 + 2  # a bounded number of waves, not a page per missing minute
