"""Journal promises: gapless seq, durability, concurrent readers, segments, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import lmdb
import pytest

from recorder.inspect import verify
from recorder.journal import (
    CorruptRecordError,
    DiskFullError,
    JournalFullError,
    JournalLockedError,
    JournalWriteError,
    NotAJournalError,
    Record,
)
from recorder.journal.codec import decode_key, encode_key, encode_msgpack
from recorder.journal.reader import JournalReader
from recorder.journal.segments import set_seq_floor
from recorder.journal.writer import JournalWriter

ROOT = Path(__file__).resolve().parents[2]
MIDNIGHT = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def _write(data: Path, n: int, *, start_ts: int = MIDNIGHT - 10**9, step: int = 1_000_000, **kw) -> list[Record]:
    kw.setdefault("background", False)
    with JournalWriter(data, **kw) as w:
        sid = w.register_stream("binance-usdm", market="usdm", url="wss://fstream.binance.com/public/stream")
        return [w.append(sid, "frame", b'{"i":%d}' % i, ts_ns=start_ts + i * step) for i in range(n)]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


# --- writing and reading ---------------------------------------------------------------


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
        with pytest.raises(ValueError, match="kind"):
            w.append(sid, "bogus", b"x")
        with pytest.raises(ValueError, match="not registered"):
            w.append(sid + 1, "frame", b"x")
        assert w.last_seq == 0


def test_time_never_goes_backwards_and_raw_wall_time_is_kept(tmp_path):
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("okx")
        w.append(sid, "frame", b"a", ts_ns=MIDNIGHT + 500)
        late = w.append(sid, "frame", b"b", ts_ns=MIDNIGHT + 100)
    assert late.ts_ns == MIDNIGHT + 500 and late.meta == {"wall_ns": MIDNIGHT + 100}
    with JournalReader(tmp_path) as r:
        assert verify(r).ok


def test_seq_continues_across_restarts(tmp_path):
    first = _write(tmp_path, 5)
    second = _write(tmp_path, 3, start_ts=MIDNIGHT + 10**9)
    assert [r.seq for r in first + second] == list(range(1, 9))
    with JournalReader(tmp_path) as r:
        assert [x.seq for x in r.read()] == list(range(1, 9))
        assert verify(r).ok


def test_journal_spanning_midnight_has_two_segments_read_seamlessly(tmp_path):
    # 2000 records, 1 ms apart, straddling 2025-01-01T00:00:00Z, committed in batches
    # that themselves straddle midnight.
    recs = _write(tmp_path, 2000, start_ts=MIDNIGHT - 10**9, commit_max_records=333)
    with JournalReader(tmp_path) as r:
        segs = r.segments()
        assert [s.day for s in segs] == ["2024-12-31", "2025-01-01"]
        assert segs[0].records == 1000 and segs[1].records == 1000
        assert segs[0].last_seq + 1 == segs[1].first_seq == 1001
        assert list(r.read()) == recs
        assert [x.seq for x in r.read(995, 1005)] == list(range(995, 1006))
        assert verify(r).ok


def test_seek_by_seq_and_by_time(tmp_path):
    recs = _write(tmp_path, 5000, start_ts=MIDNIGHT - 2 * 10**9)
    with JournalReader(tmp_path) as r:
        assert r.get(4321) == recs[4320]
        assert r.get(5001) is None
        target = recs[3000].ts_ns
        assert r.seq_at_time(target) == 3001
        assert r.seq_at_time(target - 1) == 3001
        assert r.seq_at_time(recs[-1].ts_ns + 1) is None
        got = list(r.read(from_ts_ns=recs[2500].ts_ns, to_ts_ns=recs[2600].ts_ns))
        assert got == recs[2500:2600]


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
    _write(tmp_path, 100, durability=durability)
    with JournalReader(tmp_path) as r:
        assert r.last_seq == 100 and verify(r).ok


def test_bad_durability_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="durability"):
        JournalWriter(tmp_path, durability="sometimes")


# --- crashes and concurrent processes -----------------------------------------------------


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
    proc = subprocess.Popen(_python(code))
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


def test_reader_in_another_process_follows_the_tail_while_writer_runs(tmp_path):
    with JournalWriter(tmp_path, commit_interval_ms=5, commit_max_records=200) as w:
        sid = w.register_stream("upbit")
        w.append(sid, "frame", b"0")
        w.flush()
        out = tmp_path / "seen.jsonl"
        code = f"""
            import sys, json
            sys.path.insert(0, {str(ROOT)!r})
            from recorder.journal.reader import JournalReader
            with JournalReader({str(tmp_path)!r}) as r, open({str(out)!r}, "w") as f:
                for rec in r.follow(1, poll_interval=0.005, idle_timeout=3):
                    f.write(json.dumps([rec.seq, rec.payload.decode()]) + "\\n")
                    if rec.seq == 3000:
                        break
        """
        proc = subprocess.Popen(_python(code))
        for i in range(1, 3000):
            w.append(sid, "frame", b"%d" % i)
            if i % 300 == 0:
                time.sleep(0.02)  # let the reader catch up mid-stream
        w.flush()
        assert proc.wait(timeout=60) == 0
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    assert seen == [[i + 1, str(i)] for i in range(3000)]


def test_follow_in_process_crosses_midnight(tmp_path):
    got: list[int] = []
    with JournalWriter(tmp_path, commit_interval_ms=2, commit_max_records=10) as w:
        sid = w.register_stream("upbit")
        w.append(sid, "frame", b"first", ts_ns=MIDNIGHT - 1000)
        w.flush()
        reader = JournalReader(tmp_path)
        stop = threading.Event()

        def follow() -> None:
            for rec in reader.follow(1, poll_interval=0.002, stop=stop):
                got.append(rec.seq)
                if rec.seq == 100:
                    stop.set()

        t = threading.Thread(target=follow)
        t.start()
        for i in range(99):
            w.append(sid, "frame", b"x", ts_ns=MIDNIGHT - 500 + i * 10)
        t.join(timeout=20)
        reader.close()
    assert got == list(range(1, 101))


def test_a_reader_opening_a_table_while_a_commit_thread_writes_does_not_deadlock(tmp_path):
    """py-lmdb's ``open_db`` without a transaction waits for LMDB's writer lock holding the
    GIL, while a commit thread inside a write transaction needs the GIL after every put:
    a reader's first look at a segment during a commit (the writer crossing midnight)
    hung the process. Run apart: a deadlock that holds the GIL cannot be interrupted."""
    _write(tmp_path, 3)
    code = textwrap.dedent(f"""
        import threading
        from pathlib import Path
        from recorder.journal.segments import close_env, get_db, open_env
        seg = next(p for p in (Path({str(tmp_path)!r}) / "journal").iterdir() if p.name[:2] == "20")
        shared = open_env(seg)
        records = get_db(shared, b"records")
        inside = threading.Event()

        def commit():
            with shared.env.begin(write=True) as txn:
                inside.set()
                rows = ((b"%016d" % i, b"x" * 64) for i in range(10**9, 10**9 + 1_000_000))
                txn.cursor(db=records).putmulti(rows, append=True)

        t = threading.Thread(target=commit)
        t.start()
        inside.wait()
        get_db(shared, b"meta")  # not cached yet: opened while the commit runs
        t.join()
        close_env(seg)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# --- bad input ----------------------------------------------------------------------------


