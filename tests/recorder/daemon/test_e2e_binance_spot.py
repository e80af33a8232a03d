"""Binance spot end to end against the simulator: bytes in == bytes journaled, reconnects,
gap resyncs, the heartbeat through a quiet spell, and the projection decodes every frame."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from recorder.daemon import build_config
from recorder.journal.reader import JournalReader
from recorder.venues import binance_spot as bs
from state.events import Anomaly, DecodeError
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import Journal, Running, assert_byte_exact, config_doc, until

pytestmark = pytest.mark.timeout(90)
VENUE = "binance-spot"
ALL = ["depth", "depth20", "trade", "aggTrade", "bookTicker", "kline_1m", "ticker"]
BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TICKTAPE_")}


def sim(**kw) -> Simulator:
    """The spot venue alone (USD-M would keep the shared paths), capture plus synthetic."""
    return Simulator(venues=(VENUE,), source="capture", speed=kw.pop("speed", 20), seed=3,
                     start_ms=1_700_000_000_000, **kw)


def spot_config(data: Path, urls, symbols: list[str], channels: list[str], *,
                supervision: dict | None = None, **extra):
    doc = config_doc(data, urls, supervision=supervision)
    doc["venue"] = [{"venue": VENUE, "symbols": symbols, "channels": channels,
                     "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **extra}]
    return build_config(doc)


def _frames(rec) -> int:
    return sum(lk.frames for lk in rec.links.values())


def _decode_problems(j: Journal) -> list:
    """DecodeErrors, and Anomalies other than trade-id order: ``trade`` (``t``) and
    ``aggTrade`` (``a``) number differently, so a symbol recording both looks out of order."""
    p = Projector(j.streams)
    bad = []
    for rec in j.records:
        bad += [e for e in p.apply(rec) if isinstance(e, DecodeError) or (
            isinstance(e, Anomaly) and e.kind not in ("out_of_order_trade", "duplicate_trade"))]
    return bad


async def test_every_channel_byte_exact_and_decoded(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT", "BTCUSDT"], ALL)  # capture + synthetic
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 600, 20, "600 frames")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 600
    (info,) = j.ws_streams(VENUE)
    assert info.market == "spot" and info.url.startswith(s.urls.ws + "/stream?streams=nknusdt@depth@100ms/")
    text = b"".join(p for _, p in j.frames(info.id))
    for needle in (b'"depthUpdate"', b'"lastUpdateId"', b'"e":"trade"', b'"e":"aggTrade"', b'"e":"kline"',
                   b'@bookTicker","data":{"u":', b'"24hrTicker"', b'"s":"NKNUSDT"', b'"s":"BTCUSDT"'):
        assert needle in text, needle
    assert b'"pu":' not in text  # spot diffs
    assert {r.meta["url"].split("symbol=")[1].split("&")[0] for r in j.rest()} == {"NKNUSDT", "BTCUSDT"}
    assert all("/api/v3/depth" in r.meta["url"] and r.meta["status"] == 200 for r in j.rest())
    assert _decode_problems(j) == []
    p = Projector(j.streams)
    p.apply_many(j.records)
    assert p.books_needing_snapshot() == []
    # depth20 beside depth: the diff book syncs by its REST snapshot alone (no gap, no resync)
    assert [m for m in j.marks() if m["mark"] == "gap"] == []
    assert len(j.rest("NKNUSDT")) == len(j.rest("BTCUSDT")) == 1


async def test_depth_books_sync_without_gaps(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT", "BTCUSDT"], [c for c in ALL if c != "depth20"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 600, 20, "600 frames")
            await asyncio.sleep(1.6)  # past a capture loop (30 s at speed 20): its bridge diff
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    assert [m for m in j.marks() if m["mark"] == "gap"] == []
    assert len(j.rest("NKNUSDT")) == len(j.rest("BTCUSDT")) == 1
    assert _decode_problems(j) == []
    p = Projector(j.streams)
    p.apply_many(j.records)
    assert p.books_needing_snapshot() == []


async def test_drop_reconnects_and_resnapshots(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT"], ["depth", "bookTicker"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers[VENUE]
            await until(lambda: f.fetched.get("NKNUSDT", 0) == 1 and _frames(rec) > 50, 10, "live")
            aborted = set(s.fault("drop", venue=VENUE)["conns"])
            assert aborted
            await until(lambda: len(s.connections) >= 2, 10, "the reconnect")
            await until(lambda: f.fetched.get("NKNUSDT", 0) >= 2, 10, "a snapshot after it")
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 50, 10, "frames after the reconnect")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    streams = j.ws_streams(VENUE)
    assert len(streams) == 2
    assert j.kinds(streams[0].id, "close")[0].meta["code"] == 1006
    assert len(j.rest("NKNUSDT")) == 2
    assert _decode_problems(j) == []


async def test_server_shutdown_is_recorded_and_followed_by_a_reconnect(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT"], ["depth", "aggTrade"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers[VENUE]
            await until(lambda: f.fetched.get("NKNUSDT", 0) == 1 and _frames(rec) > 30, 10, "live")
            (cut,) = await s.venue(VENUE).server_shutdown(1_770_123_456_789)
            await until(lambda: len(s.connections) >= 2 and f.fetched.get("NKNUSDT", 0) >= 2, 10,
                        "the reconnect and its snapshot")
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 20, 10, "frames after it")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    first, _ = j.ws_streams(VENUE)
    assert j.frames(first.id)[-1] == (False, b'{"stream":"!serverShutdown","data":'
                                             b'{"e":"serverShutdown","E":1770123456789}}')
    assert j.kinds(first.id, "close")[0].meta["code"] == 1001
    assert _decode_problems(j) == []


async def test_update_id_gap_resyncs_that_book(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT", "BTCUSDT"], ["depth"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers[VENUE]
            await until(lambda: len(f.fetched) == 2, 10, "start snapshots")
            await asyncio.sleep(0.5)  # both chains live on their snapshots
            s.fault("gap", symbol="BTCUSDT", count=2)
            await until(lambda: f.fetched.get("BTCUSDT") == 2, 5, "the resync snapshot")
            await asyncio.sleep(0.3)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert len(j.rest("BTCUSDT")) == 2 and len(j.rest("NKNUSDT")) == 1
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert (gap["venue"], gap["symbol"]) == (VENUE, "BTCUSDT") and gap["got"] != gap["expected"]
    assert rec.metrics.gaps == {(VENUE, "BTCUSDT"): 1}
    assert_byte_exact(s, j)
    p = Projector(j.streams)
    p.apply_many(j.records)
    assert p.books_needing_snapshot() == []


async def test_heartbeat_kept_through_a_quiet_spell(tmp_path):
    # The simulator pings every 0.2 s and cuts after 0.5 s without a pong; the feed goes
    # silent for 1.5 s, shorter than the 3 s stale cut: the connection must survive.
    async with sim(binance_spot_ping_interval_s=0.2, binance_spot_pong_timeout_s=0.5) as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT"], ["bookTicker", "aggTrade"],
                          supervision={"stale_after_s": 3.0})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 10, 10, "frames")
            s.fault("silence", venue=VENUE, seconds=1.5)
            pings = s.connections[0].pings_sent
            await asyncio.sleep(2.0)
            assert s.connections[0].pings_sent >= pings + 5
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 5, 10, "data after the silence")
            assert await run.stop() == 0
    assert len(s.connections) == 1 and s.connections[0].close_code == 1000  # ours, at the stop
    assert sum(sv.reconnects for sv in rec.supervisors) == 0
    assert_byte_exact(s, Journal(tmp_path))


async def test_recorder_run_cli_records_spot(tmp_path):
    seconds = 3.0
    async with sim() as s:
        argv = ["run", "--venue", VENUE, "--symbols", "NKNUSDT,BTCUSDT", "--channels",
                "depth,trade,bookTicker,depth20", "--data", str(tmp_path / "data"),
                "--duration", str(seconds), "--ws-url", s.urls.ws, "--rest-url", s.urls.rest,
                "--metrics-port", "0", "--log-file", str(tmp_path / "recorder.log")]
        proc = await asyncio.create_subprocess_exec(str(BIN / "recorder"), *argv, env=ENV,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
        finally:
            if proc.returncode is None:  # stopped by its pid, as it was started
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    j = Journal(tmp_path / "data")
    assert assert_byte_exact(s, j) > 20
    (info,) = j.ws_streams(VENUE)
    assert "btcusdt@depth20@100ms" in info.url
    assert _decode_problems(j) == []
    with JournalReader(tmp_path / "data") as reader:
        assert reader.last_seq == j.records[-1].seq


async def test_subscribe_mode_acks_and_records(tmp_path):
    async with sim() as s:
        cfg = spot_config(tmp_path, s.urls, ["NKNUSDT", "BTCUSDT"], ["depth", "trade"], subscribe=True)
        run = Running(cfg)
        async with run as rec:
            await until(lambda: len(rec.fetchers[VENUE].fetched) == 2 and _frames(rec) > 100, 10, "live")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    (info,) = j.ws_streams(VENUE)
    assert info.url == s.urls.ws + "/stream"
    (sent,) = j.kinds(info.id, "sent")
    assert sent.payload == bs.subscribe_message(
        ["nknusdt@depth@100ms", "nknusdt@trade", "btcusdt@depth@100ms", "btcusdt@trade"], 1)
    assert j.frames(info.id)[0] == (False, b'{"result":null,"id":1}')
    assert [m for m in j.marks() if m["mark"] == "gap"] == []
    assert _decode_problems(j) == []
