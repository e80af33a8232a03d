"""The recorder CLI: import, status, verify, tail, ls, run's refusals and help (as a user runs them)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lmdb
import pytest

from recorder.cli import build_parser, main
from recorder.journal.codec import encode_key
from recorder.journal.writer import JournalWriter
from tests.conftest import capture_path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recorder.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_import_then_status_json(tmp_path):
    p = run("import", "--data", str(tmp_path), str(capture_path("UPBIT")), str(capture_path("OKX")))
    assert p.returncode == 0, p.stderr
    assert "UPBIT.jsonl.zst" in p.stdout
    s = json.loads(run("status", "--data", str(tmp_path), "--json").stdout)
    assert (s["first_seq"], s["last_seq"], s["records"]) == (1, 891, 891)
    assert [(x["day"], x["records"]) for x in s["segments"]] == [("2021-04-17", 452), ("2022-05-13", 439)]
    assert s["kinds"] == {"frame": 859, "open": 2, "rest": 26, "sent": 4}
    assert {x["venue"] for x in s["streams"]} == {"upbit", "okx"}
    assert sum(x["records"] for x in s["streams"]) == 891
    assert s["newest_age_s"] > 0


def test_status_table_for_people(capture_journal, capsys):
    assert main(["status", "--data", str(capture_journal("OKX"))]) == 0
    out = capsys.readouterr().out
    assert "segments" in out and "2022-05-13" in out and "okx" in out


def test_verify_exit_codes_and_report(capture_journal, tmp_path):
    good = capture_journal("BINANCE")
    p = run("verify", "--data", str(good))
    assert p.returncode == 0 and "271 records" in p.stdout
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    env = lmdb.open(str(bad / "journal" / "2021-10-12"), max_dbs=4, map_size=256 << 30)
    with env.begin(write=True) as txn:
        txn.put(encode_key(100), b"\xc1\xc1", db=env.open_db(b"records", txn=txn))
    env.close()
    p = run("verify", "--data", str(bad))
    assert p.returncode == 1
    assert "segment 2021-10-12 seq 100: value does not decode" in p.stdout
    report = json.loads(run("verify", "--data", str(bad), "--json").stdout)
    assert report["ok"] is False and report["problems"][0]["seq"] == 100


def test_not_a_journal_is_a_clear_error(tmp_path):
    p = run("status", "--data", str(tmp_path))
    assert p.returncode == 2 and "not a ticktape data directory" in p.stderr
    p = run("import", "--data", str(tmp_path / "x"), str(capture_path("hftbacktest")))
    assert p.returncode == 2 and "--venue" in p.stderr


def test_tail_json_text_and_binary_payloads(capture_journal):
    data = capture_journal("UPBIT")
    p = run("tail", "--data", str(data), "--from-seq", "1", "--json")
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, 453))
    assert rows[0]["kind"] == "rest" and rows[0]["payload"].startswith('[{"market":"KRW-BTC"')
    frame = rows[3]
    assert set(frame) >= {"seq", "ts_ns", "stream", "kind", "payload"}
    assert json.loads(frame["payload"])["ty"] == "trade"  # Upbit's binary frames are UTF-8 JSON
    p = run("tail", "--data", str(data), "--from-time", "2021-04-17T16:51:03.1Z", "--json")
    first = json.loads(p.stdout.splitlines()[0])
    assert first["ts_ns"] >= 1618678263_100_000_000
    p = run("tail", "--data", str(data), "-n", "2")
    assert [line.split()[0] for line in p.stdout.splitlines()] == ["451", "452"]


def test_tail_payload_b64_when_not_utf8(tmp_path, capsys):
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("upbit")
        w.append(sid, "frame", b"\xff\xfe\x00", meta={"bin": True})
    assert main(["tail", "--data", str(tmp_path), "--from-seq", "1", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert "payload" not in row and base64.b64decode(row["payload_b64"]) == b"\xff\xfe\x00"


def test_tail_follow_sees_new_records(tmp_path):
    with JournalWriter(tmp_path, commit_interval_ms=5) as w:
        sid = w.register_stream("upbit")
        w.append(sid, "frame", b"one")
        w.flush()
        proc = subprocess.Popen([sys.executable, "-m", "recorder.cli", "tail", "--data", str(tmp_path),
                                 "--from-seq", "1", "--follow", "--json"],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        first = json.loads(proc.stdout.readline())
        w.append(sid, "frame", b"two")
        w.flush()
        deadline = time.monotonic() + 20
        second = json.loads(proc.stdout.readline())
        proc.terminate()
        proc.wait(timeout=10)
        assert time.monotonic() < deadline
    assert (first["payload"], second["payload"]) == ("one", "two")


def test_run_takes_its_venues_from_the_descriptors_and_refuses_a_bad_config(tmp_path):
    from recorder.cli import build_parser
    from recorder.venues import VENUES

    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    venue = next(a for a in run_parser._actions if a.dest == "venue")
    assert tuple(venue.choices) == tuple(VENUES) == ('binance-spot', 'binance-usdm', 'bybit', 'gate', 'okx', 'upbit')
    channels = next(a for a in run_parser._actions if a.dest == "channels").help
    assert "binance-usdm depth,depth20,aggTrade,trade,kline_1m,bookTicker,markPrice" in channels
    assert "upbit orderbook,trade,ticker" in channels
    assert "okx books,books5,bbo-tbt,trades,tickers" in channels
    p = run("run", "--venue", "upbit", "--symbols", "BTCUSDT", "--channels", "trade",
            "--data", str(tmp_path))
    assert p.returncode == 2
    assert ("bad configuration: --symbols (venue[0].symbols): 'BTCUSDT' is not a upbit symbol "
            "(e.g. KRW-BTC)") in p.stderr
    p = run("run", "--symbols", "BTCUSDT", "--data", str(tmp_path))
    assert p.returncode == 2 and "--symbols/--channels need --venue" in p.stderr
    assert not (tmp_path / "journal").exists()  # nothing recorded


# --- run: every configuration problem at once, flags as typed, help rendered ------------------


def test_run_names_every_configuration_problem_at_once(tmp_path, capsys):
    """An unknown key and no venue: both named, exit 2 (was: only the missing venue)."""
    cfg = tmp_path / "rec.toml"
    cfg.write_text(f'[recorder]\ndata = "{tmp_path / "d"}"\nbogus = 1\n')
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad configuration: 2 problems:\n")
    assert "  recorder: unknown key 'bogus' (known: " in err
    assert "  no venue to record: add a [[venue]] table or pass --venue/--symbols/--channels" in err
    # flags are named as typed, with the key they set
    assert main(["run", "--config", str(cfg), "--duration", "0", "--symbols", "X"]) == 2
    err = capsys.readouterr().err
    assert "  --duration (recorder.duration_s): must be > 0" in err
    assert "  --symbols/--channels need --venue" in err and "unknown key 'bogus'" in err
    assert not (tmp_path / "d").exists()  # nothing recorded


def all_help() -> dict[str, str]:
    """``recorder --help`` and every ``recorder CMD --help``, as printed."""
    parser = build_parser()
    out = {"": parser.format_help()}
    sub = next(a for a in parser._actions if a.dest == "command")
    out.update({name: sp.format_help() for name, sp in sub.choices.items()})
    return out


def test_help_is_rendered_text():
    """No raw reST markup (``recorder run``) in any help, run's included."""
    helps = all_help()
    assert {"", "status", "verify", "tail", "ls", "run"} <= set(helps)
    for name, text in helps.items():
        assert "``" not in text, name
    assert "recorder run: the live daemon's command line" in helps["run"]
    p = run("run", "--help")
    assert p.returncode == 0 and "``" not in p.stdout and "--dashboard" in p.stdout
    # the shell line continuation in the example survives as typed
    assert "--channels depth,aggTrade \\\n" in p.stdout


