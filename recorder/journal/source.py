"""Where replay reads records from: one small interface, four stores.

    RecordSource        the interface (a ``typing.Protocol``; ``isinstance`` works)
    +-- JournalReader   ``recorder.journal.reader``: the LMDB journal (which can also follow its tail)
    +-- ArchiveSource   ``query.archive``: the days compacted to Parquet
    +-- MemorySource    ``recorder.journal.memory``: a list of records, the in-memory twin
    +-- RemoteSource    ``recorder.journal.remote``: a journal published to NATS JetStream, followed

One contract, run against all four by ``tests/recorder/journal/test_source.py`` (the follower
by ``tests/recorder/broker/test_source_contract.py``):

- ``read`` gives the records with ``from_seq <= seq <= to_seq`` and
  ``from_ts_ns <= ts_ns < to_ts_ns`` (seq bounds inclusive at both ends, time bounds
  inclusive at the start and exclusive at the end), in seq order, lazily. Any
  combination of bounds is allowed; one that selects nothing (``from_seq > to_seq``,
  ``to_ts_ns <= from_ts_ns``, a range past the end) gives nothing, it never raises.
- The records' ``ts_ns`` never decreases in seq order (the writer clamps its clock), so
  a time bound is a cut in the seq order and ``seq_at_time`` a search.
- ``first_seq``/``last_seq`` bound what the source holds now (both 0 when it is empty).
  Seq need not start at 1 (a pruned journal, one archived day) but has no holes.
- ``streams()`` holds the stream of every record the source holds (a copy: changing it
  changes nothing); ``stream(id)`` is one of them or None, and a source that grows (a
  journal being written) looks again for a stream it does not know yet.

After use: ``close()``. Reading the records is all a backtest needs; the live tail
(``JournalReader.follow``) is the journal's alone and not part of this interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from .record import Record, StreamInfo


@runtime_checkable
class RecordSource(Protocol):
    """Records in seq order, with their streams; see the module docstring for the contract."""

    @property
    def first_seq(self) -> int:
        """Seq of the first record held, 0 when there is none."""
        ...

    @property
    def last_seq(self) -> int:
        """Seq of the last record held, 0 when there is none."""
        ...

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records with ``from_seq <= seq <= to_seq`` and ``from_ts_ns <= ts_ns < to_ts_ns``, in seq order."""
        ...

    def seq_at_time(self, ts_ns: int) -> int | None:
        """Seq of the first record with ``ts_ns >= ts_ns``, or None when there is none."""
        ...

    def streams(self) -> dict[int, StreamInfo]:
        """Stream id -> ``StreamInfo`` of every stream of the records held (a copy)."""
        ...

    def stream(self, stream_id: int) -> StreamInfo | None:
        """One stream, or None if the source knows no stream ``stream_id``."""
        ...

    def close(self) -> None:
        """Release what the source holds open (files, LMDB environments)."""
        ...
