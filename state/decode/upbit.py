"""Upbit: WebSocket ticker/trade/orderbook/candle in DEFAULT or SIMPLE keys; REST quotes.

Frames arrive as binary UTF-8 JSON with unquoted numbers (sometimes in exponent form,
``6E-8``): they are decoded straight to ``Decimal``, exactly, and written out as
plain decimal strings. Each orderbook frame is a full snapshot of its units.
"""

from __future__ import annotations

import calendar
import re
import time
from decimal import Decimal

import msgspec

from recorder.journal.record import Record
from state.events import BookSnapshot, Event, Kline, Ticker, Trade

from .common import MS, Decoder, dec_str, json_any, query

N = Decimal | int  # a JSON number, decoded exactly


# -- DEFAULT keys ------------------------------------------------------------------

class Unit(msgspec.Struct, frozen=True, gc=False):
    ask_price: N
    bid_price: N
    ask_size: N
    bid_size: N


class Orderbook(msgspec.Struct, frozen=True, gc=False):
    code: str  # market, e.g. KRW-BTC
    timestamp: int  # ms
    total_ask_size: N
    total_bid_size: N
    orderbook_units: list[Unit]


class TradeMsg(msgspec.Struct, frozen=True, gc=False):
    code: str
    trade_price: N
    trade_volume: N
    ask_bid: str  # ASK = taker sold, BID = taker bought
    sequential_id: int  # unique, not ordered (Upbit says so)
    trade_timestamp: int  # ms
    timestamp: int = 0


class TickerMsg(msgspec.Struct, frozen=True, gc=False):
    code: str
    trade_price: N
    timestamp: int = 0
    opening_price: N | None = None
    high_price: N | None = None
    low_price: N | None = None
    acc_trade_volume_24h: N | None = None
    acc_trade_price_24h: N | None = None
    prev_closing_price: N | None = None
    signed_change_price: N | None = None  # trade_price - prev_closing_price
    signed_change_rate: N | None = None  # a signed fraction, not per cent


class Candle(msgspec.Struct, frozen=True, gc=False):
    type: str  # candle.1m ...
    code: str
    candle_date_time_utc: str  # 2021-04-17T16:51:00
    opening_price: N
    high_price: N
    low_price: N
    trade_price: N  # close
    candle_acc_trade_volume: N
    candle_acc_trade_price: N
    timestamp: int = 0


# -- SIMPLE keys (same fields, abbreviated by Upbit) --------------------------------

class SUnit(msgspec.Struct, frozen=True, gc=False):
    ap: N  # ask_price
    bp: N  # bid_price
    as_: N = msgspec.field(name="as")  # ask_size
    bs: N = 0  # bid_size


class SOrderbook(msgspec.Struct, frozen=True, gc=False):
    cd: str  # code
    tms: int  # timestamp
    tas: N  # total_ask_size
    tbs: N  # total_bid_size
    obu: list[SUnit]  # orderbook_units


class STrade(msgspec.Struct, frozen=True, gc=False):
    cd: str  # code
    tp: N  # trade_price
    tv: N  # trade_volume
    ab: str  # ask_bid
    sid: int  # sequential_id
    ttms: int  # trade_timestamp
    tms: int = 0  # timestamp


class STicker(msgspec.Struct, frozen=True, gc=False):
    cd: str  # code
    tp: N  # trade_price
    tms: int = 0  # timestamp
    op: N | None = None  # opening_price
    hp: N | None = None  # high_price
    lp: N | None = None  # low_price
    atv24h: N | None = None  # acc_trade_volume_24h
    atp24h: N | None = None  # acc_trade_price_24h
    pcp: N | None = None  # prev_closing_price
    scp: N | None = None  # signed_change_price
    scr: N | None = None  # signed_change_rate (a signed fraction)


class SCandle(msgspec.Struct, frozen=True, gc=False):
    ty: str  # type
    cd: str  # code
    cdttmu: str  # candle_date_time_utc
    op: N  # opening_price
    hp: N  # high_price
    lp: N  # low_price
    tp: N  # trade_price (close)
    catv: N  # candle_acc_trade_volume
    catp: N  # candle_acc_trade_price
    tms: int = 0  # timestamp


