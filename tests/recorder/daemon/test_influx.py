"""The optional InfluxDB feed of ``recorder run`` (issue 6 item 6) against a real server on
127.0.0.1 that speaks the InfluxDB v2 write API (VictoriaMetrics), reading the points back.

What the daemon wrote live must equal what ``query.derive`` makes from the same journal
afterwards: the 1 s features of a recorder run against the simulator, and 1 m bars of a
live projection fed three minutes of trades."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import defaultdict

import pytest

from query.derive import DeriveParams, Deriver
from query.influx import BAR_FIELDS, FEATURE_FIELDS, InfluxFeed
from recorder.daemon.config import InfluxConfig
from recorder.daemon.logs import event_logger
from recorder.daemon.projection import LiveProjection
from recorder.journal.writer import JournalWriter
from tests import vm
from tools.simulator import Simulator

from .helpers import Journal, Running, config, frames, until

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not vm.available(),
                                 reason="victoria-metrics not installed (make test installs it)")]


def influx_section(url: str, **kw) -> dict:
    return {"influx": {"enabled": True, "url": url, "token": "t", "org": "ticktape",
                       "bucket": "ticktape_raw", "bars_bucket": "ticktape_1m", "flush_interval_s": 0.2,
                       "push_interval_s": 0.2, **kw}}


def expected(table, measurement: str, fields) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in table.to_pylist():
        for f in fields:
            v = r.get(f)
            if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
                continue
            out[(f"{measurement}_{f}", r["venue"], r["symbol"])][r["ts_ns"] // 10**6] = float(v)
    return dict(out)


def assert_same(got, want) -> None:
    assert set(got) == set(want), set(got) ^ set(want)
    for k, series in want.items():
        assert got[k].keys() == series.keys(), k
        for ts, v in series.items():
            assert got[k][ts] == pytest.approx(v, rel=1e-12), (k, ts)



async def test_recorder_streams_live_features_that_equal_the_archive_rows(tmp_path):
    with vm.victoria(tmp_path) as url:
        async with Simulator(source="synthetic", speed=20, seed=21) as s:
            cfg = config(tmp_path / "data", s.urls, binance=["BTCUSDT"],
                         binance_channels=["depth", "aggTrade", "bookTicker"],
                         upbit=["KRW-BTC", "KRW-USDT"], sections=influx_section(url),
                         recorder={"metrics_port": 0})
            run = Running(cfg)
            async with run as rec:
                t0 = time.monotonic()
                await until(lambda: time.monotonic() - t0 > 3.5 and rec.hooks["influx"].stats()["written"] > 0,
                            20, "3.5 s of recording and points written")
                assert await run.stop() == 0
        stats = rec.hooks["influx"].stats()
        assert stats["dropped"] == 0 and stats["failed"] == 0 and stats["pending"] == 0
        # One pass of the same projection code over the journal afterwards.
        j = Journal(tmp_path / "data")
        d = Deriver(j.streams, DeriveParams())
        d.apply_many(j.records)
        tables = d.take()
        feats, bars = tables["features"], tables["klines"]  # bars: only if a minute closed
        assert feats.num_rows >= 6
        assert stats["offered"] == {"features": feats.num_rows, "klines": bars.num_rows}
        assert {(r["venue"], r["symbol"]) for r in feats.to_pylist()} >= {
            ("binance-usdm", "BTCUSDT"), ("upbit", "KRW-BTC")}
        want = {**expected(feats, "features", FEATURE_FIELDS), **expected(bars, "bars_1m", BAR_FIELDS)}
        got = vm.read_back(url, "features_.*|bars_1m_.*", sum(len(v) for v in want.values()))
    assert_same(got, want)
    assert stats["written"] == feats.num_rows + bars.num_rows


async def test_live_projection_feeds_one_minute_bars(tmp_path):
    """Three minutes of trades (record time) through a LiveProjection with a feed: the
    closed 1 m bars reach the server and equal the offline Deriver's klines."""
    data = tmp_path / "data"
    now_ms = (time.time_ns() // 60_000_000_000 - 5) * 60_000
    w = JournalWriter(data, durability="os", background=False)
    sid = w.register_stream("binance-usdm", market="usdm", conn="binance-usdm.market.0",
                            url="wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade",
                            channels=("btcusdt@aggTrade",), opened_ns=now_ms * 10**6)
    proj = LiveProjection(data_dir=str(data), depth_levels=20, log=event_logger(),
                          on_gap=lambda *a: None, checkpoint_every_records=10**9,
                          checkpoint_every_s=1e9)
    proj.recover(w.streams)
    with vm.victoria(tmp_path) as url:
        cfg = InfluxConfig(**influx_section(url)["influx"])
        feed = InfluxFeed(proj, cfg)
        w.subscribe(proj)
        for i in range(360):  # one trade every 0.5 s for 3 minutes
            ms = now_ms + i * 500
            data_ = {"e": "aggTrade", "E": ms, "s": "BTCUSDT", "a": 10 + i, "p": f"{60000 + (i % 17)}.5",
                     "q": f"0.{i % 9 + 1}", "f": i, "l": i, "T": ms, "m": i % 3 == 0}
            w.append(sid, "frame", json.dumps({"stream": "btcusdt@aggTrade", "data": data_}).encode(),
                     ts_ns=ms * 10**6)
            if i % 40 == 0:
                feed.push()
        feed.push()
        await asyncio.to_thread(feed.close)
        w.close()
        j = Journal(data)
        d = Deriver(j.streams, DeriveParams())
        d.apply_many(j.records)
        tables = d.take()
        bars = tables["klines"]
        assert bars.num_rows == 2  # minutes 0 and 1 closed; minute 2 is still open
        assert [r["trades"] for r in bars.to_pylist()] == [120, 120]
        want = {**expected(bars, "bars_1m", BAR_FIELDS),
                **expected(tables["features"], "features", FEATURE_FIELDS)}
        got = vm.read_back(url, "bars_1m_.*|features_.*", sum(len(v) for v in want.values()))
    assert_same(got, want)
    assert feed.stats()["offered"] == {"features": tables["features"].num_rows, "klines": 2}


async def test_a_dead_influx_never_holds_the_recording(tmp_path):
    dead = f"http://127.0.0.1:{vm.free_port()}"  # nothing listens there
    async with Simulator(source="synthetic", speed=20, seed=22) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade", "bookTicker"],
                     sections=influx_section(dead, max_retries=1, max_pending=50))
        run = Running(cfg)
        async with run as rec:
            await until(lambda: rec.hooks["influx"].stats()["failed"] + rec.hooks["influx"].stats()["dropped"] > 0, 20,
                        "points refused")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 200, 10, "frames while influx is down")
            t0 = time.monotonic()
            assert await run.stop() == 0
            assert time.monotonic() - t0 < 10
    assert rec.hooks["influx"].stats()["written"] == 0
    j = Journal(tmp_path)
    j.assert_gapless()
    assert rec.projection.failed is None


