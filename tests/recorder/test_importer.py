"""Importing the shared captures: one record per message, byte-exact, verify passes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard

from recorder.import_registry import imports
from recorder.importer import (
    CaptureError,
    detect_format,
    import_files,
    progress_bar,
    suggest_data_dir,
)
from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from tests.conftest import CRYPTOFEED_NAMES, capture_path


def _cryptofeed_lines(name: str) -> list[dict]:
    raw = zstandard.ZstdDecompressor().stream_reader(open(capture_path(name), "rb")).read()
    lines = [json.loads(x, parse_float=Decimal) for x in raw.decode().splitlines() if x.strip()]
    assert lines[0]["t"] == "header"
    return lines[1:]


@pytest.mark.parametrize("name", CRYPTOFEED_NAMES)
def test_cryptofeed_capture_imports_every_message_byte_exact(capture_journal, name):
    lines = _cryptofeed_lines(name)
    with JournalReader(capture_journal(name)) as r:
        recs = list(r.read())
        streams = r.streams()
        assert len(recs) == len(lines)
        kind_of = {"connect": "open", "send": "sent", "recv": "frame", "http": "rest"}
        for rec, line in zip(recs, lines, strict=True):
            assert rec.kind == kind_of[line["t"]]
            assert rec.ts_ns == int(line["ts"] * 1_000_000_000) or rec.meta.get("wall_ns") == int(line["ts"] * 10**9)
            if "b64" in line:
                assert rec.payload == base64.b64decode(line["b64"]) and rec.meta["bin"] is True
            elif line["t"] == "connect":
                assert rec.payload == line["addr"].encode()
            else:
                assert rec.payload == line["data"].encode()
            if line["t"] == "http":
                assert rec.meta["url"] == line["url"]
            assert streams[rec.stream].conn.endswith(":" + line["conn"])
        assert verify(r).ok


def test_cryptofeed_venues_and_markets(capture_journal):
    with JournalReader(capture_journal("BYBIT")) as r:
        markets = {s.url: (s.venue, s.market) for s in r.streams().values()}
    assert markets["wss://stream.bybit.com/v5/public/linear"] == ("bybit", "linear")
    with JournalReader(capture_journal("GATEIO_FUTURES")) as r:
        assert {(s.venue, s.market) for s in r.streams().values()} == {("gate", "futures")}


def test_hftbacktest_capture_imports_frames_and_the_rest_snapshot(capture_journal):
    with gzip.open(capture_path("hftbacktest"), "rt") as f:
        lines = [line.rstrip("\n").partition(" ") for line in f]
    with JournalReader(capture_journal("hftbacktest")) as r:
        recs = list(r.read())
        streams = r.streams()
        assert len(recs) == len(lines) == 93954
        assert [(rec.ts_ns, rec.payload) for rec in recs] == [(int(t), body.encode()) for t, _, body in lines]
        rest = [rec for rec in recs if rec.kind == "rest"]
        assert [x.seq for x in rest] == [55]
        assert rest[0].meta == {"url": "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT", "inferred": True}
        ws = streams[recs[0].stream]
        assert ws.venue == "binance-usdm" and set(ws.channels) == {
            "btcusdt@depth@0ms", "btcusdt@bookTicker", "btcusdt@trade"}
        assert verify(r).ok


def test_hftbacktest_needs_a_venue(tmp_path):
    with pytest.raises(CaptureError, match="--venue"):
        import_files(tmp_path, [capture_path("hftbacktest")])


def test_hftbacktest_microsecond_files_are_detected(tmp_path):
    src = tmp_path / "old.gz"
    with gzip.open(src, "wt") as f:
        f.write('1600000000123456 {"stream":"ethusdt@trade","data":{"e":"trade","s":"ETHUSDT","t":1}}\n')
        f.write('1600000000123999 {"lastUpdateId":7,"bids":[],"asks":[]}\n')
    [res] = import_files(tmp_path / "d", [src], venue="binance-spot")
    assert res.time_unit == "us"
    with JournalReader(tmp_path / "d") as r:
        recs = list(r.read())
    assert [x.ts_ns for x in recs] == [1600000000123456000, 1600000000123999000]
    assert recs[1].meta["url"] == "https://api.binance.com/api/v3/depth?symbol=ETHUSDT"


def test_several_files_go_in_order_into_one_journal(tmp_path):
    results = import_files(tmp_path, [capture_path("UPBIT"), capture_path("OKX")])
    assert [(r.first_seq, r.last_seq) for r in results] == [(1, 452), (453, 891)]
    with JournalReader(tmp_path) as r:
        assert [s.day for s in r.segments()] == ["2021-04-17", "2022-05-13"]
        assert {s.venue for s in r.streams().values()} == {"upbit", "okx"}
        assert verify(r).ok


def test_format_detection_and_bad_files(tmp_path):
    assert detect_format(capture_path("OKX")) == "cryptofeed"
    assert detect_format(capture_path("hftbacktest")) == "hftbacktest"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage\n")
    with pytest.raises(CaptureError, match="neither"):
        import_files(tmp_path / "d", [junk])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"t":"header","format":2,"exchange":"OKX"}\n'
                      '{"t":"recv","conn":"OKX.ws.1","ts":1.5,"data":"{}"}\n'
                      '{"t":"recv","conn":"OKX.ws.1","ts":1.6,"data":\n')
    with pytest.raises(CaptureError, match=r"broken.jsonl:3"):
        import_files(tmp_path / "d2", [broken])
    # nothing of the broken file was appended
    with JournalReader(tmp_path / "d2") as r:
        assert r.last_seq == 0
    with pytest.raises(CaptureError, match="no such file"):
        import_files(tmp_path / "d3", [tmp_path / "missing.gz"])


def test_a_truncated_or_damaged_file_is_a_clear_error_and_imports_nothing(tmp_path):
    whole = capture_path("hftbacktest").read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # a capture whose writer died mid-file
    with pytest.raises(CaptureError, match=r"cut.gz: cannot read past line \d+: EOFError.*truncated"):
        import_files(tmp_path / "d", [cut], venue="binance-usdm")
    not_utf8 = tmp_path / "bytes.txt"
    good = b'1723161256933000000 {"stream":"btcusdt@trade","data":{"s":"BTCUSDT"}}\n'
    not_utf8.write_bytes(good * 500 + b'1723161256933000001 {"stream":"btcusdt@trade","data":{"s":"\xff"}}\n')
    with pytest.raises(CaptureError, match=r"bytes.txt: cannot read past line \d+: UnicodeDecodeError"):
        import_files(tmp_path / "d2", [not_utf8], venue="binance-usdm")
    for d in ("d", "d2"):
        with JournalReader(tmp_path / d) as r:
            assert r.last_seq == 0


# --- safe imports: truncated files, the import register, time order, progress ----------

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recorder.cli", "import", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def _journal_state(data: Path) -> tuple[int, dict[str, str]]:
    """(last seq, sha256 of every LMDB data file and the stream table): what "unchanged" means."""
    with JournalReader(data) as r:
        last = r.last_seq
    files = {str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((data / "journal").rglob("data.mdb"))}
    return last, files


def test_a_zst_cut_in_half_says_truncated_naming_the_last_line_and_imports_nothing(tmp_path):
    whole = capture_path("OKX").read_bytes()
    cut = tmp_path / "OKX.jsonl.zst"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CaptureError) as info:
        import_files(tmp_path / "d", [cut])
    msg = str(info.value)
    assert msg.startswith(f"{cut}: cannot read past line 55: EOFError: the file ends inside a zstd frame")
    assert "truncated" in msg and "nothing of it was imported" in msg and "empty file" not in msg
    with JournalReader(tmp_path / "d") as r:
        assert r.last_seq == 0 and r.streams() == {}
    # cut so short that not even the header line is whole: still "truncated", not "empty file"
    stub = tmp_path / "stub.jsonl.zst"
    stub.write_bytes(whole[:1000])
    p = _cli("--data", str(tmp_path / "d2"), str(stub))
    assert p.returncode == 2
    assert f"error: {stub}: cannot read its first line: EOFError" in p.stderr and "truncated" in p.stderr
    assert "empty file" not in p.stderr


def test_a_zst_cut_between_whole_lines_is_still_truncated(tmp_path):
    """Every line before the cut is whole, so only the unfinished frame tells: nothing is imported."""
    lines = zstandard.ZstdDecompressor().stream_reader(open(capture_path("UPBIT"), "rb")).read().splitlines(True)
    c = zstandard.ZstdCompressor().compressobj()
    out = b""
    for line in lines[:100]:
        out += c.compress(line) + c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    cut = tmp_path / "UPBIT.jsonl.zst"
    cut.write_bytes(out)  # the frame's end never written: a recorder killed between two lines
    with pytest.raises(CaptureError, match=r"UPBIT.jsonl.zst: cannot read past line 100: EOFError.*truncated"):
        import_files(tmp_path / "d", [cut])
    with JournalReader(tmp_path / "d") as r:
        assert r.last_seq == 0
    whole = tmp_path / "whole.jsonl.zst"
    whole.write_bytes(out + c.flush())
    [res] = import_files(tmp_path / "d", [whole])
    assert res.records == 99  # the header is no record


def test_a_damaged_gz_says_damaged_and_imports_nothing(tmp_path):
    raw = bytearray(capture_path("hftbacktest").read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"x" * 64
    bad = tmp_path / "bad.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CaptureError, match=r"bad.gz: cannot read past line \d+: .*the file is damaged; "
                                           "nothing of it was imported"):
        import_files(tmp_path / "d", [bad], venue="binance-usdm")
    with JournalReader(tmp_path / "d") as r:
        assert r.last_seq == 0


def test_importing_the_same_file_again_is_refused_and_changes_nothing(tmp_path):
    data = tmp_path / "d"
    okx = capture_path("OKX")
    assert _cli("--data", str(data), str(okx)).returncode == 0
    before = _journal_state(data)
    assert before[0] == 439
    p = _cli("--data", str(data), str(okx))
    assert p.returncode == 2 and p.stdout == ""
    assert (f"error: {okx}: its content (sha256 cf796749e6a1ab8b...) was already imported into {data} as "
            "OKX.jsonl.zst on ") in p.stderr
    assert "seq 1..439, 439 records. Nothing was imported; pass --again to append its records once more" in p.stderr
    # the same bytes under another name are the same file
    copy = tmp_path / "okx-copy.jsonl.zst"
    copy.write_bytes(okx.read_bytes())
    p = _cli("--data", str(data), str(copy))
    assert p.returncode == 2 and "already imported" in p.stderr and "as OKX.jsonl.zst" in p.stderr
    assert _journal_state(data) == before
    with JournalReader(data) as r:
        assert len(r.streams()) == 2 and verify(r).ok


def test_the_same_file_twice_in_one_command_is_refused_before_anything_is_imported(tmp_path):
    okx = capture_path("OKX")
    with pytest.raises(CaptureError, match=r"OKX.jsonl.zst: same content as .*OKX.jsonl.zst, given before it\. "
                                           "Nothing was imported; pass --again"):
        import_files(tmp_path, [capture_path("UPBIT"), okx, okx])
    assert not (tmp_path / "journal").exists()  # refused before the journal was even opened


def test_again_appends_a_file_once_more_when_asked(tmp_path):
    import_files(tmp_path, [capture_path("OKX")])
    # its times are before the journal's last: --again alone still refuses, for that reason
    with pytest.raises(CaptureError, match="before the journal's last record"):
        import_files(tmp_path, [capture_path("OKX")], again=True)
    [res] = import_files(tmp_path, [capture_path("OKX")], again=True, clamp_times=True)
    assert (res.first_seq, res.last_seq, res.clamped) == (440, 878, 438)
    entries = imports(tmp_path)
    assert [(e.first_seq, e.last_seq, e.state) for e in entries] == [(1, 439, "done"), (440, 878, "done")]
    with pytest.raises(CaptureError, match=r"already imported .* seq 440\.\.878, 439 records \(2 times\)"):
        import_files(tmp_path, [capture_path("OKX")])


def test_times_before_the_journal_are_refused_with_a_directory_of_their_own(tmp_path, capture_journal):
    """The issue's case: a 2024 capture, then a 2021 one into the same directory."""
    data = tmp_path / "data"
    shutil.copytree(capture_journal("hftbacktest"), data)
    upbit = capture_path("UPBIT")
    before = _journal_state(data)
    p = _cli("--data", str(data), str(upbit))
    assert p.returncode == 2 and p.stdout == ""
    assert (f"error: {upbit}: its records start at 2021-04-17T16:51:01.680079Z, before the journal's last "
            "record (2024-08-08T23:59:59.833492Z): 452 of its 452 records would be clamped to that time") in p.stderr
    assert "Nothing was imported" in p.stderr
    suggested = tmp_path / "data-2021-04-17"
    assert f"\n  recorder import --data {suggested} {upbit}\n" in p.stderr
    assert "or pass --clamp-times" in p.stderr
    assert _journal_state(data) == before
    # the suggestion works
    assert _cli("--data", str(suggested), str(upbit)).returncode == 0
    with JournalReader(suggested) as r:
        assert r.last_seq == 452 and all("wall_ns" not in (rec.meta or {}) for rec in r.read())
    # today's clamping, when asked for: every time clamped, the raw one kept in meta
    [res] = import_files(data, [upbit], clamp_times=True)
    assert res.clamped == 452
    with JournalReader(data) as r:
        recs = list(r.read(res.first_seq))
    assert {rec.ts_ns for rec in recs} == {1723161599833492584}
    assert recs[0].meta["wall_ns"] == 1618678261680079200


