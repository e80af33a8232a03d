"""The day segments, opened for writing: where a group commit lands.

One ``SegmentStore`` belongs to the one writer of a journal. It runs in the writer's
process (inline and thread committers) or in the committer process
(``committer.py``); either way it is the only code that writes records to LMDB.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import lmdb

from .codec import encode_batch_into, encode_msgpack, seal_batch
from .errors import DiskFullError, JournalFullError, JournalWriteError
from .record import Record
from .segments import SEGMENT_FORMAT, close_env, open_env


class SegmentStore:
    """Append stored values to the day segments under ``root`` (the journal directory).

    ``durability`` is the writer's (``fsync``: every commit is fsync'ed; ``periodic``:
    fsync every ``sync_interval_ns``; ``os``: page cache only). ``committed_seq`` is
    the last seq already stored; errors carry it. After a ``JournalWriteError`` the
    store refuses nothing by itself: the writer stops calling it.
    """

    def __init__(self, root: Path, *, map_size: int, durability: str, sync_interval_ns: int,
                 committed_seq: int) -> None:
        self.root = root
        self.map_size = map_size
        self.durability = durability
        self.sync_interval_ns = sync_interval_ns
        self.committed_seq = committed_seq
        self._sync = durability == "fsync"
        self._segments: dict[str, Any] = {}  # day -> shared env
        self._last_sync_ns = time.monotonic_ns()
        self._buf = bytearray()  # reused by put_records: encoding into it costs no allocation

    def _segment(self, day: str) -> Any:
        shared = self._segments.get(day)
        if shared is not None:
            return shared
        path = self.root / day
        if not (path / "data.mdb").exists():
            # Made under a hidden name and renamed once whole: a reader never opens half a segment.
            tmp = self.root / f".new-{day}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            env = lmdb.open(str(tmp), map_size=self.map_size, max_dbs=4, sync=True)
            with env.begin(write=True) as txn:
                env.open_db(b"records", txn=txn)
                meta = env.open_db(b"meta", txn=txn)
                txn.put(b"day", encode_msgpack(day), db=meta)
                txn.put(b"format", encode_msgpack(SEGMENT_FORMAT), db=meta)
            env.close()
            os.rename(tmp, path)
        shared = open_env(path, map_size=self.map_size, sync=self._sync, create=False)
        with shared.env.begin(write=True) as txn:
            shared.dbs[b"records"] = shared.env.open_db(b"records", txn=txn)
        self._segments[day] = shared
        return shared

    def put_records(self, day: str, items: list[Record]) -> None:
        """Store ``items`` (consecutive seqs, all of ``day``) in one transaction."""
        encode_batch_into(items, self._buf)
        self.put(day, items[0].seq, self._buf, len(items))

    def put(self, day: str, first_seq: int, batch: bytes | bytearray | memoryview, count: int) -> None:
        """Store a batch of ``count`` records (``codec.encode_batch_into``'s bytes, seqs
        ``first_seq, first_seq + 1, ...``) in one transaction, each keyed and sealed with
        its checksum in one call for the batch (``codec.seal_batch``): the one place
        values are made.

        Raises ``JournalFullError``, ``DiskFullError`` or ``JournalWriteError``; nothing
        of a failed call is stored.
        """
        shared = self._segment(day)
        try:
            rows = seal_batch(batch, first_seq, count)
        except ValueError as exc:
            raise JournalWriteError(f"segment {day}: {exc}", self.committed_seq) from None
        try:
            with shared.env.begin(write=True) as txn:
                cur = txn.cursor(db=shared.dbs[b"records"])
                _, added = cur.putmulti(rows, append=True)
                if added != count:
                    raise JournalWriteError(f"segment {day}: {count - added} keys not appended "
                                            "(a seq already stored?)", self.committed_seq)
        except lmdb.MapFullError:
            raise JournalFullError(
                f"journal segment {day} is full (map_size={self.map_size} bytes; raise map_size)",
                self.committed_seq) from None
        except lmdb.Error as exc:
            full = disk_full_reason(exc, shared.env.path())
            if full:
                raise DiskFullError(f"disk full writing segment {day} ({full}): {exc}",
                                    self.committed_seq) from None
            raise JournalWriteError(f"LMDB error writing segment {day}: {exc}", self.committed_seq) from None
        if self.durability == "periodic":
            now = time.monotonic_ns()
            if now - self._last_sync_ns >= self.sync_interval_ns:
                shared.env.sync(True)
                self._last_sync_ns = now
        self.committed_seq = first_seq + count - 1

    def drain(self) -> None:
        """Every put returns stored: nothing is in flight (``CommitterProcess`` may have some)."""

    def release(self, day: str) -> None:
        """Close ``day``'s segment (compaction deletes it next)."""
        if day in self._segments:
            close_env(self.root / day)
            del self._segments[day]

    def close(self, *, failed: bool = False) -> None:
        """Sync (unless every commit already was, or the store failed) and close every segment."""
        for day in list(self._segments):
            if self.durability != "fsync" and not failed:
                self._segments[day].env.sync(True)
            close_env(self.root / day)
        self._segments.clear()


def disk_full_reason(exc: Exception, path: str) -> str:
    """Why a failed write was a full disk, or "" if it was not.

    LMDB reports a short write as EIO, so the error text alone is not enough: look at
    the free space and at this process's file-size limit too.
    """
    text = str(exc)
    if "No space left" in text:
        return "no space left on device"
    if "File too large" in text or "Disk quota" in text:
        return text.rsplit(":", 1)[-1].strip()
    try:
        free = shutil.disk_usage(path).free
        size = os.path.getsize(os.path.join(path, "data.mdb"))
    except OSError:
        return ""
    if free < 16 << 20:
        return f"{free} bytes free"
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and size + (1 << 20) >= soft:
        return f"file-size limit {soft} bytes reached"
    return ""
