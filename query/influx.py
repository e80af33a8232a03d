"""InfluxDB (warm storage for dashboards): 1 s features and 1 m bars, never blocking the caller.

    sink = InfluxSink("http://127.0.0.1:8086", token, "ticktape", "ticktape_raw",
                      bars_bucket="ticktape_1m")
    sink.write_features(rows)   # Arrow table or dicts shaped like the ``features`` table
    sink.write_bars(rows)       # ... like the ``klines`` table
    sink.close()                # flush what is queued (bounded by a timeout)

``write_*`` only enqueues: a bounded queue (``max_pending`` points) feeds one
background thread that batches (``batch_size`` points or every ``flush_interval``
seconds) and writes with retries (exponential backoff on connection errors, 429 and
5xx; a 4xx other than 429 is not retried). When the queue is full the new rows are
dropped and counted (``stats()["dropped"]``): dashboards may lose points, recording
never waits. Points: measurement ``features`` / ``bars_1m``, tags ``venue``,
``symbol``, ``norm``, numeric fields only, ns timestamps (the row's ``ts_ns``).

Buckets and retention (the default policy: raw 7 d, 1 m 30 d, 1 h 1 y). Create them
once (influx CLI 2.x; ``-o`` is the org the sink is given):

    influx bucket create -o ticktape -n ticktape_raw -r 7d     # 1 s features (InfluxSink bucket)
    influx bucket create -o ticktape -n ticktape_1m  -r 30d    # 1 m bars (bars_bucket)
    influx bucket create -o ticktape -n ticktape_1h  -r 365d   # 1 h bars, made by the task below

and the hourly downsample (``influx task create -o ticktape -f ticktape_1h.flux``):

    option task = {name: "ticktape_1h", every: 1h, offset: 5m}
    bars = from(bucket: "ticktape_1m") |> range(start: -task.every)
      |> filter(fn: (r) => r._measurement == "bars_1m")
    agg = (field, fn) => bars |> filter(fn: (r) => r._field == field)
      |> aggregateWindow(every: 1h, fn: fn, timeSrc: "_start") |> to(bucket: "ticktape_1h")
    agg(field: "open", fn: first)
    agg(field: "high", fn: max)
    agg(field: "low", fn: min)
    agg(field: "close", fn: last)
    agg(field: "volume", fn: sum)
    agg(field: "quote_volume", fn: sum)
    agg(field: "buy_volume", fn: sum)
    agg(field: "trades", fn: sum)

The archive stays the exact source (``vwap`` is not summable: recompute it there);
Influx is for looking. ``query influx --from .. --to ..`` back-fills a window.

Inside ``recorder run`` (``[influx] enabled = true``) the daemon runs ``InfluxHook``, a
recorder hook registered as the ``influx`` entry point of ``ticktape.recorder_hooks``:
an ``InfluxFeed`` of the live projection's rows into an ``InfluxSink``.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from state.events import Event

from .errors import InfluxTimeoutError, QueryUsageError

log = logging.getLogger("query.influx")

FEATURE_FIELDS = (
    "best_bid", "best_ask", "mid", "spread", "weighted_mid", "bid_depth", "ask_depth",
    "imbalance", "last_price", "trades_60s", "volume_60s", "vwap_60s", "pressure_60s",
    "momentum_60s", "volume_300s", "vwap_300s", "volume_900s", "vwap_900s", "large_trade",
    "volume_spike", "valid",
)
BAR_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "buy_volume", "trades", "vwap")
TAGS = ("venue", "symbol", "norm")


def _tag(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else repr(v)
    return None


def line(measurement: str, row: Mapping[str, Any], fields: Iterable[str]) -> str | None:
    """One line-protocol point of ``row`` (None when it has no usable field)."""
    tags = ",".join(f"{k}={_tag(str(row[k]))}" for k in TAGS if row.get(k))
    parts = []
    for f in fields:
        s = _field(row.get(f))
        if s is not None:
            parts.append(f"{f}={s}")
    if not parts:
        return None
    head = f"{measurement},{tags}" if tags else measurement
    return f"{head} {','.join(parts)} {int(row['ts_ns'])}"


def _rows(rows: pa.Table | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(rows, pa.Table | pa.RecordBatch):
        return rows.to_pylist()
    return list(rows)


class InfluxSink:
    """Queue features and bars for InfluxDB; see the module docstring.

    After use: ``close()`` (flushes for up to ``timeout`` seconds, then gives up).
    """

    def __init__(self, url: str, token: str, org: str, bucket: str, *, bars_bucket: str | None = None,
                 batch_size: int = 5000, flush_interval: float = 1.0, max_pending: int = 200_000,
                 max_retries: int = 5, retry_base: float = 0.5, retry_max: float = 30.0,
                 timeout_ms: int = 10_000, write: Any = None) -> None:
        from influxdb_client import InfluxDBClient, WritePrecision
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.org = org
        self.bucket = bucket
        self.bars_bucket = bars_bucket or bucket
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._client = None
        if write is None:
            self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
            api = self._client.write_api(write_options=SYNCHRONOUS)

            def write(bucket: str, lines: list[str]) -> None:
                api.write(bucket=bucket, org=org, record=lines, write_precision=WritePrecision.NS)
        self._write = write
        self._q: queue.Queue = queue.Queue()
        self._pending = 0  # points queued, not yet written or failed
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stop = threading.Event()
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.retries = 0
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        self._thread.start()

    # -- producer side (never blocks) -----------------------------------------------

    def _offer(self, kind: str, rows: Any, wait: float) -> int:
        n = rows.num_rows if isinstance(rows, pa.Table | pa.RecordBatch) else len(rows)
        if not n:
            return 0
        deadline = time.monotonic() + wait
        with self._idle:
            while not self._stop.is_set() and self._pending + n > self.max_pending:
                left = deadline - time.monotonic()
                if left <= 0 or n > self.max_pending:
                    break
                self._idle.wait(min(left, 0.05))
            if self._stop.is_set() or self._pending + n > self.max_pending:
                self.dropped += n
                return 0
            self._pending += n
        self._q.put_nowait((kind, rows, n))
        return n

    def write_features(self, rows: pa.Table | list[Mapping[str, Any]], *, wait: float = 0.0) -> int:
        """Queue feature rows; returns how many were accepted (0: all dropped and counted).

        ``wait`` > 0 waits up to that many seconds for room (batch exports); the
        default never waits (the recorder's case).
        """
        return self._offer("features", rows, wait)

    def write_bars(self, rows: pa.Table | list[Mapping[str, Any]], *, wait: float = 0.0) -> int:
        """Queue 1 m bar rows (the ``klines`` table); like ``write_features``."""
        return self._offer("bars", rows, wait)

    def stats(self) -> dict[str, int | str]:
        with self._lock:
            return {"written": self.written, "dropped": self.dropped, "failed": self.failed,
                    "retries": self.retries, "pending": self._pending, "last_error": self.last_error}

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued is written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush for up to ``timeout`` seconds, then stop the thread (what is left is counted failed)."""
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=max(self.retry_max, 1.0))
        if self._client is not None:
            self._client.close()

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        batches: dict[str, list[str]] = {}
        counts: dict[str, int] = {}
        since = time.monotonic()
        while True:
            try:
                kind, rows, n = self._q.get(timeout=self.flush_interval / 4)
            except queue.Empty:
                kind = None
            if kind is not None:
                bucket = self.bucket if kind == "features" else self.bars_bucket
                measurement, fields = ("features", FEATURE_FIELDS) if kind == "features" else (
                    "bars_1m", BAR_FIELDS)
                try:
                    new = [s for s in (line(measurement, r, fields) for r in _rows(rows))
                           if s is not None]
                except Exception as exc:  # rows of the wrong shape: count them, keep running
                    log.error("influx: %d %s rows not convertible: %s", n, kind, exc)
                    with self._idle:
                        self.failed += n
                        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                        self._pending -= n
                        self._idle.notify_all()
                else:
                    batches.setdefault(bucket, []).extend(new)
                    counts[bucket] = counts.get(bucket, 0) + n
            full = any(len(v) >= self.batch_size for v in batches.values())
            due = time.monotonic() - since >= self.flush_interval or self._q.empty()
            if batches and (full or due):
                for bucket in list(batches):
                    self._send(bucket, batches.pop(bucket), counts.pop(bucket))
                since = time.monotonic()
            if self._stop.is_set() and self._q.empty() and not batches:
                return

    def _send(self, bucket: str, lines: list[str], rows: int) -> None:
        for i in range(0, len(lines), self.batch_size):
            chunk = lines[i:i + self.batch_size]
            ok = self._send_chunk(bucket, chunk)
            with self._idle:
                if ok:
                    self.written += len(chunk)
                else:
                    self.failed += len(chunk)
        with self._idle:
            self._pending -= rows
            self._idle.notify_all()

    def _send_chunk(self, bucket: str, lines: list[str]) -> bool:
        delay = self.retry_base
        for attempt in range(self.max_retries + 1):
            try:
                self._write(bucket, lines)
                return True
            except Exception as exc:  # the client raises urllib3 and ApiException types
                status = getattr(exc, "status", None)
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                if status is not None and 400 <= int(status) < 500 and int(status) != 429:
                    log.error("influx rejected %d points: %s", len(lines), self.last_error)
                    return False
                if attempt == self.max_retries or self._stop.is_set():
                    break
                with self._lock:
                    self.retries += 1
                self._stop.wait(min(delay, self.retry_max))
                delay *= 2
        log.error("influx write of %d points failed after retries: %s", len(lines), self.last_error)
        return False


