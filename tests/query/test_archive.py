"""The archive reader: records back in seq order, byte-exact, filtered, a row group at a time."""

from __future__ import annotations

import pyarrow.parquet as pq

import query.archive as archive
from query import manifest
from query.archive import ArchiveSource, archived_range, read_records, read_streams
from query.compact import compact
from recorder.journal.reader import JournalReader
from tests.query.conftest import FINISHED_SMALL


def test_read_records_gives_back_the_journal(multi_day):
    with JournalReader(multi_day) as r:
        before = list(r.read())
        streams = r.streams()
    assert any(rec.meta for rec in before)
    compact(multi_day)
    first, last = archived_range(multi_day)
    assert first == 1
    assert read_streams(multi_day) == streams
    got = list(read_records(multi_day))
    assert got == [rec for rec in before if rec.seq <= last]
    assert got[-1].seq == last
    # The journal continues exactly where the archive stops.
    with JournalReader(multi_day) as r:
        assert r.first_seq == last + 1


def test_filters_by_seq_and_time(multi_day):
    with JournalReader(multi_day) as r:
        before = list(r.read())
    compact(multi_day)
    _, last = archived_range(multi_day)
    archived = [rec for rec in before if rec.seq <= last]
    assert list(read_records(multi_day, 100, 700)) == [r for r in archived if 100 <= r.seq <= 700]
    t0, t1 = archived[300].ts_ns, archived[2000].ts_ns
    assert list(read_records(multi_day, from_ts_ns=t0, to_ts_ns=t1)) == [
        r for r in archived if t0 <= r.ts_ns < t1]
    assert list(read_records(multi_day, last + 1)) == []


def test_reads_only_the_row_groups_it_needs(multi_day, monkeypatch):
    monkeypatch.setattr(archive, "ROW_GROUP", 100)
    compact(multi_day, through=FINISHED_SMALL[1])
    m = manifest.load(multi_day)
    path = multi_day / "archive" / m["days"][FINISHED_SMALL[1]]["tables"]["raw"]["files"][0]["path"]
    assert pq.ParquetFile(path).metadata.num_row_groups > 10
    read = []
    orig = pq.ParquetFile.read_row_group

    def spy(self, i, *a, **k):
        read.append(i)
        return orig(self, i, *a, **k)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    first = m["days"][FINISHED_SMALL[1]]["first_seq"]
    recs = list(read_records(multi_day, first + 450, first + 520))
    assert [r.seq for r in recs] == list(range(first + 450, first + 521))
    assert read == [4, 5]  # rows 400..599 of that day: two groups of 100


def test_a_start_time_reads_only_the_row_groups_from_it(multi_day, monkeypatch):
    """``ArchiveSource``: a time is found by the manifest's days and the groups' statistics."""
    monkeypatch.setattr(archive, "ROW_GROUP", 100)
    with JournalReader(multi_day) as r:
        before = list(r.read())
    compact(multi_day, through=FINISHED_SMALL[1])
    m = manifest.load(multi_day)
    first = m["days"][FINISHED_SMALL[1]]["first_seq"]
    target = next(rec for rec in before if rec.seq == first + 450)
    read = []
    orig = pq.ParquetFile.read_row_group

    def spy(self, i, *a, **k):
        read.append((i, tuple(k.get("columns") or ())))
        return orig(self, i, *a, **k)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    src = ArchiveSource(multi_day)
    at = src.seq_at_time(target.ts_ns)
    assert at == next(rec.seq for rec in before if rec.ts_ns >= target.ts_ns) and first < at <= first + 450
    assert read == [((at - first) // 100, ("seq", "ts_ns"))]  # two columns of one group, no payloads
    read.clear()
    got = list(src.read(from_ts_ns=target.ts_ns, to_seq=first + 520))
    assert got == [rec for rec in before if rec.ts_ns >= target.ts_ns and rec.seq <= first + 520]
    assert [i for i, cols in read if not cols] == [4, 5]  # whole groups only from the one holding it
    assert src.streams() == read_streams(multi_day) and src.first_seq == 1
