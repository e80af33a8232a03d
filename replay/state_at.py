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
from recorder.journal.reader import JournalReader
from state.checkpoint import restore_newest
from state.projector import Projector

from .source import Bound, HistoricalSource


@dataclass(frozen=True, slots=True)
class StateAt:
    projector: Projector
    from_checkpoint: int  # the checkpoint's seq it started from; 0 = from the first record
    skipped: str = ""  # why a checkpoint there was not used ("" when none was passed over)


def _target_seq(reader: JournalReader, at: Bound) -> int:
    """The seq of the last record the state must include (at, or the last at or before a time)."""
    if at.seq is not None:
        return at.seq
    first_after = reader.seq_at_time(at.ts_ns + 1)  # type: ignore[operator]
    return reader.last_seq if first_after is None else first_after - 1


def _from_checkpoint(data: str | os.PathLike[str], at: Bound) -> tuple[int, Projector | None, str]:
    """(seq, restored projector, why not used) of the newest usable checkpoint at or before ``at``."""
    store = LmdbCheckpointStore.of_data_dir(data)
    if not store.seqs():
        return 0, None, ""
    with JournalReader(data) as reader:
        target = _target_seq(reader, at)
    return restore_newest(store, Projector(), at_or_before=target)


def project_until(data: str | os.PathLike[str], at: Bound, *, checkpoints: bool = True) -> StateAt:
    """The projection after the record at ``at`` (a seq, or the last record at or before a time)."""
    end = at if at.seq is not None else Bound(ts_ns=at.ts_ns + 1)  # type: ignore[operator]
    seq, restored, skipped = _from_checkpoint(data, at) if checkpoints else (0, None, "")
    with HistoricalSource(data, start=Bound(seq=seq + 1) if seq else None, end=end) as src:
        if restored is None:
            p = Projector(src.streams())
        else:
            p = restored
            p.streams.update(src.streams())
        p.apply_many(src)
    return StateAt(p, seq, skipped)
