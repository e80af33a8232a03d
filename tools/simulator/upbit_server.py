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
from urllib.parse import urlsplit

import orjson
from websockets.exceptions import ConnectionClosed

from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event
from .upbit_candles import MINUTE_UNITS, PERIODS, CandleRequestError, page, parse_count, parse_to
from .upbit_limits import QuotationLimits
from .upbit_market import UpbitMarket, as_snapshot, to_default
from .venue_base import SimVenue

TYPES = ("trade", "orderbook", "ticker")
FORMATS = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
STATUS_UP = b'{"status":"UP"}'
REST_GROUPS = {"/v1/market/all": "market", "/v1/orderbook": "orderbook", "/v1/ticker": "ticker",
               "/v1/trades/ticks": "trade"}
MAX_TICKS = 500


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
    rest_prefixes = ("/v1/",)
    binary = True

    def __init__(self, market: UpbitMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: UpbitMarket = market
        self.config = config
        self.limits = (QuotationLimits(config.upbit_rest_per_s, ban_after=config.upbit_ban_after,
                                       ban_s=config.upbit_ban_s) if config.upbit_rest_per_s else None)

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

    def limit_stats(self) -> dict:
        return {} if self.limits is None else self.limits.stats()

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """Answer an Upbit quotation path (None: not Upbit's). Every answer in a group
        carries ``Remaining-Req``; over the limit it is 429 (plain text), then 418."""
        path, q = req.path, req.query
        if not path.startswith("/v1/"):
            return None
        group = REST_GROUPS.get(path) or ("candle" if path.startswith("/v1/candles/") else None)
        if group is None:
            return self._error(404, "404", "Not found")
        header = None
        if self.limits is not None:
            refusal, header = self.limits.admit(req.client, group)
            if refusal is not None:
                refusal.headers.append(header)
                return refusal
        try:
            resp = self._answer(path, q, now_ms)
        except CandleRequestError as exc:
            resp = self._error(400, "invalid_parameter_error", str(exc))
        if header is not None:
            resp.headers.append(header)
        return resp

    def _codes(self, value: str) -> list[str] | None:
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        if not codes or not all(self.market.activate(c) for c in codes):
            return None
        self.sources_changed.set()
        return codes

    def _answer(self, path: str, q: dict[str, str], now_ms: int) -> Response:
        if path == "/v1/market/all":
            return Response(200, self.market.market_all_body(now_ms))
        if path in ("/v1/orderbook", "/v1/ticker"):
            codes = self._codes(q.get("markets", ""))
            if codes is None:
                return self._error(404, "404", "Code not found")
            body = (self.market.orderbook_body if path == "/v1/orderbook" else self.market.ticker_body)(codes)
            return Response(200, body)
        codes = self._codes(q.get("market", ""))
        if codes is None or len(codes) != 1:
            return self._error(404, "404", "Code not found")
        if path == "/v1/trades/ticks":
            return Response(200, orjson.dumps(ticks_page(self.market.ticks(codes[0]), q)))
        kind = candle_kind(path)
        if kind is None:
            return self._error(400, "invalid_parameter_error", f"unknown candle path {path}")
        count = parse_count(q.get("count"))
        to_ms = parse_to(q["to"]) if q.get("to") else None
        return Response(200, orjson.dumps(page(self.market.candles(codes[0], kind), kind,
                                               to_ms=to_ms, count=count)))


def candle_kind(path: str) -> int | str | None:
    """``1``..``240`` for ``/v1/candles/minutes/{unit}``, ``days``/``weeks``/``months``, or None."""
    rest = path.removeprefix("/v1/candles/")
    if rest in PERIODS:
        return rest
    unit = rest.removeprefix("minutes/")
    if unit != rest and unit.isdigit() and int(unit) in MINUTE_UNITS:
        return int(unit)
    return None


def ticks_page(ticks: list[dict], q: dict[str, str]) -> list[dict]:
    """``/v1/trades/ticks``: newest first, ``count`` (1..500, default 1) older than
    ``cursor`` (a ``sequential_id``) and before ``to`` (``HHmmss`` or ``HH:mm:ss``, UTC)."""
    raw = q.get("count") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TICKS:
        raise CandleRequestError(f"count must be 1..{MAX_TICKS}, got {raw!r}")
    out = ticks[::-1]
    if q.get("cursor"):
        if not q["cursor"].isdigit():
            raise CandleRequestError("cursor must be a sequential_id")
        cursor = int(q["cursor"])
        out = [t for t in out if t["sequential_id"] < cursor]
    if q.get("to"):
        to = q["to"].replace(":", "")
        if len(to) != 6 or not to.isdigit():
            raise CandleRequestError("to must be HHmmss or HH:mm:ss")
        hhmmss = f"{to[:2]}:{to[2:4]}:{to[4:]}"
        out = [t for t in out if t["trade_time_utc"] < hhmmss]
    return out[:int(raw)]
