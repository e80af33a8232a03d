"""The recorder CLI: import, status, verify, tail (as a user runs them)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lmdb

from recorder.cli import main
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
    assert tuple(venue.choices) == tuple(VENUES) == ("binance-usdm", "upbit")
    channels = next(a for a in run_parser._actions if a.dest == "channels").help
    assert "binance-usdm depth,depth20,aggTrade,trade,kline_1m,bookTicker,markPrice" in channels
    assert "upbit orderbook,trade,ticker" in channels
    p = run("run", "--venue", "upbit", "--symbols", "BTCUSDT", "--channels", "trade",
            "--data", str(tmp_path))
    assert p.returncode == 2
    assert "bad configuration: venue[0].symbols: 'BTCUSDT' is not a upbit symbol (e.g. KRW-BTC)" in p.stderr
    p = run("run", "--symbols", "BTCUSDT", "--data", str(tmp_path))
    assert p.returncode == 2 and "--symbols/--channels need --venue" in p.stderr
    assert not (tmp_path / "journal").exists()  # nothing recorded
