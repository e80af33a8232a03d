"""A journal and checkpoints written before the compiled core read the same today.

The fixture (``main_journal.py``) holds what the code of commit 5018c49 wrote and computed:
today's reader must read the same bytes and projecting from the first record must reach the
states it computed. Its checkpoints are FORMAT 2 (tapes kept up to 4,096 evicted trades; 3
forgets them from 64 on): today's code refuses them with a typed error, and recovery and
``replay state`` project from the first record instead. They hold the same parts as today's
snapshots at their seqs (no tape of this journal compacts), the version apart, and so do the
digests (``as_format_2``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from state import digest
from state.checkpoint import restore_newest
from state.errors import SnapshotFormatError
from state.projector import Projector
from tools.golden import journal_digest

from .main_journal import EXPECTED, unpack
from .test_digest import as_format_2

WANT = json.loads(EXPECTED.read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return unpack(tmp_path_factory.mktemp("main-journal") / "data")


def test_the_stored_bytes_are_unchanged(data):
    assert journal_digest(data) == (WANT["journal_sha256"], WANT["records"])


def test_projecting_from_the_first_record_ends_at_the_same_digest(data):
    with JournalReader(data) as reader:
        p = Projector(reader.streams())
        p.apply_many(reader.read())
    assert p.last_seq == WANT["records"]
    assert digest.digest_of(as_format_2(p.snapshot())) == WANT["final_digest"]


@pytest.mark.parametrize("i", range(len(WANT["checkpoints"])))
def test_each_old_checkpoint_is_refused_and_holds_the_state_projected_to_its_seq(data, i):
    want = WANT["checkpoints"][i]
    store = LmdbCheckpointStore.of_data_dir(data, keep=0)
    seq, blob = store.load(at_or_before=want["seq"])
    assert seq == want["seq"] and digest.digest_of(blob) == want["digest"]
    with JournalReader(data) as reader:
        with pytest.raises(SnapshotFormatError) as e:
            Projector.restore(blob, reader.streams())
        assert e.value.got == 2 and e.value.expected == digest.FORMAT == 3
        got, restored, why = restore_newest(store, Projector(), at_or_before=seq)
        assert (got, restored) == (0, None) and "does not restore" in why
        p = Projector(reader.streams())
        p.apply_many(reader.read(1, seq))
    assert p.last_seq == seq and as_format_2(p.snapshot()) == blob


def test_replay_state_passes_over_the_old_checkpoint(data):
    with JournalReader(data) as reader:
        p = Projector(reader.streams())
        p.apply_many(reader.read())
    out = subprocess.run([str(Path(sys.executable).parent / "replay"), "state", "--data", str(data),
                          "--at", str(WANT["records"]), "--json"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["from_checkpoint"] == 0  # passed over: projected from the first record
    assert doc["digest"] == p.digest()
