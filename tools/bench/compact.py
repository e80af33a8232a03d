"""Compaction throughput against bare pyarrow on the same records, in the same run.

    python tools/bench/compact.py [--repeat N] [--json]      # about a minute

Input: the hftbacktest Binance USD-M capture (~94k records, one UTC day) imported into a
journal. Each measurement runs on a fresh copy of that journal (copying is not timed)
and the best of ``--repeat`` runs is kept (the machine is shared: the best run is the
least disturbed one); CPU time (``process_time``, every thread) is reported beside
wall time, being less sensitive to other load. Measured:

- baseline: the same raw columns (seq, ts_ns, stream, kind, payload, meta), already in
  Python lists, turned into Arrow arrays and written with bare ``pyarrow.parquet``
  (zstd, one file);
- raw compaction: ``compact(derived=False)``: read the journal day, write the raw
  Parquet, read it back to verify both checksums, manifest, prune the journal day;
  ``ratio`` = its rows/s over the baseline's (goal >= 0.5);
- full compaction: the same plus every derived table (a projection pass of ``state/``
  over the day, the cost of which ``tools/bench/projection.py`` measures);
- bound: the CPU time of what any verified compaction adds to the baseline's work
  (journal walk and decode, the two manifest digests, the read-back), measured the
  same way: ``cpu_floor_ratio`` is the best CPU-time ratio possible without dropping
  a check;
- a DuckDB query over the day of trades (minute VWAP per symbol) on the archive;
- archive bytes per journal byte (the day's Parquet files over its LMDB segment file).

``--json`` prints one JSON object last: ``ratio``, ``rows_per_s`` (raw compaction),
``archive_bytes_ratio`` (full archive), and the rest of the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from query import manifest  # noqa: E402
from query.archive import RAW_SCHEMA, RecordDigest, add_to_columns  # noqa: E402
from query.catalog import connect  # noqa: E402
from query.compact import CHUNK, compact  # noqa: E402
from recorder.importer import import_files  # noqa: E402
from recorder.journal.codec import decode_columns  # noqa: E402
from recorder.journal.reader import JournalReader  # noqa: E402
from tools.captures import HFTBACKTEST_USDM  # noqa: E402

CAPTURE = HFTBACKTEST_USDM  # embedded in data/captures
NOW_NS = 1_900_000_000 * 10**9  # a clock long after the capture: its day is finished

VWAP = """
SELECT symbol, time_bucket(INTERVAL 1 minute, ts) AS minute,
       sum(price * size) / sum(size) AS vwap, sum(size) AS volume, count(*) AS trades
FROM trades WHERE date = DATE '{day}'
GROUP BY ALL ORDER BY symbol, minute
"""


def bench_bare(cols: tuple[list, ...], path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    arrays = [pa.array(c, type=f.type) for c, f in zip(cols, RAW_SCHEMA, strict=True)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=RAW_SCHEMA), path, compression="zstd")
    return time.perf_counter() - start, time.process_time() - cpu


def bench_floor(source: Path, bare_file: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the work any verified compaction adds to the baseline's.

    Walking the journal day (``raw_chunks``: the C cursor walk), decoding and checking
    its values as columns (``decode_columns``: what compaction's raw path decodes), the
    two manifest digests over the stored bytes (blake2b over seq + payload, as
    ``recorder verify``; over seq + value) and reading the Parquet file back. Serially, so ``baseline / (baseline + this)`` bounds the CPU-time ratio; a
    compaction overlapping them on two cores may beat it on wall time.
    """
    start, cpu = time.perf_counter(), time.process_time()
    digest = RecordDigest()
    with JournalReader(source) as r:
        (seg,) = [s for s in r.segments() if s.records]
        expected = seg.first_seq
        for keys, values in r.raw_chunks(seg.day, CHUNK):
            cols = decode_columns(expected, keys, values)
            expected += len(cols)
            digest.add_columns(keys, values, cols)
    pq.read_table(bare_file)
    return time.perf_counter() - start, time.process_time() - cpu


def bench_compact(source: Path, work: Path, derived: bool) -> tuple[float, float, Path]:
    """(wall, CPU) seconds and the data dir compacted."""
    data = work / ("full" if derived else "raw")
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source, data)
    start, cpu = time.perf_counter(), time.process_time()
    res = compact(data, derived=derived, now_ns=NOW_NS)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert res.compacted and res.pruned == res.compacted, res
    return elapsed, cpu, data


