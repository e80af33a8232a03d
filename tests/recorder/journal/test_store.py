"""The segment store: what a group commit puts in LMDB."""

from __future__ import annotations

import lmdb

from recorder.journal.codec import decode_key
from tests.recorder.journal.util import write


def test_keys_are_big_endian_u64(tmp_path):
    write(tmp_path, 300)
    seg = tmp_path / "journal" / "2024-12-31"
    env = lmdb.open(str(seg), max_dbs=4, readonly=True, lock=False, map_size=256 << 30)
    db = env.open_db(b"records", create=False)
    with env.begin() as txn:
        keys = [k for k, _ in txn.cursor(db=db)]
    env.close()
    assert keys[255:257] == [b"\x00" * 6 + b"\x01\x00", b"\x00" * 6 + b"\x01\x01"]
    assert [decode_key(k) for k in keys] == list(range(1, 301))