def export(data_dir: str, sink: InfluxSink, *, from_ns: int | None = None, to_ns: int | None = None,
           hot: bool = True, chunk: int = 50_000) -> dict[str, int]:
    """Send the archive's (and hot journal's) features and 1 m bars in ``[from_ns, to_ns)`` to ``sink``.

    Waits for the sink to drain between chunks, so nothing is dropped. Returns row counts.
    """
    from .catalog import connect, to_arrow

    con = connect(data_dir, hot=hot, tables=["features", "klines"])
    where = []
    if from_ns is not None:
        where.append(f"ts_ns >= {int(from_ns)}")
    if to_ns is not None:
        where.append(f"ts_ns < {int(to_ns)}")
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    out = {}
    for table, put in (("features", sink.write_features), ("klines", sink.write_bars)):
        t = to_arrow(con.sql(f"SELECT * FROM {table}{cond} ORDER BY ts_ns, venue, symbol"))
        n = 0
        step = max(1, min(chunk, sink.max_pending))
        for i in range(0, t.num_rows, step):
            part = t.slice(i, step)
            # A batch job: wait for room instead of dropping (the sink drains meanwhile).
            if not put(part, wait=600.0):
                raise InfluxTimeoutError(f"influx sink did not drain: {sink.stats()}")
            n += part.num_rows
        out[table] = n
        sink.flush(300)
    return out


