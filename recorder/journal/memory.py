"""``MemorySource``: records in a list, the in-memory twin of the journal and the archive.

It keeps the ``RecordSource`` contract (``recorder.journal.source``) with nothing on
disk: tests, one-shot tools, and a backtest over records made in memory. Bounds are
binary searches over the seqs and times, so a read costs what it returns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise

from .errors import RecordOrderError
from .record import Record, StreamInfo


class MemorySource:
    """``records`` (in seq order, seq without holes, time never going back) and their ``streams``.

    Raises ``RecordOrderError`` when the records break that order: a journal could not
    hold them, so no replay of them would mean anything. The records are kept (not
    copied one by one): they are immutable.
    """

    def __init__(self, records: Iterable[Record], streams: Mapping[int, StreamInfo] | None = None) -> None:
        recs = list(records)
        for prev, rec in pairwise(recs):
            if rec.seq != prev.seq + 1:
                raise RecordOrderError(rec.seq, prev.seq, "seq must rise by one")
            if rec.ts_ns < prev.ts_ns:
                raise RecordOrderError(rec.seq, prev.seq, f"time goes back ({rec.ts_ns} < {prev.ts_ns})")
        self._records = recs
        self._ts = [r.ts_ns for r in recs]
        self._streams = dict(streams or {})

    @property
    def first_seq(self) -> int:
        return self._records[0].seq if self._records else 0

    @property
    def last_seq(self) -> int:
        return self._records[-1].seq if self._records else 0

    def __len__(self) -> int:
        return len(self._records)

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records with ``from_seq <= seq <= to_seq`` and ``from_ts_ns <= ts_ns < to_ts_ns``, in seq order."""
        recs = self._records
        if not recs:
            return iter(())
        first = recs[0].seq  # seq has no holes: a seq's index is seq - first
        lo = max(from_seq - first, 0)
        hi = len(recs) if to_seq is None else max(min(to_seq - first + 1, len(recs)), 0)
        if from_ts_ns is not None:
            lo = max(lo, bisect_left(self._ts, from_ts_ns))
        if to_ts_ns is not None:
            hi = min(hi, bisect_left(self._ts, to_ts_ns))
        return iter(recs[lo:hi]) if lo < hi else iter(())

    def seq_at_time(self, ts_ns: int) -> int | None:
        i = bisect_left(self._ts, ts_ns)
        return self._records[i].seq if i < len(self._records) else None

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        return self._streams.get(stream_id)

    def close(self) -> None:
        """Nothing to release; kept for the contract."""
