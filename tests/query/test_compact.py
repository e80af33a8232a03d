"""Compaction: journal days -> verified Parquet + manifest -> prune; idempotent, crash-safe."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from query import manifest
from query.archive import ArchiveError
from query.compact import compact
from recorder.inspect import verify
from recorder.journal.codec import encode_key
from recorder.journal.reader import JournalReader
from tests.query.conftest import CURRENT, FINISHED_SMALL, count_trade_messages, tree_state

ROOT = Path(__file__).resolve().parents[2]


def journal_facts(data: Path) -> dict[str, dict]:
    """Per day: records, first/last seq and the recorder-verify style digest (seq + payload)."""
    out = {}
    with JournalReader(data) as r:
        for seg in r.segments():
            h = hashlib.blake2b(digest_size=16)
            n = 0
            for rec in r.read(seg.first_seq, seg.last_seq):
                h.update(rec.seq.to_bytes(8, "big"))
                h.update(rec.payload)
                n += 1
            out[seg.day] = {"records": n, "first_seq": seg.first_seq, "last_seq": seg.last_seq,
                            "digest": h.hexdigest()}
    return out


def data_files(root: Path) -> dict:
    # LMDB's lock.mdb is touched by every reader; data.mdb holds the records.
    return {k: v for k, v in tree_state(root).items() if not k.endswith(("lock.mdb", "writer.lock"))}


def archive_hashes(data: Path) -> dict[str, str]:
    return {k: v[0] for k, v in tree_state(data / "archive").items()}


def test_compact_archives_verifies_and_prunes(multi_day):
    before = journal_facts(multi_day)
    trades_expected = count_trade_messages(multi_day)
    res = compact(multi_day)
    assert res.compacted == list(FINISHED_SMALL)
    assert res.pruned == list(FINISHED_SMALL)
    m = manifest.load(multi_day)
    root = multi_day / "archive"
    for day in FINISHED_SMALL:
        e = m["days"][day]
        assert (e["records"], e["first_seq"], e["last_seq"]) == (
            before[day]["records"], before[day]["first_seq"], before[day]["last_seq"])
        assert e["payload_digest"] == before[day]["digest"]
        rows = sum(pq.ParquetFile(root / f["path"]).metadata.num_rows for f in e["tables"]["raw"]["files"])
        assert rows == before[day]["records"]
        for f in e["tables"]["raw"]["files"]:
            assert manifest.file_digest(root / f["path"]) == f["blake2b"]
    # Every trade message of the finished days is a trades row (BYBIT's day is still hot).
    got = {}
    for day in FINISHED_SMALL:
        for f in m["days"][day]["tables"]["trades"]["files"]:
            venue = f["path"].split("venue=")[1].split("/")[0]
            got[venue] = got.get(venue, 0) + f["rows"]
    assert got == {v: n for v, n in trades_expected.items() if v != "bybit"}
    # The journal keeps only the current day, starts right after the archive and verifies.
    with JournalReader(multi_day) as r:
        assert [s.day for s in r.segments()] == [CURRENT]
        assert r.meta["seq_floor"] == before[FINISHED_SMALL[-1]]["last_seq"]
        assert r.first_seq == before[FINISHED_SMALL[-1]]["last_seq"] + 1
        v = verify(r)
    assert v.ok, v.problems
    assert v.records == before[CURRENT]["records"]
    out = subprocess.run([sys.executable, "-m", "recorder.cli", "verify", "--data", str(multi_day)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rerun_changes_nothing(multi_day):
    compact(multi_day)
    state = tree_state(multi_day / "archive")
    journal = data_files(multi_day / "journal")
    res = compact(multi_day)
    assert (res.compacted, res.pruned) == ([], [])
    assert tree_state(multi_day / "archive") == state
    assert data_files(multi_day / "journal") == journal


def test_keep_days_keeps_the_newest_archived_days(multi_day):
    res = compact(multi_day, keep_days=1)
    assert res.pruned == list(FINISHED_SMALL[:-1])
    with JournalReader(multi_day) as r:
        assert [s.day for s in r.segments()] == [FINISHED_SMALL[-1], CURRENT]
        assert verify(r).ok
    # Lowering keep later prunes the kept day.
    assert compact(multi_day, keep_days=0).pruned == [FINISHED_SMALL[-1]]


def test_day_and_through_select_days(multi_day):
    with pytest.raises(ArchiveError, match="before"):
        compact(multi_day, day=FINISHED_SMALL[1])
    assert compact(multi_day, through=FINISHED_SMALL[0]).compacted == [FINISHED_SMALL[0]]
    assert compact(multi_day, day=FINISHED_SMALL[1]).compacted == [FINISHED_SMALL[1]]
    with pytest.raises(ArchiveError, match="newest"):
        compact(multi_day, day=CURRENT)
    assert compact(multi_day).compacted == [FINISHED_SMALL[2]]
    # The recorder is stopped: the operator may close the current day too.
    res = compact(multi_day, day=CURRENT, include_current=True)
    assert res.compacted == [CURRENT]
    assert manifest.days(manifest.load(multi_day)) == [*FINISHED_SMALL, CURRENT]


def test_projection_crossing_days_equals_one_pass(multi_day):
    """Derived rows made day by day from checkpoints equal one continuous projection."""
    from query.derive import TABLES, Deriver

    with JournalReader(multi_day) as r:
        d = Deriver(r.streams())
        records = [rec for rec in r.read() if rec.ts_ns < 1_700_000_000 * 10**9]
    d.apply_many(records)
    d.advance(records[-1].ts_ns + 10**12)  # past the last day's end: every sample taken
    whole = d.take()
    compact(multi_day)
    m = manifest.load(multi_day)
    root = multi_day / "archive"
    for t in TABLES:
        got = []
        for p in manifest.table_files(m, t):
            tab = pq.read_table(root / p, partitioning=None)
            if "venue" not in tab.column_names:
                venue = p.split("venue=")[1].split("/")[0]
                tab = tab.append_column("venue", __import__("pyarrow").array([venue] * tab.num_rows))
            got.extend(tab.select(whole[t].column_names).to_pylist())
        key = lambda r: json.dumps(r, sort_keys=True, default=str)  # noqa: E731
        assert sorted(got, key=key) == sorted(whole[t].to_pylist(), key=key), t
        if t in ("trades", "quotes", "book_levels", "features"):
            assert got, f"{t} is empty: the captures hold data for it"


def test_a_corrupt_journal_value_stops_the_day_and_publishes_nothing(multi_day):
    import lmdb

    with JournalReader(multi_day) as r:
        seg = r.segments()[1]
    env = lmdb.open(str(seg.path), max_dbs=4, subdir=True)
    db = env.open_db(b"records")
    with env.begin(write=True) as txn:
        txn.put(encode_key(seg.first_seq + 5), b"\xc1 not msgpack", db=db)
    env.close()
    with pytest.raises(ArchiveError, match=f"journal day {seg.day}: seq {seg.first_seq + 5}"):
        compact(multi_day)
    with JournalReader(multi_day) as r:
        first_day = r.segments()[0].day
    assert manifest.days(manifest.load(multi_day)) == [first_day]  # the day before was archived
    assert not (multi_day / "archive" / "raw" / f"date={seg.day}").exists()
    with JournalReader(multi_day) as r:
        assert seg.day in [s.day for s in r.segments()]  # nothing pruned past the bad day


def test_bit_rot_in_a_journal_day_stops_it_by_checksum_naming_the_seq(capture_journal, tmp_path):
    from tests.recorder.journal.util import rot, segments

    data = tmp_path / "data"
    shutil.copytree(capture_journal("BINANCE_FUTURES"), data)
    (seg,) = segments(data)
    seq = rot(seg)  # 64 bytes of 0xFF inside a payload: the value still decodes, to other bytes
    with pytest.raises(ArchiveError, match=f"^journal day {seg.name}: seq {seq}: damaged: checksum mismatch"):
        compact(data, day=seg.name, include_current=True)
    assert manifest.days(manifest.load(data)) == []
    assert not (data / "archive" / "raw" / f"date={seg.name}").exists()
    assert [s.name for s in segments(data)] == [seg.name]  # kept: the only copy of the other records


def test_the_record_digest_covers_the_stored_bytes_with_their_checksums(capture_journal, tmp_path):
    from query.archive import digest_file
    from tests.recorder.journal.util import OLD_UPBIT_DAY, old_journal

    new = tmp_path / "new"
    shutil.copytree(capture_journal("UPBIT"), new)
    old = old_journal(tmp_path / "old")  # the same capture, written before checksums
    for data in (new, old):
        compact(data, day=OLD_UPBIT_DAY, include_current=True)
    e_new, e_old = (manifest.load(d)["days"][OLD_UPBIT_DAY] for d in (new, old))
    raw_new, raw_old = (d / "archive" / e["tables"]["raw"]["files"][0]["path"] for d, e in ((new, e_new), (old, e_old)))
    # The same records: the same raw file and payload digest; the stored bytes differ by the checksums.
    assert raw_new.read_bytes() == raw_old.read_bytes()
    assert e_new["payload_digest"] == e_old["payload_digest"]
    assert e_new["record_digest"] != e_old["record_digest"]
    # Rows re-encoded as the journal stores them give each manifest's record digest back:
    # with their CRCs for the day written with checksums, without for the one before.
    assert digest_file(raw_new).record == e_new["record_digest"]
    assert digest_file(raw_old, checksums=False).record == e_old["record_digest"]


CRASH_SCRIPT = textwrap.dedent("""
    import os, shutil, signal, sys
    sys.path.insert(0, {root!r})
    point, n = sys.argv[2], int(sys.argv[3])
    calls = [0]

    def die_on_nth(fn):
        def wrapper(*a, **k):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **k)
        return wrapper

    import query.archive, query.compact, query.layout, query.manifest, query.prune
    if point == "rename":            # publishing staged directories, and the manifest rename
        os.rename = die_on_nth(os.rename)
        os.replace = die_on_nth(os.replace)
    elif point == "raw_close":       # raw file written, not yet verified
        query.archive.RawPartWriter.close = die_on_nth(query.archive.RawPartWriter.close)
    elif point == "decode":          # in the middle of reading the journal
        query.compact.decode_checked = die_on_nth(query.compact.decode_checked)
    elif point == "check":           # raw file closed, read-back verification running
        query.compact.check_file = die_on_nth(query.compact.check_file)
    elif point == "manifest":        # everything published, manifest not yet saved
        query.manifest.save = die_on_nth(query.manifest.save)
    elif point == "floor":           # seq_floor raised, journal day still there
        import recorder.journal.retention as retention
        retention.delete_segment = die_on_nth(retention.delete_segment)
    elif point == "delete":          # day renamed to .pruned-*, not yet removed
        shutil.rmtree = die_on_nth(shutil.rmtree)
    query.compact.compact(sys.argv[1])
    sys.exit(3)  # not killed: the point was never reached
