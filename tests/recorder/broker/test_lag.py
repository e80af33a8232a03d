"""The lag benchmark's function runs end to end against a real server (figures, no speed asserted)."""

from __future__ import annotations

from tools.bench.broker_lag import follower_lag


def test_follower_lag_figures(nats_server):
    out = follower_lag(nats_server.url, rate=2000, seconds=1.5)
    assert out["complete"] is True and out["records"] > 1000
    assert 0 < out["follower_lag_p50_ms"] <= out["follower_lag_p99_ms"] <= out["follower_lag_max_ms"]
