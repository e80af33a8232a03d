"""The live projection inside the recorder: ``state.projector`` fed by the writer.

It subscribes to ``JournalWriter`` so each record is folded the moment it has its seq,
before the group commit: in-process consumers see state microseconds after receipt.
On start it recovers by re-projection: restore the newest checkpoint (when ``state``
provides checkpoints) and fold the journal from there, so the live state equals what
a replay of the same journal reaches. A projection failure never stops recording:
it is logged, counted and the projection is switched off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from recorder.journal import JournalReader, Record, StreamInfo
from state.events import Gap
from state.projector import Projector

from .logs import fields

try:  # checkpoints are state's (a colleague's module); recovery works without them
    from state import checkpoint as _checkpoint
except ImportError:  # pragma: no cover - depends on state's progress
    _checkpoint = None


class LiveProjection:
    """Folds every appended record; reports gaps through ``on_gap(event, record)``."""

    def __init__(self, *, data_dir: str, depth_levels: int, log: logging.Logger,
                 on_gap: Callable[[Gap, Record], None],
                 checkpoint_every_records: int, checkpoint_every_s: float) -> None:
        self.data_dir = data_dir
        self.depth_levels = depth_levels
        self.log = log
        self.on_gap = on_gap
        self.every_records = checkpoint_every_records
        self.every_s = checkpoint_every_s
        self.projector = Projector({}, depth_levels=depth_levels)
        self.frames = 0
        self.failed: str | None = None
        self.checkpoint_seq = 0
        self._checkpoint_at = time.monotonic()
        self.listeners: list[Callable[[Record], None]] = []  # after each fold (benchmarks, UIs)

    # -- recovery -------------------------------------------------------------------

    def recover(self, streams: dict[int, StreamInfo]) -> int:
        """Restore the newest checkpoint and fold the committed journal after it.

        Returns the number of records re-projected. Call before subscribing to the writer.
        """
        start = 1
        if _checkpoint is not None:
            got = self._load_checkpoint(streams)
            if got is not None:
                self.projector, start = got[0], got[1] + 1
                self.checkpoint_seq = got[1]
        self.projector.streams.update(streams)
        n = 0
        try:
            with JournalReader(self.data_dir) as reader:
                if reader.last_seq >= start:
                    self.projector.apply_many(reader.read(max(start, reader.first_seq)))
                    n = reader.last_seq - start + 1
        except Exception as exc:  # noqa: BLE001 (recording matters more than state)
            self._fail(f"recovery failed: {type(exc).__name__}: {exc}")
        self.log.info("projection_recovered", extra=fields(from_seq=start, records=n,
                                                             last_seq=self.projector.last_seq))
        return n

    def _load_checkpoint(self, streams: dict[int, StreamInfo]) -> tuple[Projector, int] | None:
        load = getattr(_checkpoint, "load_latest", None)
        if load is None:
            return None
        try:
            got = load(self.data_dir, streams)
        except Exception as exc:  # noqa: BLE001 (a bad checkpoint: re-project from the start)
            self.log.warning("checkpoint_unreadable", extra=fields(error=str(exc)))
            return None
        return got

    # -- live -----------------------------------------------------------------------

    def add_stream(self, info: StreamInfo) -> None:
        self.projector.add_stream(info)

    def __call__(self, rec: Record) -> None:
        if self.failed is not None:
            return
        try:
            events = self.projector.apply(rec)
        except Exception as exc:  # noqa: BLE001 (never let state stop the recorder)
            self._fail(f"seq {rec.seq}: {type(exc).__name__}: {exc}")
            return
        if rec.kind == "frame":
            self.frames += 1
        for ev in events:
            if type(ev) is Gap:
                self.on_gap(ev, rec)
        for fn in self.listeners:
            fn(rec)

    def _fail(self, why: str) -> None:
        self.failed = why
        self.log.error("projection_stopped", extra=fields(reason=why))

    def validation_counts(self) -> dict[str, int]:
        """Projection findings summed over streams: decode errors and anomaly kinds."""
        out: dict[str, int] = {}
        for counts in list(self.projector.counters.values()):
            for kind, n in counts.items():
                if kind in ("records", "events", "gap"):
                    continue
                out[kind] = out.get(kind, 0) + n
        return out

    # -- checkpoints ----------------------------------------------------------------

    def maybe_checkpoint(self, *, committed_seq: int, force: bool = False) -> bool:
        """Save a checkpoint when due (by records or time); True when one was written."""
        if _checkpoint is None or self.failed is not None:
            return False
        p = self.projector
        due = (p.last_seq - self.checkpoint_seq >= self.every_records
               or time.monotonic() - self._checkpoint_at >= self.every_s)
        if not (force or due) or p.last_seq <= self.checkpoint_seq:
            return False
        if p.last_seq > committed_seq:
            # A checkpoint must never describe records that are not durable yet.
            return False
        save: Any = getattr(_checkpoint, "save", None)
        if save is None:
            return False
        try:
            save(self.data_dir, p)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("checkpoint_failed", extra=fields(error=str(exc)))
            return False
        self.checkpoint_seq = p.last_seq
        self._checkpoint_at = time.monotonic()
        self.log.info("checkpoint", extra=fields(seq=p.last_seq))
        return True
