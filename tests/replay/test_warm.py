"""A run from a later point starts from the state a run from the first record has there.

``replay --from X`` (and ``replay --live``, which starts at the end) projects the records
before X without the strategy, from the newest checkpoint at or before X - 1 or else from
the first record, so the strategy's first event sees the books, market state and features
a run from seq 1 shows at X: on an imported capture (no checkpoint, one REST snapshot at
seq 55) as on a recorder's data directory. Where no snapshot comes before X, the summary
counts the events the strategy saw with an invalid book and the orders refused for it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.cli import main
from replay.run import run_strategy
from replay.source import Bound, HistoricalSource, iso, parse_bound
from replay.state_at import project_until
from state.decode import decoder_for
from state.projector import Projector

from .conftest import SPLIT
from .synth import write_binance

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
REPORT = ("summary.json", "fills.parquet", "equity.parquet", "chart.html")
X = 9819  # 42 s into the capture; its only REST snapshot is record 55

PROBE = '''
import json
from replay.strategy import Strategy


class Probe(Strategy):
    """Writes what it saw at its first event at or after seq ``at``: the book's validity,
    the best bid, the whole projection's digest."""

    params = {"out": "", "at": 0}

    def on_start(self, ctx):
        self.first = None

    def on_event(self, ctx, event, market):
        if self.first is None and ctx.seq >= ctx.params["at"] and event.symbol:
            self.first = {"seq": ctx.seq, "symbol": event.symbol, "valid": market.valid,
                          "best_bid": str(market.best_bid), "digest": ctx.projector.digest()}

    def on_stop(self, ctx):
        with open(ctx.params["out"], "w") as f:
            json.dump(self.first, f)
'''

BUYER = '''
from replay.strategy import Strategy


class Buyer(Strategy):
    """A market buy at every event of BTCUSDT."""

    def on_event(self, ctx, event, market):
        if event.symbol == "BTCUSDT":
            ctx.buy("binance-usdm", "BTCUSDT", "0.001")