def test_reader_on_a_directory_that_is_not_a_journal(tmp_path):
    with pytest.raises(NotAJournalError, match="not a ticktape data directory"):
        JournalReader(tmp_path)
    with pytest.raises(NotAJournalError, match="no such directory"):
        JournalReader(tmp_path / "missing")


def _poke(data: Path, seq: int, value: bytes) -> None:
    """Overwrite one stored value behind the writer's back (simulated corruption)."""
    seg = next(p for p in sorted((data / "journal").iterdir()) if p.name[:2] == "20")
    env = lmdb.open(str(seg), max_dbs=4, map_size=256 << 30)
    db = env.open_db(b"records")
    with env.begin(write=True) as txn:
        txn.put(encode_key(seq), value, db=db)
    env.close()


def test_corrupt_value_is_reported_precisely_and_the_rest_stays_readable(tmp_path):
    recs = _write(tmp_path, 50)
    _poke(tmp_path, 17, recs[16].payload[:3] + b"\xc1garbage")
    with JournalReader(tmp_path) as r:
        v = verify(r)
        assert not v.ok
        assert [(p.segment, p.seq) for p in v.problems] == [("2024-12-31", 17)]
        assert "does not decode" in v.problems[0].what
        with pytest.raises(CorruptRecordError) as err:
            list(r.read())
        assert err.value.seq == 17 and err.value.segment == "2024-12-31"
        assert list(r.read(18)) == recs[17:]
        assert list(r.read(1, 16)) == recs[:16]


