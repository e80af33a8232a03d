"""One contract for record sources, run against the journal, the archive and the in-memory twin.

The records: three real captures on three UTC days (UPBIT 2021-04-17, BINANCE_FUTURES
2021-07-22, OKX 2022-05-13), imported into a journal (three segments). The same records
are compacted into an archive (row groups of 100, so bounds fall inside and between
groups) and loaded into a ``MemorySource``. Each source is also tried holding part of
them: the journal after its first day was archived and pruned (seq starts after 1),
the archive of that first day alone, and the memory list of either.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import query.archive as archive
from query.archive import ArchiveSource
from query.compact import compact
from recorder.importer import import_files
from recorder.journal import Record, StreamInfo
from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from recorder.journal.source import RecordSource
from recorder.journal.writer import JournalWriter
from tests.conftest import capture_path

CAPTURES = ("UPBIT", "BINANCE_FUTURES", "OKX")
DAYS = ("2021-04-17", "2021-07-22", "2022-05-13")
NOW = 4_102_444_800 * 10**9  # 2100-01-01: every day is over (compaction takes them all)


@dataclass
class Built:
    full: object  # data dir: the journal of all three days
    archived: object  # data dir: all three days compacted (journal pruned)
    tail: object  # data dir: the first day compacted and pruned, the other two in the journal
    records: list[Record]
    streams: dict[int, StreamInfo]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    base = tmp_path_factory.mktemp("sources")
    full = base / "full"
    for name in CAPTURES:
        import_files(full, [capture_path(name)])
    with JournalReader(full) as r:
        records, streams = list(r.read()), r.streams()
        assert [s.day for s in r.segments()] == list(DAYS)
    archived, tail = base / "archived", base / "tail"
    shutil.copytree(full, archived)
    shutil.copytree(full, tail)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(archive, "ROW_GROUP", 100)
        assert compact(archived, derived=False, now_ns=NOW).compacted == list(DAYS)
        assert compact(tail, day=DAYS[0], derived=False).compacted == [DAYS[0]]
    return Built(full, archived, tail, records, streams)


def _day_one_end(b: Built) -> int:
    """The last seq of the first day."""
    return ArchiveSource(b.tail).last_seq


# Each case: (what it holds, how to open it): "all" or "tail" (days 2-3) or "head" (day 1).
CASES: dict[str, tuple[str, Callable[[Built], RecordSource]]] = {
    "journal": ("all", lambda b: JournalReader(b.full)),
    "archive": ("all", lambda b: ArchiveSource(b.archived)),
    "memory": ("all", lambda b: MemorySource(b.records, b.streams)),
    "journal-pruned": ("tail", lambda b: JournalReader(b.tail)),
    "memory-tail": ("tail", lambda b: MemorySource(b.records[_day_one_end(b):], b.streams)),
    "archive-one-day": ("head", lambda b: ArchiveSource(b.tail)),
    "memory-head": ("head", lambda b: MemorySource(b.records[:_day_one_end(b)], b.streams)),
}


@pytest.fixture(params=list(CASES))
def case(request, built):
    """(the source, the records it must hold, the streams it must know)."""
    holds, make = CASES[request.param]
    cut = _day_one_end(built)
    want = {"all": built.records, "tail": built.records[cut:], "head": built.records[:cut]}[holds]
    src = make(built)
    yield src, want, built.streams
    src.close()


def _filtered(recs: list[Record], from_seq: int = 1, to_seq: int | None = None,
              from_ts_ns: int | None = None, to_ts_ns: int | None = None) -> list[Record]:
    """What the contract says ``read`` gives, by brute force."""
    return [r for r in recs if r.seq >= from_seq and (to_seq is None or r.seq <= to_seq)
            and (from_ts_ns is None or r.ts_ns >= from_ts_ns) and (to_ts_ns is None or r.ts_ns < to_ts_ns)]


def test_the_cases_hold_what_they_should(built):
    cut = _day_one_end(built)
    assert 100 < cut < len(built.records) - 100
    assert built.records[cut - 1].ts_ns < built.records[cut].ts_ns  # day 1 ends where day 2 starts
    assert [r.seq for r in built.records] == list(range(1, len(built.records) + 1))


def test_is_a_record_source(case):
    src, _, _ = case
    assert isinstance(src, RecordSource)


def test_holds_the_same_records_byte_for_byte(case):
    src, want, _ = case
    got = list(src.read())
    assert got == want
    assert [r.payload for r in got] == [r.payload for r in want]
    assert any(r.meta for r in got) and {r.kind for r in got} >= {"frame", "open"}
    assert (src.first_seq, src.last_seq) == (want[0].seq, want[-1].seq)


def test_streams_are_the_same_and_a_copy(case):
    src, _, streams = case
    assert src.streams() == streams
    sid = min(streams)
    assert src.stream(sid) == streams[sid]
    assert src.stream(max(streams) + 1) is None
    src.streams().clear()
    assert src.streams() == streams


def _seq_bounds(want: list[Record]) -> list[tuple[int, int | None]]:
    first, last = want[0].seq, want[-1].seq
    mid = want[len(want) // 2].seq
    return [(1, None), (first, last), (first, first), (last, last), (mid, mid + 1), (mid - 150, mid + 150),
            (0, first + 5), (last - 5, last + 1000), (mid, None), (1, mid)]


def test_seq_bounds_are_inclusive_at_both_ends(case):
    src, want, _ = case
    for lo, hi in _seq_bounds(want):
        assert list(src.read(lo, hi)) == _filtered(want, lo, hi), (lo, hi)


def _times(want: list[Record]) -> list[int]:
    """Record times to cut at: the ends, the middle, a time two records share, and between records."""
    ts = [r.ts_ns for r in want]
    shared = next((t for a, t in zip(ts, ts[1:], strict=False) if a == t), ts[len(ts) // 3])
    gap = next(i for i in range(1, len(ts)) if ts[i] > ts[i - 1] + 1)  # a time no record has
    return [ts[0], ts[-1], ts[len(ts) // 2], shared, ts[gap] - 1, ts[10], ts[-10]]


def test_time_bounds_include_the_start_and_exclude_the_end(case):
    src, want, _ = case
    times = sorted(set(_times(want)))
    for t0 in times:
        got = list(src.read(from_ts_ns=t0))
        assert got == _filtered(want, from_ts_ns=t0) and got[0].ts_ns >= t0, t0
        got = list(src.read(to_ts_ns=t0))
        assert got == _filtered(want, to_ts_ns=t0), t0
        assert all(r.ts_ns < t0 for r in got)
        for t1 in times:
            assert list(src.read(from_ts_ns=t0, to_ts_ns=t1)) == _filtered(want, from_ts_ns=t0, to_ts_ns=t1)


def test_seq_and_time_bounds_together_are_both_applied(case):
    src, want, _ = case
    mid = len(want) // 2
    a, b = want[mid - 200], want[mid + 200]
    for kw in ({"from_seq": a.seq, "to_seq": b.seq, "from_ts_ns": want[mid - 50].ts_ns},
               {"from_seq": a.seq, "to_seq": b.seq, "to_ts_ns": want[mid + 50].ts_ns},
               {"from_seq": want[mid].seq, "from_ts_ns": a.ts_ns, "to_ts_ns": b.ts_ns}):
        got = list(src.read(**kw))
        assert got and got == _filtered(want, **kw), kw


def test_a_range_that_selects_nothing_is_empty(case):
    src, want, _ = case
    first, last = want[0], want[-1]
    empty = [
        {"from_seq": last.seq + 1},
        {"from_seq": 100, "to_seq": 99},
        {"to_seq": first.seq - 1} if first.seq > 1 else {"to_seq": 0},
        {"from_ts_ns": last.ts_ns + 1},
        {"to_ts_ns": first.ts_ns},
        {"from_ts_ns": want[50].ts_ns, "to_ts_ns": want[50].ts_ns},
        {"from_ts_ns": want[60].ts_ns, "to_ts_ns": want[40].ts_ns},
        {"from_seq": want[60].seq, "to_ts_ns": want[40].ts_ns},
    ]
    for kw in empty:
        assert list(src.read(**kw)) == [], kw


def test_seq_at_time_is_the_first_record_at_or_after(case):
    src, want, _ = case
    for t in [*_times(want), want[0].ts_ns - 1, 0]:
        assert src.seq_at_time(t) == next(r.seq for r in want if r.ts_ns >= t), t
    assert src.seq_at_time(want[-1].ts_ns + 1) is None


def test_an_empty_source_holds_nothing(tmp_path):
    with JournalWriter(tmp_path / "j", background=False) as w:
        w.register_stream("upbit", opened_ns=1)
    for src in (JournalReader(tmp_path / "j"), ArchiveSource(tmp_path / "j"), MemorySource([])):
        assert isinstance(src, RecordSource)
        assert (src.first_seq, src.last_seq) == (0, 0)
        assert list(src.read()) == [] and list(src.read(from_ts_ns=0, to_ts_ns=2**62)) == []
        assert src.seq_at_time(0) is None
        src.close()
