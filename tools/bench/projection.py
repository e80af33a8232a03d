"""Projection throughput against the fastest plain JSON decode of the same payloads.

    python tools/bench/projection.py [--records N] [--repeat R] [--json] [--profile] [--by-kind]

Input: the hftbacktest capture (Binance USD-M BTCUSDT: depth@0ms diffs, bookTicker,
trades and one REST depth snapshot), read from its ``<ns> <json>`` lines into
``Record`` objects exactly as the importer makes them (stream 1 = WebSocket, stream 2 =
the REST snapshot). To reach N records (1M by default) the capture is projected
several times over, each pass by a fresh ``Projector``: the payloads stay byte-exact
and every pass re-syncs its book from the snapshot and applies all diffs, so no pass
takes a cheap "stale update" path.

Measured in the same run, on the same payloads:
- projection: ``Projector.apply_many`` (decode + books + validation + features fold, all
  in the compiled core: ``ticktape_core.Fold``);
- baseline: the faster of ``orjson.loads`` and untyped ``msgspec.json.decode`` of every
  payload (decode only, nothing built from it), both measured in the run.
Each side runs ``--repeat`` times (2), interleaved, and its best run counts. Times are
this process's CPU time (``time.process_time``), i.e. frames per second of one core:
the machine is shared, and wall time would also count the moments another process
held the core (both sides are measured the same way; the ratio is what matters).
Reported: frames/s for both and ratio = projection / baseline (goal, issue 16: >= 2.0, and
>= 1,000,000 frames/s). ``--json`` prints a last line ``{"ratio": .., "frames_per_s": ..}``.

Also reported (a micro-benchmark of reads, as the query layer makes them):
``Book.top_asks(20)`` on a 1000-level side that a walk of deltas keeps changing (a new
level and a removed one per delta, one read per delta), in microseconds per read,
beside ``best_ask()``: both should not grow with the book. The book is built and changed
only as any book is, by ``apply_snapshot`` / ``apply_delta``.

``--by-kind`` times each frame type alone (``Projector.apply`` against the baseline's
decode of the same payloads), and beside them the fold as the replay runs it ("batch us":
``Projector.apply_many`` over each run of consecutive records of one type, in the
capture's order, so the state evolves as in the whole pass; no event is kept and a frame
makes no Python object, the fold being the core's) and the compiled core's decoder alone
(``ticktape_core.decode_count``: typed events made and dropped in Rust).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import gzip
import json
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import orjson
import ticktape_core

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorder.journal.record import FRAME, REST, Record, StreamInfo  # noqa: E402
from state.book import Book  # noqa: E402
from state.events import BookDelta, BookSnapshot  # noqa: E402
from state.projector import Projector  # noqa: E402
from tools.captures import HFTBACKTEST_USDM  # noqa: E402

CAPTURE = HFTBACKTEST_USDM  # embedded in data/captures
WS_URL = "wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/btcusdt@trade"
REST_URL = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT"
STREAMS = {1: StreamInfo(1, "binance-usdm", "usdm", WS_URL),
           2: StreamInfo(2, "binance-usdm", "usdm", REST_URL)}


def load(path: Path) -> list[Record]:
    """The capture as journal records (seq from 1, ts = the line's local time)."""
    out = []
    with gzip.open(path, "rb") as f:
        for seq, line in enumerate(f, start=1):
            ts, _, body = line.rstrip(b"\n").partition(b" ")
            if body.startswith(b'{"stream"'):
                out.append(Record(seq, int(ts), 1, FRAME, body, None))
            else:
                out.append(Record(seq, int(ts), 2, REST, body, {"url": REST_URL, "inferred": True}))
    return out


def timed(fn, *args) -> float:
    """CPU seconds of this process spent in ``fn`` (see the module docstring)."""
    gc.collect()
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def project(records: list[Record], passes: int) -> None:
    for _ in range(passes):
        Projector(STREAMS).apply_many(records)


def baseline(payloads: list[bytes], passes: int, loads=orjson.loads) -> None:
    for _ in range(passes):
        for p in payloads:
            loads(p)


def top_bench(levels: int = 1000, reads: int = 20_000) -> tuple[float, float]:
    """Microseconds per ``top_asks(20)`` and per ``best_ask()`` on a changing side of
    ``levels`` levels (a deterministic walk: no randomness in the bench).

    The book holds asks only: after each delta, ``apply_delta``'s crossed-book check stops
    at the empty bid side (no best bid: not crossed), so the timed read finds the ask heap
    as the level write left it (the check would clean it first, and ``best_ask()`` would
    time cheaper than what it costs alone). OKX's rule without sequence ids applies every
    delta.

    Each read is the first after a delta (it pays for merging the new level in),
    timed alone with ``perf_counter_ns``; the median over the reads, less the median
    of an empty timing, is reported (a median ignores the reads another process
    interrupted)."""
    def event(cls, seq: int, asks, **kw):
        return cls(venue="bench", symbol="X", norm="X", exch_ts_ns=0, recv_ts_ns=seq, seq=seq,
                   bids=(), asks=tuple(asks), **kw)

    book = Book("bench", "X", "X", "okx")
    found: list = []

    def report(ev, kind, detail, out) -> None:
        found.append((kind, detail))

    book.apply_snapshot(event(BookSnapshot, 1, [(f"{10_000.1 + i * 0.1:.1f}", "1.000")
                                                for i in range(levels)]), found, report)
    deltas = []
    for i in range(reads):  # one level moves: a new price appears, an old one is removed
        j = (i * 7919) % levels
        deltas.append([(f"{10_000.1 + j * 0.1 + 0.05:.2f}", f"{1 + i % 5}.5"),
                       (f"{10_000.1 + ((j + 3) % levels) * 0.1:.1f}", "0")])
    seq = 1
    clock = time.perf_counter_ns
    out = []
    for read in (lambda: book.top_asks(20), book.best_ask, lambda: None):
        spans = []
        for asks in deltas:
            seq += 1
            book.apply_delta(event(BookDelta, seq, asks), found, report)
            t = clock()
            read()
            spans.append(clock() - t)
        spans.sort()
        out.append(spans[len(spans) // 2])
    assert book.valid and len(book) >= levels and not found, found[:3]
    empty = out.pop()
    return tuple(max(0, x - empty) / 1000 for x in out)


def kind_of(rec: Record) -> str:
    """The frame type of a capture record, by its stream name."""
    if rec.kind == REST:
        return "rest snapshot"
    head = rec.payload[:48]
    for name in ("depth", "bookTicker", "aggTrade", "trade"):
        if b"@" + name.encode() in head:
            return "depth diff" if name == "depth" else name
    return "other"


def by_kind(records: list[Record], loads) -> dict[str, dict]:
    """CPU time per frame type, one record at a time: ``Projector.apply`` (the live
    recorder's call) against ``loads`` of the same payload.

    Each record is timed alone (``perf_counter_ns`` around the call, the same for both
    sides), so a type's total says how much of the pass it costs; the calls are the
    per-record ones, a little dearer than ``apply_many``'s loop."""
    kinds = [kind_of(r) for r in records]
    count = Counter(kinds)
    clock = time.perf_counter_ns
    for _ in range(2):  # the second pass counts: caches and memos warm, as in a long run
        proj = dict.fromkeys(kinds, 0)
        dec = dict.fromkeys(kinds, 0)
        p = Projector(STREAMS)
        apply = p.apply
        gc.collect()
        for rec, k in zip(records, kinds, strict=True):
            t = clock()
            apply(rec)
            proj[k] += clock() - t
        for rec, k in zip(records, kinds, strict=True):
            t = clock()
            loads(rec.payload)
            dec[k] += clock() - t
    core = core_decode_us(records, kinds)
    batch = batch_us(records, kinds)
    return {k: {"frames": count[k], "decode_us": dec[k] / count[k] / 1e3,
                "projection_us": proj[k] / count[k] / 1e3, "projection_ms": proj[k] / 1e6,
                "decode_ms": dec[k] / 1e6, "batch_us": batch[k] / count[k] / 1e3,
                "core_decode_us": core.get(k)}
            for k in sorted(proj, key=proj.__getitem__, reverse=True)}


def batch_us(records: list[Record], kinds: list[str], passes: int = 3) -> dict[str, int]:
    """ns per frame type of ``Projector.apply_many`` (no events kept), each run of consecutive
    records of one type timed as one call, in order: the best of ``passes`` passes."""
    runs: list[tuple[str, list[Record]]] = []
    for rec, k in zip(records, kinds, strict=True):
        if runs and runs[-1][0] == k:
            runs[-1][1].append(rec)
        else:
            runs.append((k, [rec]))
    clock = time.perf_counter_ns
    best: dict[str, int] = {}
    for _ in range(passes):
        took = dict.fromkeys(kinds, 0)
        apply_many = Projector(STREAMS).apply_many
        gc.collect()
        for k, run in runs:
            t = clock()
            apply_many(run)
            took[k] += clock() - t
        best = {k: min(v, best.get(k, v)) for k, v in took.items()}
    return best


def core_decode_us(records: list[Record], kinds: list[str], passes: int = 10) -> dict[str, float]:
    """Microseconds per frame of the compiled core's decoder alone (``ticktape::decode``:
    each frame read into its typed events and dropped, no Python object made per frame),
    per frame type: CPU time of ``passes`` passes over the type's payloads in one call."""
    by: dict[str, list[bytes]] = {}
    for rec, k in zip(records, kinds, strict=True):
        if rec.kind == FRAME:
            by.setdefault(k, []).append(rec.payload)
    out = {}
    for k, payloads in by.items():
        gc.collect()
        t = time.process_time()
        _, errors = ticktape_core.decode_count("binance-usdm", "usdm", WS_URL, payloads, passes)
        out[k] = (time.process_time() - t) / passes / len(payloads) * 1e6
        assert errors == 0, f"{errors} {k} frames the core could not decode"
    return out


def print_by_kind(table: dict[str, dict]) -> None:
    total_dec = sum(v["decode_ms"] for v in table.values())
    total_proj = sum(v["projection_ms"] for v in table.values())
    print("per frame type, one pass, one record at a time (Projector.apply vs the baseline decode):")
    print(f"  {'type':14s} {'frames':>7s} {'decode us':>10s} {'project us':>11s} {'project ms':>11s} {'share':>6s}"
          f" {'batch us':>9s} {'core decode us':>15s}")
    for k, v in table.items():
        core = "" if v["core_decode_us"] is None else f"{v['core_decode_us']:.2f}"
        print(f"  {k:14s} {v['frames']:7d} {v['decode_us']:10.2f} {v['projection_us']:11.2f}"
              f" {v['projection_ms']:11.1f} {v['projection_ms'] / total_proj:6.1%}"
              f" {v['batch_us']:9.2f} {core:>15s}")
    print(f"  total: projection {total_proj:.1f} ms, decode {total_dec:.1f} ms; ratio 0.5 allows"
          f" {2 * total_dec:.1f} ms for the whole pass")


BASELINES = {"orjson.loads": orjson.loads, "msgspec.json.decode": msgspec.json.Decoder().decode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side; the best counts")
    ap.add_argument("--json", action="store_true", help="last line: a JSON summary")
    ap.add_argument("--profile", action="store_true", help="print where projection time goes")
    ap.add_argument("--by-kind", action="store_true",
                    help="also time each frame type alone (what the ratio's budget goes to)")
    args = ap.parse_args(argv)

    records = load(CAPTURE)
    payloads = [r.payload for r in records]
    passes = max(1, -(-args.records // len(records)))
    frames = passes * len(records)

    # Sanity: one pass must leave a valid book that matched every same-id book ticker.
    check = Projector(STREAMS)
    check.apply_many(records)
    book = check.book("binance-usdm", "BTCUSDT")
    assert book.valid and book.gaps == 0 and book.ticker_ok == 629 and book.ticker_bad == 0

    # Interleaved, best of --repeat each: the machine is shared, and a run that lost
    # the CPU to another process says nothing about either side.
    t_json = dict.fromkeys(BASELINES, float("inf"))
    t_proj = float("inf")
    for _ in range(args.repeat):
        for name, loads in BASELINES.items():
            t_json[name] = min(t_json[name], timed(baseline, payloads, passes, loads))
        t_proj = min(t_proj, timed(project, records, passes))
    base_name = min(t_json, key=t_json.__getitem__)
    t_base = t_json[base_name]
    base_fps = frames / t_base
    proj_fps = frames / t_proj
    ratio = proj_fps / base_fps
    print(f"input: {len(records)} records x {passes} passes = {frames} frames")
    for name, t in t_json.items():
        mark = "  <- baseline (fastest)" if name == base_name else ""
        print(f"decode {name:20s}: {frames / t:12,.0f} frames/s ({t:.2f} s){mark}")
    print(f"projection apply_many      : {proj_fps:12,.0f} frames/s ({t_proj:.2f} s)")
    print(f"ratio                      : {ratio:.3f}  (goal >= 2.0; goal >= 1,000,000 frames/s: issue 16)")
    top_us, best_us = top_bench()
    print(f"book reads, 1000 levels: top_asks(20) {top_us:.1f} us, best_ask() {best_us:.2f} us"
          " (median per read, each after a delta)")
    kinds = None
    if args.by_kind:
        kinds = by_kind(records, BASELINES[base_name])
        print_by_kind(kinds)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        project(records, 1)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    if args.json:
        print(json.dumps({"ratio": round(ratio, 4), "frames_per_s": round(proj_fps),
                          "baseline_frames_per_s": round(base_fps), "baseline": base_name,
                          "top20_us": round(top_us, 2), "best_us": round(best_us, 3),
                          "frames": frames,
                          "passes": passes, **({"by_kind": kinds} if kinds else {})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
