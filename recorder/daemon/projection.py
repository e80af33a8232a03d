"""The projections inside the recorder: ``state.projector`` fed by the writer.

``LiveProjection`` subscribes to ``JournalWriter`` so each record is folded the moment
it has its seq, before the group commit: in-process consumers see state microseconds
after receipt. On start it recovers by re-projection: restore the newest checkpoint
(``DATA/state``, ``recorder.journal.checkpoints``, restored by ``state.checkpoint``) and
fold the journal from there, so the live state equals what a replay of the same journal
reaches. A projection failure never stops recording: it is logged, counted and the
projection is switched off.

``SyncProjection`` is what runs instead with ``[projection] enabled = false``: a
sync-only ``Projector`` (book snapshots and deltas, no checkpoints, started empty) over
the streams of venues with the snapshot capability, so the recorder still learns from
the one sync rule (``state.sync``) which books need a snapshot.

Both report each ``Gap`` as ``on_gap(gap, stream)``, ``stream`` being the record's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from recorder.journal import Record, StreamInfo
from recorder.journal.checkpoints import CheckpointStore, LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from state.checkpoint import restore_newest
from state.events import Event, Gap
from state.projector import Projector

from .logs import fields
from .ports import GapSink


def _malloc_trim() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, or a no-op where the C library has none (musl, macOS)."""
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):
        return lambda: 0
    fn.argtypes = [ctypes.c_size_t]
    return lambda: fn(0)


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the C allocator's free pages back to the system (all arenas).

    A checkpoint allocates a few times its blob for a moment (the symbols' states,
    msgpack's buffer, the result, LMDB's pages in the storing thread) and frees it all;
    glibc keeps most of that free memory inside its heaps, between live objects, so each
    checkpoint bigger than the last left the recorder's RSS a step higher (issue 18).
    Trimming after each stored checkpoint keeps RSS at what is in use.
    """
    _TRIM()


class LiveProjection:
    """Folds every appended record; reports gaps through ``on_gap(gap, stream)``.

    A hook may fold through something built on ``projector`` instead (``set_fold``: the
    InfluxDB feed's deriver, which samples rows as it folds).
    """

    def __init__(self, *, data_dir: str, depth_levels: int, log: logging.Logger,
                 on_gap: GapSink,
                 checkpoint_every_records: int, checkpoint_every_s: float,
                 checkpoints: CheckpointStore | None = None,
                 trim: Callable[[], object] = release_free_memory) -> None:
        self.data_dir = data_dir
        self.checkpoints = checkpoints or LmdbCheckpointStore.of_data_dir(data_dir)
        self.depth_levels = depth_levels
        self.log = log
        self.on_gap = on_gap
        self.every_records = checkpoint_every_records
        self.every_s = checkpoint_every_s
        self.trim = trim  # after each stored checkpoint (``release_free_memory``)
        self.projector = Projector({}, depth_levels=depth_levels)
        self.frames = 0
        self.failed: str | None = None
        self.checkpoint_seq = 0
        self._checkpoint_at = time.monotonic()
        self._store_lock = threading.Lock()
        self.listeners: list[Callable[[Record], None]] = []  # after each fold (benchmarks, UIs)
        # after each fold, with the events it made (the live table publishes what they name)
        self.fold_listeners: list[Callable[[Record, list[Event]], None]] = []
        self._fold: Callable[[Record], Iterable[Event]] = self.projector.apply

    # -- recovery -------------------------------------------------------------------

    def recover(self, streams: dict[int, StreamInfo]) -> int:
        """Restore the newest checkpoint and fold the committed journal after it.

        Returns the number of records re-projected. Call before subscribing to the writer.
        """
        start = 1
        n = 0
        try:
            with JournalReader(self.data_dir) as reader:
                last = reader.last_seq
                seq, restored, why = restore_newest(self.checkpoints, self.projector, at_or_before=last,
                                                    streams=streams)
                if restored is not None:
                    self.projector, self.checkpoint_seq, start = restored, seq, seq + 1
                    self._fold = self.projector.apply
                elif why:  # re-project from the start instead
                    self.log.warning("checkpoint_unreadable", extra=fields(error=why))
                self.projector.streams.update(streams)
                if last >= start:
                    self.projector.apply_many(reader.read(max(start, reader.first_seq)))
                    n = last - start + 1
        except Exception as exc:  # noqa: BLE001 (recording matters more than state)
            self._fail(f"recovery failed: {type(exc).__name__}: {exc}")
        self.log.info("projection_recovered", extra=fields(
            checkpoint_seq=self.checkpoint_seq, from_seq=start, records=n,
            last_seq=self.projector.last_seq))
        return n

    # -- live -----------------------------------------------------------------------

    def add_stream(self, info: StreamInfo) -> None:
        self.projector.add_stream(info)

    def set_fold(self, fold: Callable[[Record], Iterable[Event]]) -> None:
        """Fold each record through ``fold`` from now on (call after ``recover``).

        ``fold(rec)`` must fold ``rec`` into ``self.projector`` and return the events that
        produced, at least its ``Gap`` events: they drive the snapshot fetches.
        """
        self._fold = fold

    def __call__(self, rec: Record) -> None:
        if self.failed is not None:
            return
        try:
            events = self._fold(rec)
        except Exception as exc:  # noqa: BLE001 (never let state stop the recorder)
            self._fail(f"seq {rec.seq}: {type(exc).__name__}: {exc}")
            return
        if rec.kind == "frame":
            self.frames += 1
        if type(events) is not list:
            events = list(events)
        for ev in events:
            if type(ev) is Gap:
                self.on_gap(ev, rec.stream)
        for fn in self.listeners:
            fn(rec)
        for fl in self.fold_listeners:
            fl(rec, events)

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

    def checkpoint_due(self, *, force: bool = False) -> bool:
        """True when a checkpoint should be taken now (by records or by time)."""
        p = self.projector
        if self.failed is not None or p.last_seq <= self.checkpoint_seq:
            return False
        return (force or p.last_seq - self.checkpoint_seq >= self.every_records
                or time.monotonic() - self._checkpoint_at >= self.every_s)

    def capture(self) -> tuple[int, bytes] | None:
        """``(seq, state bytes)`` now; call on the thread that appends (nothing folds meanwhile).

        After calling this: wait until the journal has committed ``seq``, then ``store``.
        None (logged) when the state cannot be serialized: recording goes on, and the
        next checkpoint is tried an interval later.
        """
        self._checkpoint_at = time.monotonic()  # due again one interval later, stored or not
        p = self.projector
        try:
            return p.last_seq, p.snapshot()
        except Exception as exc:  # noqa: BLE001 (state is rebuilt from the journal anyway)
            self.log.warning("checkpoint_failed", extra=fields(seq=p.last_seq,
                                                                error=f"{type(exc).__name__}: {exc}"))
            return None

    def store(self, seq: int, blob: bytes, *, committed_seq: int) -> bool:
        """Save a captured checkpoint (any thread); True when written.

        Refused unless ``committed_seq >= seq``: a checkpoint never describes records that
        a crash could lose, or recovery would start from a state the journal cannot explain.
        """
        if seq > committed_seq:
            return False
        with self._store_lock:  # one LMDB environment open per process at a time
            if seq <= self.checkpoint_seq:
                return False
            try:
                self.checkpoints.save(seq, blob)
            except Exception as exc:  # noqa: BLE001 (state is rebuilt from the journal anyway)
                self.log.warning("checkpoint_failed", extra=fields(seq=seq, error=str(exc)))
                return False
            self.checkpoint_seq = seq
        self.trim()  # the checkpoint's transient copies are free: hand their pages back
        self.log.info("checkpoint", extra=fields(seq=seq, bytes=len(blob)))
        return True


class SyncProjection:
    """Book sync only, for the recorder whose full projection is off; see the module docstring.

    ``venues`` maps each venue with the snapshot capability to its ``book_frame`` test
    (``VenueDescriptor.book_frame``, None: every frame): only the records of their streams
    are folded, and of their frames only those that may carry book data, through a
    sync-only ``Projector``. Each ``Gap`` is reported as ``on_gap(gap, stream)``. A
    failure (a bug in the fold) is logged once and switches it off, like the live one.
    """

    def __init__(self, venues: Mapping[str, Callable[[bytes], bool] | None], *,
                 log: logging.Logger, on_gap: GapSink) -> None:
        self.venues = dict(venues)
        self.log = log
        self.on_gap = on_gap
        self.projector = Projector({}, sync_only=True)
        self._book_frame: dict[int, Callable[[bytes], bool] | None] = {}  # by stream
        self.failed: str | None = None

    def add_stream(self, info: StreamInfo) -> None:
        if info.venue in self.venues:
            self.projector.add_stream(info)
            self._book_frame[info.id] = self.venues[info.venue]

    def __call__(self, rec: Record) -> None:
        if self.failed is not None:
            return
        try:
            test = self._book_frame[rec.stream]
        except KeyError:
            return  # a venue without snapshots
        if test is not None and rec.kind == "frame" and not test(rec.payload):
            return
        try:
            events = self.projector.apply(rec)
        except Exception as exc:  # noqa: BLE001 (never let state stop the recorder)
            self.failed = f"seq {rec.seq}: {type(exc).__name__}: {exc}"
            self.log.error("sync_projection_stopped", extra=fields(reason=self.failed))
            return
        for ev in events:
            if type(ev) is Gap:
                self.on_gap(ev, rec.stream)
