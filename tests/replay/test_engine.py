"""The engine's order of things, timers, symbol filter, KRW valuation and determinism."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from replay.cli import main
from replay.engine import Engine, EngineConfig
from replay.report import drawdown, minute_returns, sharpe
from replay.strategy import Strategy

from .synth import MS, T0, kimchi_prices, write_binance, write_kimchi

STRATEGIES = Path(__file__).resolve().parents[2] / "data" / "strategies"


def run(data, strategy, **config):
    with JournalReader(data) as r:
        return Engine(strategy, config=EngineConfig(**config), streams=r.streams()).run(r.read())


def test_timers_fire_in_record_time_before_the_record_that_passes_them(tmp_path):
    data = write_binance(tmp_path)
    fired = []

    class Timers(Strategy):
        def on_start(self, ctx):
            fired.append(("start", ctx.now_ns - T0, ctx.seq))
            ctx.schedule(250 * MS, lambda c: fired.append(("a", c.now_ns - T0, c.seq)))
            ctx.schedule(None, lambda c: fired.append(("b", c.now_ns - T0, c.seq)), at_ns=T0 + 1200 * MS)
            gone = ctx.schedule(300 * MS, lambda c: fired.append(("never", 0, 0)))
            assert ctx.cancel_timer(gone)
            ctx.schedule(10_000 * MS, lambda c: fired.append(("late", 0, 0)))  # after the last record

    run(data, Timers())
    # Records are at 1000, 1100, ... ms. "a" is due at 1250: it fires before record 4
    # (1300) is applied, so the last record it has seen is 3. "b" is due exactly at
    # record 3's time: it fires before record 3.
    assert fired == [("start", 1000 * MS, 0), ("b", 1200 * MS, 2), ("a", 1250 * MS, 3)]


def test_symbol_filter_limits_the_events_the_strategy_sees(capture_journal):
    seen = set()

    class Seen(Strategy):
        def on_event(self, ctx, event, market):
            seen.add((event.symbol, market.norm if market is not None else None))

    res = run(capture_journal("BINANCE_FUTURES"), Seen(), symbols=frozenset({"CTK-USDT-PERP", "AKROUSDT"}))
    assert seen == {("CTKUSDT", "CTK-USDT-PERP"), ("AKROUSDT", "AKRO-USDT-PERP")}
    assert res.records == 1541  # every record was still projected


def test_krw_legs_are_valued_at_the_recorded_upbit_krw_usdt_rate(tmp_path):
    data = write_kimchi(tmp_path, seconds=4, krw_per_usdt=1400)
    out = {}

    class BuyUpbit(Strategy):
        def on_start(self, ctx):
            ctx.schedule(1000 * MS, lambda c: c.buy("upbit", "BTC-KRW", "0.01"))
            ctx.schedule(2000 * MS, lambda c: out.update(fx=c.fx("KRW"), eq=c.equity(),
                                                         bal=c.balances, pos=c.position("upbit", "KRW-BTC")))

    res = run(data, BuyUpbit())
    # Books move every 500 ms (Binance at +1 ns, Upbit KRW-USDT at +2, KRW-BTC at +3).
    # The buy, sent at 1000 ms, meets the record at 1000 ms + 1 ns: Upbit's book is
    # still step 1's, so it pays step 1's ask. At 2000 ms the mark is step 3's mid.
    f = res.fills[0]
    assert (f.venue, f.symbol, f.norm, f.currency) == ("upbit", "KRW-BTC", "BTC-KRW", "KRW")
    assert f.price == kimchi_prices(1, 1400)[1] + 1000 and f.qty == D("0.01")
    assert f.fee == f.price * D("0.01") * D("0.0005")
    usdt_per_krw = (D(1) / D(1400)).quantize(D("1E-18"))  # 1 / the mid of 1399 and 1401
    assert out["fx"] == usdt_per_krw
    assert out["pos"] == D("0.01")
    assert out["bal"] == {("upbit", "KRW"): -(f.notional + f.fee)}
    pnl_krw = -(f.notional + f.fee) + D("0.01") * kimchi_prices(3, 1400)[1]
    assert out["eq"] == (D(10_000) + pnl_krw * usdt_per_krw).quantize(D("1E-10"))
    assert res.fees_usdt[0] == (f.fee * usdt_per_krw).quantize(D("1E-10"))


def test_report_statistics():
    assert drawdown([D(100), D(110), D(99), D(120), D(108)]) == (D(12), D(12) / D(120))
    m = 60 * 10**9
    rets = minute_returns([(0, D(100)), (m - 1, D(101)), (m, D(99)), (2 * m + 5, D(99))])
    assert rets == pytest.approx([99 / 101 - 1, 0.0])
    assert sharpe([0.01, -0.01]) == 0.0
    assert sharpe([0.01]) is None and sharpe([0.01, 0.01]) is None


def test_same_backtest_twice_is_byte_identical(capture_journal, tmp_path, capsys):
    data = capture_journal("hftbacktest")
    args = ["--data", str(data), "--strategy", str(STRATEGIES / "imbalance_momentum.py"),
            "--latency-ms", "20", "--no-progress", "--json"]
    assert main(args + ["--report", str(tmp_path / "a")]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(args + ["--report", str(tmp_path / "b")]) == 0
    for name in ("summary.json", "fills.parquet", "equity.parquet", "chart.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["trades"] > 0
    fills = pq.read_table(tmp_path / "a" / "fills.parquet").to_pylist()
    assert len(fills) == first["trades"]
    total_fees = sum(D(f["fee_usdt"]) for f in fills)
    assert D(first["fees"]) == total_fees
    equity = pq.read_table(tmp_path / "a" / "equity.parquet")
    assert D(equity["equity"][-1].as_py()) == D(first["final_equity"])
    assert "pos:binance-usdm:BTCUSDT" in equity.column_names
    html = (tmp_path / "a" / "chart.html").read_text()
    assert html.count("<polyline") == 2 and "<script" not in html


def test_market_view_reads_the_state_after_each_record_and_frozen_keeps_one(tmp_path):
    data = write_binance(tmp_path)
    seen = []

    class Keep(Strategy):
        view = first = None

        def on_event(self, ctx, event, market):
            if ctx.seq == 2:
                self.view, self.first = market, market.frozen()
            if market is not None:
                seen.append((ctx.seq, market.best_ask, market.valid))
            if ctx.seq == 4:
                # The view handed out at record 2 now reads record 4's state; the frozen
                # picture still holds record 2's (100.5 was removed by record 3).
                assert market is self.view
                assert (self.view.best_ask, self.first.best_ask) == (D("100.8"), D("100.5"))

    run(data, Keep())
    assert [s for s in seen if s[0] in (2, 4, 6)] == [
        (2, D("100.5"), True), (4, D("100.8"), True), (6, None, False), (6, None, False)]


def test_same_backtest_in_two_processes_with_different_hash_seeds_is_byte_identical(capture_journal, tmp_path):
    """Nothing depends on set or dict order of strings (PYTHONHASHSEED), nor on the process."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    data = capture_journal("hftbacktest")
    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-m", "replay.cli", "--data", str(data), "--to", "30000", "--strategy",
             str(STRATEGIES / "imbalance_momentum.py"), "--latency-ms", "20", "--no-progress",
             "--report", str(tmp_path / seed)],
            check=True, cwd=root, capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)})
    for name in ("summary.json", "fills.parquet", "equity.parquet", "chart.html"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    assert json.loads((tmp_path / "1" / "summary.json").read_text())["trades"] > 0


def test_the_engine_reaches_the_projection_digest_and_shows_every_event(capture_journal):
    """A backtest is the projection plus a strategy: same state, every event seen once."""
    from state.projector import Projector

    data = capture_journal("BINANCE_FUTURES")  # four symbols interleaved
    seen = []

    class Count(Strategy):
        def on_event(self, ctx, event, market):
            seen.append((event.seq, type(event).__name__, event.symbol,
                         None if market is None else (market.venue, market.symbol)))

    res = run(data, Count())
    with JournalReader(data) as r:
        p = Projector(r.streams(), depth_levels=20)
        expect = [(ev.seq, type(ev).__name__, ev.symbol, (ev.venue, ev.symbol) if ev.symbol else None)
                  for rec in r.read() for ev in p.apply(rec)]
    assert seen == expect and len({s[2] for s in seen}) >= 4
    assert res.digest == p.digest() and res.events == len(expect)


def test_a_record_source_is_run_whole_with_its_streams_learnt_as_met(capture_journal):
    """``run(source)``: the engine was given no streams; the source names each one when it is met."""
    data = capture_journal("BINANCE_FUTURES")

    class Count(Strategy):
        def on_event(self, ctx, event, market):
            seen.append((event.seq, type(event).__name__, event.symbol))

    seen: list = []
    want = run(data, Count())
    want_seen, seen = seen, []
    with JournalReader(data) as r:
        mem = MemorySource(list(r.read()), r.streams())
        from_reader = Engine(Count(), config=EngineConfig()).run(r)
    reader_seen, seen = seen, []
    got = Engine(Count(), config=EngineConfig()).run(mem)
    assert seen == want_seen == reader_seen and len(seen) > 1000
    assert got.digest == want.digest == from_reader.digest
    assert (got.records, got.first_seq, got.last_seq) == (want.records, 1, mem.last_seq)
