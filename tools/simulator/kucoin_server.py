"""KuCoin spot (classic API) WebSocket and REST: token, welcome, topics, ping/pong, idle cut.

- ``POST /api/v1/bullet-public`` issues a token (one connection each) and the instance
  server (``kucoin_endpoint``, ``pingInterval``/``pingTimeout`` from the config).
- A connection to ``/?token=..&connectId=..`` with a token we issued is greeted with
  ``{"id":<connectId>,"type":"welcome"}``; an unknown token gets an error frame
  (``401``) and a close.
- ``{"id":..,"type":"subscribe","topic":"/market/level2:A,B","response":true}``: every
  symbol served -> ``{"id":..,"type":"ack"}``; an unknown symbol or topic, or more than
  100 symbols -> ``{"id":..,"type":"error","code":404|400,"data":..}`` and nothing of
  that request is subscribed. ``unsubscribe`` likewise. ``ping`` -> ``pong`` (same id).
- More than ``kucoin_max_incoming_per_10s`` messages in 10 s -> error ``509`` (dropped).
- A client that sends nothing for ``pingInterval + pingTimeout`` is cut (close 1000).
- Faults: ``gap`` (``venue="kucoin"``) drops the next level2 diffs of a symbol; ``drop``,
  ``silence``, ``malformed`` and ``rest_error`` as for every venue.
- REST: ``/api/v1/market/orderbook/level2_20`` and ``level2_100`` (the book as the
  tape passed, ``sequence`` consistent with the diffs), ``/api/v1/symbols``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.exceptions import ConnectionClosed

from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .kucoin_market import KucoinMarket
from .tape import Event
from .venue_base import SimVenue

TOPICS = {"/market/level2": "level2", "/market/match": "match", "/market/ticker": "ticker"}
SNAPSHOT_PATHS = {"/api/v1/market/orderbook/level2_20": 20,
                  "/api/v1/market/orderbook/level2_100": 100}
MAX_SYMBOLS_PER_TOPIC = 100


def _error(request_id: object, code: int, data: str) -> bytes:
    return orjson.dumps({"id": request_id, "type": "error", "code": code, "data": data})


class KucoinVenue(SimVenue):
    """The simulated KuCoin spot venue."""

    name = "kucoin"
    rest_prefixes = ("/api/v1/",)

    def __init__(self, market: KucoinMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: KucoinMarket = market
        self.config = config
        self.gaps: dict[str, int] = {}  # symbol -> level2 diffs still to skip (fault)
        self.tokens: set[str] = set()
        self._token_ids = itertools.count(1)

    def accepts(self, path: str) -> bool:
        parts = urlsplit(path)
        return parts.path == "/" and "token" in parse_qs(parts.query)

    # -- WebSocket
    async def session(self, conn: SimConn) -> None:
        q = parse_qs(urlsplit(conn.rec.path).query)
        token = q.get("token", [""])[0]
        connect_id = q.get("connectId", [""])[0] or str(conn.rec.id)
        if token not in self.tokens:
            await conn.send_now(_error(connect_id, 401, "token is invalid"), now=loop_time())
            await conn.close(1000, "invalid token")
            return
        self.tokens.discard(token)  # one connection a token
        await conn.send_now(orjson.dumps({"id": connect_id, "type": "welcome"}), now=loop_time())
        keys: set[tuple[str, str]] = set()
        recent: deque[float] = deque()
        watchdog = asyncio.create_task(self._idle(conn))
        try:
            async for msg in conn.ws:
                raw = msg.encode() if isinstance(msg, str) else msg
                now = loop_time()
                while recent and recent[0] <= now - 10.0:
                    recent.popleft()
                recent.append(now)
                limit = self.config.kucoin_max_incoming_per_10s
                try:
                    req = orjson.loads(raw)
                    rid, typ = req.get("id"), req.get("type")
                except (orjson.JSONDecodeError, AttributeError):
                    await conn.send_now(_error(None, 400, "request is not JSON"), now=now)
                    continue
                if limit is not None and len(recent) > limit:
                    await conn.send_now(_error(rid, 509, "exceed max permits per second"), now=now)
                    continue
                if typ == "ping":
                    await conn.send_now(orjson.dumps({"id": rid, "type": "pong"}), now=now)
                elif typ in ("subscribe", "unsubscribe"):
                    reply = self._subscribe(conn, keys, req, typ == "subscribe")
                    if reply is not None:
                        await conn.send_now(reply, now=now)
                    self.sources_changed.set()
                else:
                    await conn.send_now(_error(rid, 400, f"unknown type {typ!r}"), now=now)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()

    def _subscribe(self, conn: SimConn, keys: set, req: dict, on: bool) -> bytes | None:
        rid = req.get("id")
        prefix, _, names = str(req.get("topic", "")).partition(":")
        kind = TOPICS.get(prefix)
        symbols = [s for s in names.split(",") if s]
        if kind is None or not symbols:
            return _error(rid, 404, f"topic {req.get('topic')} is not found")
        if len(symbols) > MAX_SYMBOLS_PER_TOPIC:
            return _error(rid, 400, f"at most {MAX_SYMBOLS_PER_TOPIC} symbols a topic")
        bad = [s for s in symbols if s != s.upper() or not self.market.activate(s)]
        if bad:
            return _error(rid, 404, f"topic {prefix}:{','.join(bad)} is not found")
        for s in symbols:
            if on:
                self.register((s, kind), conn, None)
                keys.add((s, kind))
            else:
                self.unregister((s, kind), conn)
                keys.discard((s, kind))
        return orjson.dumps({"id": rid, "type": "ack"}) if req.get("response") else None

    async def _idle(self, conn: SimConn) -> None:
        """KuCoin's cut of a client that stopped pinging: nothing received for interval + timeout."""
        timeout = (self.config.kucoin_ping_interval_ms + self.config.kucoin_ping_timeout_ms) / 1000
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while conn.open:
                last = max(getattr(conn.ws, "last_rx", 0.0), conn.rec.opened_at)
                wait = last + timeout - loop_time()
                if wait <= 0:
                    await conn.close(1000, "ping timeout")
                    return
                await asyncio.sleep(min(wait, 1.0))

    def deliver(self, ev: Event, now: float) -> None:
        subs = self.subs.get((ev.symbol, ev.kind))
        if ev.kind == "level2" and self.gaps.get(ev.symbol):
            self.gaps[ev.symbol] -= 1  # the diff is lost on the way: the sequence breaks
            return
        if not subs:
            return
        data = ev.data
        for conn, _ in subs.values():
            conn.push(data, now=now)

    # -- REST
    def rest_error_body(self, status: int) -> bytes:
        return orjson.dumps({"code": "429000", "msg": "Too Many Requests"})

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        path = req.path
        if not path.startswith("/api/v1/"):
            return None
        if path == "/api/v1/bullet-public":
            if req.method != "POST":
                return Response(405, orjson.dumps({"code": "400100", "msg": "use POST"}))
            token = f"sim-token-{next(self._token_ids)}"
            self.tokens.add(token)
            c = self.config
            return Response(200, orjson.dumps({"code": "200000", "data": {
                "token": token, "instanceServers": [{
                    "endpoint": c.kucoin_endpoint, "encrypt": True, "protocol": "websocket",
                    "pingInterval": c.kucoin_ping_interval_ms,
                    "pingTimeout": c.kucoin_ping_timeout_ms}]}}))
        depth = SNAPSHOT_PATHS.get(path)
        if depth is not None:
            body = self.market.snapshot_body(req.query.get("symbol", ""), depth, now_ms)
            if body is None:
                return Response(200, orjson.dumps({"code": "400100", "msg": "symbol not exists"}))
            self.sources_changed.set()
            return Response(200, body)
        if path == "/api/v1/symbols":
            return Response(200, orjson.dumps({"code": "200000", "data": [
                {"symbol": s, "name": s, "baseCurrency": s.split("-")[0],
                 "quoteCurrency": s.split("-")[-1], "enableTrading": True}
                for s in self.market.symbols]}))
        return Response(404, orjson.dumps({"code": "404000", "msg": "Not Found"}))
