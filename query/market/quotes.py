"""Tickers, order books and trades over REST, per venue: which path, which parameters, which
normalizer. Every call goes through ``RestClient.get`` (limiter, breaker, journal).

Upbit answers many markets in one ticker or order-book request (``markets=A,B,...``);
Binance USD-M answers one symbol or all of them, spot one, a list, or all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import msgspec

from . import normalize as nz
from .errors import BadRequestError, BadResponseError
from .limits import Priority
from .rest import Reply, RestClient
from .types import OrderBook, Ticker, Trade

# Markets per Upbit ticker request. Upbit documents no cap; 200 codes make a URL of about
# 2 KB, well inside what HTTP servers take (8 KB), and every KRW market fits in one call.
UPBIT_MARKETS_PER_CALL = 200
UPBIT_DEFAULT_LEVELS = 15  # levels an Upbit orderbook answer holds unless count= asks more
UPBIT_MAX_LEVELS = 30
MAX_DEPTH = 1000
MAX_TRADES = 1000
BINANCE_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)
_PATHS = {
    "binance-usdm": {"ticker": "/fapi/v1/ticker/24hr", "depth": "/fapi/v1/depth",
                     "trades": "/fapi/v1/trades"},
    "binance-spot": {"ticker": "/api/v3/ticker/24hr", "depth": "/api/v3/depth",
                     "trades": "/api/v3/trades"},
}


def check_range(name: str, value: object, high: int) -> int:
    """``value`` as an int in 1..``high``, else ``BadRequestError`` saying the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise BadRequestError(f"{name} must be an integer from 1 to {high}, not {value!r}")
    return value


def _body(reply: Reply, what: str) -> object:
    return nz.parse(reply.body, what)


def _missing(venue: str, what: str, asked: Sequence[str], got: Sequence[str]) -> None:
    """Every asked symbol (already resolved against the venue's list) has a row."""
    have = set(got)
    lost = [s for s in asked if s not in have]
    if lost:
        raise BadResponseError(f"{venue} {what}", "", f"no row for {', '.join(lost[:5])}"
                               + (f" and {len(lost) - 5} more" if len(lost) > 5 else ""))


async def tickers(rest: RestClient, venue: str, keys: Sequence[str], *, now: Callable[[], int],
                  priority: Priority, all_listed: bool = False) -> list[Ticker]:
    """One ticker per key, in the order asked. ``all_listed``: ``keys`` is the venue's whole
    list, so Binance is asked once for every symbol."""
    if venue == "upbit":
        out: list[Ticker] = []
        for i in range(0, len(keys), UPBIT_MARKETS_PER_CALL):
            part = keys[i:i + UPBIT_MARKETS_PER_CALL]
            r = await rest.get(venue, "/v1/ticker", {"markets": ",".join(part)}, priority=priority)
            out += nz.upbit_tickers(_body(r, "upbit ticker"), recv_ns=r.recv_ns, now_ns=now())
        by = {t.symbol: t for t in out}
        _missing(venue, "ticker", keys, list(by))
        return [by[k] for k in keys]
    path = _PATHS[venue]["ticker"]
    if len(keys) == 1 and not all_listed:
        r = await rest.get(venue, path, {"symbol": keys[0]}, priority=priority)
        return [nz.binance_ticker(venue, _body(r, f"{venue} ticker"), recv_ns=r.recv_ns, now_ns=now())]
    if venue == "binance-spot" and not all_listed and len(keys) <= 100:
        params = {"symbols": json.dumps(list(keys), separators=(",", ":"))}
    else:
        params = {}
    r = await rest.get(venue, path, params, priority=priority)
    body = _body(r, f"{venue} ticker")
    if not isinstance(body, list):
        raise BadResponseError(f"{venue} ticker", "", "not a list")
    t_now = now()
    by = {}
    for row in body:
        t = nz.binance_ticker(venue, row, recv_ns=r.recv_ns, now_ns=t_now)
        by[t.symbol] = t
    _missing(venue, "ticker", keys, list(by))
    return [by[k] for k in keys]


def binance_depth_limit(depth: int) -> int:
    """The smallest depth Binance serves that holds ``depth`` levels."""
    return next(d for d in BINANCE_DEPTHS if d >= depth)


async def orderbook(rest: RestClient, venue: str, key: str, depth: int, *, now: Callable[[], int],
                    priority: Priority) -> OrderBook:
    """The top ``depth`` levels of ``key``'s book."""
    if venue == "upbit":
        params: dict[str, object] = {"markets": key}
        if depth > UPBIT_DEFAULT_LEVELS:
            params["count"] = min(depth, UPBIT_MAX_LEVELS)
        r = await rest.get(venue, "/v1/orderbook", params, priority=priority)
        books = nz.upbit_orderbooks(_body(r, "upbit orderbook"), recv_ns=r.recv_ns, now_ns=now())
        _missing(venue, "orderbook", [key], [b.symbol for b in books])
        book = books[0]
    else:
        r = await rest.get(venue, _PATHS[venue]["depth"],
                           {"symbol": key, "limit": binance_depth_limit(depth)}, priority=priority)
        book = nz.binance_depth(venue, key, _body(r, f"{venue} depth"), recv_ns=r.recv_ns, now_ns=now())
    return trim(book, depth)


def trim(book: OrderBook, depth: int) -> OrderBook:
    """``book`` cut to its top ``depth`` levels (totals and spread recomputed)."""
    if len(book.bids) <= depth and len(book.asks) <= depth:
        return book
    bids, asks = book.bids[:depth], book.asks[:depth]
    return msgspec.structs.replace(book, bids=bids, asks=asks,
                                   bid_total=sum((s for _, s in bids), book.bid_total * 0),
                                   ask_total=sum((s for _, s in asks), book.ask_total * 0))


async def trades(rest: RestClient, venue: str, key: str, limit: int, *, now: Callable[[], int],
                 priority: Priority) -> list[Trade]:
    """The last ``limit`` trades of ``key``, oldest first."""
    if venue == "upbit":
        out: list[Trade] = []
        cursor: str | None = None
        while len(out) < limit:  # Upbit pages ticks 500 at a time, newest first
            params: dict[str, object] = {"market": key, "count": min(500, limit - len(out))}
            if cursor is not None:
                params["cursor"] = cursor
            r = await rest.get(venue, "/v1/trades/ticks", params, priority=priority)
            page = nz.upbit_trades(_body(r, "upbit trade"), recv_ns=r.recv_ns, now_ns=now())
            out += page
            if len(page) < params["count"]:  # type: ignore[operator]
                break
            cursor = page[-1].trade_id
        seen: set[str] = set()
        uniq = [t for t in out if not (t.trade_id in seen or seen.add(t.trade_id))]
        return sorted(uniq, key=lambda t: (t.exch_ts_ns, int(t.trade_id)))[-limit:]
    r = await rest.get(venue, _PATHS[venue]["trades"], {"symbol": key, "limit": limit}, priority=priority)
    return nz.binance_trades(venue, key, _body(r, f"{venue} trade"), recv_ns=r.recv_ns, now_ns=now())
