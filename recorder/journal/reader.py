"""Readers of a journal: seek by seq or time, read in order, follow the tail.

``JournalReader`` is the journal's ``RecordSource`` (``recorder.journal.source``):
replay reads it like the archive and the in-memory twin; ``follow`` (the live tail)
is its own.

Readers run concurrently with the writer, in the same or another process (LMDB MVCC).
Records are read in chunks, each in its own short read transaction, so a slow
consumer pins old pages for at most one chunk.

Every value read is checked against its checksum (``codec``: one Rust call per chunk). A
damaged record is a ``CorruptRecordError`` naming its segment and seq, never wrong
bytes; a reader made with ``skip_damaged=True`` skips such records instead and counts
them (``damaged``, ``damaged_seqs``, ``damage``). Values written before checksums
(segment format 1) read unchecked. ``read_columns`` hands out chunks as columns
(``codec.Columns``) where no ``Record`` objects are needed.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from itertools import chain, islice
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import lmdb

from .codec import Columns, decode_columns, decode_key, decode_value, decode_values, encode_key
from .errors import (
    CorruptRecordError,
    CorruptValueError,
    JournalUsageError,
    NotAJournalError,
    UnknownSegmentError,
)
from .record import Record, StreamInfo
from .segments import (
    DEFAULT_MAP_SIZE,
    SEGMENT_FORMAT,
    close_env,
    forget_env,
    get_db,
    list_days,
    open_env,
    read_catalog,
    require_journal,
    segment_format,
)

_TS = attrgetter("ts_ns")
CHUNK = 4096


class SegmentInfo(NamedTuple):
    day: str
    path: Path
    first_seq: int  # 0 when empty
    last_seq: int
    records: int
    bytes: int  # size of data.mdb on disk


class _Segment:
    __slots__ = ("day", "path", "shared", "first_seq", "last_seq", "format", "require")

    def __init__(self, day: str, path: Path, shared: Any, fmt: int) -> None:
        self.day = day
        self.path = path
        self.shared = shared
        self.first_seq = 0
        self.last_seq = 0
        self.format = fmt
        self.require = fmt >= SEGMENT_FORMAT  # every value must carry a checksum


class JournalReader:
    """Read the journal under ``data_dir``; raises ``NotAJournalError`` if there is none.

    A damaged record (its checksum does not match, or it does not decode) raises
    ``CorruptRecordError`` naming its segment and seq when it is read; with
    ``skip_damaged`` (settable any time) it is skipped instead, and counted: ``damaged``
    records so far (each seq once), ``damaged_seqs``, ``damage`` (the errors).
    After use: ``close()`` (or use it as a context manager).
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, map_size: int = DEFAULT_MAP_SIZE,
                 skip_damaged: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.root = require_journal(data_dir)
        self.map_size = map_size
        self.skip_damaged = skip_damaged
        self._damage: dict[int, CorruptRecordError] = {}
        self._segments: dict[str, _Segment] = {}
        self._streams: dict[int, StreamInfo] = {}
        self.meta: dict[str, Any] = {}
        self.refresh()

    # -- catalog and segments --------------------------------------------------------

    def refresh(self) -> None:
        """Pick up new segments and streams (cheap; called while following)."""
        self.meta, self._streams = read_catalog(self.root)
        days = list_days(self.root)
        for gone in set(self._segments) - set(days):
            seg = self._segments.pop(gone)
            close_env(seg.path)
        for day in days:
            if day not in self._segments:
                path = self.root / day
                try:
                    shared = open_env(path, map_size=self.map_size)
                except lmdb.Error as exc:
                    raise NotAJournalError(f"segment {day} cannot be opened: {exc}") from None
                try:
                    fmt = segment_format(shared, day)
                except BaseException:
                    close_env(path)
                    raise
                self._segments[day] = _Segment(day, path, shared, fmt)
        for seg in self._segments.values():
            self._bounds(seg)

    def _txn(self, seg: _Segment, buffers: bool = False) -> lmdb.Transaction:
        env = seg.shared.env
        try:
            return env.begin(buffers=buffers)
        except lmdb.MapResizedError:
            env.set_mapsize(0)  # another process's map is larger: adopt it
            return env.begin(buffers=buffers)

    def _bounds(self, seg: _Segment) -> None:
        try:
            db = get_db(seg.shared, b"records")
        except lmdb.NotFoundError:
            raise NotAJournalError(f"segment {seg.day} has no records table") from None
        txn = self._txn(seg)
        try:
            cur = txn.cursor(db=db)
            if cur.first():
                seg.first_seq = decode_key(cur.key())
                cur.last()
                seg.last_seq = decode_key(cur.key())
        finally:
            txn.abort()

    @property
    def shard(self) -> str:
        """The shard name the journal was made for (``""``: unsharded); see ``writer``."""
        return str(self.meta.get("shard", "") or "")

    @property
    def shard_number(self) -> int:
        """The shard number the journal was made for (0: unsharded): its block of stream ids."""
        return int(self.meta.get("shard_number", 0) or 0)

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        info = self._streams.get(stream_id)
        if info is None:
            self._streams = read_catalog(self.root)[1]
            info = self._streams.get(stream_id)
        return info

    def segments(self) -> list[SegmentInfo]:
        out = []
        for day in sorted(self._segments):
            seg = self._segments[day]
            db = get_db(seg.shared, b"records")
            txn = self._txn(seg)
            try:
                entries = txn.stat(db)["entries"]
            finally:
                txn.abort()
            size = (seg.path / "data.mdb").stat().st_size
            out.append(SegmentInfo(day, seg.path, seg.first_seq, seg.last_seq, entries, size))
        return out

    def segment_format(self, day: str) -> int:
        """The format of segment ``day``: 2, every value carries a checksum; 1, written before checksums.

        Raises ``UnknownSegmentError`` for a day the reader does not know.
        """
        return self._segment(day).format

    def requires_checksums(self, day: str) -> bool:
        """Whether every value of segment ``day`` must carry a checksum (it was written with them):
        there, a value without one is damaged. Raises ``UnknownSegmentError`` like ``segment_format``."""
        return self._segment(day).require

    def _segment(self, day: str) -> _Segment:
        seg = self._segments.get(day)
        if seg is None:
            raise UnknownSegmentError(day, sorted(self._segments))
        return seg

    # -- damage ----------------------------------------------------------------------

    @property
    def damaged(self) -> int:
        """Damaged records met so far (skipped when ``skip_damaged``), each seq counted once."""
        return len(self._damage)

    @property
    def damaged_seqs(self) -> list[int]:
        """Seqs of the damaged records met so far, ascending."""
        return sorted(self._damage)

    @property
    def damage(self) -> list[CorruptRecordError]:
        """The damaged records met so far, as errors (each names its segment, seq and why), by seq."""
        return [self._damage[s] for s in sorted(self._damage)]

    @property
    def first_seq(self) -> int:
        firsts = [s.first_seq for s in self._segments.values() if s.first_seq]
        return min(firsts) if firsts else 0

    @property
    def last_seq(self) -> int:
        return max((s.last_seq for s in self._segments.values()), default=0)

    def _ordered(self) -> list[_Segment]:
        return [self._segments[d] for d in sorted(self._segments)]

    # -- reading ---------------------------------------------------------------------

    def _batch(self, seg: _Segment, start: int,
               limit: int) -> tuple[list[Record], int | None, CorruptRecordError | None]:
        """Up to ``limit`` records of ``seg`` with seq >= ``start``, in one read transaction.

        The cursor walk runs in C and the whole chunk is checked and decoded in one Rust
        call (``codec.decode_values``); the records own their bytes and outlive the
        transaction. Returns
        the records, the seq of the last value taken if the limit was reached (more may
        follow) else None (the segment is exhausted), and the error of the first damaged
        value: then the records are those before it, and the caller raises it once it
        has handed them on. With ``skip_damaged`` damaged values are left out and
        counted, and the error is None.
        """
        _, values, last = self._values(seg, start, limit)
        records = decode_values(values, require=seg.require)
        err = None
        if records is None:
            records, err = self._decode_each(seg, start, len(values))
        if len(values) < limit:
            return records, None, err
        if last is not None and last > seg.last_seq:
            seg.last_seq = last
        return records, last, err

    def _values(self, seg: _Segment, start: int, limit: int) -> tuple[int, list[bytes], int | None]:
        """Up to ``limit`` stored values of ``seg`` from seq ``start`` on, in one read transaction:
        (the first one's seq, the values, the seq of the last one taken or None at the end).

        The cursor walk runs in C (``iternext``); the values are bytes and outlive it.
        """
        db = get_db(seg.shared, b"records")
        txn = self._txn(seg)  # bytes, not buffers: py-lmdb makes a memoryview 3x slower
        try:
            cur = txn.cursor(db=db)
            if not cur.set_range(encode_key(start)):
                return start, [], None
            first = decode_key(cur.key())
            values: list[bytes] = list(islice(cur.iternext(keys=False), limit))
            key = cur.key()  # iternext advances lazily: still on the last value taken
            last = decode_key(key) if key else None
        finally:
            txn.abort()
        return first, values, last

    def _segments_from(self, seq: int) -> Iterator[_Segment]:
        """The segments, in order, that may hold ``seq`` or later (a reading walk's)."""
        ordered = self._ordered()
        for i, seg in enumerate(ordered):
            # Finished segments have final bounds; the newest may be growing.
            if i < len(ordered) - 1 and seg.last_seq < seq:
                continue
            if not seg.first_seq:
                self._bounds(seg)  # it was empty when we looked: it may not be now
            yield seg

    def read_columns(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Columns]:
        """``read`` as columns, a chunk of up to ``CHUNK`` records at a time (``codec.Columns``):
        no ``Record`` objects, for what needs none (counting, checks, a raw table).

        Each value is checked and must hold the seq of its place (the keys of a segment
        run +1). A damaged value raises ``CorruptRecordError`` naming it, after the chunks
        before it; ``skip_damaged`` does not apply here (``read`` skips).
        """
        seq = max(from_seq, 1)
        for seg in self._segments_from(seq):
            seq = max(seq, seg.first_seq)
            while True:
                limit = CHUNK if to_seq is None else min(CHUNK, to_seq - seq + 1)
                if limit <= 0:
                    return
                first, values, last = self._values(seg, seq, limit)
                if values:
                    try:
                        cols = decode_columns(first, None, values, require=seg.require)
                    except CorruptValueError as exc:
                        raise CorruptRecordError(seg.day, exc.seq, exc.reason) from None
                    yield cols
                if len(values) < limit or last is None:
                    break
                seq = last + 1

    def _decode_each(self, seg: _Segment, start: int,
                     count: int) -> tuple[list[Record], CorruptRecordError | None]:
        """The ``count`` values from ``start`` one by one (a chunk did not check or decode whole).

        Committed values never change, so these are the values the chunk held. Stops at
        the first damaged one (the records before it, and its error); with
        ``skip_damaged`` each is counted and left out.
        """
        db = get_db(seg.shared, b"records")
        txn = self._txn(seg)
        out = []
        try:
            cur = txn.cursor(db=db)
            cur.set_range(encode_key(start))
            for key, value in islice(cur.iternext(), count):
                try:
                    out.append(decode_value(decode_key(key), value, require=seg.require))
                except CorruptValueError as exc:
                    err = CorruptRecordError(seg.day, exc.seq, exc.reason)
                    if not self.skip_damaged:
                        return out, err
                    self._damage.setdefault(exc.seq, err)
        finally:
            txn.abort()
        return out, None

    def read(self, from_seq: int = 1, to_seq: int | None = None, *,
             from_ts_ns: int | None = None, to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records with ``from_seq <= seq <= to_seq`` (and ``from_ts_ns <= ts < to_ts_ns``), in seq order.

        Reads what is committed when each chunk is read; stops at the current end. Lazy:
        one chunk is in memory at a time, and iterating it runs in C.
        """
        return chain.from_iterable(self.read_batches(from_seq, to_seq, from_ts_ns=from_ts_ns,
                                                     to_ts_ns=to_ts_ns))

    def read_batches(self, from_seq: int = 1, to_seq: int | None = None, *,
                     from_ts_ns: int | None = None,
                     to_ts_ns: int | None = None) -> Iterator[list[Record]]:
        """``read`` a chunk (a list of up to ``CHUNK`` records) at a time."""
        if from_ts_ns is not None:
            from_seq = max(from_seq, self.seq_at_time(from_ts_ns) or (self.last_seq + 1))
        seq = max(from_seq, 1)
        for seg in self._segments_from(seq):
            seq = max(seq, seg.first_seq)  # segments hold consecutive seq ranges
            while True:
                # Never decode past to_seq: the caller may be reading around a bad value.
                limit = CHUNK if to_seq is None else min(CHUNK, to_seq - seq + 1)
                if limit <= 0:
                    return
                records, last, err = self._batch(seg, seq, limit)
                if to_ts_ns is not None and records and records[-1].ts_ns >= to_ts_ns:
                    # time is monotone: cut at the first record at or after to_ts_ns
                    cut = bisect_left(records, to_ts_ns, key=_TS)
                    if cut:
                        yield records[:cut]
                    return
                if records:
                    yield records
                if err is not None:
                    raise err  # after every record before it: a reader stops exactly there
                if last is None:
                    break  # this segment is exhausted
                seq = last + 1

    def raw_chunks(self, day: str, size: int = CHUNK) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """(keys, values) of one segment as stored, undecoded, in key order, ``size`` at a time.

        The cursor walk runs in C (``iternext``), one short read transaction per chunk
        (a slow consumer pins old pages for one chunk at most); the bytes are copies and
        outlive it. Keys are big-endian u64 seqs, values the msgpack the writer stored:
        what ``recorder verify`` and compaction hash (decode them with ``codec``). Raises
        ``UnknownSegmentError`` (also a ``KeyError``) for a day the reader does not know
        (``refresh()`` picks up new ones) and ``JournalUsageError`` for ``size < 1``.
        """
        if size < 1:
            raise JournalUsageError(f"chunk size must be >= 1, got {size}")
        seg = self._segment(day)
        db = get_db(seg.shared, b"records")
        start = b""
        while True:
            txn = self._txn(seg)
            try:
                cur = txn.cursor(db=db)
                if not (cur.set_range(start) if start else cur.first()):
                    return
                pairs = list(islice(cur.iternext(), size))
            finally:
                txn.abort()
            if not pairs:
                return
            keys = [k for k, _ in pairs]
            yield keys, [v for _, v in pairs]
            if len(pairs) < size:
                return
            start = keys[-1] + b"\x00"  # the smallest key after the last one

    def iter_raw(self, day: str) -> Iterator[tuple[bytes, bytes]]:
        """Stored (key, value) pairs of one segment, undecoded, in key order (for verify)."""
        for keys, values in self.raw_chunks(day):
            yield from zip(keys, values, strict=True)

    def get(self, seq: int) -> Record | None:
        """The record ``seq``; None when there is none (or, ``skip_damaged``, it is damaged)."""
        ordered = self._ordered()
        for i, seg in enumerate(ordered):
            if i < len(ordered) - 1 and seg.last_seq < seq:
                continue
            if not seg.first_seq:
                self._bounds(seg)
            if seg.first_seq and seg.first_seq <= seq:
                records, _, err = self._batch(seg, seq, 1)
                if err is not None:
                    raise err
                for rec in records:
                    if rec.seq == seq:
                        return rec
        return None

    def seq_at_time(self, ts_ns: int) -> int | None:
        """Seq of the first record with ``ts_ns >= ts_ns`` (None if there is none).

        Time never goes backwards in a journal, so this is a binary search. Over a
        damaged record it raises ``CorruptRecordError``; with ``skip_damaged`` it looks
        at the next record that is whole instead (and finds the first of those).
        """
        for seg in self._ordered():
            if not seg.last_seq:
                continue
            last = self._probe(seg, seg.last_seq)
            if last is not None and last.ts_ns < ts_ns:
                continue  # the whole segment is earlier
            # The first seq s whose first whole record at or after it is at ts_ns or later
            # (or is none): that predicate only turns from false to true as s grows.
            lo, hi, found = seg.first_seq, seg.last_seq + 1, None
            while lo < hi:
                mid = (lo + hi) // 2
                rec = self._probe(seg, mid)
                if rec is None or rec.ts_ns >= ts_ns:
                    hi, found = mid, rec
                else:
                    lo = rec.seq + 1
            if found is not None:
                return found.seq
        return None

    def _probe(self, seg: _Segment, seq: int) -> Record | None:
        """The first record of ``seg`` at or after ``seq`` (the first whole one, ``skip_damaged``)."""
        while True:
            records, last, err = self._batch(seg, seq, 1)
            if err is not None:
                raise err
            if records:
                return records[0]
            if last is None:
                return None
            seq = last + 1

    def follow(self, from_seq: int = 1, *, poll_interval: float = 0.01,
               stop: threading.Event | None = None, idle_timeout: float | None = None) -> Iterator[Record]:
        """Read from ``from_seq`` and keep waiting for new records, like ``tail -f``.

        Ends when ``stop`` is set, or after ``idle_timeout`` seconds without a record.
        """
        seq = max(from_seq, 1)
        idle_since = time.monotonic()
        while stop is None or not stop.is_set():
            got = False
            for rec in self.read(seq):
                got = True
                seq = rec.seq + 1
                yield rec
            if got:
                idle_since = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                return
            else:
                time.sleep(poll_interval)
                self._refresh_days()

    def _refresh_days(self) -> None:
        days = list_days(self.root)
        if days and (days[-1] not in self._segments or len(days) != len(self._segments)):
            self.refresh()

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        for seg in self._segments.values():
            close_env(seg.path)
        self._segments.clear()

    def drop_segment(self, day: str) -> None:
        """Forget a segment that compaction is about to delete."""
        seg = self._segments.pop(day, None)
        if seg is not None:
            forget_env(seg.path)

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
