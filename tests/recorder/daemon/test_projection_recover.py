"""The recorder's live projection recovers by re-projection: from its newest checkpoint,
or from the first record when that checkpoint cannot be used; the same state either way."""

from __future__ import annotations

import logging
import shutil

from recorder.daemon.projection import LiveProjection
from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from state.projector import Projector


def _live(data) -> LiveProjection:
    return LiveProjection(data_dir=str(data), depth_levels=20, log=logging.getLogger("test-recover"),
                          on_gap=lambda *_: None, checkpoint_every_records=10**9, checkpoint_every_s=1e9)


def test_recover_from_a_checkpoint_or_from_the_start_reaches_the_same_state(capture_journal, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(capture_journal("OKX"), data)
    with JournalReader(data) as r:
        streams, last = r.streams(), r.last_seq
        full = Projector(streams)
        full.apply_many(r.read())
        part = Projector(streams)
        part.apply_many(r.read(1, 400))

    LmdbCheckpointStore.of_data_dir(data).save(400, part.snapshot())
    live = _live(data)
    assert live.recover(streams) == last - 400 and live.checkpoint_seq == 400
    assert live.projector.digest() == full.digest()

    assert last > 420
    LmdbCheckpointStore.of_data_dir(data).save(420, b"\x92\x01not the current snapshot format")  # the newest
    with caplog.at_level(logging.WARNING, logger="test-recover"):
        live = _live(data)
        assert live.recover(streams) == last and live.checkpoint_seq == 0
    assert any(r.message == "checkpoint_unreadable" for r in caplog.records)
    assert live.failed is None and live.projector.digest() == full.digest()

    # A checkpoint of other settings is not this projection's state: passed over too.
    other = Projector(streams, windows=(60, 120))
    with JournalReader(data) as r:
        other.apply_many(r.read(1, 430))
    LmdbCheckpointStore.of_data_dir(data).save(430, other.snapshot())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test-recover"):
        live = _live(data)
        assert live.recover(streams) == last and live.checkpoint_seq == 0
    (warned,) = [r for r in caplog.records if r.message == "checkpoint_unreadable"]
    assert warned.fields["error"] == "checkpoint at seq 430 has other settings: windows (60, 120)"
    assert live.projector.digest() == full.digest()


def test_a_state_that_cannot_be_serialized_is_logged_not_raised(tmp_path, caplog, monkeypatch):
    live = _live(tmp_path)

    def fails() -> bytes:
        raise OverflowError("Integer value out of range")

    monkeypatch.setattr(live.projector, "snapshot", fails)
    with caplog.at_level(logging.WARNING, logger="test-recover"):
        assert live.capture() is None  # the recorder's checkpoint task skips this one
    (rec,) = [r for r in caplog.records if r.message == "checkpoint_failed"]
    assert "OverflowError" in rec.fields["error"]
