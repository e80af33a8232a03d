"""Keeps one planned connection recording: reconnect, watchdog, rotation, keep-alive.

A ``Supervisor`` owns one slot of the venue's connection plan. Its states:

    connecting --open--> live --peer close / error--> backoff --> connecting
    live --no data for stale_after_s--> (close 4000 "stale") --> backoff --> connecting
    live --rotation due--> rotating: the replacement opens while the old one records;
        once the replacement delivers, both record for ``rotation_overlap_s``, then the
        old one is closed --> live (on the replacement)
    any --stop--> closed;  a refusal that must not be retried --> failed

Every connection attempt registers a new stream: ``open``/``sent``/``frame``/``close``
and any ``error`` (with its class) of that attempt are journaled under it. A venue with a
REST call before connecting (``Adapter.pre_connect``: KuCoin's token) has it made on every
attempt; the stream is registered with the URL its reply gave (``Adapter.connect_plan``)
and the reply is its first record (``rest``, or ``error`` when refused: then the attempt
backs off like a refused handshake). A venue that greets (``Adapter.greeting``) gets the
plan's messages once its first frame came.

Live subscription changes (``change``): the slot's plan becomes the change's plan at once
(a reconnect opens and subscribes the current set), and the change's messages go out on
the open connection (both, during a rotation's overlap) through the venue's
per-connection control limiter, each journaled as ``sent``; the venue's answers are
journaled as received frames like any other. An answer that refuses one (or none within
the ack timeout) reverts the plan and backs the slot's next change off
(``Adapter.backoff``), so a venue that keeps refusing sees ever fewer requests, never a
storm. ``retire`` ends the slot (its last symbols were removed), ``resubscribe`` reconnects
it on its current plan (a venue that cannot unsubscribe in place).

Diff books (``Adapter.depth_symbols``) are the resync's business: a supervisor holds
them from a connection's open until it delivers (then their snapshots are fetched: the
documented order, stream first), and across a rotation's overlap (both connections
deliver the same diffs meanwhile; the new one's books are fetched once the old closed).

What it depends on are ports (``recorder.daemon.ports``): the journal, the lifecycle,
the resync, plus callbacks for the daemon's bookkeeping (``on_link``, ``on_failed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from itertools import zip_longest

from websockets.exceptions import InvalidStatus

from recorder.errors import VenueReplyError
from recorder.journal import Record
from recorder.venues.base import ConnectionPlan, ErrorClass, RestRequest, Verdict
from recorder.venues.descriptor import Adapter, ControlLimiter, LiveChange

from .config import Supervision
from .connection import Link
from .logs import fields
from .ports import Journal, Lifecycle, Resync
from .snapshots import http_call

STALE_CLOSE = 4000  # private-use close code: we cut a feed that went silent
TICK_S = 0.05  # supervision loop granularity (watchdog, pings, rotation)
ANSWER_TIMEOUT_S = 10.0  # a live change unanswered this long counts as refused
ERROR_WINDOW_S = 5.0  # an error frame this soon after an unacknowledged change refuses it


class Supervisor:
    """Runs one connection slot until the recorder stops; see the module docstring."""

    def __init__(self, adapter: Adapter, plan: ConnectionPlan, index: int, *, journal: Journal,
                 life: Lifecycle, sup: Supervision, rng: random.Random, log: logging.Logger,
                 resync: Resync | None = None, on_link: Callable[[Link], None] | None = None,
                 on_failed: Callable[[Supervisor], None] | None = None,
                 latency: Callable[[Record], None] | None = None,
                 on_refused: Callable[[Supervisor, LiveChange], None] | None = None) -> None:
        self.journal = journal
        self.life = life
        self.log = log
        self.resync = resync
        self.on_link = on_link
        self.on_failed = on_failed
        self.on_refused = on_refused  # a live change the venue refused (its plan reverted)
        self.latency = latency
        self.adapter = adapter
        self.venue = adapter.venue
        self.plan = plan
        self.index = index
        self.rng = rng
        self.name = f"{adapter.venue}.{plan.route or 'ws'}.{index}"
        self.sup = sup
        self.heartbeat = adapter.heartbeat()
        self.attempt = 0  # consecutive failures
        self.links: list[Link] = []  # open links: two while a rotation overlaps
        self._held: dict[int, list[str]] = {}  # link sid -> diff books held until it delivers
        self.connects = 0
        self.reconnects = 0
        self.rotations = 0
        self.stale = 0
        self.failed: Verdict | None = None
        self.down_since = time.monotonic()
        # live subscription changes (see the module docstring)
        # (version, change, the plan before it, the one link it is for or None: every open one)
        self._changes: deque[tuple[int, LiveChange, ConnectionPlan, int | None]] = deque()
        self._version = 0  # of the plan: +1 a change
        self._link_version: dict[int, int] = {}  # link sid -> the plan version it carries
        self._ready: set[int] = set()  # links whose plan messages went out: changes may follow
        self._change_task: asyncio.Task[None] | None = None
        self._limiters: dict[int, ControlLimiter | None] = {}  # link sid -> its control limiter
        self._pending: dict[int | str, tuple[float, LiveChange, ConnectionPlan]] = {}
        self._unacked: tuple[float, LiveChange, ConnectionPlan] | None = None  # venues without ids
        self._not_before = 0.0  # monotonic: no change goes out before (backoff after a refusal)
        self.change_attempt = 0  # consecutive refused changes
        self.changes_sent = 0
        self.changes_refused = 0
        self.retiring = False
        self._resubscribe = False

    @property
    def up(self) -> bool:
        return any(link.is_open for link in self.links)

    @property
    def ready(self) -> bool:
        """An open connection has sent its plan: a live change goes out on it at once."""
        return any(link.is_open and link.sid in self._ready for link in self.links)

    # -- main loop ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            link = await self._connect_until_up()
            while link is not None:
                link = await self._supervise(link)
        finally:
            for link in list(self.links):
                await self._close(link, 1000, "shutdown")

    async def _connect_until_up(self) -> Link | None:
        """Open a connection, retrying per the backoff; None on stop or a final refusal."""
        while not self.life.stopping and not self.retiring:
            link, verdict = await self._try_open()
            if link is not None:
                return link
            assert verdict is not None
            if not await self._backoff(verdict):
                return None
        return None

    async def _backoff(self, verdict: Verdict) -> bool:
        """Wait before the next attempt; False when stopping or the error is final."""
        delay = self.adapter.backoff.delay(verdict, self.attempt, self.rng)
        if delay is None:
            self.failed = verdict
            self.log.error("connection_failed", extra=fields(
                venue=self.venue, conn=self.name, error_class=verdict.error_class.value,
                reason=verdict.reason, retry=False))
            if self.on_failed is not None:
                self.on_failed(self)
            return False
        self.attempt += 1
        self.log.info("reconnect_wait", extra=fields(
            venue=self.venue, conn=self.name, delay_s=round(delay, 3), attempt=self.attempt,
            error_class=verdict.error_class.value))
        return not await self.life.wait_stop(delay)

    async def _try_open(self, *, rotating: bool = False) -> tuple[Link | None, Verdict | None]:
        """One connection attempt on a fresh stream: a live ``Link`` or the failure's verdict.

        Its diff books are held until it delivers, unless it is a rotation's replacement
        (``_rotate`` holds them until the overlap ends).
        """
        self._resubscribe = False  # this connection opens on the current plan
        self.plan = plan = self.adapter.replan(self.plan, self.index)
        version = self._version
        limit = self.adapter.connect_limit
        if limit is not None:  # the venue's per-IP connect limit
            while (wait := limit.delay(time.monotonic())) > 0:
                await asyncio.sleep(wait)
            limit.take(time.monotonic())
        reply: tuple[str, bytes, dict[str, object]] | None = None
        verdict: Verdict | None = None
        if (pre := self.adapter.pre_connect(plan)) is not None:
            plan, reply, verdict = await self._pre_connect(plan, pre)
        # a market the configuration picks (Gate spot/futures) keys the stream's symbols
        market = {"market": self.adapter.market} if self.adapter.market else {}
        # the stream names the URL connected to (the pre-connect reply's), its reply first
        sid = self.journal.register(self.venue, url=plan.url, conn=self.name, channels=plan.streams,
                                    **market)
        if reply is not None:
            self.journal.append(sid, reply[0], reply[1], meta=reply[2])
        if verdict is not None:
            return None, verdict
        link = Link(self.journal, sid=sid, venue=self.venue, conn=self.name, url=plan.url,
                    log=self.log, rules=self.adapter.frame_rules, on_error=self._frame_error,
                    latency=self.latency)
        self.links.append(link)
        self._link_version[sid] = version
        if self.on_link is not None:
            self.on_link(link)
        greeting = self.adapter.greeting
        if not rotating and not greeting:
            self._hold_books(link, plan)
        sup = self.sup
        try:
            await link.open(open_timeout=sup.open_timeout_s, close_timeout=sup.close_timeout_s,
                            max_size=sup.max_frame_bytes, compression=sup.compression,
                            ping_interval=self.adapter.ping_interval)
            if greeting:  # the venue takes requests once its greeting came
                await asyncio.wait_for(asyncio.shield(link.first_frame), sup.open_timeout_s)
        except Exception as exc:  # noqa: BLE001 (every failure is classified and journaled)
            self.links.remove(link)
            self._release_books(link, delivered=False)
            if link.ws is not None:
                await link.close(1000, "no greeting")
            return None, self._refused(link, exc)
        if greeting:
            # diffs count from the subscription on: a fresh wait for data, books held meanwhile
            link.first_data = asyncio.get_running_loop().create_future()
            if not rotating:
                self._hold_books(link, plan)
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        self.log.info("connected", extra=fields(venue=self.venue, conn=self.name, stream=sid,
                                                    url=plan.url, streams=len(plan.streams)))
        try:
            for msg in plan.messages:
                await link.send(msg)
        except Exception as exc:  # noqa: BLE001
            await self._close(link, 1011, "send failed")
            return None, self._refused(link, exc)
        self._ready.add(sid)
        if self._version != version:  # changed while connecting: bring the new link up to date
            self._catch_up(link, plan)
        return link, None

    async def _pre_connect(self, plan: ConnectionPlan, req: RestRequest) -> tuple[
            ConnectionPlan, tuple[str, bytes, dict[str, object]], Verdict | None]:
        """The venue's REST call before connecting (``Adapter.pre_connect``): the plan to
        connect, the record to journal (``rest``, or ``error`` for a refusal) and the
        refusal's verdict (None: connect)."""
        meta: dict[str, object] = {"url": req.url, "method": req.method}
        try:
            resp = await asyncio.to_thread(http_call, req.method, req.url, self.sup.rest_timeout_s)
        except Exception as exc:  # noqa: BLE001 (network failure: classify, back off, retry)
            verdict = self.adapter.classify(exc=type(exc).__name__)
            return plan, ("error", str(exc).encode(), {**meta, "class": verdict.error_class.value,
                                                       "exc": type(exc).__name__}), verdict
        if resp.status != 200:
            retry_after = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            verdict = self.adapter.classify(status=resp.status, message=resp.body,
                                            retry_after=retry_after)
            return plan, ("error", resp.body, {**meta, "status": resp.status,
                                               "class": verdict.error_class.value}), verdict
        try:
            plan = self.adapter.connect_plan(plan, resp.body)
        except VenueReplyError as exc:
            verdict = Verdict(ErrorClass.NETWORK, True, 0.0, f"unusable pre-connect reply: {exc}")
            return plan, ("error", resp.body, {**meta, "status": 200,
                                               "class": verdict.error_class.value}), verdict
        self.heartbeat = self.adapter.heartbeat()
        return plan, ("rest", resp.body, {**meta, "status": 200}), None

    def _catch_up(self, link: Link, opened: ConnectionPlan) -> None:
        """Send ``link`` (opened on ``opened``) the difference to the current plan, first."""
        current = self.plan
        added = [s for s in current.streams if s not in opened.streams]
        removed = [s for s in opened.streams if s not in current.streams]
        self._link_version[link.sid] = self._version  # the queued changes are not for it
        base = opened
        todo = []
        for streams, make in ((added, self.adapter.subscribe_messages),
                              (removed, self.adapter.unsubscribe_messages)):
            if streams:
                ch = make(base, streams)
                if ch is None:
                    self._resubscribe = True  # the venue cannot: reconnect on the current plan
                    return
                base = ch.plan
                todo.append((self._version, dataclasses.replace(ch, plan=current), current, link.sid))
        self.plan = current
        self._changes.extendleft(reversed(todo))
        self._start_changes()

    def _hold_books(self, link: Link, plan: ConnectionPlan) -> None:
        """Hold ``link``'s diff books until it delivers; then the resync fetches them."""
        resync = self.resync
        symbols = self.adapter.depth_symbols(plan) if resync is not None else []
        if resync is None or not symbols:
            return
        resync.hold(self.venue, symbols)
        self._held[link.sid] = symbols
        link.first_data.add_done_callback(lambda _: self._release_books(link, delivered=True))

    def _release_books(self, link: Link, *, delivered: bool) -> None:
        symbols = self._held.pop(link.sid, None)
        if symbols and self.resync is not None:
            self.resync.release(self.venue, symbols, fresh=delivered)

    def _refused(self, link: Link, exc: BaseException) -> Verdict:
        """Classify and journal a failed handshake or send."""
        meta: dict[str, object] = {"exc": type(exc).__name__}
        payload = str(exc).encode()
        if isinstance(exc, InvalidStatus):
            resp = exc.response
            retry_after = resp.headers.get("Retry-After")
            verdict = self.adapter.classify(status=resp.status_code, message=resp.body,
                                            retry_after=retry_after)
            meta.update(status=resp.status_code, retry_after=retry_after)
            payload = resp.body or payload
        else:
            verdict = self.adapter.classify(exc=type(exc).__name__)
        meta["class"] = verdict.error_class.value
        self.journal.append(link.sid, "error", payload, meta=meta)
        self.log.warning("connect_failed", extra=fields(
            venue=self.venue, conn=self.name, stream=link.sid, error=str(exc),
            error_class=verdict.error_class.value))
        return verdict

    async def _supervise(self, link: Link) -> Link | None:
        """Watch a live link until it ends; returns the next link (or None to stop)."""
        hb = self.heartbeat
        rotate_after = self.adapter.rotate_after_s
        rotate_at = link.opened_at + rotate_after if rotate_after else float("inf")
        seen, seen_at = link.data_frames, time.monotonic()
        last_ping = seen_at
        closed = asyncio.ensure_future(link.wait_closed())
        try:
            while True:
                await asyncio.wait((closed, self.life.stop_future), timeout=TICK_S)
                if self.life.stopping:
                    await self._close(link, 1000, "shutdown")
                    return None
                if self.retiring:
                    await self._close(link, 1000, "unsubscribed")
                    return None
                if self._resubscribe:
                    self._resubscribe = False
                    await self._close(link, 1000, "resubscribe")
                    return await self._connect_until_up()
                now = time.monotonic()
                if self._pending or self._unacked:
                    self._answers_overdue(link, now)
                if closed.done():
                    return await self._after_close(link)
                if link.data_frames != seen:
                    seen, seen_at = link.data_frames, now
                    if self.attempt and now - link.opened_at >= 1.0:
                        self.attempt = 0  # it works again: the next failure starts small
                elif hb.is_stale(now, seen_at):
                    return await self._stale(link, now - seen_at)
                if hb.client_ping is not None and hb.ping_due(now, last_ping):
                    last_ping = now
                    await link.send(hb.client_ping)
                if now >= rotate_at:
                    new = await self._rotate(link)
                    if new is not None:
                        return new
                    if not link.is_open:
                        return await self._after_close(link)
                    delay = self.adapter.backoff.step(self.attempt, self.rng)
                    rotate_at = time.monotonic() + delay
        finally:
            if not closed.done():
                closed.cancel()

    async def _after_close(self, link: Link) -> Link | None:
        """The peer (or the network) ended ``link``: journal it, back off, reconnect."""
        await link.wait_closed()
        link.record_close()
        self._forget(link)
        verdict = link.verdict or self.adapter.classify(close_code=link.close_code)
        if not link.closed_by_us:
            self.journal.append(link.sid, "error", f"closed by peer: {link.close_code}".encode(),
                            meta={"class": verdict.error_class.value, "code": link.close_code})
        self.log.warning("disconnected", extra=fields(
            venue=self.venue, conn=self.name, stream=link.sid, code=link.close_code,
            error_class=verdict.error_class.value, frames=link.frames))
        if link.data_frames and time.monotonic() - link.opened_at >= 1.0:
            self.attempt = 0
        if not await self._backoff(verdict):
            return None
        return await self._connect_until_up()

    async def _stale(self, link: Link, silent_s: float) -> Link | None:
        """No data for ``stale_after_s``: cut the connection and open another."""
        self.stale += 1
        self.journal.append(link.sid, "error", f"no data for {silent_s:.3f} s".encode(),
                        meta={"class": ErrorClass.NETWORK.value, "reason": "stale"})
        self.log.warning("stale", extra=fields(venue=self.venue, conn=self.name, stream=link.sid,
                                                   silent_s=round(silent_s, 3)))
        await self._close(link, STALE_CLOSE, "stale")
        if not await self._backoff(Verdict(ErrorClass.NETWORK, True, 0.0, "stale")):
            return None
        return await self._connect_until_up()

    async def _rotate(self, old: Link) -> Link | None:
        """Open the replacement while ``old`` records; close ``old`` after the overlap.

        Returns the replacement, or None when it failed (``old`` keeps recording). The
        resync holds the diff books meanwhile: each diff arrives twice, once per link.
        """
        self.log.info("rotation_start", extra=fields(venue=self.venue, conn=self.name,
                                                      stream=old.sid))
        resync = self.resync
        symbols = self.adapter.depth_symbols(self.plan) if resync is not None else []
        if resync is not None and symbols:
            resync.hold(self.venue, symbols)
        replaced = False
        try:
            new, verdict = await self._try_open(rotating=True)
            if new is None:
                return None
            try:
                await asyncio.wait_for(asyncio.shield(new.first_data),
                                       self.sup.rotation_deliver_timeout_s)
            except TimeoutError:
                self.log.warning("rotation_no_data", extra=fields(venue=self.venue, conn=self.name,
                                                                   stream=new.sid))
                await self._close(new, 1000, "rotation replacement silent")
                return None
            await self.life.wait_stop(self.sup.rotation_overlap_s)
            await self._close(old, 1000, "rotation")
            replaced = True
            self.rotations += 1
            self.log.info("rotated", extra=fields(venue=self.venue, conn=self.name, old=old.sid,
                                                  new=new.sid, old_frames=old.frames))
            return new
        finally:
            if resync is not None and symbols:
                resync.release(self.venue, symbols, fresh=replaced)

    async def _close(self, link: Link, code: int, reason: str) -> None:
        if link.closed:
            link.record_close()  # the peer got there first: say so
        else:
            await link.close(code, reason)
        self._forget(link)

    def _forget(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
        self._limiters.pop(link.sid, None)
        self._link_version.pop(link.sid, None)
        self._ready.discard(link.sid)
        if not any(lk.is_open for lk in self.links):
            # nothing left to answer what we sent: the next connection subscribes the plan
            self._pending.clear()
            self._unacked = None
        self._release_books(link, delivered=False)
        if not self.up:
            self.down_since = time.monotonic()

    # -- live subscription changes --------------------------------------------------

    def change(self, change: LiveChange) -> None:
        """Adopt ``change.plan`` now and send its messages on the open connection(s).

        The messages go out from a task of this slot, in order, through the venue's
        control limiter and after any backoff a refused change set. With no connection
        open, the plan alone changes: the next connection subscribes it.
        """
        before, self.plan = self.plan, change.plan
        self._version += 1
        self._changes.append((self._version, change, before, None))
        self._start_changes()

    def retire(self) -> None:
        """End this slot: close its connection (``unsubscribed``), open no other."""
        self.retiring = True
        self._changes.clear()

    def resubscribe(self, plan: ConnectionPlan) -> None:
        """Reconnect on ``plan`` (a venue that cannot change an open connection's streams)."""
        self.plan = plan
        self._resubscribe = True

    def _start_changes(self) -> None:
        if self._change_task is None or self._change_task.done():
            self._change_task = asyncio.ensure_future(self._send_changes())

    async def _send_changes(self) -> None:
        while self._changes and not self.life.stopping and not self.retiring:
            wait = self._not_before - time.monotonic()
            if wait > 0:
                if await self.life.wait_stop(wait):
                    return
                continue
            version, change, before, target = self._changes.popleft()
            links = [link for link in self.links if link.is_open and link.sid in self._ready and (
                link.sid == target if target is not None
                else self._link_version.get(link.sid, 0) < version)]
            for link in links:
                await self._send_change(link, change, before)
                if target is None:
                    self._link_version[link.sid] = version
            if links:  # (none ready: the connection that opens next subscribes the plan)
                self.changes_sent += 1
                self.log.info("live_change", extra=fields(
                    venue=self.venue, conn=self.name, added=list(change.added),
                    removed=list(change.removed), messages=len(change.messages),
                    streams=len(change.plan.streams)))
                self._hold_added(change)

    async def _send_change(self, link: Link, change: LiveChange, before: ConnectionPlan) -> None:
        if link.sid not in self._limiters:
            self._limiters[link.sid] = self.adapter.control_limiter()
        limiter = self._limiters[link.sid]
        for msg, rid in zip_longest(change.messages, change.ids):
            if msg is None:
                break
            if limiter is not None:
                while (wait := limiter.delay(time.monotonic())) > 0:
                    await asyncio.sleep(wait)
                limiter.try_take(time.monotonic())
            if not link.is_open:
                return  # it closed meanwhile: its reconnect subscribes the plan
            now = time.monotonic()
            if rid is not None:
                self._pending[rid] = (now, change, before)
                link.watch = self._on_answer
            else:
                self._unacked = (now, change, before)
            try:
                await link.send(msg)
            except Exception as exc:  # noqa: BLE001 (the close is journaled; the reconnect subscribes the plan)
                self.log.warning("live_change_send_failed", extra=fields(
                    venue=self.venue, conn=self.name, stream=link.sid, error=str(exc)))
                return

    def _hold_added(self, change: LiveChange) -> None:
        """Diff books added live get a fresh snapshot (stream first, then the snapshot)."""
        if self.resync is None or not change.added:
            return
        symbols = self.adapter.depth_symbols(dataclasses.replace(change.plan, streams=change.added))
        if symbols:
            self.resync.hold(self.venue, symbols)
            self.resync.release(self.venue, symbols, fresh=True)

    def _on_answer(self, payload: bytes) -> None:
        """A frame while changes await answers (inside the socket read, after it is journaled)."""
        got = self.adapter.answer(payload)
        if got is None:
            return
        rid, error = got
        entry = self._pending.pop(rid, None)
        if not self._pending:
            for link in self.links:
                link.watch = None
        if entry is None:
            return
        if error is None:
            self.change_attempt = 0
        else:
            self._change_refused(entry[1], entry[2], error)

    def _answers_overdue(self, link: Link, now: float) -> None:
        late = [rid for rid, (at, _, _) in self._pending.items() if now - at >= ANSWER_TIMEOUT_S]
        for rid in late:
            _, change, before = self._pending.pop(rid)
            text = f"no answer to request {rid} within {ANSWER_TIMEOUT_S:.0f} s"
            self.journal.append(link.sid, "error", text.encode(),
                                meta={"class": ErrorClass.NETWORK.value, "reason": "no_answer",
                                      "id": rid})
            self._change_refused(change, before, text)
        if not self._pending:
            for lk in self.links:
                lk.watch = None
        if self._unacked is not None and now - self._unacked[0] >= ERROR_WINDOW_S:
            self._unacked = None  # no error frame came: taken
            self.change_attempt = 0

    def _change_refused(self, change: LiveChange, before: ConnectionPlan, error: str) -> None:
        """Revert the plan (if nothing changed it since) and back the next change off."""
        self.changes_refused += 1
        if self.plan is change.plan:
            self.plan = before
        verdict = self.adapter.classify(message=error)
        delay = max(verdict.min_delay_s, self.adapter.backoff.step(self.change_attempt, self.rng))
        self.change_attempt += 1
        self._not_before = time.monotonic() + delay
        self.log.warning("live_change_refused", extra=fields(
            venue=self.venue, conn=self.name, error=error, added=list(change.added),
            removed=list(change.removed), error_class=verdict.error_class.value,
            next_change_in_s=round(delay, 3)))
        if self.on_refused is not None:
            self.on_refused(self, change)

    # -- error replies (found by the link's frame inspection, inside the socket read) -

    def _frame_error(self, link: Link, text: str) -> None:
        verdict = self.adapter.classify(message=text)
        self.journal.append(link.sid, "error", text.encode(),
                            meta={"class": verdict.error_class.value, "source": "frame"})
        self.log.warning("venue_error", extra=fields(venue=self.venue, conn=self.name,
                                                     stream=link.sid, error=text,
                                                     error_class=verdict.error_class.value))
        unacked = self._unacked
        if unacked is not None and time.monotonic() - unacked[0] < ERROR_WINDOW_S:
            self._unacked = None  # a venue without request ids: the error answers our change
            self._change_refused(unacked[1], unacked[2], text)
        if verdict.retry and verdict.error_class is not ErrorClass.NETWORK:
            link.verdict = verdict
            asyncio.ensure_future(link.close(1000, verdict.error_class.value))
