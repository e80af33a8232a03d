"""Bybit v5 end to end against the simulator: bytes in == bytes journaled, drops, gaps, pings."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson
import pytest

from recorder.daemon import build_config
from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from state.events import DecodeError, Gap
from state.projector import Projector
from tools.simulator import Simulator

from . import helpers
from .helpers import Journal, Running, assert_byte_exact, frames, until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True, params=[False, True], ids=["plain", "deflate-offered"])
def compression(request, monkeypatch):
    """Each test with and without permessage-deflate offered (the simulator takes none)."""
    monkeypatch.setitem(helpers.FAST, "compression", request.param)
    return request.param


def bybit_config(data, urls, *, symbols, channels, market="spot", supervision=None, **extra):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": {**helpers.FAST, **(supervision or {})},
        "compaction": {"enabled": False},
        "venue": [{"venue": "bybit", "symbols": symbols, "channels": channels, "market": market,
                   "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **extra}],
    })


def fold(j: Journal) -> tuple[Projector, list]:
    """The journal through the projection: every event, none a DecodeError."""
    p = Projector(j.streams)
    events = [ev for rec in j.records for ev in p.apply(rec)]
    bad = [ev for ev in events if isinstance(ev, DecodeError)]
    assert not bad, bad[:3]
    return p, events



async def test_recorder_run_cli_spot_capture_byte_exact_and_decoded(tmp_path):
    """``recorder run --venue bybit`` (spot, the default market) on the real capture."""
    data = tmp_path / "data"
    async with Simulator(venues=("bybit",), speed=20, seed=5) as s:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--venue", "bybit",
            "--symbols", "BTCUSDT,ETHUSDT", "--channels", "orderbook.50,publicTrade,tickers",
            "--data", str(data), "--ws-url", s.urls.ws, "--rest-url", s.urls.rest,
            "--duration", "3", "--durability", "os",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ})
        _out, err = await asyncio.wait_for(proc.communicate(), 40)
        await until(lambda: all(c.closed_at is not None for c in s.connections), 5, "closed")
    assert proc.returncode == 0, err.decode()[-2000:]
    j = Journal(data)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 100
    (info,) = j.ws_streams("bybit")
    assert info.url == s.urls.ws + "/v5/public/spot"
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    assert [len(m["args"]) for m in sent] == [6]  # 2 symbols x 3 channels, within spot's 10
    frames = [p for _, p in j.frames(info.id)]
    assert orjson.loads(frames[0])["ret_msg"] == "subscribe"
    p, events = fold(j)
    assert {type(e).__name__ for e in events} >= {"BookSnapshot", "BookDelta", "Trade", "Ticker"}
    assert not [e for e in events if isinstance(e, Gap)]
    for sym in ("BTCUSDT", "ETHUSDT"):  # bare spot keys (a symbol Bybit does not list is refused)
        assert p.book("bybit", sym) is not None and p.book("bybit", sym).valid
    assert p.books_needing_snapshot() == []
    with JournalReader(data) as reader:
        assert verify(reader).ok


async def test_linear_drop_reconnects_and_the_new_snapshot_resyncs(tmp_path):
    async with Simulator(venues=("bybit",), speed=20, seed=5) as s:
        cfg = bybit_config(tmp_path, s.urls, symbols=["BTCUSDT", "SOLUSDT"], market="linear",
                           channels=["orderbook.200", "publicTrade", "tickers"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 150, 10, "frames")
            aborted = set(s.fault("drop", venue="bybit")["conns"])
            await until(lambda: len(s.connections) >= 2, 10, "the reconnect")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 100, 10, "frames after the reconnect")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    streams = j.ws_streams("bybit")
    assert len(streams) == 2 and all(i.url.endswith("/v5/public/linear") for i in streams)
    assert j.kinds(streams[0].id, "close")[0].meta["code"] == 1006
    assert j.kinds(streams[1].id, "sent") and orjson.loads(j.frames(streams[1].id)[0][1])["success"]
    p, events = fold(j)
    snaps = [e for e in events if type(e).__name__ == "BookSnapshot" and e.symbol == "linear:BTCUSDT"]
    assert len(snaps) >= 2  # the second connection's subscription opened with a snapshot
    assert p.book("bybit", "linear:BTCUSDT").valid and p.books_needing_snapshot() == []
    assert p.market("bybit", "linear:SOLUSDT").norm == "SOL-USDT-PERP"


async def test_injected_gap_is_marked_and_resynced_by_a_resubscribe(tmp_path):
    """A broken ``u`` chain is a typed Gap, journaled as a mark; Bybit has no REST snapshot,
    so the recorder unsubscribes and subscribes that book on the same connection, and the
    venue's fresh snapshot resyncs it. The other book is left alone; nothing reconnects."""
    async with Simulator(venues=("bybit",), speed=20, seed=5, source="synthetic") as s:
        cfg = bybit_config(tmp_path, s.urls, symbols=["ABCUSDT", "DEFUSDT"],
                           channels=["orderbook.50", "publicTrade"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 30, 10, "frames")
            assert s.fault("gap", venue="bybit", symbol="ABCUSDT", count=2)["pending"] == 2
            await until(lambda: _resynced(s), 10, "the resubscribe answered with a snapshot")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 20, 10, "frames after the resync")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    (info,) = j.ws_streams("bybit")
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert (gap["venue"], gap["symbol"]) == ("bybit", "ABCUSDT") and gap["got"] == gap["expected"] + 2
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    resync = [m for m in sent if m.get("req_id", "").startswith("resync-")]
    assert [(m["op"], m["args"]) for m in resync] == [("unsubscribe", ["orderbook.50.ABCUSDT"]),
                                                      ("subscribe", ["orderbook.50.ABCUSDT"])]
    mark_seq = next(r.seq for r in j.records if r.kind == "mark")
    sent_seq = next(r.seq for r in j.kinds(info.id, "sent") if b"resync-" in r.payload)
    assert mark_seq < sent_seq
    p, events = fold(j)
    (g,) = [e for e in events if isinstance(e, Gap)]
    assert g.reason == "sequence" and g.got == g.expected + 2 and g.symbol == "ABCUSDT"
    snaps = [e for e in events if type(e).__name__ == "BookSnapshot"]
    assert [e.symbol for e in snaps if e.seq > sent_seq] == ["ABCUSDT"]
    assert p.book("bybit", "ABCUSDT").valid and p.books_needing_snapshot() == []