# ---------------------------------------------------------------------------- in the recorder daemon

SENT = ("features", "klines")  # the derived tables that go to InfluxDB; the rest are discarded
CLOSE_TIMEOUT_S = 5.0


def make_sink(cfg: Any) -> InfluxSink:
    """The sink for an ``[influx]`` section (``recorder.daemon.config.InfluxConfig``)."""
    return InfluxSink(cfg.url, cfg.token, cfg.org, cfg.bucket, bars_bucket=cfg.bars_bucket,
                      batch_size=cfg.batch_size, flush_interval=cfg.flush_interval_s,
                      max_pending=cfg.max_pending, max_retries=cfg.max_retries)


class InfluxFeed:
    """1 s features and 1 m bars from the recorder's live projection, offered to a sink.

        feed = InfluxFeed(projection, config.influx)   # folds the projection through a Deriver
        feed.push()      # every push_interval_s, on the thread that appends
        feed.close()     # at stop (any thread): flush the sink for a few seconds

    ``projection`` is the daemon's live projection (its ``LiveState`` port): the feed
    makes it fold through a ``query.derive.Deriver`` built on its projector, so a point
    written live equals the row compaction later archives for the same second (same
    code, same records). The sink queues, batches and retries on its own thread behind
    a bounded queue: when InfluxDB is slow or down, points are dropped and counted, and
    recording never waits. Rows are sampled on record time: a feed that goes quiet
    emits its last second once the next record arrives. After a restart the sampling
    starts afresh at the next boundary (a bar open at the crash is not sent).
    """

    def __init__(self, projection: Any, cfg: Any, *, sink: Any = None) -> None:
        from .derive import SCHEMAS, DeriveParams, Deriver

        params = DeriveParams(depth_levels=projection.depth_levels,
                              feature_interval_ms=cfg.feature_interval_ms)
        self.deriver = Deriver({}, params, projector=projection.projector)
        projection.set_fold(self.fold)
        self.columns = {t: SCHEMAS[t].names for t in SENT}
        self.sink = sink if sink is not None else make_sink(cfg)
        self.offered = {"features": 0, "klines": 0}  # rows handed to the sink

    def fold(self, rec: Any) -> list[Event]:
        """Fold ``rec`` through the deriver; returns the events the projection produced."""
        return self.deriver.apply(rec)

    def push(self) -> int:
        """Hand the rows finished since the last push to the sink; returns how many.

        Call on the thread that appends (the deriver's rows are only touched there).
        Rows of the other derived tables are dropped here: they are not sent anywhere.
        """
        rows = self.deriver.rows
        n = 0
        for table in rows:
            got, rows[table] = rows[table], []
            if table not in SENT or not got:
                continue
            cols = self.columns[table]
            dicts = [dict(zip(cols, r, strict=True)) for r in got]
            write = self.sink.write_features if table == "features" else self.sink.write_bars
            write(dicts)
            self.offered[table] += len(dicts)
            n += len(dicts)
        return n

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Flush the sink for up to ``timeout`` s and stop it (blocking: run it off the loop)."""
        self.sink.close(timeout)

    def stats(self) -> dict[str, Any]:
        return {**self.sink.stats(), "offered": dict(self.offered)}


class InfluxHook:
    """The InfluxDB feed inside ``recorder run``: a recorder hook (``[influx]``).

    Built through the ``influx`` entry point of ``ticktape.recorder_hooks``
    (``recorder_hook``) before records flow, it needs the live projection. ``tick``
    pushes every ``push_interval_s`` (on the appending thread); ``close`` pushes the rest
    and flushes once the journal is closed.
    """

    name = "influx"

    def __init__(self, context: Any, *, sink: Any = None) -> None:
        if context.projection is None:
            raise QueryUsageError("the InfluxDB feed needs the live projection ([projection] enabled)")
        cfg = context.settings
        self.cfg = cfg
        self.feed = InfluxFeed(context.projection, cfg, sink=sink)
        self._pushed = 0.0  # monotonic time of the last push
        context.log.info("influx", extra={"fields": {"url": cfg.url, "bucket": cfg.bucket,
                                                     "bars_bucket": cfg.bars_bucket}})

    def ready(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def tick(self) -> None:
        if time.monotonic() - self._pushed >= self.cfg.push_interval_s:
            self._pushed = time.monotonic()
            self.feed.push()

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.feed.push()  # the journal is closed: nothing folds any more
        self.feed.close()

    def samples(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        st = self.feed.stats()
        out: list[tuple[str, str, str, dict[str, str], float]] = [
            ("ticktape_influx_points", "counter", "Points for InfluxDB by outcome", {"result": r}, st[r])
            for r in ("written", "dropped", "failed")]
        out.append(("ticktape_influx_pending", "gauge", "Points queued for InfluxDB", {}, st["pending"]))
        return out

    def stats(self) -> dict[str, Any]:
        return self.feed.stats()


def recorder_hook(context: Any) -> InfluxHook:
    """The ``influx`` recorder hook (entry point ``ticktape.recorder_hooks``)."""
    return InfluxHook(context)
