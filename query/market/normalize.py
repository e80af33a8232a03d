"""Every source's shape to ``query.market.types``: Upbit and Binance (USD-M, spot) REST
bodies and WebSocket frames, and the projection's ``MarketState``.

Pure functions: no I/O, no clock. The caller passes ``recv_ns`` (when the body or frame
arrived), ``now_ns`` (when it answers, for ``age_ms`` and a candle's ``closed``) and
``source``. Bodies are parsed with ``parse`` (numbers to exact ``Decimal``: Upbit sends
unquoted numbers, sometimes in exponent form). Anything missing or malformed raises
``BadResponseError`` naming the shape and the field; the caller journals the body and
treats it as a venue fault, never retries it as is.

Venues: ``upbit``, ``binance-usdm``, ``binance-spot`` (``state.symbols``' names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from state.decode.upbit import utc_ns
from state.symbols import normalize as norm_name
from state.symbols import symbol_key

from .errors import BadResponseError
from .types import Candle, Level, OrderBook, Ticker, Trade, age_ms

MS = 1_000_000
BINANCE = ("binance-usdm", "binance-spot")
# Binance interval -> its length in ms ("1M" varies: closed is then judged by the close time).
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

_parser = msgspec.json.Decoder(float_hook=Decimal)


def parse(body: bytes | str, what: str) -> Any:
    """A JSON body with exact numbers; ``BadResponseError`` when it is not JSON (Upbit's 429
    body is plain text, for one)."""
    try:
        return _parser.decode(body)
    except msgspec.DecodeError as e:
        raise BadResponseError(what, "", f"not JSON ({e}): {bytes(body[:80])!r}"
                               if isinstance(body, bytes) else f"not JSON ({e})") from None


# -- field readers: each names what was wrong ---------------------------------------

def _get(obj: Any, key: str | int, what: str) -> Any:
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError):
        raise BadResponseError(what, str(key), "missing") from None


def _dec(v: Any, key: str | int, what: str) -> Decimal:
    # bool is an int: a true/false where a price belongs is a bad shape, not 1/0.
    if isinstance(v, bool) or not isinstance(v, (Decimal, int, str, float)):
        raise BadResponseError(what, str(key), f"not a number: {v!r}")
    try:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    except InvalidOperation:
        raise BadResponseError(what, str(key), f"not a number: {v!r}") from None
    if not d.is_finite():
        raise BadResponseError(what, str(key), f"not finite: {v!r}")
    return d


def _num(obj: Any, key: str | int, what: str) -> Decimal:
    return _dec(_get(obj, key, what), key, what)


def _opt(obj: Any, key: str, what: str) -> Decimal | None:
    v = obj.get(key) if isinstance(obj, dict) else None
    return None if v is None else _dec(v, key, what)


def _int(obj: Any, key: str | int, what: str) -> int:
    v = _get(obj, key, what)
    if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
        raise BadResponseError(what, str(key), f"not an integer: {v!r}")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise BadResponseError(what, str(key), f"not an integer: {v!r}") from None
    if d != d.to_integral_value():
        raise BadResponseError(what, str(key), f"not an integer: {v!r}")
    return int(d)


def _str(obj: Any, key: str, what: str) -> str:
    v = _get(obj, key, what)
    if not isinstance(v, str) or not v:
        raise BadResponseError(what, key, f"not a name: {v!r}")
    return v


def _obj(v: Any, what: str) -> dict:
    if not isinstance(v, dict):
        raise BadResponseError(what, "", f"not an object: {type(v).__name__}")
    return v


def _list(v: Any, what: str, key: str = "") -> list:
    if not isinstance(v, list):
        raise BadResponseError(what, key, f"not a list: {type(v).__name__}")
    return v


def _unwrap(frame: Any, what: str) -> dict:
    """A Binance combined-stream frame's ``data`` (a bare frame as is)."""
    frame = _obj(frame, what)
    if "stream" in frame and "data" in frame:
        return _obj(frame["data"], what)
    return frame


def _names(venue: str, native: str) -> tuple[str, str]:
    key = symbol_key(venue, "", native)
    return key, norm_name(venue, key)