def test_features_and_bars_go_to_their_buckets(tmp_path):
    """VictoriaMetrics ignores buckets: a plain HTTP server on 127.0.0.1 shows the routing."""
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, str, bytes]] = []  # (bucket, org, body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip

                body = gzip.decompress(body)
            got.append((q["bucket"][0], q["org"][0], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = tmp_path / "data"
        start_ms = (time.time_ns() // 60_000_000_000 - 3) * 60_000
        w = JournalWriter(data, durability="os", background=False)
        sid = w.register_stream("binance-usdm", market="usdm", conn="c", url="wss://x/market/stream",
                                channels=("btcusdt@aggTrade",), opened_ns=start_ms * 10**6)
        proj = LiveProjection(data_dir=str(data), depth_levels=20, log=event_logger(),
                              on_gap=lambda *a: None, checkpoint_every_records=10**9, checkpoint_every_s=1e9)
        proj.recover(w.streams)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        feed = InfluxFeed(proj, InfluxConfig(**influx_section(url)["influx"]))
        w.subscribe(proj)
        for i in range(130):  # a trade per second for 130 s: two bars close
            ms = start_ms + i * 1000
            d = {"e": "aggTrade", "E": ms, "s": "BTCUSDT", "a": i, "p": "100.5", "q": "1", "f": i,
                 "l": i, "T": ms, "m": False}
            w.append(sid, "frame", json.dumps({"stream": "btcusdt@aggTrade", "data": d}).encode(),
                     ts_ns=ms * 10**6)
        feed.push()
        feed.close()
        w.close()
    finally:
        server.shutdown()
        server.server_close()
    lines = defaultdict(list)
    for bucket, org, body in got:
        assert org == "ticktape"
        lines[bucket].extend(body.decode().splitlines())
    assert set(lines) == {"ticktape_raw", "ticktape_1m"}
    assert len(lines["ticktape_1m"]) == 2 and all(ln.startswith("bars_1m,") for ln in lines["ticktape_1m"])
    assert all(ln.startswith("features,") for ln in lines["ticktape_raw"])
    j = Journal(data)
    offline = Deriver(j.streams, DeriveParams())
    offline.apply_many(j.records)
    assert len(lines["ticktape_raw"]) == offline.take()["features"].num_rows > 120
    assert "trades=60i" in lines["ticktape_1m"][0]