def day_bytes(data: Path) -> tuple[str, int, int, int]:
    """(day, archive bytes of every table, raw bytes, journal bytes) of the one archived day."""
    m = manifest.load(data)
    (day,) = manifest.days(m)
    e = m["days"][day]
    total = sum(f["bytes"] for t in e["tables"].values() for f in t["files"])
    raw = sum(f["bytes"] for f in e["tables"]["raw"]["files"])
    return day, total, raw, e["journal_bytes"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs of baseline and raw compaction, alternated (best kept); half as many full runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-compact-"))
    try:
        source = tmp / "source"
        import_files(source, [CAPTURE], venue="binance-usdm")
        cols: tuple[list, ...] = ([], [], [], [], [], [])
        with JournalReader(source) as r:
            for rec in r.read():
                add_to_columns(cols, rec)
        n = len(cols[0])
        # Alternate baseline and compaction so both meet the same background load.
        bare, raw, floor = [], [], []
        for i in range(args.repeat):
            bare.append(bench_bare(cols, tmp / f"bare-{i}.parquet"))
            raw.append(bench_compact(source, tmp, derived=False))
            floor.append(bench_floor(source, tmp / f"bare-{i}.parquet"))
        t_floor, c_floor = min(f[0] for f in floor), min(f[1] for f in floor)
        t_bare, c_bare = min(b[0] for b in bare), min(b[1] for b in bare)
        bare_bytes = (tmp / "bare-0.parquet").stat().st_size
        t_raw, c_raw = min(r[0] for r in raw), min(r[1] for r in raw)
        full_repeat = max(1, args.repeat // 2)
        full = [bench_compact(source, tmp, derived=True) for _ in range(full_repeat)]
        t_full, c_full = min(r[0] for r in full), min(r[1] for r in full)
        data = full[-1][2]
        day, total, raw_bytes, journal_bytes = day_bytes(data)
        m = manifest.load(data)
        trades = m["days"][day]["tables"]["trades"]["rows"]

        start = time.perf_counter()
        con = connect(data, hot=False)
        t_connect = time.perf_counter() - start
        q = VWAP.format(day=day)
        best = float("inf")
        rows = 0
        for _ in range(max(args.repeat, 3)):
            start = time.perf_counter()
            rows = len(con.sql(q).fetchall())
            best = min(best, time.perf_counter() - start)
        assert rows > 0
        check = con.sql(f"SELECT count(*) FROM trades WHERE date = DATE '{day}'").fetchall()[0][0]
        assert check == trades, (check, trades)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "records": n,
        "journal_bytes": journal_bytes,
        "bare_rows_per_s": round(n / t_bare),
        "rows_per_s": round(n / t_raw),
        "ratio": round(t_bare / t_raw, 3),
        "cpu_ratio": round(c_bare / c_raw, 3),
        "floor_ratio": round(t_bare / (t_bare + t_floor), 3),
        "cpu_floor_ratio": round(c_bare / (c_bare + c_floor), 3),
        "bare_cpu_s": round(c_bare, 3),
        "raw_cpu_s": round(c_raw, 3),
        "floor_cpu_s": round(c_floor, 3),
        "full_rows_per_s": round(n / t_full),
        "full_ratio": round(t_bare / t_full, 3),
        "full_cpu_rows_per_s": round(n / c_full),
        "full_cpu_s": round(c_full, 3),
        "archive_bytes": total,
        "archive_bytes_ratio": round(total / journal_bytes, 4),
        "raw_bytes_ratio": round(raw_bytes / journal_bytes, 4),
        "bare_bytes_ratio": round(bare_bytes / journal_bytes, 4),
        "trades": trades,
        "vwap_query_ms": round(best * 1000, 2),
        "vwap_rows": rows,
        "connect_ms": round(t_connect * 1000, 2),
    }
    print(f"records             {n} (one day, {journal_bytes / 2**20:.1f} MiB of journal)")
    print(f"bare pyarrow        {result['bare_rows_per_s']:>10} rows/s  (raw columns -> zstd Parquet)")
    print(f"compact, raw only   {result['rows_per_s']:>10} rows/s  ratio {result['ratio']} (goal >= 0.5;"
          " includes journal read, read-back verify, manifest, prune)")
    print(f"  by CPU time (all threads; less sensitive to a loaded machine): ratio {result['cpu_ratio']}"
          f" ({result['raw_cpu_s']} s vs {result['bare_cpu_s']} s)")
    print(f"  bound: baseline / (baseline + journal walk + decode + both manifest digests + read-back,"
          f" serially) = {result['cpu_floor_ratio']} by CPU ({result['floor_cpu_s']} s of such work),"
          f" {result['floor_ratio']} by wall")
    print(f"compact, all tables {result['full_rows_per_s']:>10} rows/s  ratio {result['full_ratio']}"
          f" (adds the state/ projection pass for the derived tables; {result['full_cpu_rows_per_s']}"
          " rows per CPU second)")
    print(f"archive bytes / journal bytes  {result['archive_bytes_ratio']} (raw alone "
          f"{result['raw_bytes_ratio']}; bare pyarrow file {result['bare_bytes_ratio']})")
    print(f"DuckDB minute VWAP over {trades} trades of {day}: {result['vwap_query_ms']} ms "
          f"({rows} rows; connect {result['connect_ms']} ms)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
