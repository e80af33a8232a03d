"""Completed candles cached on disk in the archive's layout, read through DuckDB.

    archive/candles/venue=V/interval=I/date=D/part-<first>-<last>-<digest>.parquet
    archive/candles/venue=V/interval=I/coverage.json     what is known complete (commit point)
    archive/candles/.lock                                flock held by a writer

One table for every symbol (``symbol`` is a column, rows sorted by symbol then open time so
a row group's statistics skip the other symbols). ``date`` is the first UTC day of the
partition holding the open time, a partition being a day for second and minute candles, a
month for hours, a year for days, weeks and months (``grain``): 400 candles of any interval
are then one or two partitions, never hundreds of one-row files. Prices and volumes are
exact decimal strings in plain notation (``format(d, "f")``: the same value, digits and
trailing zeros; ``1E+3`` comes back as ``1000``); times are int64 ns. ``<first>``/``<last>``
are the open times the file covers and ``<digest>`` a hash of its rows, so a file is named
by what it holds.

Coverage is kept apart from the candles because a period without trades is absent from a
venue's answer (Upbit sends none): ``coverage.json`` lists, per symbol, the ``[from, to)``
ranges whose every completed candle is stored. It is written after the Parquet files it
describes (as the archive's manifest is), so a crash leaves extra rows, never a claim
without rows. Nothing else in the archive is touched, and the compactor never touches this
table (``query.compact`` only replaces the days of its own tables).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from query.errors import ArchiveError, QueryUsageError
from query.layout import archive_root
from query.market.types import Candle, age_ms
from query.store import ArchiveStore, LocalStore, is_remote, root_store

log = logging.getLogger(__name__)

TABLE = "candles"
COVERAGE = "coverage.json"
LOCK = ".lock"
COMPACT_AFTER = 4  # parts in one partition before a write merges them into one
SCHEMA = pa.schema([
    ("symbol", pa.string()), ("norm", pa.string()), ("open_time_ns", pa.int64()),
    ("open", pa.string()), ("high", pa.string()), ("low", pa.string()), ("close", pa.string()),
    ("volume", pa.string()), ("quote_volume", pa.string()),
    ("exch_ts_ns", pa.int64()), ("recv_ts_ns", pa.int64()),
])
_PRICES = ("open", "high", "low", "close", "volume", "quote_volume")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_INTERVAL = re.compile(r"[0-9]+[smhdwM]")
_SELECT = ("SELECT open_time_ns, norm, open, high, low, close, volume, quote_volume, exch_ts_ns, "
           "recv_ts_ns FROM read_parquet($files, hive_partitioning = false) WHERE symbol = $symbol "
           "AND open_time_ns >= $start AND open_time_ns < $end ORDER BY open_time_ns")
Ranges = list[list[int]]  # sorted, disjoint, non-touching [from_ns, to_ns) pairs


def view_sql(data_dir: str | os.PathLike[str]) -> str | None:
    """A ``SELECT`` over every stored candle, for a user's view (None while none is stored).

    Columns: the file's, then ``venue``, ``interval`` and ``date`` from the path; one row per
    venue, interval, symbol and open time (a merge a crash interrupted can leave two). It
    shows rows whatever their coverage; ``CandleStore.get`` is the reader that knows which
    ranges are complete. ``query.catalog`` does not register it yet.
    """
    root = archive_root(data_dir) / TABLE
    if not any(root.glob("venue=*/interval=*/date=*/part-*.parquet")):
        return None
    glob = str(root / "venue=*" / "interval=*" / "date=*" / "part-*.parquet").replace("'", "''")
    return (f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true, hive_types = "
            "{'venue': VARCHAR, 'interval': VARCHAR, 'date': DATE}) "
            "QUALIFY row_number() OVER (PARTITION BY venue, interval, symbol, open_time_ns) = 1")


def grain(interval: str) -> str:
    """How long a partition of ``interval`` is: ``day``, ``month`` or ``year``."""
    unit = interval[-1:]
    if unit in ("s", "m"):
        return "day"
    return "month" if unit == "h" else "year"


def _first_day(d: date, g: str) -> date:
    return d if g == "day" else d.replace(day=1) if g == "month" else d.replace(month=1, day=1)


def _next(d: date, g: str) -> date:
    if g == "day":
        return d + timedelta(days=1)
    if g == "month":
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date(d.year + 1, 1, 1)


def _ns(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def partition_of(ts_ns: int, interval: str) -> str:
    """The partition (its first UTC day, ``YYYY-MM-DD``) holding an open time ``ts_ns``."""
    d = datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).date()
    return _first_day(d, grain(interval)).isoformat()


def partition_span(part: str, interval: str) -> tuple[int, int]:
    """``[start_ns, end_ns)`` of a partition named by ``partition_of``."""
    d = date.fromisoformat(part)
    return _ns(d), _ns(_next(d, grain(interval)))


def partitions_between(start_ns: int, end_ns: int, interval: str) -> list[str]:
    """The partitions holding any open time of ``[start_ns, end_ns)``, in order."""
    if end_ns <= start_ns:
        return []
    g = grain(interval)
    d = date.fromisoformat(partition_of(start_ns, interval))
    out = []
    while _ns(d) < end_ns:
        out.append(d.isoformat())
        d = _next(d, g)
    return out


def add_range(ranges: Ranges, lo: int, hi: int) -> Ranges:
    """``ranges`` with ``[lo, hi)`` added (overlapping or touching ranges become one)."""
    out: Ranges = []
    for a, b in sorted([*ranges, [lo, hi]]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def cut_range(ranges: Ranges, lo: int, hi: int) -> Ranges:
    """``ranges`` without ``[lo, hi)``."""
    out: Ranges = []
    for a, b in ranges:
        if a < lo:
            out.append([a, min(b, lo)])
        if b > hi:
            out.append([max(a, hi), b])
    return [r for r in out if r[0] < r[1]]


def covers(ranges: Ranges, lo: int, hi: int) -> bool:
    """Whether one of ``ranges`` holds all of ``[lo, hi)``."""
    return any(a <= lo and hi <= b for a, b in ranges)


class CandleStore:
    """Completed candles of every venue, symbol and interval under ``data_dir``'s archive.

    ``data_dir``: a data directory (``DATA/archive/candles``), an archive root
    ``s3://bucket/prefix`` (``ROOT/candles``; ``query.store`` for the endpoint and keys) or
    an ``ArchiveStore``. ``get`` answers a range only when it is wholly covered; ``put``
    stores candles and the range they cover. Two DuckDB connections are kept, one for reads
    and one for writes, so a read does not wait for a put's merge; the threads of a process
    share each (a lock serializes them), and writers in other processes are kept apart by a
    flock (for an S3 root a lock file in the system temp directory: one host writes one S3
    candle cache). Call ``close()`` when done (or use it as a context manager).
    """

    def __init__(self, data_dir: str | os.PathLike[str] | ArchiveStore, *,
                 compact_after: int = COMPACT_AFTER) -> None:
        if isinstance(data_dir, ArchiveStore) or is_remote(data_dir):
            self.store = root_store(".", data_dir).sub(TABLE)
        else:
            self.store = LocalStore(archive_root(data_dir) / TABLE)
        self.root = self.store.url
        self.compact_after = compact_after
        self._read = duckdb.connect(":memory:")
        self.store.attach(self._read)
        # File names carry a digest of their rows: a cached footer is never a stale one.
        self._read.execute("SET parquet_metadata_cache = true")
        # Reads are a few hundred rows: one thread answers them with the shortest tail
        # (p99 2.1 ms against 3.9 ms with four, on two cores).
        self._read.execute("SET threads = 1")
        self._read_lock = threading.Lock()
        self._con = duckdb.connect(":memory:")  # the writer's
        self.store.attach(self._con)
        self._lock = threading.RLock()
        self._coverage_cache: dict[str, tuple[tuple[int, ...], dict[str, Ranges]]] = {}
        self._suspect: set[str] = set()  # day directories a read failed in: checked whole on put

    def close(self) -> None:
        with self._read_lock:
            self._read.close()
        with self._lock:
            self._con.close()

    def __enter__(self) -> CandleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -------------------------------------------------------------------------

    # Paths are relative to ``self.store`` ("venue=V/interval=I/date=D/part-...").

    def _base(self, venue: str, interval: str) -> str:
        if not _NAME.fullmatch(venue):
            raise QueryUsageError(f"not a venue name: {venue!r}")
        if not _INTERVAL.fullmatch(interval):
            raise QueryUsageError(f"not an interval: {interval!r}")
        return f"venue={venue}/interval={interval}"

    def _parts(self, day_dir: str) -> list[str]:
        return [f"{day_dir}/{n}" for n in self.store.list_files(day_dir)
                if n.startswith("part-") and n.endswith(".parquet")]

    # -- reading -----------------------------------------------------------------------

    def get(self, venue: str, symbol: str, interval: str, start_ns: int, end_ns: int, *,
            now_ns: int) -> list[Candle] | None:
        """The stored candles opening in ``[start_ns, end_ns)``, ascending, or None.

        None (a miss: ask the venue, then ``put``) unless the whole range is covered; a
        covered range with no trade at all is ``[]``. Candles come with ``source="archive"``,
        ``closed=True`` and ``age_ms`` against ``now_ns``. A file that cannot be read is a
        miss with a logged warning (the next ``put`` of that day sets it aside).
        """
        base = self._base(venue, interval)
        if end_ns <= start_ns:
            return []
        if not covers(self._coverage(base).get(symbol, []), start_ns, end_ns):
            return None
        for attempt in (1, 2):  # a writer may merge the files between listing and reading
            parts = partitions_between(start_ns, end_ns, interval)
            try:
                files = [self.store.uri(p) for d in parts for p in self._parts(f"{base}/date={d}")
                         if _overlaps(_name(p), start_ns, end_ns)]
            except ArchiveError as e:  # the store is out of reach (S3 down): a miss
                log.warning("candle cache %s unreachable, treated as a miss: %s", self.root, e)
                return None
            if not files:
                return []
            try:
                with self._read_lock:
                    rows = self._read.execute(_SELECT, {"files": files, "symbol": symbol,
                                                       "start": start_ns, "end": end_ns}).fetchall()
                break
            except (duckdb.Error, OSError) as e:
                if attempt == 2:
                    self._suspect.update(f"{base}/date={d}" for d in parts)
                    log.warning("candle cache %s %s %s unreadable, treated as a miss: %s",
                                venue, symbol, interval, e)
                    return None
        return list(_candles(rows, venue, symbol, interval, now_ns))

    def _coverage(self, base: str, *, fresh: bool = False) -> dict[str, Ranges]:
        """The coverage of one venue and interval: symbol -> ranges.

        Cached while the file's stamp is unchanged; ``fresh`` reads it anyway (a writer, under
        the lock, must not trust a stamp another process could have repeated).
        """
        path = f"{base}/{COVERAGE}"
        try:
            stamp = self.store.stamp(path)
        except (OSError, ArchiveError) as e:  # the store is out of reach: a miss, as an unreadable file
            log.warning("candle coverage %s unreadable, treated as empty: %s", path, e)
            return {}
        if stamp is None:
            return {}
        hit = self._coverage_cache.get(path)
        if hit is not None and hit[0] == stamp and not fresh:
            return hit[1]
        try:
            data = self.store.read_bytes(path)
            if data is None:
                return {}
            got = json.loads(data)["symbols"]
            cov = {str(s): [[int(a), int(b)] for a, b in r] for s, r in got.items()}
        except (OSError, ArchiveError, ValueError, KeyError, TypeError) as e:
            log.warning("candle coverage %s unreadable, treated as empty: %s", path, e)
            cov = {}
        self._coverage_cache[path] = (stamp, cov)
        return cov

    # -- writing -----------------------------------------------------------------------

    def put(self, candles: Iterable[Candle], *, covered: tuple[int, int], venue: str | None = None,
            symbol: str | None = None, interval: str | None = None) -> int:
        """Store closed candles of one symbol and interval, and that ``covered`` is complete.

        ``covered`` is ``[start_ns, end_ns)`` in whole periods: every candle opening in it is
        in ``candles`` (a period absent is one without trades) and every period in it is over.
        ``venue``/``symbol``/``interval`` are needed only when ``candles`` is empty. ``fill``
        candles are not stored (coverage says the period is known empty). Repeating a put
        is a no-op: a candle already stored is kept, never written twice. Returns the rows
        written. ``QueryUsageError`` for an open candle, mixed symbols or a candle outside
        ``covered``.
        """
        lo, hi = covered
        rows, (venue, symbol, interval) = checked(candles, covered, (venue, symbol, interval))
        base = self._base(venue, interval)
        written = 0
        with self._writing():
            quarantined: list[str] = []
            by_day: dict[str, list[Candle]] = {}
            for c in rows:
                by_day.setdefault(partition_of(c.open_time_ns, interval), []).append(c)
            for day, cs in sorted(by_day.items()):
                written += self._put_day(f"{base}/date={day}", symbol, cs, quarantined)
            if hi > lo or quarantined:
                self._commit_coverage(base, symbol, interval, (lo, hi), quarantined)
        return written

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if isinstance(self.store, LocalStore):
            self.store.root.mkdir(parents=True, exist_ok=True)
            lock = self.store.root / LOCK
        else:  # no lock on S3: one per host, named by the URL
            key = hashlib.blake2b(self.store.url.encode(), digest_size=8).hexdigest()
            lock = Path(tempfile.gettempdir()) / f"ticktape-candles-{key}.lock"
        with self._lock, open(lock, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _put_day(self, day_dir: str, symbol: str, cs: list[Candle], quarantined: list[str]) -> int:
        parts = self._parts(day_dir)
        try:
            if day_dir in self._suspect:
                raise duckdb.IOException("a read of this day failed")
            have = self._stored(parts, symbol, cs)
        except duckdb.Error:  # some part is damaged: read each whole, set aside the bad ones
            parts = self._readable(parts, quarantined)
            self._suspect.discard(day_dir)
            have = self._stored(parts, symbol, cs)
        new: dict[int, Candle] = {}
        for c in cs:
            if c.open_time_ns not in have:
                new.setdefault(c.open_time_ns, c)
        if new:
            parts.append(_write_part(self.store, day_dir, _table(symbol, [new[k] for k in sorted(new)])))
        if len(parts) > self.compact_after:
            self._compact(day_dir, parts)
        return len(new)

    def _stored(self, parts: Sequence[str], symbol: str, cs: Sequence[Candle]) -> set[int]:
        """Open times of ``symbol`` already in ``parts``, among those of ``cs``."""
        lo = min(c.open_time_ns for c in cs)
        hi = max(c.open_time_ns for c in cs) + 1
        files = [self.store.uri(p) for p in parts if _overlaps(_name(p), lo, hi)]
        if not files:
            return set()
        return {r[0] for r in self._con.execute(
            "SELECT open_time_ns FROM read_parquet($files, hive_partitioning = false) "
            "WHERE symbol = $symbol AND open_time_ns >= $lo AND open_time_ns < $hi",
            {"files": files, "symbol": symbol, "lo": lo, "hi": hi}).fetchall()}

    def _readable(self, parts: Sequence[str], quarantined: list[str]) -> list[str]:
        """The ``parts`` that read whole; the others renamed aside (``.corrupt-<name>``)."""
        ok = []
        for p in parts:
            try:
                self._con.execute("SELECT * FROM read_parquet($f, hive_partitioning = false)",
                                  {"f": self.store.uri(p)}).fetchall()
                ok.append(p)
            except duckdb.Error as e:
                log.warning("candle cache file %s unreadable, set aside: %s", self.store.where(p), e)
                day_dir, _, name = p.rpartition("/")
                self.store.move(p, f"{day_dir}/.corrupt-{name}")
                quarantined.append(day_dir.rpartition("/")[2].removeprefix("date="))
        return ok

    def _compact(self, day_dir: str, parts: Sequence[str]) -> None:
        """Merge a day's parts into one (the first row of a symbol and open time wins)."""
        rel = self._con.sql(
            "SELECT * EXCLUDE (n, filename) FROM (SELECT *, row_number() OVER (PARTITION BY symbol, "
            "open_time_ns ORDER BY filename) AS n FROM read_parquet($files, hive_partitioning = false, "
            "filename = true)) WHERE n = 1 ORDER BY symbol, open_time_ns",
            params={"files": [self.store.uri(p) for p in parts]})
        # DuckDB 2.x names it to_arrow_table, 1.x arrow
        t = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        merged = _write_part(self.store, day_dir, t.cast(SCHEMA))
        for p in parts:
            if p != merged:
                self.store.delete_file(p)

    def _commit_coverage(self, base: str, symbol: str, interval: str, covered: tuple[int, int],
                         bad: list[str]) -> None:
        lo, hi = covered
        cov = {s: [list(r) for r in rs] for s, rs in self._coverage(base, fresh=True).items()}
        for part in bad:  # rows of every symbol went with the file: nobody is covered there
            cov = {s: cut_range(rs, *partition_span(part, interval)) for s, rs in cov.items()}
        if hi > lo:
            cov[symbol] = add_range(cov.get(symbol, []), lo, hi)
        body = json.dumps({"version": 1, "symbols": {s: cov[s] for s in sorted(cov) if cov[s]}},
                          separators=(",", ":")).encode()
        path = f"{base}/{COVERAGE}"
        self.store.write_bytes(path, body)
        # What this process wrote is known: S3 stamps times in whole seconds, so two commits
        # of one size in a second would look alike to the stamp.
        stamp = self.store.stamp(path)
        if stamp is not None:
            self._coverage_cache[path] = (stamp, {s: cov[s] for s in cov if cov[s]})