def _resynced(s) -> bool:
    """The simulator answered a resubscribe with the book's snapshot."""
    frames = s.sent(s.connections[0].id)
    acks = [i for i, f in enumerate(frames) if b'"req_id":"resync-' in f and b'"op":"subscribe"' in f]
    return bool(acks) and any(b'"type":"snapshot"' in f for f in frames[acks[-1]:])


async def test_ping_keeps_a_quiet_connection_through_the_idle_cut(tmp_path):
    """Subscribed to a channel with nothing to say, the connection carries only our pings
    and Bybit's pongs; the venue's idle cut (1 s here) never comes, nor does a reconnect."""
    async with Simulator(venues=("bybit",), speed=20, seed=5, source="synthetic",
                         bybit_idle_timeout_s=1.0) as s:
        cfg = bybit_config(tmp_path, s.urls, symbols=["ABCUSDT"], channels=["kline.1"],
                           ping_interval_s=0.3)
        run = Running(cfg)
        async with run:
            await asyncio.sleep(2.5)
            assert len(s.connections) == 1 and s.connections[0].closed_at is None
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (info,) = j.ws_streams("bybit")
    sent = [r.payload for r in j.kinds(info.id, "sent")]
    assert sent[1:] and all(x == b'{"op":"ping"}' for x in sent[1:]) and len(sent) >= 7
    pongs = [p for _, p in j.frames(info.id) if b'"ret_msg":"pong"' in p]
    assert len(pongs) >= 6
    assert j.kinds(info.id, "close")[0].meta["by"] == "us"
    assert not j.errors()
    assert_byte_exact(s, j)
    fold(j)


async def test_a_silent_feed_is_cut_by_the_watchdog_and_resubscribed(tmp_path):
    """Silence (no data, no pong) longer than the stale cut: the recorder closes with 4000,
    reconnects, subscribes again and the new subscription's snapshot makes the book valid."""
    async with Simulator(venues=("bybit",), speed=20, seed=5, source="synthetic") as s:
        cfg = bybit_config(tmp_path, s.urls, symbols=["ABCUSDT"], channels=["orderbook.200"],
                           market="linear", supervision={"stale_after_s": 0.6})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 20, 10, "frames")
            s.fault("silence", venue="bybit", seconds=5.0)
            await until(lambda: any(sv.stale for sv in rec.supervisors), 5, "the watchdog")
            await until(lambda: len(s.connections) >= 2, 5, "the replacement")
            await until(lambda: rec.projection.projector.book("bybit", "linear:ABCUSDT").valid
                        and rec.supervisors[0].links and rec.supervisors[0].links[0].data_frames > 10,
                        5, "data again")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    first, second = j.ws_streams("bybit")[:2]
    assert j.kinds(first.id, "close")[0].meta["code"] == 4000
    assert [r.meta.get("reason") for r in j.errors()] == ["stale"]
    assert j.kinds(second.id, "sent")[0].payload == j.kinds(first.id, "sent")[0].payload
    p, _ = fold(j)
    assert p.book("bybit", "linear:ABCUSDT").valid
