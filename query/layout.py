"""Where the archive keeps things, relative to ``DIR/archive/``.

    archive/manifest.json                                  what is archived (the commit point)
    archive/raw/date=D/part-<first>-<last>.parquet          the records of day D, byte-exact
    archive/<table>/date=D/[venue=V/]part-<first>-<last>.parquet   derived tables of day D
    archive/checkpoints/date=D/state.bin                    projection state at the end of D
    archive/streams/streams.parquet                         every stream ever seen
    archive/.staging/D/                                     a day being written (crash leftovers)
    archive/.lock                                           flock held by the one compactor

A file is named by the seq range it covers; a day's files are visible to readers only
once the manifest lists them.

The archive root is ``DIR/archive/`` or another store (``s3://bucket/prefix``: ``query.store``;
staging and the lock stay in ``DIR/archive/``). A sharded journal's days go under
``ROOT/shard=NAME/`` in the same layout, with their own manifest; several shards (and an
unsharded archive at the root) can share one root, read as one table per name.
"""

from __future__ import annotations

import os
from pathlib import Path

from recorder.journal.retention import fsync_dir

ARCHIVE_DIR = "archive"
MANIFEST = "manifest.json"
STAGING = ".staging"
LOCK = ".lock"
CHECKPOINTS = "checkpoints"
STREAMS = "streams"
STREAMS_FILE = "streams/streams.parquet"


def archive_root(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / ARCHIVE_DIR


def part_name(first_seq: int, last_seq: int) -> str:
    """File name of a part covering seq ``first..last`` (zero-padded so names sort by seq)."""
    return f"part-{first_seq:012d}-{last_seq:012d}.parquet"


def day_dir(table: str, day: str) -> str:
    """Relative directory of ``table`` for ``day``."""
    return f"{table}/date={day}"


def checkpoint_path(day: str) -> str:
    return f"{CHECKPOINTS}/date={day}/state.bin"


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename (readers see old or new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
