"""The forming candle: built from a real capture's trades it equals the venue's own kline,
a REST base plus later trades equals the venue's later kline, and the edge cases by hand."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from query.market import normalize as nz
from query.market.candles.forming import as_of, forming, merge, period_start
from query.market.types import Candle
from query.market.types import Trade as ApiTrade
from recorder.journal import FRAME, Record, StreamInfo
from state.decode import decoder_for
from state.events import Trade as EventTrade
from tools.simulator.captures import CRYPTOFEED_BINANCE_FUTURES, CRYPTOFEED_UPBIT, read_cryptofeed

MS = 1_000_000
MIN = 60_000 * MS
VENUE = "binance-usdm"


def _capture(symbol: str) -> tuple[list[EventTrade], list[dict]]:
    """SUSHIUSDT's aggTrades (as the projection's events) and kline_1m frames, in arrival order."""
    trades, klines = [], []
    for seq, (_, frame) in enumerate(read_cryptofeed(CRYPTOFEED_BINANCE_FUTURES).frames):
        d = orjson.loads(frame)
        if d["stream"] == f"{symbol.lower()}@aggTrade":
            x = d["data"]
            trades.append(EventTrade(venue=VENUE, symbol=symbol, norm="SUSHI-USDT-PERP", exch_ts_ns=x["T"] * MS,
                                     recv_ts_ns=x["E"] * MS, seq=seq, price=x["p"], size=x["q"],
                                     side="sell" if x["m"] else "buy", trade_id=str(x["a"]), ordinal=x["l"]))
        elif d["stream"] == f"{symbol.lower()}@kline_1m":
            klines.append(d)
    return trades, klines


def _kline(frame: dict) -> Candle:
    """A kline frame as the REST-side normalizer gives it, received at its event time."""
    e = frame["data"]["E"] * MS
    return nz.binance_kline(VENUE, "SUSHIUSDT", "1m", frame, recv_ns=e, now_ns=e)


def _ohlcv(c: Candle) -> tuple:
    return (c.open_time_ns, c.open, c.high, c.low, c.close, c.volume, c.quote_volume)


@pytest.fixture(scope="module")
def sushi():
    return _capture("SUSHIUSDT")


def test_trades_from_the_periods_start_give_the_venues_own_kline(sushi):
    """22:26 began inside the capture: its trades alone make Binance's kline, to the digit."""
    trades, klines = sushi
    last = [k for k in klines if k["data"]["k"]["t"] == 1626992760000][-1]
    want = _kline(last)
    now = last["data"]["E"] * MS
    upto = [t for t in trades if t.ordinal <= last["data"]["k"]["L"]]  # what the kline had seen
    got = forming(upto, venue=VENUE, symbol="SUSHIUSDT", norm=want.norm, interval="1m", now_ns=now,
                  since_ns=trades[0].recv_ts_ns, prev_close=Decimal("7.6170"))
    assert _ohlcv(got) == _ohlcv(want)
    assert got.volume == Decimal("499") and got.quote_volume == Decimal("3801.3140")
    assert not got.closed and got.source == "memory" and not got.fill
    assert got.exch_ts_ns == max(t.exch_ts_ns for t in upto)


def test_a_rest_base_plus_the_later_trades_give_the_closed_kline(sushi):
    """22:25 began before the capture: a mid-minute kline plus the trades after it is the close."""
    trades, klines = sushi
    minute = [k for k in klines if k["data"]["k"]["t"] == 1626992700000]
    closed = _kline(minute[-1])
    assert minute[-1]["data"]["k"]["x"]
    base = _kline(next(k for k in minute if k["data"]["E"] == 1626992753144))
    assert as_of(base) == base.recv_ts_ns  # Binance's exch_ts_ns is the close time
    now = 1626992759999 * MS  # the minute's last ms: everything of it has arrived
    got = forming(trades, venue=VENUE, symbol="SUSHIUSDT", norm=base.norm, interval="1m", now_ns=now,
                  since_ns=trades[0].recv_ts_ns, base=base)
    assert _ohlcv(got) == _ohlcv(closed)
    assert got.volume - base.volume == sum(Decimal(t.size) for t in trades
                                           if 1626992753144 * MS < t.exch_ts_ns < 1626992760000 * MS)
    # without the base the trades miss the minute's start: no candle rather than a wrong one
    assert forming(trades, venue=VENUE, symbol="SUSHIUSDT", norm=base.norm, interval="1m", now_ns=now,
                   since_ns=trades[0].recv_ts_ns) is None


