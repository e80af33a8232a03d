"""MarketData's routing: memory when fresh, REST otherwise, and the REST side's manners
(shared in-flight calls, TTLs, limits, breakers, classified errors), against the simulator
on loopback and a fake memory."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import orjson
import pytest

from query.market import (
    BadResponseError,
    MarketDataError,
    StaleDataError,
    UnknownSymbolError,
    UnknownVenueError,
    VenueUnavailableError,
)
from query.market.api import MarketData, Routing
from query.market.breaker import BreakerPolicy
from query.market.errors import BadRequestError
from query.market.limits import Priority
from tools.simulator import Simulator

from .fake_memory import FakeMemory

CODES = ("KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE")


def _sim(**kw) -> Simulator:
    kw = {"venues": ("upbit", "binance-usdm"), "source": "synthetic", "seed": 3, "speed": 1.0,
          "upbit_codes": CODES, "binance_symbols": ("BTCUSDT", "ETHUSDT"), **kw}
    return Simulator(**kw)


def _urls(sim: Simulator) -> dict[str, str]:
    return {v: sim.urls.rest for v in ("upbit", "binance-usdm", "binance-spot")}


async def _stats(sim: Simulator) -> dict:
    async with httpx.AsyncClient() as c:
        return (await c.get(f"{sim.urls.rest}/_sim/stats")).json()


async def test_rest_answers_every_kind_with_native_or_normalized_names():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim)) as md:
        await asyncio.sleep(0.3)
        a = await md.ticker("upbit", "KRW-BTC")
        b = await md.ticker("upbit", "btc-krw")
        assert (a.venue, a.symbol, a.norm, a.source) == ("upbit", "KRW-BTC", "BTC-KRW", "rest")
        assert b.symbol == "KRW-BTC" and b.last == a.last
        book = await md.orderbook("upbit", "KRW-ETH", depth=3)
        assert len(book.bids) <= 3 and len(book.asks) <= 3 and book.source == "rest"
        assert book.bids[0][0] < book.asks[0][0] and book.spread == book.asks[0][0] - book.bids[0][0]
        md.routing = Routing(ttl_ms={})
        for _ in range(100):  # a quiet market has no trades yet: wait for some
            trades = await md.trades("upbit", "KRW-BTC", limit=5)
            if trades:
                break
            await asyncio.sleep(0.1)
        assert 1 <= len(trades) <= 5
        assert [t.exch_ts_ns for t in trades] == sorted(t.exch_ts_ns for t in trades)
        perp = await md.ticker("binance-usdm", "BTC-USDT-PERP")
        assert perp.symbol == "BTCUSDT" and perp.source == "rest"
        fb = await md.orderbook("binance-usdm", "BTCUSDT", depth=7)
        assert len(fb.bids) == 7 and len(fb.asks) == 7
        spot = await md.ticker("binance-spot", "BTC-USDT")
        assert (spot.venue, spot.symbol, spot.norm, spot.source) == ("binance-spot", "BTCUSDT", "BTC-USDT", "rest")
        sb = await md.orderbook("binance-spot", "ETHUSDT", depth=3)
        assert len(sb.bids) == 3 and sb.bids[0][0] < sb.asks[0][0]
        st = await md.trades("binance-spot", "BTCUSDT", limit=3)
        assert len(st) == 3 and all(t.venue == "binance-spot" for t in st)
        both = await md.tickers("binance-spot", ["BTCUSDT", "ETHUSDT"])
        assert [t.symbol for t in both] == ["BTCUSDT", "ETHUSDT"]


async def test_189_style_many_tickers_in_one_call_keep_the_order_asked():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim)) as md:
        await asyncio.sleep(0.3)
        every = await md.symbols("upbit")
        before = md.rest.requests
        ts = await md.tickers("upbit", "all")
        assert [t.symbol for t in ts] == list(every)
        assert md.rest.requests - before == 1
        some = await md.tickers("upbit", ["ETH-KRW", "KRW-BTC"])
        assert [t.symbol for t in some] == ["KRW-ETH", "KRW-BTC"]


async def test_bad_names_and_ranges_name_the_valid_choices():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim)) as md:
        with pytest.raises(UnknownVenueError, match="valid: binance-spot, binance-usdm, upbit"):
            await md.ticker("bitthumb", "KRW-BTC")
        with pytest.raises(UnknownSymbolError, match="KRW-BTC"):
            await md.ticker("upbit", "KRW-NOPE")
        for bad in (0, -1, 1001, 2.5, True):
            with pytest.raises(BadRequestError, match="1 to 1000"):
                await md.orderbook("upbit", "KRW-BTC", depth=bad)
            with pytest.raises(BadRequestError, match="1 to 1000"):
                await md.trades("upbit", "KRW-BTC", limit=bad)
        # Every one of them is a MarketDataError and a ValueError.
        with pytest.raises(ValueError):
            await md.ticker("upbit", "KRW-NOPE")


async def test_identical_requests_in_flight_share_one_call_and_a_ttl_keeps_the_second():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim)) as md:
        await asyncio.sleep(0.3)
        await md.symbols("upbit")
        before = md.rest.requests
        got = await asyncio.gather(*[md.ticker("upbit", "KRW-BTC") for _ in range(20)])
        assert md.rest.requests - before == 1
        assert len({t.last for t in got}) == 1
        await md.ticker("upbit", "KRW-BTC")  # within the ticker's 1 s TTL
        assert md.rest.requests - before == 1
        md.routing = Routing(ttl_ms={})
        await md.ticker("upbit", "KRW-BTC")
        assert md.rest.requests - before == 2


async def test_no_second_of_requests_exceeds_upbits_limit_even_with_another_program_on_the_ip():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim), routing=Routing(ttl_ms={})) as md:
        await asyncio.sleep(0.3)
        await md.symbols("upbit")

        async def other_program():  # the same address asks too, outside our limiter
            async with httpx.AsyncClient() as c:
                for _ in range(12):
                    await c.get(f"{sim.urls.rest}/v1/ticker?markets=KRW-BTC")
                    await asyncio.sleep(0.25)

        other = asyncio.create_task(other_program())
        await asyncio.gather(*[md.ticker("upbit", CODES[i % len(CODES)]) for i in range(45)])
        await other
        stats = (await _stats(sim))["rate_limits"]["upbit"]
        for counts in stats.values():
            assert not counts["refused"], counts["refused"]
            for per_second in counts["accepted"].values():
                assert max(per_second.values()) <= 10


async def test_a_critical_request_goes_ahead_of_a_low_flood_in_the_same_group():
    async with _sim() as sim, MarketData(live=False, rest_urls=_urls(sim), routing=Routing(ttl_ms={})) as md:
        await asyncio.sleep(0.3)
        await md.symbols("upbit")
        done: list[float] = []
        t0 = time.monotonic()

        async def low(i: int):
            await md.trades("upbit", CODES[i % len(CODES)], limit=1 + i, priority=Priority.LOW)
            done.append(time.monotonic() - t0)

        async def critical() -> float:
            await asyncio.sleep(0.3)  # the flood is queued first: 4 s of the trade group's budget
            t = time.monotonic()
            await md.trades("upbit", "KRW-BTC", limit=7, priority=Priority.CRITICAL)
            return time.monotonic() - t

        *_, waited = await asyncio.gather(*[low(i) for i in range(40)], critical())
        # It waits for the next free slot of the group (at most a second), never for the flood.
        assert waited < 1.2, waited
        assert max(done) > 3.0
        assert sum(1 for d in done if d < 0.3 + waited) < 40 - 20


async def test_memory_first_then_rest_while_stale_then_memory_again():
    mem = FakeMemory()
    now = time.time_ns()
    async with _sim() as sim, MarketData(memory=mem, rest_urls=_urls(sim), routing=Routing(ttl_ms={})) as md:
        await asyncio.sleep(0.3)
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=now, last="123")
        t = await md.ticker("upbit", "KRW-BTC")
        assert t.source == "memory" and str(t.last) == "123"
        b = await md.orderbook("upbit", "KRW-BTC", depth=2)
        assert b.source == "memory" and [str(p) for p, _ in b.bids] == ["99", "98"]
        # stale: received 11 s ago (stale_ms 10 s) -> REST
        mem.put("upbit", "KRW-BTC", seq=2, ts_ns=time.time_ns() - 11_000_000_000, last="124")
        assert (await md.ticker("upbit", "KRW-BTC")).source == "rest"
        # connection down -> REST; an invalid book -> REST for the book only
        mem.put("upbit", "KRW-BTC", seq=3, ts_ns=time.time_ns(), up=False)
        assert (await md.ticker("upbit", "KRW-BTC")).source == "rest"
        mem.put("upbit", "KRW-BTC", seq=4, ts_ns=time.time_ns(), valid=False, last="125")
        assert (await md.ticker("upbit", "KRW-BTC")).source == "memory"
        assert (await md.orderbook("upbit", "KRW-BTC")).source == "rest"
        # healthy again -> memory
        mem.put("upbit", "KRW-BTC", seq=5, ts_ns=time.time_ns(), last="126")
        t = await md.ticker("upbit", "KRW-BTC")
        assert t.source == "memory" and str(t.last) == "126"
        assert (await md.orderbook("upbit", "KRW-BTC", depth=2)).source == "memory"
        # deeper than the memory keeps -> REST
        assert (await md.orderbook("upbit", "KRW-BTC", depth=25)).source == "rest"
        # every REST reply went to the journal before it was answered
        assert mem.journaled and all(r.status == 200 for r in mem.journaled)


async def test_a_repeated_memory_read_is_kept_until_the_state_changes():
    mem = FakeMemory()
    async with MarketData(memory=mem, live=False) as md:
        md.universe.set("upbit", ["KRW-BTC"])
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=time.time_ns())
        first = await md.ticker("upbit", "KRW-BTC")
        built = mem.views_built
        for _ in range(50):
            again = await md.ticker("upbit", "KRW-BTC")
        assert mem.views_built == built and again.last == first.last
        mem.put("upbit", "KRW-BTC", seq=2, ts_ns=time.time_ns(), last="200")
        assert str((await md.ticker("upbit", "KRW-BTC")).last) == "200"


async def test_max_age_refuses_old_memory_then_old_rest():
    mem = FakeMemory()
    async with _sim() as sim, MarketData(memory=mem, rest_urls=_urls(sim), routing=Routing(ttl_ms={})) as md:
        await asyncio.sleep(0.3)
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=time.time_ns() - 3_000_000_000)
        assert (await md.ticker("upbit", "KRW-BTC")).source == "memory"
        t = await md.ticker("upbit", "KRW-BTC", max_age_ms=60_000)
        assert t.source == "memory"
        # memory is 3 s old: asked for 1 s, REST is tried; the simulator's ticker is as old
        # as its last trade, so a 0 ms bound cannot be met by anyone
        with pytest.raises(StaleDataError, match="at most 0 ms"):
            await md.ticker("upbit", "KRW-BTC", max_age_ms=0)


async def test_asked_three_times_in_ten_seconds_subscribes_once():
    mem = FakeMemory()
    async with _sim() as sim, MarketData(memory=mem, rest_urls=_urls(sim)) as md:
        await asyncio.sleep(0.3)
        for _ in range(2):
            await md.ticker("upbit", "KRW-ETH")
        await asyncio.sleep(0)
        assert mem.wanted == []
        await md.ticker("upbit", "KRW-ETH")
        for _ in range(5):
            await md.ticker("upbit", "KRW-ETH")
            await asyncio.sleep(0)
        assert mem.wanted == [("upbit", ["KRW-ETH"])]
        # a memory that cannot subscribe the venue is never asked
        mem2 = FakeMemory(subscribable=())
        md.memory = mem2
        for _ in range(4):
            await md.ticker("upbit", "KRW-XRP")
        assert mem2.wanted == []


async def test_snapshot_reads_every_served_symbol_without_io():
    mem = FakeMemory()
    async with MarketData(memory=mem, live=False) as md:
        now = time.time_ns()
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=now, last="1")
        mem.put("binance-usdm", "BTCUSDT", seq=2, ts_ns=now - 60_000_000_000, last="2")
        snap = {(s.venue, s.symbol): s for s in md.snapshot()}
        assert set(snap) == {("upbit", "KRW-BTC"), ("binance-usdm", "BTCUSDT")}
        assert snap[("upbit", "KRW-BTC")].healthy and not snap[("binance-usdm", "BTCUSDT")].healthy
        assert str(snap[("upbit", "KRW-BTC")].ticker.last) == "1"
        assert snap[("upbit", "KRW-BTC")].orderbook.bids[0][0] == 99
        assert md.rest.requests == 0
        assert [s.venue for s in md.snapshot(["upbit"])] == ["upbit"]


async def test_subscribe_yields_each_change_from_memory():
    mem = FakeMemory()
    async with MarketData(memory=mem, live=False, routing=Routing(poll_s=0.05)) as md:
        md.universe.set("upbit", ["KRW-BTC"])
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=time.time_ns(), last="1")
        got = []

        async def consume():
            async for t in md.subscribe("ticker", "upbit", ["KRW-BTC"]):
                got.append(str(t.last))
                if len(got) == 3:
                    return

        task = asyncio.create_task(consume())
        for i in (2, 3):
            await asyncio.sleep(0.05)
            mem.put("upbit", "KRW-BTC", seq=i, ts_ns=time.time_ns(), last=str(i))
        await asyncio.wait_for(task, 5)
        assert got == ["1", "2", "3"]
        assert mem.wanted == [("upbit", ["KRW-BTC"])]
        with pytest.raises(MarketDataError, match="valid: orderbook, ticker, trades"):
            async for _ in md.subscribe("candles", "upbit", ["KRW-BTC"]):
                pass


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_a_dead_venue_opens_its_circuit_and_then_fails_fast():
    mem = FakeMemory()
    url = f"http://127.0.0.1:{_closed_port()}"
    md = MarketData(memory=mem, rest_urls={"upbit": url}, timeout_s=1.0,
                    breaker=BreakerPolicy(failures=3, open_s=30.0))
    async with md:
        md.universe.set("upbit", ["KRW-BTC"])
        t0 = time.monotonic()
        for _ in range(3):
            with pytest.raises(VenueUnavailableError, match="ConnectError"):
                await md.ticker("upbit", "KRW-BTC")
        t1 = time.monotonic()
        with pytest.raises(VenueUnavailableError, match="circuit open"):
            await md.ticker("upbit", "KRW-BTC")
        assert time.monotonic() - t1 < 0.05 and t1 - t0 < 3.0
        assert [(m["mark"], m["old"], m["new"]) for m in md.marks] == [("circuit", "closed", "open")]
        assert mem.marked[0][0] == "circuit" and mem.marked[0][1]["group"] == "ticker"


async def test_a_venue_that_never_answers_ends_in_a_clear_error_within_the_timeout():
    async def silent(reader, writer):
        await asyncio.sleep(60)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        md = MarketData(live=False, rest_urls={"upbit": f"http://127.0.0.1:{port}"}, timeout_s=0.5,
                        breaker=BreakerPolicy(failures=2, open_s=30.0))
        async with md:
            md.universe.set("upbit", ["KRW-BTC"])
            t0 = time.monotonic()
            for _ in range(2):
                with pytest.raises(VenueUnavailableError, match="Timeout"):
                    await md.ticker("upbit", "KRW-BTC")
            with pytest.raises(VenueUnavailableError, match="circuit open"):
                await md.ticker("upbit", "KRW-BTC")
            assert time.monotonic() - t0 < 2.5
    finally:
        server.close()


async def test_a_body_that_is_not_json_and_a_5xx_are_classified():
    def handler(request: httpx.Request) -> httpx.Response:
        if "ticker" in request.url.path:
            return httpx.Response(200, content=b"<html>maintenance</html>")
        if "orderbook" in request.url.path:
            return httpx.Response(503, content=b"upstream down")
        return httpx.Response(200, content=orjson.dumps([{"market": "KRW-BTC"}]))

    mem = FakeMemory(subscribable=())
    async with MarketData(memory=mem, transport=httpx.MockTransport(handler),
                          rest_urls={"upbit": "http://upbit.test"}) as md:
        with pytest.raises(BadResponseError, match="not JSON|JSON"):
            await md.ticker("upbit", "KRW-BTC")
        with pytest.raises(VenueUnavailableError, match="HTTP 503"):
            await md.orderbook("upbit", "KRW-BTC")
        # both bodies were journaled as they came
        assert [r.body for r in mem.journaled][-2:] == [b"<html>maintenance</html>", b"upstream down"]


async def test_a_429_waits_as_told_and_then_answers():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if "market/all" in request.url.path:
            return httpx.Response(200, content=orjson.dumps([{"market": "KRW-BTC"}]))
        if len(calls) == 2:
            return httpx.Response(429, content=b"Too many API requests.", headers={"Retry-After": "0.3"})
        return httpx.Response(200, content=orjson.dumps([{
            "market": "KRW-BTC", "trade_price": 1, "timestamp": 1, "high_price": 1, "low_price": 1,
            "acc_trade_volume_24h": 0, "acc_trade_price_24h": 0, "prev_closing_price": 1,
            "signed_change_price": 0, "signed_change_rate": 0}]))

    async with MarketData(live=False, transport=httpx.MockTransport(handler),
                          rest_urls={"upbit": "http://upbit.test"}) as md:
        t = await md.ticker("upbit", "KRW-BTC")
        assert t.last == 1 and len(calls) == 3 and calls[2] - calls[1] >= 0.29


async def test_400_cached_one_minute_candles_are_served_again_without_rest(tmp_path):
    async with _sim(history_minutes=1000) as sim:
        md = MarketData(live=False, rest_urls=_urls(sim), cache_dir=str(tmp_path))
        async with md:
            now_min = time.time_ns() // 60_000_000_000 * 60_000_000_000
            start, end = now_min - 500 * 60_000_000_000, now_min - 100 * 60_000_000_000
            first = await md.candle_result("upbit", "KRW-BTC", "1m", start=start, end=end)
            assert first.source == "rest" and first.requests >= 2 and len(first.candles) > 300
            again = await md.candle_result("upbit", "KRW-BTC", "1m", start=start, end=end)
            assert again.source == "cache" and again.requests == 0
            assert [(c.open_time_ns, c.close, c.volume) for c in again.candles] == \
                [(c.open_time_ns, c.close, c.volume) for c in first.candles]
            assert {c.source for c in again.candles} == {"archive"}
            # a count up to now: the completed ones from the cache, the forming one from REST
            n = await md.candle_result("upbit", "KRW-BTC", "1m", count=400)
            m = await md.candle_result("upbit", "KRW-BTC", "1m", count=400)
            assert len(m.candles) == 400 and m.source == "cache+rest" and m.requests == 1, (n, m.requests)
        # the cache is the archive's layout: one Parquet table for every symbol, read by DuckDB
        files = sorted((tmp_path / "archive" / "candles").rglob("*.parquet"))
        assert files and all("venue=upbit" in str(f) and "interval=1m" in str(f) for f in files)


async def test_the_forming_candle_comes_from_the_trades_in_memory_not_rest():
    from state.events import Trade as TradeEvent

    mem = FakeMemory()
    async with _sim(history_minutes=600) as sim, MarketData(memory=mem, rest_urls=_urls(sim)) as md:
        await asyncio.sleep(0.3)
        now = time.time_ns()
        period = now // 60_000_000_000 * 60_000_000_000
        mem.put("upbit", "KRW-BTC", seq=1, ts_ns=now, norm="BTC-KRW")
        ts = [period + 1_000_000, period + 2_000_000, min(now, period + 3_000_000)]
        trades = [TradeEvent("upbit", "KRW-BTC", "BTC-KRW", t, t, i + 1, p, "0.5", "buy", str(i))
                  for i, (t, p) in enumerate(zip(ts, ("100", "105", "99"), strict=True))]
        mem.live_trades[("upbit", "KRW-BTC")] = (trades, period - 5_000_000_000)  # complete since before
        md.clock = lambda: max(now, ts[-1] + 1)
        res = await md.candle_result("upbit", "KRW-BTC", "1m", count=250)
        assert res.source == "rest+memory" and len(res.candles) == 250
        last = res.candles[-1]
        assert (last.open_time_ns, last.source, last.closed) == (period, "memory", False)
        assert (str(last.open), str(last.high), str(last.low), str(last.close), str(last.volume)) == \
            ("100", "105", "99", "99", "1.5")
        assert all(c.closed and c.source == "rest" for c in res.candles[:-1])
        assert res.candles[-2].open_time_ns < period
        # trades complete only since after the period began: the forming candle is REST's
        mem.live_trades[("upbit", "KRW-BTC")] = (trades, period + 1)
        res = await md.candle_result("upbit", "KRW-BTC", "1m", count=5)
        assert all(c.source == "rest" for c in res.candles)