def test_a_refused_file_after_imported_ones_names_them(tmp_path):
    later, earlier = capture_path("OKX"), capture_path("UPBIT")  # 2022, then 2021
    with pytest.raises(CaptureError) as info:
        import_files(tmp_path / "d", [later, earlier])
    assert "UPBIT.jsonl.zst: its records start at 2021-04-17" in str(info.value)
    assert str(info.value).endswith("(imported before it: OKX.jsonl.zst (seq 1..439))")
    with JournalReader(tmp_path / "d") as r:
        assert r.last_seq == 439


def test_the_suggested_directory_skips_one_holding_later_records(tmp_path):
    first = 1618678261680079200  # UPBIT's first record, 2021-04-17
    assert suggest_data_dir(tmp_path / "data", first) == tmp_path / "data-2021-04-17"
    import_files(tmp_path / "data-2021-04-17", [capture_path("UPBIT")])
    # it continues that journal in time order: the same directory
    assert suggest_data_dir(tmp_path / "data", first + 60 * 10**9) == tmp_path / "data-2021-04-17"
    # it would go backwards there: the next name
    assert suggest_data_dir(tmp_path / "data", first - 1) == tmp_path / "data-2021-04-17-2"
    (tmp_path / "other-2021-04-17").mkdir()
    (tmp_path / "other-2021-04-17" / "notes.txt").write_text("not a journal")
    (tmp_path / "other-2021-04-17-2").write_text("a file")
    (tmp_path / "other-2021-04-17-3").mkdir()  # empty: fine
    assert suggest_data_dir(tmp_path / "other", first) == tmp_path / "other-2021-04-17-3"