# --- tail: -n, --to-seq and filters ------------------------------------------------------------


def tail_seqs(*args: str) -> list[int]:
    p = run("tail", *args, "--json")
    assert p.returncode == 0, p.stderr
    return [json.loads(line)["seq"] for line in p.stdout.splitlines()]


def test_tail_lines_and_to_seq(capture_journal):
    data = str(capture_journal("UPBIT"))
    p = run("tail", "--data", data, "--from-seq", "1", "-n", "3")
    assert [line.split()[0] for line in p.stdout.splitlines()] == ["1", "2", "3"]  # was: all 452
    assert tail_seqs("--data", data, "--from-seq", "10", "--to-seq", "12") == [10, 11, 12]
    assert tail_seqs("--data", data, "--from-seq", "10", "--to-seq", "400", "-n", "2") == [10, 11]
    assert tail_seqs("--data", data, "--to-seq", "100", "-n", "3") == [98, 99, 100]
    since = tail_seqs("--data", data, "--from-time", "2021-04-17T16:51:03.1Z")
    assert len(since) > 3 and since[-1] == 452
    assert tail_seqs("--data", data, "--from-time", "2021-04-17T16:51:03.1Z", "-n", "3") == since[:3]
    assert tail_seqs("--data", data, "--from-seq", "1", "-n", "0") == []
    # --follow stops at --to-seq (and at -n) by itself
    assert tail_seqs("--data", data, "--from-seq", "440", "--to-seq", "442", "--follow") == [440, 441, 442]
    assert tail_seqs("--data", data, "--from-seq", "440", "-n", "2", "-f") == [440, 441]
    assert tail_seqs("--data", data, "-n", "2", "--to-seq", "5", "-f") == [4, 5]


