"""MarketData(attach=DATA) over a running recorder: answers from its live table, asks it to
subscribe what it lacks, journals REST replies into its journal, and falls back to REST once
the recorder is gone."""

from __future__ import annotations

import asyncio
import time

import pytest

from query.market.api import MarketData, Routing
from query.market.errors import VenueUnavailableError
from recorder.journal.reader import JournalReader
from tests.recorder.daemon.helpers import Running, config, until
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(120)


async def _wait_source(call, want: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        got = await call()
        if got.source == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got.source!r}, not {want!r}")
        await asyncio.sleep(0.05)


async def test_attached_answers_from_memory_subscribes_what_it_lacks_and_journals_rest(tmp_path):
    async with Simulator(source="synthetic", speed=1.0, seed=71, upbit_codes=("KRW-BTC", "KRW-ETH"),
                         binance_symbols=("BTCUSDT",)) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], upbit=["KRW-BTC"],
                     binance_channels=["depth", "aggTrade", "bookTicker", "ticker"])
        urls = {v: s.urls.rest for v in ("upbit", "binance-usdm", "binance-spot")}
        async with Running(cfg) as rec:
            md = MarketData(attach=str(tmp_path), rest_urls=urls, routing=Routing(ttl_ms={}))
            async with md:
                t = await _wait_source(lambda: md.ticker("upbit", "BTC-KRW"), "memory")
                assert t.symbol == "KRW-BTC" and t.prev_close is not None and t.change_rate is not None
                book = await _wait_source(lambda: md.orderbook("binance-usdm", "BTC-USDT-PERP", depth=5),
                                          "memory")
                assert len(book.bids) == 5 and book.bids[0][0] < book.asks[0][0]
                perp = await _wait_source(lambda: md.ticker("binance-usdm", "BTCUSDT"), "memory")
                assert perp.high is not None and perp.volume is not None  # the 24 h ticker channel
                # not recorded: REST, and asked three times the recorder subscribes it
                assert [(await md.ticker("upbit", "KRW-ETH")).source for _ in range(3)] == ["rest"] * 3
                eth = await _wait_source(lambda: md.ticker("upbit", "KRW-ETH"), "memory")
                assert eth.symbol == "KRW-ETH"
                assert rec.venues()["upbit"] == ["KRW-BTC", "KRW-ETH"]
                snap = {(x.venue, x.symbol): x for x in md.snapshot()}
                assert {("upbit", "KRW-BTC"), ("upbit", "KRW-ETH"), ("binance-usdm", "BTCUSDT")} <= set(snap)
                assert all(x.healthy for x in snap.values())
            await until(lambda: md.memory.journal_failures == 0, 1, "journal sent")
        # the REST replies the API fetched are in the recorder's journal
        with JournalReader(str(tmp_path)) as reader:
            rest = [r for r in reader.read() if r.kind == "rest" and (r.meta or {}).get("via") == "control"]
        urls_journaled = [r.meta["url"] for r in rest]
        assert sum(u.endswith("/v1/ticker?markets=KRW-ETH") for u in urls_journaled) >= 3  # each REST answer
        assert any(u.endswith("/v1/market/all") for u in urls_journaled)


async def test_attach_without_a_recorder_is_a_clear_error_and_a_stopped_one_falls_back(tmp_path):
    with pytest.raises(VenueUnavailableError, match="no recorder runs at"):
        async with MarketData(attach=str(tmp_path)):
            pass
    async with Simulator(source="synthetic", speed=1.0, seed=72, upbit_codes=("KRW-BTC",)) as s:
        cfg = config(tmp_path, s.urls, upbit=["KRW-BTC"])
        urls = {"upbit": s.urls.rest}
        running = Running(cfg)
        await running.__aenter__()
        md = MarketData(attach=str(tmp_path), rest_urls=urls, routing=Routing(ttl_ms={}))
        async with md:
            await _wait_source(lambda: md.ticker("upbit", "KRW-BTC"), "memory")
            await running.stop()
            t = await _wait_source(lambda: md.ticker("upbit", "KRW-BTC"), "rest", timeout=10)
            assert t.symbol == "KRW-BTC"
