"""Each benchmark script runs, checks what it must (every record read back, same digests)
and prints the JSON its issue names. Small inputs; never a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / f"{name}.py"), *args, "--json"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("name", "args", "keys", "counts"), [
    ("journal", ("--records", "30000", "--repeat", "1", "--read-repeat", "1", "--batch", "5000",
                 "--commit-records", "5000"),
     {"append_ratio", "read_ratio", "append_rps", "read_rps", "max_commit_interval_ms"}, {"records": 30_000}),
    ("projection", ("--records", "20000", "--repeat", "1"), {"ratio", "frames_per_s"},
     {"frames": 93_954}),  # whole passes over the capture: at least one
    ("replay", ("--records", "20000", "--chunk", "10000", "--rounds", "1"), {"ratio"},
     {"records": 93_954}),
    ("compact", ("--repeat", "1"), {"ratio", "rows_per_s", "archive_bytes_ratio"},
     {"records": 93_954, "trades": 21_313}),
    ("market", ("--reads", "2000", "--symbols", "12", "--candle-repeat", "10", "--latency", "0.01",
                "--far-latency", "0.02"),
     {"memory_p99_us", "attach_ticker_p99_us", "cached_candles_p99_ms", "tickers_speedup",
      "candles_1200_speedup_10ms", "candles_1200_speedup_20ms"},
     {"attach_sources": ["memory"], "tickers_symbols": 12, "tickers_one_call_requests": 1,
      "cached_candles": 400, "candles_1200_pages_10ms": 7}),
    ("venues", ("--symbols", "60", "--duration", "8"),
     {"frames", "frames_per_s", "connections", "rss_end_mb"},
     {"symbols": 60, "venues": 6, "frames_missing": 0, "per_connection_equal": True}),
])
def test_bench_runs_and_prints_its_json(name, args, keys, counts):
    result = _bench(name, *args)
    assert keys <= set(result)
    assert all(result[k] > 0 for k in keys)
    assert {k: result[k] for k in counts} == counts


def test_projection_bench_splits_the_capture_by_frame_type():
    result = _bench("projection", "--records", "20000", "--repeat", "1", "--by-kind")
    kinds = result["by_kind"]
    assert {k: v["frames"] for k, v in kinds.items()} == {
        "depth diff": 6_551, "bookTicker": 66_089, "trade": 21_313, "rest snapshot": 1}
    assert all(v["projection_ms"] > 0 and v["decode_ms"] > 0 for v in kinds.values())
