"""Recovery from a checkpoint (``state.checkpoint.restore_newest``), over an in-memory store."""

from __future__ import annotations

from recorder.journal.checkpoints import MemoryCheckpointStore
from state.checkpoint import restore_newest
from state.projector import Projector


def test_recover_from_a_checkpoint_reaches_the_same_digest(capture_records):
    streams, records = capture_records("KUCOIN")
    full = Projector(streams)
    full.apply_many(records)
    p = Projector(streams)
    p.apply_many(records[:2000])
    store = MemoryCheckpointStore()
    store.save(p.last_seq, p.snapshot())
    seq, q, why = restore_newest(store, Projector(), at_or_before=len(records), streams=streams)
    assert (seq, why) == (2000, "")
    q.apply_many(r for r in records if r.seq > seq)
    assert q.digest() == full.digest()


def test_newest_at_or_before_is_chosen(capture_records):
    streams, records = capture_records("KUCOIN")
    store = MemoryCheckpointStore(keep=0)
    p = Projector(streams)
    for upto in (1000, 2000, 3000):
        p.apply_many(r for r in records if p.last_seq < r.seq <= upto)
        store.save(p.last_seq, p.snapshot())
    seq, q, why = restore_newest(store, Projector(), at_or_before=2500, streams=streams)
    assert (seq, why) == (2000, "") and q.last_seq == 2000 and not q.sync_only
    seq, q, why = restore_newest(store, Projector(sync_only=True), at_or_before=2500, streams=streams)
    assert (seq, why) == (2000, "") and q.sync_only and len(q.book(*q.symbols()[0])) == 0


def test_other_settings_or_a_broken_blob_are_passed_over_with_the_reason(capture_records):
    streams, records = capture_records("KUCOIN")
    p = Projector(streams, depth_levels=5)
    p.apply_many(records[:500])
    store = MemoryCheckpointStore()
    store.save(500, p.snapshot())
    assert restore_newest(store, Projector(), at_or_before=500) == (
        0, None, "checkpoint at seq 500 has other settings: depth_levels 5")
    store.save(600, b"\x93not a state")
    seq, q, why = restore_newest(store, Projector(), at_or_before=600)
    assert seq == 0 and q is None and why.startswith("checkpoint at seq 600 does not restore:")
    assert restore_newest(MemoryCheckpointStore(), Projector(), at_or_before=9) == (0, None, "")


def test_an_unreadable_store_is_reported_not_raised():
    class Broken:
        def load(self, *, at_or_before=None):
            raise OSError("disk gone")

    assert restore_newest(Broken(), Projector(), at_or_before=1) == (
        0, None, "checkpoints unreadable: OSError: disk gone")


def test_a_snapshot_of_another_format_is_refused_clearly(capture_records):
    import msgpack
    import pytest

    streams, records = capture_records("KUCOIN")
    p = Projector(streams)
    p.apply_many(records[:500])
    state = msgpack.unpackb(p.snapshot(), raw=False, strict_map_key=False)
    state[0] = 1  # the layout before tape columns were bytes
    with pytest.raises(ValueError, match="not a projector snapshot of format 3"):
        Projector.restore(msgpack.packb(state, use_bin_type=True), streams)
