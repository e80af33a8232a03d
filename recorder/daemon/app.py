"""The recorder daemon: wires the journal, projections, supervisors, snapshots, metrics, hooks.

    rec = Recorder(config, log=event_logger())
    code = await rec.run()        # until rec.request_stop(), the duration, or a failure

Exit codes: 0 stopped on request (signal, duration); 1 the journal failed (disk or map
full: nothing after ``committed_seq`` is stored) or every connection was refused for
good. Everything appended before a stop is flushed before ``run`` returns.

Crash recovery is journaled. While it runs, the daemon keeps ``DATA/recorder.running``
(its pid, start time and config hash), written once the journal's writer lock is its own
and removed when ``run`` has stopped in order (also after a journal failure). A daemon
that finds the file at start knows the previous one died without stopping (SIGKILL, power
loss, a crash): after restoring state it journals, as its first record, a ``mark``
``{"mark": "recovered", "last_committed_seq": ..., "checkpoint_seq": ..., "reprojected":
..., "previous": {...}}`` (the journal's last seq when it opened, the checkpoint the
projection restored, null for none, and how many records it re-projected after it) on a
stream of its own (venue ``recorder``, conn ``recorder``), and logs ``recovered``.

Other processes on this machine attach (``[publish]``): the live table
(``recorder.daemon.publish``, the projection's touched symbols after each record, a
heartbeat from the watch loop) and the control socket (``recorder.daemon.control``, whose
target the ``Recorder`` is: ``subscribe`` and ``unsubscribe`` change the open connections'
subscriptions where the venue allows it (else open or reconnect only the ones concerned),
``journal_rest`` and ``journal_mark`` append on a venue's API stream), both named by
``DATA/live/attach.json`` and removed on stop.

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
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from recorder.journal import JournalWriteError, StreamInfo
from recorder.journal.writer import JournalWriter
from recorder.listing.capture import Capture
from recorder.listing.watcher import Watcher
from recorder.venues import VENUES, descriptor_for
from recorder.venues.base import ConnectionPlan, origin
from recorder.venues.descriptor import Adapter, LiveChange

from .adapters import adapter_for
from .broker import BrokerPublisher
from .config import HOOK_SECTIONS, RecorderConfig, VenueConfig
from .connection import Link
from .control import ControlError, ControlServer, socket_path
from .hooks import HookRunner
from .logs import event_logger, fields
from .metrics import Metrics
from .ports import HookContext, HookFactory
from .projection import LiveProjection, SyncProjection
from .publish import Publisher, live_dir, remove_attach, write_attach
from .resubscribe import Resubscriber
from .resync import Resync
from .runtime import JournalAccess, Stopper
from .snapshots import Response, SnapshotFetcher, http_get
from .status import StatusView
from .supervisor import Supervisor
from .tier import Tier
from .universe import Universe

WATCH_S = 0.25  # how often the writer's health, checkpoints and hooks are looked at
RUN_MARKER = "recorder.running"  # DATA/recorder.running while a daemon runs (module docstring)


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
        self.adapters: list[Adapter] = [adapter_for(v, config.supervision) for v in config.venues]
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
        self._marker: Path | None = None  # ours, once written
        self._reprojected = 0
        self.publisher: Publisher | None = None  # the live table ([publish], needs the projection)
        self.control: ControlServer | None = None  # the control socket ([publish])
        self.served: dict[str, list[str]] = {a.venue: list(a.options.symbols) for a in self.adapters}
        self._sup_tasks: list[asyncio.Task[None]] = []
        self._api_streams: dict[str, int] = {}  # venue -> stream of REST answers sent to control
        self.universe = Universe(config.venues, log=self.log, get=rest_get,
                                 rest_timeout_s=config.supervision.rest_timeout_s,
                                 refresh_s=config.supervision.universe_refresh_s,
                                 upbit_origin=(origin(config.listing.market_url)
                                               if config.listing.enabled else ""))
        # what the last subscribe/unsubscribe did: connection names changed live, opened, closed
        self.last_change: dict[str, list[str]] = {"live": [], "new": [], "closed": []}
        self.plan_changes = 0  # +1 each subscribe/unsubscribe that changed a slot's plan
        self.watcher: Watcher | None = None  # the listing watcher ([listing] enabled)
        self.tier: Tier | None = None  # DATA/tier, for venues with tier = "short"
        self.capture: Capture | None = None  # the listings' capture windows ([listing])
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
        return {v: list(syms) for v, syms in self.served.items()}

    def _adapter(self, venue: str) -> Adapter:
        for a in self.adapters:
            if a.venue == venue:
                return a
        raise ControlError(f"venue {venue!r} is not recorded here "
                           f"(this recorder serves: {', '.join(self.served) or 'none'})",
                           code="unknown_venue", choices=tuple(self.served))

    def _symbols_of(self, venue: str, symbols: list[str]) -> list[str]:
        """``symbols`` upper-cased, once each; ``ControlError`` unless each is spelled as
        ``venue`` spells its symbols."""
        desc = descriptor_for(venue)
        wanted = list(dict.fromkeys(s.upper() for s in symbols))
        bad = [s for s in wanted if not desc.is_symbol(s)]
        if bad:
            raise ControlError(f"not {venue} symbols: {', '.join(bad)} (e.g. {desc.symbol_example})",
                               code="unknown_symbol", choices=tuple(self.served[venue]))
        unlisted = self.universe.unlisted(venue, wanted)
        if unlisted:
            raise ControlError("; ".join(unlisted), code="unknown_symbol",
                               choices=tuple(self.served[venue]))
        return wanted

    def _slots(self, venue: str) -> list[Supervisor]:
        """The venue's connection slots still recording (not retired, not failed for good)."""
        return [s for s in self.supervisors
                if s.venue == venue and not s.retiring and s.failed is None]

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Record ``symbols`` too; ``(added, already)``.

        Each connection the venue's plan rules give the added symbols goes onto an open
        connection with room when the venue can change one live
        (``Adapter.subscribe_messages``: messages sent, journaled, the slot's plan
        updated), else onto a new connection of its own. No open connection reconnects.
        ``last_change`` says which connections changed (``live``) and which were opened
        (``new``).
        """
        adapter = self._adapter(venue)
        if self.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        wanted = self._symbols_of(venue, symbols)
        have = set(self.served[venue])
        added = [s for s in wanted if s not in have]
        already = [s for s in wanted if s in have]
        live: list[str] = []
        new: list[str] = []
        if added:
            slots = self._slots(venue)
            for plan in adapter.plans_for(added):
                for sup in slots:
                    change = adapter.subscribe_messages(sup.plan, plan.streams)
                    if change is not None:
                        sup.change(change)
                        live.append(sup.name)
                        break
                else:
                    new.append(self._start_slot(adapter, plan).name)
            self.served[venue].extend(added)
            self.plan_changes += 1
            self.log.info("subscribed", extra=fields(venue=venue, added=added, live=live, new=new))
        self.last_change = {"live": list(dict.fromkeys(live)), "new": new, "closed": []}
        return added, already

    def _supervisor(self, adapter: Adapter, plan: ConnectionPlan, n: int) -> Supervisor:
        """Slot ``n`` of ``adapter``'s venue, journaling where the venue's table says."""
        journal = self._journal_for(adapter.venue)
        # receive-to-commit samples are seqs of the journal: the tier's have their own
        latency = (self.metrics.sample_latency
                   if self.metrics is not None and journal is self.journal else None)
        return Supervisor(adapter, plan, n, journal=journal, life=self.life,
                          sup=self.config.supervision, rng=self.rng, log=self.log,
                          resync=self.resync, on_link=self._on_link, on_failed=self._slot_failed,
                          latency=latency, on_refused=self._change_refused)

    def _start_slot(self, adapter: Adapter, plan: ConnectionPlan) -> Supervisor:
        n = sum(1 for s in self.supervisors if s.venue == adapter.venue)
        sup = self._supervisor(adapter, plan, n)
        self.supervisors.append(sup)
        self._sup_tasks.append(asyncio.create_task(sup.run(), name=sup.name))
        return sup

    def _change_refused(self, sup: Supervisor, change: LiveChange) -> None:
        """A venue refused a live change (the slot's plan is reverted): symbols it added
        that no slot carries now are no longer served (the caller may ask again)."""
        if not change.added:
            return
        carried = {st for s in self._slots(sup.venue) for st in s.plan.streams}
        adapter = sup.adapter
        lost = [sym for sym in self.served[sup.venue]
                if not any(st in carried for p in adapter.plans_for([sym]) for st in p.streams)]
        if lost:
            self.served[sup.venue] = [s for s in self.served[sup.venue] if s not in lost]
            self.plan_changes += 1
            self.log.warning("subscribe_refused", extra=fields(venue=sup.venue, symbols=lost))

    def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Stop recording ``symbols``; ``(removed, absent)``.

        Each connection carrying them drops their streams in place when the venue can
        (``Adapter.unsubscribe_messages``), is closed when nothing would be left on it,
        else reconnects on what remains. The others are left as they are.
        """
        adapter = self._adapter(venue)
        if self.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        wanted = self._symbols_of(venue, symbols)
        have = set(self.served[venue])
        removed = [s for s in wanted if s in have]
        absent = [s for s in wanted if s not in have]
        live: list[str] = []
        closed: list[str] = []
        if removed:
            gone = {st for plan in adapter.plans_for(removed) for st in plan.streams}
            for sup in self._slots(venue):
                mine = [st for st in sup.plan.streams if st in gone]
                if not mine:
                    continue
                if len(mine) == len(sup.plan.streams):
                    sup.retire()
                    closed.append(sup.name)
                    continue
                change = adapter.unsubscribe_messages(sup.plan, mine)
                if change is not None:
                    sup.change(change)
                else:  # the venue cannot: reconnect that one on what remains
                    left = set(sup.plan.streams) - gone
                    keep = [sym for sym in self.served[venue] if sym not in removed
                            and any(st in left for p in adapter.plans_for([sym]) for st in p.streams)]
                    rest = [p for p in adapter.plans_for(keep) if p.route == sup.plan.route
                            and set(p.streams) <= left]
                    if rest:
                        sup.resubscribe(rest[0])
                    else:
                        sup.retire()
                        closed.append(sup.name)
                        continue
                live.append(sup.name)
            self.served[venue] = [s for s in self.served[venue] if s not in removed]
            self.plan_changes += 1
            self.log.info("unsubscribed", extra=fields(venue=venue, removed=removed, live=live,
                                                       closed=closed))
        self.last_change = {"live": live, "new": [], "closed": closed}
        return removed, absent

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None, *, via: str = "control") -> int:
        """Append a REST answer fetched elsewhere (a ``rest`` record, ``error`` outside 2xx)
        on the venue's API stream; its seq. ``via`` says who fetched it: ``control`` (a
        process attached over the socket) or ``api`` (the market-data API in this process)."""
        if venue not in VENUES:
            raise ControlError(f"unknown venue {venue!r} (known: {', '.join(VENUES)})",
                               code="unknown_venue", choices=tuple(VENUES))
        if self.writer is None or self.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        sid = self._api_stream(venue)
        kind = "rest" if 200 <= status < 300 or status == 304 else "error"
        meta: dict[str, Any] = {"url": url, "status": status, "via": via}
        if recv_ns is not None:
            meta["recv_ns"] = recv_ns
        try:
            rec = self.writer.append(sid, kind, body, meta=meta)
        except JournalWriteError as exc:
            self.journal_failed(exc)
            raise ControlError(f"the journal failed: {exc}", code="journal_failed") from None
        return rec.seq

    def _api_stream(self, venue: str) -> int:
        """The stream of what API processes send over the control socket, per venue (venue
        ``""``: the recorder's own, for marks of no venue)."""
        sid = self._api_streams.get(venue)
        if sid is None:
            if venue:
                base = next((a.options.rest_base for a in self.adapters if a.venue == venue),
                            VENUES[venue].rest_url)
                sid = self.journal.register(venue, url=base, conn=f"{venue}.api", channels=("rest",))
            else:
                sid = self.journal.register("recorder", url="", conn="recorder.api", channels=())
            self._api_streams[venue] = sid
        return sid

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int:
        """Append a ``mark`` an API process sent (``{"mark": text, **fields}``); its seq."""
        if venue and venue not in VENUES:
            raise ControlError(f"unknown venue {venue!r} (known: {', '.join(VENUES)}, or \"\")",
                               code="unknown_venue", choices=tuple(VENUES))
        if self.writer is None or self.stopping:
            raise ControlError("the recorder is stopping", code="stopping")
        try:
            payload = json.dumps({**fields, "mark": text}, sort_keys=True).encode()
        except (TypeError, ValueError) as exc:
            raise ControlError(f"'fields': {exc}", code="bad_request") from None
        try:
            rec = self.writer.append(self._api_stream(venue), "mark", payload)
        except JournalWriteError as exc:
            self.journal_failed(exc)
            raise ControlError(f"the journal failed: {exc}", code="journal_failed") from None
        return rec.seq

    def committed_seq(self) -> int:
        return self.writer.committed_seq if self.writer is not None else 0

    def _build_watcher(self) -> Watcher:
        """The listing watcher (``[listing]``): its marks and replies go on Upbit's API stream."""
        c = self.config.listing
        return Watcher(notice_url=c.notice_url, market_url=c.market_url,
                       interval_s=c.interval_ms / 1000, market_interval_s=c.market_interval_ms / 1000,
                       timeout_s=c.timeout_s, max_backoff_s=c.max_backoff_s, target=self,
                       data_dir=self.config.data, log=self.log, on_listing=self._on_listing,
                       on_latency=self.metrics.detection.observe if self.metrics else None)

    def _build_capture(self) -> Capture:
        """The capture windows, cut from the tier (or the journal when there is none)."""
        c = self.config.listing
        source = self.tier if self.tier is not None else None
        return Capture(data_dir=self.config.data,
                       source_dir=source.path if source is not None else self.config.data,
                       before_s=c.before_s, after_s=c.after_s,
                       flush=(source.writer if source is not None else self.writer).flush,
                       journal_mark=self.journal_mark, log=self.log)

    def _on_listing(self, listing: dict[str, Any]) -> None:
        """A new KRW listing was marked: book its capture window."""
        if self.capture is not None:
            self.capture.book(listing)

    def _keep_windows(self) -> list[tuple[int, int]]:
        """The tier's time ranges a capture window still needs (none are expired)."""
        return self.capture.keep() if self.capture is not None else []

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
        for adapter in self.adapters:
            for i, plan in enumerate(adapter.plans()):
                self.supervisors.append(self._supervisor(adapter, plan, i))
        for venue, fetcher in self.fetchers.items():
            self._tasks.append(asyncio.create_task(fetcher.run(), name=f"snapshots-{venue}"))
        # the list grows when the control socket adds symbols (``subscribe``)
        self._sup_tasks = [asyncio.create_task(s.run(), name=s.name) for s in self.supervisors]
        return self._sup_tasks

    def _use_venues(self, venues: tuple[VenueConfig, ...]) -> None:
        """Record ``venues`` (the configured ones, their symbols checked and expanded by
        the universe); ``config_hash`` stays the configuration's."""
        self.config = dataclasses.replace(self.config, venues=venues)
        self.adapters = [adapter_for(v, self.config.supervision) for v in venues]
        self.served = {a.venue: list(a.options.symbols) for a in self.adapters}

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
            previous = self._claim_run()
            self._start_projections()
            self._start_broker()
            if previous is not None:
                self._journal_recovery(previous)  # first: before the venues' lists
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
            if self.tier is not None:
                self._tasks.append(asyncio.create_task(
                    self.tier.run(self.life.stop_future, self._keep_windows), name="tier"))
            if self.config.listing.enabled:
                self.capture = self._build_capture()
                self._tasks.append(asyncio.create_task(self.capture.run(self.life.stop_future),
                                                       name="capture"))
                self.watcher = self._build_watcher()
                if self.metrics is not None:
                    self.metrics.watcher = self.watcher
                self._tasks.append(asyncio.create_task(self.watcher.run(self.life.stop_future),
                                                       name="listing"))
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
        if self._marker is not None:  # stopped in order: the next start is no recovery
            with contextlib.suppress(OSError):
                self._marker.unlink()
            self._marker = None

    # -- crash recovery ---------------------------------------------------------------

    def _claim_run(self) -> dict[str, Any] | None:
        """Write our run marker (the writer lock is ours); the previous run's if it left one.

        A marker left behind means its daemon died without stopping in order. None: the
        previous run stopped cleanly, or there was none.
        """
        path = Path(self.config.data) / RUN_MARKER
        previous: dict[str, Any] | None = None
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(previous, dict):
                previous = {"unreadable": repr(previous)[:200]}
        except FileNotFoundError:
            previous = None
        except (OSError, ValueError) as exc:
            previous = {"unreadable": str(exc)[:200]}
        tmp = path.with_name(f".{RUN_MARKER}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"pid": os.getpid(), "started_ns": time.time_ns(),
                                       "config_hash": self.config_hash}), encoding="utf-8")
            os.replace(tmp, path)
            self._marker = path
        except OSError as exc:  # the journal still works; only crash detection is lost
            self.log.warning("run_marker_failed", extra=fields(path=str(path), error=str(exc)))
        return previous

    def _journal_recovery(self, previous: dict[str, Any]) -> None:
        """The ``recovered`` mark: what the journal held and how the state was rebuilt."""
        proj = self.projection
        info = {"last_committed_seq": self.writer.last_seq,
                "checkpoint_seq": (proj.checkpoint_seq or None) if proj is not None else None,
                "reprojected": self._reprojected if proj is not None else None,
                "previous": previous}
        sid = self.journal.register("recorder", url="", conn="recorder", channels=())
        self.journal.mark(sid, "recovered", **info)
        self.log.warning("recovered", extra=fields(stream=sid, **info))

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
