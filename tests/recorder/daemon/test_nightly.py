"""Nightly compaction inside ``recorder run`` (issue 6 item 2): catch-up at start, never
blocking or stopping the recording."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from query import manifest
from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from tools.simulator import Simulator

from .helpers import Journal, Running, config, frames, until

pytestmark = pytest.mark.timeout(120)
DAY_NS = 86_400 * 10**9


def past_day_journal(data: Path, days_ago: int = 2, n: int = 50) -> str:
    """A journal whose only records are ``n`` aggTrades on a finished UTC day; returns the day."""
    t0 = (time.time_ns() // DAY_NS - days_ago) * DAY_NS + 3600 * 10**9
    w = JournalWriter(data, durability="os", background=False)
    try:
        sid = w.register_stream("binance-usdm", market="usdm", conn="binance-usdm.market.0",
                                url="wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade",
                                channels=("btcusdt@aggTrade",), opened_ns=t0)
        w.append(sid, "open", b"wss://fstream.binance.com/market/stream", ts_ns=t0)
        for i in range(n):
            ms = t0 // 10**6 + i * 100
            data_ = {"e": "aggTrade", "E": ms, "s": "BTCUSDT", "a": 1000 + i, "p": f"{60000 + i}.5",
                     "q": "0.010", "f": 5000 + i, "l": 5000 + i, "T": ms, "m": i % 2 == 0}
            w.append(sid, "frame", json.dumps({"stream": "btcusdt@aggTrade", "data": data_},
                                              separators=(",", ":")).encode(), ts_ns=t0 + i * 10**8)
    finally:
        w.close()
    return time.strftime("%Y-%m-%d", time.gmtime(t0 / 1e9))



async def test_start_catches_up_a_missed_night(tmp_path):
    day = past_day_journal(tmp_path)
    async with Simulator(source="synthetic", speed=20, seed=12) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade", "bookTicker"],
                     sections={"compaction": {"enabled": True, "keep_days": 0, "hour": 0,
                                              "minute": 10}})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: "compaction" in rec.hooks and rec.hooks["compaction"].compacted,
                        60, "the catch-up compaction")
            nightly = rec.hooks["compaction"]
            # Recording went on throughout, and goes on after.
            base = frames(rec)
            await until(lambda: frames(rec) > base + 100, 10, "frames after the compaction")
            stats = nightly.stats()
            job = nightly.scheduler.get_jobs()[0]
            assert await run.stop() == 0
    assert nightly.compacted == [day]
    assert stats["runs"] == {"ok": 1, "skipped": 0, "error": 0}
    assert stats["days_pruned"] == 1
    # The next run is the configured nightly time, 00:10 UTC.
    assert (job.next_run_time.hour, job.next_run_time.minute) == (0, 10)
    m = manifest.load(tmp_path)
    assert list(m["days"]) == [day]
    assert m["days"][day]["records"] == 51 and m["days"][day]["first_seq"] == 1
    # The archived day left the journal (keep_days = 0); what remains continues from it.
    assert not (tmp_path / "journal" / day).exists()
    j = Journal(tmp_path)
    j.assert_gapless()
    assert j.records[0].seq == 52
    with JournalReader(tmp_path) as r:
        assert verify(r).ok
    raw = list((tmp_path / "archive" / "raw").rglob("*.parquet"))
    assert raw and all(f"date={day}" in str(p) for p in raw)


async def test_a_failing_compaction_is_logged_counted_and_recording_goes_on(tmp_path):
    past_day_journal(tmp_path)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "manifest.json").write_text("{not json")
    async with Simulator(source="synthetic", speed=20, seed=13) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     sections={"compaction": {"enabled": True}},
                     recorder={"log_file": str(tmp_path / "rec.log")})
        run = Running(cfg)
        async with run as rec:
            await until(lambda: "compaction" in rec.hooks
                        and rec.hooks["compaction"].stats()["runs"]["error"], 60, "the failed run")
            nightly = rec.hooks["compaction"]
            base = frames(rec)
            await until(lambda: frames(rec) > base + 100, 10, "frames after the failure")
            assert await run.stop() == 0
    logged = [json.loads(x) for x in (tmp_path / "rec.log").read_text().splitlines()]
    (failed,) = [x for x in logged if x["event"] == "compaction_failed"]
    assert "ManifestError" in failed["error"]
    assert nightly.stats()["runs"] == {"ok": 0, "skipped": 0, "error": 1}
    j = Journal(tmp_path)
    j.assert_gapless()
    assert j.records[0].seq == 1  # nothing was pruned
