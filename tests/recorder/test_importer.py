"""Importing the shared captures: one record per message, byte-exact, verify passes."""

from __future__ import annotations

import base64
import gzip
import json
from decimal import Decimal

import pytest
import zstandard

from recorder.importer import CaptureError, detect_format, import_files
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
