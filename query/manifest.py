"""The archive manifest: which days are archived, with counts, checksums and files.

``archive/manifest.json`` (``ROOT/shard=NAME/manifest.json`` for a sharded journal, one per
shard so shards never race on one file) is the commit point of compaction: files not listed in it
do not exist for readers, and a day is pruned from the journal only once it is listed.
It is rewritten whole, atomically (temp + fsync + rename), with sorted keys and no
wall-clock fields, so the same archive always has the same manifest bytes.

    {"format": 1,
     "streams": {"path": "streams/streams.parquet", "rows": 5, "blake2b": "..."},
     "days": {"2021-07-22": {
        "first_seq": 1, "last_seq": 1993, "records": 1993,
        "first_ts_ns": ..., "last_ts_ns": ..., "journal_bytes": ...,
        "payload_digest": "...",   # blake2b-16 over (u64be seq + payload), as recorder verify
        "record_digest": "...",    # blake2b-16 over (u64be seq + stored msgpack value)
        "projection": {"version": "...", ...},  # what made the derived tables
        "checkpoint": {"path": ..., "bytes": ..., "blake2b": ...} | null,
        "tables": {"raw": {"rows": n, "files": [{"path", "rows", "bytes", "blake2b"}]}, ...}}}}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .layout import MANIFEST
from .store import ArchiveStore, as_store

FORMAT = 1


def file_digest(path: Path) -> str:
    """blake2b-16 hex of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_entry(root: Path, rel: str, rows: int | None = None) -> dict[str, Any]:
    """A manifest file entry for ``root/rel``."""
    p = root / rel
    out: dict[str, Any] = {"path": rel, "bytes": p.stat().st_size, "blake2b": file_digest(p)}
    if rows is not None:
        out["rows"] = rows
    return out


def empty() -> dict[str, Any]:
    return {"format": FORMAT, "streams": None, "days": {}}


def load(where: str | os.PathLike[str] | ArchiveStore) -> dict[str, Any]:
    """The manifest of a store or of a data directory's archive (an empty one when nothing is archived yet)."""
    store = as_store(where)
    raw = store.read_bytes(MANIFEST)
    if raw is None:
        return empty()
    try:
        m = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{store.where(MANIFEST)}: not JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = m.get("format") if isinstance(m, dict) else m
        raise ManifestError(f"{store.where(MANIFEST)}: unknown manifest format {got!r}")
    return m


def dumps(m: dict[str, Any]) -> bytes:
    return (json.dumps(m, sort_keys=True, indent=1) + "\n").encode()


def save(where: str | os.PathLike[str] | ArchiveStore, m: dict[str, Any]) -> bool:
    """Write the manifest whole (atomically); returns False (and writes nothing) if unchanged."""
    store = as_store(where)
    data = dumps(m)
    if store.read_bytes(MANIFEST) == data:
        return False
    store.write_bytes(MANIFEST, data)
    return True


def days(m: dict[str, Any]) -> list[str]:
    """Archived days, oldest first."""
    return sorted(m["days"])


def table_files(m: dict[str, Any], table: str) -> list[str]:
    """Relative paths of every file of ``table``, in day then seq order."""
    out = []
    for day in days(m):
        t = m["days"][day]["tables"].get(table)
        if t:
            out.extend(f["path"] for f in t["files"])
    return out
