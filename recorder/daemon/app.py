"""The recorder daemon: journal writer, live projection, supervisors, snapshots, metrics.

    rec = Recorder(config, log=event_logger())
    code = await rec.run()        # until rec.request_stop(), the duration, or a failure

Exit codes: 0 stopped on request (signal, duration); 1 the journal failed (disk or map
full: nothing after ``committed_seq`` is stored) or every connection was refused for
good. Everything appended before a stop is flushed before ``run`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from prometheus_client import CollectorRegistry

from recorder.journal import JournalWriteError
from recorder.journal.writer import JournalWriter
from recorder.venues.binance_usdm import NeedSnapshot

from .adapters import Adapter, BinanceUsdm, adapter_for
from .config import RecorderConfig
from .connection import Link
from .influx_feed import InfluxFeed
from .logs import event_logger, fields
from .metrics import Metrics
from .nightly import Nightly
from .projection import LiveProjection
from .snapshots import SnapshotFetcher
from .supervisor import Supervisor

MARKETS = {"binance-usdm": "usdm", "upbit": "spot"}
WATCH_S = 0.25  # how often the writer's health and checkpoints are looked at


class Recorder:
    """One daemon instance; see the module docstring."""

    def __init__(self, config: RecorderConfig, *, log: logging.Logger | None = None,
                 registry: CollectorRegistry | None = None, rng: random.Random | None = None,
                 metrics: bool = True) -> None:
        self.config = config
        self.config_hash = config.config_hash
        self.log = log or event_logger(level=config.log_level, path=config.log_file)
        seed = config.supervision.seed
        self.rng = rng or (random.Random(seed) if seed is not None else random.Random())
        self.writer: JournalWriter = None  # type: ignore[assignment]  # opened in run()
        self.adapters: list[Adapter] = [adapter_for(v, config.supervision) for v in config.venues]
        self.supervisors: list[Supervisor] = []
        self.fetchers: dict[str, SnapshotFetcher] = {}
        self.links: dict[int, Link] = {}  # every link ever opened, by stream id
        self.counts: dict[tuple[int, str], tuple[int, int]] = {}  # (sid, kind) -> (records, bytes)
        self.stream_names: dict[int, tuple[str, str]] = {}  # sid -> (venue, conn)
        self.projection: LiveProjection | None = None
        self.nightly: Nightly | None = None
        self.influx: InfluxFeed | None = None
        self._influx_pushed = 0.0  # monotonic time of the last push
        self._nightly_started = False
        self.metrics: Metrics | None = Metrics(self, registry) if metrics else None
        self.exit_code = 0
        self.failure: str | None = None
        self.stop_future: asyncio.Future[None] = None  # type: ignore[assignment]
        self._tasks: list[asyncio.Task[Any]] = []
        self.started = asyncio.Event()

    # -- journal access (event-loop thread only) -------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop_future is not None and self.stop_future.done()

    def register(self, venue: str, *, url: str, conn: str, channels: tuple[str, ...]) -> int:
        """A new stream for one connection lifetime (or the venue's REST calls)."""
        sid = self.writer.register_stream(venue, market=MARKETS.get(venue, ""), url=url, conn=conn,
                                          channels=channels, config_hash=self.config_hash)
        self.stream_names[sid] = (venue, conn)
        if self.projection is not None:
            self.projection.add_stream(self.writer.streams[sid])
        return sid

    def append(self, sid: int, kind: str, payload: bytes, meta: dict[str, Any] | None = None) -> None:
        """Append a non-frame record; a journal failure stops the daemon, never raises."""
        try:
            self.writer.append(sid, kind, payload, meta=meta)
        except JournalWriteError as exc:
            self.journal_failed(exc)
            return
        n, b = self.counts.get((sid, kind), (0, 0))
        self.counts[(sid, kind)] = (n + 1, b + len(payload))

    def mark(self, sid: int, text: str, **kw: Any) -> None:
        import json

        self.append(sid, "mark", json.dumps({"mark": text, **kw}, sort_keys=True).encode())

    def journal_failed(self, exc: JournalWriteError) -> None:
        if self.failure is None:
            self.failure = str(exc)
            self.exit_code = 1
            self.log.error("journal_failed", extra=fields(error=str(exc),
                                                          committed_seq=exc.committed_seq))
        self.request_stop()

    # -- snapshots and gaps -----------------------------------------------------------

    def need_snapshot(self, venue: str, need: NeedSnapshot, sid: int) -> None:
        """A depth watcher asks for a snapshot (start, gap, stale snapshot)."""
        if need.reason != "start":
            self.mark(sid, need.reason, venue=venue, symbol=need.symbol, expected=need.expected,
                      got=need.got, source="depth_watcher")
            if self.metrics is not None and need.reason == "gap":
                self.metrics.gap(venue, need.symbol)
            self.log.warning("depth_break", extra=fields(venue=venue, symbol=need.symbol,
                                                         reason=need.reason, expected=need.expected,
                                                         got=need.got, stream=sid))
        fetcher = self.fetchers.get(venue)
        if fetcher is not None:
            fetcher.request(need.symbol, need.reason)

    def on_projection_gap(self, venue: str, symbol: str, reason: str) -> None:
        """A projection ``Gap``: fetch that symbol's snapshot (watchers already marked it).

        Runs inside the writer's subscriber: nothing may be appended here, so the request
        is only queued.
        """
        fetcher = self.fetchers.get(venue)
        if fetcher is not None:
            _, _, native = symbol.rpartition(":")
            fetcher.request(native, f"projection:{reason}")

    def on_snapshot(self, venue: str, symbol: str, last_update_id: int) -> None:
        for s in self.supervisors:
            if s.venue != venue:
                continue
            for sid, need in s.on_snapshot(symbol, last_update_id):
                self.need_snapshot(venue, need, sid)  # type: ignore[arg-type]

    # -- control ----------------------------------------------------------------------

    def request_stop(self) -> None:
        if self.stop_future is not None and not self.stop_future.done():
            self.stop_future.set_result(None)

    async def wait_stop(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was requested meanwhile."""
        if seconds > 0 and not self.stopping:
            await asyncio.wait((self.stop_future,), timeout=seconds)
        return self.stopping

    def slot_failed(self, sup: Supervisor) -> None:
        if all(s.failed is not None for s in self.supervisors):
            self.log.error("all_connections_failed", extra=fields(
                conns=[s.name for s in self.supervisors]))
            self.exit_code = 1
            self.request_stop()

    # -- running ----------------------------------------------------------------------

    def _open_writer(self) -> None:
        c = self.config
        # lock_wait_s: after a crash, the old committer process may still be storing the
        # batches it was handed (milliseconds); the restarted daemon waits for it.
        self.writer = JournalWriter(c.data, durability=c.durability, committer=c.committer,
                                    lock_wait_s=30.0,
                                    commit_interval_ms=c.commit_interval_ms,
                                    commit_max_records=c.commit_max_records,
                                    max_pending=c.max_pending, shard=c.shard)
        if self.metrics is not None:
            self.writer.on_commit = self.metrics.on_commit

    def _start_projection(self) -> None:
        pc = self.config.projection
        if not pc.enabled:
            return
        proj = LiveProjection(data_dir=self.config.data, depth_levels=pc.depth_levels, log=self.log,
                              on_gap=self.on_projection_gap,
                              checkpoint_every_records=pc.checkpoint_every_records,
                              checkpoint_every_s=pc.checkpoint_every_s)
        proj.recover(self.writer.streams)
        self.projection = proj
        if self.config.influx.enabled and proj.failed is None:
            try:
                self.influx = InfluxFeed(proj, self.config.influx)
            except Exception as exc:  # noqa: BLE001 (dashboards are optional; recording is not)
                self.log.error("influx_unavailable", extra=fields(error=f"{type(exc).__name__}: {exc}"))
            else:
                self.log.info("influx", extra=fields(url=self.config.influx.url,
                                                     bucket=self.config.influx.bucket,
                                                     bars_bucket=self.config.influx.bars_bucket))
        self.writer.subscribe(proj)

    async def run(self) -> int:
        """Record until stopped; returns the exit code (see the module docstring)."""
        loop = asyncio.get_running_loop()
        self.stop_future = loop.create_future()
        self._open_writer()
        try:
            self._start_projection()
            if self.metrics is not None and self.config.metrics_port is not None:
                port = self.metrics.serve(self.config.metrics_port, self.config.metrics_host)
                self.log.info("metrics", extra=fields(port=port, host=self.config.metrics_host))
            self.log.info("start", extra=fields(
                data=self.config.data, config_hash=self.config_hash, seq=self.writer.last_seq,
                venues=[a.venue for a in self.adapters]))
            for adapter in self.adapters:
                if isinstance(adapter, BinanceUsdm) and adapter.snapshots:
                    fetcher = SnapshotFetcher(self, adapter, rng=self.rng)
                    self.fetchers[adapter.venue] = fetcher
                    self._tasks.append(asyncio.create_task(fetcher.run(), name=f"snapshots-{adapter.venue}"))
                for i, plan in enumerate(adapter.plans()):
                    self.supervisors.append(Supervisor(self, adapter, plan, i, self.rng))
            sup_tasks = [asyncio.create_task(s.run(), name=s.name) for s in self.supervisors]
            if self.config.compaction.enabled:
                self.nightly = Nightly(self, self.config.compaction)
            self._tasks.append(asyncio.create_task(self._watch(), name="watch"))
            if self.config.duration_s is not None:
                loop.call_later(self.config.duration_s, self.request_stop)
            if self.config.dashboard:
                from .dashboard import run_dashboard

                self._tasks.append(asyncio.create_task(run_dashboard(self), name="dashboard"))
            self.started.set()
            await self.stop_future
            self.log.info("stopping", extra=fields(reason=self.failure or "requested"))
            # Supervisors close their connections (journaling each close) on stop.
            await asyncio.wait(sup_tasks, timeout=self.config.supervision.close_timeout_s + 1.0)
            for t in sup_tasks:
                if not t.done():
                    t.cancel()
            for t in sup_tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
                if t.done() and not t.cancelled() and t.exception() is not None:
                    self.log.error("supervisor_crashed", extra=fields(error=repr(t.exception())))
        finally:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            if self.nightly is not None:
                self.nightly.stop()
            self._close_writer()
            if self.influx is not None:
                self._push_influx()
                await asyncio.to_thread(self.influx.close)
            if self.metrics is not None:
                self.metrics.close()
        return self.exit_code

    def _close_writer(self) -> None:
        w = self.writer
        try:
            w.close()  # flushes: committed_seq == last_seq from here on
        except JournalWriteError as exc:
            self.journal_failed(exc)
        proj = self.projection
        if proj is not None and self.failure is None and proj.checkpoint_due(force=True):
            got = proj.capture()
            if got is not None:
                proj.store(*got, committed_seq=w.committed_seq)
        self.log.info("stopped", extra=fields(last_seq=w.last_seq, committed_seq=w.committed_seq,
                                              exit_code=self.exit_code))

    async def _watch(self) -> None:
        """Notice a writer that failed on its own thread; write checkpoints when due."""
        while True:
            await asyncio.sleep(WATCH_S)
            failure = self.writer.failure
            if failure is not None:
                self.journal_failed(failure)
                return
            if self.influx is not None and time.monotonic() - self._influx_pushed >= \
                    self.config.influx.push_interval_s:
                self._push_influx()
            if self.nightly is not None and not self._nightly_started and self.nightly.ready():
                self._nightly_started = True
                # Off the loop: the first start imports pyarrow/duckdb (a second or so).
                self._tasks.append(asyncio.create_task(self._start_nightly(), name="nightly"))
            proj = self.projection
            if proj is not None and proj.checkpoint_due():
                await self._checkpoint(proj)

    def _push_influx(self) -> None:
        assert self.influx is not None
        self._influx_pushed = time.monotonic()
        try:
            self.influx.push()
        except Exception as exc:  # noqa: BLE001 (a dashboard feed never stops recording)
            self.log.error("influx_failed", extra=fields(error=f"{type(exc).__name__}: {exc}"))
            self.influx = None

    async def _start_nightly(self) -> None:
        assert self.nightly is not None
        try:
            await asyncio.to_thread(self.nightly.start)
        except Exception as exc:  # noqa: BLE001 (compaction must never stop recording)
            self.log.error("compaction_unavailable", extra=fields(error=f"{type(exc).__name__}: {exc}"))

    async def _checkpoint(self, proj: LiveProjection) -> None:
        """Capture the state here (the appending thread), store it once committed, off-loop.

        The receive loop never waits: the committer makes ``seq`` durable on its own
        cadence and the LMDB write (with its fsync) runs in a worker thread.
        """
        got = proj.capture()
        if got is None:
            return
        seq, blob = got
        w = self.writer
        while w.committed_seq < seq:
            if w.failure is not None or self.stopping:
                return  # the stop path checkpoints after the final flush
            await asyncio.sleep(w.commit_interval_ns / 1e9)
        await asyncio.to_thread(proj.store, seq, blob, committed_seq=w.committed_seq)
