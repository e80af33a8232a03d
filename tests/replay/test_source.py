"""The ordered source: bounds, venue filter, the archive seam."""

from __future__ import annotations

import types

import msgspec
import pytest

from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay import source as source_mod
from replay.source import Bound, HistoricalSource, parse_bound

DAY = 86_400 * 10**9
D0 = 1_735_689_600 * 10**9  # 2025-01-01T00:00:00Z


def test_parse_bound():
    assert parse_bound("42") == Bound(seq=42)
    assert parse_bound("2025-01-01") == Bound(ts_ns=D0)
    assert parse_bound("2025-01-01T00:00:01.5Z") == Bound(ts_ns=D0 + 1_500_000_000)
    assert parse_bound("2025-01-01T09:00:00+09:00") == Bound(ts_ns=D0)
    with pytest.raises(ValueError):
        parse_bound("yesterday")


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """Two venues, 10 records a day over three UTC days (three journal segments)."""
    data = tmp_path_factory.mktemp("days")
    w = JournalWriter(data, background=False, durability="os")
    a = w.register_stream("upbit", opened_ns=D0)
    b = w.register_stream("binance-usdm", opened_ns=D0)
    for day in range(3):
        for i in range(10):
            w.append(a if i % 2 == 0 else b, FRAME, f"{day}:{i}".encode(), ts_ns=D0 + day * DAY + i * 10**9)
    w.close()
    return data


def seqs(src):
    with src:
        return [r.seq for r in src]


def test_bounds_by_seq_date_and_time_in_seq_order(three_days):
    assert seqs(HistoricalSource(three_days)) == list(range(1, 31))
    assert seqs(HistoricalSource(three_days, start=Bound(seq=5), end=Bound(seq=12))) == list(range(5, 13))
    # A date is a time: --from 2025-01-02 --to 2025-01-03 is the whole of the 2nd.
    day2 = HistoricalSource(three_days, start=parse_bound("2025-01-02"), end=parse_bound("2025-01-03"))
    assert day2.estimate() == 10
    assert seqs(day2) == list(range(11, 21))
    assert seqs(HistoricalSource(three_days, start=parse_bound("2025-01-03T00:00:05Z"))) == list(range(26, 31))


def test_venue_filter_uses_the_streams_table(three_days):
    src = HistoricalSource(three_days, venues=["upbit"], end=Bound(seq=10))
    with src:
        got = [(r.seq, src.stream(r.stream).venue) for r in src]
    assert got == [(s, "upbit") for s in (1, 3, 5, 7, 9)]


def test_archive_days_come_first_then_the_journal(three_days, monkeypatch):
    """The seam: when query.archive has records, they are read from it, then the journal after them."""
    calls = []

    def read_records(data_dir, from_seq=1, to_seq=None, from_ts_ns=None, to_ts_ns=None):
        calls.append((from_seq, to_seq, from_ts_ns, to_ts_ns))
        with JournalReader(three_days) as r:  # stands in for the Parquet days 1..20
            for rec in r.read(from_seq, min(to_seq or 20, 20), from_ts_ns=from_ts_ns, to_ts_ns=to_ts_ns):
                yield msgspec.structs.replace(rec, payload=b"archived:" + rec.payload)

    fake = types.SimpleNamespace(read_records=read_records, archived_range=lambda d: (1, 20))
    monkeypatch.setattr(source_mod, "_archive_module", lambda: fake)
    (three_days / "archive").mkdir(exist_ok=True)
    try:
        with HistoricalSource(three_days, start=Bound(seq=15), end=Bound(seq=25)) as src:
            got = [(r.seq, r.payload.startswith(b"archived:")) for r in src]
    finally:
        (three_days / "archive").rmdir()
    assert got == [(s, s <= 20) for s in range(15, 26)]
    assert calls == [(15, 25, None, None)]
