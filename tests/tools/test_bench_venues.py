"""tools/bench/venues.py: the universe split within the recorder's pool limits, the figures'
arithmetic, and one tiny run recording all six venues with every frame journaled."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tools.bench import venues

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def test_split_gives_even_shares_and_caps_phemex_at_its_five_connections():
    got = venues.split(5000)
    assert sum(got.values()) == 5000
    assert got["phemex"] == 50  # 5 connections x 20 subscriptions / 2 channels
    assert sorted(got[v] for v in venues.VENUES if v != "phemex") == [990] * 5
    small = venues.split(61)
    assert sum(small.values()) == 61 and max(small.values()) - min(small.values()) <= 1
    # Binance spot's six majors count against nothing; a cap counts what the venue lists too
    assert venues.capacity("phemex") == 50 and venues.capacity("okx") is None


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile():
    hist = [(0.001, 50.0), (0.01, 90.0), (0.1, 100.0), (math.inf, 100.0)]
    assert venues.quantile(0.5, hist) == pytest.approx(0.001)
    assert venues.quantile(0.9, hist) == pytest.approx(0.01)
    assert venues.quantile(0.95, hist) == pytest.approx(0.01 + 0.09 * 0.5)
    assert venues.quantile(0.99, [(0.001, 0.0), (math.inf, 0.0)]) is None
    samples = {'x_bucket{le="0.01"}': 3.0, 'x_bucket{le="+Inf"}': 4.0, 'x_count': 4.0}
    assert venues.buckets(samples, "x") == [(0.01, 3.0), (math.inf, 4.0)]


def test_growth_is_the_least_squares_slope_per_minute():
    assert venues.slope_per_min([(0, 100.0), (30, 101.0), (60, 102.0)]) == pytest.approx(2.0)
    assert venues.slope_per_min([(0, 100.0)]) == 0.0


def test_a_tiny_run_records_every_venue_and_journals_every_frame_sent():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "venues.py"),
                          "--symbols", "60", "--duration", "8", "--json"],
                         capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("symbols", "venues", "duration_s", "frames", "frames_per_s", "connections",
                "rss_start_mb", "rss_end_mb", "rss_max_mb", "rss_growth_mb_per_min",
                "recv_to_journal_p99_ms", "frames_missing", "by_venue"):
        assert key in res, key
    assert (res["symbols"], res["venues"], res["duration_s"]) == (60, 6, 8.0)
    assert res["frames_missing"] == 0 and res["per_connection_equal"] is True
    assert res["gaps"] == 0  # every synthetic book chains as its venue's rule wants
    assert set(res["by_venue"]) == set(venues.VENUES)
    for v, d in res["by_venue"].items():
        assert d["connections"] >= 1 and d["frames"] > 0 and d["frames_per_s"] > 0, v
        assert d["sent"] == d["frames"] and d["frames_missing"] == 0, v
    assert res["venue_symbols"] == {**{v: 10 for v in venues.VENUES}, "binance-spot": 16}
    assert res["frames"] == sum(d["frames"] for d in res["by_venue"].values())
    assert res["connections"] == sum(d["connections"] for d in res["by_venue"].values())
    assert 0 < res["rss_start_mb"] <= res["rss_max_mb"] and res["rss_end_mb"] <= res["rss_max_mb"]
    if res["latency_samples"]:
        assert 0 < res["recv_to_journal_p50_ms"] <= res["recv_to_journal_p99_ms"]