'''


def _strategy(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return str(path)


def run(capsys, *args: str) -> tuple[dict, str]:
    """``replay ARGS --json --no-progress``: (the summary, stderr); exit status 0."""
    code = main([*args, "--json", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1]), out.err


def files(d: Path) -> dict[str, bytes]:
    return {f: (d / f).read_bytes() for f in REPORT}


def with_checkpoints(src: Path, dst: Path, seqs: list[int]) -> Path:
    """A copy of ``src`` with the state checkpoints ``recorder run`` would have left at ``seqs``."""
    shutil.copytree(src, dst)
    with JournalReader(dst) as r:
        p = Projector(r.streams())
        done = 0
        for seq in seqs:
            p.apply_many(r.read(done + 1, seq))
            done = seq
            LmdbCheckpointStore.of_data_dir(dst).save(seq, p.snapshot())
    return dst


# -- from X: the state a run from the first record has at X ------------------------------


def test_the_first_event_from_x_sees_the_state_of_a_run_from_the_first_record(capture_journal, tmp_path, capsys):
    data = str(capture_journal("hftbacktest"))  # imported: no checkpoint
    probe = _strategy(tmp_path, "probe", PROBE)
    warm, err = run(capsys, "--data", data, "--from", str(X), "--strategy", probe,
                    "--param", f"out={tmp_path / 'warm.json'}")
    run(capsys, "--data", data, "--from", "1", "--strategy", probe,
        "--param", f"out={tmp_path / 'cold.json'}", "--param", f"at={X}")
    seen = json.loads((tmp_path / "warm.json").read_text())
    # What the strategy sees first: record X, a valid book, the very state of the run from seq 1.
    assert (seen["seq"], seen["symbol"], seen["valid"]) == (X, "BTCUSDT", True)
    assert seen == json.loads((tmp_path / "cold.json").read_text())
    at = project_until(data, Bound(seq=X - 1), checkpoints=False).projector
    assert warm["warm_start"] == {"seq": X - 1, "digest": at.digest(), "invalid_books": [],
                                  "events_with_invalid_book": 0, "orders_rejected_book_invalid": 0}
    assert warm["period"]["first_seq"] == X
    assert f"warm start: the state after seq {X - 1}, projected from the first record ({X - 1:,} records)" in err


def test_the_fills_from_x_are_those_of_a_run_from_seq_1_whose_strategy_starts_at_x(capture_journal, tmp_path, capsys):
    data = str(capture_journal("hftbacktest"))
    gated = _strategy(tmp_path, "gated", Path(STRATEGY).read_text() + f"""

class Gated(ImbalanceMomentum):
    \"\"\"The strategy, deaf to every event before seq {X}.\"\"\"

    def on_event(self, ctx, event, market):
        if ctx.seq >= {X}:
            super().on_event(ctx, event, market)
""") + ":Gated"
    warm, _ = run(capsys, "--data", data, "--from", str(X), "--strategy", STRATEGY, "--latency-ms", "5",
                  "--report", str(tmp_path / "warm"))
    cold, _ = run(capsys, "--data", data, "--from", "1", "--strategy", gated, "--latency-ms", "5",
                  "--report", str(tmp_path / "cold"))
    cols = ["order_id", "seq", "ts_ns", "side", "price", "qty", "fee", "liquidity", "tag"]
    want = pq.read_table(tmp_path / "cold" / "fills.parquet").select(cols).to_pylist()
    got = pq.read_table(tmp_path / "warm" / "fills.parquet").select(cols).to_pylist()
    assert len(got) == warm["trades"] > 10 and got == want
    assert min(f["seq"] for f in got) >= X
    for key in ("pnl", "trades", "orders", "turnover", "fees", "positions", "state_digest"):
        assert warm[key] == cold[key], key
    assert "warm_start" not in cold  # a run from the first record writes what it always wrote


def test_a_checkpoint_changes_nothing_but_the_work(capture_journal, tmp_path, capsys):
    data = with_checkpoints(capture_journal("hftbacktest"), tmp_path / "data", [3_000, 8_000, 20_000])
    args = ["--data", str(data), "--strategy", STRATEGY, "--latency-ms", "5"]
    fast, err = run(capsys, *args, "--from", str(X), "--report", str(tmp_path / "fast"))
    assert f"from the checkpoint at seq 8000 + {X - 1 - 8000:,} records" in err
    slow, err = run(capsys, *args, "--from", str(X), "--no-checkpoint", "--report", str(tmp_path / "slow"))
    assert "from the first record" in err
    assert fast == slow and fast["trades"] > 0
    assert files(tmp_path / "fast") == files(tmp_path / "slow")
    # the same point said as a time: the first record at or after it
    with JournalReader(data) as r:
        t = iso(r.get(X).ts_ns)  # in ms: at or before record X's time
        first = r.seq_at_time(parse_bound(t).ts_ns)
    timed, _ = run(capsys, *args, "--from", t, "--report", str(tmp_path / "timed"))
    assert timed["period"]["first_seq"] == first and timed["warm_start"]["seq"] == first - 1
    if first == X:
        assert files(tmp_path / "timed") == files(tmp_path / "fast")
    again, _ = run(capsys, *args, "--from", str(X), "--report", str(tmp_path / "again"))
    assert files(tmp_path / "again") == files(tmp_path / "fast")  # deterministic


def test_a_warm_start_through_the_archive_equals_one_through_the_journal(straddle, tmp_path):
    plain, mixed = straddle
    for name, data in (("plain", plain), ("mixed", mixed)):
        with HistoricalSource(data, start=Bound(seq=SPLIT + 50)) as src:
            result, summ = run_strategy(src, STRATEGY, report_dir=tmp_path / name)
        assert result.first_seq == SPLIT + 50 and result.warm.from_checkpoint == 0
        assert result.warm.records == SPLIT + 49  # the archived day, then the journal's first records
    assert summ["warm_start"]["digest"] == project_until(plain, Bound(seq=SPLIT + 49)).projector.digest()
    assert files(tmp_path / "plain") == files(tmp_path / "mixed")


# -- where no snapshot comes before the start -----------------------------------------------


def test_an_invalid_book_at_the_start_is_counted_in_the_summary(tmp_path, capsys):
    data = str(write_binance(tmp_path / "j"))  # record 6 gaps the book; no snapshot follows
    buyer = _strategy(tmp_path, "buyer", BUYER)
    summ, err = run(capsys, "--data", data, "--from", "7", "--strategy", buyer, "--report", str(tmp_path / "r"))
    assert summ["warm_start"]["invalid_books"] == ["binance-usdm:BTCUSDT"]
    assert summ["warm_start"]["events_with_invalid_book"] == 2  # the buffered delta (7), the trade (8)
    assert summ["warm_start"]["orders_rejected_book_invalid"] == 2 == summ["rejections"]["book_invalid"]
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == summ
    assert "invalid at the start (no snapshot before it): binance-usdm:BTCUSDT" in err
    assert main(["--data", data, "--from", "7", "--strategy", buyer, "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "invalid book" in table and "2 events seen, 2 orders rejected" in table
    # From before the gap the book is valid at the start; the gap invalidates it later.
    summ, _ = run(capsys, "--data", data, "--from", "3", "--strategy", buyer)
    assert summ["warm_start"]["invalid_books"] == []
    assert summ["warm_start"]["events_with_invalid_book"] == 4  # record 6's delta and its Gap, 7, 8


def test_from_before_the_capture_snapshot_counts_the_events_until_it(capture_journal, tmp_path, capsys):
    data = str(capture_journal("hftbacktest"))
    probe = _strategy(tmp_path, "probe", PROBE)
    summ, err = run(capsys, "--data", data, "--from", "50", "--strategy", probe,
                    "--param", f"out={tmp_path / 'p.json'}")
    with JournalReader(data) as r:
        streams = r.streams()
        decoders = {sid: decoder_for(info) for sid, info in streams.items()}
        before = sum(1 for rec in r.read(50, 54) for ev in decoders[rec.stream].decode(rec) if ev.symbol)
        assert next(r.read(55, 55)).kind == "rest"  # the snapshot
    assert before >= 5
    assert summ["warm_start"]["invalid_books"] == ["binance-usdm:BTCUSDT"]
    assert summ["warm_start"]["events_with_invalid_book"] == before
    assert json.loads((tmp_path / "p.json").read_text())["valid"] is False
    assert "invalid at the start" in err


# -- paper trading from the end ---------------------------------------------------------------


def copy_in_batches(src: Path, dst: Path, upto: int, first: int) -> tuple[JournalWriter, threading.Thread]:
    """A writer holding ``src``'s first ``first`` records, and a thread appending the rest up to
    ``upto`` in committed batches (slower than a replay reads them)."""
    with JournalReader(src) as r:
        records = list(r.read(1, upto))
        streams = r.streams()
    w = JournalWriter(dst, background=False, durability="os")
    ids = {sid: w.register_stream(i.venue, market=i.market, url=i.url, conn=i.conn,
                                  channels=i.channels, opened_ns=i.opened_ns)
           for sid, i in sorted(streams.items())}

    def append(recs) -> None:
        for i, rec in enumerate(recs):
            w.append(ids[rec.stream], rec.kind, rec.payload, ts_ns=rec.ts_ns, meta=rec.meta)
            if i % 1000 == 999:
                w.flush()
                time.sleep(0.02)
        w.flush()

    append(records[:first])
    return w, threading.Thread(target=append, args=(records[first:],), daemon=True)


@pytest.mark.timeout(120)
def test_live_from_the_end_equals_the_backtest_from_there(capture_journal, tmp_path, capsys):
    data = tmp_path / "live"
    end = 40_000
    writer, feeder = copy_in_batches(capture_journal("hftbacktest"), data, end, 20_000)
    feeder.start()
    try:
        live, err = run(capsys, "--live", "--data", str(data), "--to", str(end), "--strategy", STRATEGY,
                        "--report", str(tmp_path / "paper"))
    finally:
        feeder.join(60)
        writer.close()
    start = live["period"]["first_seq"]
    assert 20_000 < start < end and live["period"]["last_seq"] == end
    assert live["warm_start"]["seq"] == start - 1 and live["warm_start"]["invalid_books"] == []
    assert live["warm_start"]["events_with_invalid_book"] == 0 and live["trades"] > 0
    assert live["warm_start"]["digest"] == project_until(data, Bound(seq=start - 1)).projector.digest()
    back, _ = run(capsys, "--data", str(data), "--from", str(start), "--to", str(end), "--strategy", STRATEGY,
                  "--report", str(tmp_path / "backtest"))
    assert back == live
    assert files(tmp_path / "paper") == files(tmp_path / "backtest")


@pytest.mark.timeout(120)
def test_live_from_a_time_not_recorded_yet_waits_for_it_then_starts_warm(capture_journal, tmp_path, capsys):
    data = tmp_path / "live"
    src = capture_journal("hftbacktest")
    with JournalReader(src) as r:
        t = iso(r.get(30_000).ts_ns)
        start = r.seq_at_time(parse_bound(t).ts_ns)
    writer, feeder = copy_in_batches(src, data, 32_000, 20_000)
    feeder.start()
    assert writer.last_seq < start  # the start time is not recorded yet
    try:
        probe = _strategy(tmp_path, "probe", PROBE)
        live, _ = run(capsys, "--live", "--data", str(data), "--from", t, "--to", "32000",
                      "--strategy", probe, "--param", f"out={tmp_path / 'p.json'}")
    finally:
        feeder.join(60)
        writer.close()
    assert live["period"]["first_seq"] == start and live["warm_start"]["seq"] == start - 1
    seen = json.loads((tmp_path / "p.json").read_text())
    assert seen["seq"] == start and seen["valid"] is True
    want = project_until(data, Bound(seq=start - 1)).projector
    assert live["warm_start"]["digest"] == want.digest()


# -- filters that match nothing -------------------------------------------------------------


HOLDS = "holds seq 1..8 (2023-11-14T22:13:21.000Z .. 2023-11-14T22:13:21.700Z)"


@pytest.mark.parametrize("args,msg", [
    (["--venues", "kraken"], "no venue kraken in {data} (venues: binance-usdm)"),
    (["--venues", "binance-usdm,kraken,okx"], "no venue kraken, okx in {data} (venues: binance-usdm)"),
    (["--live", "--duration", "5", "--venues", "kraken"], "no venue kraken in {data} (venues: binance-usdm)"),
    (["--live", "--duration", "5", "--symbols", "NOPE"], "no symbol NOPE in the records through seq 8 "
     "(symbols so far: binance-usdm:BTCUSDT (BTC-USDT-PERP))"),
    (["--symbols", "NOPE"], "no symbol NOPE in the records through seq 8 (symbols: binance-usdm:BTCUSDT "
     "(BTC-USDT-PERP))"),
    (["--symbols", "BTCUSDT,ETHUSDT"], "no symbol ETHUSDT in the records through seq 8 (symbols: "
     "binance-usdm:BTCUSDT (BTC-USDT-PERP))"),
    (["--from", "9"], f"--from seq 9 is after the last record: {{data}} {HOLDS}"),
    (["--from", "2023-11-15"], f"--from 2023-11-15T00:00:00.000Z is after the last record: {{data}} {HOLDS}"),
    (["--to", "2023-11-14T22:00:00Z"], "--to 2023-11-14T22:00:00.000Z selects no record from seq 1 on: "
     f"{{data}} {HOLDS}"),
])
def test_a_filter_that_matches_nothing_is_an_error_naming_what_there_is(tmp_path, capsys, args, msg):
    data = str(write_binance(tmp_path / "j"))
    buyer = _strategy(tmp_path, "buyer", BUYER)
    assert main(["--data", data, "--strategy", buyer, "--no-progress", "--report", str(tmp_path / "r"), *args]) == 2
    *before, last = capsys.readouterr().err.splitlines()
    assert last == f"replay: {msg.format(data=data)}"
    assert before == (["paper trading from seq 9; stop with Ctrl-C or SIGTERM"] if "--symbols" in args
                      and "--live" in args else [])
    assert not (tmp_path / "r").exists()  # nothing was reported


def test_an_empty_journal_is_an_error(tmp_path, capsys):
    data = write_binance(tmp_path / "j", records=[])
    buyer = _strategy(tmp_path, "buyer", BUYER)
    assert main(["--data", str(data), "--strategy", buyer, "--no-progress"]) == 2
    assert capsys.readouterr().err == f"replay: {data} holds no records\n"
