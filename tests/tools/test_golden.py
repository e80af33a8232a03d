"""Behaviour is unchanged by refactors: every capture's journal bytes, state digest, archive
files and two backtest reports equal the golden outputs recorded before the re-housing
(``tests/fixtures/golden.json``, written by ``python -m tools.golden --write``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import golden

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "golden.json"


@pytest.fixture(scope="module")
def now() -> dict:
    return golden.measure()


@pytest.fixture(scope="module")
def want() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("name", golden.NAMES)
def test_capture_outputs_equal_golden(now, want, name):
    got, exp = now["captures"][name], want["captures"][name]
    assert got["records"] == exp["records"]
    assert got["journal_sha256"] == exp["journal_sha256"]
    assert got["state_digest"] == exp["state_digest"]
    assert got["archive"] == exp["archive"]
    assert len(got["archive"]) >= 5  # raw, trades/quotes/... were written, not an empty archive


@pytest.mark.parametrize("name", [b[0] for b in golden.BACKTESTS])
def test_backtest_reports_equal_golden(now, want, name):
    assert now["backtests"][name] == want["backtests"][name]
    assert {"summary.json", "fills.parquet", "equity.parquet", "chart.html"} <= set(now["backtests"][name])
