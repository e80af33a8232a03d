"""Upbit quotation WebSocket and REST: request arrays, DEFAULT/SIMPLE, binary frames, PING.

Like the real Upbit, every message is a *binary* frame carrying UTF-8 JSON. A new request
on a connection replaces its subscriptions; unless ``is_only_realtime`` is set each
(type, code) first gets the latest message re-labelled ``stream_type`` SNAPSHOT. The text
``PING`` is answered with ``{"status":"UP"}``; a connection idle in both directions for
``upbit_idle_timeout_s`` is closed (client ping frames count as activity).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import orjson
from websockets.exceptions import ConnectionClosed

from recorder.venues.base import WindowLimit

from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event
from .upbit_market import UpbitMarket, as_snapshot, to_default
from .venue_base import SimVenue

TYPES = ("trade", "orderbook", "ticker")
FORMATS = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
STATUS_UP = b'{"status":"UP"}'
REST_GROUPS = {"/v1/market/all": "market", "/v1/orderbook": "orderbook", "/v1/ticker": "ticker"}


def render(simple: bytes, fmt: str) -> bytes:
    """A SIMPLE payload in the subscriber's format."""
    if fmt == "SIMPLE":
        return simple
    if fmt == "DEFAULT":
        return to_default(simple)
    body = simple if fmt == "SIMPLE_LIST" else to_default(simple)
    return b"[" + body + b"]"


