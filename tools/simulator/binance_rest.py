"""Binance REST for USD-M (``/fapi/v1``) and spot (``/api/v3``): paths, weights, bans.

Spot is served from the same simulated market as USD-M (same symbols, same prices), so a
spot client and a futures client see one world. Each request costs its published weight
against the family's budget per client address per minute (USD-M 2400, spot 6000 by
default); every answer carries ``X-MBX-USED-WEIGHT-1M``. Over budget: 429 with
``Retry-After`` (seconds until the weight fits); ``ban_after`` more 429s within the
minute: 418 with ``Retry-After`` for ``ban_s`` seconds, doubling with each ban. The clock
is ``clock`` (monotonic seconds): tests may replace it.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from recorder.venues.base import WindowLimit

from .binance_market import BinanceMarket
from .httpserver import Request, Response


@dataclass(frozen=True, slots=True)
class Family:
    """One REST API: path prefix, kline page cap, weight budget per minute."""

    name: str
    prefix: str
    klines_max: int
    trades_max: int
    depth_max: int


USDM = Family("usdm", "/fapi/v1/", 1500, 1000, 1000)
SPOT = Family("spot", "/api/v3/", 1000, 1000, 5000)
USDM_DEPTH = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


class BadRequest(ValueError):
    """A request Binance answers with 400 and ``code``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code


def _bad_limit() -> BadRequest:
    return BadRequest(-1130, "Data sent for parameter 'limit' is not valid.")


def _int(q: dict[str, str], name: str, default: int | None = None) -> int | None:
    v = q.get(name)
    if v is None or v == "":
        return default
    if not v.lstrip("-").isdigit():
        raise BadRequest(-1100, f"Illegal characters found in parameter '{name}'.")
    return int(v)


def weight(fam: Family, path: str, q: dict[str, str]) -> int:
    """The request weight of ``path`` (without the prefix). Raises ``BadRequest``."""
    if path == "depth":
        limit = _int(q, "limit", 500 if fam is USDM else 100)
        assert limit is not None
        if fam is USDM:
            if limit not in USDM_DEPTH:
                raise _bad_limit()
            return USDM_DEPTH[limit]
        if not 1 <= limit <= 5000:
            raise _bad_limit()
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path == "klines":
        limit = _int(q, "limit", 500)
        assert limit is not None
        if not 1 <= limit <= fam.klines_max:
            raise _bad_limit()
        if fam is SPOT:
            return 2
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if path == "trades":
        limit = _int(q, "limit", 500)
        assert limit is not None
        if not 1 <= limit <= fam.trades_max:
            raise _bad_limit()
        return 5 if fam is USDM else 25
    if path == "ticker/24hr":
        one = bool(q.get("symbol"))
        return (1 if one else 40) if fam is USDM else (2 if one else 80)
    if path == "exchangeInfo":
        return 1 if fam is USDM else 20
    if path in ("time", "ping"):
        return 1
    raise BadRequest(-1000, "Unknown path.")


