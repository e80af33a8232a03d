"""The projected state at a point of the record order (``replay state``, and where a run starts).

Starting from the recorder's newest checkpoint at or before the point (``DATA/state``,
written by the live projection) gives the same state as projecting from the first
record, because a checkpoint is the state after its seq (the determinism tests prove
restore + the rest == one pass); it only skips the work. A checkpoint that does not
restore, or that was taken with other projection settings (depth levels, windows,
thresholds), is passed over and said so.

A run from a later point (``replay --from X``, ``replay --live``) starts from
``state_through(source, X - 1)``: the same state, so its strategy sees books that are
valid wherever a projection from the first record has them valid.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.source import RecordSource
from state.checkpoint import CheckpointSource, restore_newest
from state.projector import Projector

from .source import Bound, HistoricalSource

CHUNK = 65_536  # records folded between two progress calls


@dataclass(frozen=True, slots=True)
class StateAt:
    projector: Projector
    from_checkpoint: int  # the checkpoint's seq it started from; 0 = from the first record
    skipped: str = ""  # why a checkpoint there was not used ("" when none was passed over)
    records: int = 0  # records folded after the checkpoint (or from the first record)


def target_seq(source: RecordSource, at: Bound) -> int:
    """The seq of the last record the state must include (at, or the last at or before a time)."""
    if at.seq is not None:
        return at.seq
    first_after = source.seq_at_time(at.ts_ns + 1)  # type: ignore[operator]
    return source.last_seq if first_after is None else first_after - 1


def checkpoint_store(data: str | os.PathLike[str] | RecordSource | None,
                     checkpoints: bool | CheckpointSource) -> CheckpointSource | None:
    """The checkpoints to start from: a data directory's own (``DATA/state``) when
    ``checkpoints`` is True, the store given, or None (``False``, or a ``RecordSource``)."""
    if checkpoints is True:
        if data is None or isinstance(data, RecordSource):
            return None
        return LmdbCheckpointStore.of_data_dir(data)
    return checkpoints or None


def state_through(source: RecordSource, seq: int, *, store: CheckpointSource | None = None,
                  like: Projector | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> StateAt:
    """The projection after record ``seq`` of ``source`` (all its venues), from the newest
    checkpoint of ``store`` at or before ``seq`` when one fits ``like``'s settings (default
    ``Projector()``'s), else from the source's first record. ``on_progress(records folded,
    records to fold)`` is called every ``CHUNK`` records. ``source`` is left open."""
    like = like if like is not None else Projector()
    at, restored, skipped = 0, None, ""
    if store is not None:
        at, restored, skipped = restore_newest(store, like, at_or_before=seq)
    streams = source.streams()
    if restored is None:
        p = Projector(streams, depth_levels=like.depth_levels, windows=like.windows,
                      large_trade_quote=like.large_trade_quote, spike_ratio=like.spike_ratio)
    else:
        p = restored
        p.streams.update(streams)
    records = source.read(at + 1, seq)
    base = max(at, source.first_seq - 1)  # seqs have no holes: folded = last_seq - base
    if on_progress is None:
        p.apply_many(records)
    else:
        total = max(0, min(seq, source.last_seq) - base)
        while True:
            before = p.last_seq
            p.apply_many(islice(records, CHUNK))
            if p.last_seq == before:
                break
            on_progress(p.last_seq - base, total)
    return StateAt(p, at, skipped, max(0, p.last_seq - base))


def project_until(data: str | os.PathLike[str] | RecordSource, at: Bound, *,
                  checkpoints: bool | CheckpointSource = True) -> StateAt:
    """The projection after the record at ``at`` (a seq, or the last record at or before a time).

    ``data``: a data directory (its archive and journal; its checkpoints, ``DATA/state``,
    unless ``checkpoints=False``) or any ``RecordSource`` (from its first record, or from
    the checkpoint store passed as ``checkpoints``). A given source is left open.
    """
    store = checkpoint_store(data, checkpoints)
    src = HistoricalSource(data)  # for its source: the archive and journal of a data directory
    try:
        return state_through(src.source, target_seq(src.source, at), store=store)
    finally:
        src.close()