# REST shapes (lists of DEFAULT-keyed objects with ``market`` for the code)

class RestOrderbook(msgspec.Struct, frozen=True, gc=False):
    market: str
    timestamp: int
    total_ask_size: N
    total_bid_size: N
    orderbook_units: list[Unit]


class RestTicker(msgspec.Struct, frozen=True, gc=False):
    market: str
    trade_price: N
    timestamp: int = 0
    opening_price: N | None = None
    high_price: N | None = None
    low_price: N | None = None
    acc_trade_volume_24h: N | None = None
    acc_trade_price_24h: N | None = None
    prev_closing_price: N | None = None
    signed_change_price: N | None = None
    signed_change_rate: N | None = None


class RestCandle(msgspec.Struct, frozen=True, gc=False):
    market: str
    candle_date_time_utc: str
    opening_price: N
    high_price: N
    low_price: N
    trade_price: N
    candle_acc_trade_volume: N
    candle_acc_trade_price: N
    unit: int | None = None  # minutes


class RestTick(msgspec.Struct, frozen=True, gc=False):
    market: str
    trade_price: N
    trade_volume: N
    ask_bid: str
    sequential_id: int
    timestamp: int


def _dec(t):
    return msgspec.json.Decoder(t, float_hook=Decimal)


_DECODERS = {
    ("type", "orderbook"): _dec(Orderbook), ("type", "trade"): _dec(TradeMsg),
    ("type", "ticker"): _dec(TickerMsg), ("type", "candle"): _dec(Candle),
    ("ty", "orderbook"): _dec(SOrderbook), ("ty", "trade"): _dec(STrade),
    ("ty", "ticker"): _dec(STicker), ("ty", "candle"): _dec(SCandle),
}
_rest_orderbook = _dec(list[RestOrderbook])
_rest_ticker = _dec(list[RestTicker])
_rest_candles = _dec(list[RestCandle])
_rest_ticks = _dec(list[RestTick])
_TYPE = re.compile(rb'"(ty|type)"\s*:\s*"([a-z]+)')


