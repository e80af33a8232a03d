"""Binance USD-M futures and spot: combined or raw WebSocket streams, REST depth/klines.

The hot path of the whole projection: a combined-stream frame is decoded in one
msgspec call into a wrapper whose ``data`` is a union tagged by ``e``. Spot frames
without ``e`` (book ticker, partial depth) and control frames take the slow path.
An ``ids_only`` decoder (``state.decode``), a ``BinanceIdsDecoder``, reads depth frames
and snapshots through ``DepthIds`` and ``DepthSnapshotIds`` instead, the same union and
paths otherwise.
"""

from __future__ import annotations

import msgspec

from recorder.journal.record import FRAME, Record
from state.events import BookDelta, BookSnapshot, BookTicker, Event, Kline, Ticker, Trade

from .common import I64, MS, Decoder, Ms, json_any, query

Lv = tuple[tuple[str, str], ...]


class DepthUpdate(msgspec.Struct, tag_field="e", tag="depthUpdate", frozen=True, gc=False):
    E: Ms  # event time, ms
    s: str  # symbol
    U: I64  # first update id in event
    u: I64  # final update id in event
    b: Lv  # bids to update: [price, qty]; qty 0 removes
    a: Lv  # asks to update
    T: Ms = 0  # transaction time (futures only)
    pu: I64 | None = None  # final update id of the previous event (futures only)


class DepthIds(msgspec.Struct, tag_field="e", tag="depthUpdate", frozen=True, gc=False):
    """A ``DepthUpdate`` read for its ids (``ids_only``): its levels must be there, as JSON,
    but are not read; ``b`` and ``a`` are empty."""

    E: Ms  # event time, ms
    s: str  # symbol
    U: I64  # first update id in event
    u: I64  # final update id in event
    b_raw: msgspec.Raw = msgspec.field(name="b")  # bids, skipped
    a_raw: msgspec.Raw = msgspec.field(name="a")  # asks, skipped
    T: Ms = 0  # transaction time (futures only)
    pu: I64 | None = None  # final update id of the previous event (futures only)
    b = ()  # not fields: the levels an ids-only event carries
    a = ()


class BookTickerMsg(msgspec.Struct, tag_field="e", tag="bookTicker", frozen=True, gc=False):
    u: I64  # order book update id
    s: str  # symbol
    b: str  # best bid price
    B: str  # best bid qty
    a: str  # best ask price
    A: str  # best ask qty
    E: Ms = 0  # event time (futures only)
    T: Ms = 0  # transaction time (futures only)


class TradeMsg(msgspec.Struct, tag_field="e", tag="trade", frozen=True, gc=False):
    E: Ms  # event time
    s: str  # symbol
    t: I64  # trade id
    p: str  # price
    q: str  # quantity
    m: bool  # is the buyer the market maker (taker sold)
    T: Ms = 0  # trade time


class AggTradeMsg(msgspec.Struct, tag_field="e", tag="aggTrade", frozen=True, gc=False):
    E: Ms  # event time
    s: str  # symbol
    a: I64  # aggregate trade id
    p: str  # price
    q: str  # quantity
    m: bool  # is the buyer the market maker
    T: Ms = 0  # trade time


class KlineBody(msgspec.Struct, frozen=True, gc=False):
    t: Ms  # kline start time
    i: str  # interval
    o: str  # open
    c: str  # close
    h: str  # high
    l: str  # low  # noqa: E741 (the venue's name)
    v: str  # base asset volume
    x: bool  # is this kline closed
    q: str | None = None  # quote asset volume


class KlineMsg(msgspec.Struct, tag_field="e", tag="kline", frozen=True, gc=False):
    E: Ms  # event time
    s: str  # symbol
    k: KlineBody


class MarkPriceMsg(msgspec.Struct, tag_field="e", tag="markPriceUpdate", frozen=True, gc=False):
    E: Ms  # event time
    s: str  # symbol
    p: str  # mark price
    i: str | None = None  # index price
    r: str | None = None  # funding rate


class TickerMsg(msgspec.Struct, tag_field="e", tag="24hrTicker", frozen=True, gc=False):
    """``<symbol>@ticker``: rolling 24 h statistics, pushed about once a second."""

    E: Ms  # event time
    s: str  # symbol
    p: str  # price change over the 24 h window
    P: str  # price change per cent
    c: str  # last price
    o: str  # open price, 24 h ago
    h: str  # high price
    l: str  # low price  # noqa: E741 (the venue's name)
    v: str  # total traded base asset volume
    q: str  # total traded quote asset volume
    x: str | None = None  # spot only: the last price before the window (prev close)


class SpotBookTicker(msgspec.Struct, frozen=True, gc=False):
    u: I64  # order book update id
    s: str  # symbol
    b: str  # best bid price
    B: str  # best bid qty
    a: str  # best ask price
    A: str  # best ask qty


class DepthSnapshot(msgspec.Struct, frozen=True, gc=False):
    lastUpdateId: I64  # last update id included
    bids: Lv
    asks: Lv
    E: Ms = 0  # message output time (futures REST only)
    T: Ms = 0  # transaction time (futures REST only)


