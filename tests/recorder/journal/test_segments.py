"""The layout on disk: the catalog's format, the seq floor of a pruned journal."""

from __future__ import annotations

import shutil
import subprocess

import lmdb
import pytest

from recorder.inspect import verify
from recorder.journal import NotAJournalError
from recorder.journal.codec import encode_msgpack
from recorder.journal.errors import JournalUsageError
from recorder.journal.reader import JournalReader
from recorder.journal.segments import set_seq_floor
from recorder.journal.writer import JournalWriter
from tests.recorder.journal.util import MIDNIGHT, ROOT, python, write


def test_catalog_format_is_checked(tmp_path):
    write(tmp_path, 3)
    catalog = tmp_path / "journal" / "catalog"
    env = lmdb.open(str(catalog), max_dbs=4)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"format", encode_msgpack(99), db=meta)
    env.close()
    with pytest.raises(NotAJournalError, match="format 99"):
        JournalReader(tmp_path)


def test_seq_floor_lets_a_journal_continue_after_old_days_are_pruned(tmp_path):
    write(tmp_path, 20, start_ts=MIDNIGHT - 10 * 10**6, step=10**6)  # seq 1-10 day 1, 11-20 day 2
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
    write(tmp_path, 5)
    set_seq_floor(tmp_path, 3)
    out = subprocess.run(python(f"""
        import sys; sys.path.insert(0, {str(ROOT)!r})
        from recorder.journal.reader import JournalReader
        with JournalReader({str(tmp_path)!r}) as r:
            print(r.meta["seq_floor"])
    """), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    with pytest.raises(JournalUsageError, match=">= 0"):
        set_seq_floor(tmp_path, -1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAJournalError):
        set_seq_floor(tmp_path / "empty", 1)
