"""Gate end to end against the simulator: bytes in == bytes journaled, reconnect, resync, ping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from recorder.journal.reader import JournalReader
from state.events import BookDelta, BookSnapshot, BookTicker, DecodeError, Trade
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import Journal, Running, assert_byte_exact, config_doc, frames, until

pytestmark = pytest.mark.timeout(60)

SPOT = ["spot.order_book_update", "spot.trades", "spot.book_ticker"]
FUTURES = ["futures.order_book_update", "futures.trades", "futures.book_ticker"]
ROOT = Path(__file__).resolve().parents[3]


def sim(**kw) -> Simulator:
    return Simulator(venues=("gate",), speed=kw.pop("speed", 20), seed=3, **kw)


def gate_config(data: Path, urls, symbols, channels, *, market="spot", supervision=None, **extra):
    from recorder.daemon import build_config

    doc = config_doc(data, urls, supervision=supervision)
    doc["venue"] = [{"venue": "gate", "symbols": symbols, "channels": channels, "market": market,
                     "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **extra}]
    return build_config(doc)



def _rest(j: Journal, symbol: str) -> list:
    return [r for r in j.rest() if r.meta["url"].split("?")[1].split("&")[0].endswith("=" + symbol)]


def _project(j: Journal) -> tuple[Projector, list]:
    p = Projector(j.streams)
    events = []
    for rec in j.records:
        events += p.apply(rec)
    return p, events


@pytest.mark.parametrize("market,symbols,channels", [
    ("spot", ["OMG_USDT", "BTC_USDT"], SPOT),  # a captured symbol and a synthetic one
    ("futures", ["OMG_USDT", "BTC_USDT"], FUTURES),
])
async def test_every_channel_byte_exact_snapshots_and_projection(tmp_path, market, symbols, channels):
    async with sim() as s:
        cfg = gate_config(tmp_path, s.urls, symbols, channels, market=market)
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["gate"]
            await until(lambda: len(f.fetched) == 2, 10, "both snapshots")
            await until(lambda: frames(rec) > 150, 15, "150 frames")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 150
    (info,) = j.ws_streams("gate")
    assert info.url.endswith("/ws/v4/" if market == "spot" else "/v4/ws/usdt")
    assert info.market == market  # the fold keys futures books by it (futures:OMG_USDT)
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    subs = [m for m in sent if m.get("event") == "subscribe"]
    assert {m["channel"] for m in subs} == set(channels)
    books = [m["payload"] for m in subs if m["channel"].endswith("order_book_update")]
    assert [b[0] for b in books] == symbols and all(b[1] == "100ms" for b in books)
    acks = [orjson.loads(p) for _, p in j.frames(info.id) if b'"event":"subscribe"' in p]
    assert len(acks) == len(subs) and all(a["result"] == {"status": "success"} for a in acks)
    for sym in symbols:
        (snap,) = _rest(j, sym)
        assert snap.meta["status"] == 200 and b'"id":' in snap.payload
    p, events = _project(j)
    assert not [e for e in events if isinstance(e, DecodeError)]
    key = (lambda sym: sym) if market == "spot" else (lambda sym: f"futures:{sym}")
    kinds = {type(e) for e in events}
    assert {BookDelta, BookSnapshot, Trade} <= kinds
    if market == "futures":
        assert BookTicker in kinds  # the decoder knows futures.book_ticker (not spot's, yet)
    for sym in symbols:
        book = p.book("gate", key(sym))
        assert book is not None
    assert p.books_needing_snapshot() == []


async def test_drop_reconnects_resubscribes_and_resnapshots(tmp_path):
    async with sim() as s:
        cfg = gate_config(tmp_path, s.urls, ["BTC_USDT"], ["spot.order_book_update", "spot.trades"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["gate"]
            await until(lambda: f.fetched.get("BTC_USDT") == 1, 10, "the first snapshot")
            await until(lambda: frames(rec) > 30, 10, "frames")
            aborted = set(s.fault("drop", venue="gate")["conns"])
            assert aborted
            await until(lambda: len(s.connections) >= 2, 10, "the reconnect")
            await until(lambda: f.fetched.get("BTC_USDT") == 2, 10, "a snapshot after the reconnect")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 30, 10, "frames after the reconnect")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    streams = j.ws_streams("gate")
    assert len(streams) == 2
    first = j.kinds(streams[0].id, "close")[0]
    assert first.meta["code"] == 1006 and first.meta["by"] == "peer"
    resent = [orjson.loads(r.payload)["channel"] for r in j.kinds(streams[1].id, "sent")]
    assert resent == ["spot.order_book_update", "spot.trades"]
    assert len(_rest(j, "BTC_USDT")) == 2
    p, events = _project(j)
    assert not [e for e in events if isinstance(e, DecodeError)]
    assert p.books_needing_snapshot() == []


@pytest.mark.parametrize("market,symbol,gap_key", [
    ("spot", "BTC_USDT", "BTC_USDT"), ("futures", "ETH_USDT", "futures:ETH_USDT")])
async def test_update_id_gap_resyncs_that_book(tmp_path, market, symbol, gap_key):
    async with sim() as s:
        cfg = gate_config(tmp_path, s.urls, [symbol, "SOL_USDT"], [f"{market}.order_book_update"],
                          market=market)
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["gate"]
            await until(lambda: len(f.fetched) == 2, 10, "start snapshots")
            await asyncio.sleep(0.3)  # let both chains go live on their snapshots
            s.fault("gap", venue="gate", symbol=gap_key, count=2)
            await until(lambda: f.fetched.get(symbol) == 2, 5, "the resync snapshot")
            await asyncio.sleep(0.3)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    assert len(_rest(j, symbol)) == 2 and len(_rest(j, "SOL_USDT")) == 1
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert (gap["venue"], gap["symbol"]) == ("gate", symbol) and gap["got"] != gap["expected"]
    mark_rec = [r for r in j.records if r.kind == "mark"][0]
    assert mark_rec.seq < _rest(j, symbol)[1].seq
    p, _ = _project(j)
    assert p.books_needing_snapshot() == []


async def test_ping_keeps_a_quiet_connection_through_the_idle_cut(tmp_path):
    """The simulator cuts a client silent for 1 s; the recorder pings every 0.3 s, so a
    2 s data silence (shorter than the 5 s stale cut) costs no connection."""
    async with sim(gate_idle_timeout_s=1.0) as s:
        cfg = gate_config(tmp_path, s.urls, ["BTC_USDT"], ["spot.trades"], ping_interval_s=0.3)
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 3, 10, "frames")
            s.fault("silence", venue="gate", seconds=2.0)
            await asyncio.sleep(2.5)
            base = frames(rec)
            await until(lambda: frames(rec) > base + 3, 10, "frames after the silence")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert len(s.connections) == 1 and len(j.ws_streams("gate")) == 1
    (info,) = j.ws_streams("gate")
    pings = [r.payload for r in j.kinds(info.id, "sent") if b"ping" in r.payload]
    assert len(pings) >= 6 and set(pings) == {b'{"channel":"spot.ping"}'}
    assert any(b'"channel":"spot.pong"' in p for _, p in j.frames(info.id))
    assert not [r for r in j.errors() if r.meta.get("reason") == "stale"]
    assert_byte_exact(s, j)


async def test_unknown_symbol_is_journaled_as_an_error_reply(tmp_path):
    """The refusal is journaled as the frame it is (no ``error`` record yet: the compiled
    core has no Gate frame rules, so the daemon does not read replies)."""
    async with sim(gate_symbols=("BTC_USDT",)) as s:
        # one book request a symbol: BTC_USDT's is answered, NOPE_USDT's refused
        cfg = gate_config(tmp_path, s.urls, ["BTC_USDT", "NOPE_USDT"], ["spot.order_book_update"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 5, 10, "frames")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (info,) = j.ws_streams("gate")
    replies = [orjson.loads(p) for _, p in j.frames(info.id) if b'"error":{' in p]
    assert replies[0]["error"] == {"code": 2, "message": "unknown currency pair NOPE_USDT"}
    assert_byte_exact(s, j)


async def test_recorder_run_cli(tmp_path):
    """``recorder run --venue gate --symbols ... --channels ...`` (spot, the default market)."""
    async with sim() as s:
        argv = [str(Path(sys.executable).parent / "recorder"), "run", "--venue", "gate",
                "--symbols", "OMG_USDT,BTC_USDT", "--channels", ",".join(SPOT),
                "--data", str(tmp_path / "data"), "--duration", "3", "--ws-url", s.urls.ws,
                "--rest-url", s.urls.rest, "--metrics-port", "0",
                "--log-file", str(tmp_path / "recorder.log")]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=env,
                                                    stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 45)
        assert proc.returncode == 0, err.decode()[-2000:]
    j = Journal(tmp_path / "data")
    assert_byte_exact(s, j)
    with JournalReader(tmp_path / "data") as reader:
        p = Projector(reader.streams())
        bad = [e for rec in reader.read() for e in p.apply(rec) if isinstance(e, DecodeError)]
    assert bad == []
    text = b"".join(p for info in j.ws_streams("gate") for _, p in j.frames(info.id))
    for channel in SPOT:
        assert b'"channel":"%s","event":"subscribe"' % channel.encode() in text
    assert b'"spot.order_book_update","event":"update"' in text and b'"spot.trades","event":"update"' in text


async def test_a_symbol_added_while_running_is_subscribed_live_and_gets_a_snapshot(tmp_path):
    """Added on the open connection (one request per channel, the book's naming one symbol),
    and its book synced by a snapshot like the first ones."""
    async with sim() as s:
        cfg = gate_config(tmp_path, s.urls, ["BTC_USDT"], FUTURES, market="futures")
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["gate"]
            await until(lambda: f.fetched.get("BTC_USDT") == 1, 10, "the first snapshot")
            assert rec.subscribe("gate", ["eth_usdt", "BTC_USDT"]) == (["ETH_USDT"], ["BTC_USDT"])
            assert rec.last_change == {"live": ["gate.futures.0"], "new": [], "closed": []}
            await until(lambda: f.fetched.get("ETH_USDT") == 1, 10, "the added symbol's snapshot")
            await asyncio.sleep(0.3)
            assert len(s.connections) == 1
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    (only,) = j.ws_streams("gate")
    assert only.market == "futures"
    sent = [orjson.loads(r.payload) for r in j.kinds(only.id, "sent")]
    live = sent[len(FUTURES):]
    assert sorted(m["channel"] for m in live) == sorted(FUTURES)
    assert all(m["payload"][0] == "ETH_USDT" and "id" in m for m in live)
    p, events = _project(j)
    assert not [e for e in events if isinstance(e, DecodeError)]
    assert p.book("gate", "futures:ETH_USDT") is not None and p.books_needing_snapshot() == []