def utc_ns(text: str) -> int:
    """``2021-04-17T16:51:00`` (UTC) -> epoch ns, without touching a clock."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000


def _s(v) -> str | None:
    return None if v is None else dec_str(v)


class UpbitDecoder(Decoder):
    def frame(self, rec: Record) -> list[Event]:
        payload = rec.payload
        m = _TYPE.search(payload)
        if m is None:
            obj = json_any.decode(payload)  # {"status":"UP"}, {"error": {...}}: control frames
            if isinstance(obj, dict) and ("status" in obj or "error" in obj):
                return []
            raise ValueError("no type field")
        key = (m.group(1).decode(), m.group(2).decode())
        dec = _DECODERS.get(key)
        if dec is None:
            return []  # a type we do not project (myOrder, announcement ...)
        d = dec.decode(payload)
        venue, ts, seq = self.venue, rec.ts_ns, rec.seq
        if key[0] == "ty":  # SIMPLE
            sym, norm = self.names(d.cd)
            t = type(d)
            if t is STrade:
                return [Trade(venue, sym, norm, d.ttms * MS, ts, seq, dec_str(d.tp), dec_str(d.tv),
                              "sell" if d.ab == "ASK" else "buy", str(d.sid), d.sid)]
            if t is SOrderbook:
                return [BookSnapshot(venue, sym, norm, d.tms * MS, ts, seq,
                                     tuple((dec_str(u.bp), dec_str(u.bs)) for u in d.obu),
                                     tuple((dec_str(u.ap), dec_str(u.as_)) for u in d.obu),
                                     totals=(dec_str(d.tbs), dec_str(d.tas)))]
            if t is STicker:
                return [Ticker(venue, sym, norm, d.tms * MS, ts, seq, last=dec_str(d.tp),
                               open=_s(d.op), high=_s(d.hp), low=_s(d.lp), volume=_s(d.atv24h),
                               quote_volume=_s(d.atp24h), prev_close=_s(d.pcp), change=_s(d.scp),
                               change_rate=_s(d.scr))]
            return [Kline(venue, sym, norm, d.tms * MS, ts, seq, d.ty.split(".", 1)[-1],
                          utc_ns(d.cdttmu), dec_str(d.op), dec_str(d.hp), dec_str(d.lp),
                          dec_str(d.tp), dec_str(d.catv), dec_str(d.catp), None)]
        sym, norm = self.names(d.code)
        t = type(d)
        if t is TradeMsg:
            return [Trade(venue, sym, norm, d.trade_timestamp * MS, ts, seq, dec_str(d.trade_price),
                          dec_str(d.trade_volume), "sell" if d.ask_bid == "ASK" else "buy",
                          str(d.sequential_id), d.sequential_id)]
        if t is Orderbook:
            return [self._book(sym, norm, d, rec, "ws")]
        if t is TickerMsg:
            return [self._ticker(sym, norm, d, rec)]
        return [Kline(venue, sym, norm, d.timestamp * MS, ts, seq, d.type.split(".", 1)[-1],
                      utc_ns(d.candle_date_time_utc), dec_str(d.opening_price),
                      dec_str(d.high_price), dec_str(d.low_price), dec_str(d.trade_price),
                      dec_str(d.candle_acc_trade_volume), dec_str(d.candle_acc_trade_price), None)]

    def _book(self, sym, norm, d, rec: Record, source: str) -> BookSnapshot:
        u = d.orderbook_units
        return BookSnapshot(self.venue, sym, norm, d.timestamp * MS, rec.ts_ns, rec.seq,
                            tuple((dec_str(x.bid_price), dec_str(x.bid_size)) for x in u),
                            tuple((dec_str(x.ask_price), dec_str(x.ask_size)) for x in u),
                            totals=(dec_str(d.total_bid_size), dec_str(d.total_ask_size)),
                            source=source)

    def _ticker(self, sym, norm, d, rec: Record) -> Ticker:
        return Ticker(self.venue, sym, norm, d.timestamp * MS, rec.ts_ns, rec.seq,
                      last=dec_str(d.trade_price), open=_s(d.opening_price), high=_s(d.high_price),
                      low=_s(d.low_price), volume=_s(d.acc_trade_volume_24h),
                      quote_volume=_s(d.acc_trade_price_24h), prev_close=_s(d.prev_closing_price),
                      change=_s(d.signed_change_price), change_rate=_s(d.signed_change_rate))

    def rest(self, rec: Record, url: str) -> list[Event]:
        path, params = query(url)
        out: list[Event] = []
        if path.endswith("/v1/orderbook"):
            for d in _rest_orderbook.decode(rec.payload):
                sym, norm = self.names(d.market)
                out.append(self._book(sym, norm, d, rec, "rest"))
        elif path.endswith("/v1/ticker"):
            for d in _rest_ticker.decode(rec.payload):
                sym, norm = self.names(d.market)
                out.append(self._ticker(sym, norm, d, rec))
        elif "/v1/candles/" in path:
            kind = path.rsplit("/v1/candles/", 1)[1]  # minutes/1, days, weeks
            interval = kind.replace("minutes/", "") + ("m" if kind.startswith("minutes/") else "")
            for d in _rest_candles.decode(rec.payload):
                sym, norm = self.names(d.market)
                start = utc_ns(d.candle_date_time_utc)
                out.append(Kline(venue=self.venue, symbol=sym, norm=norm, exch_ts_ns=start,
                                 recv_ts_ns=rec.ts_ns, seq=rec.seq, interval=interval,
                                 start_ns=start, open=dec_str(d.opening_price),
                                 high=dec_str(d.high_price), low=dec_str(d.low_price),
                                 close=dec_str(d.trade_price),
                                 volume=dec_str(d.candle_acc_trade_volume),
                                 quote_volume=dec_str(d.candle_acc_trade_price)))
        elif path.endswith("/v1/trades/ticks"):
            for d in _rest_ticks.decode(rec.payload):
                sym, norm = self.names(d.market)
                out.append(Trade(venue=self.venue, symbol=sym, norm=norm,
                                 exch_ts_ns=d.timestamp * MS, recv_ts_ns=rec.ts_ns, seq=rec.seq,
                                 price=dec_str(d.trade_price), size=dec_str(d.trade_volume),
                                 side="sell" if d.ask_bid == "ASK" else "buy",
                                 trade_id=str(d.sequential_id)))
        return out
