"""Phemex market-data WebSocket: JSON-RPC subscribes, acks and errors, server.ping, idle cut.

Like the real DataGW: text frames; ``<channel>.subscribe`` with ``params [symbol, ...]`` is
acked ``{"error":null,"id":N,"result":{"status":"success"}}`` and followed by what the
channel starts with (a book snapshot, the last trades, the klines); an unknown symbol or
method is ``{"error":{"code":6001,"message":"invalid argument"},"id":N,"result":null}``;
``server.ping`` is answered ``{"error":null,"id":N,"result":"pong"}``; ``orderbook.unsubscribe``
drops every book of the connection, ``trade``/``kline`` one symbol (or all without one). A connection that
sent nothing (no request, no ping frame) for ``phemex_idle_timeout_s`` is closed, and one
asking for more than ``phemex_max_subscriptions`` subscriptions gets an error reply.
``fault("gap", venue="phemex", symbol=S)`` sends S's next book message twice. Every
``phemex_snapshot_interval_s`` of tape time (Phemex: 60 s) each book's subscribers get a
snapshot of it, as DataGW publishes them.

The endpoint is the bare host (``wss://ws.phemex.com``): this venue takes the path ``/``
(and ``/ws``, the older spelling, when no other venue claims it first).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson

from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .phemex_market import PhemexMarket
from .tape import Event
from .venue_base import SimVenue, idle_cut, read_messages

CHANNELS = ("orderbook", "trade", "kline")
INVALID = 6001  # Phemex's "invalid argument"
TOO_MANY = 6002


def reply(req_id: object, result: object = None, error: tuple[int, str] | None = None) -> bytes:
    """A JSON-RPC reply in Phemex's key order: error, id, result."""
    err = None if error is None else {"code": error[0], "message": error[1]}
    return orjson.dumps({"error": err, "id": req_id, "result": result})


OK = {"status": "success"}


class PhemexVenue(SimVenue):
    """The simulated Phemex venue (contracts and spot on one endpoint)."""

    name = "phemex"

    def __init__(self, market: PhemexMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: PhemexMarket = market
        self.config = config
        # symbol -> book messages still to send twice (``fault("gap", venue="phemex")``): a
        # repeated sequence is the break the "increasing" rule sees; a lost message is not
        # visible at all, since Phemex's sequence is not contiguous.
        self.gaps: dict[str, int] = {}
        self.snapshot_at: dict[str, float] = {}  # symbol -> tape time of its next periodic snapshot

    def accepts(self, path: str) -> bool:
        parts = urlsplit(path)
        return parts.path in ("", "/", "/ws") and "token" not in parts.query

    async def session(self, conn: SimConn) -> None:
        keys: set[tuple[str, str]] = set()
        timeout = self.config.phemex_idle_timeout_s
        # Phemex's cut: nothing received from the client (request or ping frame) for the timeout
        await read_messages(conn, lambda raw: self._request(conn, raw, keys),
                            idle_cut(conn, timeout, code=1000, reason="heartbeat timeout", tick_s=0.5)
                            if timeout else None)

    async def _request(self, conn: SimConn, raw: bytes, keys: set[tuple[str, str]]) -> None:
        now = loop_time()
        try:
            req = orjson.loads(raw)
            req_id, method, params = req.get("id"), str(req["method"]), list(req.get("params", []))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            await conn.send_now(reply(None, error=(INVALID, "invalid request")), now=now)
            return
        if method == "server.ping":
            await conn.send_now(reply(req_id, "pong"), now=now)
            return
        channel, _, action = method.partition(".")
        if channel not in CHANNELS or action not in ("subscribe", "unsubscribe") \
                or (action == "subscribe" and not params):
            await conn.send_now(reply(req_id, error=(INVALID, "invalid argument")), now=now)
            return
        if action == "unsubscribe":
            # orderbook: every book of the connection; trade/kline: one symbol or all
            one = str(params[0]) if params and channel != "orderbook" else None
            for key in [k for k in keys if k[1] == channel and one in (None, k[0])]:
                keys.discard(key)
                self.unregister(key, conn)
            await conn.send_now(reply(req_id, OK), now=now)
            return
        symbol = str(params[0])
        key = (symbol, channel)
        if not self.market.activate(symbol):
            await conn.send_now(reply(req_id, error=(INVALID, "invalid argument")), now=now)
            return
        if key not in keys and len(keys) >= self.config.phemex_max_subscriptions:
            await conn.send_now(reply(req_id, error=(TOO_MANY, "too many subscriptions")), now=now)
            return
        conn.push(reply(req_id, OK), now=now)
        for frame in self.market.first_frames(symbol, channel):
            conn.push(frame, now=now)
        keys.add(key)
        self.register(key, conn, None)
        conn.flush()
        self.sources_changed.set()

    def deliver(self, ev: Event, now: float) -> None:
        subs = self.subs.get((ev.symbol, ev.kind))
        if not subs:
            return
        data = ev.data
        times = 1
        if ev.kind == "orderbook" and self.gaps.get(ev.symbol):
            self.gaps[ev.symbol] -= 1
            if not self.gaps[ev.symbol]:
                del self.gaps[ev.symbol]
            times = 2
        for conn, _ in subs.values():
            for _ in range(times):
                conn.push(data, now=now)
        every = self.config.phemex_snapshot_interval_s
        if ev.kind == "orderbook" and every:
            # DataGW's periodic snapshot "for client self-verification" (tape time)
            due = self.snapshot_at.setdefault(ev.symbol, ev.t + every)
            if ev.t >= due:
                self.snapshot_at[ev.symbol] = ev.t + every
                for frame in self.market.first_frames(ev.symbol, "orderbook"):
                    for conn, _ in subs.values():
                        conn.push(frame, now=now)

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """The recorder calls no Phemex REST endpoint (books come over the socket)."""
        return None