def _levels(rows: Any, what: str, key: str) -> tuple[Level, ...]:
    out = []
    for i, row in enumerate(_list(rows, what, key)):
        if not isinstance(row, list) or len(row) < 2:
            raise BadResponseError(what, f"{key}[{i}]", f"not a [price, size] pair: {row!r}")
        out.append((_dec(row[0], f"{key}[{i}]", what), _dec(row[1], f"{key}[{i}]", what)))
    return tuple(out)


def _book(venue: str, native: str, bids: tuple[Level, ...], asks: tuple[Level, ...],
          update_id: int, exch_ns: int, recv_ns: int, now_ns: int, source: str) -> OrderBook:
    # Best first whatever order the source listed them in (a projection's top levels are,
    # a venue's are too; sorting costs little and makes that a checked fact).
    bids = tuple(sorted(bids, key=lambda lv: lv[0], reverse=True))
    asks = tuple(sorted(asks, key=lambda lv: lv[0]))
    spread = pct = None
    if bids and asks:
        spread = asks[0][0] - bids[0][0]
        mid = (asks[0][0] + bids[0][0]) / 2
        pct = spread / mid * 100 if mid else None
    key, norm = _names(venue, native)
    return OrderBook(
        venue=venue, symbol=key, norm=norm, bids=bids, asks=asks,
        bid_total=sum((s for _, s in bids), Decimal(0)), ask_total=sum((s for _, s in asks), Decimal(0)),
        spread=spread, spread_pct=pct, update_id=update_id, exch_ts_ns=exch_ns, recv_ts_ns=recv_ns,
        source=source, age_ms=age_ms(now_ns, exch_ns, recv_ns))


def _many(rows: Any, what: str, one: Callable[[Any], Any]) -> list:
    return [one(r) for r in _list(rows, what)]


# -- Upbit ----------------------------------------------------------------------------

# SIMPLE key -> DEFAULT key, for the fields read here (PROTOCOLS.md §3.3).
_UPBIT_SIMPLE = {
    "cd": "code", "tp": "trade_price", "hp": "high_price", "lp": "low_price",
    "pcp": "prev_closing_price", "scp": "signed_change_price", "scr": "signed_change_rate",
    "atv24h": "acc_trade_volume_24h", "atp24h": "acc_trade_price_24h", "tms": "timestamp",
    "tas": "total_ask_size", "tbs": "total_bid_size", "obu": "orderbook_units",
    "ap": "ask_price", "bp": "bid_price", "as": "ask_size", "bs": "bid_size",
    "tv": "trade_volume", "ab": "ask_bid", "sid": "sequential_id", "ttms": "trade_timestamp",
    "op": "opening_price", "cdttmu": "candle_date_time_utc", "catv": "candle_acc_trade_volume",
    "catp": "candle_acc_trade_price", "ty": "type",
}


def _upbit_default(obj: Any, what: str) -> dict:
    """An Upbit object with DEFAULT keys and ``code``: REST's ``market``, WebSocket DEFAULT's
    ``code`` and SIMPLE's ``cd`` all become ``code``."""
    obj = _obj(obj, what)
    if "cd" in obj or "ty" in obj:
        obj = {_UPBIT_SIMPLE.get(k, k): v for k, v in obj.items()}
    if "code" not in obj and "market" in obj:
        obj = {**obj, "code": obj["market"]}
    return obj


