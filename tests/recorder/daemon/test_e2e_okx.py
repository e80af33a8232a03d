"""OKX end to end against the simulator: bytes in == bytes journaled, ping/pong through a
quiet spell, reconnect after a drop, the projection decodes every frame."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson
import pytest

from recorder.daemon import build_config
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import FAST, Journal, Running, assert_byte_exact, frames, until

pytestmark = pytest.mark.timeout(90)


def sim(**kw) -> Simulator:
    return Simulator(venues=("okx",), speed=kw.pop("speed", 20), seed=3, **kw)


def okx_config(data, urls, symbols, channels, *, supervision=None, sections=None, **venue):
    return build_config({
        **(sections or {}),
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": {**FAST, **(supervision or {})},
        "compaction": {"enabled": False},
        "venue": [{"venue": "okx", "symbols": symbols, "channels": channels,
                   "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **venue}],
    })



def project(j: Journal) -> Projector:
    p = Projector(j.streams)
    p.apply_many(j.records)
    return p


def decode_errors(p: Projector) -> int:
    return sum(c.get("decode_error", 0) for c in p.counters.values())


async def test_recorder_run_cli_records_the_capture_byte_exact(tmp_path):
    """``recorder run --venue okx`` over the real capture: every frame journaled as sent,
    one subscribe message, acks and data of every channel, all decoded without a gap."""
    data = tmp_path / "data"
    async with sim() as s:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--venue", "okx",
            "--symbols", "BTC-USDT,UNI-USD-SWAP", "--channels", "books,trades,tickers",
            "--data", str(data), "--ws-url", s.urls.ws, "--rest-url", s.urls.rest,
            "--duration", "3", "--durability", "os",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    j = Journal(data)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 50
    (info,) = j.ws_streams("okx")
    assert info.url == s.urls.ws + "/ws/v5/public"
    (sent,) = j.kinds(info.id, "sent")
    assert orjson.loads(sent.payload)["args"][:3] == [
        {"channel": "books", "instId": "BTC-USDT"}, {"channel": "trades", "instId": "BTC-USDT"},
        {"channel": "tickers", "instId": "BTC-USDT"}]
    frames = [p for _, p in j.frames(info.id)]
    assert sum(p.startswith(b'{"event":"subscribe"') for p in frames) == 6
    for ch in (b"books", b"trades", b"tickers"):
        assert any(p.startswith(b'{"arg":{"channel":"' + ch + b'"') for p in frames), ch
    p = project(j)
    assert decode_errors(p) == 0
    assert p.books_needing_snapshot() == []
    assert p.book("okx", "BTC-USDT") is not None


async def test_ping_keeps_a_quiet_connection_and_pongs_are_no_data(tmp_path):
    """A quiet instrument: the text ping goes out, pong comes back, the idle cut never hits."""
    async with sim(source="synthetic", okx_idle_timeout_s=1.0) as s:
        # stale cut 5 s (FAST): the 2.5 s silence below is shorter
        cfg = okx_config(tmp_path, s.urls, ["SOL-USDT"], ["trades"], ping_interval_s=0.3)
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 3, 10, "first frames")
            s.fault("silence", venue="okx", seconds=2.5)  # no data and no pong for 2.5 s
            await asyncio.sleep(3.0)
            await until(lambda: sum(lk.frames for lk in rec.links.values()) > 10, 10, "more frames")
            assert [sv.reconnects for sv in rec.supervisors] == [0]
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (info,) = j.ws_streams("okx")
    sent = [r.payload for r in j.kinds(info.id, "sent")]
    assert sent[1:] and all(p == b"ping" for p in sent[1:])
    assert b"pong" in [p for _, p in j.frames(info.id)]
    assert s.connections[0].close_code == 1000  # we closed it at the end, not the idle cut
    assert_byte_exact(s, j)
    assert decode_errors(project(j)) == 0


async def test_drop_reconnects_resubscribes_and_the_book_restarts_clean(tmp_path):
    async with sim(source="synthetic") as s:
        cfg = okx_config(tmp_path, s.urls, ["ETH-USDT", "SOL-USDT"], ["books", "trades"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 30, 10, "frames")
            dropped = set(s.fault("drop", venue="okx")["conns"])
            assert dropped
            await until(lambda: len(s.connections) == 2 and frames(rec) > 30, 10, "the reconnect")
            await until(lambda: len(s.sent(s.connections[1].id)) > 30, 10, "frames after it")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=dropped)
    first, second = sorted(j.ws_streams("okx"), key=lambda i: i.id)
    assert [r.payload for r in j.kinds(first.id, "sent")][:1] == [r.payload for r in j.kinds(second.id, "sent")][:1]
    snaps = [p for _, p in j.frames(second.id) if b'"action":"snapshot"' in p]
    assert len(snaps) == 2  # each book restarts from a snapshot on the new connection
    p = project(j)
    assert decode_errors(p) == 0 and p.books_needing_snapshot() == []


@pytest.mark.parametrize("projection", [True, False], ids=["projection", "sync-only"])
@pytest.mark.parametrize(("fault", "mark"), [("gap", "gap"), ("checksum", "checksum")])
async def test_a_broken_book_is_resubscribed_on_its_own_connection(tmp_path, fault, mark, projection):
    """An injected seqId gap or bad checksum: a mark, then unsubscribe + subscribe of that
    one book on the same connection; the snapshot restarts it; the other book never stops."""
    async with sim(source="synthetic") as s:
        cfg = okx_config(tmp_path, s.urls, ["ETH-USDT", "SOL-USDT"], ["books", "trades"],
                         sections={"projection": {"enabled": projection}})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 30, 10, "frames")
            params = {"venue": "okx"} if fault == "gap" else {}
            s.fault(fault, symbol="ETH-USDT", **params)
            resub = rec.resubscribers["okx"]
            await until(lambda: resub.sent.get("ETH-USDT") == 1, 10, "the resubscribe")
            conn = s.connections[0].id
            await until(lambda: sum(b'"action":"snapshot"' in p and b"ETH-USDT" in p
                                    for p in s.sent(conn)) == 2, 10, "the fresh snapshot")
            await asyncio.sleep(0.3)
            assert [sv.reconnects for sv in rec.supervisors] == [0]
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    (info,) = j.ws_streams("okx")
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    assert sent[1:] == [{"op": "unsubscribe", "args": [{"channel": "books", "instId": "ETH-USDT"}]},
                        {"op": "subscribe", "args": [{"channel": "books", "instId": "ETH-USDT"}]}]
    (m,) = [m for m in j.marks() if m["venue"] == "okx"]
    assert (m["mark"], m["symbol"], m["source"]) == (mark, "ETH-USDT", "projection" if projection else "sync")
    received = [p for _, p in j.frames(info.id)]
    assert sum(b'"action":"snapshot"' in p and b"SOL-USDT" in p for p in received) == 1  # untouched
    p = project(j)
    assert decode_errors(p) == 0 and p.books_needing_snapshot() == []


async def test_an_unknown_instrument_is_refused_by_okx_and_the_others_record(tmp_path):
    """OKX answers 60018 for an instId it does not list; the reply is journaled as it came,
    followed by an ``error`` record the compiled core's OKX frame rules found (classified
    ``unknown_symbol``: not a reason to reconnect), and the connection keeps recording the
    rest."""
    async with sim(source="synthetic", okx_symbols=("ETH-USDT",)) as s:
        cfg = okx_config(tmp_path, s.urls, ["ETH-USDT", "NOPE-USDT"], ["trades", "books"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 30, 10, "frames")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert_byte_exact(s, j)
    (info,) = j.ws_streams("okx")
    errors = [orjson.loads(p) for _, p in j.frames(info.id) if p.startswith(b'{"event":"error"')]
    assert [e["code"] for e in errors] == ["60018", "60018"]
    assert all("instId:NOPE-USDT" in e["msg"] for e in errors)
    assert rec.supervisors[0].adapter.classify(message=errors[0]["msg"]).error_class.value == "unknown_symbol"
    recorded = j.kinds(info.id, "error")
    assert [r.payload for r in recorded] == [f"60018: {e['msg']}".encode() for e in errors]
    assert all(r.meta == {"class": "unknown_symbol", "source": "frame"} for r in recorded)
    p = project(j)
    assert decode_errors(p) == 0 and p.symbols() == [("okx", "ETH-USDT")]
