"""Bybit v5 public streams: orderbook snapshot/delta, publicTrade, tickers, kline.

The market (spot, linear, inverse, option) comes from the stream's URL or market
hint; derivative symbols are keyed ``linear:BTCUSDT`` (see ``state.symbols``).
A book message with ``u == 1`` is a snapshot after a service restart, whatever its type.
An ``ids_only`` decoder (``state.decode``) reads book messages through ``BookMsgIds``.
"""

from __future__ import annotations

import msgspec

from recorder.journal.record import Record
from state.events import BookDelta, BookSnapshot, Event, Kline, Ticker, Trade

from .common import MS, Decoder, json_any, query

Lv = tuple[tuple[str, str], ...]


class BookData(msgspec.Struct, frozen=True, gc=False):
    s: str  # symbol
    b: Lv  # bids [price, size]; size "0" removes
    a: Lv  # asks
    u: int  # update id
    seq: int = 0  # cross sequence


class BookMsg(msgspec.Struct, frozen=True, gc=False):
    topic: str  # orderbook.{depth}.{symbol}
    type: str  # snapshot | delta
    ts: int  # ms, system time of the push
    data: BookData
    cts: int = 0  # matching-engine time


class BookDataIds(msgspec.Struct, frozen=True, gc=False):
    """A ``BookData`` read for its ids (``ids_only``): ``b``/``a`` empty."""

    s: str  # symbol
    b_raw: msgspec.Raw = msgspec.field(name="b")  # skipped
    a_raw: msgspec.Raw = msgspec.field(name="a")  # skipped
    u: int  # update id
    seq: int = 0  # cross sequence
    b = ()  # not fields: the levels an ids-only event carries
    a = ()


class BookMsgIds(msgspec.Struct, frozen=True, gc=False):
    topic: str  # orderbook.{depth}.{symbol}
    type: str  # snapshot | delta
    ts: int  # ms, system time of the push
    data: BookDataIds
    cts: int = 0  # matching-engine time


class TradeData(msgspec.Struct, frozen=True, gc=False):
    T: int  # trade time, ms
    s: str  # symbol
    S: str  # taker side: Buy | Sell
    v: str  # size
    p: str  # price
    i: str  # trade id (UUID on derivatives, numeric string on spot)
    seq: int = 0  # cross sequence, shared by trades of one match


class TradeMsg(msgspec.Struct, frozen=True, gc=False):
    topic: str
    ts: int
    data: list[TradeData]


class TickerData(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    lastPrice: str | None = None
    bid1Price: str | None = None
    ask1Price: str | None = None
    prevPrice24h: str | None = None
    highPrice24h: str | None = None
    lowPrice24h: str | None = None
    volume24h: str | None = None
    turnover24h: str | None = None
    markPrice: str | None = None
    indexPrice: str | None = None
    fundingRate: str | None = None


class TickerMsg(msgspec.Struct, frozen=True, gc=False):
    topic: str
    ts: int
    data: TickerData  # linear/inverse deltas carry only what changed


class KlineData(msgspec.Struct, frozen=True, gc=False):
    start: int  # ms
    interval: str
    open: str
    close: str
    high: str
    low: str
    volume: str
    turnover: str
    confirm: bool  # closed
    timestamp: int = 0


class KlineMsg(msgspec.Struct, frozen=True, gc=False):
    topic: str  # kline.{interval}.{symbol}
    ts: int
    data: list[KlineData]


class Topic(msgspec.Struct, frozen=True, gc=False):
    topic: str | None = None
    op: str | None = None  # subscribe / ping acks have op and no topic


_topic = msgspec.json.Decoder(Topic)
_book = msgspec.json.Decoder(BookMsg)
_book_ids = msgspec.json.Decoder(BookMsgIds)
_trade = msgspec.json.Decoder(TradeMsg)
_ticker = msgspec.json.Decoder(TickerMsg)
_kline = msgspec.json.Decoder(KlineMsg)

MARKETS = ("spot", "linear", "inverse", "option", "spread")


def market_of(market: str, url: str) -> str:
    if market in MARKETS:
        return market
    tail = query(url)[0].rstrip("/").rsplit("/", 1)[-1] if url else ""
    return tail if tail in MARKETS else market


class BybitDecoder(Decoder):
    def __init__(self, info, *, ids_only: bool = False) -> None:
        super().__init__(info, ids_only=ids_only)
        self.market = market_of(info.market, info.url)
        self._book = _book_ids if ids_only else _book

    def frame(self, rec: Record) -> list[Event]:
        p = rec.payload
        head = _topic.decode(p)
        topic = head.topic
        if topic is None:
            if head.op is not None or json_any.decode(p).get("success") is not None:
                return []  # subscribe ack, pong
            raise ValueError("no topic")
        venue, ts, seq = self.venue, rec.ts_ns, rec.seq
        if topic.startswith("orderbook."):
            m = self._book.decode(p)
            d = m.data
            sym, norm = self.names(d.s)
            exch = (m.cts or m.ts) * MS
            if m.type == "snapshot" or d.u == 1:
                return [BookSnapshot(venue, sym, norm, exch, ts, seq, d.b, d.a, d.u)]
            return [BookDelta(venue, sym, norm, exch, ts, seq, d.b, d.a, d.u, d.u, None)]
        if topic.startswith("publicTrade."):
            m = _trade.decode(p)
            out: list[Event] = []
            for t in m.data:
                sym, norm = self.names(t.s)
                tid = t.i
                out.append(Trade(venue, sym, norm, t.T * MS, ts, seq, t.p, t.v,
                                 "buy" if t.S == "Buy" else "sell", tid,
                                 int(tid) if tid.isdigit() else None))
            return out
        if topic.startswith("tickers."):
            m = _ticker.decode(p)
            d = m.data
            sym, norm = self.names(d.symbol)
            return [Ticker(venue, sym, norm, m.ts * MS, ts, seq, last=d.lastPrice, bid=d.bid1Price,
                           ask=d.ask1Price, open=d.prevPrice24h, high=d.highPrice24h,
                           low=d.lowPrice24h, volume=d.volume24h, quote_volume=d.turnover24h,
                           mark=d.markPrice, index=d.indexPrice, funding_rate=d.fundingRate)]
        if topic.startswith("kline."):
            m = _kline.decode(p)
            sym, norm = self.names(topic.rsplit(".", 1)[1])
            return [Kline(venue, sym, norm, (k.timestamp or m.ts) * MS, ts, seq, k.interval,
                          k.start * MS, k.open, k.high, k.low, k.close, k.volume, k.turnover,
                          k.confirm) for k in m.data]
        return []  # allLiquidation, orderbook.full ... not projected