""")


@pytest.fixture(scope="module")
def reference_archive(multi_day_source, tmp_path_factory):
    data = tmp_path_factory.mktemp("ref") / "data"
    shutil.copytree(multi_day_source, data)
    compact(data)
    return archive_hashes(data), {k: v[0] for k, v in data_files(data / "journal").items()}


@pytest.mark.parametrize("point,n", [
    ("decode", 2), ("raw_close", 2), ("check", 3), ("rename", 1), ("rename", 7), ("rename", 13),
    ("manifest", 2),
    ("floor", 1), ("delete", 3),
])
def test_sigkill_then_rerun_gives_the_same_archive(multi_day, reference_archive, tmp_path, point, n):
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT.format(root=str(ROOT)))
    p = subprocess.run([sys.executable, str(script), str(multi_day), point, str(n)],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == -9, f"not killed at {point}#{n}: rc={p.returncode} {p.stderr[-2000:]}"
    compact(multi_day)
    ref_archive, ref_journal = reference_archive
    assert archive_hashes(multi_day) == ref_archive
    assert {k: v[0] for k, v in data_files(multi_day / "journal").items()} == ref_journal
    with JournalReader(multi_day) as r:
        assert [s.day for s in r.segments()] == [CURRENT]
        assert verify(r).ok
    assert not (multi_day / "archive" / ".staging").exists()
