"""One ordered source of records: archive days, then journal segments, in seq order.

    src = HistoricalSource(data_dir, start=parse_bound("2025-01-01"), end=None, venues={"upbit"})
    for record in src: ...          # constant memory, seq order, venue-filtered
    src.stream(record.stream)       # the StreamInfo of any record it yields
    HistoricalSource(MemorySource(records, streams), end=Bound(seq=100))   # any RecordSource

The live tail (paper trading) is ``replay.live.LiveSource``, a subclass.

Bounds are a seq (``123``), a UTC date (``2025-01-01``) or an ISO time
(``2025-01-01T09:30:00Z``, UTC unless it says otherwise). ``start`` is inclusive;
``end`` is inclusive for a seq and exclusive for a time or date (``--to 2025-01-02``
means up to the end of the 1st).

Records come from a ``RecordSource`` (``recorder.journal.source``). Given a data
directory, it is the archive (``query.archive.ArchiveSource``, the days compacted by
``query.compact``, a row group at a time) chained in front of the journal
(``JournalReader``), which continues after the last archived seq (a day kept in the
journal after compaction is read once, from the archive); streams of pruned days stay
known through the archive's streams table. An archive alone (``open_archive``: an S3 URL or a directory) is a
``RecordSource`` too; several shards there are merged by receive time (``replay.merge``).
Symbol filtering is not done here: one frame
may carry many symbols, so the engine filters events, not records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from query.archive import ArchiveSource, check_disjoint_streams
from query.errors import ArchiveError, QueryError
from query.store import ArchiveStore, open_store
from recorder.journal import JournalError, Record, StreamInfo
from recorder.journal.display import iso_ns, parse_iso_ns
from recorder.journal.reader import JournalReader
from recorder.journal.source import RecordSource

from .errors import BoundError, UnknownMarketError
from .merge import MergedSource


@dataclass(frozen=True)
class Bound:
    """A point in the record order: a seq, or a receive time in ns."""

    seq: int | None = None
    ts_ns: int | None = None

    def __str__(self) -> str:
        return f"seq {self.seq}" if self.seq is not None else f"ts_ns {self.ts_ns}"


def parse_bound(text: str) -> Bound:
    """``"123"`` -> seq 123; ``"2025-01-01"`` or an ISO time -> ts_ns (UTC if naive).

    Raises ``BoundError`` for anything else.
    """
    t = text.strip()
    if t.isdigit():
        return Bound(seq=int(t))
    try:
        return Bound(ts_ns=parse_iso_ns(t))
    except ValueError:
        raise BoundError(f"not a seq, date or ISO time: {text!r}") from None


def iso(ts_ns: int) -> str:
    """``2024-08-08T23:54:15.030Z`` (UTC, ms); ``-`` for 0."""
    return iso_ns(ts_ns or None, digits=3)


def said(bound: Bound | None) -> str:
    """A bound as a command line says it: ``seq 12`` or its ISO time."""
    if bound is None:
        return "-"
    return f"seq {bound.seq}" if bound.seq is not None else iso(bound.ts_ns or 0)


def check_range(start: Bound | None, end: Bound | None) -> None:
    """Raise ``BoundError`` when ``start`` is after ``end`` (both seqs, or both times).

    Such a range selects nothing: said as an error rather than run as an empty period.
    """
    if start is None or end is None:
        return
    if start.seq is not None and end.seq is not None and start.seq > end.seq:
        raise BoundError(f"--from seq {start.seq} is after --to seq {end.seq}")
    if start.ts_ns is not None and end.ts_ns is not None and start.ts_ns >= end.ts_ns:
        raise BoundError("--from is not before --to (a time --to is exclusive)")


class ChainedSource:
    """Several ``RecordSource``s as one: each continues after the last seq of the ones before.

    What the archive and the journal of one data directory are together: the journal may
    still hold days the archive has (before pruning); they are read once, from the
    earlier part. ``streams()`` merges them, a later part's entry winning (the journal's
    own table over the archive's copy). The last part is read to its current end even
    if it grew since it was asked for its ``last_seq`` (a journal being written).
    """

    def __init__(self, parts: Sequence[RecordSource]) -> None:
        self.parts = list(parts)

    @property
    def first_seq(self) -> int:
        return min((p.first_seq for p in self.parts if p.first_seq), default=0)

    @property
    def last_seq(self) -> int:
        return max((p.last_seq for p in self.parts), default=0)

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        next_seq = max(from_seq, 1)
        for i, part in enumerate(self.parts):
            last = part.last_seq
            final = i == len(self.parts) - 1
            if not final and last < next_seq:
                continue
            if to_seq is not None and next_seq > to_seq:
                return
            for rec in part.read(next_seq, to_seq, from_ts_ns=from_ts_ns, to_ts_ns=to_ts_ns):
                next_seq = rec.seq + 1
                yield rec
            next_seq = max(next_seq, last + 1)

    def seq_at_time(self, ts_ns: int) -> int | None:
        floor = 0  # a later part counts only after the seqs of the ones before
        for part in self.parts:
            at = part.seq_at_time(ts_ns)
            if at is not None and at > floor:
                return at
            floor = max(floor, part.last_seq)
        return None

    def streams(self) -> dict[int, StreamInfo]:
        out: dict[int, StreamInfo] = {}
        for part in self.parts:
            out.update(part.streams())
        return out

    def stream(self, stream_id: int) -> StreamInfo | None:
        for part in reversed(self.parts):
            info = part.stream(stream_id)
            if info is not None:
                return info
        return None

    def close(self) -> None:
        for part in self.parts:
            part.close()


def open_data_dir(data_dir: str | os.PathLike[str]) -> tuple[RecordSource | None, JournalReader]:
    """(the archive or None when nothing is archived, the journal) of a data directory.

    Raises ``NotAJournalError`` when ``data_dir`` holds no journal.
    """
    reader = JournalReader(data_dir)
    try:
        archive = ArchiveSource(data_dir) if (Path(data_dir) / "archive").exists() else None
    except BaseException:
        reader.close()
        raise
    return (archive if archive is not None and archive.last_seq else None), reader


def open_archive(archive: str | os.PathLike[str] | ArchiveStore) -> RecordSource:
    """The records of an archive root (``s3://bucket/prefix``, a directory or a store).

    One shard (or an unsharded archive): its ``ArchiveSource``. Several shards
    (``ROOT/shard=NAME/``): one ``MergedSource`` over them, ordered by
    ``(ts_ns, shard name, seq)`` (``replay.merge``). Raises ``ArchiveError`` when the
    root holds no manifest, or two shards share a stream id.
    """
    root = archive if isinstance(archive, ArchiveStore) else open_store(archive)
    shards = root.shards()
    if not shards:
        root.check_read()  # a missing bucket is said as such
        raise ArchiveError(f"{root.url}: no archive there (no manifest.json)")
    if len(shards) == 1:
        return ArchiveSource(root.shard(shards[0]))
    parts = {s: ArchiveSource(root.shard(s)) for s in shards}
    check_disjoint_streams({s: p.streams() for s, p in parts.items()})
    return MergedSource(parts)


class HistoricalSource:
    """Records recorded so far in ``[start, end]`` in seq order, of ``venues`` only (None: all).

    ``data``: a data directory (its archive first, then its journal) or any
    ``RecordSource``. After use: ``close()`` (or use it as a context manager), which
    closes what it opened for a data directory; a source it was given stays open (its
    owner closes it). ``source`` is the whole source read, ``reader`` the journal (None
    when a ``RecordSource`` other than a ``JournalReader`` was given), ``history`` what
    comes before the journal (the archive, or a given source that is no journal).
    """

    def __init__(self, data: str | os.PathLike[str] | RecordSource, *, start: Bound | None = None,
                 end: Bound | None = None, venues: Iterable[str] | None = None) -> None:
        self.start = start or Bound(seq=1)
        self.end = end
        self.venues = frozenset(venues) if venues else None
        self.history: RecordSource | None
        self.reader: JournalReader | None
        self.data_dir: Path | None
        self._owned = not isinstance(data, RecordSource)
        if not self._owned:
            self.data_dir = None
            self.reader = data if isinstance(data, JournalReader) else None
            self.history = None if self.reader is not None else data
        else:
            self.data_dir = Path(data)
            self.history, self.reader = open_data_dir(data)
        parts = [p for p in (self.history, self.reader) if p is not None]
        self.source: RecordSource = parts[0] if len(parts) == 1 else ChainedSource(parts)
        self._streams = self.source.streams()

    # -- streams -----------------------------------------------------------------------

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        info = self._streams.get(stream_id)
        if info is None:
            info = self.source.stream(stream_id)
            if info is not None:
                self._streams[stream_id] = info
        return info

    def _wanted(self) -> Callable[[int], bool]:
        """A fast stream filter by venue (cached per stream id)."""
        if self.venues is None:
            return lambda _sid: True
        cache: dict[int, bool] = {}
        venues = self.venues

        def wanted(sid: int) -> bool:
            ok = cache.get(sid)
            if ok is None:
                info = self.stream(sid)
                ok = cache[sid] = info is not None and info.venue in venues
            return ok

        return wanted

    # -- bounds ------------------------------------------------------------------------

    def _kwargs(self) -> dict[str, int | None]:
        return {
            "from_seq": self.start.seq or 1,
            "to_seq": self.end.seq if self.end else None,
            "from_ts_ns": self.start.ts_ns,
            "to_ts_ns": self.end.ts_ns if self.end else None,
        }

    def start_seq(self) -> int:
        """Seq of the first record at or after ``start`` (``last_seq + 1`` when none is yet)."""
        src = self.source
        first = max(self.start.seq or 1, src.first_seq)
        if self.start.ts_ns is not None:
            first = max(first, src.seq_at_time(self.start.ts_ns) or (src.last_seq + 1))
        return first

    def end_seq(self) -> int:
        """Seq of the last record before ``end`` held now (the source's last without ``end``)."""
        src = self.source
        last = src.last_seq
        if self.end is not None and self.end.seq is not None:
            last = min(last, self.end.seq)
        elif self.end is not None and self.end.ts_ns is not None:
            at = src.seq_at_time(self.end.ts_ns)
            if at is not None:
                last = min(last, at - 1)
        return last

    def estimate(self) -> int:
        """Records the source will read (for a progress bar), venues not counted."""
        return max(0, self.end_seq() - self.start_seq() + 1)

    # -- what the filters select -------------------------------------------------------

    def where(self) -> str:
        return str(self.data_dir) if self.data_dir is not None else "the source"

    def holds(self) -> str:
        """What the source holds, said for an error: ``seq 1..9 (<first time> .. <last time>)``."""
        src = self.source
        if not src.last_seq:
            return "no records"

        def time_of(seq: int) -> str:
            try:
                rec = next(iter(src.read(seq, seq)), None)
            except (JournalError, QueryError, OSError):  # a damaged record: its time is not known
                return "-"
            return iso(rec.ts_ns) if rec is not None else "-"

        return f"seq {src.first_seq}..{src.last_seq} ({time_of(src.first_seq)} .. {time_of(src.last_seq)})"

    def check_selection(self, *, live: bool = False) -> None:
        """Raise when the filters can select no record instead of running over none.

        ``UnknownMarketError`` for a venue no stream is of (naming the venues there);
        ``BoundError`` (not for a ``live`` feed, which waits for records to come) when the
        source is empty or ``start`` is past its end or after ``end`` (naming its range).
        """
        if self.venues is not None:
            known = sorted({info.venue for info in self._streams.values()})
            missing = sorted(self.venues.difference(known))
            if missing:
                raise UnknownMarketError(f"no venue {', '.join(missing)} in {self.where()} "
                                         f"(venues: {', '.join(known) or 'none'})")
        if live:
            return
        if not self.source.last_seq:
            raise BoundError(f"{self.where()} holds no records")
        first, last = self.start_seq(), self.end_seq()
        if first <= last:
            return
        if first > self.source.last_seq:
            what = f"--from {said(self.start)} is after the last record"
        else:  # cut off by the end
            what = f"--to {said(self.end)} selects no record from {said(self.start)} on"
        raise BoundError(f"{what}: {self.where()} holds {self.holds()}")

    # -- reading -----------------------------------------------------------------------

    def _records(self) -> Iterator[Record]:
        return self.source.read(**self._kwargs())  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Record]:
        if self.venues is None:
            yield from self._records()
            return
        wanted = self._wanted()
        for rec in self._records():
            if wanted(rec.stream):
                yield rec

    def close(self) -> None:
        if self._owned:
            self.source.close()

    def __enter__(self) -> HistoricalSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@runtime_checkable
class Feed(Protocol):
    """What a run iterates: records in seq order, with the streams they belong to.

    ``HistoricalSource``, ``LiveSource`` and the CLI's paced wrapper are feeds; a
    ``RecordSource`` becomes one as ``HistoricalSource(source)``.
    """

    def __iter__(self) -> Iterator[Record]: ...

    def streams(self) -> dict[int, StreamInfo]: ...

    def stream(self, stream_id: int) -> StreamInfo | None: ...