def test_progress_goes_to_stderr_and_never_into_the_json_or_the_table(tmp_path):
    kucoin = capture_path("KUCOIN")  # 4745 records: the bar is updated during the import
    p = _cli("--data", str(tmp_path / "a"), "--progress", "--json", str(kucoin))
    assert p.returncode == 0, p.stderr
    [row] = json.loads(p.stdout)
    assert (row["records"], row["first_seq"], row["last_seq"]) == (4745, 1, 4745)
    assert "importing KUCOIN.jsonl.zst" in p.stderr and "4,745/4,745 records" in p.stderr
    p = _cli("--data", str(tmp_path / "b"), "--progress", str(kucoin))
    assert p.returncode == 0 and "\x1b" not in p.stdout and "importing" not in p.stdout
    assert "KUCOIN.jsonl.zst │ cryptofeed │ 4745" in p.stdout
    # not a terminal, not asked: no bar
    p = _cli("--data", str(tmp_path / "c"), "--json", str(kucoin))
    assert p.returncode == 0 and p.stderr == "" and json.loads(p.stdout)[0]["records"] == 4745
    # a refused import: the bar is gone before the error
    p = _cli("--data", str(tmp_path / "c"), "--progress", str(kucoin))
    assert p.returncode == 2 and p.stdout == "" and "already imported" in p.stderr.splitlines()[-1]


def test_progress_is_reported_while_reading_and_while_importing(tmp_path):
    seen: list[tuple[str, str, int, int]] = []
    import_files(tmp_path, [capture_path("hftbacktest")], venue="binance-usdm",
                 on_progress=lambda *a: seen.append(a))
    reading = [s for s in seen if s[1] == "reading"]
    importing = [s for s in seen if s[1] == "importing"]
    size = capture_path("hftbacktest").stat().st_size
    assert len(reading) == 93954 // 4096 and all(s[3] == size for s in reading)
    assert [s[2] for s in reading] == sorted(s[2] for s in reading) and 0 < reading[-1][2] <= size
    assert importing[-1] == ("btcusdt_20240808.gz", "importing", 93954, 93954)
    assert len(importing) == 93954 // 4096 + 1
    assert seen.index(reading[-1]) < seen.index(importing[0])


def test_progress_bar_is_off_unless_a_terminal_or_asked(tmp_path):
    out = io.StringIO()
    with progress_bar(None, out) as cb:
        assert cb is None
    with progress_bar(True, out) as cb:
        cb("x.gz", "reading", 10, 100)
        cb("x.gz", "importing", 5, 5)
    assert "importing x.gz" in out.getvalue() and "5/5 records" in out.getvalue()
