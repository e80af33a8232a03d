"""The one writer: gapless seq, clamped time, group commits, durability, backpressure, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from recorder.inspect import verify
from recorder.journal import (
    DiskFullError,
    JournalFullError,
    JournalLockedError,
    JournalWriteError,
    NotAJournalError,
    Record,
)
from recorder.journal.errors import JournalUsageError, UnknownKindError, UnknownStreamError
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from tests.recorder.journal.util import MIDNIGHT, ROOT, python, write


def test_records_round_trip_byte_exact_with_meta(tmp_path):
    payloads = [b"", b"\x00\xff binary", "한글".encode(), b"x" * 100_000]
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("upbit", url="wss://api.upbit.com/websocket/v1", channels=("trade",))
        written = [w.append(sid, "frame", p, ts_ns=MIDNIGHT + i, meta={"bin": True} if i == 1 else None)
                   for i, p in enumerate(payloads)]
        rest = w.append(sid, "rest", b"{}", ts_ns=MIDNIGHT + 9, meta={"url": "https://x/v1/orderbook", "status": 200})
    with JournalReader(tmp_path) as r:
        got = list(r.read())
        assert got == [*written, rest]
        assert [g.seq for g in got] == [1, 2, 3, 4, 5]
        assert got[1].meta == {"bin": True} and got[1].payload == b"\x00\xff binary"
        assert got[4].meta["url"].endswith("orderbook")
        assert r.streams()[sid].channels == ("trade",)


def test_append_rejects_unknown_kind_and_stream(tmp_path):
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("okx")
        with pytest.raises(UnknownKindError, match="unknown record kind 'bogus'") as kind:
            w.append(sid, "bogus", b"x")
        with pytest.raises(UnknownStreamError, match=f"stream {sid + 1} is not registered") as stream:
            w.append(sid + 1, "frame", b"x")
        assert (kind.value.kind, stream.value.stream) == ("bogus", sid + 1)
        assert isinstance(kind.value, JournalUsageError) and isinstance(stream.value, ValueError)
        assert w.last_seq == 0
        with pytest.raises(JournalUsageError, match="is the current one"):
            w.append(sid, "frame", b"x", ts_ns=MIDNIGHT)
            w.flush()
            w.release_segment("2025-01-01")
        assert w.last_seq == 1


def test_time_never_goes_backwards_and_raw_wall_time_is_kept(tmp_path):
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("okx")
        w.append(sid, "frame", b"a", ts_ns=MIDNIGHT + 500)
        late = w.append(sid, "frame", b"b", ts_ns=MIDNIGHT + 100)
    assert late.ts_ns == MIDNIGHT + 500 and late.meta == {"wall_ns": MIDNIGHT + 100}
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


def test_seq_continues_across_restarts(tmp_path):
    first = write(tmp_path, 5)
    second = write(tmp_path, 3, start_ts=MIDNIGHT + 10**9)
    assert [r.seq for r in first + second] == list(range(1, 9))
    with JournalReader(tmp_path) as r:
        assert [x.seq for x in r.read()] == list(range(1, 9))
        assert verify(r).ok


def test_journal_spanning_midnight_has_two_segments_read_seamlessly(tmp_path):
    # 2000 records, 1 ms apart, straddling 2025-01-01T00:00:00Z, committed in batches
    # that themselves straddle midnight.
    recs = write(tmp_path, 2000, start_ts=MIDNIGHT - 10**9, commit_max_records=333)
    with JournalReader(tmp_path) as r:
        segs = r.segments()
        assert [s.day for s in segs] == ["2024-12-31", "2025-01-01"]
        assert segs[0].records == 1000 and segs[1].records == 1000
        assert segs[0].last_seq + 1 == segs[1].first_seq == 1001
        assert list(r.read()) == recs
        assert [x.seq for x in r.read(995, 1005)] == list(range(995, 1006))
        assert verify(r).ok


def test_in_process_subscribers_see_records_before_commit(tmp_path):
    seen: list[Record] = []
    with JournalWriter(tmp_path, commit_interval_ms=60_000, commit_max_records=10_000) as w:
        w.subscribe(seen.append)
        sid = w.register_stream("upbit")
        rec = w.append(sid, "frame", b"now")
        assert seen == [rec]
        assert w.committed_seq == 0  # not yet on disk, already projected
        assert w.flush() == 1


def test_background_commits_by_time(tmp_path):
    with JournalWriter(tmp_path, commit_interval_ms=20, commit_max_records=1_000_000) as w:
        sid = w.register_stream("upbit")
        w.append(sid, "frame", b"x")
        deadline = time.monotonic() + 5
        while w.committed_seq < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.committed_seq == 1


def test_background_commits_by_count_and_backpressure_loses_nothing(tmp_path):
    with JournalWriter(tmp_path, commit_interval_ms=10_000, commit_max_records=100, max_pending=200) as w:
        sid = w.register_stream("upbit")
        for i in range(5000):
            w.append(sid, "frame", b"%d" % i)
        assert w.commits >= 5000 // 200  # commits happened while appending, not just at close
    with JournalReader(tmp_path) as r:
        frames = [x.payload for x in r.read() if x.kind == "frame"]
    assert frames == [b"%d" % i for i in range(5000)]


def test_backpressure_blocks_the_producer_and_writes_a_mark(tmp_path):
    with JournalWriter(tmp_path, commit_interval_ms=10_000, commit_max_records=10, max_pending=20) as w:
        sid = w.register_stream("upbit")
        done = threading.Event()

        def produce():
            for i in range(50):
                w.append(sid, "frame", b"%d" % i)
            done.set()

        with w._commit_lock:  # the disk stalls: nothing can commit
            t = threading.Thread(target=produce)
            t.start()
            assert not done.wait(0.3)  # the producer is held back, not dropping
            assert w.last_seq == 20
        t.join(10)
        assert done.is_set()
    with JournalReader(tmp_path) as r:
        recs = list(r.read())
    assert [x.seq for x in recs] == list(range(1, len(recs) + 1))
    assert [x.payload for x in recs if x.kind == "frame"] == [b"%d" % i for i in range(50)]
    marks = [(x.seq, json.loads(x.payload)) for x in recs if x.kind == "mark"]
    assert marks and marks[0][0] == 21 and marks[0][1]["mark"] == "backpressure"
    assert marks[0][1]["waited_ms"] >= 250 and marks[0][1]["max_pending"] == 20


def test_second_writer_is_refused(tmp_path):
    with JournalWriter(tmp_path, background=False):
        with pytest.raises(JournalLockedError):
            JournalWriter(tmp_path)


def test_writer_refuses_a_directory_with_other_files_as_journal(tmp_path):
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "notes.txt").write_text("not a journal")
    with pytest.raises(NotAJournalError):
        JournalWriter(tmp_path)


@pytest.mark.parametrize("durability", ["fsync", "periodic", "os"])
def test_durability_settings_commit_and_read_back(tmp_path, durability):
    write(tmp_path, 100, durability=durability)
    with JournalReader(tmp_path) as r:
        assert r.last_seq == 100 and verify(r).ok


def test_bad_durability_is_a_clear_error(tmp_path):
    with pytest.raises(JournalUsageError, match="durability must be one of .* not 'sometimes'"):
        JournalWriter(tmp_path, durability="sometimes")
    with pytest.raises(JournalUsageError, match="committer must be one of"):
        JournalWriter(tmp_path, committer="elsewhere")
    with pytest.raises(JournalUsageError, match="commit_max_records must be >= 1"):
        JournalWriter(tmp_path, commit_max_records=0)


@pytest.mark.parametrize("committer", ["thread", "process"])
def test_sigkill_loses_no_committed_record_and_seq_continues(tmp_path, committer):
    """Kill a writer mid-stream; every seq it reported committed must be there. A committer
    process outlives it by the batches it was handed, holding the lock until they are stored."""
    progress = tmp_path / "committed.txt"
    code = f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from recorder.journal.writer import JournalWriter
        w = JournalWriter({str(tmp_path)!r}, committer={committer!r}, commit_interval_ms=5,
                          commit_max_records=50)
        sid = w.register_stream("binance-usdm")
        out = open({str(progress)!r}, "w")
        i = 0
        while True:
            i += 1
            w.append(sid, "frame", b'{{"i":%d}}' % i)
            if i % 100 == 0:
                out.write("%d\\n" % w.flush()); out.flush()
    """
    proc = subprocess.Popen(python(code))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if progress.exists() and len(progress.read_text().splitlines()) >= 30:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = progress.read_text().splitlines()
    assert len(lines) >= 30, "writer made no progress"
    committed = int(lines[-2] if not lines[-1].strip() else lines[-1])
    # restart: the lock is free once nothing of the old writer is left; seq continues with no gap
    with JournalWriter(tmp_path, background=False, lock_wait_s=30) as w:
        with JournalReader(tmp_path) as r:
            last = r.last_seq
            assert last >= committed
            payloads = [x.payload for x in r.read()]
            assert payloads == [b'{"i":%d}' % i for i in range(1, last + 1)]
            assert verify(r).ok
        rec = w.append(1, "mark", b'{"mark":"restart"}')
    assert rec.seq == last + 1
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


