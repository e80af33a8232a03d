"""KuCoin end to end against the simulator: token journaled before each connection, bytes
in == bytes journaled, reconnect with a fresh token, gap resync, pings through a quiet spell."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from recorder.daemon import build_config
from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from state.projector import Projector
from tools.simulator import Simulator

from . import helpers
from .helpers import Journal, Running, assert_byte_exact, config_doc, until

pytestmark = pytest.mark.timeout(60)
ALL = ["level2", "match", "ticker"]


@pytest.fixture(autouse=True, params=[False, True], ids=["plain", "deflate-offered"])
def compression(request, monkeypatch):
    """Each test with and without permessage-deflate offered (the simulator takes none)."""
    monkeypatch.setitem(helpers.FAST, "compression", request.param)
    return request.param


def kucoin_config(data, urls, symbols, *, channels=ALL, supervision=None, extra=None):
    doc = config_doc(data, urls, supervision=supervision)
    doc["venue"] = [{"venue": "kucoin", "symbols": symbols, "channels": channels,
                     "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, **(extra or {})}]
    return build_config(doc)


def sim(**kw) -> Simulator:
    return Simulator(venues=("kucoin",), source=kw.pop("source", "synthetic"),
                     speed=kw.pop("speed", 20), seed=3, **kw)


def _frames(rec) -> int:
    return sum(lk.frames for lk in rec.links.values())


def _projected(j: Journal) -> Projector:
    p = Projector(j.streams)
    p.apply_many(j.records)
    assert all(c.get("decode_error", 0) == 0 for c in p.counters.values()), p.counters
    return p


async def test_capture_and_synthetic_symbols_every_channel_byte_exact(tmp_path):
    async with sim(source="capture", speed=5) as s:
        cfg = kucoin_config(tmp_path, s.urls, ["SNX-BTC", "FET-BTC", "BTC-USDT"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["kucoin"]
            await until(lambda: len(f.fetched) == 3 and _frames(rec) > 300, 20,
                        "snapshots and 300 frames")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert assert_byte_exact(s, j) > 300
    (info,) = j.ws_streams("kucoin")
    assert "?token=sim-token-1&connectId=" in info.url
    kinds = [r.kind for r in j.by_stream[info.id]]
    assert kinds[:4] == ["rest", "open", "frame", "sent"] and kinds[-1] == "close"  # welcome first
    bullet = j.by_stream[info.id][0]
    assert bullet.meta["url"].endswith("/api/v1/bullet-public") and bullet.meta["method"] == "POST"
    assert orjson.loads(bullet.payload)["data"]["token"] == "sim-token-1"
    frames = [p for _, p in j.frames(info.id)]
    assert orjson.loads(frames[0])["type"] == "welcome"
    sent = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")]
    topics = [m["topic"] for m in sent if m["type"] == "subscribe"]
    assert topics == [f"/market/{ch}:SNX-BTC,FET-BTC,BTC-USDT" for ch in ALL]
    acks = {orjson.loads(p)["id"] for p in frames if b'"type":"ack"' in p}
    assert acks == {m["id"] for m in sent if m["type"] == "subscribe"}
    for subject in (b"trade.l2update", b"trade.ticker"):
        assert any(subject in p for p in frames), subject
    snaps = {r.meta["url"].split("symbol=")[1] for r in j.rest() if "orderbook" in r.meta["url"]}
    assert snaps == {"SNX-BTC", "FET-BTC", "BTC-USDT"}
    p = _projected(j)
    assert p.books_needing_snapshot() == []
    assert [m for m in j.marks() if m["mark"] == "gap"] == []
    with JournalReader(tmp_path) as reader:
        assert verify(reader).ok


async def test_a_drop_reconnects_with_a_fresh_token_and_resnapshots(tmp_path):
    async with sim() as s:
        cfg = kucoin_config(tmp_path, s.urls, ["BTC-USDT", "ETH-USDT"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["kucoin"]
            await until(lambda: len(f.fetched) == 2 and _frames(rec) > 100, 10, "start")
            aborted = set(s.fault("drop", venue="kucoin")["conns"])
            await until(lambda: len(s.connections) == 2, 10, "the reconnect")
            await until(lambda: f.fetched.get("BTC-USDT", 0) >= 2 and f.fetched.get("ETH-USDT", 0) >= 2,
                        10, "snapshots after the reconnect")
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 100, 10, "frames after the reconnect")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    first, second = j.ws_streams("kucoin")
    assert "token=sim-token-1&" in first.url and "token=sim-token-2&" in second.url
    for info in (first, second):
        assert j.by_stream[info.id][0].kind == "rest"  # the token came before the connection
    assert j.kinds(first.id, "close")[0].meta["code"] == 1006
    assert {r.meta["class"] for r in j.errors()} == {"network"}
    assert _projected(j).books_needing_snapshot() == []


async def test_a_sequence_gap_resyncs_that_book_only(tmp_path):
    async with sim() as s:
        cfg = kucoin_config(tmp_path, s.urls, ["BTC-USDT", "ETH-USDT"], channels=["level2"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["kucoin"]
            await until(lambda: len(f.fetched) == 2, 10, "start snapshots")
            await asyncio.sleep(0.5)  # both books live on their snapshots
            s.fault("gap", venue="kucoin", symbol="BTC-USDT", count=2)
            await until(lambda: f.fetched.get("BTC-USDT") == 2, 5, "the resync snapshot")
            await asyncio.sleep(0.5)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    assert len(j.rest("BTC-USDT")) == 2 and len(j.rest("ETH-USDT")) == 1
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert (gap["venue"], gap["symbol"]) == ("kucoin", "BTC-USDT")
    assert gap["got"] != gap["expected"]
    assert_byte_exact(s, j)
    assert _projected(j).books_needing_snapshot() == []


async def test_pings_keep_the_connection_through_a_quiet_spell(tmp_path):
    # KuCoin cuts a client silent for pingInterval + pingTimeout (here 1 s); the token
    # reply's pingInterval (0.5 s) sets our ping cadence; the silence (2 s) is shorter than
    # the stale cut (5 s), so the one connection lives on.
    async with sim(kucoin_ping_interval_ms=500, kucoin_ping_timeout_ms=500) as s:
        cfg = kucoin_config(tmp_path, s.urls, ["BTC-USDT"], channels=["match", "ticker"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 20, 10, "frames")
            s.fault("silence", venue="kucoin", seconds=2.0)
            await asyncio.sleep(2.5)
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 20, 10, "frames after the silence")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (info,) = j.ws_streams("kucoin")
    assert len(s.connections) == 1
    pings = [orjson.loads(r.payload) for r in j.kinds(info.id, "sent")
             if b'"ping"' in r.payload]
    assert len(pings) >= 4 and all(p == {"id": "ping", "type": "ping"} for p in pings)
    assert any(b'"type":"pong"' in p for _, p in j.frames(info.id))
    assert j.kinds(info.id, "close")[0].meta["by"] == "us"
    assert_byte_exact(s, j)


async def test_recorder_run_cli_records_kucoin(tmp_path):
    """``recorder run --venue kucoin --symbols .. --channels ..`` as a process: byte exact,
    every channel, snapshots journaled, no DecodeError or Anomaly in the projection."""
    import os
    import sys
    from pathlib import Path

    from state.events import Anomaly, DecodeError

    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKTAPE_")}
    async with sim(source="capture", speed=5) as s:
        argv = ["run", "--venue", "kucoin", "--symbols", "BCHSV-USDT,SNX-BTC,BTC-USDT",
                "--channels", "level2,match,ticker", "--data", str(tmp_path / "data"),
                "--duration", "3", "--ws-url", s.urls.ws, "--rest-url", s.urls.rest,
                "--durability", "os", "--log-file", str(tmp_path / "recorder.log")]
        proc = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "recorder"),
                                                    *argv, env=env, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 40)
        finally:
            if proc.returncode is None:  # stopped by its pid, as it was started
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    j = Journal(tmp_path / "data")
    assert assert_byte_exact(s, j) > 100
    p = Projector(j.streams)
    bad = [e for rec in j.records for e in p.apply(rec) if isinstance(e, DecodeError | Anomaly)]
    assert bad == [], bad[:5]
    assert p.books_needing_snapshot() == []
    snaps = {r.meta["url"].split("symbol=")[1] for r in j.rest() if "orderbook" in r.meta["url"]}
    assert snaps == {"BCHSV-USDT", "SNX-BTC", "BTC-USDT"}
    text = b"".join(pl for info in j.ws_streams("kucoin") for _, pl in j.frames(info.id))
    for subject in (b"trade.l2update", b"trade.l3match", b"trade.ticker"):
        assert subject in text, subject


async def test_a_refused_token_is_journaled_and_retried(tmp_path):
    """The token call answered 429: an ``error`` record (class rate_limit) on a stream of its
    own, a wait of at least its Retry-After, then a fresh token and a connection."""
    async with sim() as s:
        s.fault("rest_error", status=429, times=1, retry_after=0.3, path="/api/v1/bullet-public")
        cfg = kucoin_config(tmp_path, s.urls, ["BTC-USDT"], channels=["match", "ticker"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 10, 10, "frames after the retry")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    refused, live = sorted(j.ws_streams("kucoin"), key=lambda i: i.id)
    (err,) = j.by_stream[refused.id]
    assert err.kind == "error" and err.meta["status"] == 429 and err.meta["class"] == "rate_limit"
    assert orjson.loads(err.payload)["code"] == "429000"
    first = j.by_stream[live.id][0]
    assert first.kind == "rest" and first.ts_ns - err.ts_ns >= 0.3e9
    assert len(s.connections) == 1
    assert_byte_exact(s, j)