class WeightLimits:
    """Weight per client address per minute for one family, with 429 then 418."""

    def __init__(self, limit: int, *, ban_after: int = 5, ban_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.ban_after, self.ban_s, self.clock = limit, ban_after, ban_s, clock
        self._windows: dict[str, WindowLimit] = {}
        self._strikes: dict[str, deque[float]] = defaultdict(deque)
        self._banned_until: dict[str, float] = {}
        self._bans: Counter[str] = Counter()
        self.accepted: dict[str, Counter[int]] = defaultdict(Counter)  # client -> minute -> weight
        self.refused: dict[str, Counter[int]] = defaultdict(Counter)  # client -> minute -> requests

    def admit(self, client: str, w: int) -> tuple[Response | None, int]:
        """``(refusal, used weight)``; refusal None means answer the request."""
        now = self.clock()
        minute = math.floor(now / 60)
        win = self._windows.get(client) or self._windows.setdefault(client, WindowLimit(self.limit, 60.0))
        until = self._banned_until.get(client)
        if until is not None and now < until:
            self.refused[client][minute] += 1
            return self._banned(until - now), win.used(now)
        if w <= self.limit and win.try_take(now, w):
            self.accepted[client][minute] += w
            return None, win.used(now)
        self.refused[client][minute] += 1
        strikes = self._strikes[client]
        strikes.append(now)
        while strikes and strikes[0] <= now - 60.0:
            strikes.popleft()
        if len(strikes) > self.ban_after:
            ban = self.ban_s * 2 ** self._bans[client]
            self._bans[client] += 1
            self._banned_until[client] = now + ban
            strikes.clear()
            return self._banned(ban), win.used(now)
        wait = win.delay(now, w) if w <= self.limit else 60.0
        resp = Response(429, orjson.dumps({"code": -1003, "msg": "Too many requests; current limit "
                                           f"is {self.limit} request weight per 1 MINUTE."}))
        resp.headers.append(("Retry-After", str(int(wait) + 1)))
        return resp, win.used(now)

    @staticmethod
    def _banned(seconds: float) -> Response:
        secs = math.ceil(seconds)
        return Response(418, orjson.dumps({"code": -1003, "msg": "Way too many requests; IP banned for "
                                           f"{secs} seconds. Please use the websocket for live updates "
                                           "to avoid bans."}), [("Retry-After", str(secs))])

    def stats(self) -> dict:
        """``{address: {"weight_per_minute": {minute: weight}, "refused_per_minute": {...}}}``,
        minutes as whole minutes of the clock (strings, for JSON)."""
        return {c: {"weight_per_minute": {str(k): v for k, v in sorted(self.accepted[c].items())},
                    "refused_per_minute": {str(k): v for k, v in sorted(self.refused[c].items())}}
                for c in self._windows}


class BinanceRest:
    """Answers USD-M and spot REST paths from a ``BinanceMarket``."""

    def __init__(self, market: BinanceMarket, limits: dict[str, WeightLimits | None],
                 on_activate: Callable[[], None] = lambda: None) -> None:
        self.market = market
        self.limits = limits  # family name -> limits (None: unlimited)
        self.on_activate = on_activate  # a request named a symbol: the feed must look again

    def stats(self) -> dict:
        return {name: lim.stats() for name, lim in self.limits.items() if lim is not None}

    def answer(self, req: Request, now_ms: int) -> Response | None:
        """The response for a Binance path, None for any other path."""
        fam = USDM if req.path.startswith(USDM.prefix) else SPOT if req.path.startswith(SPOT.prefix) else None
        if fam is None:
            return None
        path, q = req.path[len(fam.prefix):], req.query
        try:
            w = weight(fam, path, q)
        except BadRequest as exc:
            status = 404 if exc.code == -1000 else 400
            return Response(status, orjson.dumps({"code": exc.code, "msg": str(exc)}))
        lim = self.limits.get(fam.name)
        headers = []
        if lim is not None:
            refusal, used = lim.admit(req.client, w)
            headers.append(("X-MBX-USED-WEIGHT-1M", str(used)))
            if refusal is not None:
                refusal.headers += headers
                return refusal
        try:
            resp = self._body(fam, path, q, now_ms)
        except BadRequest as exc:
            resp = Response(400, orjson.dumps({"code": exc.code, "msg": str(exc)}))
        resp.headers += headers
        return resp

    def _symbol(self, q: dict[str, str]) -> str:
        symbol = q.get("symbol", "").upper()
        if not symbol:
            raise BadRequest(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if not self.market.activate(symbol):
            raise BadRequest(-1121, "Invalid symbol.")
        self.on_activate()
        return symbol

    def _body(self, fam: Family, path: str, q: dict[str, str], now_ms: int) -> Response:
        m = self.market
        if path == "exchangeInfo":
            return Response(200, m.exchange_info_body(now_ms))
        if path == "time":
            return Response(200, orjson.dumps({"serverTime": now_ms}))
        if path == "ping":
            return Response(200, b"{}")
        if path == "ticker/24hr":
            if q.get("symbol"):
                return Response(200, orjson.dumps(m.ticker_24h(self._symbol(q), spot=fam is SPOT)))
            return Response(200, orjson.dumps([m.ticker_24h(s, spot=fam is SPOT) for s in m.symbols]))
        symbol = self._symbol(q)
        if path == "depth":
            limit = _int(q, "limit", 500 if fam is USDM else 100)
            body = m.depth_body(symbol, limit, now_ms)  # type: ignore[arg-type]
            if body is None:
                raise BadRequest(-1121, "Invalid symbol.")
            if fam is SPOT:  # spot's depth has no E/T
                obj = orjson.loads(body)
                body = orjson.dumps({"lastUpdateId": obj["lastUpdateId"], "bids": obj["bids"],
                                     "asks": obj["asks"]})
            return Response(200, body)
        if path == "trades":
            return Response(200, orjson.dumps(m.recent_trades(symbol, _int(q, "limit", 500), spot=fam is SPOT)))
        if q.get("interval", "") != "1m":
            raise BadRequest(-1120, "Invalid interval.")
        return Response(200, m.klines_body(symbol, _int(q, "limit", 500), _int(q, "startTime"),  # type: ignore[arg-type]
                                           _int(q, "endTime")))
