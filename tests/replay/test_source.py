"""The ordered source: bounds, venue filter, the archive seam, any RecordSource."""

from __future__ import annotations

import pytest

import query.archive as archive
from query.archive import ArchiveSource, archived_range
from recorder.journal import FRAME
from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.errors import BoundError
from replay.source import Bound, ChainedSource, HistoricalSource, check_range, parse_bound

from .conftest import RECORDS, SPLIT

DAY = 86_400 * 10**9
D0 = 1_735_689_600 * 10**9  # 2025-01-01T00:00:00Z


def test_parse_bound():
    assert parse_bound("42") == Bound(seq=42)
    assert parse_bound("2025-01-01") == Bound(ts_ns=D0)
    assert parse_bound("2025-01-01T00:00:01.5Z") == Bound(ts_ns=D0 + 1_500_000_000)
    assert parse_bound("2025-01-01T09:00:00+09:00") == Bound(ts_ns=D0)
    with pytest.raises(BoundError, match="not a seq, date or ISO time: 'yesterday'"):
        parse_bound("yesterday")


def test_a_range_ending_before_it_starts_is_a_bound_error():
    check_range(Bound(seq=5), Bound(seq=5))
    check_range(Bound(seq=5), Bound(ts_ns=1))  # a seq and a time: not comparable here
    with pytest.raises(BoundError, match="--from seq 6 is after --to seq 5"):
        check_range(Bound(seq=6), Bound(seq=5))
    with pytest.raises(BoundError, match="not before"):
        check_range(Bound(ts_ns=D0), Bound(ts_ns=D0))


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


def test_any_record_source_reads_like_the_data_dir_and_stays_open(three_days):
    with JournalReader(three_days) as r:
        mem = MemorySource(list(r.read()), r.streams())
    for bounds in ({}, {"start": Bound(seq=5), "end": Bound(seq=12)},
                   {"start": parse_bound("2025-01-02"), "end": parse_bound("2025-01-03")}):
        with HistoricalSource(three_days, venues=["upbit"], **bounds) as a:
            want = [(r, a.stream(r.stream)) for r in a]
            n = a.estimate()
        b = HistoricalSource(mem, venues=["upbit"], **bounds)
        with b:
            assert [(r, b.stream(r.stream)) for r in b] == want and want
            assert b.estimate() == n
        assert b.reader is None and b.history is mem
    journal = JournalReader(three_days)
    with HistoricalSource(journal, end=Bound(seq=3)) as src:
        assert src.reader is journal and [r.payload for r in src] == [b"0:0", b"0:1", b"0:2"]
    assert journal.last_seq == 30 and list(journal.read(30)) != []  # not closed by the source
    journal.close()


def test_the_day_is_in_the_archive_only(straddle):
    _, mixed = straddle
    assert archived_range(mixed) == (1, SPLIT - 1)
    with JournalReader(mixed) as r:
        assert [s.day for s in r.segments()] == ["2025-01-02"]
        assert r.first_seq == SPLIT


def test_the_source_reads_archive_then_journal_in_seq_order(straddle):
    plain, mixed = straddle
    with HistoricalSource(plain) as a, HistoricalSource(mixed) as b:
        assert isinstance(b.source, ChainedSource) and isinstance(b.history, ArchiveSource)
        assert b.estimate() == a.estimate() == RECORDS
        assert b.streams() == a.streams()
        n = 0
        for x, y in zip(a, b, strict=True):  # the same records, byte for byte
            assert x == y
            n += 1
    assert n == RECORDS


@pytest.mark.parametrize("start,end", [
    (None, None),
    ("11990", "12010"),  # seq bounds across the seam
    ("2025-01-01T23:59:00Z", "2025-01-02T00:01:00Z"),  # time bounds across midnight
    ("2025-01-02", None),  # only the journal day
    (None, "2025-01-02"),  # only the archived day
    ("2025-01-01T23:59:20Z", "2025-01-01T23:59:30.5Z"),  # inside the archived day
])
def test_bounded_reads_across_the_seam_match(straddle, start, end):
    plain, mixed = straddle
    kw = {"start": parse_bound(start) if start else None, "end": parse_bound(end) if end else None}
    with HistoricalSource(plain, **kw) as a, HistoricalSource(mixed, **kw) as b:
        got_a, got_b = [r.seq for r in a], [r.seq for r in b]
        # The progress bar's total is exact on both sides of the seam.
        assert a.estimate() == b.estimate() == len(got_a)
    assert got_a == got_b and got_a
    assert got_a == list(range(got_a[0], got_a[-1] + 1))
    if start == "2025-01-02":
        assert got_b[0] == SPLIT
    if end == "2025-01-02":
        assert got_b[-1] == SPLIT - 1


def test_the_chain_finds_times_in_either_part(straddle):
    plain, mixed = straddle
    with JournalReader(plain) as j, HistoricalSource(mixed) as h:
        chain = h.source
        recs = list(j.read())
        for i in (0, 5000, SPLIT - 2, SPLIT - 1, SPLIT, RECORDS - 1):
            assert chain.seq_at_time(recs[i].ts_ns) == j.seq_at_time(recs[i].ts_ns) <= recs[i].seq
        assert chain.seq_at_time(recs[-1].ts_ns + 1) is None
        assert (chain.first_seq, chain.last_seq) == (1, RECORDS)


def test_the_source_reads_the_archive_lazily(straddle, monkeypatch):
    """Nothing is read ahead: ten records take one archive batch and no journal read.

    (That ``query.archive`` holds one row group at a time is tested in tests/query.)
    """
    _, mixed = straddle
    taken = []
    real = archive.records_of_batch

    def spy(batch):
        taken.append(batch.num_rows)
        return real(batch)

    monkeypatch.setattr(archive, "records_of_batch", spy)
    journal_reads = []
    with HistoricalSource(mixed) as src:
        real_read = src.reader.read
        monkeypatch.setattr(src.reader, "read", lambda *a, **k: journal_reads.append((a, k)) or real_read(*a, **k))
        it = iter(src)
        assert [next(it).seq for _ in range(10)] == list(range(1, 11))
        assert len(taken) == 1 and journal_reads == []
        rest = [r.seq for r in it]
    assert rest == list(range(11, RECORDS + 1))
    assert journal_reads == [((SPLIT, None), {"from_ts_ns": None, "to_ts_ns": None})]
