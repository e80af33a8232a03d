"""``replay.merge.MergedSource``: shards merged by (ts_ns, shard name, seq), over the in-memory twin."""

from __future__ import annotations

import random

import pytest

from recorder.journal import FRAME, Record, StreamInfo
from recorder.journal.memory import MemorySource
from recorder.journal.source import RecordSource
from replay.merge import MergedSource
from replay.source import HistoricalSource


def shard(name: str, times: list[int], stream: int, first_seq: int = 1) -> MemorySource:
    recs = [Record(first_seq + i, t, stream, FRAME, f"{name}{first_seq + i}".encode())
            for i, t in enumerate(times)]
    return MemorySource(recs, {stream: StreamInfo(stream, f"venue-{name}")})


def test_order_is_time_then_shard_name_then_seq():
    src = MergedSource({"b": shard("b", [10, 20, 20, 30], 2), "a": shard("a", [20, 20, 25], 1),
                        "": shard("", [20], 3)})
    got = [(s, r.ts_ns, r.seq) for s, r in src.tagged()]
    assert got == [("b", 10, 1), ("", 20, 1), ("a", 20, 1), ("a", 20, 2), ("b", 20, 2), ("b", 20, 3),
                   ("a", 25, 3), ("b", 30, 4)]
    recs = list(src.read())
    assert [r.seq for r in recs] == list(range(1, 9))  # numbered by position
    assert [r.payload for r in recs] == [b"b1", b"1", b"a1", b"a2", b"b2", b"b3", b"a3", b"b4"]
    assert (src.first_seq, src.last_seq) == (1, 8)
    assert src.streams() == {1: StreamInfo(1, "venue-a"), 2: StreamInfo(2, "venue-b"), 3: StreamInfo(3, "venue-")}
    assert isinstance(src, RecordSource)


def test_bounds_agree_with_a_filter_of_the_whole_merge():
    rng = random.Random(7)
    parts = {}
    for i, name in enumerate("xyz"):
        t, times = 0, []
        for _ in range(rng.randint(0, 60)):
            t += rng.choice((0, 0, 1, 2, 5))
            times.append(t)
        parts[name] = shard(name, times, i + 1, first_seq=rng.randint(1, 50))
    src = MergedSource(parts)
    whole = list(src.read())
    assert [r.ts_ns for r in whole] == sorted(r.ts_ns for r in whole)
    top = whole[-1].ts_ns if whole else 0
    for _ in range(200):
        lo_t, hi_t = sorted(rng.randint(-1, top + 2) for _ in range(2))
        lo_s, hi_s = sorted(rng.randint(0, len(whole) + 2) for _ in range(2))
        want = [r for r in whole if lo_t <= r.ts_ns < hi_t and lo_s <= r.seq <= hi_s]
        assert list(src.read(lo_s, hi_s, from_ts_ns=lo_t, to_ts_ns=hi_t)) == want
        at = src.seq_at_time(lo_t)
        assert at == next((r.seq for r in whole if r.ts_ns >= lo_t), None)


def test_each_shard_keeps_its_seq_order_and_a_replay_repeats():
    parts = {"a": shard("a", [5, 5, 5, 6], 1), "b": shard("b", [5, 5, 6, 6], 2)}
    src = MergedSource(parts)
    tagged = list(src.tagged())
    for name in parts:
        assert [r.seq for s, r in tagged if s == name] == [1, 2, 3, 4]
    assert list(MergedSource(dict(reversed(parts.items()))).read()) == list(src.read())
    with HistoricalSource(src) as h:
        assert [r.payload for r in h] == [r.payload for _, r in tagged]


@pytest.mark.parametrize("parts", [{}, {"a": MemorySource([])}])
def test_empty(parts):
    src = MergedSource(parts)
    assert (src.first_seq, src.last_seq) == (0, 0)
    assert list(src.read()) == [] and src.seq_at_time(0) is None
