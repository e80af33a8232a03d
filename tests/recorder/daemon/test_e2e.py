"""End to end against the simulator on 127.0.0.1: bytes in == bytes journaled, under faults."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest

from recorder.daemon import connection
from recorder.daemon.picows_connection import PicowsConnection
from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from state.projector import Projector
from tests.vm import free_port
from tools.simulator import Simulator

from . import helpers
from .helpers import BINANCE_ALL, UPBIT_ALL, Journal, Running, assert_byte_exact, config, until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True, params=[False, True], ids=["plain", "deflate-offered"])
def compression(request, monkeypatch):
    """Each test with and without permessage-deflate offered (the simulator takes none)."""
    monkeypatch.setitem(helpers.FAST, "compression", request.param)
    return request.param


def sim(**kw) -> Simulator:
    return Simulator(source="synthetic", speed=kw.pop("speed", 20), seed=3, **kw)


def _frames(rec, sid=None) -> int:
    return sum(lk.frames for lk in rec.links.values() if sid is None or lk.sid == sid)


async def test_binance_and_upbit_every_channel_byte_exact(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"], binance_channels=BINANCE_ALL,
                     upbit=["KRW-BTC", "KRW-ETH"], upbit_extra={"format": "DEFAULT"})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 1500, 15, "1500 frames")
            assert all(type(lk.ws) is PicowsConnection and lk.ws.inflater is None
                       for lk in rec.links.values())
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    n = assert_byte_exact(s, j)
    assert n > 1500
    binance = j.ws_streams("binance-usdm")
    upbit = j.ws_streams("upbit")
    assert {s.url.split("/")[3] for s in binance} == {"public", "market"}  # routed, never mixed
    assert len(upbit) == 1
    for info in binance + upbit:
        kinds = [r.kind for r in j.by_stream[info.id]]
        assert kinds[0] == "open" and kinds[-1] == "close"
        assert j.by_stream[info.id][0].payload == info.url.encode()
        assert info.config_hash == cfg.config_hash
    close = j.kinds(upbit[0].id, "close")[0]
    assert close.meta["code"] == 1000 and close.meta["by"] == "us"
    # Upbit: binary frames flagged, the request array journaled as sent, DEFAULT format.
    assert all(b for b, _ in j.frames(upbit[0].id))
    (sent,) = j.kinds(upbit[0].id, "sent")
    req = orjson.loads(sent.payload)
    assert req[-1] == {"format": "DEFAULT"}
    assert {t["type"] for t in req[1:-1]} == set(UPBIT_ALL)
    assert all(t["codes"] == ["KRW-BTC", "KRW-ETH"] for t in req[1:-1])
    assert any(b'"type":"orderbook"' in p for _, p in j.frames(upbit[0].id))
    # Binance text frames of every channel arrived.
    text = b"".join(p for info in binance for _, p in j.frames(info.id))
    for ev in (b"depthUpdate", b"aggTrade", b'"e":"trade"', b'"e":"kline"', b"bookTicker", b"markPriceUpdate"):
        assert ev in text, ev
    # One snapshot per depth symbol after the stream went live.
    assert {r.meta["url"].split("symbol=")[1].split("&")[0] for r in j.rest()} == {"BTCUSDT", "ETHUSDT"}
    assert all(r.meta["status"] == 200 for r in j.rest())
    with JournalReader(tmp_path) as reader:
        assert verify(reader).ok


async def test_upbit_simple_format_and_ping(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, upbit=["KRW-BTC"], upbit_extra={"ping_interval_s": 0.3})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: sum(lk.frames - lk.data_frames for lk in rec.links.values()) >= 2,
                        10, "two status UP answers")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (info,) = j.ws_streams("upbit")
    sent = [r.payload for r in j.kinds(info.id, "sent")]
    assert orjson.loads(sent[0])[-1] == {"format": "SIMPLE"}
    assert sent[1:] and all(p == b"PING" for p in sent[1:])
    assert any(p == b'{"status":"UP"}' for _, p in j.frames(info.id))
    assert any(b'"ty":"trade"' in p for _, p in j.frames(info.id))
    assert_byte_exact(s, j)


async def test_forced_disconnects_reconnect_resnapshot(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], upbit=["KRW-BTC"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 300, 10, "frames")
            aborted = set(s.fault("drop", venue="binance-usdm", path="/public")["conns"])
            closed = s.fault("drop", venue="upbit", code=1011)["conns"]
            assert aborted and closed
            await until(lambda: len(s.connections) >= 5, 10, "reconnects")
            await until(lambda: rec.fetchers["binance-usdm"].fetched.get("BTCUSDT", 0) >= 2, 10,
                        "a snapshot after the reconnect")
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 200, 10, "frames after reconnect")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    # The reconnect is visible: a new stream per connection, the old one closed with its code.
    public = [i for i in j.ws_streams("binance-usdm") if "/public/" in i.url]
    assert len(public) == 2
    first = j.kinds(public[0].id, "close")[0]
    assert first.meta["code"] == 1006 and first.meta["by"] == "peer"
    up = j.ws_streams("upbit")
    assert len(up) == 2 and j.kinds(up[0].id, "close")[0].meta["code"] == 1011
    classes = {r.meta["class"] for r in j.errors()}
    assert classes == {"network"}
    assert len(j.rest("BTCUSDT")) == 2
    assert sum(s.reconnects for s in rec.supervisors) == 2


async def test_silent_stream_watchdog_reconnects(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], supervision={"stale_after_s": 0.5})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 100, 10, "frames")
            silenced = s.fault("silence", venue="binance-usdm", path="/market")["conns"]
            assert len(silenced) == 1
            await until(lambda: any(sv.stale for sv in rec.supervisors), 5, "the watchdog")
            await until(lambda: len(s.connections) >= 3, 5, "the replacement connection")
            market = [sv for sv in rec.supervisors if ".market." in sv.name][0]
            await until(lambda: market.links and market.links[0].data_frames > 20, 5, "data again")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    market_streams = [i for i in j.ws_streams() if "/market/" in i.url]
    assert len(market_streams) == 2
    stale = [r for r in j.errors() if r.meta.get("reason") == "stale"]
    assert len(stale) == 1 and stale[0].stream == market_streams[0].id
    assert j.kinds(market_streams[0].id, "close")[0].meta["code"] == 4000
    # The silence cost no reconnect on the other connection.
    assert len([i for i in j.ws_streams() if "/public/" in i.url]) == 1


async def test_rest_429_burst_backoff_no_storm(tmp_path):
    async with sim() as s:
        s.fault("rest_error", status=429, times=3, retry_after=0.4, path="/fapi/v1/depth")
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["binance-usdm"]
            await until(lambda: len(f.fetched) == 2, 10, "both snapshots")
            await asyncio.sleep(0.5)
            calls = s.rest_counts["/fapi/v1/depth"]
            assert await run.stop() == 0
    # 3 refusals, then one success per symbol: no request storm.
    assert calls == 5, calls
    j = Journal(tmp_path)
    refusals = [r for r in j.errors() if r.meta.get("status") == 429]
    assert len(refusals) == 3
    assert all(r.meta["class"] == "rate_limit" and r.meta["retry_after"] == "0.4" for r in refusals)
    assert all(b"-1003" in r.payload for r in refusals)
    # Retry-After honoured: consecutive calls at least 0.4 s apart.
    times = [r.ts_ns for r in refusals] + [j.rest()[0].ts_ns]
    assert all(b - a >= 0.39e9 for a, b in zip(times, times[1:])), times
    assert len(j.rest()) == 2


async def test_rest_418_ip_ban_waits_out_its_retry_after(tmp_path):
    async with sim() as s:
        s.fault("rest_error", status=418, times=1, retry_after=1.2, path="/fapi/v1/depth")
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["binance-usdm"]
            await until(lambda: len(f.fetched) == 1, 10, "the snapshot after the ban")
            calls = s.rest_counts["/fapi/v1/depth"]
            assert await run.stop() == 0
    assert calls == 2, calls  # the ban, then one call once it was over
    j = Journal(tmp_path)
    (ban,) = [r for r in j.errors() if r.meta.get("status") == 418]
    assert ban.meta["class"] == "ip_ban" and ban.meta["retry_after"] == "1.2"
    assert j.rest()[0].ts_ns - ban.ts_ns >= 1.19e9


async def test_a_dead_exchange_is_retried_with_backoff_until_it_answers(tmp_path):
    """Nothing listens at the venue's address: the recorder keeps running, journals each
    refused connect as a ``network`` error with growing waits between them (no storm), and
    records normally once the exchange comes up at that address."""
    ws_port, rest_port = free_port(), free_port()
    urls = SimpleNamespace(ws=f"ws://127.0.0.1:{ws_port}", rest=f"http://127.0.0.1:{rest_port}")
    cfg = config(tmp_path, urls, binance=["BTCUSDT"], upbit=["KRW-BTC"])
    run = Running(cfg)
    async with run as rec:
        await asyncio.sleep(2.0)
        assert not run.task.done()
        down = Journal(tmp_path)
        async with sim(ws_port=ws_port, rest_port=rest_port) as s:
            await until(lambda: _frames(rec) > 300, 10, "frames once the exchange is up")
            assert await run.stop() == 0
    # While it was down: only refused connects, each journaled, backoff 0.05 s doubling to 0.4 s.
    assert down.records and {r.kind for r in down.records} == {"error"}
    assert {r.meta["class"] for r in down.records} == {"network"}
    assert all(b"Connect call failed" in r.payload for r in down.records)
    for conn in {i.conn for i in down.streams.values()}:
        times = [r.ts_ns for r in down.records if down.streams[r.stream].conn == conn]
        assert 4 <= len(times) <= 12, (conn, len(times))  # 2 s at 0.05, 0.1, 0.2, 0.4, 0.4 ...
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps[-2:]) > 2 * gaps[0], gaps  # the waits grew
    # Then: recording as usual, byte for byte, after the failed attempts.
    j = Journal(tmp_path)
    j.assert_gapless()
    assert j.records[:len(down.records)] == down.records
    assert assert_byte_exact(s, j) > 300
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


async def test_an_inspection_that_raises_never_costs_the_connection(tmp_path, monkeypatch):
    """Defence in depth: were the per-batch inspection to raise (a bug), the frames are
    journaled all the same, the error is logged and the connection goes on."""
    real = connection.inspect_frames
    calls = [0]

    def flaky(rules, frames):
        calls[0] += 1
        if calls[0] % 3 == 0:
            raise RuntimeError("inspection bug")
        return real(rules, frames)

    monkeypatch.setattr(connection, "inspect_frames", flaky)
    async with sim() as s:
        log = tmp_path / "recorder.log"
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], recorder={"log_file": str(log)})
        run = Running(cfg)
        async with run as rec:
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 300, 10, "frames despite the bug")
            errors = sum(lk.inspect_errors for lk in rec.links.values())
            assert await run.stop() == 0
    assert errors >= 20
    assert sum(sup.reconnects for sup in rec.supervisors) == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    logged = [e for e in map(orjson.loads, log.read_text().splitlines()) if e["event"] == "inspect_failed"]
    assert logged and logged[0]["error"] == "RuntimeError: inspection bug" and logged[0]["count"] == 1


async def test_update_id_gap_fetches_that_symbol_only(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"], binance_channels=["depth"])
        run = Running(cfg)
        async with run as rec:
            f = rec.fetchers["binance-usdm"]
            await until(lambda: len(f.fetched) == 2, 10, "start snapshots")
            await asyncio.sleep(0.3)  # let both chains go live on their snapshots
            s.fault("gap", symbol="BTCUSDT", count=2)
            t0 = asyncio.get_running_loop().time()
            await until(lambda: f.fetched.get("BTCUSDT") == 2, 5, "the resync snapshot")
            took = asyncio.get_running_loop().time() - t0
            await asyncio.sleep(0.3)
            assert await run.stop() == 0
    assert took < 3.0
    j = Journal(tmp_path)
    assert len(j.rest("BTCUSDT")) == 2 and len(j.rest("ETHUSDT")) == 1
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert gap["symbol"] == "BTCUSDT" and gap["got"] != gap["expected"]
    assert gap["venue"] == "binance-usdm" and gap["source"] == "projection"
    mark_rec = [r for r in j.records if r.kind == "mark"][0]
    assert mark_rec.seq < j.rest("BTCUSDT")[1].seq
    assert rec.metrics.gaps == {("binance-usdm", "BTCUSDT"): 1}
    assert_byte_exact(s, j)


async def test_with_the_projection_off_the_sync_rule_still_resyncs(tmp_path):
    """``[projection] enabled = false``: a sync-only projection tells the breaks; a gap is
    marked and fetched, a reconnect fetches every depth book again, and the journal's
    books end valid."""
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"],
                     binance_channels=["depth", "aggTrade"], sections={"projection": {"enabled": False}})
        run = Running(cfg)
        async with run as rec:
            assert rec.projection is None and rec.sync is not None
            f = rec.fetchers["binance-usdm"]
            await until(lambda: len(f.fetched) == 2, 10, "start snapshots")
            await asyncio.sleep(0.3)
            s.fault("gap", symbol="ETHUSDT", count=2)
            await until(lambda: f.fetched.get("ETHUSDT") == 2, 5, "the resync snapshot")
            await asyncio.sleep(0.3)
            aborted = set(s.fault("drop", venue="binance-usdm", path="/public")["conns"])
            await until(lambda: f.fetched.get("BTCUSDT") == 2 and f.fetched.get("ETHUSDT") == 3, 10,
                        "snapshots after the reconnect")
            await asyncio.sleep(0.3)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j, aborted=aborted)
    (gap,) = [m for m in j.marks() if m["mark"] == "gap"]
    assert (gap["venue"], gap["symbol"], gap["source"]) == ("binance-usdm", "ETHUSDT", "sync")
    assert len(j.rest("BTCUSDT")) == 2 and len(j.rest("ETHUSDT")) == 3
    p = Projector(j.streams)
    p.apply_many(j.records)
    assert p.books_needing_snapshot() == []


async def test_malformed_frames_recorded_raw_and_counted(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     upbit=["KRW-BTC"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 50, 10, "frames")
            for mode in ("invalid_json", "garbage", "invalid_utf8", "oversized"):
                assert s.fault("malformed", venue="binance-usdm", mode=mode)["conns"]
            assert s.fault("malformed", venue="upbit", mode="invalid_json")["conns"]
            base = _frames(rec)
            await until(lambda: _frames(rec) > base + 50, 10, "frames after the bad ones")
            assert await run.stop() == 0
            counts = rec.projection.validation_counts()
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    assert len(j.ws_streams()) == 2  # no reconnect: bad frames never cost the connection
    payloads = [r.payload for r in j.records if r.kind == "frame"]
    assert any(len(p) >= 2 * 2**20 - 2 for p in payloads)
    assert b'{"e":"\xff\xfe bad utf-8"}' in payloads
    assert counts.get("decode_error", 0) >= 4, counts


async def test_rotation_overlaps_and_loses_nothing(tmp_path):
    async with sim() as s:
        s.fault("rotate", after_s=2.5, code=1001, venue="binance-usdm")  # the venue's own cut
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["depth", "aggTrade"],
                     binance_extra={"rotate_after_s": 1.2},
                     supervision={"rotation_overlap_s": 0.3})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: all(sv.rotations >= 2 for sv in rec.supervisors), 10, "two rotations")
            await asyncio.sleep(0.2)
            assert await run.stop() == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert_byte_exact(s, j)
    # Our rotation beat the venue's cut every time: we closed each old connection (1000).
    assert not [c for c in s.connections if c.close_code == 1001]
    public = sorted((i for i in j.ws_streams() if "/public/" in i.url), key=lambda i: i.id)
    assert len(public) >= 3
    chain = []
    for old, new in zip(public, public[1:]):
        old_close = j.kinds(old.id, "close")[0]
        assert old_close.meta == {"code": 1000, "reason": "rotation", "by": "us"}
        # Overlap: the replacement delivered before the old one closed.
        assert j.kinds(new.id, "frame")[0].seq < old_close.seq
    # The depth chain across all rotations: every pu links to some earlier u, no event lost.
    for info in public:
        for _, p in j.frames(info.id):
            d = orjson.loads(p)["data"]
            chain.append((d["U"], d["u"], d["pu"]))
    seen_u = {u for _, u, _ in chain}
    first = min(chain)
    missing = [(U, u, pu) for U, u, pu in chain if (U, u, pu) != first and pu not in seen_u]
    assert not missing, missing[:3]
