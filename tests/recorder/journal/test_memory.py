"""``MemorySource`` beyond the shared contract (``test_source.py``): it refuses what no journal holds."""

from __future__ import annotations

import pytest

from recorder.journal import FRAME, Record, StreamInfo
from recorder.journal.errors import JournalUsageError, RecordOrderError
from recorder.journal.memory import MemorySource


def rec(seq: int, ts: int) -> Record:
    return Record(seq, ts, 1, FRAME, b"%d" % seq)


def test_records_out_of_order_are_refused_naming_the_record():
    for recs, seq, after, why in (
        ([rec(1, 10), rec(3, 11)], 3, 1, "seq must rise by one"),
        ([rec(5, 10), rec(5, 11)], 5, 5, "seq must rise by one"),
        ([rec(1, 10), rec(2, 12), rec(3, 11)], 3, 2, "time goes back (11 < 12)"),
    ):
        with pytest.raises(RecordOrderError) as err:
            MemorySource(recs)
        assert (err.value.seq, err.value.after) == (seq, after)
        assert str(err.value) == f"record seq {seq} after seq {after}: {why}"
        assert isinstance(err.value, JournalUsageError) and isinstance(err.value, ValueError)


def test_it_keeps_its_own_copy_of_the_list_and_the_streams():
    recs = [rec(7, 10), rec(8, 10), rec(9, 12)]
    streams = {1: StreamInfo(1, "upbit")}
    src = MemorySource(recs, streams)
    recs.clear()
    streams.clear()
    assert [r.seq for r in src.read()] == [7, 8, 9] and len(src) == 3
    assert src.stream(1) == StreamInfo(1, "upbit")
    assert [r.seq for r in src.read(from_ts_ns=10, to_ts_ns=11)] == [7, 8]