def checked(candles: Iterable[Candle], covered: tuple[int, int],
            given: tuple[str | None, str | None, str | None]) -> tuple[list[Candle], tuple[str, str, str]]:
    """What ``put`` stores of ``candles`` (no ``fill``), and their venue, symbol and interval.

    ``QueryUsageError`` for an open candle, mixed keys or a candle outside ``covered``.
    """
    lo, hi = covered
    rows = [c for c in candles if not c.fill]
    keys = {(c.venue, c.symbol, c.interval) for c in rows}
    if len(keys) > 1 or (keys and any(g is not None and g != k for g, k in zip(given, next(iter(keys)),
                                                                                  strict=True))):
        raise QueryUsageError(f"put takes one venue, symbol and interval; got {sorted(keys)} and {given}")
    if not keys and None in given:
        raise QueryUsageError("put with no candles needs venue=, symbol= and interval=")
    venue, symbol, interval = next(iter(keys)) if keys else given
    assert venue is not None and symbol is not None and interval is not None
    for c in rows:
        if not c.closed:
            raise QueryUsageError(f"{symbol} {interval} candle at {c.open_time_ns} is not closed")
        if not lo <= c.open_time_ns < hi:
            raise QueryUsageError(f"{symbol} {interval} candle at {c.open_time_ns} is outside {covered}")
    return rows, (venue, symbol, interval)


