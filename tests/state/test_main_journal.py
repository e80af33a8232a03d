"""A journal and checkpoints written before the compiled core read the same today.

The fixture (``main_journal.py``) holds what the code of commit 5018c49 wrote and computed:
today's reader must read the same bytes, every checkpoint must restore to the state it
held, and projecting on from each must end at the same digest as projecting from the first
record, in the library and through ``replay state``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from state.projector import Projector
from tools.golden import journal_digest

from .main_journal import EXPECTED, unpack

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
    assert p.digest() == WANT["final_digest"]


@pytest.mark.parametrize("i", range(len(WANT["checkpoints"])))
def test_each_checkpoint_restores_and_projects_on_to_the_same_end(data, i):
    want = WANT["checkpoints"][i]
    store = LmdbCheckpointStore.of_data_dir(data, keep=0)
    seq, blob = store.load(at_or_before=want["seq"])
    assert seq == want["seq"]
    with JournalReader(data) as reader:
        p = Projector.restore(blob, reader.streams())
        assert p.digest() == want["digest"]
        p.apply_many(reader.read(seq + 1))
    assert p.digest() == WANT["final_digest"]


def test_replay_state_warm_starts_from_the_old_checkpoint(data):
    last = WANT["checkpoints"][-1]
    out = subprocess.run([str(Path(sys.executable).parent / "replay"), "state", "--data", str(data),
                          "--at", str(WANT["records"]), "--json"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["from_checkpoint"] == last["seq"]
    assert doc["digest"] == WANT["final_digest"]
