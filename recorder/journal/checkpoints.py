"""Checkpoint storage: where projection checkpoints live, behind one small interface.

A checkpoint is ``(seq, blob)``: the bytes ``state/`` produced after folding record
``seq`` (``Projector.snapshot()``); ``state/`` never stores them itself. Two stores, one
contract (``tests/recorder/journal/test_checkpoints.py`` runs the same suite on both):

    CheckpointStore          the interface: save, load, seqs
    +-- LmdbCheckpointStore  a named LMDB database (``checkpoints``) in ``DATA/state``
    +-- MemoryCheckpointStore  the in-memory twin (tests, one-shot tools)

Keys are ``<name>\\0<big-endian seq>``, so several projections can share one
environment; ``put`` takes an open write transaction, so a caller that owns the LMDB
environment can commit a checkpoint together with what it describes. Saving the same
(name, seq) again overwrites it with the same bytes (a no-op). A store keeps the newest
``keep`` checkpoints of its name.
"""

from __future__ import annotations

import os
import struct
from typing import Protocol

import lmdb

from .errors import JournalUsageError

STATE_DIR = "state"  # DATA/state: where ``recorder run`` keeps its checkpoints (read by ``replay state``)
DB = b"checkpoints"
_SEQ = struct.Struct(">Q")
MAP_SIZE = 1 << 30


class CheckpointStore(Protocol):
    """Where checkpoints of one projection (one ``name``) are kept."""

    def save(self, seq: int, blob: bytes) -> None:
        """Store ``(seq, blob)`` durably; older ones beyond the store's ``keep`` go."""

    def load(self, *, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        """The newest checkpoint (with seq <= ``at_or_before`` if given), or None."""

    def seqs(self) -> list[int]:
        """Seqs of the stored checkpoints, oldest first."""


def _check(seq: int) -> None:
    if not isinstance(seq, int) or seq < 0:
        raise JournalUsageError(f"checkpoint seq must be an int >= 0, not {seq!r}")


class MemoryCheckpointStore:
    """The in-memory twin of ``LmdbCheckpointStore`` (same contract, nothing on disk)."""

    def __init__(self, *, keep: int = 3) -> None:
        self.keep = keep
        self._blobs: dict[int, bytes] = {}

    def save(self, seq: int, blob: bytes) -> None:
        _check(seq)
        self._blobs[seq] = bytes(blob)
        if self.keep > 0:
            for old in self.seqs()[:-self.keep]:
                del self._blobs[old]

    def load(self, *, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        seqs = [s for s in self.seqs() if at_or_before is None or s <= at_or_before]
        return (seqs[-1], self._blobs[seqs[-1]]) if seqs else None

    def seqs(self) -> list[int]:
        return sorted(self._blobs)


def _key(name: str, seq: int) -> bytes:
    return name.encode() + b"\0" + _SEQ.pack(seq)


def open_env(path: str | os.PathLike[str], *, map_size: int = MAP_SIZE) -> lmdb.Environment:
    """An LMDB environment for checkpoints at ``path`` (a directory, created if needed)."""
    os.makedirs(path, exist_ok=True)
    return lmdb.open(str(path), map_size=map_size, max_dbs=4, subdir=True)


def put(txn: lmdb.Transaction, db, name: str, seq: int, blob: bytes) -> None:
    """Write one checkpoint inside the caller's write transaction."""
    txn.put(_key(name, seq), blob, db=db)


def _seqs(txn: lmdb.Transaction, db, name: str) -> list[int]:
    prefix = name.encode() + b"\0"
    out = []
    cur = txn.cursor(db=db)
    if cur.set_range(prefix):
        for k in cur.iternext(values=False):
            if not k.startswith(prefix):
                break
            out.append(_SEQ.unpack(k[len(prefix):])[0])
    return out


class LmdbCheckpointStore:
    """Checkpoints of ``name`` in the LMDB environment at ``path`` (opened per call).

    Each call opens and closes the environment, so the store can be used from any thread
    and never holds the directory open between checkpoints; callers serialize writes.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str = "state", keep: int = 3) -> None:
        self.path = os.fspath(path)
        self.name = name
        self.keep = keep

    @classmethod
    def of_data_dir(cls, data_dir: str | os.PathLike[str], **kw) -> LmdbCheckpointStore:
        """The store ``recorder run`` writes and ``replay state`` reads: ``DATA/state``."""
        return cls(os.path.join(os.fspath(data_dir), STATE_DIR), **kw)

    def save(self, seq: int, blob: bytes) -> None:
        _check(seq)
        env = open_env(self.path)
        try:
            db = env.open_db(DB)
            with env.begin(write=True, db=db) as txn:
                put(txn, db, self.name, seq, blob)
                for old in _seqs(txn, db, self.name)[:-self.keep] if self.keep > 0 else []:
                    txn.delete(_key(self.name, old), db=db)
            env.sync(True)
        finally:
            env.close()

    def load(self, *, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        if not os.path.isdir(self.path):
            return None
        env = open_env(self.path)
        try:
            db = env.open_db(DB)
            with env.begin(db=db) as txn:
                seqs = [s for s in _seqs(txn, db, self.name)
                        if at_or_before is None or s <= at_or_before]
                if not seqs:
                    return None
                return seqs[-1], bytes(txn.get(_key(self.name, seqs[-1]), db=db))
        finally:
            env.close()

    def seqs(self) -> list[int]:
        if not os.path.isdir(self.path):
            return []
        env = open_env(self.path)
        try:
            db = env.open_db(DB)
            with env.begin(db=db) as txn:
                return _seqs(txn, db, self.name)
        finally:
            env.close()
