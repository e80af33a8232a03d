"""Backtest throughput against the projection alone, over the same records, in the same run.

    python tools/bench/replay.py [--records N] [--chunk K] [--rounds R] [--json]

Input: the hftbacktest capture (Binance USD-M BTCUSDT, 94k records: depth diffs,
book tickers, trades and one REST snapshot) imported into a journal, then looped
to at least N records (1M by default): each loop appends the same payloads again
with ``JournalWriter(background=False)``, shifted in time by the capture's span.
The depth update ids repeat each loop, so every seam is a real ``pu`` Gap (the
book goes invalid and buffers) and the loop's own REST snapshot, 55 records
later, re-syncs it: the behaviour of a reconnect, measured as such.

Measured over the same records, interleaved: the journal is read K records at a
time (50k by default); each chunk is folded by a bare ``Projector.apply_many`` (the
projection-only baseline) and handed to ``Engine.run`` with a strategy whose
``on_event`` does nothing (so the per-event dispatch with its market-state view is
paid), equity sampled every second, no orders. The two alternate every fraction of
a second, so load from other processes on a shared machine hits both alike, and
which of the two meets a chunk first alternates too (neither always finds the
payloads in cache). Reading the journal is timed apart and counted in neither; the
report is timed apart too. Both end at the same state digest (checked).

Clocks: process CPU time and wall time; ``--rounds`` repeats the whole (2 by
default) and the best of each counts. ``ratio`` = projection CPU time / backtest
CPU time, ``ratio_wall`` the same on wall time; ``events_per_s`` is the backtest's
rate (wall) in events delivered to the strategy. The goal (issue 16): ``ratio`` >= 0.5
and ``events_per_s`` >= 400,000.

Since the fold moved into the compiled core (``ticktape_core.Fold``), the baseline's
``apply_many`` makes no Python object per frame while the backtest makes each event it
dispatches: the ratio also measures that difference. The engine runs the records that
need only the fold and ``on_event`` (here nearly all: no orders, no timers, a sample a
second) in the core's loop (``Projector.run_events``), record by record as its own loop
does, so the backtest pays the events and the strategy's calls, not a Python loop.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorder.importer import import_files  # noqa: E402
from recorder.journal.reader import JournalReader  # noqa: E402
from recorder.journal.writer import JournalWriter  # noqa: E402
from replay.engine import Engine  # noqa: E402
from replay.report import write_report  # noqa: E402
from replay.strategy import Strategy  # noqa: E402
from state.projector import Projector  # noqa: E402
from tools.captures import HFTBACKTEST_USDM  # noqa: E402

CAPTURE = HFTBACKTEST_USDM  # embedded in data/captures


class Idle(Strategy):
    """Listens to every event and does nothing."""

    def on_event(self, ctx, event, market):
        pass


def build(data: Path, n: int) -> int:
    """Import the capture, then loop it until the journal holds at least ``n`` records."""
    import_files(data, [CAPTURE], venue="binance-usdm")
    with JournalReader(data) as r:
        base = list(r.read())
    span = base[-1].ts_ns - base[0].ts_ns + 1
    total = len(base)
    w = JournalWriter(data, background=False, durability="os", commit_max_records=20_000,
                      commit_interval_ms=10_000)
    loop = 1
    while total < n:
        shift = loop * span
        for rec in base:
            w.append(rec.stream, rec.kind, rec.payload, ts_ns=rec.ts_ns + shift, meta=rec.meta)
        total += len(base)
        loop += 1
    w.close()
    return total


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


class Interleaved:
    """Records of a journal in chunks; each chunk is projected (timed), then passed on."""

    def __init__(self, reader: JournalReader, chunk: int) -> None:
        self.reader = reader
        self.chunk = chunk
        self.projector = Projector(reader.streams())
        self.read = [0.0, 0.0]  # wall, cpu
        self.projection = [0.0, 0.0]

    def __iter__(self):
        it = self.reader.read()
        first = True  # which of the two meets a chunk first alternates (warm caches)
        while True:
            start = clocks()
            batch = list(islice(it, self.chunk))
            add(self.read, since(start))
            if not batch:
                return
            if first:
                self._project(batch)
            yield from batch
            if not first:
                self._project(batch)
            first = not first

    def _project(self, batch: list) -> None:
        start = clocks()
        self.projector.apply_many(batch)
        add(self.projection, since(start))


def add(acc: list[float], t: tuple[float, float]) -> None:
    acc[0] += t[0]
    acc[1] += t[1]


def bench_round(data: Path, report: Path, chunk: int) -> dict:
    """One interleaved pass: (wall, cpu) of the projection and of the backtest."""
    with JournalReader(data) as r:
        src = Interleaved(r, chunk)
        engine = Engine(Idle(), streams=r.streams())
        start = clocks()
        result = engine.run(src)
        total = since(start)
    backtest = tuple(total[i] - src.read[i] - src.projection[i] for i in (0, 1))
    start = clocks()
    write_report(result, report)
    assert src.projector.digest() == result.digest, "backtest and projection disagree"
    return {"projection": tuple(src.projection), "backtest": backtest, "report_s": since(start)[0],
            "engine": engine}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000, help="records per alternation")
    ap.add_argument("--rounds", type=int, default=2, help="repeat the whole; best of each")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-replay-"))
    try:
        n = build(tmp / "data", args.records)
        inf = float("inf")
        w_proj = c_proj = w_run = c_run = inf
        for _ in range(max(args.rounds, 1)):
            got = bench_round(tmp / "data", tmp / "report", max(args.chunk, 1))
            w_proj, c_proj = min(w_proj, got["projection"][0]), min(c_proj, got["projection"][1])
            w_run, c_run = min(w_run, got["backtest"][0]), min(c_run, got["backtest"][1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    engine = got["engine"]
    assert engine.records == n
    result = {
        "records": n,
        "events": engine.events,
        "projection_rps": round(n / w_proj),
        "backtest_rps": round(n / w_run),
        "events_per_s": round(engine.events / w_run),
        "projection_cpu_s": round(c_proj, 3),
        "backtest_cpu_s": round(c_run, 3),
        "ratio_wall": round(w_proj / w_run, 3),
        "ratio": round(c_proj / c_run, 3),
        "report_s": round(got["report_s"], 3),
        "equity_samples": len(engine.samples),
    }
    print(f"records      {n}  ({engine.events} events)")
    print(f"projection   {result['projection_rps']:>9} rec/s")
    print(f"backtest     {result['backtest_rps']:>9} rec/s  {result['events_per_s']} events/s (goal >= 400000)")
    print(f"cpu s        projection {result['projection_cpu_s']}  backtest {result['backtest_cpu_s']}")
    print(f"ratio        {result['ratio']} on CPU time (goal >= 0.5), {result['ratio_wall']} on wall time")
    print(f"report       {result['report_s']} s ({result['equity_samples']} equity samples)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
