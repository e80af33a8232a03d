"""A journal kept for hours: hour segments, expired oldest first and whole, never past a
window still needed, the seq run kept gapless and the writer going on."""

from __future__ import annotations

import pytest

from recorder.inspect import verify
from recorder.journal.errors import JournalUsageError
from recorder.journal.reader import JournalReader
from recorder.journal.retention import expire
from recorder.journal.segments import read_catalog, segment_bounds, segment_of
from recorder.journal.writer import JournalWriter
from tests.recorder.journal.util import MIDNIGHT

HOUR = 3_600 * 1_000_000_000


def write_hours(path, hours: int, per_hour: int = 3, *, writer: JournalWriter | None = None):
    w = writer or JournalWriter(path, background=False, span="hour")
    sid = w.register_stream("binance-spot", url="wss://x/ws", channels=("trade",))
    for h in range(hours):
        for i in range(per_hour):
            w.append(sid, "frame", f"h{h}-{i}".encode(), ts_ns=MIDNIGHT + h * HOUR + i)
    w.flush()
    return w


def test_segment_names_and_bounds_of_both_spans():
    assert segment_of(MIDNIGHT + 13 * HOUR + 5, "hour")[-3:] == "T13"
    name = segment_of(MIDNIGHT + 13 * HOUR, "hour")
    assert segment_bounds(name) == (MIDNIGHT + 13 * HOUR, MIDNIGHT + 14 * HOUR)
    day = segment_of(MIDNIGHT + 13 * HOUR, "day")
    assert segment_bounds(day) == (MIDNIGHT, MIDNIGHT + 24 * HOUR)


def test_an_hour_journal_has_a_segment_per_hour_and_reads_as_one_run(tmp_path):
    write_hours(tmp_path, 4).close()
    with JournalReader(tmp_path) as r:
        segs = r.segments()
        assert len(segs) == 4 and all(len(s.day) == 13 for s in segs)
        assert [rec.seq for rec in r.read()] == list(range(1, 13))
    assert read_catalog(tmp_path / "journal")[0]["span"] == "hour"


def test_a_journal_keeps_the_span_it_was_made_with(tmp_path):
    write_hours(tmp_path, 1).close()
    with pytest.raises(JournalUsageError, match="hour segments"):
        JournalWriter(tmp_path, background=False)
    with pytest.raises(JournalUsageError, match="span"):
        JournalWriter(tmp_path / "other", background=False, span="week")


def test_expire_deletes_old_hours_oldest_first_and_the_seq_run_stays_gapless(tmp_path):
    w = write_hours(tmp_path, 5)
    gone = expire(tmp_path, before_ns=MIDNIGHT + 3 * HOUR, before_delete=w.release_segment)
    assert [g[-3:] for g in gone] == ["T00", "T01", "T02"]
    with JournalReader(tmp_path) as r:
        assert [rec.seq for rec in r.read()] == list(range(10, 16))
    sid = next(iter(w.streams))
    rec = w.append(sid, "frame", b"after", ts_ns=MIDNIGHT + 5 * HOUR)
    w.close()
    assert rec.seq == 16
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


def test_expire_stops_at_a_kept_window_and_never_takes_the_newest(tmp_path):
    w = write_hours(tmp_path, 4)
    window = (MIDNIGHT + HOUR + 10, MIDNIGHT + HOUR + 20)  # inside hour 1
    gone = expire(tmp_path, before_ns=MIDNIGHT + 10 * HOUR, keep=[window],
                  before_delete=w.release_segment)
    assert [g[-3:] for g in gone] == ["T00"]  # hour 1 kept, so 2 and 3 stay too
    gone = expire(tmp_path, before_ns=MIDNIGHT + 10 * HOUR, before_delete=w.release_segment)
    assert [g[-3:] for g in gone] == ["T01", "T02"]  # T03 is the writer's
    w.close()
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


def test_a_floor_raised_before_a_crash_is_finished_by_the_next_expire(tmp_path):
    write_hours(tmp_path, 3).close()
    from recorder.journal.segments import set_seq_floor

    set_seq_floor(tmp_path, 3)  # as if killed between the floor and the delete of hour 0
    assert [g[-3:] for g in expire(tmp_path, before_ns=MIDNIGHT + HOUR)] == ["T00"]
    with JournalReader(tmp_path) as r:
        assert r.first_seq == 4
