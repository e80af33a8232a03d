"""What the market-data API answers: ``Ticker``, ``OrderBook``, ``Trade``, ``Candle``.

One shape whatever the venue or the source (memory, journal, archive, REST): the
normalizers in ``query.market.normalize`` build them, callers only read them. All are
frozen; prices and sizes are exact ``Decimal``; times are epoch ns. Every value carries:

- ``venue`` (``upbit``, ``binance-usdm``, ``binance-spot``), ``symbol`` (the venue's symbol
  key, ``state.symbols.symbol_key``) and ``norm`` (``state.symbols.normalize``);
- ``exch_ts_ns`` (the venue's time of the data; what it means per kind is on each class)
  and ``recv_ts_ns`` (when we received it);
- ``source`` and ``age_ms``: how old the data was when answered, ``now - exch_ts_ns``
  (``now - recv_ts_ns`` when the venue sent no time), never below 0.

Rates are fractions (0.0125 is 1.25 %), whatever the venue sends (Binance sends per cent).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Source = Literal["memory", "journal", "archive", "rest"]
SOURCES: tuple[str, ...] = ("memory", "journal", "archive", "rest")

Level = tuple[Decimal, Decimal]  # (price, size)


def age_ms(now_ns: int, exch_ts_ns: int, recv_ts_ns: int) -> int:
    """How old data stamped ``exch_ts_ns`` (else ``recv_ts_ns``) is at ``now_ns``, in ms."""
    ts = exch_ts_ns or recv_ts_ns
    return max(0, (now_ns - ts) // 1_000_000)


class Ticker(msgspec.Struct, frozen=True, kw_only=True):
    """The last price and the venue's rolling 24 h statistics of one symbol.

    ``bid``/``ask`` are None where the venue's ticker has none (Upbit's, Binance USD-M's).
    ``change`` is signed, ``last - prev_close`` as the venue computes it (Upbit: against the
    previous day's close at 00:00 KST; Binance: against the price 24 h ago, which is its
    ``prev_close``). ``exch_ts_ns``: Upbit's ``timestamp``, Binance's statistics close time.
    """

    venue: str
    symbol: str
    norm: str
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    high: Decimal | None
    low: Decimal | None
    volume: Decimal | None  # base asset, 24 h
    quote_volume: Decimal | None  # quote asset, 24 h
    prev_close: Decimal | None
    change: Decimal | None
    change_rate: Decimal | None  # a fraction, signed
    exch_ts_ns: int
    recv_ts_ns: int
    source: Source
    age_ms: int


class OrderBook(msgspec.Struct, frozen=True, kw_only=True):
    """The top levels of one book, best first on each side.

    Totals are the sums of the sizes listed here (not of the whole book). ``spread`` is
    ``best ask - best bid``, ``spread_pct`` that over the mid in per cent; all three are None
    when a side is empty. ``update_id`` is Binance's ``lastUpdateId``/``u`` (0 for Upbit).
    ``exch_ts_ns``: Upbit's ``timestamp``, Binance's transaction time (0 when the venue sent
    none: spot REST depth and spot partial-depth frames carry no time).
    """

    venue: str
    symbol: str
    norm: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    bid_total: Decimal
    ask_total: Decimal
    spread: Decimal | None
    spread_pct: Decimal | None
    update_id: int
    exch_ts_ns: int
    recv_ts_ns: int
    source: Source
    age_ms: int


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """One public trade (Binance ``aggTrades``: one aggregate of a taker order's fills).

    ``side`` is the taker's: ``buy`` or ``sell``. ``exch_ts_ns`` is the trade time.
    """

    venue: str
    symbol: str
    norm: str
    price: Decimal
    size: Decimal
    side: str
    trade_id: str
    exch_ts_ns: int
    recv_ts_ns: int
    source: Source
    age_ms: int


class Candle(msgspec.Struct, frozen=True, kw_only=True):
    """One candle of ``interval`` (``1m``, ``1h``, ``1d``... as the API names them).

    ``open_time_ns`` is the start of the period (Upbit's ``candle_date_time_utc``, Binance's
    open time). ``closed`` is true once the period is over. ``fill`` marks a period without
    trades filled in by the API (OHLC = the previous close, volumes 0); a venue never sends
    one. ``exch_ts_ns``: Upbit's last tick (its ``timestamp``), Binance's kline close time
    (Binance sends no last-tick time in REST).
    """

    venue: str
    symbol: str
    norm: str
    interval: str
    open_time_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    closed: bool
    exch_ts_ns: int
    recv_ts_ns: int
    source: Source
    age_ms: int
    fill: bool = False
