"""Nightly compaction: finished journal days -> verified Parquet -> manifest -> prune.

For each finished UTC day D (older than the newest record's day), oldest first:

1. stage: ``archive/.staging/D/`` gets the raw records of D (byte-exact), the derived
   tables and the projection checkpoint at the end of D;
2. verify: while reading, every journal value must match its checksum (as every journal
   read checks it; a day written before checksums has none) and decode under its key,
   seq must run without a hole from the previous archived day, and the payload and
   record digests are taken over the stored bytes (checksums included); the raw file is
   then read back and its rows and column digest must equal what was written from those
   records (``check_file``). A damaged record fails the day, naming its seq: nothing of
   it is published and the journal day is kept;
3. publish: the staged directories are renamed into place (replacing any leftover of
   an interrupted run), the streams table is refreshed, then the manifest gains D. An
   archive in another store (``s3://bucket/prefix``: ``query.store``) gets each staged
   file uploaded instead, its size and read-back digest checked against the entry,
   after the day's leftovers there are removed; the manifest is still written last;
4. prune: journal days listed in the manifest (read back from a remote store) are deleted oldest first, keeping the
   newest ``keep_days`` of them (default 0: the archive is verified, the disk is
   returned at once); ``seq_floor`` is raised first so seq stays gapless.

Idempotent: a day in the manifest is skipped, so a re-run writes nothing. Crash-safe:
nothing is visible until the manifest lists it, and everything before the manifest
is rewritten identically (Parquet output is a deterministic function of the records).

Derived tables of D come from the projection state at the end of D-1
(``archive/checkpoints/date=D-1/state.bin``) plus the records of D. A checkpoint made
by other projection code (``projection.version`` in the manifest) is not trusted: the
state is re-projected from the first archived record instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recorder.journal import StreamInfo
from recorder.journal.codec import decode_checked, decode_columns
from recorder.journal.errors import CorruptValueError
from recorder.journal.reader import JournalReader
from recorder.journal.segments import day_bounds

from . import manifest as _manifest
from .archive import (
    ArchiveError,
    RawPartWriter,
    RecordDigest,
    check_file,
    parse_streams,
    read_records,
    read_streams,
    streams_table,
)
from .derive import BY_VENUE, TABLES, DeriveParams, Deriver, projection_version
from .errors import CompactionBusy
from .layout import (
    CHECKPOINTS,
    LOCK,
    STAGING,
    STREAMS_FILE,
    archive_root,
    checkpoint_path,
    day_dir,
    fsync_dir,
    fsync_file,
    part_name,
)
from .prune import prune
from .store import ArchiveStore, LocalStore, as_store, root_store

log = logging.getLogger(__name__)

DERIVED_OPTS: dict[str, Any] = {"compression": "zstd", "compression_level": 3}
TAKE_EVERY = 50_000  # records between moving derived rows to the Parquet writers
CHUNK = 16_384  # journal records decoded, checked and hashed per batch


@dataclass
class CompactResult:
    compacted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # finished days already in the manifest
    pruned: list[str] = field(default_factory=list)
    records: int = 0


@contextmanager
def archive_lock(data_dir: str | os.PathLike[str], *, wait: bool = True) -> Iterator[None]:
    """Hold ``archive/.lock``: one compactor (or rebuild) at a time."""
    root = archive_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise CompactionBusy(f"{root} is being compacted by another process") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


FINISH_GRACE_NS = 5 * 60 * 10**9  # the clock's say: a day is over this long after its end


def finished_days(reader: JournalReader, now_ns: int | None = None,
                  grace_ns: int = FINISH_GRACE_NS) -> list[str]:
    """Journal days with records that are over.

    A day is over once a newer day has a record, or (given the wall clock ``now_ns``)
    once ``grace_ns`` has passed since its UTC end: an idle feed must not keep its
    last day out of the archive forever. Without ``now_ns`` only the record rule counts
    (the journal alone decides: deterministic, what tests and re-runs use).
    """
    days = [s.day for s in reader.segments() if s.records]
    if days and now_ns is not None and day_bounds(days[-1])[1] + grace_ns <= now_ns:
        return days
    return days[:-1]


def compact(data_dir: str | os.PathLike[str], *, day: str | None = None, through: str | None = None,
            keep_days: int = 0, params: DeriveParams | None = None, derived: bool = True,
            include_current: bool = False, before_delete: Callable[[str], None] | None = None,
            wait: bool = True, now_ns: int | None = None,
            archive: str | os.PathLike[str] | ArchiveStore | None = None,
            on_uploaded: Callable[[str], None] | None = None) -> CompactResult:
    """Archive finished journal days (all, ``day`` only, or up to ``through``) and prune.

    ``now_ns`` (the wall clock, ns) also counts the newest day as finished once it is
    over by the clock (see ``finished_days``); the CLI and the scheduler pass it.
    ``include_current`` lets ``day`` name the newest day even before that: only when
    the recorder is stopped. ``derived=False`` archives raw only (``rebuild`` adds the
    derived tables later). ``before_delete(day)`` runs before a journal day is deleted
    (an in-process writer closes the segment there). ``wait=False`` raises
    ``CompactionBusy`` instead of waiting for another compaction.

    ``archive``: where the archive is (``s3://bucket/prefix``, a directory or a
    ``query.store.ArchiveStore``; default ``DATA/archive``). A sharded journal goes to
    ``ROOT/shard=NAME/`` with its own manifest. Days are staged and verified in
    ``DATA/archive/.staging`` and, for a store elsewhere, uploaded and checked file by
    file (``on_uploaded(rel)`` after each), then the manifest is written, last; the
    journal is pruned only once the store's manifest lists the day. The local lock
    ``DATA/archive/.lock`` keeps one compactor per data directory: two data
    directories must never compact into the same shard of one archive.

    Raises ``ArchiveError`` for a day that cannot be compacted (unknown, unfinished,
    out of order, or not matching what was read back), for a store that cannot be
    written (a missing bucket, refused keys) and ``PruneError`` when a journal day
    differs from its archived copy; nothing is published for a failed day.
    """
    params = params or DeriveParams()
    out = CompactResult()
    with archive_lock(data_dir, wait=wait):
        with JournalReader(data_dir) as reader:
            store = root_store(data_dir, archive).shard(reader.shard)
            store.check()
            m = _manifest.load(store)
            segs = {s.day: s for s in reader.segments() if s.records}
            ready = finished_days(reader, now_ns)
            if day is not None:
                if day not in segs:
                    if day in m["days"]:
                        out.already.append(day)
                        ready = []
                    else:
                        raise ArchiveError(f"no journal day {day}")
                elif day not in ready and not include_current:
                    raise ArchiveError(f"{day} is the newest journal day (not finished); "
                                       "pass include_current only if the recorder is stopped")
                else:
                    earlier = [d for d in segs if d < day and d not in m["days"]]
                    if earlier:
                        raise ArchiveError(f"compact {', '.join(earlier)} before {day}")
                    ready = [day]
            elif through is not None:
                ready = [d for d in ready if d <= through]
            for d in ready:
                if d in m["days"]:
                    out.already.append(d)
                    continue
                entry = _compact_day(data_dir, store, reader, d, m, params, derived)
                _publish(data_dir, store, d, entry, m, reader.streams(), on_uploaded=on_uploaded)
                out.compacted.append(d)
                out.records += entry["records"]
        # Prune by what the store holds now: the manifest just written, read back.
        committed = _manifest.load(store) if store.remote else m
        out.pruned = prune(data_dir, committed["days"], keep_days=keep_days, before_delete=before_delete)
        shutil.rmtree(archive_root(data_dir) / STAGING, ignore_errors=True)
    return out


# --- one day -------------------------------------------------------------------------------


def start_deriver(where: str | os.PathLike[str] | ArchiveStore, m: dict[str, Any], day: str,
                  streams: dict[int, StreamInfo], params: DeriveParams, version: str) -> Deriver:
    """The deriver at the end of the archived day before ``day`` (fresh if there is none).

    ``where``: the archive's store (or a data directory: its own archive). From that
    day's checkpoint when it was made by this projection version, else by re-projecting
    the archived records from the start.
    """
    before = [d for d in _manifest.days(m) if d < day]
    if not before:
        return Deriver(streams, params)
    prev = m["days"][before[-1]]
    ck = prev.get("checkpoint")
    store = as_store(where)
    if ck and (prev.get("projection") or {}).get("version") == version:
        blob = store.read_bytes(ck["path"])
        if blob is None:
            raise ArchiveError(f"{store.where(ck['path'])}: listed in the manifest but missing")
        return Deriver.restore(blob, streams, params)
    d = Deriver(streams, params)
    d.apply_many(read_records(store, to_seq=prev["last_seq"]))
    d.advance(day_bounds(before[-1])[1])
    d.rows = {t: [] for t in d.rows}
    return d


class _TableSink:
    """Derived rows of one table for one day -> Parquet, one file per venue where partitioned."""

    def __init__(self, stage: Path, table: str, day: str, name: str) -> None:
        self.stage = stage
        self.table = table
        self.dir = day_dir(table, day)
        self.name = name
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def _rel(self, venue: str | None) -> str:
        return f"{self.dir}/venue={venue}/{self.name}" if venue is not None else f"{self.dir}/{self.name}"

    def _write(self, key: str | None, t: pa.Table) -> None:
        k = key or ""
        w = self.writers.get(k)
        if w is None:
            path = self.stage / self._rel(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            w = self.writers[k] = pq.ParquetWriter(path, t.schema, **DERIVED_OPTS)
            self.rows[k] = 0
        w.write_table(t)
        self.rows[k] += t.num_rows

    def add(self, t: pa.Table) -> None:
        if not t.num_rows:
            return
        if self.table not in BY_VENUE:
            self._write(None, t)
            return
        venues = t.column("venue")
        for v in sorted(pc.unique(venues).to_pylist()):
            part = t.filter(pc.equal(venues, v)).drop_columns(["venue"])
            self._write(v, part)

    def close(self) -> dict[str, Any]:
        files = []
        for k in sorted(self.writers):
            self.writers[k].close()
            rel = self._rel(k if self.table in BY_VENUE else None)
            path = self.stage / rel
            fsync_file(path)
            got = pq.ParquetFile(path).metadata.num_rows
            if got != self.rows[k]:
                raise ArchiveError(f"{rel}: {got} rows on disk, {self.rows[k]} written")
            files.append(_manifest.file_entry(self.stage, rel, got))
        return {"rows": sum(f["rows"] for f in files), "files": files}


def _compact_day(data_dir: str | os.PathLike[str], store: ArchiveStore, reader: JournalReader, day: str,
                 m: dict[str, Any], params: DeriveParams, derived: bool) -> dict[str, Any]:
    root = archive_root(data_dir)
    stage = root / STAGING / day
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    seg = next(s for s in reader.segments() if s.day == day)
    prev_days = [d for d in _manifest.days(m) if d < day]
    if prev_days and m["days"][prev_days[-1]]["last_seq"] + 1 != seg.first_seq:
        raise ArchiveError(f"{day} starts at seq {seg.first_seq} but the archive ends at "
                           f"{m['days'][prev_days[-1]]['last_seq']}")
    name = part_name(seg.first_seq, seg.last_seq)
    raw_rel = f"{day_dir('raw', day)}/{name}"
    digest = RecordDigest()
    version = projection_version(params)
    streams = {**read_streams(store), **reader.streams()}
    deriver = start_deriver(store, m, day, streams, params, version) if derived else None
    sinks = {t: _TableSink(stage, t, day, name) for t in TABLES} if derived else {}
    expected = seg.first_seq
    require = reader.requires_checksums(day)  # a value without a checksum is damaged
    first_ts = last_ts = None
    taken = 0
    # Hashing and Parquet encoding release the GIL: each runs on its own worker (in
    # order) beside the other and the decoding of the next chunk; the digests are read
    # once both are done.
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compact-hash")
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compact-parquet")
    raw = RawPartWriter(stage / raw_rel, executor=encoder)
    hashed: list[Future] = []
    try:
        for keys, values in reader.raw_chunks(day, CHUNK):
            # The raw table and the digests come from the chunk's columns (no Record
            # objects); the derived tables need Records, decoded (and checked) first.
            try:
                recs = decode_checked(expected, keys, values, require=require) if deriver is not None else None
                try:
                    cols = decode_columns(expected, keys, values, require=require)
                except CorruptValueError:
                    if recs is None:  # the first bad value, named as the record decoder names it
                        decode_checked(expected, keys, values, require=require)
                    raise
                raw.add_columns(cols)
            except CorruptValueError as exc:
                raise ArchiveError(f"journal day {day}: {exc}") from None
            expected += len(cols)
            hashed.append(hasher.submit(digest.add_columns, keys, values, cols))
            while len(hashed) > 2:  # back-pressure: the reader never runs far ahead
                hashed.pop(0).result()
            if first_ts is None:
                first_ts = cols.first_ts
            last_ts = cols.last_ts
            if recs is not None and deriver is not None:
                deriver.apply_many(recs)
                taken += len(recs)
                if taken >= TAKE_EVERY:
                    taken = 0
                    for t, table in deriver.take().items():
                        sinks[t].add(table)
        raw.close()  # waits for the row groups queued on the worker
    finally:
        hasher.shutdown(wait=True)
        encoder.shutdown(wait=True)
    for f in hashed:
        f.result()  # a failure to hash is a failed compaction, never a silent wrong digest
    fsync_file(stage / raw_rel)
    if digest.count != seg.records or expected - 1 != seg.last_seq:
        raise ArchiveError(f"journal day {day}: read {digest.count} records, segment says {seg.records}")
    back = check_file(stage / raw_rel)
    if back != (digest.count, raw.columns.hexdigest) or raw.rows != digest.count:
        raise ArchiveError(f"{raw_rel}: read back {back[0]} rows / {back[1]}, wrote {raw.rows} / "
                           f"{raw.columns.hexdigest} of {digest.count} journal records")
    tables: dict[str, Any] = {"raw": {"rows": digest.count,
                                      "files": [_manifest.file_entry(stage, raw_rel, digest.count)]}}
    checkpoint = None
    if deriver is not None:
        deriver.advance(day_bounds(day)[1])
        for t, table in deriver.take().items():
            sinks[t].add(table)
        for t, sink in sinks.items():
            tables[t] = {**sink.close(), "version": version}
        ck_rel = checkpoint_path(day)
        (stage / ck_rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / ck_rel).write_bytes(deriver.snapshot())
        fsync_file(stage / ck_rel)
        checkpoint = _manifest.file_entry(stage, ck_rel)
    return {
        "first_seq": seg.first_seq, "last_seq": seg.last_seq, "records": digest.count,
        "first_ts_ns": first_ts, "last_ts_ns": last_ts, "journal_bytes": seg.bytes,
        "payload_digest": digest.payload, "record_digest": digest.record,
        "projection": {"version": version, **asdict(params)} if derived else None,
        "checkpoint": checkpoint, "tables": tables,
    }


def _publish(data_dir: str | os.PathLike[str], store: ArchiveStore, day: str, entry: dict[str, Any],
             m: dict[str, Any], streams: dict[int, StreamInfo], *, only: tuple[str, ...] | None = None,
             on_uploaded: Callable[[str], None] | None = None) -> None:
    """Move a staged day into place, refresh the streams table, then list it in the manifest.

    Into a local store under the data directory the staged directories are renamed;
    into any other store every file the entry lists is uploaded and checked, after the
    day's leftovers of an interrupted run (never in the manifest) are removed there.
    """
    stage = archive_root(data_dir) / STAGING / day
    names = only if only is not None else ("raw", *TABLES, CHECKPOINTS)
    if isinstance(store, LocalStore) and _same_device(stage, store.root):
        for table in names:
            rel = day_dir(table, day)
            dest = store.root / rel
            src = stage / rel
            if dest.exists():
                shutil.rmtree(dest)  # a leftover of an interrupted run, never in the manifest
            if src.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(src, dest)
                fsync_dir(dest.parent)
    else:
        for table in names:
            store.delete_dir(day_dir(table, day))
        for f in _entry_files(entry, names):
            store.put_file(stage / f["path"], f["path"], size=f["bytes"], blake2b=f["blake2b"])
            log.info("uploaded %s (%d bytes)", store.where(f["path"]), f["bytes"])
            if on_uploaded is not None:
                on_uploaded(f["path"])
    write_streams(store, m, streams)
    m["days"][day] = entry
    _manifest.save(store, m)
    shutil.rmtree(stage, ignore_errors=True)


def _same_device(stage: Path, root: Path) -> bool:
    """Whether a rename can move ``stage`` into ``root`` (the nearest existing parent's device)."""
    while not root.exists() and root != root.parent:
        root = root.parent
    return stage.exists() and os.stat(stage).st_dev == os.stat(root).st_dev


def _entry_files(entry: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The file entries of a day's manifest entry among ``names`` (tables, ``checkpoints``)."""
    out = [f for t in names if t != CHECKPOINTS and t in entry["tables"] for f in entry["tables"][t]["files"]]
    if CHECKPOINTS in names and entry.get("checkpoint"):
        out.append(entry["checkpoint"])
    return out


def write_streams(where: str | os.PathLike[str] | ArchiveStore, m: dict[str, Any],
                  streams: dict[int, StreamInfo]) -> None:
    """Keep ``streams/streams.parquet`` a superset of every stream seen (unchanged bytes are not rewritten)."""
    store = as_store(where)
    stored = store.read_bytes(STREAMS_FILE)  # read once: merged into, then compared with
    merged = {**(parse_streams(stored) if stored is not None else {}), **streams}
    sink = pa.BufferOutputStream()
    pq.write_table(streams_table(merged), sink, **DERIVED_OPTS)
    data = sink.getvalue().to_pybytes()
    if stored != data:
        store.write_bytes(STREAMS_FILE, data)
    m["streams"] = {"path": STREAMS_FILE, "bytes": len(data),
                    "blake2b": hashlib.blake2b(data, digest_size=16).hexdigest(), "rows": len(merged)}