def test_map_full_stops_writer_with_clear_error_and_keeps_committed(tmp_path):
    w = JournalWriter(tmp_path, background=False, map_size=1 << 20, commit_max_records=10)
    sid = w.register_stream("okx")
    committed = 0
    with pytest.raises(JournalFullError, match="is full") as err:
        for i in range(10_000):
            w.append(sid, "frame", b"%06d" % i + b"x" * 2000, ts_ns=MIDNIGHT + i)
            committed = w.committed_seq
    assert err.value.committed_seq == committed > 0
    with pytest.raises(JournalWriteError):
        w.append(sid, "frame", b"after failure")
    w.close()
    with JournalReader(tmp_path) as r:
        assert r.last_seq == committed
        assert [x.payload[:6] for x in r.read()] == [b"%06d" % i for i in range(committed)]
        assert verify(r).ok


def test_disk_full_stops_writer_with_clear_error_and_keeps_committed(tmp_path):
    """A file-size limit makes every write past it fail like a full disk (EFBIG)."""
    out = tmp_path / "result.json"
    code = f"""
        import json, resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from recorder.journal import DiskFullError
        from recorder.journal.writer import JournalWriter
        w = JournalWriter({str(tmp_path)!r}, background=False, commit_max_records=20)
        sid = w.register_stream("okx")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
        committed = 0
        try:
            for i in range(100_000):
                w.append(sid, "frame", b"%06d" % i + b"y" * 3000, ts_ns={MIDNIGHT} + i)
                committed = w.committed_seq
        except DiskFullError as exc:
            json.dump({{"error": str(exc), "committed": exc.committed_seq, "seen": committed}}, open({str(out)!r}, "w"))
    """
    subprocess.run(python(code), check=True, timeout=60)
    result = json.loads(out.read_text())
    assert "disk full" in result["error"]
    assert result["committed"] == result["seen"] > 0
    with JournalReader(tmp_path) as r:
        assert r.last_seq == result["committed"]
        assert [x.payload[:6] for x in r.read()] == [b"%06d" % i for i in range(result["committed"])]
        assert verify(r).ok
    # the disk "has room again": a new writer continues the same journal
    with JournalWriter(tmp_path, background=False) as w:
        assert w.append(1, "mark", b"{}").seq == result["committed"] + 1


def test_disk_full_error_type_is_a_write_error():
    assert issubclass(DiskFullError, JournalWriteError) and issubclass(JournalFullError, JournalWriteError)
