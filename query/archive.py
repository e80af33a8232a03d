"""The raw archive: records as Parquet, written verified, read back in seq order.

Raw schema (one row per journal record, nothing decoded):

    seq int64, ts_ns int64, stream int32, kind string,
    payload binary   -- the bytes exactly as received
    meta string      -- the record's meta map as JSON text (null when absent); the
                        record digest proves it re-encodes to the journal's exact bytes

``ArchiveSource`` is the archive as a ``RecordSource`` (``recorder.journal.source``):
what replay chains in front of the journal. It reads one row group at a time, so memory
stays flat over months. The journal's stored value is encoded and decoded by its one
codec (``recorder.journal.codec``) only: compaction checks and decodes the values it reads
with ``codec.decode_columns`` (the raw table's arrays are made over those columns'
buffers: ``column_arrays``) and ``codec.decode_checked`` where the derived tables need
Records; here rows are re-encoded for the record digest (which covers the stored
bytes, checksums included).
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recorder.journal import Record, StreamInfo
from recorder.journal.codec import (
    Columns,
    encode_fields,
    encode_key,
    encode_msgpack,
    encode_record,
)
from recorder.journal.errors import CorruptValueError
from recorder.journal.record import KINDS

from . import manifest as _manifest
from .errors import ArchiveError, QueryUsageError
from .layout import STREAMS_FILE
from .store import ArchiveStore, as_store

RAW_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("ts_ns", pa.int64()), ("stream", pa.int32()), ("kind", pa.string()),
    ("payload", pa.binary()), ("meta", pa.string()),
])
STREAMS_SCHEMA = pa.schema([
    ("id", pa.int32()), ("venue", pa.string()), ("market", pa.string()), ("url", pa.string()),
    ("conn", pa.string()), ("channels", pa.list_(pa.string())), ("config_hash", pa.string()),
    ("opened_ns", pa.int64()),
])
_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode
ROW_GROUP = 65_536  # records per row group: the unit of memory when reading back
# zstd level 3 (the library default): most of level 9's ratio on JSON frames at a
# fraction of the time; payloads are already the biggest column.
PARQUET_OPTS: dict[str, Any] = {
    "compression": "zstd", "compression_level": 3, "use_dictionary": ["kind"],
    "write_statistics": ["seq", "ts_ns", "stream"], "data_page_size": 1 << 20,
}


class RecordDigest:
    """Two running checksums over records in seq order.

    ``payload`` is blake2b-16 over (u64be seq + payload), the scheme of ``recorder
    verify``; ``record`` covers every field (u64be seq + the journal's stored value, so
    its checksum too when it has one).
    """

    __slots__ = ("_p", "_r", "count")

    def __init__(self) -> None:
        self._p = hashlib.blake2b(digest_size=16)
        self._r = hashlib.blake2b(digest_size=16)
        self.count = 0

    def add(self, key: bytes, payload: bytes, value: bytes) -> None:
        self._p.update(key)
        self._p.update(payload)
        self._r.update(key)
        self._r.update(value)
        self.count += 1

    def add_record(self, rec: Record, *, checksums: bool = True) -> None:
        """``add`` of the value the writer stores for ``rec`` (``checksums=False``: as written before checksums)."""
        self.add(encode_key(rec.seq), rec.payload, (encode_record if checksums else encode_fields)(rec))

    def add_many(self, keys: Sequence[bytes], payloads: Sequence[bytes], values: Sequence[bytes]) -> None:
        """``add`` for many records at once: the same digests, one hash call each."""
        n = len(keys)
        if len(payloads) != n or len(values) != n:
            raise QueryUsageError(f"{n} keys, {len(payloads)} payloads, {len(values)} values")
        self._p.update(_interleave(keys, payloads))
        self._r.update(_interleave(keys, values))
        self.count += n

    def add_columns(self, keys: Sequence[bytes], values: Sequence[bytes], cols: Columns) -> None:
        """``add_many`` of a chunk decoded as columns (``codec.decode_columns`` of ``keys``, ``values``).

        The payload digest's input (each key, then its payload) is joined by the core from
        the column buffers: no Python object per record.
        """
        n = len(keys)
        if len(values) != n or len(cols) != n:
            raise QueryUsageError(f"{n} keys, {len(values)} values, {len(cols)} decoded")
        self._p.update(cols.keyed_payloads())
        self._r.update(_interleave(keys, values))
        self.count += n

    @property
    def payload(self) -> str:
        return self._p.hexdigest()

    @property
    def record(self) -> str:
        return self._r.hexdigest()


def _interleave(a: Sequence[bytes], b: Sequence[bytes]) -> bytes:
    """a0 b0 a1 b1 ... as one bytes (slice stores and one join: no tuple per pair)."""
    parts: list[bytes] = [b""] * (2 * len(a))
    parts[::2] = a
    parts[1::2] = b
    return b"".join(parts)


class ColumnDigest:
    """A checksum of the raw columns as Arrow holds them: written, and read back.

    Hashes each column's value bytes straight from the Arrow buffers (int values;
    value lengths, -1 for null, and the value bytes for binary and string columns):
    no Python objects per row, and independent of batch and row-group boundaries. A
    file whose read-back digest equals the one of the arrays written holds exactly
    those rows.
    """

    __slots__ = ("_h", "count")

    def __init__(self) -> None:
        self._h = [hashlib.sha256() for _ in RAW_SCHEMA]  # SHA-NI: ~2x blake2b here
        self.count = 0

    def add(self, arrays: Sequence[pa.Array | pa.ChunkedArray]) -> None:
        """Add one batch (an array or chunked array per ``RAW_SCHEMA`` column, equal lengths)."""
        for h, col in zip(self._h, arrays, strict=True):
            for arr in (col.chunks if isinstance(col, pa.ChunkedArray) else (col,)):
                for part in _value_bytes(arr):
                    h.update(part)
        self.count += len(arrays[0])

    @property
    def hexdigest(self) -> str:
        return hashlib.blake2b("".join(x.hexdigest() for x in self._h).encode(), digest_size=16).hexdigest()


def _value_bytes(arr: pa.Array) -> list[memoryview]:
    n = len(arr)
    if not n:
        return []
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    t = arr.type
    if pa.types.is_integer(t):
        if arr.null_count:
            raise ArchiveError(f"null in an integer raw column ({t})")
        w = t.bit_width // 8
        return [memoryview(arr.buffers()[1])[arr.offset * w:(arr.offset + n) * w]]
    if not (pa.types.is_binary(t) or pa.types.is_string(t)):
        raise ArchiveError(f"unexpected raw column type {t}")
    lengths = pc.fill_null(pc.binary_length(arr), -1)
    out = [memoryview(lengths.buffers()[1])[lengths.offset * 4:(lengths.offset + n) * 4]]
    offsets = memoryview(arr.buffers()[1]).cast("i")
    data = arr.buffers()[2]
    lo, hi = offsets[arr.offset], offsets[arr.offset + n]
    if data is not None and hi > lo:
        out.append(memoryview(data)[lo:hi])
    return out


def meta_text(rec: Record) -> str:
    """A record's meta map as JSON text; ``ArchiveError`` if JSON cannot carry it exactly.

    The archive must give back the record the journal held: the text is decoded again
    and must re-encode to the same msgpack (bytes or non-string keys would not).
    """
    return _meta_json(rec.seq, rec.meta)


_KIND_NAMES = pa.array(KINDS, pa.string())  # a kind code is its index here
_meta_decode = msgspec.msgpack.Decoder(dict[str, Any] | None).decode  # as the journal codec's


def column_arrays(cols: Columns) -> list[pa.Array]:
    """The ``RAW_SCHEMA`` arrays of a chunk decoded as columns (``codec.decode_columns``).

    Built over the chunk's buffers (ints, kind codes, payloads with their offsets): the
    same values ``add_to_columns`` makes of the chunk's records, with no Python object per
    record but for the (rare) records with a meta map, which become JSON text as
    ``meta_text`` makes it (and is checked). A meta map that does not decode is a
    ``CorruptValueError`` worded as ``codec.decode_checked`` words it.
    """
    n = len(cols)
    ints = [pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(b)]) for b in (cols.seq, cols.ts_ns)]
    stream = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(cols.stream)]).cast(pa.int32())
    kind = _KIND_NAMES.take(pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(cols.kind)]))
    payload = pa.Array.from_buffers(pa.large_binary(), n, [
        None, pa.py_buffer(cols.payload_offsets), pa.py_buffer(cols.payloads)]).cast(pa.binary())
    return [*ints, stream, kind, payload, _meta_array(cols, ints[0], n)]


def _meta_array(cols: Columns, seqs: pa.Array, n: int) -> pa.Array:
    metas = cols.metas
    if not metas:  # no record of the chunk has a meta map: the usual case
        return pa.nulls(n, pa.string())
    offsets = memoryview(cols.meta_offsets).cast("q")
    texts: list[str | None] = [None] * n
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        if hi == lo:
            continue
        seq = seqs[i].as_py()
        try:
            meta = _meta_decode(metas[lo:hi])
        except msgspec.DecodeError as exc:  # ValidationError is one
            raise CorruptValueError(seq, f"seq {seq}: value does not decode: {exc}") from None
        texts[i] = None if meta is None else _meta_json(seq, meta)
    return pa.array(texts, pa.string())


def _meta_json(seq: int, meta: dict[str, Any]) -> str:
    text = _json_encode(meta).decode()
    if encode_msgpack(_json_decode(text)) != encode_msgpack(meta):
        raise ArchiveError(f"seq {seq}: meta {meta!r} does not survive JSON")
    return text


def add_to_columns(cols: tuple[list, ...], rec: Record) -> None:
    """Append one record to six column lists in ``RAW_SCHEMA`` order."""
    seq, ts, stream, kind, payload, meta = cols
    seq.append(rec.seq)
    ts.append(rec.ts_ns)
    stream.append(rec.stream)
    kind.append(rec.kind)
    payload.append(rec.payload)
    meta.append(None if rec.meta is None else _json_encode(rec.meta).decode())


def columns_table(cols: tuple[list, ...]) -> pa.Table:
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, RAW_SCHEMA, strict=True)],
                                schema=RAW_SCHEMA)


class RawPartWriter:
    """Stream records into one raw Parquet file, a row group at a time.

    Records come as chunks' columns (``add_columns``, from ``codec.decode_columns``: no
    per-record Python), in seq order; every row group holds ``ROW_GROUP`` rows (the last
    fewer) as one array per column, so the file is the same bytes however it was chunked.

    After the last ``add_columns``: call ``close()``; ``rows``, ``first_seq``, ``last_seq``
    describe what was written. With ``executor`` (one worker: order matters) the
    encoding and hashing of each row group run there, beside the caller's next batch
    (both release the GIL); ``close()`` waits for them and re-raises their errors.
    """

    def __init__(self, path: Path, executor: Executor | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = pq.ParquetWriter(path, RAW_SCHEMA, **PARQUET_OPTS)
        self._batches: list[list[pa.Array]] = []  # arrays not yet written, in order
        self._queued = 0  # rows in _batches
        self._executor = executor
        self._pending: list[Future] = []
        self.columns = ColumnDigest()  # of the arrays written
        self.rows = 0
        self.first_seq = 0
        self.last_seq = 0

    def add_columns(self, cols: Columns) -> None:
        """Append a chunk decoded as columns (``column_arrays``); the next after it in seq order."""
        if not len(cols):
            return
        self._batches.append(column_arrays(cols))
        self._queued += len(cols)
        while self._queued >= ROW_GROUP:
            self._flush(ROW_GROUP)

    def _flush(self, upto: int | None = None) -> None:
        if not self._queued:
            return
        n = self._queued if upto is None else min(upto, self._queued)
        batches = self._batches
        arrays = [b for b in batches[0]] if len(batches) == 1 else [
            pa.concat_arrays([b[i] for b in batches]) for i in range(len(RAW_SCHEMA))]
        if n < self._queued:
            self._batches = [[a.slice(n) for a in arrays]]
            arrays = [a.slice(0, n) for a in arrays]
        else:
            self._batches = []
        self._queued -= n
        if not self.first_seq:
            self.first_seq = arrays[0][0].as_py()
        self.last_seq = arrays[0][n - 1].as_py()
        self.rows += n
        if self._executor is None:
            self._write(arrays)
        else:
            self._pending.append(self._executor.submit(self._write, arrays))
            while len(self._pending) > 2:  # back-pressure: at most two row groups in memory
                self._pending.pop(0).result()

    def _write(self, arrays: list[pa.Array]) -> None:
        self.columns.add(arrays)
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=RAW_SCHEMA),
                                 row_group_size=ROW_GROUP)

    def close(self) -> None:
        self._flush()
        pending, self._pending = self._pending, []
        try:
            for f in pending:
                f.result()
        finally:
            self._writer.close()


def batch_records(batch: pa.RecordBatch) -> list[Record]:
    """Records of one raw batch, in row order (built in C: ``map`` over the columns)."""
    metas = [None if m is None else _json_decode(m) for m in batch.column(5).to_pylist()]
    return list(map(Record, batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                    batch.column(2).to_pylist(), batch.column(3).to_pylist(),
                    batch.column(4).to_pylist(), metas))


def records_of_batch(batch: pa.RecordBatch) -> Iterator[Record]:
    """Records of one raw batch, in row order."""
    return iter(batch_records(batch))


def iter_file(path: Path | pa.NativeFile, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Record]:
    """Records of one raw file (a path or an open file) with ``from_seq <= seq <= to_seq``, a row group at a time."""
    pf = pq.ParquetFile(path)
    try:
        md = pf.metadata
        for i in range(md.num_row_groups):
            st = md.row_group(i).column(0).statistics
            if st is not None and st.has_min_max and (
                    st.max < from_seq or (to_seq is not None and st.min > to_seq)):
                continue
            for batch in pf.read_row_group(i).to_batches():
                for rec in records_of_batch(batch):
                    if rec.seq < from_seq:
                        continue
                    if to_seq is not None and rec.seq > to_seq:
                        return
                    yield rec
    finally:
        pf.close()


def check_file(path: Path) -> tuple[int, str]:
    """(rows, column digest) of a raw file, recomputed from what is on disk.

    Compaction compares it with ``RawPartWriter.rows`` and ``.columns.hexdigest``: the
    file holds exactly the arrays written, which were made from the journal records
    whose payload and record digests the manifest keeps. ``digest_file`` recomputes
    those digests from the file instead (thorough, several times slower).
    """
    t = pq.read_table(path, columns=[f.name for f in RAW_SCHEMA])
    cols = ColumnDigest()
    cols.add(t.columns)
    return t.num_rows, cols.hexdigest


def digest_file(path: Path, *, checksums: bool = True) -> RecordDigest:
    """Both digests of a raw file, recomputed from what is on disk.

    The record digest re-encodes every row as the journal stores it (with its checksum;
    ``checksums=False`` for a day written before checksums), so a match proves seq,
    time, stream, kind, payload and meta all came through, to the journal's CRCs.
    """
    encode = encode_record if checksums else encode_fields
    d = RecordDigest()
    pf = pq.ParquetFile(path)
    try:
        for i in range(pf.metadata.num_row_groups):
            for batch in pf.read_row_group(i).to_batches():
                recs = batch_records(batch)
                keys = list(map(encode_key, batch.column(0).to_pylist()))
                d.add_many(keys, [r.payload for r in recs], list(map(encode, recs)))
    finally:
        pf.close()
    return d


# --- reading the archive -----------------------------------------------------------------


Where = str | os.PathLike[str] | ArchiveStore  # a data directory (its own archive) or a store


def archived_range(where: Where) -> tuple[int, int] | None:
    """(first_seq, last_seq) of the archived records, or None when nothing is archived.

    Archived days are contiguous in seq: the journal holds ``last_seq + 1`` onwards
    (or a later day's copy, when days are kept after compaction).
    """
    m = _manifest.load(where)
    ds = _manifest.days(m)
    if not ds:
        return None
    return m["days"][ds[0]]["first_seq"], m["days"][ds[-1]]["last_seq"]


def archived_days(where: Where) -> list[str]:
    return _manifest.days(_manifest.load(where))


def read_records(where: Where, from_seq: int = 1, to_seq: int | None = None, *,
                 from_ts_ns: int | None = None, to_ts_ns: int | None = None) -> Iterator[Record]:
    """Archived records with ``from_seq <= seq <= to_seq`` and ``from_ts_ns <= ts_ns < to_ts_ns``, in seq order.

    ``ArchiveSource(where).read(...)``: constant memory (one row group at a time).
    Stops at the end of the archive; the caller continues from the journal at
    ``archived_range(...)[1] + 1``.
    """
    return ArchiveSource(where).read(from_seq, to_seq, from_ts_ns=from_ts_ns, to_ts_ns=to_ts_ns)


class ArchiveSource:
    """The archived days of a data directory or a store as a ``RecordSource`` (``recorder.journal.source``).

    ``where``: a data directory (the archive of its journal's shard) or an
    ``ArchiveStore`` (one shard's: ``query.store``; several shards are merged by
    ``replay.merge``). Holds what the manifest listed when it was made (a compaction
    that commits later is not seen: make a new one). Nothing stays open between reads;
    ``close()`` is there for the contract. ``streams()`` is the archive's streams table,
    which keeps the streams of days already pruned from the journal.
    """

    def __init__(self, where: Where) -> None:
        self.store = as_store(where)
        self.data_dir = None if isinstance(where, ArchiveStore) else Path(where)
        m = _manifest.load(self.store)
        self._days: list[dict[str, Any]] = [m["days"][d] for d in _manifest.days(m)]
        self._streams = read_streams(self.store)

    @property
    def first_seq(self) -> int:
        return self._days[0]["first_seq"] if self._days else 0

    @property
    def last_seq(self) -> int:
        return self._days[-1]["last_seq"] if self._days else 0

    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def stream(self, stream_id: int) -> StreamInfo | None:
        return self._streams.get(stream_id)

    def close(self) -> None:
        """Nothing is held open between reads."""

    def _files(self, e: dict[str, Any]) -> list[str]:
        return [f["path"] for f in e["tables"]["raw"]["files"]]

    def _open(self, rel: str) -> pa.NativeFile:
        try:
            return self.store.fs.open_input_file(self.store.path(rel))
        except OSError as exc:
            raise ArchiveError(f"{self.store.where(rel)}: cannot open: {exc}") from None

    def read(self, from_seq: int = 1, to_seq: int | None = None, *, from_ts_ns: int | None = None,
             to_ts_ns: int | None = None) -> Iterator[Record]:
        """Records with ``from_seq <= seq <= to_seq`` and ``from_ts_ns <= ts_ns < to_ts_ns``, in seq order.

        Lazy: a row group is read when the records before it have been taken, and row
        groups outside the seq range are skipped by their statistics. A start time
        becomes a start seq first (``seq_at_time``).
        """
        if from_ts_ns is not None:
            at = self.seq_at_time(from_ts_ns)
            if at is None:
                return iter(())
            from_seq = max(from_seq, at)
        return self._read(from_seq, to_seq, to_ts_ns)

    def _read(self, from_seq: int, to_seq: int | None, to_ts_ns: int | None) -> Iterator[Record]:
        for e in self._days:
            if e["last_seq"] < from_seq:
                continue
            if (to_seq is not None and e["first_seq"] > to_seq) or \
                    (to_ts_ns is not None and e["first_ts_ns"] >= to_ts_ns):
                return
            for rel in self._files(e):
                with self._open(rel) as f:
                    for rec in iter_file(f, from_seq, to_seq):
                        if to_ts_ns is not None and rec.ts_ns >= to_ts_ns:
                            return
                        yield rec

    def seq_at_time(self, ts_ns: int) -> int | None:
        """Seq of the first record with ``ts_ns >= ts_ns`` (None if there is none).

        The manifest names the day, the row groups' ``ts_ns`` statistics the group; only
        that group's two columns are read.
        """
        for e in self._days:
            if e["last_ts_ns"] < ts_ns:
                continue
            if e["first_ts_ns"] >= ts_ns:
                return e["first_seq"]
            for rel in self._files(e):
                with self._open(rel) as f:
                    at = _file_seq_at_time(f, ts_ns)
                if at is not None:
                    return at
        return None


def _file_seq_at_time(path: Path | pa.NativeFile, ts_ns: int) -> int | None:
    """Seq of the first row of a raw file with ``ts_ns >= ts_ns`` (None if there is none)."""
    pf = pq.ParquetFile(path)
    try:
        md = pf.metadata
        for i in range(md.num_row_groups):
            st = md.row_group(i).column(1).statistics  # ts_ns
            if st is not None and st.has_min_max and st.max < ts_ns:
                continue
            t = pf.read_row_group(i, columns=["seq", "ts_ns"])
            times = t.column(1).to_pylist()
            at = bisect_left(times, ts_ns)
            if at < len(times):
                return t.column(0)[at].as_py()
    finally:
        pf.close()
    return None


# --- streams -------------------------------------------------------------------------------


def streams_table(streams: dict[int, StreamInfo]) -> pa.Table:
    rows = [streams[k] for k in sorted(streams)]
    return pa.table({
        "id": pa.array([s.id for s in rows], pa.int32()),
        "venue": [s.venue for s in rows], "market": [s.market for s in rows],
        "url": [s.url for s in rows], "conn": [s.conn for s in rows],
        "channels": pa.array([list(s.channels) for s in rows], pa.list_(pa.string())),
        "config_hash": [s.config_hash for s in rows],
        "opened_ns": pa.array([s.opened_ns for s in rows], pa.int64()),
    }, schema=STREAMS_SCHEMA)


def check_disjoint_streams(by_shard: dict[str, dict[int, StreamInfo]]) -> None:
    """Raise ``ArchiveError`` when one stream id belongs to two shards.

    Each shard's recorder allocates ids in its own range, so ``stream`` is a key across an
    archive's shards; two shards sharing an id were started with the same range.
    """
    owner: dict[int, str] = {}
    for shard in sorted(by_shard):
        for sid in by_shard[shard]:
            other = owner.setdefault(sid, shard)
            if other != shard:
                raise ArchiveError(f"stream id {sid} is in shard {other!r} and in shard {shard!r}: "
                                   "their recorders must allocate disjoint stream ids")


def read_streams(where: Where) -> dict[int, StreamInfo]:
    """The streams table kept in the archive (streams of compacted days stay known here)."""
    data = as_store(where).read_bytes(STREAMS_FILE)
    return parse_streams(data) if data is not None else {}


def parse_streams(data: bytes) -> dict[int, StreamInfo]:
    """The streams table from the bytes of ``streams/streams.parquet``."""
    t = pq.read_table(pa.BufferReader(data))
    out = {}
    for r in t.to_pylist():
        out[r["id"]] = StreamInfo(r["id"], r["venue"], r["market"], r["url"], r["conn"],
                                  tuple(r["channels"] or ()), r["config_hash"], r["opened_ns"])
    return out
