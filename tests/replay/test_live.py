"""Paper trading over the journal tail gives exactly what a backtest of the same records gives;
it catches up through the archive first, and reads a source that does not grow to its end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.live import LiveSource
from replay.run import run_strategy
from replay.source import Bound, HistoricalSource, parse_bound

from .conftest import SPLIT
from .synth import write_binance

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
RECORDS = 40_000  # ~2.5 minutes of the hftbacktest capture: enough for several trades


def copy_growing(src: Path, dst: Path) -> tuple[JournalWriter, threading.Thread]:
    """A writer that appends ``src``'s first RECORDS records to ``dst`` in committed batches."""
    reader = JournalReader(src)
    records = list(reader.read(1, RECORDS))
    streams = reader.streams()
    reader.close()
    w = JournalWriter(dst, background=False, durability="os")
    ids = {sid: w.register_stream(i.venue, market=i.market, url=i.url, conn=i.conn,
                                  channels=i.channels, opened_ns=i.opened_ns)
           for sid, i in sorted(streams.items())}

    def feed() -> None:
        for i, rec in enumerate(records):
            w.append(ids[rec.stream], rec.kind, rec.payload, ts_ns=rec.ts_ns, meta=rec.meta)
            if i % 1000 == 999:
                w.flush()
                time.sleep(0.02)  # slower than the engine: it waits on the tail, as it would live
        w.flush()

    return w, threading.Thread(target=feed, daemon=True)


def test_paper_trading_equals_the_backtest_of_the_same_records(capture_journal, tmp_path):
    data = tmp_path / "live"
    writer, feeder = copy_growing(capture_journal("hftbacktest"), data)
    source = LiveSource(data, stop=threading.Event(), start=Bound(seq=1), end=Bound(seq=RECORDS))
    written_at_progress = []
    feeder.start()
    try:
        live, live_summary = run_strategy(source, STRATEGY, report_dir=tmp_path / "paper",
                                          on_progress=lambda e: written_at_progress.append(writer.last_seq))
    finally:
        source.close()
        feeder.join(30)
        writer.close()
    assert live.records == RECORDS and live_summary["trades"] > 0
    assert min(written_at_progress) < RECORDS  # it was tailing a journal still being written
    with HistoricalSource(data) as hist:
        back, back_summary = run_strategy(hist, STRATEGY, report_dir=tmp_path / "backtest")
    assert back.records == RECORDS
    assert live_summary == back_summary
    for name in ("summary.json", "fills.parquet", "equity.parquet"):
        assert (tmp_path / "paper" / name).read_bytes() == (tmp_path / "backtest" / name).read_bytes()
    assert live.digest == back.digest


def test_live_cli_stops_on_sigterm_and_writes_its_report(tmp_path):
    data = write_binance(tmp_path / "j")
    strategy = tmp_path / "noop.py"
    strategy.write_text("from replay.strategy import Strategy\n\n\nclass Noop(Strategy):\n"
                        "    def on_event(self, ctx, event, market):\n        pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "replay.cli", "--live", "--data", str(data), "--from", "1",
         "--strategy", str(strategy), "--report", str(tmp_path / "r"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "paper trading" not in (line := proc.stderr.readline()) and time.monotonic() < deadline:
            assert line or proc.poll() is None, "replay exited early"
        time.sleep(0.5)  # the 8 records are read at once; then it waits on the tail
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["period"]["records"] == 8 and summary["period"]["last_seq"] == 8
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == summary


def test_paper_trading_from_an_archived_seq_catches_up_through_the_archive(straddle):
    plain, mixed = straddle
    for start in (Bound(seq=SPLIT - 100), parse_bound("2025-01-01T23:59:59Z")):
        with HistoricalSource(plain, start=start, end=Bound(seq=SPLIT + 100)) as h:
            want = [(r.seq, r.payload) for r in h]
        src = LiveSource(mixed, stop=threading.Event(), start=start, end=Bound(seq=SPLIT + 100))
        with src:
            got = [(r.seq, r.payload) for r in src]
        assert got == want and got[0][0] < SPLIT <= got[-1][0]


def test_live_over_a_source_that_does_not_grow_reads_it_to_its_end(tmp_path):
    data = write_binance(tmp_path / "j")
    with JournalReader(data) as r:
        mem = MemorySource(list(r.read()), r.streams())
    stop = threading.Event()
    with LiveSource(mem, stop=stop, start=Bound(seq=3)) as src:
        assert [r.seq for r in src] == [3, 4, 5, 6, 7, 8]
        assert src.stream(1) == mem.stream(1) and src.reader is None
    stop.set()
    with LiveSource(mem, stop=stop) as src:
        assert list(src) == []  # stopped: nothing more is read


def test_a_start_time_not_recorded_yet_is_waited_for_then_tailed_from(capture_journal, tmp_path):
    """Iterated as it is (no warm start first), a live feed whose ``--from`` time the journal
    has not reached waits for it, then yields from the first record at or after it."""
    src = capture_journal("hftbacktest")
    with JournalReader(src) as r:
        recs = list(r.read(1, 6_000))
    at = recs[4_999].ts_ns
    first = next(rec.seq for rec in recs if rec.ts_ns >= at)
    data = tmp_path / "live"
    writer, feeder = copy_growing(src, data)
    source = LiveSource(data, stop=threading.Event(), start=Bound(ts_ns=at), end=Bound(seq=first + 99))
    feeder.start()
    try:
        got = [rec.seq for rec in source]
    finally:
        source.close()
        feeder.join(30)
        writer.close()
    assert got == list(range(first, first + 100))
