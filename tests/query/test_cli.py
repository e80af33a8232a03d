"""The ``query`` command line: compact a capture journal end to end, sql, rebuild, influx, status, errors."""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard

from query import manifest
from query.catalog import connect
from query.cli import human_bytes, main, parse_time
from recorder.journal.reader import JournalReader
from tests import vm
from tests.conftest import capture_path
from tests.query.conftest import CURRENT, FINISHED_SMALL, tree_state

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-21T12:00:00Z"  # the clock the CLI is given: every capture day is over
IN_CURRENT = f"{CURRENT}T12:00:00Z"  # a clock inside multi_day's newest day: it is not finished


def capture_trades(name: str) -> int:
    """Trade messages in a capture file, counted from the file itself."""
    n = 0
    if name == "hftbacktest":  # gzip text: "<ts_ns> <json>" per line
        with gzip.open(capture_path(name), "rt") as f:
            for line in f:
                j = json.loads(line.split(" ", 1)[1])
                n += isinstance(j.get("data"), dict) and j["data"].get("e") == "trade"
        return n
    with open(capture_path(name), "rb") as f:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        for line in text:
            rec = json.loads(line)
            if rec.get("t") != "recv":
                continue
            body = base64.b64decode(rec["b64"]) if "b64" in rec else rec["data"].encode()
            try:
                j = json.loads(body)
            except ValueError:
                continue
            if not isinstance(j, dict):
                continue
            if name.startswith("BINANCE"):
                d = j.get("data", j)
                n += isinstance(d, dict) and d.get("e") in ("trade", "aggTrade")
            elif name == "UPBIT":
                n += (j.get("ty") or j.get("type")) == "trade"
            elif name == "BYBIT":
                if str(j.get("topic", "")).startswith("publicTrade."):
                    n += len(j["data"])
            else:
                raise ValueError(name)
    return n


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def journal_count(data: Path) -> tuple[int, list[str]]:
    with JournalReader(data) as r:
        segs = r.segments()
        return sum(s.records for s in segs), [s.day for s in segs]


def recorder_verify(data: Path) -> dict:
    p = subprocess.run([sys.executable, "-m", "recorder.cli", "verify", "--data", str(data), "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("name", ["BINANCE_FUTURES", "UPBIT", "BYBIT",
                                  pytest.param("hftbacktest", marks=pytest.mark.slow)])
def test_compact_a_capture_journal(capture_journal, tmp_path, capsys, name):
    data = tmp_path / "data"
    shutil.copytree(capture_journal(name), data)
    records, days = journal_count(data)
    assert len(days) == 1  # one capture, one day: finished only by the clock
    day = days[0]
    digest = recorder_verify(data)["digest"]

    # While the clock is still inside the day (or within the grace after it), it is not finished.
    for now in (f"{day}T23:59:00Z", f"{day}T23:59:59.999Z"):
        rc, out, err = run(capsys, "compact", "--data", str(data), "--now", now, "--json")
        assert rc == 0 and json.loads(out)["compacted"] == []
        rc, _, err = run(capsys, "compact", "--data", str(data), "--day", day, "--now", now)
        assert rc == 2 and err.startswith("error: ") and "newest" in err
        # the option as typed, not the keyword of the function that refused
        assert "pass --include-current only if the recorder is stopped" in err
        assert "include_current" not in err
    assert not (data / "archive" / "manifest.json").exists()

    rc, out, _ = run(capsys, "compact", "--data", str(data), "--keep-days", "1", "--now", NOW, "--json")
    assert rc == 0
    res = json.loads(out)
    assert (res["compacted"], res["pruned"], res["records"]) == ([day], [], records)
    m = manifest.load(data)
    e = m["days"][day]
    root = data / "archive"
    raw_rows = sum(pq.ParquetFile(root / f["path"]).metadata.num_rows for f in e["tables"]["raw"]["files"])
    assert raw_rows == e["records"] == records
    assert e["payload_digest"] == digest  # the same checksum recorder verify computes
    for t in e["tables"].values():
        for f in t["files"]:
            assert manifest.file_digest(root / f["path"]) == f["blake2b"]
    expected_trades = capture_trades(name)
    assert expected_trades > 0
    assert e["tables"]["trades"]["rows"] == expected_trades
    rc, out, _ = run(capsys, "sql", "--data", str(data), "--no-hot", "--format", "json",
                     "SELECT (SELECT count(*) FROM raw) AS raw, (SELECT count(*) FROM trades) AS trades")
    assert json.loads(out) == [{"raw": records, "trades": expected_trades}]

    # Again: nothing changes, not a byte, not an mtime; the kept day still verifies.
    archive = tree_state(root)
    rc, out, _ = run(capsys, "compact", "--data", str(data), "--keep-days", "1", "--now", NOW, "--json")
    assert rc == 0 and json.loads(out)["compacted"] == [] and json.loads(out)["pruned"] == []
    assert tree_state(root) == archive
    assert recorder_verify(data)["records"] == records

    # keep-days 0: the journal day goes, the archive stays as it was, the journal verifies.
    rc, out, _ = run(capsys, "compact", "--data", str(data), "--now", NOW, "--json")
    assert json.loads(out)["pruned"] == [day]
    assert journal_count(data) == (0, [])
    assert tree_state(root) == archive
    v = recorder_verify(data)
    assert v["ok"] and v["records"] == 0
    # ... and the SQL views still see every record, now from the archive alone.
    rc, out, _ = run(capsys, "sql", "--data", str(data), "--format", "json", "SELECT count(*) AS n FROM raw")
    assert json.loads(out) == [{"n": records}]