def test_truncated_value_and_value_under_wrong_key(tmp_path):
    recs = _write(tmp_path, 20)
    from recorder.journal.codec import encode_record

    _poke(tmp_path, 5, encode_record(recs[4])[:-4])  # truncated
    _poke(tmp_path, 9, encode_record(recs[2]))  # a valid record under the wrong key
    with JournalReader(tmp_path) as r:
        problems = {(p.seq, p.what.split(":")[0]) for p in verify(r).problems}
    assert (5, "value does not decode") in problems
    assert (9, "value holds seq 3 under key 9") in problems


def test_a_value_with_a_string_that_is_not_utf8_is_corrupt_not_a_crash(tmp_path):
    recs = _write(tmp_path, 20)
    from recorder.journal.codec import encode_record

    value = encode_record(recs[6]).replace(b"\xa5frame", b"\xa5fr\xffme")  # the kind, not UTF-8
    assert value != encode_record(recs[6])
    _poke(tmp_path, 7, value)
    with JournalReader(tmp_path) as r:
        v = verify(r)
        assert [(p.seq, p.what.split(":")[0]) for p in v.problems] == [(7, "value does not decode")]
        with pytest.raises(CorruptRecordError) as err:
            list(r.read())
        assert err.value.seq == 7
        assert list(r.read(8)) == recs[7:]


def test_verify_reports_gap_unknown_stream_and_time_going_back(tmp_path):
    recs = _write(tmp_path, 10)
    from recorder.journal.codec import encode_record

    seg = tmp_path / "journal" / "2024-12-31"
    env = lmdb.open(str(seg), max_dbs=4, map_size=256 << 30)
    db = env.open_db(b"records")
    with env.begin(write=True) as txn:
        txn.delete(encode_key(4), db=db)
        bad = Record(6, recs[5].ts_ns, 99, "frame", b"x")
        txn.put(encode_key(6), encode_record(bad), db=db)
        back = Record(8, recs[0].ts_ns - 5, 1, "frame", b"y")
        txn.put(encode_key(8), encode_record(back), db=db)
    env.close()
    with JournalReader(tmp_path) as r:
        v = verify(r)
    found = {(p.seq, p.what) for p in v.problems}
    assert (5, "seq gap: expected 4, found 5") in found
    assert (6, "stream 99 is not in the streams table") in found
    assert any(seq == 8 and what.startswith("time goes backwards") for seq, what in found)


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
    subprocess.run(_python(code), check=True, timeout=60)
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


def test_catalog_format_is_checked(tmp_path):
    _write(tmp_path, 3)
    catalog = tmp_path / "journal" / "catalog"
    env = lmdb.open(str(catalog), max_dbs=4)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"format", encode_msgpack(99), db=meta)
    env.close()
    with pytest.raises(NotAJournalError, match="format 99"):
        JournalReader(tmp_path)


def test_seq_floor_lets_a_journal_continue_after_old_days_are_pruned(tmp_path):
    _write(tmp_path, 20, start_ts=MIDNIGHT - 10 * 10**6, step=10**6)  # seq 1-10 day 1, 11-20 day 2
    set_seq_floor(tmp_path, 10)
    set_seq_floor(tmp_path, 4)  # never lowered
    with JournalReader(tmp_path) as r:
        assert r.meta["seq_floor"] == 10
        assert not verify(r).ok  # the floor is above a day still present: prune must finish
    shutil.rmtree(tmp_path / "journal" / "2024-12-31")
    with JournalReader(tmp_path) as r:
        assert r.first_seq == 11 and verify(r).ok
    with JournalWriter(tmp_path, background=False) as w:
        assert w.append(1, "frame", b"next").seq == 21


