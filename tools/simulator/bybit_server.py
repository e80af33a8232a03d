"""Bybit v5 public WebSocket (spot and linear) and its instruments REST, as the real venue speaks.

Paths ``/v5/public/spot`` and ``/v5/public/linear``. Text frames only. Requests:

- ``{"req_id":..,"op":"subscribe","args":[topics]}``: acked in the market's shape (spot
  ``"ret_msg":"subscribe"``, ``req_id`` only when given; linear ``"ret_msg":""`` and always
  ``req_id``). Each ``orderbook.N.SYM`` starts with the book's snapshot (top N levels at the
  current ``u``), each linear ``tickers.SYM`` with the full ticker; then the live messages.
  Depth 200 is the captured one; other depths (1, 50, 1000) are the same messages with the
  topic re-labelled (a snapshot is cut to N levels), which a client's book takes the same way.
- A refusal (unconfirmed shape, see ``recorder.venues.bybit``): ``"success":false`` with
  ``"Invalid symbol :[topics]"`` for symbols the market lacks, ``"error:handler not found,
  topic:..."`` for an unknown topic, ``"args size >10"`` for spot requests over 10 args,
  ``"error:request not json"`` for anything unreadable; nothing of a refused request is
  subscribed.
- ``{"op":"ping"}`` -> ``{"success":true,"ret_msg":"pong","conn_id":..,"op":"ping"}`` (linear
  adds ``req_id``). A connection with neither a ping nor data sent for ``bybit_idle_timeout_s``
  (Bybit: 10 minutes) is closed.

Faults: ``drop``/``silence``/``malformed`` as for every venue; ``gap`` (the server's fault with
``venue="bybit"``, or ``inject_gap`` for one market) skips
the next deltas of a book on every connection (the ``u`` + 1 chain breaks; Bybit has no
book checksum). REST: ``GET /v5/market/instruments-info?category=spot|linear`` answers with
the captured body.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import orjson
from websockets.exceptions import ConnectionClosed

from .bybit_market import BOOK, KINDS, MARKETS, BybitMarket
from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event
from .venue_base import SimVenue

PATHS = {"/v5/public/spot": "spot", "/v5/public/linear": "linear"}
DEPTHS = (1, 50, 200, 1000)
SPOT_ARGS = 10


def relabel(data: bytes, depth: int) -> bytes:
    """A depth-200 book message as depth ``depth``'s: the topic renamed, a snapshot cut to
    ``depth`` levels a side (deltas pass whole: a client's book takes them the same way)."""
    out = data.replace(b'"topic":"orderbook.200.', b'"topic":"orderbook.%d.' % depth, 1)
    if depth >= 200 or b'"type":"snapshot"' not in out:
        return out
    msg = orjson.loads(out)
    msg["data"]["b"] = msg["data"]["b"][:depth]
    msg["data"]["a"] = msg["data"]["a"][:depth]
    return orjson.dumps(msg)


class _Request(msgspec.Struct):
    op: str = ""
    args: list[str] = []
    req_id: str | None = None


_request = msgspec.json.Decoder(_Request)


class RequestRefused(ValueError):
    """A request Bybit would refuse; the message is its ``ret_msg``."""


def parse_topic(topic: str) -> tuple[str, str, int | None]:
    """``(kind, symbol, depth)`` of a topic (depth None but for books); ValueError if unknown."""
    head, _, sym = topic.rpartition(".")
    if not head or not sym:
        raise ValueError(topic)
    if head.startswith("orderbook."):
        depth = head.split(".", 1)[1]
        if not depth.isdigit() or int(depth) not in DEPTHS:
            raise ValueError(topic)
        return BOOK, sym, int(depth)
    if head not in KINDS:
        raise ValueError(topic)
    return head, sym, None


class BybitSession:
    """One connection's subscriptions and request handling."""

    def __init__(self, venue: BybitVenue, conn: SimConn, market: str) -> None:
        self.venue = venue
        self.conn = conn
        self.market = market
        self.conn_id = f"sim-{market}-{conn.rec.id}"
        self.topics: dict[str, tuple[str, int | None]] = {}  # topic -> (key, depth)
        self.last_ping = conn.rec.opened_at

    def reply(self, op: str, req_id: str | None, *, success: bool = True, ret_msg: str | None = None) -> bytes:
        if ret_msg is None:
            ret_msg = op if self.market == "spot" else ""
        out: dict[str, object] = {"success": success, "ret_msg": ret_msg, "conn_id": self.conn_id}
        if req_id is not None or self.market != "spot":
            out["req_id"] = req_id or ""
        out["op"] = op
        return orjson.dumps(out)

    def _check(self, args: list[str]) -> list[tuple[str, str, str, int | None]]:
        if self.market == "spot" and len(args) > SPOT_ARGS:
            raise RequestRefused(f"args size >{SPOT_ARGS}")
        parsed, bad = [], []
        for t in args:
            try:
                kind, sym, depth = parse_topic(t)
            except ValueError:
                raise RequestRefused(f"error:handler not found,topic:{t}") from None
            if not self.venue.market.known(self.market, sym):
                bad.append(t)
            parsed.append((t, kind, sym, depth))
        if bad:
            raise RequestRefused(f"Invalid symbol :[{','.join(bad)}]")
        return parsed

    def subscribe(self, args: list[str], now: float) -> None:
        market = self.venue.market
        for topic, kind, sym, depth in self._check(args):
            if topic in self.topics:
                continue
            market.activate(self.market, sym)
            key = f"{self.market}:{sym}"
            self.topics[topic] = (key, depth)
            first = None
            if kind == BOOK:
                first = market.book_snapshot(self.market, sym, depth or 200)
            elif kind == "tickers" and self.market == "linear":
                first = market.ticker_snapshot(sym)
            if first is not None:
                self.conn.push(first, now=now)
            self.venue.register((key, kind, depth), self.conn, topic)
        self.venue.sources_changed.set()

    def unsubscribe(self, args: list[str]) -> None:
        for topic in args:
            got = self.topics.pop(topic, None)
            if got is not None:
                key, depth = got
                self.venue.unregister((key, parse_topic(topic)[0], depth), self.conn)

    async def on_message(self, raw: bytes) -> None:
        now = loop_time()
        try:
            req = _request.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            await self.conn.send_now(self.reply("", None, success=False,
                                                ret_msg="error:request not json"), now=now)
            return
        if req.op == "ping":
            self.last_ping = now
            out = {"success": True, "ret_msg": "pong", "conn_id": self.conn_id}
            if self.market != "spot":
                out["req_id"] = req.req_id or ""
            out["op"] = "ping"
            await self.conn.send_now(orjson.dumps(out), now=now)
            return
        if req.op not in ("subscribe", "unsubscribe"):
            await self.conn.send_now(self.reply(req.op, req.req_id, success=False,
                                                ret_msg=f"error:unknown op {req.op}"), now=now)
            return
        try:
            if req.op == "subscribe":
                self._check(req.args)  # refuse before the snapshots go out
                ack = self.reply(req.op, req.req_id)
                self.conn.push(ack, now=now)
                self.subscribe(req.args, now)
            else:
                self.unsubscribe(req.args)
                self.conn.push(self.reply(req.op, req.req_id), now=now)
        except RequestRefused as exc:
            self.conn.push(self.reply(req.op, req.req_id, success=False, ret_msg=str(exc)), now=now)
        self.conn.flush()
        await self.conn.drain()


class BybitVenue(SimVenue):
    """The simulated Bybit v5 public venue (spot and linear)."""

    name = "bybit"
    rest_prefixes = ("/v5/",)
    paths = tuple(PATHS)

    def __init__(self, market: BybitMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: BybitMarket = market
        self.config = config
        self.gaps: dict[str, int] = {}  # "<market>:<SYMBOL>" or a bare symbol (any market) -> deltas to skip

    def accepts(self, path: str) -> bool:
        return path.split("?", 1)[0].rstrip("/") in PATHS

    def inject_gap(self, symbol: str, count: int = 1, market: str | None = None) -> dict:
        """Skip the next ``count`` deltas of ``symbol``'s book (every market unless named)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        for m in (market,) if market else MARKETS:
            key = f"{m}:{symbol.upper()}"
            self.gaps[key] = self.gaps.get(key, 0) + count
        return {"kind": "gap", "symbol": symbol.upper(), "pending": count}

    async def session(self, conn: SimConn) -> None:
        market = PATHS[conn.rec.path.split("?", 1)[0].rstrip("/")]
        sess = BybitSession(self, conn, market)
        watchdog = (asyncio.create_task(self._idle(sess))
                    if self.config.bybit_idle_timeout_s else None)
        try:
            async for msg in conn.ws:
                await sess.on_message(msg.encode() if isinstance(msg, str) else msg)
        except ConnectionClosed:
            pass
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _idle(self, sess: BybitSession) -> None:
        """Bybit's cut: no ping from the client and no data sent for the timeout -> close."""
        timeout = self.config.bybit_idle_timeout_s
        assert timeout is not None
        conn = sess.conn
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while conn.open:
                wait = max(sess.last_ping, conn.last_tx) + timeout - loop_time()
                if wait <= 0:
                    await conn.close(1000, "idle timeout")
                    return
                await asyncio.sleep(min(wait, 1.0))

    def deliver(self, ev: Event, now: float) -> None:
        if ev.kind == BOOK:
            self._deliver_book(ev, now)
            return
        subs = self.subs.get((ev.symbol, ev.kind, None))
        if subs:
            data = ev.data
            for conn, _topic in subs.values():
                conn.push(data, now=now)

    def _deliver_book(self, ev: Event, now: float) -> None:
        data = None
        for depth in DEPTHS:
            subs = self.subs.get((ev.symbol, BOOK, depth))
            if not subs:
                continue
            if data is None:
                data = ev.data
                # "<market>:<SYMBOL>" (inject_gap) or a bare symbol (the server's gap fault)
                key = ev.symbol if ev.symbol in self.gaps else ev.symbol.split(":", 1)[1]
                if self.gaps.get(key) and b'"type":"delta"' in data:
                    self.gaps[key] -= 1
                    if not self.gaps[key]:
                        del self.gaps[key]
                    return
            payload = data
            if depth != 200:
                payload = relabel(data, depth)
            for conn, _topic in subs.values():
                conn.push(payload, now=now)

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """``/v5/market/instruments-info`` from the capture; None for another venue's path."""
        if not req.path.startswith("/v5/"):
            return None
        if req.path == "/v5/market/instruments-info":
            body = self.market.rest.get(req.query.get("category", ""))
            if body is not None:
                return Response(200, body)
            return Response(200, orjson.dumps({"retCode": 10001, "retMsg": "params error: category",
                                               "result": {}, "retExtInfo": {}, "time": now_ms}))
        return Response(404, orjson.dumps({"retCode": 10404, "retMsg": "not found"}))
