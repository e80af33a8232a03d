"""Gate v4 spot and USDT futures: order_book_update (U/u ranges), trades, tickers,
candlesticks, book_ticker; REST order_book snapshots (``with_id=true``).

Futures symbols are keyed ``futures:BTC_USDT`` (spot keeps ``BTC_USDT``); the market
comes from the channel prefix (``spot.`` / ``futures.``) or the REST path. An ``ids_only``
decoder (``state.decode``) reads book updates and snapshots through the ``*Ids`` schemas.
"""

from __future__ import annotations

import msgspec

from recorder.journal.record import Record
from state.events import BookDelta, BookSnapshot, BookTicker, Event, Kline, Ticker, Trade

from .common import MS, NO_RAW, Decoder, query

Lv = tuple[tuple[str, str], ...]


class FLevel(msgspec.Struct, frozen=True, gc=False):
    p: str  # price
    s: int  # size in contracts


class SpotBookUpdate(msgspec.Struct, frozen=True, gc=False):
    t: int  # ms
    s: str  # currency pair
    U: int  # first update id
    u: int  # last update id
    b: Lv = ()  # bids [price, amount]; "0" removes
    a: Lv = ()


class FuturesBookUpdate(msgspec.Struct, frozen=True, gc=False):
    t: int
    s: str  # contract
    U: int
    u: int
    b: list[FLevel] = []
    a: list[FLevel] = []


class BookUpdateIds(msgspec.Struct, frozen=True, gc=False):
    """A spot or futures book update read for its ids (``ids_only``): ``b``/``a`` empty."""

    t: int  # ms
    s: str  # currency pair or contract
    U: int  # first update id
    u: int  # last update id
    b = ()  # not fields: the levels an ids-only event carries (optional on the wire: not read)
    a = ()


class SpotTrade(msgspec.Struct, frozen=True, gc=False):
    id: int
    create_time_ms: str  # "1606292218213.4578"
    side: str  # taker side
    currency_pair: str
    amount: str
    price: str


class FuturesTrade(msgspec.Struct, frozen=True, gc=False):
    id: int
    create_time_ms: int
    contract: str
    size: int  # + taker buy, - taker sell
    price: str


class SpotTicker(msgspec.Struct, frozen=True, gc=False):
    currency_pair: str
    last: str | None = None
    lowest_ask: str | None = None
    highest_bid: str | None = None
    base_volume: str | None = None
    quote_volume: str | None = None
    high_24h: str | None = None
    low_24h: str | None = None


class Candle(msgspec.Struct, frozen=True, gc=False):
    t: str | int  # start, seconds
    o: str
    h: str
    l: str  # noqa: E741 (the venue's name)
    c: str
    v: str | int  # volume
    n: str  # "<interval>_<pair>"
    a: str | None = None  # quote amount (newer frames)
    w: bool | None = None  # window closed (newer frames)


class FBookTicker(msgspec.Struct, frozen=True, gc=False):
    t: int  # ms
    u: int  # the book update id it reflects
    s: str  # contract
    b: str  # best bid
    B: int  # its size in contracts
    a: str  # best ask
    A: int


class SBookTicker(msgspec.Struct, frozen=True, gc=False):
    t: int  # ms
    u: int  # the book update id it reflects
    s: str  # currency pair
    b: str  # best bid
    B: str  # its amount
    a: str  # best ask
    A: str


class Msg(msgspec.Struct, frozen=True, gc=False):
    channel: str = ""
    event: str = ""
    type: str = ""  # {"type": "upgrade", "msg": ...}: the server's reconnect notice
    time: int = 0
    time_ms: int = 0
    result: msgspec.Raw = NO_RAW


class SpotSnapshot(msgspec.Struct, frozen=True, gc=False):
    id: int  # base update id
    bids: Lv
    asks: Lv
    current: int = 0  # ms


class FuturesSnapshot(msgspec.Struct, frozen=True, gc=False):
    id: int
    bids: list[FLevel]
    asks: list[FLevel]
    current: float = 0.0  # seconds


class SpotSnapshotIds(msgspec.Struct, frozen=True, gc=False):
    """A ``SpotSnapshot`` read for its id (``ids_only``): ``bids``/``asks`` empty."""

    id: int  # base update id
    bids_raw: msgspec.Raw = msgspec.field(name="bids")  # skipped
    asks_raw: msgspec.Raw = msgspec.field(name="asks")  # skipped
    current: int = 0  # ms
    bids = ()  # not fields: the levels an ids-only event carries
    asks = ()


class FuturesSnapshotIds(msgspec.Struct, frozen=True, gc=False):
    """A ``FuturesSnapshot`` read for its id (``ids_only``): ``bids``/``asks`` empty."""

    id: int
    bids_raw: msgspec.Raw = msgspec.field(name="bids")  # skipped
    asks_raw: msgspec.Raw = msgspec.field(name="asks")  # skipped
    current: float = 0.0  # seconds
    bids = ()  # not fields: the levels an ids-only event carries
    asks = ()


