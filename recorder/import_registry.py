"""Which capture files a journal holds: ``recorder import``'s own register, by content.

Kept in the journal's catalog environment (``DIR/journal/catalog``) as the named table
``imports``: key = the sha256 of the file's bytes (32 bytes), value = a msgpack list of
the imports of that content, oldest first, each a map::

    name, path, size, format        the file as it was given
    first_seq                       the seq its first record got (or would have got)
    started_ns                      wall time the import began
    state                           "started": written just before its first record is
                                    appended; "done": its last record is committed;
                                    "interrupted": it stopped with records first_seq..
                                    last_seq of it committed (the rest is not)
    records, last_seq, first_ts_ns, last_ts_ns, clamped, finished_ns   once done

An entry is written before the file's first record is appended and completed after its
last is committed (each with fsync), in the writer's session: the writer's lock is held,
and the catalog is reached through the journal's shared environments
(``recorder.journal.segments.open_env``), since LMDB forbids opening an environment twice
in a process. An import that fails in this process is settled at once (``abandon``); one
killed half-way still says "started", and the next import session settles it (``settle``,
before it appends anything): records after its ``first_seq`` are its own, as it was the
journal's one writer. So a file imported half-way is never taken for one not imported.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from .journal.codec import decode_msgpack, encode_msgpack
from .journal.segments import CATALOG, close_env, get_db, open_env, require_journal
from .journal.writer import JournalWriter

TABLE = b"imports"


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes, hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass
class ImportEntry:
    """One import of one file's content into a journal."""

    digest: str
    name: str
    path: str
    size: int
    format: str
    first_seq: int
    started_ns: int
    state: str = "started"
    records: int = 0
    last_seq: int = 0
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    clamped: int = 0
    finished_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # fields a later version wrote

    def to_value(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("digest", "extra")}
        return {**self.extra, **d}

    @classmethod
    def from_value(cls, digest: str, value: dict[str, Any]) -> ImportEntry:
        known = {k for k in cls.__dataclass_fields__ if k not in ("digest", "extra")}
        return cls(digest=digest, **{k: v for k, v in value.items() if k in known},
                   extra={k: v for k, v in value.items() if k not in known})


@contextmanager
def _catalog(root: Path) -> Iterator[Any]:
    """The catalog's shared environment (the writer's, when this process has one open)."""
    path = root / CATALOG
    shared = open_env(path)
    try:
        yield shared
    finally:
        close_env(path)


def _table(shared: Any, *, create: bool) -> Any | None:
    """Handle of the ``imports`` table; None when it does not exist and ``create`` is False."""
    if not create:
        try:
            return get_db(shared, TABLE)
        except lmdb.NotFoundError:
            return None
    env = shared.env
    # An explicit write transaction, as get_db does: the handle outlives it.
    with env.begin(write=True) as txn:
        return env.open_db(TABLE, txn=txn, create=True)


def _get(shared: Any, db: Any, digest: str) -> list[ImportEntry]:
    with shared.env.begin() as txn:
        raw = txn.get(bytes.fromhex(digest), db=db)
    return [ImportEntry.from_value(digest, v) for v in decode_msgpack(raw)] if raw else []


def find(writer: JournalWriter, digest: str) -> list[ImportEntry]:
    """The imports of this content into the writer's journal, oldest first."""
    with _catalog(writer.root) as shared:
        db = _table(shared, create=False)
        return [] if db is None else _get(shared, db, digest)


def record(writer: JournalWriter, entry: ImportEntry, *, drop: bool = False) -> None:
    """Write ``entry`` (committed with fsync): replacing the row of the same import (same
    ``first_seq`` and ``started_ns``), else appended to its content's list; ``drop``
    deletes that row instead."""
    with _catalog(writer.root) as shared:
        db = _table(shared, create=True)
        key = bytes.fromhex(entry.digest)
        with shared.env.begin(write=True) as txn:
            raw = txn.get(key, db=db)
            rows = [r for r in (decode_msgpack(raw) if raw else [])
                    if (r.get("first_seq"), r.get("started_ns")) != (entry.first_seq, entry.started_ns)]
            if not drop:
                rows.append(entry.to_value())
                rows.sort(key=lambda r: (r.get("first_seq", 0), r.get("started_ns", 0)))
            if rows:
                txn.put(key, encode_msgpack(rows), db=db)
            else:
                txn.delete(key, db=db)
        shared.env.sync(True)


def begin(writer: JournalWriter, *, digest: str, path: Path, fmt: str) -> ImportEntry:
    """Register an import about to append its first record (the writer's next seq)."""
    entry = ImportEntry(digest=digest, name=path.name, path=str(path), size=path.stat().st_size,
                        format=fmt, first_seq=writer.last_seq + 1, started_ns=time.time_ns())
    record(writer, entry)
    return entry


def finish(writer: JournalWriter, entry: ImportEntry) -> None:
    """Mark ``entry`` done (its records are committed: call after ``writer.flush()``)."""
    entry.state = "done"
    entry.finished_ns = time.time_ns()
    record(writer, entry)


def abandon(writer: JournalWriter, entry: ImportEntry) -> None:
    """``entry`` stopped before its end: "interrupted" with what of it is committed
    (``writer.committed_seq``: flush first if the writer can), or forgotten when none is."""
    _settle_one(writer, entry)


def settle(writer: JournalWriter) -> list[ImportEntry]:
    """Settle every import left "started" by a session that ended without finishing it
    (killed): call before appending anything. Returns those that had committed records."""
    with _catalog(writer.root) as shared:
        db = _table(shared, create=False)
        if db is None:
            return []
        with shared.env.begin() as txn:
            stale = [ImportEntry.from_value(k.hex(), v)
                     for k, raw in txn.cursor(db=db) for v in decode_msgpack(raw)
                     if v.get("state") == "started"]
    for entry in stale:
        _settle_one(writer, entry)
    return [e for e in stale if e.state == "interrupted"]


def _settle_one(writer: JournalWriter, entry: ImportEntry) -> None:
    if writer.committed_seq >= entry.first_seq:
        entry.state = "interrupted"
        entry.last_seq = writer.committed_seq
        entry.records = entry.last_seq - entry.first_seq + 1
        entry.finished_ns = time.time_ns()
        record(writer, entry)
    else:
        record(writer, entry, drop=True)


def imports(data_dir: str | os.PathLike[str]) -> list[ImportEntry]:
    """Every import the journal under ``data_dir`` holds, in seq order.

    Raises ``NotAJournalError`` when there is no journal. Opens the catalog through the
    shared environments, so it may be called while this process writes the journal.
    """
    root = require_journal(data_dir)
    with _catalog(root) as shared:
        db = _table(shared, create=False)
        if db is None:
            return []
        with shared.env.begin() as txn:
            out = [ImportEntry.from_value(k.hex(), v)
                   for k, raw in txn.cursor(db=db) for v in decode_msgpack(raw)]
    return sorted(out, key=lambda e: (e.first_seq, e.started_ns))
