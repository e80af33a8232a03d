"""Keeps one planned connection recording: reconnect, watchdog, rotation, keep-alive.

A ``Supervisor`` owns one slot of the venue's connection plan. Its states:

    connecting --open--> live --peer close / error--> backoff --> connecting
    live --no data for stale_after_s--> (close 4000 "stale") --> backoff --> connecting
    live --rotation due--> rotating: the replacement opens while the old one records;
        once the replacement delivers, both record for ``rotation_overlap_s``, then the
        old one is closed --> live (on the replacement)
    any --stop--> closed;  a refusal that must not be retried --> failed

Every connection attempt registers a new stream: ``open``/``sent``/``frame``/``close``
and any ``error`` (with its class) of that attempt are journaled under it.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from websockets.exceptions import InvalidStatus

from recorder.venues.base import ConnectionPlan, ErrorClass, Verdict
from recorder.venues.binance_usdm import DepthWatcher

from .adapters import Adapter, BinanceUsdm, Upbit
from .connection import Link
from .logs import fields

if TYPE_CHECKING:
    from .app import Recorder

STALE_CLOSE = 4000  # private-use close code: we cut a feed that went silent
TICK_S = 0.05  # supervision loop granularity (watchdog, pings, rotation)


class Supervisor:
    """Runs one connection slot until the recorder stops; see the module docstring."""

    def __init__(self, app: Recorder, adapter: Adapter, plan: ConnectionPlan, index: int,
                 rng: random.Random) -> None:
        self.app = app
        self.adapter = adapter
        self.venue = adapter.venue
        self.plan = plan
        self.index = index
        self.rng = rng
        self.name = f"{adapter.venue}.{plan.route or 'ws'}.{index}"
        self.sup = app.config.supervision
        self.heartbeat = adapter.heartbeat()
        self.attempt = 0  # consecutive failures
        self.links: list[Link] = []  # open links: two while a rotation overlaps
        self.watchers: dict[int, DepthWatcher] = {}  # link sid -> its depth chain watcher
        self.connects = 0
        self.reconnects = 0
        self.rotations = 0
        self.stale = 0
        self.failed: Verdict | None = None
        self.down_since = time.monotonic()
        self.depth_symbols: list[str] = (adapter.depth_symbols(plan)
                                         if isinstance(adapter, BinanceUsdm) and adapter.snapshots
                                         else [])

    @property
    def up(self) -> bool:
        return any(link.is_open for link in self.links)

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
        while not self.app.stopping:
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
            self.app.log.error("connection_failed", extra=fields(
                venue=self.venue, conn=self.name, error_class=verdict.error_class.value,
                reason=verdict.reason, retry=False))
            self.app.slot_failed(self)
            return False
        self.attempt += 1
        self.app.log.info("reconnect_wait", extra=fields(
            venue=self.venue, conn=self.name, delay_s=round(delay, 3), attempt=self.attempt,
            error_class=verdict.error_class.value))
        return not await self.app.wait_stop(delay)

    async def _try_open(self) -> tuple[Link | None, Verdict | None]:
        """One connection attempt on a fresh stream: a live ``Link`` or the failure's verdict."""
        self.plan = plan = self.adapter.replan(self.plan, self.index)
        if isinstance(self.adapter, Upbit):  # 5 connects/s per IP
            limit = self.adapter.connect_limit
            while (wait := limit.delay(time.monotonic())) > 0:
                await asyncio.sleep(wait)
            limit.take(time.monotonic())
        sid = self.app.register(self.venue, url=plan.url, conn=self.name, channels=plan.streams)
        link = Link(self.app, sid=sid, venue=self.venue, conn=self.name, url=plan.url,
                    keepalive=self.adapter.keepalive(), inspect=self._inspect)
        if self.depth_symbols:
            self.watchers[sid] = DepthWatcher()
        self.links.append(link)
        self.app.links[sid] = link
        sup = self.sup
        try:
            await link.open(open_timeout=sup.open_timeout_s, close_timeout=sup.close_timeout_s,
                            max_size=sup.max_frame_bytes, compression=sup.compression,
                            ping_interval=self.adapter.ping_interval)
        except Exception as exc:  # noqa: BLE001 (every failure is classified and journaled)
            self.links.remove(link)
            self.watchers.pop(sid, None)
            return None, self._refused(link, exc)
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        self.app.log.info("connected", extra=fields(venue=self.venue, conn=self.name, stream=sid,
                                                    url=plan.url, streams=len(plan.streams)))
        try:
            for msg in plan.messages:
                await link.send(msg)
        except Exception as exc:  # noqa: BLE001
            await self._close(link, 1011, "send failed")
            return None, self._refused(link, exc)
        return link, None

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
        self.app.append(link.sid, "error", payload, meta=meta)
        self.app.log.warning("connect_failed", extra=fields(
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
                await asyncio.wait((closed, self.app.stop_future), timeout=TICK_S)
                if self.app.stopping:
                    await self._close(link, 1000, "shutdown")
                    return None
                now = time.monotonic()
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
            self.app.append(link.sid, "error", f"closed by peer: {link.close_code}".encode(),
                            meta={"class": verdict.error_class.value, "code": link.close_code})
        self.app.log.warning("disconnected", extra=fields(
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
        self.app.append(link.sid, "error", f"no data for {silent_s:.3f} s".encode(),
                        meta={"class": ErrorClass.NETWORK.value, "reason": "stale"})
        self.app.log.warning("stale", extra=fields(venue=self.venue, conn=self.name, stream=link.sid,
                                                   silent_s=round(silent_s, 3)))
        await self._close(link, STALE_CLOSE, "stale")
        if not await self._backoff(Verdict(ErrorClass.NETWORK, True, 0.0, "stale")):
            return None
        return await self._connect_until_up()

    async def _rotate(self, old: Link) -> Link | None:
        """Open the replacement while ``old`` records; close ``old`` after the overlap.

        Returns the replacement, or None when it failed (``old`` keeps recording).
        """
        self.app.log.info("rotation_start", extra=fields(venue=self.venue, conn=self.name,
                                                          stream=old.sid))
        new, verdict = await self._try_open()
        if new is None:
            return None
        try:
            await asyncio.wait_for(asyncio.shield(new.first_data), self.sup.rotation_deliver_timeout_s)
        except TimeoutError:
            self.app.log.warning("rotation_no_data", extra=fields(venue=self.venue, conn=self.name,
                                                                   stream=new.sid))
            await self._close(new, 1000, "rotation replacement silent")
            return None
        await self.app.wait_stop(self.sup.rotation_overlap_s)
        await self._close(old, 1000, "rotation")
        self.rotations += 1
        self.app.log.info("rotated", extra=fields(venue=self.venue, conn=self.name, old=old.sid,
                                                  new=new.sid, old_frames=old.frames))
        return new

    async def _close(self, link: Link, code: int, reason: str) -> None:
        if link.ws is not None and link.ws.protocol.state.name == "CLOSED":
            link.record_close()  # the peer got there first: say so
        else:
            await link.close(code, reason)
        self._forget(link)

    def _forget(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
        self.watchers.pop(link.sid, None)
        if not self.up:
            self.down_since = time.monotonic()

    # -- per-frame inspection (runs inside data_received) ----------------------------

    def _inspect(self, link: Link, data: bytes) -> None:
        watcher = self.watchers.get(link.sid)
        if watcher is not None:
            need = watcher.on_frame(data)
            if need is not None:
                self.app.need_snapshot(self.venue, need, link.sid)
        if data[:2] == b'{"':
            err = self.adapter.frame_error(data)
            if err is not None:
                self._frame_error(link, err)

    def _frame_error(self, link: Link, text: str) -> None:
        verdict = self.adapter.classify(message=text)
        self.app.append(link.sid, "error", text.encode(), meta={"class": verdict.error_class.value,
                                                                "source": "frame"})
        self.app.log.warning("venue_error", extra=fields(venue=self.venue, conn=self.name,
                                                         stream=link.sid, error=text,
                                                         error_class=verdict.error_class.value))
        if verdict.retry and verdict.error_class is not ErrorClass.NETWORK:
            link.verdict = verdict
            asyncio.ensure_future(link.close(1000, verdict.error_class.value))

    def on_snapshot(self, symbol: str, last_update_id: int) -> list[tuple[int, object]]:
        """Give a snapshot to every watcher following ``symbol``; returns (sid, need) pairs."""
        out = []
        if symbol not in self.depth_symbols:
            return out
        for sid, watcher in list(self.watchers.items()):
            need = watcher.on_snapshot(symbol, last_update_id)
            if need is not None:
                out.append((sid, need))
        return out
