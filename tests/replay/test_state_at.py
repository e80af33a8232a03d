"""``replay state`` and ``project_until``: the book, market state, features and digest at a point,
over captured journals, the archive, and any RecordSource."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal as D
from pathlib import Path

import msgspec
import pytest

from recorder.importer import import_files
from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from replay import state_at
from replay.cli import main
from replay.source import Bound, HistoricalSource, iso, parse_bound
from replay.state_at import project_until, state_through
from state.projector import Projector
from tests.conftest import capture_path

from .conftest import RECORDS, SPLIT


def state(capsys, *args, source=None):
    code = main(["state", *args, *([] if "--json" in args else ["--json"])], source=source)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def ticker_matching_the_book(data):
    """The first bookTicker after the REST snapshot carrying the last applied depth update id."""
    last_depth_u = None
    with JournalReader(data) as r:
        for rec in r.read():
            if rec.kind != "frame":
                continue
            msg = msgspec.json.decode(rec.payload)["data"]
            if msg["e"] == "depthUpdate":
                last_depth_u = msg["u"]
            elif msg["e"] == "bookTicker" and msg["u"] == last_depth_u and rec.seq > 100:
                return rec.seq, msg
    raise AssertionError("no bookTicker with a depth update's id")


def test_binance_best_bid_ask_equal_the_book_ticker_with_the_same_update_id(capture_journal, capsys):
    data = str(capture_journal("hftbacktest"))
    seq, ticker = ticker_matching_the_book(data)
    doc = state(capsys, "--data", data, "--at", str(seq), "--venue", "binance-usdm",
                "--symbol", "BTCUSDT", "--depth", "5", "--json")
    assert doc["seq"] == seq
    (row,) = doc["symbols"]
    assert (row["venue"], row["symbol"], row["norm"], row["valid"]) == (
        "binance-usdm", "BTCUSDT", "BTC-USDT-PERP", True)
    # Decimal strings, exactly as the venue printed them.
    assert (row["best_bid"], row["best_bid_size"], row["best_ask"], row["best_ask_size"]) == (
        ticker["b"], ticker["B"], ticker["a"], ticker["A"])
    bids, asks = row["bids"], row["asks"]
    assert len(bids) == len(asks) == 5
    assert bids[0] == [ticker["b"], ticker["B"]] and asks[0] == [ticker["a"], ticker["A"]]
    assert [D(p) for p, _ in bids] == sorted((D(p) for p, _ in bids), reverse=True)
    assert [D(p) for p, _ in asks] == sorted(D(p) for p, _ in asks)
    f = row["features"]
    assert D(f["spread"]) == D(ticker["a"]) - D(ticker["b"])
    assert D(f["mid"]) == (D(ticker["a"]) + D(ticker["b"])) / 2
    assert -1 <= f["imbalance"] <= 1 and set(f["windows"]) == {"60", "300", "900"}
    assert f["windows"]["60"]["trades"] > 0
    # The digest is the projection's over records 1..seq.
    with JournalReader(data) as r:
        p = Projector(r.streams())
        p.apply_many(r.read(1, seq))
    assert doc["digest"] == p.digest()


def test_symbol_native_normalized_any_case_with_or_without_venue(capture_journal, capsys):
    data = str(capture_journal("hftbacktest"))
    docs = [state(capsys, "--data", data, "--at", "5000", *names, "--json") for names in (
        ("--symbol", "BTCUSDT"), ("--symbol", "BTC-USDT-PERP"), ("--symbol", "btc-usdt-perp"),
        ("--venue", "binance-usdm", "--symbol", "BTC-USDT-PERP"), ("--venue", "binance-usdm"), ())]
    assert all(d == docs[0] for d in docs)
    assert [r["symbol"] for r in docs[0]["symbols"]] == ["BTCUSDT"]


def test_at_a_time_is_the_state_after_the_last_record_at_or_before_it(capture_journal, capsys):
    data = str(capture_journal("hftbacktest"))
    with JournalReader(data) as r:
        at = iso(r.get(3001).ts_ns)  # in ms: at or before record 3001's time
        cut = parse_bound(at).ts_ns
        expect = max(rec.seq for rec in r.read(1, 3100) if rec.ts_ns <= cut)
    by_time = state(capsys, "--data", data, "--at", at, "--json")
    assert by_time["seq"] == expect
    assert by_time == state(capsys, "--data", data, "--at", str(expect), "--json")


@pytest.fixture(scope="module")
def upbit_binance(tmp_path_factory):
    data = tmp_path_factory.mktemp("state-upbit-binance")
    import_files(data, [capture_path("UPBIT"), capture_path("BINANCE_FUTURES")])
    return str(data)


def test_many_venues_and_the_upbit_names(upbit_binance, capsys):
    doc = state(capsys, "--data", upbit_binance, "--at", "1993", "--json")
    venues = {(r["venue"], r["symbol"]) for r in doc["symbols"]}
    assert {("upbit", "KRW-WAVES"), ("binance-usdm", "CTKUSDT")} <= venues
    for row in doc["symbols"]:
        assert isinstance(row["valid"], bool) and "features" in row
        for k in ("best_bid", "best_ask"):
            assert row[k] is None or (isinstance(row[k], str) and D(row[k]) > 0)
    native = state(capsys, "--data", upbit_binance, "--at", "1993", "--symbol", "KRW-WAVES", "--json")
    norm = state(capsys, "--data", upbit_binance, "--at", "1993", "--venue", "upbit",
                 "--symbol", "WAVES-KRW", "--json")
    assert native == norm and [r["norm"] for r in norm["symbols"]] == ["WAVES-KRW"]
    (row,) = norm["symbols"]
    # Upbit sends full books: the totals are the sums of the levels shown at full depth.
    full = state(capsys, "--data", upbit_binance, "--at", "1993", "--symbol", "WAVES-KRW",
                 "--depth", "100", "--json")["symbols"][0]
    assert D(row["features"]["bid_depth"]) == sum(D(s) for _, s in full["bids"][:20])
    assert doc["digest"] == native["digest"]


def test_text_output_shows_levels_market_state_validity_and_digest(upbit_binance, capsys):
    assert main(["state", "--data", upbit_binance, "--at", "1993", "--symbol", "WAVES-KRW",
                 "--depth", "3"]) == 0
    out = capsys.readouterr().out
    doc = state(capsys, "--data", upbit_binance, "--at", "1993", "--symbol", "WAVES-KRW",
                "--depth", "3", "--json")
    row = doc["symbols"][0]
    assert doc["digest"][:40] in out.replace("\n", "")
    assert "valid=True" in out and "validation:" in out
    for price, size in row["bids"] + row["asks"]:
        assert price in out and size in out
    assert f"spread={row['features']['spread']}" in out and "60s:" in out


HOLDS = "holds seq 1..1993 (2021-04-17T16:51:01.680Z .. 2021-07-22T22:26:11.201Z)"


@pytest.mark.parametrize("args,msg", [
    (["--at", "999999"], f"--at seq 999999 is after the last record: {{data}} {HOLDS}"),
    (["--at", "1990-01-01"], f"--at 1990-01-01T00:00:00.000Z is before the first record: {{data}} {HOLDS}"),
    (["--at", "100", "--symbol", "NOPE"], "no symbol 'NOPE' on any venue at seq 100 (symbols: upbit:BTC-ITAM "
     "(ITAM-BTC), upbit:BTC-XTZ (XTZ-BTC), upbit:KRW-LAMB (LAMB-KRW), upbit:KRW-WAVES (WAVES-KRW))"),
    (["--at", "100", "--venue", "okx"], "no venue 'okx' at seq 100 (venues: upbit)"),
    (["--at", "100", "--depth", "-1"], "--depth must be >= 0"),
])
def test_bad_input_is_one_line_naming_what_there_is(upbit_binance, capsys, args, msg):
    assert main(["state", "--data", upbit_binance, *args]) == 2
    assert capsys.readouterr().err == f"replay state: {msg.format(data=upbit_binance)}\n"


# --- starting from the recorder's checkpoints ----------------------------------------------


def _with_checkpoints(src, dst, seqs, **settings):
    """A copy of journal ``src`` in ``dst`` with the state checkpoints ``recorder run`` would leave."""
    import shutil


    shutil.copytree(src, dst)
    with JournalReader(dst) as r:
        p = Projector(r.streams(), **settings)
        done = 0
        for seq in seqs:
            p.apply_many(r.read(done + 1, seq))
            done = seq
            LmdbCheckpointStore.of_data_dir(dst).save(seq, p.snapshot())
    return str(dst)


def test_a_checkpoint_skips_work_and_changes_nothing(capture_journal, tmp_path, capsys):
    src = capture_journal("hftbacktest")
    data = _with_checkpoints(src, tmp_path / "data", [20_000, 40_000, 60_000])
    for at, expect_from in (("50000", 40_000), ("40000", 40_000), ("39999", 20_000), ("100", 0)):
        fast = state(capsys, "--data", data, "--at", at, "--json")
        slow = state(capsys, "--data", data, "--at", at, "--json", "--no-checkpoint")
        assert fast.pop("from_checkpoint") == expect_from and slow.pop("from_checkpoint") == 0
        plain = state(capsys, "--data", str(src), "--at", at, "--json")  # the journal with no checkpoint
        assert plain.pop("from_checkpoint") == 0
        assert fast == slow == plain
    # by time: the newest checkpoint at or before the last record at or before that time
    with JournalReader(data) as r:
        at = iso(r.get(45_000).ts_ns)
    fast = state(capsys, "--data", data, "--at", at, "--json")
    slow = state(capsys, "--data", data, "--at", at, "--json", "--no-checkpoint")
    assert fast.pop("from_checkpoint") == 40_000
    slow.pop("from_checkpoint")
    assert fast == slow


def test_a_checkpoint_of_other_settings_or_unreadable_is_passed_over_and_said(capture_journal, tmp_path, capsys):
    src = capture_journal("hftbacktest")
    other = _with_checkpoints(src, tmp_path / "other", [30_000], depth_levels=5)
    main(["state", "--data", other, "--at", "31000", "--json"])
    out = capsys.readouterr()
    assert json.loads(out.out)["from_checkpoint"] == 0
    assert "depth_levels 5" in out.err and "from the first record" in out.err


    broken = _with_checkpoints(src, tmp_path / "broken", [])
    LmdbCheckpointStore.of_data_dir(tmp_path / "broken").save(30_000, b"\x93not a state")
    main(["state", "--data", broken, "--at", "31000", "--json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["from_checkpoint"] == 0 and "does not restore" in out.err
    assert doc["digest"] == state(capsys, "--data", str(src), "--at", "31000", "--json")["digest"]


# -- over the archive, over any RecordSource ----------------------------------------------


def test_replay_state_over_the_archive_equals_the_journal(straddle, capsys):
    plain, mixed = straddle
    docs = {}
    for at in ("5000", str(SPLIT - 1), str(SPLIT + 500)):
        for name, data in (("plain", plain), ("mixed", mixed)):
            docs[name, at] = state(capsys, "--data", str(data), "--at", at, "--depth", "5")
        assert docs["plain", at] == docs["mixed", at]
        assert docs["mixed", at]["seq"] == int(at)
    assert len({docs["mixed", at]["digest"] for at in ("5000", str(SPLIT - 1), str(SPLIT + 500))}) == 3


def test_a_checkpoint_is_chosen_by_the_seq_a_time_in_the_archive_means(straddle, tmp_path, capsys):
    """A time inside an archived day resolves to its seq in the archive, not to the journal's start."""
    plain, mixed = straddle
    data = tmp_path / "mixed"
    shutil.copytree(mixed, data)
    with HistoricalSource(data) as src:
        recs = list(src)
        p = Projector(src.streams())
    p.apply_many(recs[:5000])
    LmdbCheckpointStore.of_data_dir(data).save(5000, p.snapshot())
    p.apply_many(recs[5000:10_000])  # after the time asked for, before the journal's first record
    LmdbCheckpointStore.of_data_dir(data).save(10_000, p.snapshot())
    at = iso(recs[8000].ts_ns)
    fast = state(capsys, "--data", str(data), "--at", at)
    slow = state(capsys, "--data", str(plain), "--at", at)
    assert fast.pop("from_checkpoint") == 5000 and slow.pop("from_checkpoint") == 0
    assert fast == slow and 8000 <= fast["seq"] < SPLIT