def test_upbit_capture_trades_of_either_type_give_one_candle_split_at_boundaries():
    """Upbit's 2021 trades carry whole-second times, so many fall exactly on a 10 s boundary:
    each opens its new period, and the periods' volumes add up to every trade's."""
    cap = read_cryptofeed(CRYPTOFEED_UPBIT)
    dec = decoder_for(StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1"))
    events, api = [], []
    for i, (t, frame) in enumerate(cap.frames):
        events += [e for e in dec.decode(Record(i + 1, int(t * 1e9), 1, FRAME, frame, None))
                   if isinstance(e, EventTrade)]
        if orjson.loads(frame).get("ty") == "trade":
            api.append(nz.upbit_trade(nz.parse(frame, "trade"), recv_ns=0, now_ns=0, source="memory"))
    lamb = [t for t in events if t.symbol == "KRW-LAMB"]
    assert len(events) == len(api) == 304 and len(lamb) == 299
    kw = {"venue": "upbit", "symbol": "KRW-LAMB", "norm": "LAMB-KRW", "since_ns": 0}
    for interval, span in (("1m", 60 * 10**9), ("10s", 10 * 10**9)):
        starts = sorted({period_start(t.exch_ts_ns, interval) for t in lamb})
        total = Decimal(0)
        for p in starts:
            a = forming(events, interval=interval, now_ns=p + span - 1, **kw)
            b = forming(api, interval=interval, now_ns=p, **kw)
            assert _ohlcv(a) == _ohlcv(b)
            inside = [t for t in lamb if p <= t.exch_ts_ns < p + span]
            assert a.open == Decimal(inside[0].price) and a.close == Decimal(inside[-1].price)
            total += a.volume
        assert total == sum(Decimal(t.size) for t in lamb)
    on_edge = [t for t in lamb if t.exch_ts_ns % (10 * 10**9) == 0][-1]
    got = forming(events, interval="10s", now_ns=on_edge.exch_ts_ns, **kw)
    assert got.open_time_ns == on_edge.exch_ts_ns and got.volume >= Decimal(on_edge.size)
    before = forming(events, interval="10s", now_ns=on_edge.exch_ts_ns - 1, **kw)
    assert before.exch_ts_ns < on_edge.exch_ts_ns


def _t(ts_ms: int, price: str, size: str = "1", symbol: str = "KRW-BTC", api: bool = False):
    if api:
        return ApiTrade(venue="upbit", symbol=symbol, norm="BTC-KRW", price=Decimal(price), size=Decimal(size),
                        side="buy", trade_id=str(ts_ms), exch_ts_ns=ts_ms * MS, recv_ts_ns=ts_ms * MS + 5,
                        source="memory", age_ms=0)
    return EventTrade(venue="upbit", symbol=symbol, norm="BTC-KRW", exch_ts_ns=ts_ms * MS,
                      recv_ts_ns=ts_ms * MS + 5, seq=ts_ms, price=price, size=size, side="buy", trade_id=str(ts_ms))


KW = {"venue": "upbit", "symbol": "KRW-BTC", "norm": "BTC-KRW", "interval": "1m", "since_ns": 0}
P = 1_767_225_600_000  # a minute boundary, ms


def test_a_trade_exactly_at_the_boundary_opens_the_new_period():
    trades = [_t(P - 1, "10"), _t(P, "11", "2"), _t(P + 59_999, "12"), _t(P + 60_000, "13")]
    got = forming(trades, now_ns=P * MS + 30 * 10**9, prev_close=Decimal("10"), **KW)
    assert got.open_time_ns == P * MS and got.open == Decimal("11") and got.close == Decimal("12")
    assert got.volume == Decimal("3") and got.quote_volume == Decimal("34")
    nxt = forming(trades, now_ns=(P + 60_000) * MS, prev_close=got.close, **KW)
    assert nxt.open_time_ns == (P + 60_000) * MS and nxt.open == nxt.close == Decimal("13")
    assert period_start(P * MS, "1m") == P * MS and period_start(P * MS - 1, "1m") == (P - 60_000) * MS


def test_no_trade_in_the_period_is_a_fill_at_the_previous_close_or_nothing():
    trades = [_t(P - 5, "10"), _t(P + 10, "99", symbol="KRW-ETH")]  # another symbol's trade is skipped
    got = forming(trades, now_ns=P * MS + 1, prev_close=Decimal("10.50"), **KW)
    assert got.fill and not got.closed
    assert (got.open, got.high, got.low, got.close, got.volume) == (Decimal("10.50"),) * 4 + (Decimal(0),)
    assert forming(trades, now_ns=P * MS + 1, **KW) is None


def test_order_is_arrival_order_and_sums_are_exact_for_both_trade_types():
    for api in (False, True):
        trades = [_t(P + 3, "0.00001234", "123456789", api=api), _t(P + 1, "0.00001235", "0.1", api=api)]
        got = forming(trades, now_ns=P * MS + 10 * MS, **KW)
        assert got.open == Decimal("0.00001234") and got.close == Decimal("0.00001235")  # not re-sorted
        assert got.high == Decimal("0.00001235") and got.low == Decimal("0.00001234")
        assert got.volume == Decimal("123456789.1")
        assert got.quote_volume == Decimal("1523.45677626") + Decimal("0.000001235")
        assert got.exch_ts_ns == (P + 3) * MS


def test_an_upbit_base_counts_trades_after_its_last_tick_only():
    base = Candle(venue="upbit", symbol="KRW-BTC", norm="BTC-KRW", interval="1m", open_time_ns=P * MS,
                  open=Decimal("100"), high=Decimal("105"), low=Decimal("99"), close=Decimal("101"),
                  volume=Decimal("2"), quote_volume=Decimal("201"), closed=False, exch_ts_ns=(P + 20_000) * MS,
                  recv_ts_ns=(P + 20_500) * MS, source="rest", age_ms=0)
    assert as_of(base) == base.exch_ts_ns
    trades = [_t(P + 19_000, "104"), _t(P + 20_000, "101"), _t(P + 21_000, "98", "3")]
    kw = {**KW, "since_ns": (P + 10_000) * MS}
    got = forming(trades, now_ns=(P + 30_000) * MS, base=base, **kw)
    assert (got.open, got.high, got.low, got.close) == (Decimal("100"), Decimal("105"), Decimal("98"), Decimal("98"))
    assert got.volume == Decimal("5") and got.quote_volume == Decimal("495")
    # no trade since the base: the base itself, aged to now
    same = forming(trades[:2], now_ns=(P + 30_000) * MS, base=base, **kw)
    assert _ohlcv(same) == _ohlcv(base) and same.age_ms == 10_000
    # trades that cover the minute from its start win over the base
    whole = forming(trades, now_ns=(P + 30_000) * MS, base=base, **{**kw, "since_ns": P * MS})
    assert whole.open == Decimal("104") and whole.volume == Decimal("5")
    # a base of another period does not help
    assert forming(trades, now_ns=(P + 90_000) * MS, base=base, **kw) is None


def test_merge_replaces_or_appends_the_last_period():
    def c(t: int, closed: bool = True, close: str = "1") -> Candle:
        return Candle(venue="upbit", symbol="KRW-BTC", norm="BTC-KRW", interval="1m", open_time_ns=t,
                      open=Decimal(1), high=Decimal(1), low=Decimal(1), close=Decimal(close), volume=Decimal(1),
                      quote_volume=Decimal(1), closed=closed, exch_ts_ns=t, recv_ts_ns=t, source="rest", age_ms=0)
    hist = [c(0), c(MIN), c(2 * MIN, closed=False)]
    live = c(2 * MIN, closed=False, close="7")
    assert merge(hist, live) == [hist[0], hist[1], live]
    assert merge(hist[:2], live) == [hist[0], hist[1], live]
    assert merge(hist[:2], c(MIN, closed=False)) == hist[:2]  # the history knows that minute whole
    assert merge(hist, None) == hist and merge([], live) == [live]
    assert merge(hist, c(3 * MIN, closed=False))[-2:] == [hist[2], c(3 * MIN, closed=False)]
