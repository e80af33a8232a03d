"""The one writer of a journal: assigns seq, group-commits to LMDB.

``append`` assigns the next seq at once and hands the record to in-process
subscribers (live projections) before it is committed; the seq is the order, so
they reach the same state a replay reaches. Commits happen in groups, every
``commit_interval_ms`` or ``commit_max_records``, whichever comes first. Who commits
(``committer=``):

    "thread"    a background thread of this process: network loops never wait on disk.
    "process"   the same thread hands each batch, encoded in one call, to a committer
                process (``committer.py``) that does the LMDB puts and fsyncs: the
                puts then cost this process's GIL nothing (py-lmdb releases the GIL
                around every put; beside a busy receive loop a commit thread crawls).
                What the recorder daemon uses.
    "inline"    ``append`` commits when a group is due (importers, tests);
                ``background=False`` means this.

Durability settings (``durability=``):

    "fsync"     every group commit is fsync'ed before ``committed_seq`` moves: a
                committed record survives process kill, kernel crash and power loss.
    "periodic"  commits reach the OS page cache at once (survive SIGKILL), and the
                file is fsync'ed every ``sync_interval_ms``: a power loss may lose up to
                that interval.
    "os"        commits reach the OS page cache only: survive SIGKILL, not power loss.

Clock: ``ts_ns`` never goes backwards in a journal. A wall time earlier than the last
one is clamped to it and the raw wall time is kept in ``meta["wall_ns"]``.

Shards: several recorders, each with its own journal, may feed one archive. A journal
records its shard (``name``, ``number`` 1..63; none: ``""``, 0) in the catalog's meta
when it is created, and a writer configured for another shard is refused. Stream ids
never collide across shards: shard ``k`` owns the ids ``k << SHARD_ID_BITS`` up to
``((k + 1) << SHARD_ID_BITS) - 1``; its main journal numbers streams from the bottom of
that block (+1 upward) and its short tier from ``(k << SHARD_ID_BITS) + (1 << 24)``
(``recorder.daemon.tier``); a journal numbers only within its half of the block
(``JOURNAL_ID_BITS``), so the two never meet either. Unsharded is block 0: ids from 1, the
tier's from ``1 << 24``, as before shards existed. Block 63 ends at ``2**31 - 1``: an id
fits a signed 32 bits.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat, starmap
from pathlib import Path
from typing import Any

from .codec import decode_key, encode_msgpack
from .committer import CommitterProcess
from .errors import (
    JournalLockedError,
    JournalUsageError,
    JournalWriteError,
    UnknownKindError,
    UnknownStreamError,
)
from .record import KIND_CODE, MARK, Record, StreamInfo
from .segments import (
    CATALOG,
    DEFAULT_MAP_SIZE,
    FORMAT,
    SPANS,
    close_env,
    encode_stream,
    get_db,
    journal_root,
    list_days,
    open_env,
    read_catalog,
    segment_bounds,
    segment_of,
    stream_key,
)
from .store import SegmentStore

DURABILITY = ("fsync", "periodic", "os")
COMMITTERS = ("thread", "process", "inline")
Subscriber = Callable[[Record], None]
SHARD_NAME = re.compile(r"[a-z0-9-]{1,32}")
SHARD_NUMBERS = range(1, 64)  # 0 is "no shard"
SHARD_ID_BITS = 25  # each shard owns a block of 2**25 stream ids
JOURNAL_ID_BITS = 24  # ... in two halves: its journal's and its tier's


def shard_problem(name: str, number: int) -> str:
    """Why (``name``, ``number``) is not a shard identity, or "" when it is one.

    ("", 0) is "no shard"; otherwise the name is lowercase ``[a-z0-9-]{1,32}`` and the
    number in 1..63 (it picks the block of stream ids, ``shard_stream_base``).
    """
    if name == "" and number == 0:
        return ""
    problems = []
    if not isinstance(name, str) or not SHARD_NAME.fullmatch(name):
        problems.append(f"shard name must be 1 to 32 of a-z, 0-9 and '-', not {name!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number not in SHARD_NUMBERS:
        problems.append(f"shard number must be an integer in 1..63, not {number!r}")
    return "; ".join(problems)


def shard_label(name: str, number: int) -> str:
    """How a shard is named to people: ``'a' (number 1)``, or ``none`` when unsharded."""
    return f"{name!r} (number {number})" if name or number else "none (unsharded)"


def shard_stream_base(number: int) -> int:
    """The first id of shard ``number``'s block (0 when unsharded): its streams count up from here + 1."""
    return number << SHARD_ID_BITS