def test_the_console_script_runs(multi_day):
    exe = Path(sys.executable).with_name("query")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "query.cli"]
    p = subprocess.run([*cmd, "compact", "--data", str(multi_day), "--now", IN_CURRENT], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    for day in FINISHED_SMALL:
        assert day in p.stdout
    p = subprocess.run([*cmd, "status", "--data", str(multi_day), "--json"], capture_output=True, text=True)
    assert [d["day"] for d in json.loads(p.stdout)["days"]] == list(FINISHED_SMALL)
    p = subprocess.run([*cmd, "sql", "--data", "/nonexistent/dir", "SELECT 1"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and "nonexistent" in p.stderr


def test_sql_formats_and_hot(synthetic, tmp_path, capsys):
    from query.catalog import connect, to_arrow

    q = "SELECT venue, symbol, count(*) AS n, round(sum(size), 6) AS volume FROM trades GROUP BY ALL ORDER BY 1, 2"
    want = to_arrow(connect(synthetic).sql(q)).to_pylist()
    assert want and all(r["n"] > 0 for r in want)
    # Nothing archived yet: every row comes from the hot journal.
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "json", q)
    assert rc == 0 and json.loads(out) == want  # one JSON document: an array of row objects
    assert len(want) > 1  # so that JSON Lines would not parse as one document
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "jsonl", q)
    assert rc == 0 and [json.loads(x) for x in out.splitlines()] == want
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--no-hot", "--format", "json", q)
    assert rc == 0 and json.loads(out) == []
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--no-hot", "--format", "jsonl", q)
    assert rc == 0 and out == ""

    assert run(capsys, "compact", "--data", str(synthetic))[0] == 0
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--no-hot", "--format", "json", q)
    assert json.loads(out) == want
    json_out = tmp_path / "t.json"
    rc, _, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "json", "--out", str(json_out), q)
    assert rc == 0 and json.loads(json_out.read_text()) == want
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "csv", q)
    lines = out.splitlines()
    assert lines[0] == '"venue","symbol","n","volume"'
    assert len(lines) == len(want) + 1 and f'"{want[0]["venue"]}","{want[0]["symbol"]}",{want[0]["n"]},' in lines[1]
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), q)
    assert rc == 0 and "venue" in out and want[0]["symbol"] in out and str(want[0]["n"]) in out
    pq_out = tmp_path / "t.parquet"
    rc, _, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "parquet", "--out", str(pq_out), q)
    assert rc == 0 and pq.read_table(pq_out).to_pylist() == want
    csv_out = tmp_path / "t.csv"
    sql_file = tmp_path / "q.sql"
    sql_file.write_text(q)
    rc, _, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "csv", "--out", str(csv_out),
                   f"@{sql_file}")
    assert rc == 0 and csv_out.read_text().splitlines() == lines
    # Binary payloads come out as text (UTF-8) in JSON.
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), "--format", "json",
                     "SELECT payload FROM raw WHERE seq = 2")
    (row,) = json.loads(out)
    assert json.loads(row["payload"])["data"]["e"] == "depthUpdate"


