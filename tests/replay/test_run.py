"""A run gives the same report whatever holds the records: journal, archive + journal, memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from replay.engine import EngineConfig
from replay.errors import ParamError, StrategyLoadError
from replay.run import run_strategy
from replay.source import HistoricalSource

from .conftest import RECORDS, SPLIT

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
REPORT = ("summary.json", "fills.parquet", "equity.parquet", "chart.html")


def _files(d: Path) -> dict[str, bytes]:
    return {f: (d / f).read_bytes() for f in REPORT}


def test_a_backtest_straddling_archive_and_journal_equals_one_over_the_journal(straddle, tmp_path):
    plain, mixed = straddle
    out = {}
    for name, data in (("plain", plain), ("mixed", mixed)):
        with HistoricalSource(data) as src:
            out[name] = run_strategy(src, STRATEGY, config=EngineConfig(latency_ns=10_000_000),
                                     report_dir=tmp_path / name)
    (a, sa), (b, sb) = out["plain"], out["mixed"]
    assert a.records == b.records == RECORDS
    assert sa == sb and a.digest == b.digest
    assert sa["trades"] > 0
    # Trades on both sides of the seam.
    assert min(f.seq for f in b.fills) < SPLIT <= max(f.seq for f in b.fills)
    assert _files(tmp_path / "plain") == _files(tmp_path / "mixed")


def test_a_backtest_over_a_memory_source_equals_one_over_the_journal(straddle, tmp_path):
    plain, _ = straddle
    config = EngineConfig(latency_ns=5_000_000)
    with HistoricalSource(plain) as src:
        want, want_summary = run_strategy(src, STRATEGY, config=config, report_dir=tmp_path / "journal")
    with JournalReader(plain) as r:
        mem = MemorySource(list(r.read()), r.streams())
        # A RecordSource goes in as it is, read whole: the journal itself, and its twin.
        direct, direct_summary = run_strategy(r, STRATEGY, config=config, report_dir=tmp_path / "reader")
    got, got_summary = run_strategy(mem, STRATEGY, config=config, report_dir=tmp_path / "memory")
    assert want.records == got.records == direct.records == RECORDS
    assert want_summary["trades"] > 0 and len(want.fills) == len(got.fills)
    assert got_summary == want_summary == direct_summary and got.digest == want.digest
    assert _files(tmp_path / "memory") == _files(tmp_path / "journal") == _files(tmp_path / "reader")


def test_a_bad_strategy_or_param_fails_before_any_record_is_read(tmp_path):
    class Untouchable(MemorySource):
        def read(self, *a, **k):
            raise AssertionError("read before the strategy was checked")

    src = Untouchable([])
    with pytest.raises(StrategyLoadError, match="not found"):
        run_strategy(src, str(tmp_path / "missing.py"))
    with pytest.raises(ParamError, match="--param nope: unknown"):
        run_strategy(src, STRATEGY, params=["nope=1"])
