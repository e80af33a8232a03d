"""What every simulated venue shares: its connections, the subscription index, flushing."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from .conn import SimConn
from .httpserver import Request, Response
from .tape import Event

DRAIN_TIMEOUT_S = 10.0  # a client that reads nothing this long is cut, as venues do


class SimVenue:
    """Base of a simulated venue: subscriptions map a key (symbol, kind) to connections."""

    name = ""
    binary = False  # does the venue send data as binary frames
    # Fixed endpoint paths the venue owns: matched before any venue's ``accepts`` (Binance's
    # ``/ws/<streams>`` would otherwise take OKX's ``/ws/v5/public`` as two stream names).
    paths: tuple[str, ...] = ()

    def __init__(self, market) -> None:
        self.market = market
        self.conns: dict[int, SimConn] = {}
        # key -> {conn id: (conn, per-subscriber detail such as the combined-stream prefix)}
        self.subs: dict[Hashable, dict[int, tuple[SimConn, object]]] = {}
        self.subscribed = asyncio.Event()  # set while anyone is subscribed to anything
        self.sources_changed = asyncio.Event()
        self._count = 0

    # -- subscriptions
    def register(self, key: Hashable, conn: SimConn, detail: object) -> None:
        entry = self.subs.setdefault(key, {})
        if conn.rec.id not in entry:
            self._count += 1
        entry[conn.rec.id] = (conn, detail)
        self.subscribed.set()

    def unregister(self, key: Hashable, conn: SimConn) -> None:
        entry = self.subs.get(key)
        if entry and entry.pop(conn.rec.id, None) is not None:
            self._count -= 1
            if not entry:
                del self.subs[key]
            if self._count == 0:
                self.subscribed.clear()

    def drop_conn(self, conn: SimConn) -> None:
        """Forget a closed connection everywhere."""
        for key in [k for k, v in self.subs.items() if conn.rec.id in v]:
            self.unregister(key, conn)
        self.conns.pop(conn.rec.id, None)

    # -- writing
    def flush_all(self) -> None:
        for conn in self.conns.values():
            conn.flush()

    async def drain_all(self) -> None:
        """Wait for every connection's socket buffer; cut a client stuck for too long."""
        for conn in list(self.conns.values()):
            if conn.ws.paused:
                try:
                    await asyncio.wait_for(conn.drain(), DRAIN_TIMEOUT_S)
                except TimeoutError:
                    conn.abort()

    # -- to implement
    def accepts(self, path: str) -> bool:
        raise NotImplementedError

    async def session(self, conn: SimConn) -> None:
        raise NotImplementedError

    def deliver(self, ev: Event, now: float) -> None:
        raise NotImplementedError

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        raise NotImplementedError

    def limit_stats(self) -> dict:
        """Requests per client address as the venue's rate limiter counted them."""
        return {}
