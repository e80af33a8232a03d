"""What every simulated venue shares: its connections, the subscription index, flushing,
the read loop of a session and the two ways a venue ends a quiet one (server pings, idle cut)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Hashable

import orjson
from websockets.exceptions import ConnectionClosed

from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event

DRAIN_TIMEOUT_S = 10.0  # a client that reads nothing this long is cut, as venues do


def rest_error_body(status: int) -> bytes:
    """An injected REST error's body where the venue has no wording of its own (Upbit's)."""
    return orjson.dumps({"error": {"name": "too_many_requests" if status == 429 else str(status),
                                   "message": "Too many API requests."}})


class SimVenue:
    """Base of a simulated venue: subscriptions map a key (symbol, kind) to connections."""

    name = ""
    binary = False  # does the venue send data as binary frames
    # Fixed endpoint paths the venue owns: matched before any venue's ``accepts`` (Binance's
    # ``/ws/<streams>`` would otherwise take OKX's ``/ws/v5/public`` as two stream names).
    paths: tuple[str, ...] = ()
    rest_prefixes: tuple[str, ...] = ()  # the REST paths the venue answers (``serves_rest``)

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

    def serves_rest(self, path: str) -> bool:
        """True when a REST request for ``path`` is this venue's to answer (and an injected
        ``rest_error`` there speaks for it)."""
        return path.startswith(self.rest_prefixes)

    def rest_error_body(self, status: int) -> bytes:
        """The body of an injected REST error (429, 418, 403 or 5xx) as the venue words it."""
        return rest_error_body(status)

    def limit_stats(self) -> dict:
        """Requests per client address as the venue's rate limiter counted them."""
        return {}


async def read_messages(conn: SimConn, handle: Callable[[bytes], Awaitable[None]],
                        watchdog: Coroutine[object, object, None] | None = None) -> None:
    """Hand every client message (as bytes) to ``handle`` until the connection closes, also
    when ``handle`` closed it. ``watchdog`` (server pings, an idle cut) runs alongside and is
    cancelled when reading ends."""
    task = asyncio.create_task(watchdog) if watchdog is not None else None
    try:
        async for msg in conn.ws:
            await handle(msg.encode() if isinstance(msg, str) else msg)
            if not conn.open:  # closed by ``handle`` (a limit): what is still queued is not read
                break
    except ConnectionClosed:
        pass
    finally:
        if task is not None:
            task.cancel()


async def server_pings(conn: SimConn, interval_s: float, pong_timeout_s: float) -> None:
    """Ping every ``interval_s``; a pong not back within ``pong_timeout_s`` drops the TCP
    connection (Binance's rule)."""
    with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
        while True:
            await asyncio.sleep(interval_s)
            waiter = await conn.ws.ping()
            conn.rec.pings_sent += 1
            try:
                await asyncio.wait_for(waiter, pong_timeout_s)
            except TimeoutError:
                conn.abort()
                return


async def idle_cut(conn: SimConn, timeout_s: float, *, code: int, reason: str,
                   count_sent: bool = False, tick_s: float = 1.0) -> None:
    """Close ``conn`` with ``code``/``reason`` once the client sent nothing (ping frames
    count) for ``timeout_s``, nor, with ``count_sent``, did the venue send anything.
    Checked every ``tick_s`` at the most."""
    with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
        while conn.open:
            last = max(getattr(conn.ws, "last_rx", 0.0), conn.rec.opened_at)
            if count_sent:
                last = max(last, conn.last_tx)
            wait = last + timeout_s - loop_time()
            if wait <= 0:
                await conn.close(code, reason)
                return
            await asyncio.sleep(min(wait, tick_s))
