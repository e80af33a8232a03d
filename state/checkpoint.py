"""Recovery from a checkpoint, without I/O: which stored state to restore, and whether it fits.

A checkpoint is ``(seq, blob)``: ``Projector.snapshot()`` taken after folding record
``seq``. ``state/`` produces and restores the bytes; storing them belongs to the layer
that owns files (``recorder.journal.checkpoints``: an LMDB store and its in-memory twin).
Recovery = ``restore_newest(store, ...)`` + apply records ``seq + 1 ...``.
"""

from __future__ import annotations

from typing import Protocol

from .projector import Projector


class CheckpointSource(Protocol):
    """What recovery reads: ``recorder.journal.checkpoints.CheckpointStore`` has it."""

    def load(self, *, at_or_before: int | None = None) -> tuple[int, bytes] | None: ...


# What a projection's state depends on besides the records: a checkpoint taken with other
# values is not the state this projection would reach, so it is not used.
SETTINGS = ("depth_levels", "windows", "large_trade_quote", "spike_ratio")


def restore_newest(store: CheckpointSource, like: Projector, *, at_or_before: int,
                   streams: dict | None = None) -> tuple[int, Projector | None, str]:
    """The newest checkpoint at or before ``at_or_before``, restored: ``(seq, projector, "")``.

    ``(0, None, why)`` when that checkpoint cannot be used (the store does not read, the
    blob does not restore, or it was taken with settings other than ``like``'s);
    ``(0, None, "")`` when there is none. Recovery then projects from the first record.
    The restored projector is sync-only when ``like`` is (that is not in the snapshot).
    """
    try:
        got = store.load(at_or_before=at_or_before)
    except Exception as exc:  # noqa: BLE001 (an unreadable store: project from the start)
        return 0, None, f"checkpoints unreadable: {type(exc).__name__}: {exc}"
    if got is None:
        return 0, None, ""
    seq, blob = got
    try:
        p = Projector.restore(blob, streams, sync_only=like.sync_only)  # it copies streams
    except Exception as exc:  # noqa: BLE001
        return 0, None, f"checkpoint at seq {seq} does not restore: {type(exc).__name__}: {exc}"
    other = [f"{k} {getattr(p, k)!r}" for k in SETTINGS if getattr(p, k) != getattr(like, k)]
    if other:
        return 0, None, f"checkpoint at seq {seq} has other settings: {', '.join(other)}"
    return seq, p, ""
