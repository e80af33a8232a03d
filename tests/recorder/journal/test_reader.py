"""Readers: seek by seq and time, follow the tail beside a writer, precise corruption, raw chunks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from recorder.inspect import verify
from recorder.journal import CorruptRecordError, NotAJournalError
from recorder.journal.codec import decode_key
from recorder.journal.errors import JournalUsageError, UnknownSegmentError
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from tests.recorder.journal.util import MIDNIGHT, ROOT, poke, python, stored, write


def test_seek_by_seq_and_by_time(tmp_path):
    recs = write(tmp_path, 5000, start_ts=MIDNIGHT - 2 * 10**9)
    with JournalReader(tmp_path) as r:
        assert r.get(4321) == recs[4320]
        assert r.get(5001) is None
        target = recs[3000].ts_ns
        assert r.seq_at_time(target) == 3001
        assert r.seq_at_time(target - 1) == 3001
        assert r.seq_at_time(recs[-1].ts_ns + 1) is None
        got = list(r.read(from_ts_ns=recs[2500].ts_ns, to_ts_ns=recs[2600].ts_ns))
        assert got == recs[2500:2600]


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
        proc = subprocess.Popen(python(code))
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
    write(tmp_path, 3)
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
                         cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_reader_on_a_directory_that_is_not_a_journal(tmp_path):
    with pytest.raises(NotAJournalError, match="not a ticktape data directory"):
        JournalReader(tmp_path)
    with pytest.raises(NotAJournalError, match="no such directory"):
        JournalReader(tmp_path / "missing")


def test_corrupt_value_is_reported_precisely_and_the_rest_stays_readable(tmp_path):
    recs = write(tmp_path, 50)
    poke(tmp_path, 17, recs[16].payload[:3] + b"\xc1garbage")
    with JournalReader(tmp_path) as r:
        v = verify(r)
        assert not v.ok
        assert [(p.segment, p.seq) for p in v.problems] == [("2024-12-31", 17)]
        assert v.problems[0].what.startswith("value does not decode")  # garbage, not even a checksum
        with pytest.raises(CorruptRecordError) as err:
            list(r.read())
        assert err.value.seq == 17 and err.value.segment == "2024-12-31"
        assert list(r.read(18)) == recs[17:]
        assert list(r.read(1, 16)) == recs[:16]


def test_a_value_with_a_string_that_is_not_utf8_is_corrupt_not_a_crash(tmp_path):
    recs = write(tmp_path, 20)
    from recorder.journal.codec import encode_fields, encode_record, seal

    # The kind, not UTF-8, under a checksum that matches (made so, not damaged on disk).
    value = bytes(seal(encode_fields(recs[6]).replace(b"\xa5frame", b"\xa5fr\xffme")))
    assert value != encode_record(recs[6])
    poke(tmp_path, 7, value)
    with JournalReader(tmp_path) as r:
        v = verify(r)
        assert [(p.seq, p.what.split(":")[0]) for p in v.problems] == [(7, "value does not decode")]
        with pytest.raises(CorruptRecordError) as err:
            list(r.read())
        assert err.value.seq == 7
        assert list(r.read(8)) == recs[7:]


def test_raw_chunks_give_the_stored_bytes_of_one_day_in_any_chunk_size(tmp_path):
    step = 60 * 10**9
    write(tmp_path, 300, start_ts=MIDNIGHT - 100 * step, step=step)  # 100 + 200 records
    days = ("2024-12-31", "2025-01-01")
    on_disk = {day: stored(tmp_path / "journal" / day) for day in days}  # before the reader opens them
    with JournalReader(tmp_path) as r:
        for day in days:
            want = on_disk[day]
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
        with pytest.raises(UnknownSegmentError, match="no journal day '2030-01-01' .have 2024-12-31, 2025-01-01.") as err:
            next(r.raw_chunks("2030-01-01"))
        assert isinstance(err.value, KeyError) and err.value.day == "2030-01-01"
        with pytest.raises(JournalUsageError, match=">= 1"):
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


def test_read_columns_gives_the_records_fields_without_records(tmp_path):
    from array import array

    from recorder.journal import KINDS
    from recorder.journal.codec import encode_record

    recs = write(tmp_path, 9000, start_ts=MIDNIGHT - 2 * 10**9)  # two day segments
    with JournalReader(tmp_path) as r:
        chunks = list(r.read_columns())
        assert sum(map(len, chunks)) == len(recs) and all(len(c) <= 4096 for c in chunks)
        seqs = [s for c in chunks for s in memoryview(c.seq).cast("q")]
        ts = [t for c in chunks for t in memoryview(c.ts_ns).cast("q")]
        assert seqs == [x.seq for x in recs] and ts == [x.ts_ns for x in recs]
        c = chunks[0]
        offsets = array("q", c.payload_offsets)
        payloads = c.payloads
        assert [payloads[offsets[i]:offsets[i + 1]] for i in range(len(c))] == [x.payload for x in recs[:len(c)]]
        assert {KINDS[k] for k in c.kind} == {"frame"} and c.streams() == [recs[0].stream] and c.ts_sorted()
        assert c.checked == len(c) and c.metas == b"" and set(array("q", c.meta_offsets)) == {0}
        assert [len(x) for x in r.read_columns(4000, 4100)] == [101]
    # A damaged value is named, after the chunks before it.
    poke(tmp_path, 1500, encode_record(recs[1500]))  # seq 1501's value under key 1500 (the first day)
    with JournalReader(tmp_path) as r:
        with pytest.raises(CorruptRecordError) as err:
            for _ in r.read_columns():
                pass
        assert str(err.value) == "segment 2024-12-31 seq 1500: value holds seq 1501 under key 1500"