_msg = msgspec.json.Decoder(Msg)
_d = {
    "spot.order_book_update": msgspec.json.Decoder(SpotBookUpdate),
    "futures.order_book_update": msgspec.json.Decoder(FuturesBookUpdate),
    "spot.trades": msgspec.json.Decoder(SpotTrade),
    "futures.trades": msgspec.json.Decoder(list[FuturesTrade]),
    "spot.tickers": msgspec.json.Decoder(SpotTicker),
    "spot.candlesticks": msgspec.json.Decoder(Candle | list[Candle]),
    "futures.candlesticks": msgspec.json.Decoder(Candle | list[Candle]),
    "spot.book_ticker": msgspec.json.Decoder(SBookTicker),
    "futures.book_ticker": msgspec.json.Decoder(FBookTicker),
}
_spot_snapshot = msgspec.json.Decoder(SpotSnapshot)
_futures_snapshot = msgspec.json.Decoder(FuturesSnapshot)
_ids = msgspec.json.Decoder(BookUpdateIds)
_d_ids = {**_d, "spot.order_book_update": _ids, "futures.order_book_update": _ids}
_spot_snapshot_ids = msgspec.json.Decoder(SpotSnapshotIds)
_futures_snapshot_ids = msgspec.json.Decoder(FuturesSnapshotIds)


def _flv(levels: list[FLevel]) -> tuple[tuple[str, str], ...]:
    return tuple((x.p, str(x.s)) for x in levels)


class GateDecoder(Decoder):
    def __init__(self, info, *, ids_only: bool = False) -> None:
        super().__init__(info, ids_only=ids_only)
        self._channels = _d_ids if ids_only else _d
        self._spot_snapshot = _spot_snapshot_ids if ids_only else _spot_snapshot
        self._futures_snapshot = _futures_snapshot_ids if ids_only else _futures_snapshot

    def frame(self, rec: Record) -> list[Event]:
        m = _msg.decode(rec.payload)
        if not m.channel:
            if m.type:
                return []  # upgrade notice
            raise ValueError("no channel")
        if m.event != "update" and m.event != "all":
            return []  # subscribe acks, pongs
        dec = self._channels.get(m.channel)
        if dec is None or not m.result:
            return []
        market = "futures" if m.channel.startswith("futures.") else "spot"
        d = dec.decode(m.result)
        venue, ts, seq, kind = self.venue, rec.ts_ns, rec.seq, m.channel.split(".", 1)[1]
        if kind == "order_book_update":
            sym, norm = self.names(d.s, market)
            if market == "futures":
                return [BookDelta(venue, sym, norm, d.t * MS, ts, seq, _flv(d.b), _flv(d.a), d.U, d.u)]
            return [BookDelta(venue, sym, norm, d.t * MS, ts, seq, d.b, d.a, d.U, d.u)]
        if kind == "trades":
            if market == "spot":
                sym, norm = self.names(d.currency_pair, market)
                exch = int(d.create_time_ms.split(".", 1)[0]) * MS
                return [Trade(venue, sym, norm, exch, ts, seq, d.price, d.amount, d.side,
                              str(d.id), d.id)]
            out: list[Event] = []
            for t in d:
                sym, norm = self.names(t.contract, market)
                out.append(Trade(venue, sym, norm, t.create_time_ms * MS, ts, seq, t.price,
                                 str(abs(t.size)), "buy" if t.size > 0 else "sell", str(t.id), t.id))
            return out
        if kind == "tickers":
            sym, norm = self.names(d.currency_pair, market)
            return [Ticker(venue, sym, norm, m.time_ms * MS or m.time * 1_000_000_000, ts, seq,
                           last=d.last, bid=d.highest_bid, ask=d.lowest_ask, high=d.high_24h,
                           low=d.low_24h, volume=d.base_volume, quote_volume=d.quote_volume)]
        if kind == "candlesticks":
            out = []
            for c in d if isinstance(d, list) else [d]:
                interval, _, pair = c.n.partition("_")
                sym, norm = self.names(pair, market)
                start = int(c.t) * 1_000_000_000
                out.append(Kline(venue, sym, norm, start, ts, seq, interval, start, c.o, c.h, c.l,
                                 c.c, str(c.v), c.a, c.w))
            return out
        if kind == "book_ticker":
            sym, norm = self.names(d.s, market)
            return [BookTicker(venue, sym, norm, d.t * MS, ts, seq, d.b, str(d.B), d.a, str(d.A), d.u)]
        return []

    def rest(self, rec: Record, url: str) -> list[Event]:
        path, params = query(url)
        if path.endswith("/spot/order_book"):
            d = self._spot_snapshot.decode(rec.payload)
            sym, norm = self.names(params.get("currency_pair", ""), "spot")
            return [BookSnapshot(venue=self.venue, symbol=sym, norm=norm, exch_ts_ns=d.current * MS,
                                 recv_ts_ns=rec.ts_ns, seq=rec.seq, bids=d.bids, asks=d.asks,
                                 update_id=d.id, source="rest")]
        if "/futures/" in path and path.endswith("/order_book"):
            d = self._futures_snapshot.decode(rec.payload)
            sym, norm = self.names(params.get("contract", ""), "futures")
            return [BookSnapshot(venue=self.venue, symbol=sym, norm=norm,
                                 exch_ts_ns=int(d.current * 1000) * MS, recv_ts_ns=rec.ts_ns,
                                 seq=rec.seq, bids=_flv(d.bids), asks=_flv(d.asks), update_id=d.id,
                                 source="rest")]
        return []
