"""Projection checkpoints in LMDB: the one module of ``state/`` that does I/O.

A checkpoint is ``(seq, blob)``: ``Projector.snapshot()`` taken after folding record
``seq``. Recovery = ``load_checkpoint`` + ``Projector.restore(blob, streams)`` + apply
records ``seq + 1 ...``. Checkpoints live in a named LMDB database (``checkpoints``),
keyed ``<name>\\0<big-endian seq>``, so several projections can share one
environment. ``put_checkpoint`` takes an open write transaction: the recorder can
commit a checkpoint in the same transaction as the records it describes.
Saving the same (name, seq) again overwrites it with the same bytes (a no-op).
"""

from __future__ import annotations

import os
import struct

import lmdb

from .projector import Projector

STATE_DIR = "state"  # DATA/state: where ``recorder run`` keeps its checkpoints (read by ``replay state``)
DB = b"checkpoints"
_SEQ = struct.Struct(">Q")
MAP_SIZE = 1 << 30


def _key(name: str, seq: int) -> bytes:
    return name.encode() + b"\0" + _SEQ.pack(seq)


def open_env(path: str | os.PathLike[str], *, map_size: int = MAP_SIZE) -> lmdb.Environment:
    """An LMDB environment for checkpoints at ``path`` (a directory, created if needed)."""
    os.makedirs(path, exist_ok=True)
    return lmdb.open(str(path), map_size=map_size, max_dbs=4, subdir=True)


def put_checkpoint(txn: lmdb.Transaction, db, name: str, seq: int, blob: bytes) -> None:
    """Write one checkpoint inside the caller's write transaction."""
    txn.put(_key(name, seq), blob, db=db)


def save_checkpoint(path: str | os.PathLike[str], seq: int, blob: bytes, *, name: str = "state",
                    keep: int = 3) -> None:
    """Store ``(seq, blob)`` durably and keep only the newest ``keep`` of ``name``."""
    if seq < 0:
        raise ValueError("seq must be >= 0")
    env = open_env(path)
    try:
        db = env.open_db(DB)
        with env.begin(write=True, db=db) as txn:
            put_checkpoint(txn, db, name, seq, blob)
            seqs = _seqs(txn, db, name)
            for old in seqs[:-keep] if keep > 0 else []:
                txn.delete(_key(name, old), db=db)
        env.sync(True)
    finally:
        env.close()


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


def load_checkpoint(path: str | os.PathLike[str], *, name: str = "state",
                    at_or_before: int | None = None) -> tuple[int, bytes] | None:
    """The newest checkpoint of ``name`` (with seq <= ``at_or_before`` if given), or None."""
    if not os.path.isdir(path):
        return None
    env = open_env(path)
    try:
        db = env.open_db(DB)
        with env.begin(db=db) as txn:
            seqs = [s for s in _seqs(txn, db, name) if at_or_before is None or s <= at_or_before]
            if not seqs:
                return None
            blob = txn.get(_key(name, seqs[-1]), db=db)
            return seqs[-1], bytes(blob)
    finally:
        env.close()


def list_checkpoints(path: str | os.PathLike[str], *, name: str = "state") -> list[int]:
    """Seqs of the stored checkpoints of ``name``, oldest first."""
    if not os.path.isdir(path):
        return []
    env = open_env(path)
    try:
        db = env.open_db(DB)
        with env.begin(db=db) as txn:
            return _seqs(txn, db, name)
    finally:
        env.close()


# What a projection's state depends on besides the records: a checkpoint taken with other
# values is not the state this projection would reach, so it is not used.
SETTINGS = ("depth_levels", "windows", "large_trade_quote", "spike_ratio")


def restore_newest(path: str | os.PathLike[str], like: Projector, *, at_or_before: int,
                   streams: dict | None = None) -> tuple[int, Projector | None, str]:
    """The newest checkpoint at or before ``at_or_before``, restored: ``(seq, projector, "")``.

    ``(0, None, why)`` when that checkpoint cannot be used (the store does not read, the
    blob does not restore, or it was taken with settings other than ``like``'s);
    ``(0, None, "")`` when there is none. Recovery then projects from the first record.
    """
    try:
        got = load_checkpoint(path, at_or_before=at_or_before)
    except Exception as exc:  # noqa: BLE001 (an unreadable store: project from the start)
        return 0, None, f"checkpoints unreadable: {type(exc).__name__}: {exc}"
    if got is None:
        return 0, None, ""
    seq, blob = got
    try:
        p = Projector.restore(blob, dict(streams or {}))
    except Exception as exc:  # noqa: BLE001
        return 0, None, f"checkpoint at seq {seq} does not restore: {type(exc).__name__}: {exc}"
    other = [f"{k} {getattr(p, k)!r}" for k in SETTINGS if getattr(p, k) != getattr(like, k)]
    if other:
        return 0, None, f"checkpoint at seq {seq} has other settings: {', '.join(other)}"
    return seq, p, ""