@pytest.mark.parametrize(("args", "message"), [
    (["--from-seq", "9", "--to-seq", "5"], "error: --to-seq 5 is before --from-seq 9"),
    (["-n", "-1"], "error: -n/--lines must be >= 0, got -1"),
    (["--kind", "frame,bogus"], "error: --kind bogus: not a record kind (frame, rest, sent, open, close, error, mark)"),
])
def test_tail_refuses_contradictions(capture_journal, args, message):
    p = run("tail", "--data", str(capture_journal("UPBIT")), *args)
    assert p.returncode == 2 and p.stderr.strip() == message and p.stdout == ""


def names_symbol(rec: dict, symbol: str) -> bool:
    """What a Binance USD-M record says about its symbol, read from its JSON (not by search)."""
    if rec["kind"] == "rest":
        return parse_qs(urlsplit(rec["meta"]["url"]).query).get("symbol") == [symbol]
    if rec["kind"] != "frame":
        return False
    j = json.loads(rec["payload"])
    return j.get("stream", "").split("@")[0] == symbol.lower() or j.get("data", {}).get("s") == symbol


def test_tail_filters_by_stream_kind_and_symbol(capture_journal):
    data = str(capture_journal("BINANCE_FUTURES"))
    every = [json.loads(x) for x in run("tail", "--data", data, "--from-seq", "1", "--json").stdout.splitlines()]
    assert len(every) == 1541
    # Frames and snapshots of the symbol: what their JSON says (not a text search) ...
    keep = [r["seq"] for r in every if names_symbol(r, "KEEPUSDT")]
    assert len(keep) > 100
    assert tail_seqs("--data", data, "--from-seq", "1", "--symbol", "KEEPUSDT", "--kind", "frame,rest") == [
        r["seq"] for r in every if r["kind"] in ("frame", "rest")
        and (names_symbol(r, "KEEPUSDT") or '"symbol":"KEEPUSDT"' in r["payload"])]  # + exchangeInfo
    frames = [r["seq"] for r in every if r["kind"] == "frame" and names_symbol(r, "KEEPUSDT")]
    assert tail_seqs("--data", data, "--from-seq", "1", "--symbol", "keepusdt", "--kind", "frame") == frames
    # ... and any other record naming it: the connection's URL, the exchange's symbol list
    named = tail_seqs("--data", data, "--from-seq", "1", "--symbol", "KEEPUSDT")
    extra = [r for r in every if r["seq"] in set(named) - set(keep)]
    assert set(keep) <= set(named) and {r["kind"] for r in extra} == {"open", "rest"}
    assert all("keepusdt" in r["payload"].lower() for r in extra)
    assert tail_seqs("--data", data, "--symbol", "KEEPUSDT", "--kind", "frame", "-n", "3") == frames[-3:]
    assert tail_seqs("--data", data, "--symbol", "KEEPUSDT", "--kind", "frame", "--to-seq", str(frames[10]),
                     "-n", "2") == frames[9:11]
    both = [r["seq"] for r in every if r["kind"] == "frame"
            and (names_symbol(r, "KEEPUSDT") or names_symbol(r, "CTKUSDT"))]
    assert tail_seqs("--data", data, "--from-seq", "1", "--kind", "frame", "--symbol", "KEEPUSDT,CTKUSDT") == both
    assert tail_seqs("--data", data, "--from-seq", "1", "--kind", "frame", "--symbol", "KEEPUSDT",
                     "--symbol", "CTKUSDT") == both
    # a whole word only: KEEP is not KEEPUSDT (though the exchange's symbol list names asset KEEP)
    assert tail_seqs("--data", data, "--from-seq", "1", "--symbol", "KEEP", "--kind", "frame") == []
    rest = [r["seq"] for r in every if r["kind"] in ("rest", "open")]
    assert tail_seqs("--data", data, "--from-seq", "1", "--kind", "rest,open") == rest
    by_stream = defaultdict(list)
    for r in every:
        by_stream[r["stream"]].append(r["seq"])
    sid = max(by_stream, key=lambda k: len(by_stream[k]))
    assert tail_seqs("--data", data, "--stream", str(sid), "-n", "5") == by_stream[sid][-5:]
    assert tail_seqs("--data", data, "--from-seq", "1", "--stream", str(sid), "--kind", "open") == [
        r["seq"] for r in every if r["stream"] == sid and r["kind"] == "open"]


# --- status: one snapshot -------------------------------------------------------------------------


