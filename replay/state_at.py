"""The projected state at a point of the record order (``replay state``).

Starting from the recorder's newest checkpoint at or before the point (``DATA/state``,
written by the live projection) gives the same state as projecting from the first
record, because a checkpoint is the state after its seq (the determinism tests prove
restore + the rest == one pass); it only skips the work. A checkpoint that does not
restore, or that was taken with other projection settings (depth levels, windows,
thresholds), is passed over and said so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.source import RecordSource
from state.checkpoint import CheckpointSource, restore_newest
from state.projector import Projector

from .source import Bound, HistoricalSource


@dataclass(frozen=True, slots=True)
class StateAt:
    projector: Projector
    from_checkpoint: int  # the checkpoint's seq it started from; 0 = from the first record
    skipped: str = ""  # why a checkpoint there was not used ("" when none was passed over)


def target_seq(source: RecordSource, at: Bound) -> int:
    """The seq of the last record the state must include (at, or the last at or before a time)."""
    if at.seq is not None:
        return at.seq
    first_after = source.seq_at_time(at.ts_ns + 1)  # type: ignore[operator]
    return source.last_seq if first_after is None else first_after - 1


def project_until(data: str | os.PathLike[str] | RecordSource, at: Bound, *,
                  checkpoints: bool | CheckpointSource = True) -> StateAt:
    """The projection after the record at ``at`` (a seq, or the last record at or before a time).

    ``data``: a data directory (its archive and journal; its checkpoints, ``DATA/state``,
    unless ``checkpoints=False``) or any ``RecordSource`` (from its first record, or from
    the checkpoint store passed as ``checkpoints``). A given source is left open.
    """
    end = at if at.seq is not None else Bound(ts_ns=at.ts_ns + 1)  # type: ignore[operator]
    store: CheckpointSource | None
    if checkpoints is True:
        store = None if isinstance(data, RecordSource) else LmdbCheckpointStore.of_data_dir(data)
    else:
        store = checkpoints or None
    src = HistoricalSource(data, end=end)
    try:
        seq, restored, skipped = 0, None, ""
        if store is not None:
            seq, restored, skipped = restore_newest(store, Projector(),
                                                    at_or_before=target_seq(src.source, at))
        if seq:
            src.start = Bound(seq=seq + 1)
        if restored is None:
            p = Projector(src.streams())
        else:
            p = restored
            p.streams.update(src.streams())
        p.apply_many(src)
    finally:
        src.close()
    return StateAt(p, seq, skipped)
