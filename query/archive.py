"""The raw archive: records as Parquet, written verified, read back in seq order.

Raw schema (one row per journal record, nothing decoded):

    seq int64, ts_ns int64, stream int32, kind string,
    payload binary   -- the bytes exactly as received
    meta string      -- the record's meta map as JSON text (null when absent); the
                        record checksum proves it re-encodes to the journal's exact bytes

``read_records`` is what replay chains in front of the journal; it reads one row
group at a time, so memory stays flat over months.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from recorder.journal import Record, StreamInfo
from recorder.journal.codec import encode_key, encode_record

from . import manifest as _manifest
from .layout import STREAMS_FILE, archive_root

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


class ArchiveError(Exception):
    """The archive does not match its manifest or the journal."""


class RecordDigest:
    """Two running checksums over records in seq order.

    ``payload`` is blake2b-16 over (u64be seq + payload), the scheme of ``recorder
    verify``; ``record`` covers every field (u64be seq + the journal's msgpack value).
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

    def add_record(self, rec: Record) -> None:
        self.add(encode_key(rec.seq), rec.payload, encode_record(rec))

    @property
    def payload(self) -> str:
        return self._p.hexdigest()

    @property
    def record(self) -> str:
        return self._r.hexdigest()


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

    After the last ``add``: call ``close()``; ``rows``, ``first_seq``, ``last_seq``
    describe what was written.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = pq.ParquetWriter(path, RAW_SCHEMA, **PARQUET_OPTS)
        self._cols: tuple[list, ...] = ([], [], [], [], [], [])
        self.rows = 0
        self.first_seq = 0
        self.last_seq = 0

    def add(self, rec: Record) -> None:
        add_to_columns(self._cols, rec)
        if len(self._cols[0]) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        cols = self._cols
        if not cols[0]:
            return
        if not self.first_seq:
            self.first_seq = cols[0][0]
        self.last_seq = cols[0][-1]
        self.rows += len(cols[0])
        batch = pa.RecordBatch.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(cols, RAW_SCHEMA, strict=True)], schema=RAW_SCHEMA)
        self._writer.write_batch(batch, row_group_size=ROW_GROUP)
        for c in cols:
            c.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()


def records_of_batch(batch: pa.RecordBatch) -> Iterator[Record]:
    """Records of one raw batch, in row order."""
    seqs = batch.column(0).to_pylist()
    tss = batch.column(1).to_pylist()
    streams = batch.column(2).to_pylist()
    kinds = batch.column(3).to_pylist()
    payloads = batch.column(4).to_pylist()
    metas = batch.column(5).to_pylist()
    for i in range(len(seqs)):
        m = metas[i]
        yield Record(seqs[i], tss[i], streams[i], kinds[i], payloads[i],
                     None if m is None else _json_decode(m))


def iter_file(path: Path, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Record]:
    """Records of one raw file with ``from_seq <= seq <= to_seq``, a row group at a time."""
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


def digest_file(path: Path) -> RecordDigest:
    """Both checksums of a raw file, recomputed from what is on disk."""
    d = RecordDigest()
    for rec in iter_file(path):
        d.add_record(rec)
    return d


# --- reading the archive -----------------------------------------------------------------


def archived_range(data_dir: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(first_seq, last_seq) of the archived records, or None when nothing is archived.

    Archived days are contiguous in seq: the journal holds ``last_seq + 1`` onwards
    (or a later day's copy, when days are kept after compaction).
    """
    m = _manifest.load(data_dir)
    ds = _manifest.days(m)
    if not ds:
        return None
    return m["days"][ds[0]]["first_seq"], m["days"][ds[-1]]["last_seq"]


def archived_days(data_dir: str | os.PathLike[str]) -> list[str]:
    return _manifest.days(_manifest.load(data_dir))


def read_records(data_dir: str | os.PathLike[str], from_seq: int = 1, to_seq: int | None = None, *,
                 from_ts_ns: int | None = None, to_ts_ns: int | None = None) -> Iterator[Record]:
    """Archived records with ``from_seq <= seq <= to_seq`` and ``from_ts_ns <= ts_ns < to_ts_ns``, in seq order.

    Constant memory (one row group at a time). Stops at the end of the archive; the
    caller continues from the journal at ``archived_range(...)[1] + 1``.
    """
    root = archive_root(data_dir)
    m = _manifest.load(data_dir)
    for day in _manifest.days(m):
        e = m["days"][day]
        if e["last_seq"] < from_seq:
            continue
        if to_seq is not None and e["first_seq"] > to_seq:
            return
        if from_ts_ns is not None and e["last_ts_ns"] < from_ts_ns:
            continue
        if to_ts_ns is not None and e["first_ts_ns"] >= to_ts_ns:
            return
        for f in e["tables"]["raw"]["files"]:
            for rec in iter_file(root / f["path"], from_seq, to_seq):
                if from_ts_ns is not None and rec.ts_ns < from_ts_ns:
                    continue
                if to_ts_ns is not None and rec.ts_ns >= to_ts_ns:
                    return
                yield rec


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


def read_streams(data_dir: str | os.PathLike[str]) -> dict[int, StreamInfo]:
    """The streams table kept in the archive (streams of compacted days stay known here)."""
    path = archive_root(data_dir) / STREAMS_FILE
    if not path.exists():
        return {}
    t = pq.read_table(path)
    out = {}
    for r in t.to_pylist():
        out[r["id"]] = StreamInfo(r["id"], r["venue"], r["market"], r["url"], r["conn"],
                                  tuple(r["channels"] or ()), r["config_hash"], r["opened_ns"])
    return out
