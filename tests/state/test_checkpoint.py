"""Checkpoints in LMDB: save, load newest or at-or-before, keep N, resume a projection."""

from __future__ import annotations

from state.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from state.projector import Projector


def test_save_load_keep(tmp_path):
    path = tmp_path / "ckpt"
    assert load_checkpoint(path) is None
    for seq in (10, 20, 30, 40):
        save_checkpoint(path, seq, f"blob{seq}".encode(), keep=3)
    assert list_checkpoints(path) == [20, 30, 40]
    assert load_checkpoint(path) == (40, b"blob40")
    assert load_checkpoint(path, at_or_before=35) == (30, b"blob30")
    assert load_checkpoint(path, at_or_before=5) is None
    save_checkpoint(path, 40, b"blob40", keep=3)  # repeating a step is a no-op
    assert list_checkpoints(path) == [20, 30, 40]
    save_checkpoint(path, 7, b"other", name="features")
    assert load_checkpoint(path, name="features") == (7, b"other")
    assert load_checkpoint(path) == (40, b"blob40")


def test_recover_from_a_checkpoint_reaches_the_same_digest(tmp_path, capture_records):
    streams, records = capture_records("KUCOIN")
    full = Projector(streams)
    full.apply_many(records)
    p = Projector(streams)
    p.apply_many(records[:2000])
    save_checkpoint(tmp_path / "ck", p.last_seq, p.snapshot())
    seq, blob = load_checkpoint(tmp_path / "ck")
    q = Projector.restore(blob, streams)
    q.apply_many(r for r in records if r.seq > seq)
    assert seq == 2000 and q.digest() == full.digest()


def test_a_snapshot_of_another_format_is_refused_clearly(capture_records):
    import msgpack
    import pytest

    streams, records = capture_records("KUCOIN")
    p = Projector(streams)
    p.apply_many(records[:500])
    state = msgpack.unpackb(p.snapshot(), raw=False, strict_map_key=False)
    state[0] = 1  # the layout before tape columns were bytes
    with pytest.raises(ValueError, match="not a projector snapshot of format 2"):
        Projector.restore(msgpack.packb(state, use_bin_type=True), streams)