class DepthSnapshotIds(msgspec.Struct, frozen=True, gc=False):
    """A ``DepthSnapshot`` read for its id (``ids_only``): ``bids`` and ``asks`` empty."""

    lastUpdateId: I64  # last update id included
    bids_raw: msgspec.Raw = msgspec.field(name="bids")  # skipped
    asks_raw: msgspec.Raw = msgspec.field(name="asks")  # skipped
    E: Ms = 0  # message output time (futures REST only)
    T: Ms = 0  # transaction time (futures REST only)
    bids = ()  # not fields: the levels an ids-only event carries
    asks = ()


Data = DepthUpdate | BookTickerMsg | TradeMsg | AggTradeMsg | KlineMsg | MarkPriceMsg | TickerMsg
DataIds = DepthIds | BookTickerMsg | TradeMsg | AggTradeMsg | KlineMsg | MarkPriceMsg | TickerMsg


class Combined(msgspec.Struct, frozen=True, gc=False):
    stream: str  # e.g. btcusdt@depth@100ms
    data: Data


class CombinedIds(msgspec.Struct, frozen=True, gc=False):
    stream: str
    data: DataIds


class CombinedRaw(msgspec.Struct, frozen=True, gc=False):
    stream: str
    data: msgspec.Raw


_combined = msgspec.json.Decoder(Combined)
_combined_raw = msgspec.json.Decoder(CombinedRaw)
_decode_combined = _combined.decode
_bare = msgspec.json.Decoder(Data)
_spot_ticker = msgspec.json.Decoder(SpotBookTicker)
_snapshot = msgspec.json.Decoder(DepthSnapshot)
_decode_combined_ids = msgspec.json.Decoder(CombinedIds).decode
_bare_ids = msgspec.json.Decoder(DataIds)
_snapshot_ids = msgspec.json.Decoder(DepthSnapshotIds)
_klines = msgspec.json.Decoder(list[tuple[Ms, str, str, str, str, str, Ms, str, I64, str, str, str]])

KNOWN_E = {"depthUpdate", "bookTicker", "trade", "aggTrade", "kline", "markPriceUpdate", "24hrTicker"}


def _partial_depth(stream: str) -> int | None:
    """``btcusdt@depth20@100ms`` -> 20; a diff stream (``@depth``, ``@depth@0ms``) -> None."""
    i = stream.find("@depth")
    if i < 0:
        return None
    digits = ""
    for ch in stream[i + 6:]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits and len(digits) <= 6 else None  # a stream name, never a number past int64


def _frame_path(combined, bare):
    """``BinanceDecoder.decode`` over one pair of schemas, the full or the ids-only ones
    (``combined`` / ``bare``: the decode of a combined-stream frame / of a bare event).
    They are closure variables, as cheap to reach as module globals: read from the
    instance, they cost ~75 instructions a frame more (CPython 3.11, callgrind)."""

    def decode(self, rec: Record) -> list[Event]:
        """The hot path: a frame is decoded here in one function, errors quarantined; its
        integers are bounded by the schemas (``Ms``, ``I64``), not by ``state.bounds``."""
        if rec.kind != FRAME:
            return Decoder.decode(self, rec)
        payload = rec.payload
        try:
            try:
                if payload[2:3] == b"s":  # {"stream":..., "data": {...}} (a cached 1-byte slice)
                    w = combined(payload)
                    d = w.data
                else:  # a bare event: a raw /ws/<stream> connection
                    w = None
                    d = bare(payload)
            except msgspec.ValidationError as exc:  # acks, spot frames without "e", other shapes
                return self._slow(rec, exc)
            t = type(d)
            names = self._sym.get(d.s) or self.names(d.s)
            if t is BookTickerMsg:
                return [BookTicker(self.venue, names[0], names[1], (d.T or d.E) * MS, rec.ts_ns,
                                   rec.seq, d.b, d.B, d.a, d.A, d.u)]
            if t is TradeMsg or t is AggTradeMsg:
                tid = d.t if t is TradeMsg else d.a
                return [Trade(self.venue, names[0], names[1], (d.T or d.E) * MS, rec.ts_ns, rec.seq,
                              d.p, d.q, "sell" if d.m else "buy", str(tid), tid)]
            if t is DepthUpdate or t is DepthIds:
                stream = w.stream if w is not None else self._url_stream
                depth = self._depths.get(stream, -1)
                if depth == -1:
                    depth = self._depths[stream] = _partial_depth(stream)
                if depth is not None:  # futures partial depth: a top-N picture, not a diff
                    return [BookSnapshot(self.venue, names[0], names[1], (d.T or d.E) * MS,
                                         rec.ts_ns, rec.seq, d.b, d.a, d.u, depth)]
                return [BookDelta(self.venue, names[0], names[1], (d.T or d.E) * MS, rec.ts_ns,
                                  rec.seq, d.b, d.a, d.U, d.u, d.pu)]
            if t is KlineMsg:
                k = d.k
                return [Kline(self.venue, names[0], names[1], d.E * MS, rec.ts_ns, rec.seq, k.i,
                              k.t * MS, k.o, k.h, k.l, k.c, k.v, k.q, k.x)]
            if t is TickerMsg:
                return [Ticker(self.venue, names[0], names[1], d.E * MS, rec.ts_ns, rec.seq,
                               last=d.c, open=d.o, high=d.h, low=d.l, volume=d.v, quote_volume=d.q,
                               prev_close=d.x, change=d.p, change_rate=d.P)]
            return [Ticker(self.venue, names[0], names[1], d.E * MS, rec.ts_ns, rec.seq,  # markPrice
                           mark=d.p, index=d.i, funding_rate=d.r)]
        except Exception as exc:  # quarantine, as Decoder.decode does
            return [self.error(rec, f"{type(exc).__name__}: {exc}")]

    return decode


