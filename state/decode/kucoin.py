"""KuCoin spot (classic API): level2 (sequenceStart/End, per-change sequence), match,
ticker, candles; REST level2 snapshots. An ``ids_only`` decoder (``state.decode``) reads
level2 updates and snapshots through ``L2Ids`` and ``RestEnvelopeIds``."""

from __future__ import annotations

import msgspec

from recorder.journal.record import Record
from state.events import BookDelta, BookSnapshot, BookTicker, Event, Kline, Trade

from .common import MS, NO_RAW, Decoder, query

Ch = tuple[tuple[str, str, str], ...]  # [price, size, sequence]; price "0" = sequence only


class Changes(msgspec.Struct, frozen=True, gc=False):
    asks: Ch
    bids: Ch


class L2(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    sequenceStart: int
    sequenceEnd: int
    changes: Changes
    time: int = 0  # ms (newer frames)


NO_CHANGES = Changes(asks=(), bids=())


class L2Ids(msgspec.Struct, frozen=True, gc=False):
    """An ``L2`` read for its ids (``ids_only``): ``changes`` empty."""

    symbol: str
    sequenceStart: int
    sequenceEnd: int
    changes_raw: msgspec.Raw = msgspec.field(name="changes")  # skipped
    time: int = 0  # ms (newer frames)
    changes = NO_CHANGES  # not a field: the levels an ids-only event carries


class Match(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    sequence: str
    side: str  # taker side
    size: str
    price: str
    tradeId: str
    time: str  # ns


class TickerData(msgspec.Struct, frozen=True, gc=False):
    sequence: str
    bestAsk: str
    bestAskSize: str
    bestBid: str
    bestBidSize: str
    time: int  # ms
    price: str | None = None  # last trade


class CandleData(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    candles: tuple[str, str, str, str, str, str, str]  # start s, open, close, high, low, vol, turnover
    time: int  # ns


class Msg(msgspec.Struct, frozen=True, gc=False):
    type: str  # message | welcome | ack | pong | error
    topic: str = ""
    subject: str = ""
    data: msgspec.Raw = NO_RAW


class Snapshot(msgspec.Struct, frozen=True, gc=False):
    sequence: str
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    time: int = 0


class RestEnvelope(msgspec.Struct, frozen=True, gc=False):
    code: str
    data: Snapshot


class SnapshotIds(msgspec.Struct, frozen=True, gc=False):
    """A ``Snapshot`` read for its sequence (``ids_only``): ``bids``/``asks`` empty."""

    sequence: str
    bids_raw: msgspec.Raw = msgspec.field(name="bids")  # skipped
    asks_raw: msgspec.Raw = msgspec.field(name="asks")  # skipped
    time: int = 0
    bids = ()  # not fields: the levels an ids-only event carries
    asks = ()


class RestEnvelopeIds(msgspec.Struct, frozen=True, gc=False):
    code: str
    data: SnapshotIds


_msg = msgspec.json.Decoder(Msg)
_l2 = msgspec.json.Decoder(L2)
_match = msgspec.json.Decoder(Match)
_ticker = msgspec.json.Decoder(TickerData)
_candle = msgspec.json.Decoder(CandleData)
_rest = msgspec.json.Decoder(RestEnvelope)
_l2_ids = msgspec.json.Decoder(L2Ids)
_rest_ids = msgspec.json.Decoder(RestEnvelopeIds)


def _real(levels: Ch) -> Ch:
    return tuple(lv for lv in levels if lv[0] != "0")


class KucoinDecoder(Decoder):
    def __init__(self, info, *, ids_only: bool = False) -> None:
        super().__init__(info, ids_only=ids_only)
        self._l2, self._rest = (_l2_ids, _rest_ids) if ids_only else (_l2, _rest)

    def frame(self, rec: Record) -> list[Event]:
        m = _msg.decode(rec.payload)
        if m.type != "message" or not m.data:
            return []  # welcome, ack, pong
        venue, ts, seq, subject = self.venue, rec.ts_ns, rec.seq, m.subject
        if subject == "trade.l2update":
            d = self._l2.decode(m.data)
            sym, norm = self.names(d.symbol)
            return [BookDelta(venue, sym, norm, d.time * MS, ts, seq, _real(d.changes.bids),
                              _real(d.changes.asks), d.sequenceStart, d.sequenceEnd)]
        if subject == "trade.l3match":
            d = _match.decode(m.data)
            sym, norm = self.names(d.symbol)
            return [Trade(venue, sym, norm, int(d.time), ts, seq, d.price, d.size, d.side,
                          d.tradeId, int(d.sequence))]
        if subject == "trade.ticker":
            d = _ticker.decode(m.data)
            sym, norm = self.names(m.topic.rsplit(":", 1)[1])
            return [BookTicker(venue, sym, norm, d.time * MS, ts, seq, d.bestBid, d.bestBidSize,
                               d.bestAsk, d.bestAskSize, int(d.sequence))]
        if subject.startswith("trade.candles"):
            d = _candle.decode(m.data)
            sym, norm = self.names(d.symbol)
            c = d.candles
            interval = m.topic.rsplit("_", 1)[1] if "_" in m.topic else ""
            return [Kline(venue, sym, norm, d.time, ts, seq, interval, int(c[0]) * 1_000_000_000,
                          c[1], c[3], c[4], c[2], c[5], c[6], None)]
        return []

    def rest(self, rec: Record, url: str) -> list[Event]:
        path, params = query(url)
        if "/market/orderbook/level2" not in path:
            return []
        d = self._rest.decode(rec.payload).data
        sym, norm = self.names(params.get("symbol", ""))
        return [BookSnapshot(venue=self.venue, symbol=sym, norm=norm, exch_ts_ns=d.time * MS,
                             recv_ts_ns=rec.ts_ns, seq=rec.seq, bids=d.bids, asks=d.asks,
                             update_id=int(d.sequence), source="rest")]
