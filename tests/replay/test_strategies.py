"""The two example strategies run on the shared captures, and trade with suitable params."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recorder.importer import import_files
from replay.cli import main
from replay.engine import EngineConfig
from replay.run import run_strategy
from replay.source import HistoricalSource
from replay.strategy import load_strategy
from tests.conftest import capture_path

from .synth import write_kimchi

STRATEGIES = Path(__file__).resolve().parents[2] / "data" / "strategies"
IMBALANCE = str(STRATEGIES / "imbalance_momentum.py")
KIMCHI = str(STRATEGIES / "kimchi_premium.py")


def backtest(data, spec, params=(), **config):
    with HistoricalSource(data) as src:
        return run_strategy(src, spec, params=list(params), config=EngineConfig(**config))


def test_imbalance_momentum_trades_on_the_binance_usdm_capture(capture_journal):
    res, summ = backtest(capture_journal("hftbacktest"), IMBALANCE, latency_ns=10_000_000)
    assert res.records == 93_954
    entries = [f for f in res.fills if f.tag == "entry"]
    exits = [f for f in res.fills if f.tag == "exit"]
    assert entries and exits
    assert summ["rejected_orders"] == 0
    assert all(f.venue == "binance-usdm" and f.symbol == "BTCUSDT" for f in res.fills)
    # Every position is closed by its exit except perhaps the last one.
    assert abs(res.portfolio.position("binance-usdm", "BTCUSDT")) <= D("0.01")
    # Fees are the taker rate on every fill (market orders only).
    assert all(f.fee == f.notional * D("0.0005") and f.liquidity == "taker" for f in res.fills)


def test_imbalance_momentum_on_another_venue_capture(capture_journal):
    data = capture_journal("BINANCE_FUTURES")
    quiet, _ = backtest(data, IMBALANCE, ["symbol=CTKUSDT"])  # |imbalance| never reaches 0.6
    assert quiet.records == 1541 and quiet.fills == []
    res, summ = backtest(data, IMBALANCE, ["symbol=CTK-USDT-PERP", "entry=0.3", "hold_s=3",
                                           "cooldown_s=1", "qty=100"])
    assert summ["trades"] > 0 and {f.symbol for f in res.fills} == {"CTKUSDT"}


@pytest.fixture(scope="module")
def upbit_and_binance(tmp_path_factory):
    """The Upbit and Binance USD-M captures imported into one journal."""
    data = tmp_path_factory.mktemp("upbit-binance")
    import_files(data, [capture_path("UPBIT"), capture_path("BINANCE_FUTURES")])
    return data


def test_kimchi_premium_runs_on_the_upbit_and_binance_captures(upbit_and_binance):
    # The captures share no coin (Upbit WAVES/LAMB vs Binance SUSHI/AKRO/KEEP/CTK), were
    # recorded months apart and hold no KRW-USDT market: no premium, so no trade.
    res, summ = backtest(upbit_and_binance, KIMCHI)
    assert res.records == 452 + 1541  # every line of both files but their headers
    assert res.fills == [] and summ["pnl"] == "0" and summ["unpriced_currencies"] == []


def test_kimchi_premium_round_trips(tmp_path):
    data = write_kimchi(tmp_path, seconds=120)
    res, summ = backtest(data, KIMCHI)
    venues = [f.venue for f in res.fills]
    assert venues.count("upbit") == venues.count("binance-usdm") >= 4
    # Entries buy Upbit and sell the twin when the premium is cheap, exits reverse them.
    first_up = next(f for f in res.fills if f.venue == "upbit")
    first_twin = next(f for f in res.fills if f.venue == "binance-usdm")
    assert (first_up.side, first_twin.side) == ("buy", "sell")
    assert res.portfolio.position("upbit", "KRW-BTC") in (D(0), D("0.01"))
    assert summ["by_venue"]["upbit:KRW"]["currency"] == "KRW"
    assert summ["unpriced_currencies"] == []
    # Higher thresholds: no trade.
    _, none = backtest(data, KIMCHI, ["entry=0.05"])
    assert none["trades"] == 0


def test_each_example_declares_one_strategy():
    for spec in (IMBALANCE, KIMCHI):
        loaded = load_strategy(spec)
        assert loaded.cls.params and len(loaded.sha256) == 64
    with pytest.raises(ValueError, match="no Strategy subclass"):
        load_strategy(f"{KIMCHI}:Nope")


@pytest.mark.parametrize("strategy,journal", [(IMBALANCE, "hftbacktest"), (KIMCHI, "upbit+binance")])
def test_examples_on_the_captures_write_a_report_and_end_with_the_chart_path(
        strategy, journal, capture_journal, upbit_and_binance, tmp_path, capsys):
    data = upbit_and_binance if journal == "upbit+binance" else capture_journal(journal)
    report = tmp_path / "report"
    assert main(["--data", str(data), "--from", "1", "--strategy", strategy, "--report", str(report),
                 "--latency-ms", "10", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    chart = report.resolve() / "chart.html"
    assert lines[-1] == f"chart: {chart}"
    assert {p.name for p in report.iterdir()} == {"summary.json", "fills.parquet", "equity.parquet",
                                                   "chart.html"}
    summary = json.loads((report / "summary.json").read_text())
    assert summary["sharpe_period"] == "1m" and summary["sharpe_periods_per_year"] == 525_600
    assert summary["period"]["records"] == (93_954 if journal == "hftbacktest" else 452 + 1541)
    html = chart.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<polyline" in html
    fills = pq.read_table(report / "fills.parquet")
    assert fills.num_rows == summary["trades"]
    if strategy == IMBALANCE:
        assert summary["trades"] > 0 and "Position binance-usdm BTCUSDT" in html
        assert html.count("<polyline") == 2  # equity and the position


def test_json_keeps_the_summary_last_and_sends_the_chart_path_to_stderr(capture_journal, tmp_path, capsys):
    report = tmp_path / "r"
    assert main(["--data", str(capture_journal("hftbacktest")), "--to", "2000", "--strategy", IMBALANCE,
                 "--report", str(report), "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["period"]["records"] == 2000
    assert f"chart: {report.resolve() / 'chart.html'}" in err
