"""Phemex end to end against the simulator on 127.0.0.1: the CLI records every channel byte for
byte, a dropped connection comes back with a fresh book snapshot, the heartbeat holds a quiet
connection open, and the projection decodes everything."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest

from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from state.events import Anomaly, BookDelta, BookSnapshot, DecodeError, Gap, Kline, Trade
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import FAST, Journal, Running, assert_byte_exact, until

pytestmark = pytest.mark.timeout(90)

BIN = Path(sys.executable).parent
CAPTURED = ["XTZUSD", "sSUSHIUSDT"]  # in the real capture
SYNTHETIC = "BTCUSD"  # not in it: the simulator makes it up
ALL = ["orderbook", "trade", "kline"]


def sim(**kw) -> Simulator:
    return Simulator(venues=("phemex",), speed=kw.pop("speed", 20), seed=3, **kw)


def doc(data: Path, urls, *, symbols, channels=ALL, venue: dict | None = None,
        supervision: dict | None = None) -> dict:
    return {
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": {**FAST, **(supervision or {})},
        "compaction": {"enabled": False},
        "venue": [{"venue": "phemex", "symbols": symbols, "channels": channels,
                   "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **(venue or {})}],
    }


def project(data: Path) -> tuple[Projector, list, list]:
    """The journal folded by ``state``: the projector, every event, and the bad ones."""
    events, bad = [], []
    with JournalReader(data) as reader:
        p = Projector(reader.streams())
        for rec in reader.read():
            evs = p.apply(rec)
            events += evs
            bad += [e for e in evs if isinstance(e, DecodeError | Anomaly)]
    return p, events, bad


def _data_frames(rec) -> int:
    return sum(lk.frames for lk in rec.links.values())


async def test_recorder_run_cli_records_every_channel_byte_exact(tmp_path):
    async with sim() as s:
        argv = ["run", "--venue", "phemex", "--symbols", ",".join([*CAPTURED, SYNTHETIC]),
                "--channels", ",".join(ALL), "--data", str(tmp_path / "data"), "--duration", "4",
                "--ws-url", s.urls.ws, "--rest-url", s.urls.rest, "--metrics-port", "0",
                "--log-file", str(tmp_path / "recorder.log")]
        proc = await asyncio.create_subprocess_exec(str(BIN / "recorder"), *argv,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode() + out.decode()
    data = tmp_path / "data"
    j = Journal(data)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 100
    (info,) = j.ws_streams("phemex")
    assert info.url == s.urls.ws
    kinds = [r.kind for r in j.by_stream[info.id]]
    assert kinds[0] == "open" and kinds[-1] == "close"
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    subs = [m for m in sent if m["method"] != "server.ping"]
    got = [(m["method"], m["params"][0]) for m in subs]
    order = list(dict.fromkeys(sym for _, sym in got))  # the venue's list order (universe)
    assert sorted(order) == sorted([*CAPTURED, SYNTHETIC])
    assert got == [(f"{ch}.subscribe", sym) for sym in order for ch in ALL]
    frames = [orjson.loads(p) for _, p in j.frames(info.id)]
    acks = [f for f in frames if "result" in f and f["result"] != "pong"]
    assert len(acks) == 9 and all(a["error"] is None for a in acks)
    with JournalReader(data) as reader:
        assert verify(reader).ok
    p, events, bad = project(data)
    assert bad == []
    seen = {(type(e).__name__, e.symbol) for e in events if isinstance(e, BookSnapshot | BookDelta | Trade | Kline)}
    for sym in [*CAPTURED, SYNTHETIC]:
        assert ("BookSnapshot", sym) in seen and ("BookDelta", sym) in seen, sym
        assert ("Trade", sym) in seen and ("Kline", sym) in seen, sym
        assert p.book("phemex", sym).valid, sym
    assert not [e for e in events if isinstance(e, Gap)]


async def test_a_drop_reconnects_and_the_new_snapshot_resyncs_the_book(tmp_path):
    async with sim() as s:
        run = Running(_cfg(tmp_path, s.urls, symbols=CAPTURED, channels=["orderbook", "trade"]))
        async with run as rec:
            await until(lambda: _data_frames(rec) > 100, 15, "frames")
            aborted = set(s.fault("drop", venue="phemex")["conns"])
            assert aborted
            await until(lambda: len(s.connections) >= 2 and s.connections[1].frame_count > 50, 15,
                        "frames after the reconnect")
            assert await run.stop() == 0
            assert sum(sup.reconnects for sup in rec.supervisors) == 1
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    first, second = j.ws_streams("phemex")
    assert j.kinds(first.id, "close")[0].meta["code"] == 1006
    assert {r.meta["class"] for r in j.errors()} == {"network"}
    # the new connection subscribes again and its books start from a snapshot
    assert len(j.kinds(second.id, "sent")) >= 4
    books = [orjson.loads(p) for _, p in j.frames(second.id) if p.startswith(b'{"book"')]
    for sym in CAPTURED:
        assert next(b for b in books if b["symbol"] == sym)["type"] == "snapshot"
    p, events, bad = project(tmp_path)
    assert not [e for e in bad if isinstance(e, DecodeError)]
    # Phemex re-sends its last trades (type snapshot) on every subscribe: trades the first
    # connection already had, so the projection flags their times as going backwards (and
    # a repeated id: the decoder names a snapshot's trades by the message's sequence).
    reopened = j.kinds(second.id, "open")[0].seq
    assert all(e.kind in ("exch_ts_backwards", "duplicate_trade") and e.seq > reopened for e in bad), \
        [(e.kind, e.seq, e.detail) for e in bad][:5]
    snaps = [e for e in events if isinstance(e, BookSnapshot)]
    assert {e.symbol for e in snaps if e.seq > j.kinds(second.id, "open")[0].seq} == set(CAPTURED)
    assert all(p.book("phemex", sym).valid for sym in CAPTURED)


async def test_an_injected_gap_is_a_typed_break_healed_by_the_next_snapshot(tmp_path):
    """A repeated book message breaks "increasing"; the recorder has no Phemex resubscribe,
    so the book stays invalid until the venue's next snapshot (the looped capture sends one
    per symbol each loop, about every 1.6 s at speed 20)."""
    async with sim() as s:
        run = Running(_cfg(tmp_path, s.urls, symbols=["XTZUSD"], channels=["orderbook"]))
        async with run as rec:
            await until(lambda: _data_frames(rec) > 30, 15, "frames")
            s.fault("gap", venue="phemex", symbol="XTZUSD")
            await until(lambda: not s.venue("phemex").gaps, 10, "the gap sent")
            await asyncio.sleep(3.5)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    p, events, bad = project(tmp_path)
    assert not [e for e in bad if isinstance(e, DecodeError)]
    (gap,) = [e for e in events if isinstance(e, Gap)]
    assert gap.symbol == "XTZUSD" and gap.got is not None and gap.expected == gap.got + 1
    later = [e for e in events if isinstance(e, BookSnapshot) and e.seq > gap.seq]
    assert later and p.book("phemex", "XTZUSD").valid
    # the live projection told the recorder, which journaled the break (no fetch: no REST book)
    (mark,) = j.marks()
    assert mark == {"mark": "gap", "venue": "phemex", "symbol": "XTZUSD", "expected": gap.expected,
                    "got": gap.got, "source": "projection"}
    assert j.rest() == []


async def test_the_heartbeat_keeps_a_quiet_connection_open(tmp_path):
    """The simulator cuts a client silent for 1 s; a 2.5 s silence of the venue (shorter than
    the 5 s stale cut) passes on one connection because the recorder keeps pinging."""
    async with sim(source="synthetic", phemex_idle_timeout_s=1.0) as s:
        run = Running(_cfg(tmp_path, s.urls, symbols=[SYNTHETIC], channels=["trade"],
                           venue={"ping_interval_s": 0.3}))
        async with run as rec:
            await until(lambda: _data_frames(rec) > 5, 15, "frames")
            s.fault("silence", venue="phemex", seconds=2.5)
            await asyncio.sleep(3.0)
            base = _data_frames(rec)
            await until(lambda: _data_frames(rec) > base + 5, 10, "frames after the silence")
            assert await run.stop() == 0
    assert len(s.connections) == 1 and s.connections[0].close_reason != "heartbeat timeout"
    j = Journal(tmp_path)
    (info,) = j.ws_streams("phemex")
    pings = [r for r in j.kinds(info.id, "sent") if b"server.ping" in r.payload]
    assert len(pings) >= 8
    assert all(r.payload == b'{"id":0,"method":"server.ping","params":[]}' for r in pings)
    assert any(p == b'{"error":null,"id":0,"result":"pong"}' for _, p in j.frames(info.id))
    assert not j.errors()
    assert_byte_exact(s, j)
    assert project(tmp_path)[2] == []


async def test_a_symbol_added_while_running_is_subscribed_on_the_open_connection(tmp_path):
    async with sim() as s:
        run = Running(_cfg(tmp_path, s.urls, symbols=["XTZUSD"], channels=["orderbook", "trade"]))
        async with run as rec:
            await until(lambda: _data_frames(rec) > 20, 15, "frames")
            # spelled as the control socket may get it: upper-cased on the way in
            assert rec.subscribe("phemex", ["sENJUSDT", "XTZUSD"]) == (["SENJUSDT"], ["XTZUSD"])
            assert len(rec.last_change["live"]) == 1 and rec.last_change["new"] == []
            (sup,) = rec.supervisors
            await until(lambda: sup.changes_sent == 1 and not sup._pending, 15, "the acks")
            await asyncio.sleep(0.5)
            assert len(s.connections) == 1
            assert sup.plan.streams == ("orderbook:XTZUSD", "trade:XTZUSD",
                                        "orderbook:sENJUSDT", "trade:sENJUSDT")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    (only,) = j.ws_streams("phemex")
    assert only.channels == ("orderbook:XTZUSD", "trade:XTZUSD")
    subs = [orjson.loads(r.payload) for r in j.kinds(only.id, "sent")]
    assert [m["params"] for m in subs if m["method"] != "server.ping"][2:] == \
        [["sENJUSDT"], ["sENJUSDT"]]
    assert any(b'"symbol":"sENJUSDT"' in r.payload for r in j.kinds(only.id, "frame"))
    assert project(tmp_path)[2] == []


def _cfg(data: Path, urls, **kw):
    from recorder.daemon import build_config

    return build_config(doc(data, urls, **kw))
