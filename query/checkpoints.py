"""The archive's day-end checkpoints as a ``state.checkpoint.CheckpointSource``.

Compaction keeps, per archived day, the deriver's state at the end of the day
(``checkpoints/date=D/state.bin``: the projector's snapshot and the sampling state). Its
projector part is the state after the day's last record (the determinism tests prove
restore == fold), so replay over an archive alone (``replay --archive``) starts warm from
it as it does from the recorder's own checkpoints (``DATA/state``):

    store = ArchiveCheckpoints(open_store("s3://bucket/desk"))
    store.load(at_or_before=seq)     # (the day's last seq, projector snapshot) or None

Only for one shard's archive: its seqs are the records' own. ``restore_newest`` still
refuses a snapshot taken with other projection settings.
"""

from __future__ import annotations

import os

import msgspec

from . import manifest as _manifest
from .errors import ArchiveError
from .store import ArchiveStore, as_store


class ArchiveCheckpoints:
    """Day-end projector snapshots of one archive (read when asked; the manifest as it was at creation)."""

    def __init__(self, where: str | os.PathLike[str] | ArchiveStore) -> None:
        self.store = as_store(where)
        m = _manifest.load(self.store)
        self._days = [(m["days"][d]["last_seq"], m["days"][d]["checkpoint"]["path"])
                      for d in _manifest.days(m) if m["days"][d].get("checkpoint")]

    def seqs(self) -> list[int]:
        """The seqs checkpoints were taken after, oldest first."""
        return [s for s, _ in self._days]

    def load(self, *, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        """(seq, projector snapshot) of the newest day-end at or before ``at_or_before``, or None."""
        fit = [d for d in self._days if at_or_before is None or d[0] <= at_or_before]
        if not fit:
            return None
        seq, rel = fit[-1]
        blob = self.store.read_bytes(rel)
        if blob is None:
            raise ArchiveError(f"{self.store.where(rel)}: listed in the manifest but missing")
        try:
            projector, _sampling = msgspec.msgpack.decode(blob)
        except (msgspec.DecodeError, ValueError, TypeError):
            raise ArchiveError(f"{self.store.where(rel)}: not a deriver checkpoint") from None
        return seq, projector
