"""Bit rot is seen: every record carries a checksum, checked by verify and by every read.

The damage is what a disk does: 64 bytes of 0xFF written into the middle of a day's
data.mdb of a real imported capture (``util.rot``), inside one record's payload, where
the value still decodes (to other bytes). Before checksums, verify said ok and every
reader served those bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lmdb
import pytest

from recorder import cli
from recorder.importer import import_files
from recorder.inspect import Problem, verify
from recorder.journal import CorruptRecordError
from recorder.journal.codec import encode_fields, encode_record
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay import cli as replay_cli
from tests.conftest import capture_path
from tests.recorder.journal.util import (
    OLD_UPBIT_DAY,
    OLD_UPBIT_SHA256,
    old_journal,
    rot,
    segments,
    stored,
)

CAPTURE = "BINANCE_FUTURES"  # one day, 1541 records, binance-usdm
PASSIVE = "from replay.strategy import Strategy\nclass Watch(Strategy): pass\n"


@pytest.fixture
def sound(capture_journal, tmp_path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(capture_journal(CAPTURE), data)
    return data


@pytest.fixture
def rotten(sound) -> tuple[Path, str, int, list]:
    """(data dir, day, seq hit, the records as they were) after bit rot in the middle of the day."""
    with JournalReader(sound) as r:
        records = list(r.read())
    (seg,) = segments(sound)
    seq = rot(seg)
    return sound, seg.name, seq, records


def test_a_sound_journal_verifies_with_every_checksum_matching(sound):
    with JournalReader(sound) as r:
        assert r.segment_format(segments(sound)[0].name) == 2
        v = verify(r)
        records = list(r.read())
    assert v.ok and v.records == v.checked == 1541 and v.unchecked == {} and v.notes == []
    assert v.lines() == ["ok: 1541 records in 1 segments, seq gapless, all checksums match, streams known, "
                         "time monotone"]
    # Every stored value is the record's fields and their checksum.
    assert [value for _, value in stored(segments(sound)[0])] == [encode_record(rec) for rec in records]


def test_verify_names_exactly_the_damaged_record_and_exits_1(rotten, capsys):
    data, day, seq, records = rotten
    size = len(encode_record(records[seq - 1]))
    with JournalReader(data) as r:
        v = verify(r)
    assert v.problems == [Problem(day, seq, f"damaged: checksum mismatch (a value of {size} bytes)")]
    assert v.damaged == v.problems and not v.ok
    assert (v.records, v.checked) == (1541, 1540)
    capsys.readouterr()
    assert cli.main(["verify", "--data", str(data)]) == 1
    out = capsys.readouterr().out
    assert f"segment {day} seq {seq}: damaged: checksum mismatch (a value of {size} bytes)" in out
    assert cli.main(["verify", "--data", str(data), "--json"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert got["ok"] is False and got["problems"] == [
        {"segment": day, "seq": seq, "what": f"damaged: checksum mismatch (a value of {size} bytes)"}]


def test_reading_a_damaged_record_is_an_error_naming_it_never_other_bytes(rotten):
    data, day, seq, records = rotten
    with JournalReader(data) as r:
        got = []
        with pytest.raises(CorruptRecordError) as err:
            for rec in r.read():
                got.append(rec)
        assert (err.value.segment, err.value.seq) == (day, seq)
        assert str(err.value).startswith(f"segment {day} seq {seq}: damaged: checksum mismatch")
        assert got == records[:seq - 1]  # everything before it, exactly; nothing after
        with pytest.raises(CorruptRecordError, match=f"seq {seq}:"):
            r.get(seq)
        with pytest.raises(CorruptRecordError, match=f"seq {seq}:"):
            list(r.read(seq - 3, seq + 3))
        assert list(r.read(seq + 1)) == records[seq:]  # the rest stays readable
        assert r.get(seq + 1) == records[seq]
        assert r.damaged == 0  # not skipping: nothing was skipped


def test_skip_damaged_skips_and_counts_them(rotten):
    data, day, seq, records = rotten
    with JournalReader(data, skip_damaged=True) as r:
        assert list(r.read()) == records[:seq - 1] + records[seq:]
        assert (r.damaged, r.damaged_seqs) == (1, [seq])
        assert [(e.segment, e.seq) for e in r.damage] == [(day, seq)]
        assert list(r.read()) == records[:seq - 1] + records[seq:]
        assert r.damaged == 1  # each damaged record counts once, however often it is met
        assert r.get(seq) is None and r.get(seq + 1) == records[seq]


def test_seq_at_time_over_a_damaged_record_finds_the_next_whole_one(rotten):
    data, day, seq, records = rotten
    ts = records[seq - 1].ts_ns  # the damaged record's time: the first record at it may be the damaged one
    first_at = next(rec.seq for rec in records if rec.ts_ns >= ts)
    with JournalReader(data, skip_damaged=True) as r:
        want = first_at if first_at != seq else seq + 1
        assert r.seq_at_time(ts) == want
    with JournalReader(data) as r:
        if first_at == seq:
            with pytest.raises(CorruptRecordError):
                r.seq_at_time(ts)


def test_tail_stops_at_the_damaged_record_naming_it(rotten, capsys):
    data, day, seq, records = rotten
    capsys.readouterr()
    assert cli.main(["tail", "--data", str(data), "--from-seq", "1", "--json"]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["seq"] for line in out.splitlines()] == list(range(1, seq))
    assert f"segment {day} seq {seq}: damaged: checksum mismatch" in err
    assert "--skip-damaged" in err


def test_tail_skip_damaged_skips_counts_and_says_so(rotten, capsys):
    data, day, seq, records = rotten
    capsys.readouterr()
    assert cli.main(["tail", "--data", str(data), "--from-seq", "1", "--json", "--skip-damaged"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["seq"] for x in lines] == [s for s in range(1, 1542) if s != seq]
    assert lines[seq - 1]["payload"] == records[seq].payload.decode()
    assert f"skipped 1 damaged record: segment {day} seq {seq}: damaged: checksum mismatch" in err


def test_replay_stops_at_the_damaged_record_naming_it(rotten, tmp_path, capsys):
    data, day, seq, records = rotten
    strategy = tmp_path / "watch.py"
    strategy.write_text(PASSIVE)
    capsys.readouterr()
    argv = ["--data", str(data), "--from", "1", "--strategy", str(strategy), "--no-progress", "--json"]
    assert replay_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"segment {day} seq {seq}: damaged: checksum mismatch" in " ".join(err.split())


def test_replay_over_a_reader_that_skips_damaged_records_runs_without_them(rotten, tmp_path, capsys):
    data, day, seq, records = rotten
    strategy = tmp_path / "watch.py"
    strategy.write_text(PASSIVE)
    capsys.readouterr()
    argv = ["--from", "1", "--strategy", str(strategy), "--no-progress", "--json"]
    with JournalReader(data, skip_damaged=True) as reader:
        assert replay_cli.main(argv, source=reader) == 0
        assert (reader.damaged, reader.damaged_seqs) == (1, [seq])
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["period"]["records"] == 1540
    assert (summary["period"]["first_seq"], summary["period"]["last_seq"]) == (1, 1541)


def test_replay_skip_damaged_flag_runs_without_them_and_names_them(rotten, tmp_path, capsys):
    data, day, seq, records = rotten
    strategy = tmp_path / "watch.py"
    strategy.write_text(PASSIVE)
    capsys.readouterr()
    argv = ["--data", str(data), "--from", "1", "--strategy", str(strategy), "--no-progress",
            "--json", "--skip-damaged"]
    assert replay_cli.main(argv) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.splitlines()[-1])
    assert summary["period"]["records"] == 1540
    assert f"replay: skipped 1 damaged record(s): seq {seq}" in " ".join(err.split())


def test_verify_prints_the_damaged_seq_and_json_has_checked_counts(rotten, capsys):
    data, day, seq, records = rotten
    capsys.readouterr()
    assert cli.main(["verify", "--data", str(data)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"segment {day} seq {seq}: damaged: checksum mismatch" in out
    assert cli.main(["verify", "--data", str(data), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["records"] == 1541 and doc["checked"] == 1540  # all but the damaged one
    assert doc["notes"] == []
    assert [p["seq"] for p in doc["problems"]] == [seq]


# -- journals written before checksums ------------------------------------------------------


def test_a_journal_written_before_checksums_reads_and_verify_says_it_has_none(tmp_path, capsys):
    old = old_journal(tmp_path / "old")
    from tools.golden import journal_digest

    assert journal_digest(old) == (OLD_UPBIT_SHA256, 452)  # the bytes the code before checksums wrote
    new = tmp_path / "new"
    import_files(new, [capture_path("UPBIT")])
    with JournalReader(old) as r, JournalReader(new) as n:
        assert r.segment_format(OLD_UPBIT_DAY) == 1 and n.segment_format(OLD_UPBIT_DAY) == 2
        assert not r.requires_checksums(OLD_UPBIT_DAY) and n.requires_checksums(OLD_UPBIT_DAY)
        assert list(r.read()) == list(n.read())  # the same records, whichever way they were stored
        assert r.streams() == n.streams()
        v = verify(r)
    (seg,) = segments(old)
    assert [v for _, v in stored(seg)] == [encode_fields(rec) for rec in list(JournalReader(new).read())]
    assert v.ok and (v.records, v.checked, v.unchecked) == (452, 0, {OLD_UPBIT_DAY: 452})
    assert v.notes == ["no checksums: the journal was written before checksums (452 records unchecked: "
                       "damage inside a payload cannot be seen)"]
    assert v.lines() == ["ok: 452 records in 1 segments, seq gapless, all values decode, streams known, "
                         "time monotone", f"note: {v.notes[0]}"]
    capsys.readouterr()
    assert cli.main(["verify", "--data", str(old)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith("ok: 452 records") and "note: no checksums: the journal was written" in said
    assert cli.main(["tail", "--data", str(old), "--from-seq", "450", "--json"]) == 0
    assert [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()[-3:]] == [450, 451, 452]


def test_a_writer_with_checksums_continues_an_old_journal(tmp_path):
    old = old_journal(tmp_path / "old")
    with JournalReader(old) as r:
        last = r.get(452)
    day2 = last.ts_ns + 86_400 * 10**9
    with JournalWriter(old, background=False) as w:
        sid = w.register_stream("upbit")
        same_day = [w.append(sid, "frame", b'{"n":%d}' % i, ts_ns=last.ts_ns + i) for i in range(10)]
        next_day = [w.append(sid, "frame", b'{"m":%d}' % i, ts_ns=day2 + i) for i in range(5)]
    assert [r.seq for r in same_day + next_day] == list(range(453, 468))
    with JournalReader(old) as r:
        assert [r.segment_format(s.day) for s in r.segments()] == [1, 2]
        assert [r.requires_checksums(s.day) for s in r.segments()] == [False, True]
        assert list(r.read(453)) == same_day + next_day
        v = verify(r)
    assert v.ok and (v.records, v.checked) == (467, 15)
    assert v.notes == [f"segment {OLD_UPBIT_DAY}: 452 of 462 records carry no checksums (written before checksums)"]
    # The records added to the old day carry checksums: damage to them is seen.
    env = lmdb.open(str(segments(old)[0]), max_dbs=4, map_size=256 << 30)
    db = env.open_db(b"records")
    with env.begin(write=True) as txn:
        value = txn.get((460).to_bytes(8, "big"), db=db)
        txn.put((460).to_bytes(8, "big"), value.replace(b'{"n":7}', b'{"n":8}'), db=db)
    env.close()
    with JournalReader(old) as r:
        assert [(p.segment, p.seq, p.what.split(" (")[0]) for p in verify(r).problems] == [
            (OLD_UPBIT_DAY, 460, "damaged: checksum mismatch")]


@pytest.mark.parametrize("committer", ["inline", "thread", "process"])
def test_every_committer_stores_each_record_with_its_checksum(tmp_path, committer):
    """The store seals the values (in the committer process when there is one): the same bytes either way."""
    with JournalWriter(tmp_path, committer=committer, commit_max_records=7) as w:
        sid = w.register_stream("upbit")
        recs = [w.append(sid, "frame", b'{"i":%d}' % i, ts_ns=10**18 + i,
                         meta={"bin": True} if i % 5 == 0 else None) for i in range(40)]
    (seg,) = segments(tmp_path)
    assert [v for _, v in stored(seg)] == [encode_record(r) for r in recs]
    with JournalReader(tmp_path) as r:
        assert r.segment_format(seg.name) == 2 and list(r.read()) == recs
