"""OKX v5 public channels: books (snapshot/update with CRC32 checksum), trades, tickers."""

from __future__ import annotations

import msgspec

from recorder.journal.record import Record
from state.events import BookDelta, BookSnapshot, Event, Ticker, Trade

from .common import MS, NO_RAW, Decoder, json_any

Lv = tuple[tuple[str, ...], ...]  # [price, size, "0" (deprecated), order count]


class Arg(msgspec.Struct, frozen=True, gc=False):
    channel: str
    instId: str = ""


class BookData(msgspec.Struct, frozen=True, gc=False):
    asks: Lv
    bids: Lv
    ts: str  # ms
    checksum: int | None = None  # CRC32 (signed) of the top 25 levels after this message
    seqId: int | None = None  # absent in 2022 frames
    prevSeqId: int | None = None  # -1 in snapshots


class BookMsg(msgspec.Struct, frozen=True, gc=False):
    arg: Arg
    data: list[BookData]
    action: str = "snapshot"  # snapshot | update (books5 / bbo-tbt send no action)


class TradeData(msgspec.Struct, frozen=True, gc=False):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str  # taker side: buy | sell
    ts: str


class TradeMsg(msgspec.Struct, frozen=True, gc=False):
    arg: Arg
    data: list[TradeData]


class TickerData(msgspec.Struct, frozen=True, gc=False):
    instId: str
    last: str | None = None
    askPx: str | None = None
    bidPx: str | None = None
    open24h: str | None = None
    high24h: str | None = None
    low24h: str | None = None
    vol24h: str | None = None
    volCcy24h: str | None = None
    ts: str = "0"


class TickerMsg(msgspec.Struct, frozen=True, gc=False):
    arg: Arg
    data: list[TickerData]


class Head(msgspec.Struct, frozen=True, gc=False):
    arg: Arg | None = None
    event: str | None = None  # subscribe / error / notice (control)
    data: msgspec.Raw = NO_RAW


_head = msgspec.json.Decoder(Head)
_book = msgspec.json.Decoder(BookMsg)
_trade = msgspec.json.Decoder(TradeMsg)
_ticker = msgspec.json.Decoder(TickerMsg)
BOOKS = ("books", "books5", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt")


class OkxDecoder(Decoder):
    def frame(self, rec: Record) -> list[Event]:
        p = rec.payload
        if p == b"pong":
            return []
        head = _head.decode(p)
        if head.event is not None or head.arg is None or not head.data:
            if head.event is None and head.arg is None:
                json_any.decode(p)  # still must be JSON
                raise ValueError("neither event nor arg")
            return []  # subscribe / error / notice acks
        channel = head.arg.channel
        venue, ts, seq = self.venue, rec.ts_ns, rec.seq
        if channel in BOOKS:
            m = _book.decode(p)
            sym, norm = self.names(m.arg.instId)
            out: list[Event] = []
            for d in m.data:
                exch = int(d.ts) * MS
                bids = tuple((lv[0], lv[1]) for lv in d.bids)  # the book takes (price, size)
                asks = tuple((lv[0], lv[1]) for lv in d.asks)
                if m.action == "update":
                    out.append(BookDelta(venue, sym, norm, exch, ts, seq, bids, asks, None,
                                         d.seqId, d.prevSeqId, d.checksum))
                else:
                    out.append(BookSnapshot(venue, sym, norm, exch, ts, seq, bids, asks,
                                            d.seqId, None, d.checksum))
            return out
        if channel in ("trades", "trades-all"):
            m = _trade.decode(p)
            out = []
            for t in m.data:
                sym, norm = self.names(t.instId)
                out.append(Trade(venue, sym, norm, int(t.ts) * MS, ts, seq, t.px, t.sz, t.side,
                                 t.tradeId, int(t.tradeId) if t.tradeId.isdigit() else None))
            return out
        if channel == "tickers":
            m = _ticker.decode(p)
            out = []
            for t in m.data:
                sym, norm = self.names(t.instId)
                out.append(Ticker(venue, sym, norm, int(t.ts) * MS, ts, seq, last=t.last,
                                  bid=t.bidPx, ask=t.askPx, open=t.open24h, high=t.high24h,
                                  low=t.low24h, volume=t.vol24h, quote_volume=t.volCcy24h))
            return out
        return []  # candles, instruments ...
