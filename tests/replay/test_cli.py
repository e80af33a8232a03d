"""``replay state`` and the run's command-line handling."""

from __future__ import annotations

import json

import pytest

from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from replay.cli import main

from .synth import T0, write_binance


@pytest.fixture(scope="module")
def book_journal(tmp_path_factory):
    return write_binance(tmp_path_factory.mktemp("cli"))


def state(capsys, *args):
    assert main(["state", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_state_at_a_seq_is_the_state_after_that_record(book_journal, capsys):
    doc = state(capsys, "--data", str(book_journal), "--at", "4", "--venue", "binance-usdm",
                "--symbol", "BTC-USDT-PERP", "--depth", "3", "--json")
    assert doc["seq"] == 4 and len(doc["digest"]) == 64
    (row,) = doc["symbols"]
    assert (row["symbol"], row["norm"], row["valid"]) == ("BTCUSDT", "BTC-USDT-PERP", True)
    assert (row["best_bid"], row["best_ask"]) == ("100.2", "100.8")
    assert row["bids"] == [["100.2", "1.5"], ["100.0", "1"], ["99.5", "2"]]
    assert row["asks"] == [["100.8", "0.7"], ["101.0", "2"], ["102.0", "5"]]
    assert row["features"]["spread"] == "0.6"
    # After record 6 (the pu break) the book is invalid and shows no prices.
    gapped = state(capsys, "--data", str(book_journal), "--at", "6", "--symbol", "BTCUSDT", "--json")
    assert gapped["symbols"][0]["valid"] is False and gapped["symbols"][0]["best_bid"] is None
    assert gapped["digest"] != doc["digest"]


def test_state_at_a_time_includes_records_at_that_time(book_journal, capsys):
    iso = "2023-11-14T22:13:21.300Z"  # T0 + 1300 ms: record 4
    assert T0 + 1300 * 10**6 == 1_700_000_001_300_000_000
    by_time = state(capsys, "--data", str(book_journal), "--at", iso, "--json")
    by_seq = state(capsys, "--data", str(book_journal), "--at", "4", "--json")
    assert by_time == by_seq


def test_state_text_and_errors(book_journal, capsys):
    assert main(["state", "--data", str(book_journal), "--at", "4", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "100.8" in out and "digest" in out
    assert main(["state", "--data", str(book_journal), "--at", "99"]) == 2
    assert main(["state", "--data", str(book_journal), "--at", "4", "--venue", "binance-usdm",
                 "--symbol", "ETHUSDT"]) == 2


def test_run_rejects_bad_input(book_journal, tmp_path, capsys):
    strategy = tmp_path / "two.py"
    strategy.write_text("from replay.strategy import Strategy\nclass A(Strategy): pass\n"
                        "class B(Strategy): pass\n")
    assert main(["--data", str(book_journal), "--strategy", str(strategy), "--no-progress"]) == 2
    assert "expected one Strategy subclass" in capsys.readouterr().err
    assert main(["--data", str(book_journal), "--strategy", f"{strategy}:B", "--no-progress",
                 "--json", "--to", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["period"]["records"] == 3
    with pytest.raises(SystemExit):
        main(["--data", str(book_journal), "--strategy", str(strategy), "--speed", "fast"])
    assert main(["--data", str(tmp_path / "none"), "--strategy", f"{strategy}:A"]) == 2


def test_a_missing_or_broken_strategy_is_said_before_any_progress(book_journal, tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_anywhere\n")
    for spec, msg in ((str(tmp_path / "absent.py"), "not found"),
                      (str(broken), "ModuleNotFoundError: No module named 'no_such_module_anywhere'")):
        assert main(["--data", str(book_journal), "--strategy", spec]) == 2  # progress on
        err = capsys.readouterr().err
        assert msg in err and "backtest" not in err


def test_speed_paces_by_record_time(book_journal, tmp_path, capsys):
    import time

    strategy = tmp_path / "s.py"
    strategy.write_text("from replay.strategy import Strategy\nclass A(Strategy): pass\n")
    start = time.monotonic()
    assert main(["--data", str(book_journal), "--strategy", str(strategy), "--no-progress",
                 "--speed", "4x", "--json"]) == 0
    # 700 ms of records at 4x: at least 175 ms of wall time.
    assert time.monotonic() - start >= 0.175
    assert json.loads(capsys.readouterr().out)["period"]["records"] == 8


@pytest.mark.parametrize("args,msg", [
    (["--sample-ms", "0"], "sample period must be > 0"),
    (["--latency-ms", "-5"], "latency must be >= 0"),
    (["--capital", "-1"], "capital must be > 0"),
    (["--from", "6", "--to", "5"], "--from seq 6 is after --to seq 5"),
    (["--from", "2023-11-15", "--to", "2023-11-14"], "--from is not before --to"),
    (["--fees", "/nonexistent/fees.toml"], "fees.toml"),
])
def test_bad_run_options_are_clear_errors(book_journal, tmp_path, capsys, args, msg):
    strategy = tmp_path / "s.py"
    strategy.write_text("from replay.strategy import Strategy\nclass A(Strategy): pass\n")
    assert main(["--data", str(book_journal), "--strategy", str(strategy), "--no-progress", *args]) == 2
    assert msg in capsys.readouterr().err


def test_a_strategy_that_raises_stops_with_its_traceback_and_the_seq(book_journal, tmp_path, capsys):
    strategy = tmp_path / "bad.py"
    strategy.write_text("from replay.strategy import Strategy\n\n\nclass Bad(Strategy):\n"
                        "    def on_event(self, ctx, event, market):\n"
                        "        if ctx.seq == 3:\n"
                        "            ctx.buy('binance-usdm', 'BTCUSDT', 0.5)  # a float: refused\n")
    assert main(["--data", str(book_journal), "--strategy", str(strategy), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "stopped at seq 3" in err and "not float" in err
    assert f'File "{strategy}", line 7, in on_event' in err
    strategy.write_text("from replay.strategy import Strategy\nclass Broken(Strategy)\n")
    assert main(["--data", str(book_journal), "--strategy", str(strategy), "--no-progress"]) == 2
    assert "cannot load strategy" in capsys.readouterr().err


def test_the_command_over_a_given_source_equals_it_over_the_data_dir(book_journal, tmp_path, capsys):
    strategy = tmp_path / "buy.py"
    strategy.write_text("from replay.strategy import Strategy\n\n\nclass Buy(Strategy):\n"
                        "    def on_event(self, ctx, event, market):\n"
                        "        if ctx.seq == 2 and not ctx.open_orders:\n"
                        "            ctx.buy('binance-usdm', 'BTCUSDT', '0.3')\n")
    with JournalReader(book_journal) as r:
        mem = MemorySource(list(r.read()), r.streams())
    out = {}
    for name, data, source in (("dir", str(book_journal), None), ("mem", "/nonexistent", mem)):
        assert main(["--data", data, "--strategy", str(strategy), "--no-progress", "--json", "--to", "7",
                     "--report", str(tmp_path / name)], source=source) == 0
        out[name] = json.loads(capsys.readouterr().out)
    assert out["mem"] == out["dir"] and out["dir"]["trades"] == 1 and out["dir"]["period"]["records"] == 7
    for f in ("summary.json", "fills.parquet", "equity.parquet", "chart.html"):
        assert (tmp_path / "mem" / f).read_bytes() == (tmp_path / "dir" / f).read_bytes(), f
