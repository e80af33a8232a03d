"""One contract for checkpoint storage, run against the LMDB store and its in-memory twin."""

from __future__ import annotations

import pytest

from recorder.journal.checkpoints import LmdbCheckpointStore, MemoryCheckpointStore
from recorder.journal.errors import JournalUsageError


@pytest.fixture(params=["lmdb", "memory"])
def make(request, tmp_path):
    def make(**kw):
        if request.param == "memory":
            return MemoryCheckpointStore(**kw)
        return LmdbCheckpointStore(tmp_path / "state", **kw)

    return make


def test_empty_store_has_nothing(make):
    s = make()
    assert s.load() is None and s.seqs() == []


def test_newest_and_at_or_before_and_keep(make):
    s = make(keep=3)
    for seq in (10, 20, 30, 40):
        s.save(seq, f"blob{seq}".encode())
    assert s.seqs() == [20, 30, 40]
    assert s.load() == (40, b"blob40")
    assert s.load(at_or_before=35) == (30, b"blob30")
    assert s.load(at_or_before=20) == (20, b"blob20")
    assert s.load(at_or_before=5) is None


def test_saving_the_same_seq_again_is_a_no_op(make):
    s = make(keep=3)
    for seq in (20, 30, 40):
        s.save(seq, f"blob{seq}".encode())
    s.save(40, b"blob40")
    assert s.seqs() == [20, 30, 40] and s.load() == (40, b"blob40")


def test_blob_is_returned_as_bytes_whatever_was_given(make):
    s = make()
    s.save(5, bytearray(b"\x00\xffstate"))
    seq, blob = s.load()
    assert seq == 5 and type(blob) is bytes and blob == b"\x00\xffstate"


@pytest.mark.parametrize("seq", [-1, 1.5, "7"])
def test_a_bad_seq_is_refused(make, seq):
    s = make()
    with pytest.raises(JournalUsageError, match="checkpoint seq"):
        s.save(seq, b"x")
    assert s.seqs() == []


def test_lmdb_names_share_one_environment(tmp_path):
    a = LmdbCheckpointStore(tmp_path / "state")
    b = LmdbCheckpointStore(tmp_path / "state", name="features")
    a.save(40, b"a40")
    b.save(7, b"b7")
    assert a.load() == (40, b"a40") and b.load() == (7, b"b7")
    assert a.seqs() == [40] and b.seqs() == [7]


def test_lmdb_store_persists_across_instances(tmp_path):
    LmdbCheckpointStore.of_data_dir(tmp_path).save(9, b"nine")
    assert (tmp_path / "state").is_dir()
    assert LmdbCheckpointStore.of_data_dir(tmp_path).load() == (9, b"nine")