def test_seq_floor_is_durable_across_processes_and_refuses_bad_input(tmp_path):
    _write(tmp_path, 5)
    set_seq_floor(tmp_path, 3)
    out = subprocess.run(_python(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        from recorder.journal.reader import JournalReader
        with JournalReader({str(tmp_path)!r}) as r:
            print(r.meta["seq_floor"])
    """), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    with pytest.raises(ValueError, match=">= 0"):
        set_seq_floor(tmp_path, -1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAJournalError):
        set_seq_floor(tmp_path / "empty", 1)


def _stored(segment: Path) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of a segment read with bare lmdb: what raw_chunks must give."""
    env = lmdb.open(str(segment), max_dbs=4, readonly=True, lock=False, map_size=256 << 30)
    db = env.open_db(b"records", create=False)
    with env.begin() as txn:
        pairs = list(txn.cursor(db=db))
    env.close()
    return pairs


def test_raw_chunks_give_the_stored_bytes_of_one_day_in_any_chunk_size(tmp_path):
    step = 60 * 10**9
    _write(tmp_path, 300, start_ts=MIDNIGHT - 100 * step, step=step)  # 100 + 200 records
    days = ("2024-12-31", "2025-01-01")
    stored = {day: _stored(tmp_path / "journal" / day) for day in days}  # before the reader opens them
    with JournalReader(tmp_path) as r:
        for day in days:
            want = stored[day]
            assert len(want) == (100 if day == days[0] else 200)
            for size in (1, 7, 100, 200, 10**6):
                chunks = list(r.raw_chunks(day, size))
                assert all(len(k) == len(v) == size for k, v in chunks[:-1])
                assert 0 < len(chunks[-1][0]) <= size
                got = [p for keys, values in chunks for p in zip(keys, values, strict=True)]
                assert got == want
                assert all(type(k) is bytes and type(v) is bytes for k, v in got)  # outlive the txn
            assert list(r.iter_raw(day)) == want
        assert [decode_key(k) for keys, _ in r.raw_chunks(days[1], 64) for k in keys] == list(range(101, 301))
        with pytest.raises(KeyError, match="no journal day '2030-01-01'"):
            next(r.raw_chunks("2030-01-01"))
        with pytest.raises(ValueError, match=">= 1"):
            next(r.raw_chunks(days[0], 0))


def test_raw_chunks_see_records_committed_between_chunks(tmp_path):
    with JournalWriter(tmp_path, background=False) as w:
        sid = w.register_stream("binance-usdm")
        for i in range(10):
            w.append(sid, "frame", b"%d" % i, ts_ns=MIDNIGHT + i)
        w.flush()
        with JournalReader(tmp_path) as r:
            chunks = r.raw_chunks("2025-01-01", 5)
            first = next(chunks)
            for i in range(10, 13):
                w.append(sid, "frame", b"%d" % i, ts_ns=MIDNIGHT + i)
            w.flush()
            rest = [k for keys, _ in chunks for k in keys]
    assert [decode_key(k) for k in first[0] + rest] == list(range(1, 14))


def test_keys_are_big_endian_u64(tmp_path):
    _write(tmp_path, 300)
    seg = tmp_path / "journal" / "2024-12-31"
    env = lmdb.open(str(seg), max_dbs=4, readonly=True, lock=False, map_size=256 << 30)
    db = env.open_db(b"records", create=False)
    with env.begin() as txn:
        keys = [k for k, _ in txn.cursor(db=db)]
    env.close()
    assert keys[255:257] == [b"\x00" * 6 + b"\x01\x00", b"\x00" * 6 + b"\x01\x01"]
    assert [decode_key(k) for k in keys] == list(range(1, 301))


def test_disk_full_error_type_is_a_write_error():
    assert issubclass(DiskFullError, JournalWriteError) and issubclass(JournalFullError, JournalWriteError)
