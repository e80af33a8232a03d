"""Several shards' records as one ``RecordSource``, ordered by receive time.

    src = MergedSource({"a": ArchiveSource(root.shard("a")), "b": ArchiveSource(root.shard("b"))})
    for rec in src.read(): ...          # every shard's records, merged; rec.seq is the position
    for shard, rec in src.tagged(): ... # the same order, each record with its shard and own seq

Each recorder (a shard) numbers its own records; across shards only the receive time
``ts_ns`` compares. The merge order is the key ``(ts_ns, shard name, seq)``:

- records are ordered by receive time;
- a tie in time goes to the shard whose name sorts first (plain string order, ``""``
  first), then to the lower seq of that shard;
- within one shard this is its seq order, unchanged, because a shard's ``ts_ns`` never
  decreases in seq order (its writer clamps the clock).

The order depends on the records alone, so every replay of the same shards sees the same
sequence. The merged source numbers records by their position in that order (``seq`` 1..N,
gapless, as the ``RecordSource`` contract asks): a run over it has a seq to report and
bound by; ``tagged()`` gives each record with its shard and its own seq. Stream ids do not
collide across shards (each shard's recorder allocates its own range), so ``streams()`` is
the union.

A time bound starts each shard at its own first record at that time (a search, no scan);
a seq bound counts positions from the first record (a scan up to it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

import msgspec

from recorder.journal import Record, StreamInfo
from recorder.journal.source import RecordSource


class MergedSource:
    """Shards' ``RecordSource``s (name -> source) merged by ``(ts_ns, shard, seq)``; see the module docstring.

    After use: ``close()``, which closes every part.
    """

    def __init__(self, parts: Mapping[str, RecordSource]) -> None:
        self.parts = dict(sorted(parts.items()))

    def _held(self, part: RecordSource) -> int:
        return part.last_seq - part.first_seq + 1 if part.last_seq else 0

    @property
    def first_seq(self) -> int:
        return 1 if self.last_seq else 0

    @property
    def last_seq(self) -> int:
        return sum(self._held(p) for p in self.parts.values())

    def _before(self, ts_ns: int) -> int:
        """Records (of every shard) with a receive time before ``ts_ns``."""
        n = 0
        for p in self.parts.values():
            if not p.last_seq:
                continue
            at = p.seq_at_time(ts_ns)
            n += (at if at is not None else p.last_seq + 1) - p.first_seq
        return n

    def tagged(self, *, from_ts_ns: int | None = None, to_ts_ns: int | None = None
               ) -> Iterator[tuple[str, Record]]:
        """(shard, record with its own seq) in merge order, ``from_ts_ns <= ts_ns < to_ts_ns``."""
        def keyed(name: str, part: RecordSource) -> Iterator[tuple[int, str, int, Record]]:
            for rec in part.read(from_ts_ns=from_ts_ns, to_ts_ns=to_ts_ns):
                yield rec.ts_ns, name, rec.seq, rec

        for _ts, name, _seq, rec in heapq.merge(*(keyed(n, p) for n, p in self.parts.items())):
            yield name, rec

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records in merge order, numbered by position, with ``from_seq <= seq <= to_seq`` and the time bounds."""
        pos = 1 + (self._before(from_ts_ns) if from_ts_ns is not None else 0)
        for _name, rec in self.tagged(from_ts_ns=from_ts_ns, to_ts_ns=to_ts_ns):
            if to_seq is not None and pos > to_seq:
                return
            if pos >= from_seq:
                yield msgspec.structs.replace(rec, seq=pos)
            pos += 1

    def seq_at_time(self, ts_ns: int) -> int | None:
        n = self._before(ts_ns)
        return n + 1 if n < self.last_seq else None

    def streams(self) -> dict[int, StreamInfo]:
        out: dict[int, StreamInfo] = {}
        for p in self.parts.values():
            out.update(p.streams())
        return out

    def stream(self, stream_id: int) -> StreamInfo | None:
        for p in self.parts.values():
            info = p.stream(stream_id)
            if info is not None:
                return info
        return None

    def close(self) -> None:
        for p in self.parts.values():
            p.close()
