"""The recorder daemon: wires the journal, projections, supervisors, snapshots, metrics, hooks.

    rec = Recorder(config, log=event_logger())
    code = await rec.run()        # until rec.request_stop(), the duration, or a failure

Exit codes: 0 stopped on request (signal, duration); 1 the journal failed (disk or map
full: nothing after ``committed_seq`` is stored) or every connection was refused for
good. Everything appended before a stop is flushed before ``run`` returns.

Crash recovery is journaled (``recorder.daemon.recovery``): while it runs, the daemon keeps
``DATA/recorder.running``; a daemon that finds it at start knows the previous one died
without stopping and journals, as its first record, a ``recovered`` mark.

Other processes on this machine attach (``[publish]``): the live table
(``recorder.daemon.publish``, the projection's touched symbols after each record, a
heartbeat from the watch loop) and the control socket (``recorder.daemon.control``, whose
target the ``Recorder`` is: ``subscribe`` and ``unsubscribe`` change the open connections'
subscriptions where the venue allows it, else open or reconnect only the ones concerned
(``recorder.daemon.subscriptions``); ``journal_rest`` and ``journal_mark`` append on a
venue's API stream (``recorder.daemon.api_journal``)), both named by
``DATA/live/attach.json`` and removed on stop. The listing watcher and its capture windows
(``[listing]``) run as ``recorder.daemon.listings`` holds them.

The symbol universe (``recorder.daemon.universe``): before the journal opens, each venue's
instrument list is fetched, a symbol it lacks is refused (``ConfigError``, the nearest listed
names) and ``"all"``/globs/the Upbit filter are expanded; the lists are then journaled (``rest``
records, ``via`` ``universe``, on the venue's API stream) and refetched every
``universe_refresh_s``, a change journaled as a ``universe`` mark and new symbols subscribed.

The ``Recorder`` is the one place the parts meet; none of them holds it. Each gets the
ports it needs (``recorder.daemon.ports``): supervisors and their connections the
``Journal`` and the ``Lifecycle`` and the ``Resync``; snapshot fetchers the ``Journal``;
the resync the fetchers; metrics and the dashboard the read-only ``Status``; hooks a
``HookContext``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from recorder.journal import JournalWriteError, StreamInfo
from recorder.journal.writer import JournalWriter
from recorder.listing.capture import Capture
from recorder.listing.watcher import Watcher
from recorder.venues import descriptor_for
from recorder.venues.base import ConnectionPlan, origin
from recorder.venues.descriptor import Adapter

from .adapters import adapter_for
from .api_journal import ApiJournal, check_venue
from .broker import BrokerPublisher
from .config import HOOK_SECTIONS, RecorderConfig, VenueConfig
from .connection import Link
from .control import ControlError, ControlServer, socket_path
from .hooks import HookRunner
from .listings import Listings
from .logs import event_logger, fields
from .metrics import Metrics
from .ports import HookContext, HookFactory
from .projection import LiveProjection, SyncProjection
from .publish import Publisher, live_dir, remove_attach, write_attach
from .recovery import RunMarker, journal_recovery
from .resubscribe import Resubscriber
from .resync import Resync
from .runtime import JournalAccess, Stopper
from .snapshots import Response, SnapshotFetcher, http_get
from .status import StatusView
from .subscriptions import Subscriptions
from .supervisor import Supervisor
from .tier import Tier
from .universe import Universe

WATCH_S = 0.25  # how often the writer's health, checkpoints and hooks are looked at


class Recorder:
    """One daemon instance; see the module docstring.

    ``hooks``: factories by config section name, used instead of the registered entry
    points (``recorder.daemon.hooks``). ``rest_get``: the GET the venues' instrument lists
    are fetched with (a test's stand-in).
    """

    def __init__(self, config: RecorderConfig, *, log: logging.Logger | None = None,
                 registry: CollectorRegistry | None = None, rng: random.Random | None = None,
                 metrics: bool = True, hooks: Mapping[str, HookFactory] | None = None,
                 rest_get: Callable[[str, float], Response] = http_get) -> None:
        self.config = config
        self.config_hash = config.config_hash
        self.log = log or event_logger(level=config.log_level, path=config.log_file)
        seed = config.supervision.seed
        self.rng = rng or (random.Random(seed) if seed is not None else random.Random())
        self.life = Stopper()
        self.writer: JournalWriter = None  # type: ignore[assignment]  # opened in run()
        self.journal: JournalAccess = None  # type: ignore[assignment]  # with the writer
        self.supervisors: list[Supervisor] = []
        self.fetchers: dict[str, SnapshotFetcher] = {}
        self.resubscribers: dict[str, Resubscriber] = {}  # venues resynced on the WebSocket
        self.links: dict[int, Link] = {}  # every link ever opened, by stream id
        self.projection: LiveProjection | None = None
        self.sync: SyncProjection | None = None  # book sync only, when the projection is off
        self.resync: Resync | None = None
        self.hook_factories = hooks
        self.hooks = HookRunner(self.log)
        self.status = StatusView(config_hash=self.config_hash, journal=lambda: self.journal,
                                 supervisors=self.supervisors, links=self.links,
                                 fetchers=self.fetchers, projection=lambda: self.projection,
                                 hooks=self.hooks)
        self.metrics: Metrics | None = Metrics(self.status, registry) if metrics else None
        self.exit_code = 0
        self.failure: str | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.started = asyncio.Event()
        self.marker = RunMarker(config.data, config_hash=self.config_hash, log=self.log)
        self._reprojected = 0
        self.publisher: Publisher | None = None  # the live table ([publish], needs the projection)
        self.control: ControlServer | None = None  # the control socket ([publish])
        self.universe = Universe(config.venues, log=self.log, get=rest_get,
                                 rest_timeout_s=config.supervision.rest_timeout_s,
                                 refresh_s=config.supervision.universe_refresh_s,
                                 upbit_origin=(origin(config.listing.market_url)
                                               if config.listing.enabled else ""))
        self._serve([adapter_for(v, config.supervision) for v in config.venues])
        self.api: ApiJournal | None = None  # the API streams, once the journal is open
        self.tier: Tier | None = None  # DATA/tier, for venues with tier = "short"
        self.listings: Listings | None = None  # the listing watcher and capture ([listing])
        self.broker: BrokerPublisher | None = None  # the journal to NATS JetStream ([broker] url)

    # -- control ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.life.stopping

    def request_stop(self) -> None:
        self.life.request_stop()

    def journal_failed(self, exc: JournalWriteError) -> None:
        if self.failure is None:
            self.failure = str(exc)
            self.exit_code = 1
            self.log.error("journal_failed", extra=fields(error=str(exc),
                                                          committed_seq=exc.committed_seq))
        self.life.request_stop()

    def _slot_failed(self, sup: Supervisor) -> None:
        if all(s.failed is not None for s in self.supervisors):
            self.log.error("all_connections_failed", extra=fields(
                conns=[s.name for s in self.supervisors]))
            self.exit_code = 1
            self.life.request_stop()

    # -- wiring -----------------------------------------------------------------------

    def _open_writer(self) -> None:
        c = self.config
        # lock_wait_s: after a crash, the old committer process may still be storing the
        # batches it was handed (milliseconds); the restarted daemon waits for it.
        self.writer = JournalWriter(c.data, durability=c.durability, committer=c.committer,
                                    lock_wait_s=30.0,
                                    commit_interval_ms=c.commit_interval_ms,
                                    commit_max_records=c.commit_max_records,
                                    max_pending=c.max_pending, shard=c.shard.name,
                                    shard_number=c.shard.number)
        self.journal = JournalAccess(self.writer, config_hash=self.config_hash,
                                     on_stream=self._on_stream, on_failure=self.journal_failed)
        self.api = ApiJournal(self.writer, journal=self.journal, adapters=self.adapters,
                              life=self.life, on_failure=self.journal_failed)
        if any(v.tier for v in c.venues):
            self.tier = Tier(c, access_of_main=self.journal, on_failure=self.journal_failed,
                             log=self.log)
            if self.metrics is not None:
                self.metrics.tier = self.tier
        if self.metrics is not None:
            self.writer.on_commit = self.metrics.on_commit

    def _journal_for(self, venue: str) -> JournalAccess:
        """The tier's journal for a venue with ``tier = "short"``, else the journal."""
        if self.tier is not None and any(v.venue == venue and v.tier for v in self.config.venues):
            return self.tier.access
        return self.journal

    def _on_stream(self, info: StreamInfo) -> None:
        if self.projection is not None:
            self.projection.add_stream(info)
        elif self.sync is not None:
            self.sync.add_stream(info)

    def _start_projections(self) -> None:
        """The snapshot fetchers, the resync, the projection that tells it, and the hooks."""
        for adapter in self.adapters:
            if adapter.snapshots is not None:
                self.fetchers[adapter.venue] = SnapshotFetcher(
                    adapter, journal=self._journal_for(adapter.venue), log=self.log, rng=self.rng,
                    rest_timeout_s=self.config.supervision.rest_timeout_s, counters=self.metrics)
            elif getattr(adapter, "resync_messages", None) is not None:
                self.resubscribers[adapter.venue] = Resubscriber(
                    adapter, supervisors=lambda: self.supervisors, log=self.log,
                    op_limiter=getattr(adapter, "op_limiter", None))
        pc = self.config.projection
        loop = asyncio.get_running_loop()
        self.resync = Resync(journal=self.journal, fetchers={**self.fetchers, **self.resubscribers},
                             log=self.log,
                             source="projection" if pc.enabled else "sync",
                             schedule=loop.call_soon, counters=self.metrics)
        if pc.enabled:
            proj = LiveProjection(data_dir=self.config.data, depth_levels=pc.depth_levels,
                                  log=self.log, on_gap=self.resync.on_gap,
                                  checkpoint_every_records=pc.checkpoint_every_records,
                                  checkpoint_every_s=pc.checkpoint_every_s)
            self._reprojected = proj.recover(self.writer.streams)
            self.projection = proj
        elif self.fetchers or self.resubscribers:
            self.sync = SyncProjection({v: descriptor_for(v).book_frame
                                        for v in (*self.fetchers, *self.resubscribers)},
                                       log=self.log, on_gap=self.resync.on_gap)
        self._build_hooks()
        self._start_publisher()
        if self.projection is not None:
            self.writer.subscribe(self.projection)
        elif self.sync is not None:
            self.writer.subscribe(self.sync)

    def _start_publisher(self) -> None:
        """The live table over the projection (before records flow: none is missed)."""
        proj = self.projection
        if not self.config.publish.enabled or proj is None or proj.failed is not None:
            return
        try:
            pub = Publisher.create(self.config.publish, data_dir=self.config.data,
                                   projector=proj.projector, log=self.log,
                                   schedule=asyncio.get_running_loop().call_soon
                                   if self.config.publish.batch else None)
        except Exception as exc:  # noqa: BLE001 (recording matters more than the table)
            self.log.warning("live_table_failed", extra=fields(error=f"{type(exc).__name__}: {exc}"))
            return
        proj.fold_listeners.append(pub)
        self.publisher = pub
        self.log.info("live_table", extra=fields(path=pub.path, rows=len(pub.rows)))

    def _start_broker(self) -> None:
        """The publisher to NATS JetStream ([broker] url): fed each record, woken each commit."""
        c = self.config.broker
        if not c.url:
            return
        w = self.writer
        try:
            pub = BrokerPublisher(c, data_dir=self.config.data, shard=self.config.shard.name,
                                  committed=lambda: w.committed_seq, stream_of=lambda sid: w.streams.get(sid),
                                  log=self.log, registry=self.metrics.registry if self.metrics else None)
        except ValueError as exc:  # a shard name NATS cannot carry: recording matters more
            self.log.error("broker_failed", extra=fields(error=str(exc)))
            return
        w.subscribe(pub.on_record)
        before = w.on_commit

        def on_commit(records: int, seconds: float) -> None:
            if before is not None:
                before(records, seconds)
            pub.wake()

        w.on_commit = on_commit
        pub.start()
        self.broker = pub

    async def _start_control(self) -> None:
        """The control socket and ``DATA/live/attach.json`` naming it and the table."""
        if not self.config.publish.enabled:
            return
        server = ControlServer(self, socket_path(live_dir(self.config.data)), log=self.log)
        try:
            await server.start()
        except OSError as exc:
            self.log.warning("control_failed", extra=fields(path=str(server.path), error=str(exc)))
            return
        self.control = server
        info = {"pid": os.getpid(), "control": str(server.path), "started_ns": time.time_ns(),
                "table": None}
        if self.publisher is not None:
            info.update(self.publisher.attach_info())
        try:
            write_attach(self.config.data, **info)
        except OSError as exc:
            self.log.warning("attach_file_failed", extra=fields(error=str(exc)))
        self.log.info("control", extra=fields(path=str(server.path)))

    async def _stop_control(self) -> None:
        if self.control is not None:
            await self.control.close()
            self.control = None
            remove_attach(self.config.data)
        if self.publisher is not None:
            self.log.info("live_table_closed", extra=fields(**self.publisher.stats()))
            self.publisher.close()

    # -- the control socket's target (recorder.daemon.control.ControlTarget) ----------

    def venues(self) -> dict[str, list[str]]:
        return self.subscriptions.venues()

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Record ``symbols`` too; ``(added, already)`` (``Subscriptions.subscribe``)."""
        return self.subscriptions.subscribe(venue, symbols)

    def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Stop recording ``symbols``; ``(removed, absent)`` (``Subscriptions.unsubscribe``)."""
        return self.subscriptions.unsubscribe(venue, symbols)

    @property
    def served(self) -> dict[str, list[str]]:
        """Venue -> the symbols recorded now."""
        return self.subscriptions.served

    @property
    def last_change(self) -> dict[str, list[str]]:
        """What the last (un)subscribe did: connections changed ``live``, ``new``, ``closed``."""
        return self.subscriptions.last_change

    @property
    def plan_changes(self) -> int:
        """+1 each (un)subscribe, or refused live change, that changed what a slot carries."""
        return self.subscriptions.plan_changes

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None, *, via: str = "control") -> int:
        """Append a REST answer on the venue's API stream; its seq (``ApiJournal``)."""
        if self.api is None:  # the journal is not open yet
            check_venue(venue)
            raise ControlError("the recorder is stopping", code="stopping")
        return self.api.journal_rest(venue, url, status, body, recv_ns, via=via)

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int:
        """Append a ``mark`` (``{"mark": text, **fields}``); its seq (``ApiJournal``)."""
        if self.api is None:
            check_venue(venue, none_ok=True)
            raise ControlError("the recorder is stopping", code="stopping")
        return self.api.journal_mark(venue, text, fields)

    def committed_seq(self) -> int:
        return self.writer.committed_seq if self.writer is not None else 0

    def control_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), "venues": self.venues(),
                               "channels": {a.venue: list(a.options.channels) for a in self.adapters},
                               "last_seq": self.writer.last_seq if self.writer else 0,
                               "table": self.publisher.path if self.publisher else None}
        if self.publisher is not None:
            out["publish"] = self.publisher.stats()
        return out

    def _build_hooks(self) -> None:
        """Each enabled hook section's hook, before records flow (a feed folds through the
        live projection from its first record on)."""
        proj = self.projection if self.projection is not None and self.projection.failed is None else None
        for name in HOOK_SECTIONS:
            settings = getattr(self.config, name)
            if not settings.enabled:
                continue
            self.hooks.build(name, HookContext(
                name=name, data_dir=self.config.data, settings=settings, log=self.log,
                journal=self.writer, projection=proj,
                release_segment=self.writer.release_segment), self.hook_factories)

    def _start_supervisors(self) -> list[asyncio.Task[None]]:
        """The snapshot fetchers' tasks, then the slots'; the latter (a list that grows
        when the control socket adds symbols)."""
        for venue, fetcher in self.fetchers.items():
            self._tasks.append(asyncio.create_task(fetcher.run(), name=f"snapshots-{venue}"))
        return self.subscriptions.start()

    def _supervisor(self, adapter: Adapter, plan: ConnectionPlan, n: int) -> Supervisor:
        """Slot ``n`` of ``adapter``'s venue, journaling where the venue's table says."""
        journal = self._journal_for(adapter.venue)
        # receive-to-commit samples are seqs of the journal: the tier's have their own
        latency = (self.metrics.sample_latency
                   if self.metrics is not None and journal is self.journal else None)
        return Supervisor(adapter, plan, n, journal=journal, life=self.life,
                          sup=self.config.supervision, rng=self.rng, log=self.log,
                          resync=self.resync, on_link=self._on_link, on_failed=self._slot_failed,
                          latency=latency, on_refused=self.subscriptions.change_refused)

    def _use_venues(self, venues: tuple[VenueConfig, ...]) -> None:
        """Record ``venues`` (the configured ones, their symbols checked and expanded by
        the universe); ``config_hash`` stays the configuration's."""
        self.config = dataclasses.replace(self.config, venues=venues)
        self._serve([adapter_for(v, self.config.supervision) for v in venues])

    def _serve(self, adapters: list[Adapter]) -> None:
        """Record with ``adapters``: the slots and symbols to start from (before ``run``'s
        slots start)."""
        self.adapters = adapters
        self.subscriptions = Subscriptions(adapters, supervisors=self.supervisors,
                                           universe=self.universe, new_slot=self._supervisor,
                                           life=self.life, log=self.log)

    @property
    def watcher(self) -> Watcher | None:
        """The listing watcher ([listing] enabled, once running)."""
        return self.listings.watcher if self.listings is not None else None

    @property
    def capture(self) -> Capture | None:
        """The listings' capture windows ([listing] enabled, once running)."""
        return self.listings.capture if self.listings is not None else None

    def _keep_windows(self) -> list[tuple[int, int]]:
        """The tier's time ranges a capture window still needs (none are expired)."""
        return self.listings.keep() if self.listings is not None else []

    def _on_link(self, link: Link) -> None:
        self.links[link.sid] = link

    # -- running ----------------------------------------------------------------------

    async def run(self) -> int:
        """Record until stopped; returns the exit code (see the module docstring)."""
        loop = asyncio.get_running_loop()
        self._use_venues(await self.universe.start())  # ConfigError: an unlisted symbol
        self.life.begin()
        self._open_writer()
        try:
            previous = self.marker.claim()  # the writer lock is ours
            self._start_projections()
            self._start_broker()
            if previous is not None:  # the recovered mark first: before the venues' lists
                journal_recovery(self.journal, previous, last_seq=self.writer.last_seq,
                                 projection=self.projection, reprojected=self._reprojected,
                                 log=self.log)
            for f in self.universe.take_pending():  # the lists the symbols were checked against
                self.journal_rest(f.venue, f.url, f.status, f.body, f.recv_ns, via="universe")
            if self.metrics is not None and self.config.metrics_port is not None:
                port = self.metrics.serve(self.config.metrics_port, self.config.metrics_host)
                self.log.info("metrics", extra=fields(port=port, host=self.config.metrics_host))
            self.log.info("start", extra=fields(
                data=self.config.data, config_hash=self.config_hash, seq=self.writer.last_seq,
                venues=[a.venue for a in self.adapters]))
            sup_tasks = self._start_supervisors()
            await self._start_control()
            self._tasks.append(asyncio.create_task(self._watch(), name="watch"))
            self._tasks.append(asyncio.create_task(self.universe.run(self), name="universe"))
            if self.config.listing.enabled:
                self.listings = Listings(self.config.listing, data_dir=self.config.data, target=self,
                                         tier=self.tier, writer=self.writer, log=self.log,
                                         on_latency=self.metrics.detection.observe
                                         if self.metrics else None)
                if self.metrics is not None:
                    self.metrics.watcher = self.listings.watcher
            if self.tier is not None:  # tasks in this order: tier, capture, listing
                self._tasks.append(asyncio.create_task(
                    self.tier.run(self.life.stop_future, self._keep_windows), name="tier"))
            if self.listings is not None:
                self._tasks.extend(self.listings.start(self.life.stop_future))
            if self.config.duration_s is not None:
                loop.call_later(self.config.duration_s, self.request_stop)
            if self.config.dashboard:
                from .dashboard import run_dashboard

                self._tasks.append(asyncio.create_task(run_dashboard(self.status), name="dashboard"))
            self.started.set()
            await self.life.stop_future
            self.log.info("stopping", extra=fields(reason=self.failure or "requested"))
            await self._stop_supervisors(sup_tasks)
        finally:
            await self._stop_control()
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self.hooks.stop()
            self._close_writer()
            if self.broker is not None:  # after the final flush: the stream ends where the journal does
                await self.broker.close()
            await self.hooks.close()
            if self.metrics is not None:
                self.metrics.close()
        return self.exit_code

    async def _stop_supervisors(self, tasks: list[asyncio.Task[None]]) -> None:
        # Supervisors close their connections (journaling each close) on stop.
        if not tasks:  # no venue: the listing watcher alone (``recorder listing``)
            return
        await asyncio.wait(tasks, timeout=self.config.supervision.close_timeout_s + 1.0)
        for t in tasks:
            if not t.done():
                t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
            if t.done() and not t.cancelled() and t.exception() is not None:
                self.log.error("supervisor_crashed", extra=fields(error=repr(t.exception())))

    def _close_writer(self) -> None:
        w = self.writer
        try:
            w.close()  # flushes: committed_seq == last_seq from here on
        except JournalWriteError as exc:
            self.journal_failed(exc)
        if self.tier is not None:
            try:
                self.tier.close()
            except JournalWriteError as exc:
                self.journal_failed(exc)
        proj = self.projection
        if proj is not None and self.failure is None and proj.checkpoint_due(force=True):
            got = proj.capture()
            if got is not None:
                proj.store(*got, committed_seq=w.committed_seq)
        self.log.info("stopped", extra=fields(last_seq=w.last_seq, committed_seq=w.committed_seq,
                                              exit_code=self.exit_code))
        self.marker.release()  # stopped in order: the next start is no recovery

    async def _watch(self) -> None:
        """Notice a writer that failed on its own thread; write checkpoints; run the hooks."""
        while True:
            await asyncio.sleep(WATCH_S)
            failure = self.writer.failure
            if failure is not None:
                self.journal_failed(failure)
                return
            self.hooks.poll()
            proj = self.projection
            if self.publisher is not None and proj is not None and proj.failed is None:
                self.publisher.beat()  # a projection that stopped: no beat, readers see it
            if proj is not None and proj.checkpoint_due():
                await self._checkpoint(proj)

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
