"""``recorder verify``: gaps, undecodable values, values under the wrong key, unknown streams, time going back."""

from __future__ import annotations

import lmdb

from recorder.inspect import verify
from recorder.journal import Record
from recorder.journal.codec import encode_key, encode_record
from recorder.journal.reader import JournalReader
from tests.recorder.journal.util import poke, write


def test_truncated_value_and_value_under_wrong_key(tmp_path):
    recs = write(tmp_path, 20)
    poke(tmp_path, 5, encode_record(recs[4])[:-4])  # truncated
    poke(tmp_path, 9, encode_record(recs[2]))  # a valid record under the wrong key
    with JournalReader(tmp_path) as r:
        problems = [(p.seq, p.what) for p in verify(r).problems]
    assert problems == [(5, f"damaged: checksum mismatch (a value of {len(encode_record(recs[4])) - 4} bytes)"),
                        (9, "value holds seq 3 under key 9")]


def test_verify_reports_gap_unknown_stream_and_time_going_back(tmp_path):
    recs = write(tmp_path, 10)
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
    assert [(p.segment, p.seq, p.what) for p in v.problems] == [
        ("2024-12-31", 5, "seq gap: expected 4, found 5"),
        ("2024-12-31", 6, "stream 99 is not in the streams table"),
        ("2024-12-31", 8, f"time goes backwards: {back.ts_ns} < {recs[6].ts_ns}"),
    ]  # exactly these: nothing else in the chunk walked record by record is flagged
    assert v.records == 9 and not v.ok
