"""The committer process: same journal as a commit thread, failures reported, no gap, no second writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recorder.inspect import verify
from recorder.journal import JournalFullError, JournalLockedError, JournalWriteError
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter

ROOT = Path(__file__).resolve().parents[3]
MIDNIGHT = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def _payloads(data: Path) -> list[bytes]:
    with JournalReader(data) as r:
        assert verify(r).ok
        return [x.payload for x in r.read() if x.kind == "frame"]


@pytest.mark.parametrize("durability", ["fsync", "periodic", "os"])
def test_process_and_thread_committers_store_the_same_bytes(tmp_path, durability):
    payloads = [b'{"i":%d,"pad":"%s"}' % (i, b"x" * (i % 300)) for i in range(20_000)]
    for committer in ("thread", "process"):
        with JournalWriter(tmp_path / committer, committer=committer, durability=durability,
                           commit_interval_ms=5, commit_max_records=700) as w:
            sid = w.register_stream("binance-usdm")
            # crossing midnight: a batch straddling two segments is two transactions
            for i, p in enumerate(payloads):
                w.append(sid, "frame", p, ts_ns=MIDNIGHT - 10_000 + i)
        assert w.committed_seq == len(payloads)
    assert _payloads(tmp_path / "process") == _payloads(tmp_path / "thread") == payloads
    with JournalReader(tmp_path / "process") as r:
        assert [s.day for s in r.segments()] == ["2024-12-31", "2025-01-01"]


def test_batches_that_grow_and_shrink_arrive_whole(tmp_path):
    # The child maps each slot once and maps it again, larger, when a longer batch arrives.
    sizes = [1, 3, 200_000, 2, 1_500_000, 10, 700_000]
    with JournalWriter(tmp_path, committer="process", commit_interval_ms=10_000) as w:
        sid = w.register_stream("upbit")
        for i, size in enumerate(sizes):
            w.append(sid, "frame", bytes([65 + i]) * size)
            w.flush()  # one batch each
    assert _payloads(tmp_path) == [bytes([65 + i]) * size for i, size in enumerate(sizes)]


def test_flush_returns_only_once_the_child_has_stored_everything(tmp_path):
    with JournalWriter(tmp_path, committer="process", commit_interval_ms=10_000,
                       commit_max_records=100) as w:
        sid = w.register_stream("upbit")
        for i in range(1_000):
            w.append(sid, "frame", b"%d" % i)
        assert w.flush() == 1_000 == w.committed_seq
        with JournalReader(tmp_path) as r:  # another reader sees it all at once
            assert r.last_seq == 1_000


def test_the_child_exits_with_the_writer(tmp_path):
    w = JournalWriter(tmp_path, committer="process")
    pid = w._store.pid
    os.kill(pid, 0)  # alive
    w.close()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.01)


def test_map_full_in_the_child_reaches_the_producer_with_its_type_and_no_gap(tmp_path):
    w = JournalWriter(tmp_path, committer="process", map_size=1 << 20, commit_interval_ms=2,
                      commit_max_records=50)
    sid = w.register_stream("okx")
    with pytest.raises(JournalFullError, match="is full") as err:
        for i in range(100_000):
            w.append(sid, "frame", b"%06d" % i + b"x" * 2000, ts_ns=MIDNIGHT + i)
            if i % 50 == 0:
                w.flush()
    committed = err.value.committed_seq
    assert committed == w.committed_seq > 0
    with pytest.raises(JournalWriteError):
        w.append(sid, "frame", b"after failure")
    w.close()
    assert [p[:6] for p in _payloads(tmp_path)] == [b"%06d" % i for i in range(committed)]


def test_a_killed_child_stops_the_writer_with_a_clear_error(tmp_path):
    w = JournalWriter(tmp_path, committer="process", commit_interval_ms=10_000, commit_max_records=10_000)
    sid = w.register_stream("bybit")
    for i in range(100):
        w.append(sid, "frame", b"%d" % i)
    assert w.flush() == 100
    os.kill(w._store.pid, signal.SIGKILL)
    w.append(sid, "frame", b"100")
    with pytest.raises(JournalWriteError, match=r"committer process died \(exit code -9\)"):
        w.flush()
    with pytest.raises(JournalWriteError):
        w.append(sid, "frame", b"101")
    w.close()
    assert _payloads(tmp_path) == [b"%d" % i for i in range(100)]
    with JournalWriter(tmp_path, background=False) as w2:  # the lock is free again: seq continues
        assert w2.append(sid, "frame", b"again").seq == 101


def test_ctrl_c_to_the_process_group_does_not_lose_the_tail(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the writer's process group) loses nothing: the child is in a
    group of its own and the writer closes it in order."""
    ready = tmp_path / "ready"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from recorder.journal.writer import JournalWriter
        w = JournalWriter({str(tmp_path)!r}, committer="process", commit_interval_ms=60_000,
                          commit_max_records=1_000_000)
        sid = w.register_stream("upbit")
        try:
            for i in range(5_000):
                w.append(sid, "frame", b"%d" % i)
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        except KeyboardInterrupt:
            w.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert _payloads(tmp_path) == [b"%d" % i for i in range(5_000)]


def test_a_second_writer_waits_for_the_lock_when_asked(tmp_path):
    w = JournalWriter(tmp_path, committer="process")
    with pytest.raises(JournalLockedError):
        JournalWriter(tmp_path, committer="process", lock_wait_s=0.2)
    w.close()
    JournalWriter(tmp_path, committer="process", lock_wait_s=5).close()