class BinanceDecoder(Decoder):
    """Binance USD-M (``binance-usdm``) or spot (``binance-spot``), by the stream's venue."""

    def __new__(cls, info, *, ids_only: bool = False) -> BinanceDecoder:
        return super().__new__(BinanceIdsDecoder if ids_only else cls)

    def __init__(self, info, *, ids_only: bool = False) -> None:
        super().__init__(info, ids_only=ids_only)
        self._snapshot = _snapshot_ids.decode if ids_only else _snapshot.decode
        self._sym: dict[str, tuple[str, str]] = {}
        # A raw /ws/<stream> connection names its one stream only in the URL.
        path = query(info.url)[0] if info.url else ""
        self._url_stream = path.rsplit("/ws/", 1)[1] if "/ws/" in path else ""
        self._depths: dict[str, int | None] = {}  # stream name -> _partial_depth (memo)

    def names(self, native: str, market: str | None = None) -> tuple[str, str]:
        got = self._sym.get(native)
        if got is None:
            got = self._sym[native] = super().names(native)
        return got

    decode = _frame_path(_decode_combined, _bare.decode)

    def frame(self, rec: Record) -> list[Event]:
        return self.decode(rec)

    def _slow(self, rec: Record, why: msgspec.ValidationError) -> list[Event]:
        """Frames the tagged union does not cover: spot ticker/partial depth, acks, unknowns.

        ``why`` is what the union said of it: the reason given when the frame is one of
        its events after all (a field of the wrong type or out of range)."""
        payload = rec.payload
        if payload[:10] == b'{"stream":':
            w = _combined_raw.decode(payload)
            stream, data = w.stream, bytes(w.data)
        else:
            stream, data = self._url_stream, bytes(payload)
        if stream.endswith("@bookTicker") and b'"e":' not in data:  # spot: no "e"; a futures one failed
            d = _spot_ticker.decode(data)
            key, norm = self.names(d.s)
            return [BookTicker(self.venue, key, norm, 0, rec.ts_ns, rec.seq, d.b, d.B, d.a, d.A, d.u)]
        depth = _partial_depth(stream)
        if depth is not None and b'"lastUpdateId"' in data:
            d = self._snapshot(data)
            native = stream.split("@", 1)[0].upper()
            key, norm = self.names(native)
            return [BookSnapshot(self.venue, key, norm, d.T * MS, rec.ts_ns, rec.seq, d.bids,
                                 d.asks, d.lastUpdateId, depth)]
        obj = json_any.decode(data)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        if "result" in obj or "id" in obj:  # SUBSCRIBE / LIST_SUBSCRIPTIONS ack
            return []
        e = obj.get("e")
        if isinstance(e, str) and e not in KNOWN_E:  # a stream we do not project
            return []
        raise ValueError(f"unexpected shape for event {e!r}: {why}")

    def rest(self, rec: Record, url: str) -> list[Event]:
        path, params = query(url)
        symbol = params.get("symbol", "")
        if path.endswith("/depth"):
            d = self._snapshot(rec.payload)
            key, norm = self.names(symbol.upper())
            return [BookSnapshot(venue=self.venue, symbol=key, norm=norm,
                                 exch_ts_ns=(d.T or d.E) * MS, recv_ts_ns=rec.ts_ns, seq=rec.seq,
                                 bids=d.bids, asks=d.asks, update_id=d.lastUpdateId, source="rest")]
        if path.endswith("/klines"):
            key, norm = self.names(symbol.upper())
            interval = params.get("interval", "")
            rows = _klines.decode(rec.payload)
            return [Kline(venue=self.venue, symbol=key, norm=norm, exch_ts_ns=r[0] * MS,
                          recv_ts_ns=rec.ts_ns, seq=rec.seq, interval=interval, start_ns=r[0] * MS,
                          open=r[1], high=r[2], low=r[3], close=r[4], volume=r[5],
                          quote_volume=r[7]) for r in rows]
        return []  # exchangeInfo and the like: kept in the journal, not projected


class BinanceIdsDecoder(BinanceDecoder):
    """``BinanceDecoder(info, ids_only=True)``: the same frame path over ``DepthIds`` and
    ``DepthSnapshotIds`` (see ``state.decode``)."""

    def __init__(self, info, *, ids_only: bool = True) -> None:
        super().__init__(info, ids_only=True)

    decode = _frame_path(_decode_combined_ids, _bare_ids.decode)