class JournalWriter:
    """Append records to the journal under ``data_dir`` (created if absent).

    After calling ``append``: the record has its seq; call ``flush`` (or wait for the
    background committer) before relying on it being on disk; ``close`` flushes.
    Raises ``JournalLockedError`` when another writer holds the journal for longer
    than ``lock_wait_s`` (0: at once; a recorder restarting after a crash waits for the
    old committer process to finish, see ``committer.py``), ``JournalUsageError`` for
    a setting it does not know or out of range, or a ``span`` other than the journal's.

    ``span = "hour"`` makes (on a new journal) one segment per UTC hour, for a tier pruned
    by age (``recorder.journal.retention``); ``stream_base`` numbers this journal's new
    streams above it, so that a process writing two journals never sees one id twice.

    ``shard`` and ``shard_number`` name the recorder's shard (``shard_problem`` says what
    is allowed; ``""``, 0: none). A new journal stores them; an existing one made for
    another shard raises ``JournalUsageError`` naming both. ``stream_base`` defaults to
    the bottom of the shard's block of ids (``shard_stream_base``) and must lie inside it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        durability: str = "fsync",
        commit_interval_ms: float = 10.0,
        commit_max_records: int = 5000,
        sync_interval_ms: float = 1000.0,
        max_pending: int = 200_000,
        map_size: int = DEFAULT_MAP_SIZE,
        background: bool = True,
        committer: str | None = None,
        lock_wait_s: float = 0.0,
        clock: Callable[[], int] = time.time_ns,
        shard: str = "",
        shard_number: int = 0,
        span: str = "day",
        stream_base: int | None = None,
    ) -> None:
        if durability not in DURABILITY:
            raise JournalUsageError(f"durability must be one of {DURABILITY}, not {durability!r}")
        committer = committer or ("thread" if background else "inline")
        if committer not in COMMITTERS:
            raise JournalUsageError(f"committer must be one of {COMMITTERS}, not {committer!r}")
        if span not in SPANS:
            raise JournalUsageError(f"span must be one of {SPANS}, not {span!r}")
        if problem := shard_problem(shard, shard_number):
            raise JournalUsageError(problem)
        block = shard_stream_base(shard_number)
        if stream_base is None:
            stream_base = block
        if not block <= stream_base < block + (1 << SHARD_ID_BITS) - 1:
            raise JournalUsageError(
                f"stream_base must be in {block}..{block + (1 << SHARD_ID_BITS) - 2} "
                f"(the ids of shard number {shard_number}), not {stream_base}")
        if commit_max_records < 1 or commit_interval_ms <= 0:
            raise JournalUsageError("commit_max_records must be >= 1 and commit_interval_ms > 0")
        self.data_dir = Path(data_dir)
        self.root = journal_root(data_dir)
        self.durability = durability
        self.commit_interval_ns = int(commit_interval_ms * 1e6)
        self.commit_max_records = commit_max_records
        self.sync_interval_ns = int(sync_interval_ms * 1e6)
        self.max_pending = max(max_pending, commit_max_records)
        self.map_size = map_size
        self._clock = clock
        self._sync = durability == "fsync"

        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.root / "writer.lock", "a+b")  # noqa: SIM115 (held for life)
        # A committer process shares this lock and outlives a killed writer by the batches
        # it was handed: a restarted writer may have to wait for it (``lock_wait_s``).
        lock_deadline = time.monotonic() + lock_wait_s
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= lock_deadline:
                    self._lock_file.close()
                    raise JournalLockedError(f"{self.root} already has a writer") from None
                time.sleep(0.05)

        self._catalog = self._open_catalog(shard, shard_number, span)
        meta, self._streams = read_catalog(self.root)
        self.span = str(meta.get("span", "day"))
        self.shard = str(meta.get("shard", "") or "")
        self.shard_number = int(meta.get("shard_number", 0) or 0)
        refusal: JournalUsageError | None = None
        if self.span != span:
            refusal = JournalUsageError(f"{self.root} was made with {self.span} segments, not {span}")
        elif (self.shard, self.shard_number) != (shard, shard_number):
            refusal = JournalUsageError(
                f"{self.root} belongs to shard {shard_label(self.shard, self.shard_number)}, "
                f"not to the configured shard {shard_label(shard, shard_number)}: each shard "
                "records into its own journal")
        if refusal is not None:
            close_env(self.root / CATALOG)
            self._lock_file.close()
            raise refusal
        self.stream_base = stream_base
        # the first id past this journal's half of the block: its ids never reach the other's
        self._stream_end = ((stream_base >> JOURNAL_ID_BITS) + 1) << JOURNAL_ID_BITS
        self._accepting = dict(self._streams)  # what append takes; emptied on failure and close
        self.committed_seq = self._recover_last_seq()
        self.last_seq = self.committed_seq
        self.last_ts_ns = self._recover_last_ts()
        self.committer = committer
        self._store: SegmentStore | CommitterProcess = (
            CommitterProcess(self.root, map_size=map_size, durability=durability,
                             sync_interval_ns=self.sync_interval_ns, committed_seq=self.committed_seq,
                             lock_fd=self._lock_file.fileno())
            if committer == "process" else
            SegmentStore(self.root, map_size=map_size, durability=durability,
                         sync_interval_ns=self.sync_interval_ns, committed_seq=self.committed_seq))
        self._day = ""  # the segment of the newest commit

        # Appended, not yet committed; encoded by the committer. A deque because the one
        # producer appends and the committer pops without a shared lock (both atomic).
        self._pending: deque[Record] = deque()
        self._pending_since = 0
        self._subscribers: list[Subscriber] = []
        self._failure: JournalWriteError | None = None
        self._closed = False
        self._backpressured = False
        self.commits = 0
        self.commit_seconds_total = 0.0
        self.on_commit: Callable[[int, float], None] | None = None  # (records, seconds)

        self._cond = threading.Condition()
        self._commit_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if committer != "inline":
            self._thread = threading.Thread(target=self._run, name="journal-commit", daemon=True)
            self._thread.start()

    # -- opening ---------------------------------------------------------------------

    def _open_catalog(self, shard: str, shard_number: int, span: str) -> Any:
        path = self.root / CATALOG
        fresh = not (path / "data.mdb").exists()
        if fresh:
            if any(n for n in os.listdir(self.root) if n not in ("writer.lock",)):
                from .errors import NotAJournalError

                raise NotAJournalError(f"{self.root} holds files but no catalog: not a ticktape journal")
            path.mkdir(exist_ok=True)
        shared = open_env(path, map_size=64 << 20, sync=True, create=True)
        env = shared.env
        with env.begin(write=True) as txn:
            meta = env.open_db(b"meta", txn=txn)
            env.open_db(b"streams", txn=txn)
            if txn.get(b"format", db=meta) is None:
                txn.put(b"format", encode_msgpack(FORMAT), db=meta)
                txn.put(b"shard", encode_msgpack(shard), db=meta)
                if shard_number:  # an unsharded journal says nothing: older ones never did
                    txn.put(b"shard_number", encode_msgpack(shard_number), db=meta)
                txn.put(b"seq_floor", encode_msgpack(0), db=meta)
                if span != "day":  # a day journal says nothing: older ones never did
                    txn.put(b"span", encode_msgpack(span), db=meta)
        return shared

    def _recover_last_seq(self) -> int:
        meta, _ = read_catalog(self.root)
        last = int(meta.get("seq_floor", 0) or 0)
        for day in reversed(list_days(self.root)):
            shared = open_env(self.root / day, map_size=self.map_size, sync=self._sync)
            try:
                db = get_db(shared, b"records")
                with shared.env.begin() as txn:
                    cur = txn.cursor(db=db)
                    if cur.last():
                        return max(last, decode_key(cur.key()))
            finally:
                close_env(self.root / day)
        return last

    def _recover_last_ts(self) -> int:
        """The time of the newest whole record (a damaged newest one is ``recorder verify``'s to report)."""
        if self.committed_seq == 0:
            return 0
        from .reader import JournalReader

        with JournalReader(self.data_dir, skip_damaged=True) as reader:
            seq = self.committed_seq
            rec = reader.get(seq)
            while rec is None and seq > reader.first_seq:
                seq -= 1
                rec = reader.get(seq)
        return rec.ts_ns if rec else 0

    # -- streams ---------------------------------------------------------------------

    @property
    def streams(self) -> dict[int, StreamInfo]:
        return dict(self._streams)

    def register_stream(self, venue: str, *, market: str = "", url: str = "", conn: str = "",
                        channels: tuple[str, ...] | list[str] = (), config_hash: str = "",
                        opened_ns: int | None = None) -> int:
        """Intern a new connection; returns its stream id (committed before returning)."""
        self._check()
        sid = max(self._streams, default=self.stream_base) + 1
        if sid >= self._stream_end:
            raise JournalUsageError(f"no stream id left below {self._stream_end} (the end of "
                                    f"this journal's ids in shard number {self.shard_number}'s block)")
        info = StreamInfo(sid, venue, market, url, conn, tuple(channels), config_hash,
                          self._clock() if opened_ns is None else opened_ns)
        db = get_db(self._catalog, b"streams")
        with self._catalog.env.begin(write=True) as txn:
            txn.put(stream_key(sid), encode_stream(info), db=db)
        self._streams[sid] = info
        self._accepting[sid] = info
        return sid

    # -- appending -------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(record)`` for every record as soon as it has its seq."""
        self._subscribers.append(callback)

    def append(self, stream: int, kind: str, payload: bytes, *, ts_ns: int | None = None,
               meta: dict[str, Any] | None = None) -> Record:
        """Assign the next seq to a record and queue it for the next group commit.

        Call it from one thread (the receive loop's); raises ``JournalWriteError`` once
        the writer has failed or closed, ``UnknownStreamError`` or ``UnknownKindError``
        for a record it cannot hold (nothing is appended then).
        """
        if stream not in self._accepting:  # emptied when the writer fails or closes
            self._refuse(stream)
        if kind not in KIND_CODE:
            raise UnknownKindError(kind)
        if type(payload) is not bytes:
            payload = bytes(payload)
        if ts_ns is None:
            ts_ns = self._clock()
        if ts_ns < self.last_ts_ns:
            meta = {**meta, "wall_ns": ts_ns} if meta else {"wall_ns": ts_ns}
            ts_ns = self.last_ts_ns
        else:
            self.last_ts_ns = ts_ns
        seq = self.last_seq = self.last_seq + 1
        record = Record(seq, ts_ns, stream, kind, payload, meta)
        pending = self._pending
        if not pending:
            self._pending_since = time.monotonic_ns()
        pending.append(record)
        n = len(pending)
        # Inline, pending never passes commit_max_records (it commits there): == suffices.
        if n == self.commit_max_records or n >= self.max_pending:
            return self._group_due(record, n)
        for cb in self._subscribers:
            cb(record)
        if self._thread is None and time.monotonic_ns() - self._pending_since >= self.commit_interval_ns:
            self.flush()
        return record

    def _refuse(self, stream: int) -> None:
        self._check()
        raise UnknownStreamError(stream)

    def _group_due(self, record: Record, n: int) -> Record:
        """``append``'s end when a group is full: wake the committer (or commit inline), or
        hold the producer back when ``max_pending`` records wait."""
        waited_ns = 0
        if self._thread is not None:
            with self._cond:
                self._cond.notify()
                if n >= self.max_pending:
                    waited_ns = self._apply_backpressure()
        for cb in self._subscribers:
            cb(record)
        if waited_ns:
            # Never silent: the stall is in the journal, on the stream that was held back.
            self.mark(record.stream, "backpressure", waited_ms=round(waited_ns / 1e6, 3),
                      max_pending=self.max_pending)
        if self._thread is None:
            self.flush()
        return record

    def _apply_backpressure(self) -> int:
        """Block the producer until the committer catches up (caller holds ``_cond``).

        Returns how long it blocked, in ns (at least 1), for the ``mark`` that records it.
        """
        self._backpressured = True
        self._cond.notify()
        t0 = time.monotonic_ns()
        while len(self._pending) >= self.max_pending and self._failure is None and not self._closed:
            self._cond.wait(0.05)
        return max(1, time.monotonic_ns() - t0)

    def mark(self, stream: int, text: str, **fields: Any) -> Record:
        """Append a ``mark`` annotation (JSON payload)."""
        import json

        return self.append(stream, MARK, json.dumps({"mark": text, **fields}, sort_keys=True).encode())

    # -- committing ------------------------------------------------------------------

    def flush(self) -> int:
        """Commit everything appended so far; returns ``committed_seq``."""
        with self._commit_lock:
            while batch := self._take():
                self._commit(batch)
            try:
                self._store.drain()  # a committer process may still be storing the last batches
            except JournalWriteError as exc:
                self._fail(exc)
            finally:
                self.committed_seq = self._store.committed_seq
            return self.committed_seq

    def _take(self) -> list[Record]:
        """Detach at most ``commit_max_records`` pending records, oldest first.

        Bounding a commit bounds its duration, so commits (and fsyncs) keep their
        cadence even when the producer is faster; the rest waits for the next one.
        """
        pending = self._pending
        # popleft called from C (starmap): each call is atomic, so the producer may append meanwhile
        batch = list(starmap(pending.popleft, repeat((), min(len(pending), self.commit_max_records))))
        if pending:
            self._pending_since = time.monotonic_ns()
        with self._cond:
            self._cond.notify_all()  # wake a producer held by backpressure
        return batch

    def _commit(self, batch: list[Record]) -> None:
        if self._failure is not None:
            raise self._failure
        start = time.perf_counter()
        # A batch may straddle UTC midnight (or an hour): one transaction per segment, in seq order.
        i = 0
        while i < len(batch):
            day = segment_of(batch[i].ts_ns, self.span)
            day_end = segment_bounds(day)[1]
            j = i
            if batch[-1].ts_ns < day_end:
                j = len(batch)
            else:
                while j < len(batch) and batch[j].ts_ns < day_end:
                    j += 1
            self._commit_segment(day, batch[i:j] if (i, j) != (0, len(batch)) else batch)
            i = j
        elapsed = time.perf_counter() - start
        self.commits += 1
        self.commit_seconds_total += elapsed
        self._backpressured = False
        if self.on_commit is not None:
            self.on_commit(len(batch), elapsed)

    def _commit_segment(self, day: str, items: list[Record]) -> None:
        try:
            self._store.put_records(day, items)
        except JournalWriteError as exc:
            self._fail(exc)
        finally:
            self.committed_seq = self._store.committed_seq
        self._day = day

    def _fail(self, exc: JournalWriteError) -> None:
        self._failure = exc
        self._accepting = {}
        with self._cond:
            self._cond.notify_all()
        raise exc

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise JournalWriteError("journal writer is closed", self.committed_seq)

    @property
    def failure(self) -> JournalWriteError | None:
        return self._failure

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._failure is None:
                    n = len(self._pending)
                    if n >= self.commit_max_records:
                        break
                    if n:
                        wait = (self._pending_since + self.commit_interval_ns - time.monotonic_ns()) / 1e9
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait(self.commit_interval_ns / 1e9)
                if self._failure is not None or (self._closed and not self._pending):
                    return
            try:
                self.flush()
            except JournalWriteError:
                return
            except Exception as exc:  # never die silently: the producer sees it on next append
                self._failure = JournalWriteError(f"commit failed: {exc!r}", self.committed_seq)
                self._accepting = {}
                return

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Flush, stop the committer and release the journal."""
        if self._closed:
            return
        try:
            if self._failure is None:
                self.flush()
        finally:
            self._closed = True
            self._accepting = {}
            with self._cond:
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join()
            self._store.close(failed=self._failure is not None)
            close_env(self.root / CATALOG)
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    def release_segment(self, day: str) -> None:
        """Close a finished segment (compaction deletes it next); not the current one (``JournalUsageError``)."""
        if day == self._day:
            raise JournalUsageError(f"segment {day} is the current one")
        self.flush()
        self._store.release(day)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