def at_80_columns(monkeypatch) -> None:
    """The terminal ``query`` prints to is 80 columns wide (what COLUMNS=80 tells rich)."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "dumb")


def test_sql_table_is_readable_at_80_columns(synthetic, capsys, monkeypatch):
    """A wide result at 80 columns: every header and every value whole, none folded into
    2-character columns (one block of ``column  value`` lines per row)."""
    at_80_columns(monkeypatch)
    q = "SELECT * FROM trades ORDER BY seq LIMIT 3"
    from query.catalog import connect, to_arrow

    t = to_arrow(connect(synthetic).sql(q))
    assert t.num_columns > 10  # far wider than 80 columns as a table
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), q)
    assert rc == 0
    lines = out.splitlines()
    assert lines and max(len(x) for x in lines) <= 80
    assert "…" not in out
    pairs = [x.split(None, 1) for x in lines if x and not x.startswith("row ")]
    got = [(p[0], p[1].strip() if len(p) > 1 else "") for p in pairs]
    want = [(name, str(v)) for row in t.to_pylist() for name, v in row.items()
            if name not in ("ts", "date")]
    assert [g for g in got if g[0] not in ("ts", "date")] == want  # whole headers, whole values
    assert [x for x in lines if x.startswith("row ")] == [x for x in lines if x.startswith("row ")][:3]
    assert sum(x.startswith("row ") for x in lines) == 3


def test_sql_narrow_result_stays_a_table_at_80_columns(synthetic, capsys, monkeypatch):
    at_80_columns(monkeypatch)
    q = "SELECT venue, symbol, count(*) AS trades FROM trades GROUP BY ALL ORDER BY 1, 2"
    rc, out, _ = run(capsys, "sql", "--data", str(synthetic), q)
    assert rc == 0
    header = next(x for x in out.splitlines() if "venue" in x)
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["venue", "symbol", "trades"]


def test_archived_days_are_readable_at_80_columns(multi_day, capsys, monkeypatch):
    """``query status``/``compact`` at 80 columns: was ``reco…`` and ``2021…`` in 7-wide columns."""
    at_80_columns(monkeypatch)
    run(capsys, "compact", "--data", str(multi_day), "--through", FINISHED_SMALL[0], "--json")
    rc, out, _ = run(capsys, "status", "--data", str(multi_day))
    title, *lines = out.splitlines()  # the title names the archive's path, as long as it is
    assert rc == 0 and "…" not in out and max(len(x) for x in lines) <= 80
    fields = dict(x.split(None, 1) for x in out.splitlines()[2:] if x.strip())
    assert fields["day"].strip() == FINISHED_SMALL[0]
    for name in ("records", "seq", "trades", "quotes", "klines", "features", "gaps", "archive",
                 "journal"):
        assert name in fields, name


@pytest.mark.parametrize("argv,msg", [
    (["sql", "SELEC 1"], "SQL: Parser Error"),
    (["sql", "SELECT * FROM nosuchtable"], "nosuchtable"),
    (["sql", "  "], "empty query"),
    (["sql", "SELECT 1", "--format", "parquet"], "--out"),
    (["sql", "@/nonexistent.sql"], "cannot read"),
    (["compact", "--day", "2021-01-01"], "no journal day 2021-01-01"),
    (["rebuild", "--table", "nope"], "not a derived table: nope"),
    (["rebuild", "--from", "2030-01-01"], "no archived days"),
    (["rebuild", "--from", "2022-01-02", "--to", "2022-01-01"], "after"),
    (["influx", "--token", "", "--from", "2021-01-01"], "--token"),
    (["influx", "--token", "t", "--url", "ftp://x"], "--url"),
])
def test_bad_input_is_an_error_with_exit_2(multi_day, capsys, monkeypatch, argv, msg):
    monkeypatch.delenv("TICKTAPE_INFLUX_TOKEN", raising=False)
    rc, out, err = run(capsys, argv[0], "--data", str(multi_day), *argv[1:])
    assert rc == 2, out + err
    assert err.startswith("error: ") and msg in err, err


def test_bad_arguments_are_usage_errors(multi_day, capsys):
    for argv in (["compact", "--day", "2021-13-01"], ["compact", "--keep-days", "-1"],
                 ["schedule", "--at", "25:00"], ["influx", "--from", "yesterday"],
                 ["compact", "--day", "2021-01-01", "--through", "2021-01-02"]):
        with pytest.raises(SystemExit) as exc:
            main([argv[0], "--data", str(multi_day), *argv[1:]])
        assert exc.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_rebuild_reports_days_tables_and_rows(multi_day, capsys):
    """The command's side of rebuild (the rebuild itself: test_rebuild.py)."""
    assert run(capsys, "compact", "--data", str(multi_day), "--now", IN_CURRENT)[0] == 0
    rc, out, _ = run(capsys, "rebuild", "--data", str(multi_day), "--table", "trades",
                     "--from", FINISHED_SMALL[1], "--json")
    assert rc == 0
    days = list(FINISHED_SMALL[1:])
    m = manifest.load(multi_day)
    assert json.loads(out) == {"days": days, "tables": ["trades"], "replayed_days": 0,
                               "rows": {"trades": sum(m["days"][d]["tables"]["trades"]["rows"]
                                                      for d in days)}}
    rc, out, _ = run(capsys, "rebuild", "--data", str(multi_day), "--table", "book_levels",
                     "--book-interval-ms", "500")
    assert rc == 0 and f"rebuilt {len(FINISHED_SMALL)} day(s)" in out and "book_levels" in out
    m = manifest.load(multi_day)
    assert {m["days"][d]["projection"]["book_interval_ms"] for d in FINISHED_SMALL} == {500}


