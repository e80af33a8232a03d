"""Gate v4 WebSocket (spot ``/ws/v4/``, USDT futures ``/v4/ws/usdt``) and its order-book REST.

Like the real Gate, a request is ``{"time","channel","event","payload"}``; ``subscribe`` and
``unsubscribe`` are answered ``{"time","time_ms","channel","event","payload","result":
{"status":"success"}}`` (with the request's ``id`` when it had one), an unknown symbol with ``"error":{"code":2,"message":"unknown
currency pair X"}`` (futures: ``unknown contract X``), a malformed request with code 1.
``<market>.ping`` is answered ``<market>.pong``. ``gate_idle_timeout_s`` (None: never; Gate's
own cut is not documented) closes a connection the client left silent that long.

REST: ``/api/v4/spot/order_book?currency_pair=X&limit=N&with_id=true`` and
``/api/v4/futures/usdt/order_book?contract=X...``, answered from the book the simulator has
sent (its ``id`` is the last ``u``); ``/api/v4/spot/currency_pairs`` and
``/api/v4/futures/usdt/contracts`` list the symbols. The ``gap`` fault (``venue="gate"``,
``symbol`` ``BTC_USDT`` or ``futures:BTC_USDT``) withholds book updates from subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import orjson
from websockets.exceptions import ConnectionClosed

from .config import SimConfig
from .conn import SimConn, loop_time
from .gate_market import KINDS, GateMarket
from .httpserver import Request, Response
from .tape import Event
from .venue_base import SimVenue

PATHS = {"/ws/v4": "spot", "/v4/ws/usdt": "futures"}


def market_of(path: str) -> str | None:
    return PATHS.get(urlsplit(path).path.rstrip("/"))


class GateVenue(SimVenue):
    """The simulated Gate venue (both markets)."""

    name = "gate"
    rest_prefixes = ("/api/v4/",)
    paths = ("/ws/v4", "/v4/ws/usdt")  # before Binance's /ws/<streams> route claims them

    def __init__(self, market: GateMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: GateMarket = market
        self.config = config
        self.gaps: dict[str, int] = {}  # "BTC_USDT" / "futures:BTC_USDT" -> updates to withhold

    def accepts(self, path: str) -> bool:
        return market_of(path) is not None

    @staticmethod
    def _reply(channel: str, event: str, payload: object, *, error: tuple[int, str] | None = None,
               request_id: object = None) -> bytes:
        ms = int(time.time() * 1000)
        out: dict[str, object] = {"time": ms // 1000, "time_ms": ms}
        if isinstance(request_id, int):
            out["id"] = request_id  # sent back as Gate does, to match the answer to its request
        out.update(channel=channel, event=event, payload=payload)
        if error is None:
            out["result"] = {"status": "success"}
        else:
            out["error"] = {"code": error[0], "message": error[1]}
            out["result"] = {"status": "fail"}
        return orjson.dumps(out)

    async def session(self, conn: SimConn) -> None:
        mkt = market_of(conn.rec.path)
        assert mkt is not None
        keys: set[tuple[str, str, str]] = set()
        watchdog = (asyncio.create_task(self._idle(conn))
                    if self.config.gate_idle_timeout_s else None)
        try:
            async for msg in conn.ws:
                raw = msg.encode() if isinstance(msg, str) else msg
                await self._request(conn, mkt, raw, keys)
        except ConnectionClosed:
            pass
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _request(self, conn: SimConn, mkt: str, raw: bytes, keys: set) -> None:
        now = loop_time()
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict) or not isinstance(req.get("channel"), str):
            await conn.send_now(self._reply("", "", None, error=(1, "invalid request")), now=now)
            return
        channel, event = req["channel"], req.get("event", "")
        if channel == f"{mkt}.ping":
            ms = int(time.time() * 1000)
            await conn.send_now(orjson.dumps({"time": ms // 1000, "time_ms": ms, "channel": f"{mkt}.pong",
                                              "event": "", "result": None}), now=now)
            return
        prefix, _, kind = channel.partition(".")
        payload = req.get("payload")
        rid = req.get("id")
        if prefix != mkt or kind not in KINDS or event not in ("subscribe", "unsubscribe"):
            await conn.send_now(self._reply(channel, event, payload,
                                            error=(1, f"unknown channel {channel}"),
                                            request_id=rid), now=now)
            return
        if not isinstance(payload, list) or not payload or not all(isinstance(p, str) for p in payload):
            await conn.send_now(self._reply(channel, event, payload, error=(1, "invalid argument"),
                                            request_id=rid), now=now)
            return
        symbols = payload[:1] if kind == "order_book_update" else payload
        for sym in symbols:
            if not self.market.activate(mkt, sym):
                what = "unknown contract" if mkt == "futures" else "unknown currency pair"
                await conn.send_now(self._reply(channel, event, payload, error=(2, f"{what} {sym}"),
                                                request_id=rid), now=now)
                return
        for sym in symbols:
            key = (mkt, sym, kind)
            if event == "subscribe":
                self.register((f"{mkt}:{sym}", kind), conn, None)
                keys.add(key)
            else:
                self.unregister((f"{mkt}:{sym}", kind), conn)
                keys.discard(key)
        await conn.send_now(self._reply(channel, event, payload, request_id=rid), now=now)
        self.sources_changed.set()

    async def _idle(self, conn: SimConn) -> None:
        """An idle cut: nothing received from the client for the timeout -> close."""
        timeout = self.config.gate_idle_timeout_s
        assert timeout is not None
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while conn.open:
                last = max(getattr(conn.ws, "last_rx", 0.0), conn.rec.opened_at)
                wait = last + timeout - loop_time()
                if wait <= 0:
                    await conn.close(1000, "idle timeout")
                    return
                await asyncio.sleep(min(wait, 0.1))

    def deliver(self, ev: Event, now: float) -> None:
        subs = self.subs.get((ev.symbol, ev.kind))
        if ev.kind == "order_book_update":
            bare = ev.symbol.removeprefix("spot:").upper()
            if self.gaps.get(bare):
                self.gaps[bare] -= 1  # lost on the way: the U/u chain breaks
                return
        if not subs:
            return
        data = ev.data
        for conn, _ in subs.values():
            conn.push(data, now=now)

    # -- REST
    async def rest(self, req: Request, now_ms: int) -> Response | None:
        path, q = req.path, req.query
        if path == "/api/v4/spot/order_book":
            mkt, sym = "spot", q.get("currency_pair", "")
        elif path == "/api/v4/futures/usdt/order_book":
            mkt, sym = "futures", q.get("contract", "")
        elif path == "/api/v4/spot/currency_pairs":
            return Response(200, orjson.dumps([{"id": s.split(":", 1)[1], "trade_status": "tradable"}
                                               for s in self.market.symbols if s.startswith("spot:")]))
        elif path == "/api/v4/futures/usdt/contracts":
            return Response(200, orjson.dumps([{"name": s.split(":", 1)[1]}
                                               for s in self.market.symbols if s.startswith("futures:")]))
        else:
            return None
        if not self.market.activate(mkt, sym.upper()):
            label = "CONTRACT_NOT_FOUND" if mkt == "futures" else "INVALID_CURRENCY_PAIR"
            return Response(400, orjson.dumps({"label": label, "message": f"unknown {sym}"}))
        self.sources_changed.set()
        limit = q.get("limit", "10")
        n = int(limit) if limit.isdigit() else 10
        return Response(200, self.market.snapshot_body(mkt, sym.upper(), n, now_ms))
