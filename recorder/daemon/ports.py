"""The narrow interfaces the daemon's parts depend on, instead of the ``Recorder``.

    Journal        register streams, append records, annotate (event-loop thread)
    Lifecycle      stop requests and stop-aware waiting
    Resync         what a supervisor says about its diff books: (re)connected, rotating
    SnapshotQueue  one venue's snapshot fetcher as the resync sees it: request, pending
    Counters       the counts kept outside connections and fetchers (REST calls, gaps)
    Status         read-only figures for the metrics endpoint and the dashboard (any thread)
    LiveState      the live projection as a hook sees it (the InfluxDB feed folds through it)
    Hook           a job run beside the recording, registered from outside ``recorder``
                   (nightly compaction, the InfluxDB feed); built from a ``HookContext``

Each is a ``typing.Protocol``: the ``Recorder`` wires the real parts together and a
test hands a part small fakes. A hook is written against these shapes without
importing this module (``query`` may not import the daemon): ``Hook.samples`` returns
plain tuples in ``Sample``'s field order, and everything a hook is given is read by
attribute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from recorder.journal import JournalWriteError, Record
    from state.events import Event
    from state.projector import Projector

# -- the journal --------------------------------------------------------------------------


class Journal(Protocol):
    """The journal as the daemon's parts use it (event-loop thread only).

    ``append`` and ``mark`` never raise: a journal failure stops the daemon (exit 1) and
    the record is dropped. The receive hot path uses ``append_frame`` (the writer's own
    append, which raises ``JournalWriteError``) and reports a failure to ``failed``.
    """

    def register(self, venue: str, *, url: str, conn: str, channels: tuple[str, ...],
                 market: str | None = None) -> int:
        """A new stream id for one connection lifetime (or a venue's REST calls); ``market``
        (None: the venue descriptor's) is the stream table's market."""
        ...

    def append(self, sid: int, kind: str, payload: bytes,
               meta: dict[str, Any] | None = None) -> None: ...

    def mark(self, sid: int, text: str, **fields: Any) -> None:
        """A ``mark`` record: ``{"mark": text, **fields}`` as sorted JSON."""
        ...

    def append_frame(self, stream: int, kind: str, payload: bytes, *,
                     meta: dict[str, Any] | None = None) -> Record:
        """``JournalWriter.append``: the record with its seq, or ``JournalWriteError``."""
        ...

    def failed(self, exc: JournalWriteError) -> None: ...


class JournalView(Protocol):
    """Read-only figures of the journal writer (``JournalWriter`` has them all)."""

    last_seq: int
    committed_seq: int
    pending: int
    max_pending: int
    commits: int
    last_ts_ns: int


# -- running and stopping ----------------------------------------------------------------


class Lifecycle(Protocol):
    """Stop requests; ``stop_future`` is done once a stop was requested."""

    @property
    def stopping(self) -> bool: ...

    @property
    def stop_future(self) -> asyncio.Future[None]: ...

    def request_stop(self) -> None: ...

    async def wait_stop(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was requested meanwhile."""
        ...


# -- snapshots ---------------------------------------------------------------------------


class Resync(Protocol):
    """What a supervisor tells about the diff books its connections carry."""

    def hold(self, venue: str, symbols: Sequence[str]) -> None:
        """Breaks of these books are expected: a connection carrying them opens (its first
        diffs cannot continue the old chain), or a rotation overlaps two connections."""
        ...

    def release(self, venue: str, symbols: Sequence[str], *, fresh: bool) -> None:
        """The hold ends. ``fresh``: a new connection delivers them, fetch their snapshots;
        else fetch only those that broke meanwhile."""
        ...


class SnapshotQueue(Protocol):
    """One venue's snapshot fetcher, as the resync uses it."""

    def request(self, symbol: str, reason: str) -> None:
        """Fetch a snapshot of ``symbol`` (coalesced with one already pending)."""
        ...

    def pending(self, symbol: str) -> bool:
        """True from ``request`` until the snapshot is about to be journaled (or given up)."""
        ...


GapSink = Callable[[Any, int], None]  # (state.events.Gap, stream id of the record)


# -- counting and reading ----------------------------------------------------------------


class Counters(Protocol):
    """The counts kept outside connections and fetchers (``recorder.daemon.metrics.Metrics``)."""

    def rest(self, venue: str, path: str, status: str) -> None: ...

    def gap(self, venue: str, symbol: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamCount:
    """Records and payload bytes journaled on one stream, of one kind."""

    venue: str
    conn: str
    stream: int
    kind: str
    records: int
    bytes: int


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One supervised connection slot."""

    name: str
    venue: str
    up: bool
    links: int  # open connections: 2 while a rotation overlaps
    failed: str | None  # the error class that made the slot give up, else None
    down_s: float  # seconds since it was last up (0 while up)
    stream: int | None  # stream id of the newest connection
    frames: int  # over every connection the slot ever had
    bytes: int
    reconnects: int
    rotations: int
    stale: int
    live_changes: int = 0  # subscription changes sent on the open connection
    live_refused: int = 0  # of them refused by the venue (or unanswered)


@dataclass(frozen=True, slots=True)
class SnapshotStatus:
    venue: str
    symbol: str
    fetched: int
    queued: bool
    calls: int  # REST calls of the venue's fetcher


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    state: str  # "live" or why it stopped
    frames: int  # frames folded
    findings: dict[str, int]  # validation findings by kind


class Sample(NamedTuple):
    """One metric sample from a hook (a hook returns plain tuples in this order)."""

    name: str  # e.g. "ticktape_compaction_runs" (a counter gets "_total" when served)
    kind: str  # "counter" or "gauge"
    help: str
    labels: dict[str, str]
    value: float


class Status(Protocol):
    """What the metrics endpoint and the dashboard read; safe from any thread."""

    config_hash: str

    @property
    def journal(self) -> JournalView: ...

    def streams(self) -> list[StreamCount]: ...

    def connections(self, now: float) -> list[ConnectionStatus]:
        """``now``: ``time.monotonic()``, for the down time."""
        ...

    def snapshots(self) -> list[SnapshotStatus]: ...

    def projection(self) -> ProjectionStatus | None: ...

    def hook_samples(self) -> list[Sample]: ...


# -- hooks -------------------------------------------------------------------------------


class LiveState(Protocol):
    """The live projection as a hook sees it."""

    projector: Projector
    depth_levels: int

    def set_fold(self, fold: Callable[[Record], Iterable[Event]]) -> None:
        """Fold each record through ``fold`` (built on ``projector``) instead of ``apply``.

        ``fold(rec)`` must fold ``rec`` into ``projector`` and return the events that
        produced, at least its ``Gap`` events (they drive the snapshot fetches).
        """
        ...


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is built from (on the event loop, before any connection opens).

    ``settings`` is the hook's own config section (``[compaction]``, ``[influx]``), read by
    attribute; ``log`` the daemon's JSON logger (pass ``extra={"fields": {...}}``);
    ``projection`` the live projection, None when ``[projection] enabled = false``;
    ``release_segment(day)`` closes the writer's segment of a journal day before the
    day is deleted (any thread).
    """

    name: str
    data_dir: str
    settings: Any
    log: logging.Logger
    journal: JournalView
    projection: LiveState | None
    release_segment: Callable[[str], None]


class Hook(Protocol):
    """A job beside the recording; no call may stop the recording (failures are logged).

    The daemon, in order: builds it (``factory(context)``, event loop), polls ``ready``
    every quarter second until True, then runs ``start`` once in a worker thread; from
    then on ``tick`` every quarter second on the event loop (the thread that appends).
    At stop: ``stop`` on the loop before the journal closes, ``close`` in a worker thread
    after it closed. A hook that raises from ``start`` or ``tick`` is logged
    (``<name>_unavailable`` / ``<name>_failed``) and dropped.
    """

    name: str

    def ready(self) -> bool: ...

    def start(self) -> None: ...

    def tick(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def samples(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]: ...

    def stats(self) -> dict[str, Any]: ...


HookFactory = Callable[[HookContext], Hook]
