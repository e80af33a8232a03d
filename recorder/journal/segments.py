"""Journal layout on disk: one LMDB environment per UTC day plus a catalog.

    DIR/journal/catalog/        LMDB: ``streams`` (u32 id -> StreamInfo), ``meta``
    DIR/journal/2025-01-01/     LMDB: ``records`` (u64 seq -> value), ``meta`` (day, format)
    DIR/journal/writer.lock     flock held by the one writer

A journal made with ``span = "hour"`` (the catalog's ``meta["span"]``) has one segment per
UTC hour instead (``2025-01-01T13``): a tier kept for hours, pruned an hour at a time
(``recorder.journal.retention``). Segment names of either span sort in time order.

A segment's ``meta["format"]`` says how its values are made (``codec``): 2 (made since
checksums) every value carries a checksum; 1 (made before) its values carry none,
except those a writer with checksums added to it later (the day it was upgraded on).
The catalog's format (``FORMAT``) is that of the catalog alone and did not change.

A segment is created under a hidden name and renamed once initialised, so a reader
never opens a half-made environment. LMDB forbids opening one environment twice in
a process, so every open goes through ``open_env``, which shares them.
"""

from __future__ import annotations

import os
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path

import lmdb

from .codec import decode_msgpack, encode_msgpack
from .errors import JournalUsageError, NotAJournalError
from .record import StreamInfo

FORMAT = 1  # of the catalog
SEGMENT_FORMAT = 2  # of a segment this code makes: every value carries a checksum
JOURNAL_DIR = "journal"
CATALOG = "catalog"
# Address space reserved per segment, not disk: data.mdb grows with what is written.
# Fixed for the life of a segment (LMDB forbids resizing while this process reads it).
DEFAULT_MAP_SIZE = 256 << 30
_U32 = struct.Struct(">I")
_NS_PER_DAY = 86_400 * 1_000_000_000


SPANS = ("day", "hour")
_NS_PER_HOUR = 3_600 * 1_000_000_000


def segment_of(ts_ns: int, span: str = "day") -> str:
    """The segment a record of time ``ts_ns`` belongs to: its UTC day, or its UTC hour."""
    if span == "hour":
        return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H")
    return day_of(ts_ns)


def segment_bounds(name: str) -> tuple[int, int]:
    """``[start, end)`` in ns of a segment named by its day or its hour."""
    if len(name) == 13:
        start = int(datetime.strptime(name, "%Y-%m-%dT%H").replace(tzinfo=UTC).timestamp())
        return start * 1_000_000_000, start * 1_000_000_000 + _NS_PER_HOUR
    return day_bounds(name)


def is_segment_name(name: str) -> bool:
    """A day (``2025-01-01``) or an hour (``2025-01-01T13``) segment's name."""
    if len(name) == 13 and name[10] == "T":
        try:
            datetime.strptime(name, "%Y-%m-%dT%H")
        except ValueError:
            return False
        return True
    return is_day_name(name)


def day_of(ts_ns: int) -> str:
    """UTC day (``YYYY-MM-DD``) of a timestamp in ns."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    """``[start, end)`` of a UTC day in ns."""
    start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1_000_000_000
    return start, start + _NS_PER_DAY


def journal_root(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / JOURNAL_DIR


def is_day_name(name: str) -> bool:
    if len(name) != 10 or name[4] != "-" or name[7] != "-":
        return False
    try:
        datetime.strptime(name, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def list_days(root: Path) -> list[str]:
    """Segments present under ``root`` (days, or hours in an hour-span journal), oldest first."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if is_segment_name(n) and (root / n / "data.mdb").exists())


class _SharedEnv:
    __slots__ = ("env", "refs", "dbs")

    def __init__(self, env: lmdb.Environment) -> None:
        self.env = env
        self.refs = 0
        self.dbs: dict[bytes, object] = {}


_ENVS: dict[str, _SharedEnv] = {}
_ENVS_LOCK = threading.Lock()


def open_env(path: Path, *, map_size: int = DEFAULT_MAP_SIZE, sync: bool = True,
             create: bool = False) -> _SharedEnv:
    """Open (or share) the LMDB environment at ``path``.

    After calling this: call ``close_env(path)`` once per ``open_env``.
    """
    key = os.path.realpath(path)
    with _ENVS_LOCK:
        shared = _ENVS.get(key)
        if shared is None:
            if not create and not (path / "data.mdb").exists():
                raise NotAJournalError(f"{path} is not a journal segment (no data.mdb)")
            writable = os.access(path, os.W_OK)
            env = lmdb.open(
                str(path), map_size=map_size, max_dbs=4, subdir=True, create=create,
                readonly=not writable, sync=sync, metasync=sync, max_readers=254,
                readahead=False, lock=True,
            )
            shared = _ENVS[key] = _SharedEnv(env)
        shared.refs += 1
        return shared


