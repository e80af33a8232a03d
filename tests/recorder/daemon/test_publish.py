"""The live table (recorder.daemon.publish): a recorder against the simulator publishes
rows equal to its projection's state, names them in attach.json, beats, and removes both
when it stops; the table is off with [publish] or the projection off."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest
import ticktape_core

from recorder.daemon.publish import ATTACH_FILE, Publisher, live_dir, table_path
from recorder.importer import import_files
from recorder.journal.reader import JournalReader
from state.live_row import decode_row, row_key, row_of
from state.projector import Projector
from tests.conftest import capture_path
from tools.simulator import Simulator

from .helpers import Running, config, until

pytestmark = pytest.mark.timeout(90)


def _published(table, proj, pub, depth: int) -> list[tuple[str, str]]:
    """Compare every row with the projection's state (no await in between: nothing folds),
    once the rows marked since the loop's last turn are written."""
    pub.flush()
    keys = []
    for key, row in table.rows():
        venue, _, symbol = key.partition("/")
        payload = table.get(row)
        assert payload is not None, key
        assert decode_row(payload) == row_of(proj.projector.symbol_state(venue, symbol), depth), key
        keys.append((venue, symbol))
    return keys


async def test_rows_equal_the_projection(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=51) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"],
                     upbit=["KRW-BTC"], sections={"publish": {"depth": 5}})
        run = Running(cfg)
        async with run as rec:
            pub = rec.publisher
            assert pub is not None
            info = json.loads((live_dir(tmp_path) / ATTACH_FILE).read_text())
            assert info["pid"] == os.getpid() and info["table"] == pub.path
            assert info["table"] == str(table_path(tmp_path))
            assert Path(info["control"]).exists()
            want = {("binance-usdm", "BTCUSDT"), ("binance-usdm", "ETHUSDT"), ("upbit", "KRW-BTC")}
            table = ticktape_core.LiveTable.open(pub.path)
            await until(lambda: {tuple(k.split("/", 1)) for k, _ in table.rows()} >= want, 20,
                        "a row of every symbol")
            await until(lambda: pub.published > 300, 20, "300 rows published")
            for _ in range(5):  # at a few moments while records flow
                assert set(_published(table, rec.projection, pub, 5)) == set(rec.projection.projector.symbols())
                await until(lambda n=pub.published: pub.published > n + 20, 10, "more rows")
            row = decode_row(table.get(table.find(row_key("binance-usdm", "BTCUSDT"))))
            assert row.valid and 0 < len(row.bids) <= 5 and 0 < len(row.asks) <= 5
            assert float(row.bids[0][0]) < float(row.asks[0][0])
            beats = table.beats
            await until(lambda: table.beats > beats, 5, "a heartbeat")
            assert table.writer_pid == os.getpid()
            stats = pub.stats()
            assert stats["errors"] == 0 and stats["records"] > 0
            # publishing one record's symbol stays cheap (generous bound: shared CI cores)
            assert stats["cost_ns_per_record"] < 200_000, stats
            assert await run.stop() == 0
        assert not Path(pub.path).exists()
        assert not (live_dir(tmp_path) / ATTACH_FILE).exists()
        assert not Path(info["control"]).exists()


async def test_a_stopped_projection_stops_the_heartbeat(tmp_path):
    """Rows that no longer follow the feed must look stale to readers: no beat."""
    async with Simulator(source="synthetic", speed=20, seed=53) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"])
        async with Running(cfg) as rec:
            pub = rec.publisher
            assert pub is not None and rec.projection is not None
            table = ticktape_core.LiveTable.open(pub.path)
            await until(lambda: table.beats >= 2, 5, "heartbeats")
            rec.projection._fail("test: a bug in the fold")
            await asyncio.sleep(0.3)
            beats, published = table.beats, pub.published
            await asyncio.sleep(0.8)
            assert (table.beats, pub.published) == (beats, published)


async def test_off_with_publish_or_projection_off(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=52) as s:
        cfg = config(tmp_path / "a", s.urls, binance=["BTCUSDT"],
                     sections={"publish": {"enabled": False}})
        async with Running(cfg) as rec:
            assert rec.publisher is None and rec.control is None
            assert not (live_dir(tmp_path / "a") / ATTACH_FILE).exists()
        cfg = config(tmp_path / "b", s.urls, binance=["BTCUSDT"],
                     sections={"projection": {"enabled": False}})
        async with Running(cfg) as rec:
            assert rec.publisher is None and rec.control is not None
            info = json.loads((live_dir(tmp_path / "b") / ATTACH_FILE).read_text())
            assert info["table"] is None


def test_rows_too_large_are_published_shallower(tmp_path):
    import_files(tmp_path / "j", [capture_path("UPBIT")])
    with JournalReader(tmp_path / "j") as r:
        p = Projector(r.streams())
        p.apply_many(r.read())
    table = ticktape_core.LiveTable.create(str(tmp_path / "t"), 1000, 512, os.getpid())
    pub = Publisher(table, projector=p, depth=15, log=logging.getLogger("test"))
    for venue, symbol in p.symbols():
        pub.publish(venue, symbol)
    assert pub.errors == 0 and pub.shrunk > 0
    for key, row in table.rows():
        venue, _, symbol = key.partition("/")
        got = decode_row(table.get(row))
        full = row_of(p.symbol_state(venue, symbol), 15)
        assert got.bids == full.bids[:len(got.bids)] and got.last_trade == full.last_trade
    # a key the table refuses (too long) is an error counted, not a full table
    p.symbol_state = lambda venue, symbol: object()  # type: ignore[method-assign]
    pub.publish("upbit", "X" * 80)
    assert pub.errors == 1 and not pub.full
