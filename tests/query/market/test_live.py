"""MarketData with connections of its own (the embedded recorder) against the simulator:
asked often -> subscribed on the fly (live, on the open connection) without reconnecting -> memory; a silent
stream -> REST -> memory again; everything it answered is in its journal and replays to the
same state."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from query.market.api import MarketData, Routing
from recorder.journal.reader import JournalReader
from state.projector import Projector
from tools.simulator import Simulator

CODES = ("KRW-BTC", "KRW-ETH", "KRW-XRP")


def _sim(**kw) -> Simulator:
    kw = {"venues": ("upbit", "binance-usdm"), "source": "synthetic", "seed": 8, "speed": 1.0,
          "upbit_codes": CODES, "binance_symbols": ("BTCUSDT",), **kw}
    return Simulator(**kw)


def _md(sim: Simulator, data_dir, **kw) -> MarketData:
    urls = {v: sim.urls.rest for v in ("upbit", "binance-usdm", "binance-spot")}
    ws = {v: sim.urls.ws for v in ("upbit", "binance-usdm")}
    return MarketData(data_dir=str(data_dir), rest_urls=urls, ws_urls=ws, **kw)


async def _until(fn, timeout: float = 15.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def test_asked_often_is_subscribed_then_answered_from_memory_others_untouched(tmp_path):
    async with _sim() as sim, _md(sim, tmp_path / "md") as md:
        await md.want("upbit", ["KRW-ETH"])  # a first subscription, whose connection must stay
        await _until(lambda: _source(md, "KRW-ETH", "memory"))
        first = [c for c in sim.connections if c.venue == "upbit"]
        assert len(first) == 1 and first[0].closed_at is None
        sources = [(await md.ticker("upbit", "KRW-BTC")).source for _ in range(3)]
        assert sources == ["rest", "rest", "rest"]
        t = await _until(lambda: _source(md, "KRW-BTC", "memory"))
        assert t.symbol == "KRW-BTC" and t.age_ms < 10_000
        upbit = [c for c in sim.connections if c.venue == "upbit"]
        assert upbit == first and first[0].closed_at is None  # subscribed live on the open one
        book = await md.orderbook("upbit", "KRW-BTC", depth=5)
        assert book.source == "memory" and len(book.bids) == 5 and book.bids[0][0] < book.asks[0][0]
        # the trades received since it was subscribed are kept: trades() and the forming candle
        await _until(lambda: _has_trades(md, "KRW-BTC"))
        kept, since = md.memory.kept_trades("upbit", "KRW-BTC")
        assert since <= min(t.exch_ts_ns for t in kept)
        last = await md.trades("upbit", "KRW-BTC", limit=1)
        assert last[0].source == "memory" and last[0].trade_id == kept[-1].trade_id
        perp = await md.orderbook("binance-usdm", "BTCUSDT", depth=5)  # REST first
        assert perp.source == "rest"
        await md.want("binance-usdm", ["BTCUSDT"])
        b = await _until(lambda: _book_source(md, "binance-usdm", "BTCUSDT", "memory"))
        assert len(b.bids) == 5  # the diff book synced from a REST snapshot, then memory


async def _has_trades(md: MarketData, code: str) -> bool:
    return md.memory.kept_trades("upbit", code) is not None


async def _source(md: MarketData, code: str, want: str):
    t = await md.ticker("upbit", code)
    return t if t.source == want else None


async def _book_source(md: MarketData, venue: str, symbol: str, want: str):
    b = await md.orderbook(venue, symbol, depth=5)
    return b if b.source == want else None


async def test_a_silent_stream_falls_back_to_rest_and_comes_back_to_memory(tmp_path):
    async with _sim() as sim, _md(sim, tmp_path / "md", routing=Routing(stale_ms=1500, ttl_ms={})) as md:
        await md.want("upbit", ["KRW-BTC"])
        await _until(lambda: _source(md, "KRW-BTC", "memory"))
        sim.fault("silence", venue="upbit", seconds=3.0)
        await _until(lambda: _source(md, "KRW-BTC", "rest"), timeout=10)
        t = await _until(lambda: _source(md, "KRW-BTC", "memory"), timeout=20)
        assert t.age_ms < 1500


async def test_what_it_answered_is_journaled_and_replays_to_the_same_state(tmp_path):
    data = tmp_path / "md"
    async with _sim() as sim:
        md = _md(sim, data)
        async with md:
            await md.want("upbit", ["KRW-BTC", "KRW-XRP"])
            await _until(lambda: _source(md, "KRW-BTC", "memory"))
            await md.ticker("upbit", "KRW-ETH")  # REST: journaled
            await asyncio.sleep(1.0)
            live = md.memory.projector.digest()
            live_seq = md.memory.projector.last_seq
    with JournalReader(str(data)) as reader:
        records = list(reader.read())
        streams = reader.streams()
    kinds = {r.kind for r in records}
    assert {"frame", "rest"} <= kinds
    rest = [r for r in records if r.kind == "rest" and r.meta["url"].endswith("/v1/ticker?markets=KRW-ETH")]
    assert len(rest) == 1 and rest[0].meta["status"] == 200 and b'"market":"KRW-ETH"' in rest[0].payload
    replay = Projector(streams, depth_levels=20)
    replay.apply_many(r for r in records if r.seq <= live_seq)
    assert replay.digest() == live


async def test_a_dead_venue_opens_its_circuit_and_the_mark_is_journaled(tmp_path):
    data = tmp_path / "md"
    async with _sim() as sim:
        urls = {"upbit": "http://127.0.0.1:9"}
        md = MarketData(data_dir=str(data), rest_urls=urls, ws_urls={"upbit": sim.urls.ws}, timeout_s=1.0)
        async with md:
            md.universe.set("upbit", list(CODES))
            for _ in range(3):
                with pytest.raises(Exception, match="unavailable"):
                    await md.ticker("upbit", "KRW-BTC")
            with pytest.raises(Exception, match="circuit open"):
                await md.ticker("upbit", "KRW-BTC")
    with JournalReader(str(data)) as reader:
        marks = [r for r in reader.read() if r.kind == "mark" and b"circuit" in r.payload]
    assert [(m["venue"], m["group"], m["old"], m["new"]) for m in map(json.loads, (r.payload for r in marks))] \
        == [("upbit", "ticker", "closed", "open")]