def test_status_counts_one_snapshot_while_records_are_appended(tmp_path, monkeypatch, capsys):
    """Records appended while status reads: every figure still describes the same records
    (was: ``records 2965`` beside a segment of ``2966``)."""
    from recorder.journal.reader import JournalReader

    w = JournalWriter(tmp_path, background=False)
    sid = w.register_stream("upbit")
    for i in range(100):
        w.append(sid, "frame", b"x%d" % i)
    w.flush()
    real_read = JournalReader.read

    def read_while_recording(self, *args, **kw):
        for n, rec in enumerate(real_read(self, *args, **kw)):
            if n == 10:  # the recorder goes on meanwhile
                for i in range(7):
                    w.append(sid, "mark", b"{}")
                w.flush()
            yield rec

    monkeypatch.setattr(JournalReader, "read", read_while_recording)
    try:
        assert main(["status", "--data", str(tmp_path), "--json"]) == 0
    finally:
        w.close()
    s = json.loads(capsys.readouterr().out)
    assert (s["first_seq"], s["last_seq"], s["records"]) == (1, 100, 100)
    assert [(x["first_seq"], x["last_seq"], x["records"]) for x in s["segments"]] == [(1, 100, 100)]
    assert s["kinds"] == {"frame": 100} and s["by_stream"] == {str(sid): 100}
    assert [x["records"] for x in s["streams"]] == [100]


def test_status_is_readable_at_80_columns(capture_journal, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    data = str(capture_journal("BINANCE_FUTURES"))
    assert main(["status", "--data", data, "--json"]) == 0
    streams = len(json.loads(capsys.readouterr().out)["streams"])
    assert main(["status", "--data", data]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "…" not in out and max(len(x) for x in lines[1:]) <= 80  # lines[0]: the summary
    assert any(re.fullmatch(r"┃ day\s+┃ first seq ┃ last seq ┃ records ┃\s+bytes ┃", x) for x in lines)
    for name in ("venue", "market", "conn", "url", "records"):  # each stream: whole names
        assert sum(x.startswith(name + " ") for x in lines) >= streams, name
    joined = "".join(x[9:].rstrip() for x in lines if x.startswith("url ") or x.startswith("   "))
    assert "wss://fstream.binance.com/stream?streams=sushiusdt@aggTrade/" in joined


# --- ls: what is recorded ----------------------------------------------------------------------


def test_ls_lists_venue_symbol_channels_times_and_records(tmp_path):
    data = tmp_path / "data"
    assert run("import", "--data", str(data), str(capture_path("UPBIT")),
               str(capture_path("BINANCE_FUTURES"))).returncode == 0
    every = [json.loads(x) for x in run("tail", "--data", str(data), "--from-seq", "1", "--json").stdout.splitlines()]
    # Counted from the payloads themselves: Upbit's "cd" code, Binance's stream name / "s".
    want: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in every:
        if r["stream"] in (1, 2) and r["kind"] == "frame":  # the Upbit capture's streams
            j = json.loads(r["payload"])
            if j.get("ty") in ("trade", "orderbook"):
                want[("upbit", j["cd"])].append(r)
        elif r["kind"] in ("frame", "rest"):
            sym = next((s for s in ("AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT")
                        if names_symbol(r, s)), None)
            if sym:
                want[("binance-usdm", sym)].append(r)
    p = run("ls", "--data", str(data), "--json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert (got["first_seq"], got["last_seq"], got["records"], got["read"]) == (1, 1993, 1993, "every record")
    rows = {(x["venue"], x["symbol"]): x for x in got["symbols"]}
    assert set(rows) == set(want)
    for key, recs in want.items():
        row = rows[key]
        assert row["records"] == len(recs), key
        assert (row["first_ts_ns"], row["last_ts_ns"]) == (recs[0]["ts_ns"], recs[-1]["ts_ns"]), key
        assert row["first_time"].startswith(("2021-04-17T", "2021-07-22T"))
    assert got["other_records"] == 1993 - sum(len(v) for v in want.values())
    upbit_trades = Counter(json.loads(r["payload"])["cd"] for r in every
                           if r["stream"] == 2 and r["kind"] == "frame" and '"ty":"trade"' in r["payload"])
    for code in upbit_trades:
        assert "trade" in rows[("upbit", code)]["channels"]
    assert rows[("binance-usdm", "KEEPUSDT")]["channels"] == ["book", "book_snapshot", "book_ticker",
                                                             "kline", "trade"]
    p = run("ls", "--data", str(data))
    assert p.returncode == 0 and "KRW-LAMB" in p.stdout and "SUSHIUSDT" in p.stdout
    assert str(rows[("upbit", "KRW-LAMB")]["records"]) in p.stdout
