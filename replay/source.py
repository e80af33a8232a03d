"""One ordered source of records: archive days, then journal segments, in seq order.

    src = HistoricalSource(data_dir, start=parse_bound("2025-01-01"), end=None, venues={"upbit"})
    for record in src: ...          # constant memory, seq order, venue-filtered
    src.stream(record.stream)       # the StreamInfo of any record it yields

The live tail (paper trading) is ``replay.live.LiveSource``, a subclass.

Bounds are a seq (``123``), a UTC date (``2025-01-01``) or an ISO time
(``2025-01-01T09:30:00Z``, UTC unless it says otherwise). ``start`` is inclusive;
``end`` is inclusive for a seq and exclusive for a time or date (``--to 2025-01-02``
means up to the end of the 1st).

The archive seam: when ``data_dir/archive`` holds days compacted by ``query.compact``,
``query.archive.read_records`` gives the records of those days first (a row group
at a time, so memory stays flat) and the journal continues after the last archived
seq (a day kept in the journal after compaction is read once, from the archive).
Streams of pruned days stay known through the archive's streams table. Symbol
filtering is not done here: one frame may carry many symbols, so the engine filters
events, not records.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder.journal import Record, StreamInfo
from recorder.journal.reader import JournalReader


@dataclass(frozen=True)
class Bound:
    """A point in the record order: a seq, or a receive time in ns."""

    seq: int | None = None
    ts_ns: int | None = None

    def __str__(self) -> str:
        return f"seq {self.seq}" if self.seq is not None else f"ts_ns {self.ts_ns}"


def parse_bound(text: str) -> Bound:
    """``"123"`` -> seq 123; ``"2025-01-01"`` or an ISO time -> ts_ns (UTC if naive)."""
    t = text.strip()
    if t.isdigit():
        return Bound(seq=int(t))
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a seq, date or ISO time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    whole = int(dt.replace(microsecond=0).timestamp())
    return Bound(ts_ns=whole * 1_000_000_000 + dt.microsecond * 1000)


def _archive_module() -> Any | None:
    """``query.archive`` if the query engineer's archive reader is installed."""
    try:
        mod = importlib.import_module("query.archive")
    except ImportError:
        return None
    if not (hasattr(mod, "read_records") and hasattr(mod, "archived_range")):
        return None
    return mod


def _range_seqs(rng: Any) -> tuple[int, int] | None:
    """(first_seq, last_seq) of whatever ``archived_range`` returns, or None if empty."""
    if not rng:
        return None
    if isinstance(rng, tuple | list) and len(rng) >= 2 and all(isinstance(x, int) for x in rng[:2]):
        first, last = rng[0], rng[1]
    else:
        first, last = getattr(rng, "first_seq", 0), getattr(rng, "last_seq", 0)
    return (first, last) if last else None


class HistoricalSource:
    """Records recorded so far in ``[start, end]``, archive first, then the journal.

    After use: ``close()`` (or use it as a context manager).
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, start: Bound | None = None,
                 end: Bound | None = None, venues: Iterable[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.start = start or Bound(seq=1)
        self.end = end
        self.venues = frozenset(venues) if venues else None
        self.reader = JournalReader(self.data_dir)
        self._archive = _archive_module()
        self._archived = None
        self._streams: dict[int, StreamInfo] = self.reader.streams()
        if self._archive is not None and (self.data_dir / "archive").exists():
            self._archived = _range_seqs(self._archive.archived_range(self.data_dir))
            read_streams = getattr(self._archive, "read_streams", None)
            if self._archived is not None and read_streams is not None:
                # The journal's own table wins; the archive's covers streams it no longer has.
                self._streams = {**read_streams(self.data_dir), **self._streams}

    # -- streams -----------------------------------------------------------------------

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        info = self._streams.get(stream_id)
        if info is None:
            info = self.reader.stream(stream_id)
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

    def _seq_at_time(self, ts_ns: int) -> int | None:
        """Seq of the first record at or after ``ts_ns``; in the archive, its day's first seq.

        Exact in the journal, a lower bound in the archive (it is not searched: this
        only sizes the progress bar).
        """
        if self._archived is not None:
            for first, last_ts in self._archived_days():
                if last_ts >= ts_ns:
                    return first
        return self.reader.seq_at_time(ts_ns)

    def _archived_days(self) -> list[tuple[int, int]]:
        """(first_seq, last_ts_ns) of each archived day, from the manifest."""
        try:
            from query import manifest
        except ImportError:
            return []
        days = manifest.load(self.data_dir).get("days", {})
        return [(days[d]["first_seq"], days[d]["last_ts_ns"]) for d in sorted(days)]

    def estimate(self) -> int:
        """Records the source will read at most (for a progress bar; 0 if unknown)."""
        last = max(self.reader.last_seq, self._archived[1] if self._archived else 0)
        first = self.start.seq or 1
        if self.start.ts_ns is not None:
            first = self._seq_at_time(self.start.ts_ns) or (last + 1)
        if self.end is not None and self.end.seq is not None:
            last = min(last, self.end.seq)
        elif self.end is not None and self.end.ts_ns is not None:
            at = self.reader.seq_at_time(self.end.ts_ns)
            if at is not None:
                # At the journal's first record, the end may lie anywhere in the archive.
                last = min(last, at - 1 if at > self.reader.first_seq or not self._archived
                           else self._archived[1])
        return max(0, last - first + 1)

    # -- reading -----------------------------------------------------------------------

    def _records(self) -> Iterator[Record]:
        kw = self._kwargs()
        next_seq = kw["from_seq"] or 1
        if self._archived is not None and self._archive is not None:
            first, last = self._archived
            if (kw["to_seq"] is None or kw["to_seq"] >= first) and next_seq <= last:
                for rec in self._archive.read_records(self.data_dir, **kw):
                    next_seq = rec.seq + 1
                    yield rec
                # The journal may still hold the archived days (before pruning).
                kw = {**kw, "from_seq": max(next_seq, last + 1)}
        yield from self.reader.read(**kw)

    def __iter__(self) -> Iterator[Record]:
        wanted = self._wanted()
        if self.venues is None:
            yield from self._records()
            return
        for rec in self._records():
            if wanted(rec.stream):
                yield rec

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> HistoricalSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