def test_project_until_over_a_memory_source_equals_the_data_dir(straddle, capsys):
    plain, _ = straddle
    with JournalReader(plain) as r:
        mem = MemorySource(list(r.read()), r.streams())
    for at in (Bound(seq=SPLIT + 7), Bound(ts_ns=mem.read(SPLIT - 3).__next__().ts_ns)):
        want = project_until(plain, at)
        got = project_until(mem, at)
        assert got.from_checkpoint == 0 and got.projector.last_seq == want.projector.last_seq > SPLIT - 4
        assert got.projector.digest() == want.projector.digest()
    assert len(list(mem.read())) == RECORDS  # the given source is left as it was, open
    # The command itself, over the same source: ``main(..., source=)``.
    assert state(capsys, "--data", "/nonexistent", "--at", str(SPLIT), "--depth", "3", source=mem) == \
        state(capsys, "--data", str(plain), "--at", str(SPLIT), "--depth", "3")


def test_state_through_says_its_progress_and_equals_one_pass(straddle, monkeypatch, capsys):
    plain, _ = straddle
    monkeypatch.setattr(state_at, "CHUNK", 4096)
    calls: list[tuple[int, int]] = []
    with JournalReader(plain) as r:
        got = state_through(r, 20_000, on_progress=lambda done, total: calls.append((done, total)))
        want = Projector(r.streams())
        want.apply_many(r.read(1, 20_000))
    assert got.projector.digest() == want.digest() and (got.records, got.from_checkpoint) == (20_000, 0)
    assert calls == [(4096, 20_000), (8192, 20_000), (12_288, 20_000), (16_384, 20_000), (20_000, 20_000)]
    # The command shows it as a progress bar of its own before the run's.
    strategy = str(Path(__file__).resolve().parents[2] / "data" / "strategies" / "imbalance_momentum.py")
    assert main(["--data", str(plain), "--from", "20001", "--to", "20100", "--strategy", strategy]) == 0
    err = capsys.readouterr().err
    assert "warm-up" in err and "20,000/20,000" in err and err.index("warm-up") < err.index("backtest")
