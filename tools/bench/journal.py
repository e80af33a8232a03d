"""Journal throughput against bare py-lmdb on the same bytes, in the same run.

    python tools/bench/journal.py [--records N] [--json]

Input: the frames of the hftbacktest capture, looped to at least N records (1M by
default). Measured:

- append: ``JournalWriter`` with durable group commits (durability="fsync", a commit
  at least every 50 ms: ``commit_interval_ms=50``, ``commit_max_records`` large), from
  ``append`` of the first record to ``close`` returning (everything fsync'ed);
  baseline: bare LMDB ``cursor.putmulti(append=True)`` of pre-encoded key/values in
  batches of the same size, sync=True, one commit per batch.
- read: ``JournalReader.read()`` checking (each value's checksum) and decoding every
  record; baseline: a bare cursor iteration over the same LMDB file touching every key
  and value. The bare side stores and reads the very bytes the journal stores (each
  value with its checksum). Beside it, ``read_columns``: ``JournalReader.read_columns()``,
  the same checks and decoding into column chunks instead of ``Record`` objects.
- verify: ``recorder.inspect.verify`` over the journal written (gapless seq, checksums,
  decoding under the key, streams, monotone time and the payload digest), in records/s.

Runs alternate (bare, journal, bare, ...); each side's best counts for the ratios. The
append ratio of each journal run against the bare run just before it is printed too,
with its median: the bare side is one serial fsync after another, so its best run is
the one the disk was quickest for, and the pairs show how far that moves the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lmdb

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorder.inspect import verify  # noqa: E402
from recorder.journal import Record  # noqa: E402
from recorder.journal.codec import encode_key, encode_record  # noqa: E402
from recorder.journal.reader import JournalReader  # noqa: E402
from recorder.journal.writer import JournalWriter  # noqa: E402
from tools.captures import HFTBACKTEST_USDM  # noqa: E402

CAPTURE = HFTBACKTEST_USDM
COMMITTER = "process"


def load_frames(n: int) -> list[tuple[int, bytes]]:
    base: list[tuple[int, bytes]] = []
    with gzip.open(CAPTURE, "rt") as f:
        for line in f:
            head, _, body = line.rstrip("\n").partition(" ")
            base.append((int(head), body.encode()))
    span = base[-1][0] - base[0][0] + 1
    out = []
    loop = 0
    while len(out) < n:
        shift = loop * span
        out.extend((t + shift, p) for t, p in base)
        loop += 1
    return out[:n]


def bench_bare_append(path: Path, frames: list[tuple[int, bytes]], batch: int) -> float:
    rows = [(encode_key(i + 1), encode_record(Record(i + 1, t, 1, "frame", p)))
            for i, (t, p) in enumerate(frames)]
    env = lmdb.open(str(path), map_size=8 << 30, max_dbs=4, sync=True)
    db = env.open_db(b"records")
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        with env.begin(write=True) as txn:
            txn.cursor(db=db).putmulti(rows[i:i + batch], append=True)
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed


def bench_bare_read(path: Path) -> tuple[float, int]:
    env = lmdb.open(str(path), map_size=8 << 30, max_dbs=4, readonly=True, lock=False)
    db = env.open_db(b"records")
    start = time.perf_counter()
    n = 0
    total = 0
    with env.begin() as txn:
        for _key, value in txn.cursor(db=db):
            n += 1
            total += len(value)
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed, n


def bench_journal_append(data: Path, frames: list[tuple[int, bytes]], batch: int,
                         committer: str = COMMITTER) -> tuple[float, int, float]:
    """Seconds, commits, and the longest time between two commits (or the first append and the first)."""
    start = time.perf_counter()
    writer = JournalWriter(data, durability="fsync", commit_interval_ms=50, commit_max_records=batch,
                           committer=committer,
                           map_size=8 << 30)
    times: list[float] = []
    writer.on_commit = lambda _n, _s: times.append(time.perf_counter())
    sid = writer.register_stream("binance-usdm", url="wss://fstream.binance.com/stream")
    append = writer.append
    times.append(time.perf_counter())
    for t, p in frames:
        append(sid, "frame", p, ts_ns=t)
    writer.close()
    longest = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
    return time.perf_counter() - start, writer.commits, longest


def bench_journal_read(data: Path) -> tuple[float, int, int]:
    """Seconds, records read, and how many were backpressure ``mark`` records."""
    reader = JournalReader(data, map_size=8 << 30)
    start = time.perf_counter()
    n = marks = 0
    for rec in reader.read():
        n += 1
        if rec.kind == "mark":
            marks += 1
    elapsed = time.perf_counter() - start
    reader.close()
    return elapsed, n, marks


def bench_journal_read_columns(data: Path) -> tuple[float, int]:
    """Seconds and records of ``JournalReader.read_columns()`` over the whole journal."""
    reader = JournalReader(data, map_size=8 << 30)
    start = time.perf_counter()
    n = sum(map(len, reader.read_columns()))
    elapsed = time.perf_counter() - start
    reader.close()
    return elapsed, n


def bench_verify(data: Path) -> tuple[float, int, int]:
    """Seconds, records verified and segments of ``recorder verify`` over the journal (which must be sound)."""
    reader = JournalReader(data, map_size=8 << 30)
    start = time.perf_counter()
    v = verify(reader)
    elapsed = time.perf_counter() - start
    reader.close()
    assert v.ok, v.problems[:3]
    return elapsed, v.records, v.segments


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000, help="records per bare-LMDB transaction")
    ap.add_argument("--commit-records", type=int, default=20_000,
                    help="the journal's commit_max_records (its commits are also due every 50 ms)")
    ap.add_argument("--repeat", type=int, default=5, help="append runs of each side; the best counts")
    ap.add_argument("--read-repeat", type=int, default=5, help="read runs of each side (a second each)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    frames = load_frames(args.records)
    n = len(frames)
    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-journal-"))
    # Bare and journal runs alternate and each keeps its best of --repeat: on a shared,
    # noisy machine that compares the two at their least disturbed.
    t_bare_append = t_append = t_bare_read = t_read = t_verify = t_columns = float("inf")
    try:
        pairs: list[float] = []  # each journal run against the bare run just before it
        for r in range(args.repeat):
            bare = tmp / f"bare{r}"
            bare.mkdir()
            tb = bench_bare_append(bare, frames, args.batch)
            t_bare_append = min(t_bare_append, tb)
            t, c, longest = bench_journal_append(tmp / f"journal{r}", frames, args.commit_records)
            pairs.append(tb / t)
            if t < t_append:
                t_append, commits, max_interval = t, c, longest
            if r:
                shutil.rmtree(tmp / f"bare{r - 1}")
                shutil.rmtree(tmp / f"journal{r - 1}")
        for _ in range(args.read_repeat):
            t, nb = bench_bare_read(bare)
            t_bare_read = min(t_bare_read, t)
            t, nr, marks = bench_journal_read(tmp / f"journal{args.repeat - 1}")
            t_read = min(t_read, t)
            t, nc = bench_journal_read_columns(tmp / f"journal{args.repeat - 1}")
            t_columns = min(t_columns, t)
            t, nv, segments = bench_verify(tmp / f"journal{args.repeat - 1}")
            t_verify = min(t_verify, t)
        # Every frame is there; when appends outran fsync the writer held the producer back
        # and journaled each stall as a mark (counted, reported).
        assert nb == n and nr - marks == n and nv == nr == nc, (nb, nr, nv, nc, marks, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "records": n,
        "bare_append_rps": round(n / t_bare_append),
        "append_rps": round(n / t_append),
        "append_ratio": round(t_bare_append / t_append, 3),
        "append_ratio_pairs": [round(x, 3) for x in pairs],
        "append_ratio_median": round(statistics.median(pairs), 3),
        "commits": commits,
        "mean_commit_interval_ms": round(t_append / max(commits, 1) * 1000, 2),
        "max_commit_interval_ms": round(max_interval * 1000, 2),
        "bare_read_rps": round(n / t_bare_read),
        "backpressure_marks": marks,
        "read_rps": round(nr / t_read),
        "read_ratio": round((nr / t_read) / (n / t_bare_read), 3),
        "read_columns_rps": round(nc / t_columns),
        "read_columns_ratio": round((nc / t_columns) / (n / t_bare_read), 3),
        "verify_rps": round(nv / t_verify),
        "verify_segments": segments,
    }
    print(f"records            {n}")
    print(f"append   bare {result['bare_append_rps']:>10} rec/s   journal {result['append_rps']:>10} rec/s"
          f"   ratio {result['append_ratio']}  (goal >= 1.0 when CPU-bound, issue 16; {commits} fsync'ed commits,"
          f" one per {result['mean_commit_interval_ms']} ms, longest gap {result['max_commit_interval_ms']} ms;"
          f" {marks} backpressure marks)")
    print(f"         each journal run against the bare run before it: {result['append_ratio_pairs']},"
          f" median {result['append_ratio_median']} (the bare side's fsyncs swing with the disk)")
    print(f"read     bare {result['bare_read_rps']:>10} rec/s   journal {result['read_rps']:>10} rec/s"
          f"   ratio {result['read_ratio']}  (goal >= 1.0, issue 16)")
    print(f"columns  {'':>20}   journal {result['read_columns_rps']:>10} rec/s"
          f"   ratio {result['read_columns_ratio']}  (read_columns: the same checks, no Record objects)")
    print(f"verify   {result['verify_rps']:>10} rec/s   ({nv} records in {segments} segments)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