def upbit_ticker(obj: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> Ticker:
    """One Upbit ticker: a REST ``/v1/ticker`` row or a WebSocket ticker (DEFAULT or SIMPLE)."""
    what = "upbit ticker"
    d = _upbit_default(obj, what)
    key, norm = _names("upbit", _str(d, "code", what))
    exch = _int(d, "timestamp", what) * MS
    return Ticker(
        venue="upbit", symbol=key, norm=norm, last=_num(d, "trade_price", what), bid=None, ask=None,
        high=_opt(d, "high_price", what), low=_opt(d, "low_price", what),
        volume=_opt(d, "acc_trade_volume_24h", what), quote_volume=_opt(d, "acc_trade_price_24h", what),
        prev_close=_opt(d, "prev_closing_price", what), change=_opt(d, "signed_change_price", what),
        change_rate=_opt(d, "signed_change_rate", what), exch_ts_ns=exch, recv_ts_ns=recv_ns,
        source=source, age_ms=age_ms(now_ns, exch, recv_ns))


def upbit_tickers(body: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> list[Ticker]:
    """A REST ``/v1/ticker`` answer (a list, one row per market)."""
    return _many(body, "upbit ticker", lambda r: upbit_ticker(r, recv_ns=recv_ns, now_ns=now_ns,
                                                              source=source))


def upbit_orderbook(obj: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> OrderBook:
    """One Upbit order book: a REST ``/v1/orderbook`` row or a WebSocket frame."""
    what = "upbit orderbook"
    d = _upbit_default(obj, what)
    native = _str(d, "code", what)
    bids, asks = [], []
    for i, u in enumerate(_list(_get(d, "orderbook_units", what), what, "orderbook_units")):
        u = {_UPBIT_SIMPLE.get(k, k): v for k, v in _obj(u, what).items()}  # SIMPLE units: ap bp as bs
        f = f"orderbook_units[{i}]"
        bids.append((_dec(_get(u, "bid_price", what), f, what), _dec(_get(u, "bid_size", what), f, what)))
        asks.append((_dec(_get(u, "ask_price", what), f, what), _dec(_get(u, "ask_size", what), f, what)))
    # A unit with size 0 is a missing level on a thin market, not a level.
    bids = [lv for lv in bids if lv[1] > 0]
    asks = [lv for lv in asks if lv[1] > 0]
    return _book("upbit", native, tuple(bids), tuple(asks), 0, _int(d, "timestamp", what) * MS,
                 recv_ns, now_ns, source)


def upbit_orderbooks(body: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> list[OrderBook]:
    """A REST ``/v1/orderbook`` answer (a list, one row per market)."""
    return _many(body, "upbit orderbook", lambda r: upbit_orderbook(r, recv_ns=recv_ns, now_ns=now_ns,
                                                                    source=source))


def upbit_trade(obj: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> Trade:
    """One Upbit trade: a REST ``/v1/trades/ticks`` row or a WebSocket trade."""
    what = "upbit trade"
    d = _upbit_default(obj, what)
    key, norm = _names("upbit", _str(d, "code", what))
    ab = _get(d, "ask_bid", what)
    if ab not in ("ASK", "BID"):
        raise BadResponseError(what, "ask_bid", f"not ASK or BID: {ab!r}")
    # WebSocket trades send the trade time as trade_timestamp; REST ticks only as timestamp.
    exch = _int(d, "trade_timestamp" if "trade_timestamp" in d else "timestamp", what) * MS
    return Trade(
        venue="upbit", symbol=key, norm=norm, price=_num(d, "trade_price", what),
        size=_num(d, "trade_volume", what), side="sell" if ab == "ASK" else "buy",  # ASK: taker sold
        trade_id=str(_int(d, "sequential_id", what)), exch_ts_ns=exch, recv_ts_ns=recv_ns,
        source=source, age_ms=age_ms(now_ns, exch, recv_ns))


def upbit_trades(body: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> list[Trade]:
    """A REST ``/v1/trades/ticks`` answer, as sent (newest first)."""
    return _many(body, "upbit trade", lambda r: upbit_trade(r, recv_ns=recv_ns, now_ns=now_ns,
                                                            source=source))


def _upbit_utc(s: Any, what: str, key: str) -> int:
    if not isinstance(s, str):
        raise BadResponseError(what, key, f"not a time: {s!r}")
    try:
        return utc_ns(s)
    except ValueError:
        raise BadResponseError(what, key, f"not a time: {s!r}") from None


def upbit_interval(obj: dict) -> str | None:
    """The interval an Upbit candle names: ``unit`` minutes (REST) or ``candle.1m`` (WebSocket)."""
    if "unit" in obj:
        return f"{obj['unit']}m"
    ty = obj.get("type") or obj.get("ty")
    if isinstance(ty, str) and ty.startswith("candle."):
        return ty.removeprefix("candle.")
    return None


def interval_ms(interval: str) -> int | None:
    """``1m`` -> 60000; None for a month (its length varies) or a name we do not know."""
    n, unit = interval[:-1], interval[-1:]
    if not n.isdigit() or unit not in _UNIT_MS:
        return None
    return int(n) * _UNIT_MS[unit]


def upbit_candle(obj: Any, *, recv_ns: int, now_ns: int, source: str = "rest",
                 interval: str | None = None) -> Candle:
    """One Upbit candle: a REST ``/v1/candles/*`` row or a WebSocket candle.

    ``candle_date_time_utc`` is the open, ``timestamp`` the last tick. Pass ``interval`` for
    day/week/month candles (their rows carry no ``unit``)."""
    what = "upbit candle"
    d = _upbit_default(obj, what)
    key, norm = _names("upbit", _str(d, "code", what))
    iv = interval or upbit_interval(d)
    if iv is None:
        raise BadResponseError(what, "unit", "missing (pass interval= for day candles)")
    open_ns = _upbit_utc(_get(d, "candle_date_time_utc", what), what, "candle_date_time_utc")
    exch = _int(d, "timestamp", what) * MS
    return Candle(
        venue="upbit", symbol=key, norm=norm, interval=iv, open_time_ns=open_ns,
        open=_num(d, "opening_price", what), high=_num(d, "high_price", what),
        low=_num(d, "low_price", what), close=_num(d, "trade_price", what),
        volume=_num(d, "candle_acc_trade_volume", what), quote_volume=_num(d, "candle_acc_trade_price", what),
        closed=_closed(open_ns, iv, None, now_ns), exch_ts_ns=exch, recv_ts_ns=recv_ns,
        source=source, age_ms=age_ms(now_ns, exch, recv_ns))


def upbit_candles(body: Any, *, recv_ns: int, now_ns: int, source: str = "rest",
                  interval: str | None = None) -> list[Candle]:
    """A REST candles answer, ascending by open time (Upbit sends newest first)."""
    out = _many(body, "upbit candle", lambda r: upbit_candle(r, recv_ns=recv_ns, now_ns=now_ns,
                                                             source=source, interval=interval))
    return sorted(out, key=lambda c: c.open_time_ns)


def _closed(open_ns: int, interval: str, close_ms: int | None, now_ns: int) -> bool:
    span = interval_ms(interval)
    if span is not None:
        return now_ns >= open_ns + span * MS
    return close_ms is not None and now_ns > close_ms * MS


# -- Binance ----------------------------------------------------------------------------

def _binance(venue: str) -> None:
    if venue not in BINANCE:
        raise ValueError(f"not a Binance venue: {venue!r} (one of {', '.join(BINANCE)})")


def binance_ticker(venue: str, obj: Any, *, recv_ns: int, now_ns: int, source: str = "rest") -> Ticker:
    """A REST ``ticker/24hr`` object or a WebSocket ``24hrTicker`` (bare or combined)."""
    _binance(venue)
    what = f"{venue} ticker"
    d = _unwrap(obj, what)
    if "e" in d:  # the stream's one-letter keys, to REST's names
        d = {"symbol": d.get("s"), "lastPrice": d.get("c"), "bidPrice": d.get("b"),
             "askPrice": d.get("a"), "highPrice": d.get("h"), "lowPrice": d.get("l"),
             "volume": d.get("v"), "quoteVolume": d.get("q"), "openPrice": d.get("o"),
             "prevClosePrice": d.get("x"), "priceChange": d.get("p"),
             "priceChangePercent": d.get("P"), "closeTime": d.get("C")}
    key, norm = _names(venue, _str(d, "symbol", what))
    pct = _opt(d, "priceChangePercent", what)
    # The change is against the price 24 h ago: spot also sends it as prevClosePrice, USD-M
    # only as openPrice (the same number).
    prev = _opt(d, "prevClosePrice", what)
    if prev is None:
        prev = _opt(d, "openPrice", what)
    exch = _int(d, "closeTime", what) * MS
    return Ticker(
        venue=venue, symbol=key, norm=norm, last=_num(d, "lastPrice", what),
        bid=_opt(d, "bidPrice", what), ask=_opt(d, "askPrice", what),
        high=_opt(d, "highPrice", what), low=_opt(d, "lowPrice", what), volume=_opt(d, "volume", what),
        quote_volume=_opt(d, "quoteVolume", what), prev_close=prev, change=_opt(d, "priceChange", what),
        change_rate=None if pct is None else pct / 100, exch_ts_ns=exch, recv_ts_ns=recv_ns,
        source=source, age_ms=age_ms(now_ns, exch, recv_ns))


def binance_depth(venue: str, symbol: str, obj: Any, *, recv_ns: int, now_ns: int,
                  source: str = "rest") -> OrderBook:
    """A REST ``depth`` answer or a partial-depth frame (``@depth<N>``), ``symbol`` native.

    Spot's partial-depth frames and REST answers name no symbol, hence the argument. A
    diff-depth frame is no book: fold it into one (``state/``) and use ``from_market_state``.
    """
    _binance(venue)
    what = f"{venue} depth"
    d = _unwrap(obj, what)
    if "lastUpdateId" in d:
        bids, asks = _levels(_get(d, "bids", what), what, "bids"), _levels(_get(d, "asks", what), what, "asks")
        uid = _int(d, "lastUpdateId", what)
    else:
        bids, asks = _levels(_get(d, "b", what), what, "b"), _levels(_get(d, "a", what), what, "a")
        uid = _int(d, "u", what)
    exch = _int(d, "T", what) * MS if "T" in d else 0
    return _book(venue, symbol, bids, asks, uid, exch, recv_ns, now_ns, source)


def binance_trade(venue: str, symbol: str, obj: Any, *, recv_ns: int, now_ns: int,
                  source: str = "rest") -> Trade:
    """A REST ``trades`` or ``aggTrades`` row, or a WebSocket ``trade``/``aggTrade`` frame."""
    _binance(venue)
    what = f"{venue} trade"
    d = _unwrap(obj, what)
    if "e" in d:  # stream: p q T m, id in t (trade) or a (aggTrade)
        price, size, ts, maker = _num(d, "p", what), _num(d, "q", what), _int(d, "T", what), _get(d, "m", what)
        tid = _int(d, "a" if d["e"] == "aggTrade" else "t", what)
        symbol = _str(d, "s", what)
    elif "a" in d:  # REST aggTrades: a p q f l T m
        price, size, ts, maker = _num(d, "p", what), _num(d, "q", what), _int(d, "T", what), _get(d, "m", what)
        tid = _int(d, "a", what)
    else:  # REST trades: id price qty time isBuyerMaker
        price, size, ts = _num(d, "price", what), _num(d, "qty", what), _int(d, "time", what)
        maker, tid = _get(d, "isBuyerMaker", what), _int(d, "id", what)
    if not isinstance(maker, bool):
        raise BadResponseError(what, "m", f"not a boolean: {maker!r}")
    key, norm = _names(venue, symbol)
    return Trade(venue=venue, symbol=key, norm=norm, price=price, size=size,
                 side="sell" if maker else "buy",  # the buyer made the book: the taker sold
                 trade_id=str(tid), exch_ts_ns=ts * MS, recv_ts_ns=recv_ns, source=source,
                 age_ms=age_ms(now_ns, ts * MS, recv_ns))


def binance_trades(venue: str, symbol: str, body: Any, *, recv_ns: int, now_ns: int,
                   source: str = "rest") -> list[Trade]:
    """A REST ``trades``/``aggTrades`` answer, as sent (oldest first)."""
    return _many(body, f"{venue} trade", lambda r: binance_trade(venue, symbol, r, recv_ns=recv_ns,
                                                                 now_ns=now_ns, source=source))


def binance_kline(venue: str, symbol: str, interval: str, obj: Any, *, recv_ns: int, now_ns: int,
                  source: str = "rest") -> Candle:
    """A REST ``klines`` row (``[openTime, o, h, l, c, v, closeTime, quoteVolume, ...]``) or a
    WebSocket ``kline`` frame (whose own ``s``/``i`` win over the arguments)."""
    _binance(venue)
    what = f"{venue} kline"
    if isinstance(obj, list):
        if len(obj) < 8:
            raise BadResponseError(what, "", f"{len(obj)} fields, want 8 or more")
        t, o, h, lo, c, v, close_ms, q = (obj[0], obj[1], obj[2], obj[3], obj[4], obj[5], obj[6], obj[7])
        open_ms, close_ms = _int(obj, 0, what), _int(obj, 6, what)
        closed = _closed(open_ms * MS, interval, close_ms, now_ns)
        vals = [_dec(x, i, what) for i, x in ((1, o), (2, h), (3, lo), (4, c), (5, v), (7, q))]
        del t
    else:
        k = _obj(_get(_unwrap(obj, what), "k", what), what)
        symbol, interval = _str(k, "s", what), _str(k, "i", what)
        open_ms, close_ms = _int(k, "t", what), _int(k, "T", what)
        x = _get(k, "x", what)
        if not isinstance(x, bool):
            raise BadResponseError(what, "x", f"not a boolean: {x!r}")
        closed = x
        vals = [_num(k, f, what) for f in ("o", "h", "l", "c", "v", "q")]
    key, norm = _names(venue, symbol)
    exch = close_ms * MS
    return Candle(venue=venue, symbol=key, norm=norm, interval=interval, open_time_ns=open_ms * MS,
                  open=vals[0], high=vals[1], low=vals[2], close=vals[3], volume=vals[4],
                  quote_volume=vals[5], closed=closed, exch_ts_ns=exch, recv_ts_ns=recv_ns,
                  source=source, age_ms=age_ms(now_ns, exch, recv_ns))


def binance_klines(venue: str, symbol: str, interval: str, body: Any, *, recv_ns: int, now_ns: int,
                   source: str = "rest") -> list[Candle]:
    """A REST ``klines`` answer (ascending, as sent)."""
    return _many(body, f"{venue} kline", lambda r: binance_kline(
        venue, symbol, interval, r, recv_ns=recv_ns, now_ns=now_ns, source=source))


# -- the projection ---------------------------------------------------------------------

def from_market_state(m: Any, book: Any = None, *, now_ns: int, depth: int = 10,
                      source: str = "memory") -> tuple[Ticker | None, OrderBook | None]:
    """A ``state.market.MarketState`` (and its symbol's ``state.book.Book``, or None) as a
    ``Ticker`` and an ``OrderBook``; either is None when the state has nothing for it (no
    ticker fields and no last trade; no valid book). ``recv_ts_ns`` is the state's receive
    time; the projection keeps no venue time for its ticker, so ``exch_ts_ns`` is the
    ticker's ``ts_ms`` field when it has one, else the receive time."""
    t = m.ticker

    def f(name: str) -> Decimal | None:
        v = t.get(name)
        return None if v in (None, "") else _dec(v, name, "memory ticker")

    last = f("last") if t.get("last") else m.last_price
    ticker = None
    exch = int(t["ts_ms"]) * MS if str(t.get("ts_ms", "")).isdigit() else m.ts_ns
    if last is not None:
        # Binance's 24 h change is against its open 24 h ago; Upbit's day open is no close.
        prev = f("prev_close") or (f("open") if m.venue in BINANCE else None)
        change = f("change")
        if change is None and prev is not None:
            change = last - prev
        rate = f("change_rate")
        if rate is not None and m.venue in BINANCE:
            rate = rate / 100  # the projection keeps Binance's P as sent: per cent
        if rate is None and change is not None and prev:
            rate = change / prev
        ticker = Ticker(
            venue=m.venue, symbol=m.symbol, norm=m.norm, last=last,
            bid=m.best_bid if m.best_bid is not None else f("bid"),
            ask=m.best_ask if m.best_ask is not None else f("ask"),
            high=f("high"), low=f("low"), volume=f("volume"), quote_volume=f("quote_volume"),
            prev_close=prev, change=change, change_rate=rate, exch_ts_ns=exch, recv_ts_ns=m.ts_ns,
            source=source, age_ms=age_ms(now_ns, exch, m.ts_ns))
    ob = None
    if book is not None and book.valid:
        ob = _book_from(m, tuple(book.top_bids(depth)), tuple(book.top_asks(depth)), now_ns, source)
    return ticker, ob


def _book_from(m: Any, bids: Iterable[Level], asks: Iterable[Level], now_ns: int, source: str) -> OrderBook:
    return book_from_levels(m.venue, m.symbol, m.norm, bids, asks, m.ts_ns, now_ns, source)


def book_from_levels(venue: str, symbol: str, norm: str, bids: Iterable[Level], asks: Iterable[Level],
                     recv_ns: int, now_ns: int, source: str) -> OrderBook:
    """An ``OrderBook`` of a projection's top levels (``symbol`` its key, ``recv_ns`` the
    state's receive time; a projection keeps no venue time for its book)."""
    b = _book(venue, symbol, tuple(bids), tuple(asks), 0, 0, recv_ns, now_ns, source)
    # The key is the state's own (prefixed keys stay as they are).
    return msgspec.structs.replace(b, symbol=symbol, norm=norm)
