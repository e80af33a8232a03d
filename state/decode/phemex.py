"""Phemex contract and spot: book snapshot/incremental, trades, klines, index ticks.

Prices are scaled integers (``priceEp``): 10^4 for contracts, 10^8 for spot
(``s``-prefixed symbols), Phemex's documented scales; sizes are contract counts
(contracts) or scaled base amounts (spot, 10^8). An ``ids_only`` decoder (``state.decode``)
reads book messages through ``BookMsgIds``.

A ``tick`` (``tick.subscribe`` of an index symbol, ``{"tick": {"last", "scale", "symbol",
"timestamp"}}``) is the value of one of Phemex's index series, scaled by the message's own
``scale``: a ``Ticker`` keyed by that series' symbol with ``index`` set. Phemex names the
series of a base currency ``.BTC`` (its index price), ``.MBTC`` (mark price), ``.BTCFR``
and ``.BTCFR8H`` (funding rates); the symbol says which, the decoder does not guess (a base
currency may itself start with M), so every tick's value is its ``index``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from recorder.journal.record import Record
from state.events import BookDelta, BookSnapshot, Event, Kline, Ticker, Trade

from .common import NO_RAW, Decoder, scaled

Lv = tuple[tuple[int, int], ...]
MAX_SCALE = 18  # a tick's scale past this is no price (the core reads the same bound)


class Book(msgspec.Struct, frozen=True, gc=False):
    asks: Lv  # [priceEp, size]; size 0 removes
    bids: Lv


class BookMsg(msgspec.Struct, frozen=True, gc=False):
    book: Book
    depth: int
    sequence: int
    symbol: str
    timestamp: int  # ns
    type: str  # snapshot | incremental


NO_BOOK = Book(asks=(), bids=())


class BookMsgIds(msgspec.Struct, frozen=True, gc=False):
    """A ``BookMsg`` read for its sequence (``ids_only``): ``book`` empty."""

    book_raw: msgspec.Raw = msgspec.field(name="book")  # skipped
    depth: int
    sequence: int
    symbol: str
    timestamp: int  # ns
    type: str  # snapshot | incremental
    book = NO_BOOK  # not a field: the levels an ids-only event carries


class TradeMsg(msgspec.Struct, frozen=True, gc=False):
    sequence: int
    symbol: str
    trades: tuple[tuple[int, str, int, int], ...]  # [ts ns, side, priceEp, qty]
    type: str


class TradePMsg(msgspec.Struct, frozen=True, gc=False):
    """USDT-M perpetual ("_p" API): real-value strings, not scaled integers."""

    sequence: int
    symbol: str
    trades_p: tuple[tuple[int, str, str, str], ...]  # [ts ns, side, price, qty]
    type: str


class KlineMsg(msgspec.Struct, frozen=True, gc=False):
    kline: tuple[tuple[int, ...], ...]  # [ts s, interval s, lastCloseEp, openEp, highEp, lowEp, closeEp, volume, turnoverEv]
    sequence: int
    symbol: str
    type: str


class Tick(msgspec.Struct, frozen=True, gc=False):
    last: int  # priceEp: the value x 10^scale
    scale: Annotated[int, msgspec.Meta(ge=0, le=MAX_SCALE)]  # documented 4, 6 or 8
    symbol: str  # index symbol: .BTC, .MBTC, .BTCFR8H
    timestamp: int  # ns


class TickMsg(msgspec.Struct, frozen=True, gc=False):
    tick: Tick


class Head(msgspec.Struct, frozen=True, gc=False):
    book: msgspec.Raw = NO_RAW
    trades: msgspec.Raw = NO_RAW
    trades_p: msgspec.Raw = NO_RAW
    kline: msgspec.Raw = NO_RAW
    tick: msgspec.Raw = NO_RAW
    id: int | None = None  # JSON-RPC replies
    result: msgspec.Raw = NO_RAW
    error: msgspec.Raw = NO_RAW


_head = msgspec.json.Decoder(Head)
_book = msgspec.json.Decoder(BookMsg)
_book_ids = msgspec.json.Decoder(BookMsgIds)
_trade = msgspec.json.Decoder(TradeMsg)
_trade_p = msgspec.json.Decoder(TradePMsg)
_kline = msgspec.json.Decoder(KlineMsg)
_tick = msgspec.json.Decoder(TickMsg)


def scales(symbol: str) -> tuple[int, int]:
    """(price scale, size scale) of a symbol."""
    return (8, 8) if symbol.startswith("s") else (4, 0)


class PhemexDecoder(Decoder):
    def __init__(self, info, *, ids_only: bool = False) -> None:
        super().__init__(info, ids_only=ids_only)
        self._book = _book_ids if ids_only else _book

    def frame(self, rec: Record) -> list[Event]:
        p = rec.payload
        h = _head.decode(p)
        venue, ts, seq = self.venue, rec.ts_ns, rec.seq
        if h.book:
            m = self._book.decode(p)
            sym, norm = self.names(m.symbol)
            ps, qs = scales(m.symbol)
            bids = tuple((scaled(a, ps), scaled(b, qs)) for a, b in m.book.bids)
            asks = tuple((scaled(a, ps), scaled(b, qs)) for a, b in m.book.asks)
            if m.type == "snapshot":
                return [BookSnapshot(venue, sym, norm, m.timestamp, ts, seq, bids, asks, m.sequence)]
            return [BookDelta(venue, sym, norm, m.timestamp, ts, seq, bids, asks, None, m.sequence)]
        if h.trades:
            m = _trade.decode(p)
            sym, norm = self.names(m.symbol)
            ps, qs = scales(m.symbol)
            # A snapshot lists the last trades newest first: fold them oldest first.
            rows = reversed(m.trades) if m.type == "snapshot" else m.trades
            return [Trade(venue, sym, norm, t[0], ts, seq, scaled(t[2], ps), scaled(t[3], qs),
                          "buy" if t[1] == "Buy" else "sell", f"{m.sequence}:{i}", None)
                    for i, t in enumerate(rows)]
        if h.trades_p:
            m = _trade_p.decode(p)
            sym, norm = self.names(m.symbol)
            rows = reversed(m.trades_p) if m.type == "snapshot" else m.trades_p
            return [Trade(venue, sym, norm, t[0], ts, seq, t[2], t[3],
                          "buy" if t[1] == "Buy" else "sell", f"{m.sequence}:{i}", None)
                    for i, t in enumerate(rows)]
        if h.kline:
            m = _kline.decode(p)
            sym, norm = self.names(m.symbol)
            ps, qs = scales(m.symbol)
            return [Kline(venue, sym, norm, k[0] * 1_000_000_000, ts, seq, f"{k[1]}s",
                          k[0] * 1_000_000_000, scaled(k[3], ps), scaled(k[4], ps),
                          scaled(k[5], ps), scaled(k[6], ps), scaled(k[7], qs), None, None)
                    for k in sorted(m.kline)]
        if h.tick:
            t = _tick.decode(p).tick
            sym, norm = self.names(t.symbol)
            return [Ticker(venue, sym, norm, t.timestamp, ts, seq, index=scaled(t.last, t.scale))]
        if h.id is not None or h.result or h.error:
            return []  # subscribe / ping replies
        raise ValueError("unknown Phemex message")