def test_status_lists_archived_days(multi_day, capsys):
    rc, out, _ = run(capsys, "status", "--data", str(multi_day))
    assert rc == 0 and "nothing archived" in out
    run(capsys, "compact", "--data", str(multi_day), "--through", FINISHED_SMALL[0], "--json")
    rc, out, _ = run(capsys, "status", "--data", str(multi_day), "--json")
    days = json.loads(out)["days"]
    assert [d["day"] for d in days] == [FINISHED_SMALL[0]]
    assert days[0]["tables"]["raw"] == days[0]["records"] > 0


def test_influx_reports_the_rows_it_could_not_write(synthetic, capsys):
    lo = 1_735_776_000 * 10**9  # 2025-01-02T00:00:00Z
    rc = main(["influx", "--data", str(synthetic), "--url", f"http://127.0.0.1:{vm.free_port()}",
               "--token", "t", "--retries", "1", "--from", "2025-01-02T00:00:00Z",
               "--to", "2025-01-02T00:00:05Z", "--json"])
    out, err = capsys.readouterr()
    assert rc == 1 and err.startswith("error: ") and "not written" in err
    res = json.loads(out)
    con = connect(synthetic)
    want = {t: con.sql(f"SELECT count(*) FROM {t} WHERE ts_ns >= {lo} AND ts_ns < {lo + 5 * 10**9}")
            .fetchall()[0][0] for t in ("features", "klines")}
    assert res["rows"] == want and want["features"] > 0
    assert (res["written"], res["failed"]) == (0, sum(want.values()))


def test_time_and_size_arguments():
    day = 1_735_776_000 * 10**9  # 2025-01-02T00:00:00Z
    assert parse_time("2025-01-02T00:00:00Z") == parse_time("2025-01-02") == day
    assert parse_time("2025-01-02T09:00:00.5+09:00") == day + 500_000_000
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO time"):
        parse_time("yesterday")
    assert [human_bytes(n) for n in (512, 1536, 3 * 2**30, 5 * 2**40)] == [
        "512 B", "1.5 KiB", "3.0 GiB", "5.0 TiB"]


def test_count_trades_agrees_with_the_journal_counter(capture_journal):
    """The capture-file counter above and the journal counter of conftest agree."""
    from tests.query.conftest import count_trade_messages

    got = count_trade_messages(capture_journal("UPBIT"))
    assert got == Counter({"upbit": capture_trades("UPBIT")})