class UpbitRequestError(ValueError):
    """A request Upbit would refuse; ``name`` is Upbit's error name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def parse_request(raw: bytes) -> tuple[str, str, list[tuple[str, list[str], bool, bool]]] | str:
    """``(ticket, format, [(type, codes, only_snapshot, only_realtime)])``, or the ticket of a
    LIST_SUBSCRIPTIONS request (a plain string). Raises ``UpbitRequestError``."""
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpbitRequestError("WRONG_FORMAT", "request is not JSON") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise UpbitRequestError("WRONG_FORMAT", "request must be an array of objects")
    ticket = next((str(i["ticket"]) for i in items if i.get("ticket")), None)
    if ticket is None:
        raise UpbitRequestError("NO_TICKET", "ticket is required")
    if any(i.get("method") == "LIST_SUBSCRIPTIONS" for i in items):
        return ticket
    fmt = next((i["format"] for i in items if "format" in i), "DEFAULT")
    if fmt not in FORMATS:
        raise UpbitRequestError("INVALID_PARAM", f"unknown format {fmt!r}")
    subs = []
    for i in items:
        if "type" not in i:
            continue
        codes = i.get("codes")
        if not codes or not isinstance(codes, list):
            raise UpbitRequestError("NO_CODES", f"codes required for {i['type']}")
        if i["type"] not in TYPES and not str(i["type"]).startswith("candle."):
            raise UpbitRequestError("INVALID_PARAM", f"unknown type {i['type']!r}")
        only_snap = bool(i.get("is_only_snapshot", i.get("isOnlySnapshot", False)))
        only_real = bool(i.get("is_only_realtime", i.get("isOnlyRealtime", False)))
        subs.append((i["type"], [str(c).split(".")[0].upper() for c in codes], only_snap, only_real))
    if not subs:
        raise UpbitRequestError("NO_TYPE", "at least one type is required")
    return ticket, fmt, subs


class UpbitVenue(SimVenue):
    """The simulated Upbit quotation venue."""

    name = "upbit"
    binary = True

    def __init__(self, market: UpbitMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: UpbitMarket = market
        self.config = config
        self._rest_limits: dict[str, WindowLimit] = {}

    def accepts(self, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == "/websocket/v1"

    async def session(self, conn: SimConn) -> None:
        keys: list[tuple[str, str]] = []
        subs_desc: list[dict] = []
        watchdog = asyncio.create_task(self._idle(conn)) if self.config.upbit_idle_timeout_s else None
        try:
            async for msg in conn.ws:
                raw = msg.encode() if isinstance(msg, str) else msg
                now = loop_time()
                if raw.strip() == b"PING":
                    await conn.send_now(STATUS_UP, now=now)
                    continue
                try:
                    parsed = parse_request(raw)
                except UpbitRequestError as exc:
                    await conn.send_now(orjson.dumps({"error": {"name": exc.name, "message": str(exc)}}), now=now)
                    continue
                if isinstance(parsed, str):
                    await conn.send_now(orjson.dumps({"method": "LIST_SUBSCRIPTIONS",
                                                      "result": subs_desc, "ticket": parsed}), now=now)
                    continue
                _ticket, fmt, subs = parsed
                for key in keys:  # a new request replaces the connection's subscriptions
                    self.unregister(key, conn)
                keys.clear()
                subs_desc = [{"type": t, "codes": codes} for t, codes, _, _ in subs]
                for typ, codes, only_snap, only_real in subs:
                    for code in codes:
                        if not self.market.activate(code):
                            continue
                        last = self.market.last.get((code, typ))
                        if last is not None and not only_real:
                            conn.push(render(as_snapshot(last.data), fmt), now=now)
                        if not only_snap:
                            self.register((code, typ), conn, fmt)
                            keys.append((code, typ))
                conn.flush()
                self.sources_changed.set()
        except ConnectionClosed:
            pass
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _idle(self, conn: SimConn) -> None:
        """Upbit's idle cut: nothing sent or received for the timeout -> close."""
        timeout = self.config.upbit_idle_timeout_s
        assert timeout is not None
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while conn.open:
                last = max(getattr(conn.ws, "last_rx", 0.0), conn.last_tx, conn.rec.opened_at)
                wait = last + timeout - loop_time()
                if wait <= 0:
                    await conn.close(1000, "idle timeout")
                    return
                await asyncio.sleep(min(wait, 1.0))

    def deliver(self, ev: Event, now: float) -> None:
        subs = self.subs.get((ev.symbol, ev.kind))
        if not subs:
            return
        rendered: dict[str, bytes] = {}
        for conn, fmt in subs.values():
            frame = rendered.get(fmt)  # type: ignore[call-overload]
            if frame is None:
                frame = rendered[fmt] = render(ev.data, fmt)  # type: ignore[index,arg-type]
            conn.push(frame, now=now)

    # -- REST
    @staticmethod
    def _error(status: int, name: str, message: str) -> Response:
        return Response(status, orjson.dumps({"error": {"name": name, "message": message}}))

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        path, q = req.path, req.query
        if not path.startswith("/v1/"):
            return None
        group = REST_GROUPS.get(path) or ("candle" if path.startswith("/v1/candles/") else None)
        if group is None:
            return self._error(404, "404", "Not found")
        header = []
        if self.config.upbit_rest_per_s:
            lim = self._rest_limits.setdefault(group, WindowLimit(self.config.upbit_rest_per_s, 1.0))
            t = time.monotonic()
            if not lim.try_take(t):
                return self._error(429, "too_many_requests", "Too many API requests.")
            header = [("Remaining-Req", f"group={group}; min=1800; sec={lim.limit - lim.used(t)}")]
        resp = self._answer(path, q)
        resp.headers += header
        return resp

    def _codes(self, value: str) -> list[str] | None:
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        if not codes or not all(self.market.activate(c) for c in codes):
            return None
        self.sources_changed.set()
        return codes

    def _answer(self, path: str, q: dict[str, str]) -> Response:
        if path == "/v1/market/all":
            return Response(200, self.market.market_all_body())
        if path in ("/v1/orderbook", "/v1/ticker"):
            codes = self._codes(q.get("markets", ""))
            if codes is None:
                return self._error(404, "404", "Code not found")
            body = (self.market.orderbook_body if path == "/v1/orderbook" else self.market.ticker_body)(codes)
            return Response(200, body)
        unit = path.rsplit("/", 1)[-1]
        if not path.startswith("/v1/candles/minutes/") or unit not in ("1", "3", "5", "10", "15", "30", "60", "240"):
            return self._error(400, "invalid_parameter_error", "unit is invalid")
        codes = self._codes(q.get("market", ""))
        if codes is None or len(codes) != 1:
            return self._error(404, "404", "Code not found")
        count = int(q["count"]) if q.get("count", "").isdigit() else 1
        return Response(200, self.market.candles_body(codes[0], int(unit), max(1, min(count, 200))))