class MemoryCandleStore:
    """``CandleStore``'s in-memory twin (same ``get``/``put`` contract), for tests of its users."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], dict[int, Candle]] = {}
        self._coverage: dict[tuple[str, str, str], Ranges] = {}

    def close(self) -> None:
        """Nothing to release."""

    def get(self, venue: str, symbol: str, interval: str, start_ns: int, end_ns: int, *,
            now_ns: int) -> list[Candle] | None:
        """As ``CandleStore.get``."""
        key = (venue, symbol, interval)
        if end_ns <= start_ns:
            return []
        if not covers(self._coverage.get(key, []), start_ns, end_ns):
            return None
        rows = self._rows.get(key, {})
        return [_as_stored(rows[t], now_ns) for t in sorted(rows) if start_ns <= t < end_ns]

    def put(self, candles: Iterable[Candle], *, covered: tuple[int, int], venue: str | None = None,
            symbol: str | None = None, interval: str | None = None) -> int:
        """As ``CandleStore.put``."""
        rows, key = checked(candles, covered, (venue, symbol, interval))
        stored = self._rows.setdefault(key, {})
        written = 0
        for c in rows:
            if c.open_time_ns not in stored:
                stored[c.open_time_ns] = c
                written += 1
        if covered[1] > covered[0]:
            self._coverage[key] = add_range(self._coverage.get(key, []), *covered)
        return written


def _as_stored(c: Candle, now_ns: int) -> Candle:
    """``c`` as the disk store gives it back: closed, from the archive, aged to ``now_ns``."""
    return Candle(venue=c.venue, symbol=c.symbol, norm=c.norm, interval=c.interval,
                  open_time_ns=c.open_time_ns, open=c.open, high=c.high, low=c.low, close=c.close,
                  volume=c.volume, quote_volume=c.quote_volume, closed=True, exch_ts_ns=c.exch_ts_ns,
                  recv_ts_ns=c.recv_ts_ns, source="archive", age_ms=age_ms(now_ns, c.exch_ts_ns, c.recv_ts_ns))


def _table(symbol: str, cs: Sequence[Candle]) -> pa.Table:
    cols: dict[str, Any] = {
        "symbol": [symbol] * len(cs), "norm": [c.norm for c in cs],
        "open_time_ns": [c.open_time_ns for c in cs],
        **{f: [format(getattr(c, f), "f") for c in cs] for f in _PRICES},
        "exch_ts_ns": [c.exch_ts_ns for c in cs], "recv_ts_ns": [c.recv_ts_ns for c in cs],
    }
    return pa.table(cols, schema=SCHEMA)


def _write_part(store: ArchiveStore, day_dir: str, t: pa.Table) -> str:
    """``t`` (sorted by symbol) as a new part of ``day_dir`` (whole: a temp name renamed, or one S3 PUT).

    Row groups of 16 Ki rows: a symbol's read skips the others' groups by their statistics
    (one row group per symbol measured 2-3x slower to read: DuckDB pays per group).
    """
    buf = io.BytesIO()
    pq.write_table(t, buf, compression="zstd", row_group_size=16_384)
    data = buf.getvalue()
    times = t.column("open_time_ns")
    first, last = pc.min(times).as_py(), pc.max(times).as_py()
    name = f"part-{first:019d}-{last:019d}-{hashlib.blake2b(data, digest_size=6).hexdigest()}.parquet"
    path = f"{day_dir}/{name}"
    store.write_bytes(path, data)
    return path


def _name(rel: str) -> str:
    return rel.rpartition("/")[2]


def _overlaps(name: str, start_ns: int, end_ns: int) -> bool:
    """Whether a part named ``part-<first>-<last>-<digest>.parquet`` may hold an open time in range."""
    try:
        _, first, last, _ = name.split("-", 3)
        return int(first) < end_ns and int(last) >= start_ns
    except ValueError:  # not a name we wrote: read it rather than miss rows
        return True


def _candles(rows: Sequence[tuple], venue: str, symbol: str, interval: str, now_ns: int) -> Iterator[Candle]:
    prev = None
    for t, norm, o, h, lo, c, v, q, exch, recv in rows:
        if t == prev:  # a merge a crash interrupted left a row twice
            continue
        prev = t
        yield Candle(venue=venue, symbol=symbol, norm=norm, interval=interval, open_time_ns=t,
                     open=Decimal(o), high=Decimal(h), low=Decimal(lo), close=Decimal(c),
                     volume=Decimal(v), quote_volume=Decimal(q), closed=True, exch_ts_ns=exch,
                     recv_ts_ns=recv, source="archive", age_ms=age_ms(now_ns, exch, recv))