def get_db(shared: _SharedEnv, name: bytes) -> object:
    """Cached handle of an existing named table.

    Call it outside any transaction. In a writable environment the handle is opened in
    an explicit write transaction: ``env.begin`` waits for LMDB's writer lock without the
    GIL. py-lmdb's default (``open_db`` with no transaction) waits for it holding the GIL,
    and a commit thread of this process inside a write transaction needs the GIL back
    after every put: the two deadlocked (a reader's first look at a segment during a
    commit, e.g. when the writer crosses midnight).
    """
    db = shared.dbs.get(name)
    if db is None:
        env = shared.env
        if env.flags()["readonly"]:
            db = env.open_db(name, create=False)  # a read transaction: no writer lock
        else:
            with env.begin(write=True) as txn:
                db = env.open_db(name, txn=txn, create=False)
        shared.dbs[name] = db
    return db


def segment_format(shared: _SharedEnv, day: str) -> int:
    """The format of a segment (``meta["format"]``; 1 when it says none).

    Raises ``NotAJournalError`` for a format this code does not know.
    """
    try:
        db = get_db(shared, b"meta")
    except lmdb.NotFoundError:
        return 1
    with shared.env.begin() as txn:
        raw = txn.get(b"format", db=db)
    fmt = 1 if raw is None else decode_msgpack(raw)
    if fmt not in (1, SEGMENT_FORMAT):
        raise NotAJournalError(f"segment {day} has an unknown format {fmt!r}")
    return fmt


def close_env(path: Path) -> None:
    key = os.path.realpath(path)
    with _ENVS_LOCK:
        shared = _ENVS.get(key)
        if shared is None:
            return
        shared.refs -= 1
        if shared.refs <= 0:
            del _ENVS[key]
            shared.env.close()


def forget_env(path: Path) -> None:
    """Drop a shared env regardless of references (the segment was deleted)."""
    key = os.path.realpath(path)
    with _ENVS_LOCK:
        shared = _ENVS.pop(key, None)
    if shared is not None:
        shared.env.close()


# --- catalog --------------------------------------------------------------------------


def encode_stream(info: StreamInfo) -> bytes:
    return encode_msgpack(info._asdict())


def decode_stream(value: bytes) -> StreamInfo:
    d = decode_msgpack(value)
    d["channels"] = tuple(d.get("channels") or ())
    fields = {k: d[k] for k in StreamInfo._fields if k in d}
    return StreamInfo(**fields)


def stream_key(stream_id: int) -> bytes:
    return _U32.pack(stream_id)


def require_journal(data_dir: str | os.PathLike[str]) -> Path:
    """Path of the journal under ``data_dir``; raises ``NotAJournalError`` otherwise."""
    root = journal_root(data_dir)
    catalog = root / CATALOG
    if not Path(data_dir).is_dir():
        raise NotAJournalError(f"{data_dir}: no such directory")
    if not (catalog / "data.mdb").exists():
        raise NotAJournalError(
            f"{data_dir} is not a ticktape data directory (no {JOURNAL_DIR}/{CATALOG}); "
            "record or import into it first"
        )
    return root


def read_catalog(root: Path) -> tuple[dict[str, object], dict[int, StreamInfo]]:
    """(meta, streams) from the catalog."""
    shared = open_env(root / CATALOG)
    try:
        env = shared.env
        meta_db = get_db(shared, b"meta")
        streams_db = get_db(shared, b"streams")
        with env.begin() as txn:
            meta = {k.decode(): decode_msgpack(v) for k, v in txn.cursor(db=meta_db)}
            streams = {}
            for k, v in txn.cursor(db=streams_db):
                info = decode_stream(v)
                streams[_U32.unpack(k)[0]] = info
    except lmdb.NotFoundError:
        raise NotAJournalError(f"{root}: catalog has no streams/meta tables") from None
    finally:
        close_env(root / CATALOG)
    if meta.get("format") != FORMAT:
        raise NotAJournalError(f"{root}: unknown journal format {meta.get('format')!r}")
    return meta, streams


def set_seq_floor(data_dir: str | os.PathLike[str], seq: int) -> None:
    """Raise the catalog's ``seq_floor`` to ``seq`` (never lowers it), committed with fsync.

    ``seq_floor`` is the last seq no longer in the journal: the writer continues after
    it and ``recorder verify`` expects the oldest segment to start at ``seq_floor + 1``.
    Call it *before* deleting the day that ends at ``seq`` (a crash in between leaves a
    floor above a day still present, which the next prune finishes deleting).
    Raises ``NotAJournalError`` when ``data_dir`` holds no journal, ``JournalUsageError``
    for a negative ``seq``.
    """
    if seq < 0:
        raise JournalUsageError(f"seq_floor must be >= 0, got {seq}")
    path = require_journal(data_dir) / CATALOG
    shared = open_env(path)
    try:
        db = get_db(shared, b"meta")
        with shared.env.begin(write=True) as txn:
            old = txn.get(b"seq_floor", db=db)
            if old is None or int(decode_msgpack(old) or 0) < seq:
                txn.put(b"seq_floor", encode_msgpack(seq), db=db)
        shared.env.sync(True)
    finally:
        close_env(path)
