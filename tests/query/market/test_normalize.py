"""The normalizers: every shape to one type, REST and WebSocket equal for the same instant,
bad shapes named."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import orjson
import pytest

from query.market import normalize as nz
from query.market.errors import BadResponseError
from tools.simulator.captures import CRYPTOFEED_BINANCE_FUTURES, read_cryptofeed
from tools.simulator.upbit_market import UpbitMarket, to_default

NOW = 1_800_000_000_000 * 1_000_000
KW = {"recv_ns": NOW - 1_000_000, "now_ns": NOW}


def _same(a, b):
    """Equal field by field but for where it came from and how old it is."""
    da, db = msgspec.structs.asdict(a), msgspec.structs.asdict(b)
    for k in ("source", "age_ms"):
        da.pop(k), db.pop(k)
    assert da == db


def test_upbit_rest_and_websocket_default_and_simple_give_the_same_ticker_and_book():
    market = UpbitMarket(seed=1, base_ms=1_700_000_000_000)
    assert market.activate("KRW-BTC")
    last: dict[str, bytes] = {}
    while len(last) < 2:
        ev = market.next()
        if ev.kind in ("ticker", "orderbook"):
            last[ev.kind] = ev.data
    for kind, rest_of, one in (("ticker", market.ticker_body, nz.upbit_ticker),
                               ("orderbook", market.orderbook_body, nz.upbit_orderbook)):
        simple = last[kind]
        rest = nz.upbit_tickers if kind == "ticker" else nz.upbit_orderbooks
        [r] = rest(nz.parse(rest_of(["KRW-BTC"]), kind), **KW)
        s = one(nz.parse(simple, kind), source="memory", **KW)
        d = one(nz.parse(to_default(simple), kind), source="memory", **KW)
        _same(r, s)
        _same(r, d)
        assert r.symbol == "KRW-BTC" and r.norm == "BTC-KRW" and r.source == "rest"


def test_upbit_ticker_documented_legacy_shape_is_exact():
    body = (b'[{"market":"KRW-BTC","trade_price":8629000.0,"high_price":8679000.00000000,'
            b'"low_price":8445000.00000000,"prev_closing_price":8450000.00000000,'
            b'"signed_change_price":179000.00000000,"signed_change_rate":0.0211834320,'
            b'"acc_trade_volume_24h":6448.96200341,"acc_trade_price_24h":55330325803.78210000,'
            b'"timestamp":1524046049766}]')
    [t] = nz.upbit_tickers(nz.parse(body, "t"), **KW)
    assert t.last == Decimal("8629000.0") and t.change_rate == Decimal("0.0211834320")
    assert t.quote_volume == Decimal("55330325803.78210000") and t.exch_ts_ns == 1524046049766 * 10**6
    assert t.bid is None and t.age_ms == (NOW - t.exch_ts_ns) // 10**6


def test_upbit_candle_open_is_the_utc_date_time_and_timestamp_the_last_tick():
    rest = {"market": "KRW-BTC", "candle_date_time_utc": "2026-09-02T07:46:00",
            "candle_date_time_kst": "2026-09-02T16:46:00", "opening_price": 1.5E8,
            "high_price": 106700000, "low_price": 106600000, "trade_price": 106691000,
            "timestamp": 1788335180377, "candle_acc_trade_price": 10.5,
            "candle_acc_trade_volume": 0.00009372, "unit": 1}
    older = {**rest, "candle_date_time_utc": "2026-09-02T07:45:00", "timestamp": 1788335100000}
    cs = nz.upbit_candles([rest, older], **KW)  # newest first, as Upbit sends
    assert [c.open_time_ns for c in cs] == [1788335100000 * 10**6, 1788335160000 * 10**6]
    c = cs[1]
    assert c.interval == "1m" and c.exch_ts_ns == 1788335180377 * 10**6 and c.closed and not c.fill
    assert c.open == Decimal("1.5E8")
    ws = {"ty": "candle.1m", "cd": "KRW-BTC", "cdttmu": "2026-09-02T07:46:00", "op": 1.5E8,
          "hp": 106700000, "lp": 106600000, "tp": 106691000, "catv": 0.00009372, "catp": 10.5,
          "tms": 1788335180377, "st": "REALTIME"}
    _same(c, nz.upbit_candle(ws, **KW))
    forming = nz.upbit_candle(rest, recv_ns=0, now_ns=1788335180377 * 10**6)
    assert not forming.closed


def test_upbit_trade_ticks():
    tick = {"market": "KRW-BTC", "trade_date_utc": "2026-09-02", "trade_time_utc": "07:46:20",
            "timestamp": 1788335180423, "trade_price": 106691000.0, "trade_volume": 0.00009372,
            "prev_closing_price": 107005000, "change_price": 314000, "ask_bid": "ASK",
            "sequential_id": 17883351803770004}
    [t] = nz.upbit_trades([tick], **KW)
    assert (t.side, t.trade_id, t.exch_ts_ns) == ("sell", "17883351803770004", 1788335180423 * 10**6)
    ws = {"type": "trade", "code": "KRW-BTC", "timestamp": 1788335180423, "trade_timestamp": 1788335180423,
          "trade_price": 106691000.0, "trade_volume": 0.00009372, "ask_bid": "ASK",
          "sequential_id": 17883351803770004}
    _same(t, nz.upbit_trade(ws, **KW))


def test_binance_captured_rest_depth_and_stream_frames():
    raw = read_cryptofeed(CRYPTOFEED_BINANCE_FUTURES)
    url, body = next((u, b) for _, u, b in raw.rest if u and "/depth" in u)
    ob = nz.binance_depth("binance-usdm", "SUSHIUSDT", nz.parse(body, "d"), **KW)
    assert ob.norm == "SUSHI-USDT-PERP" and ob.update_id == 600859605926
    assert ob.bids[0][0] > ob.bids[1][0] and ob.asks[0][0] < ob.asks[1][0]
    assert ob.spread == ob.asks[0][0] - ob.bids[0][0] > 0 and ob.exch_ts_ns == 1626992741261 * 10**6
    kinds = set()
    for _, f in raw.frames:
        d = orjson.loads(f)["data"]
        if d.get("e") == "kline":
            c = nz.binance_kline("binance-usdm", "", "", nz.parse(f, "k"), **KW)
            assert c.interval == "1m" and c.closed == d["k"]["x"]
            kinds.add("kline")
        elif d.get("e") == "aggTrade":
            t = nz.binance_trade("binance-usdm", "", nz.parse(f, "a"), **KW)
            assert t.side == ("sell" if d["m"] else "buy") and t.trade_id == str(d["a"])
            kinds.add("trade")
    assert kinds == {"kline", "trade"}


def test_binance_kline_array_equals_the_closed_stream_kline():
    arr = [1626992700000, "1.01000", "1.01100", "1.01000", "1.01100", "3917", 1626992759999,
           "3957.1", 48, "1", "1", "0"]
    ws = {"e": "kline", "E": 1626992760001, "s": "CTKUSDT", "k": {
        "t": 1626992700000, "T": 1626992759999, "s": "CTKUSDT", "i": "1m", "o": "1.01000",
        "c": "1.01100", "h": "1.01100", "l": "1.01000", "v": "3917", "x": True, "q": "3957.1"}}
    [r] = nz.binance_klines("binance-usdm", "CTKUSDT", "1m", [arr], **KW)
    _same(r, nz.binance_kline("binance-usdm", "", "", {"stream": "x", "data": ws}, source="memory", **KW))


def test_binance_spot_ticker_rest_equals_stream():
    rest = {"symbol": "BNBBTC", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
            "prevClosePrice": "0.10002000", "lastPrice": "4.00000200", "bidPrice": "4.00000000",
            "askPrice": "4.00000200", "openPrice": "99.00000000", "highPrice": "100.00000000",
            "lowPrice": "0.10000000", "volume": "8913.30000000", "quoteVolume": "15.30000000",
            "closeTime": 1499869899040}
    ws = {"e": "24hrTicker", "E": 1499869899041, "s": "BNBBTC", "p": "-94.99999800", "P": "-95.960",
          "x": "0.10002000", "c": "4.00000200", "b": "4.00000000", "a": "4.00000200",
          "o": "99.00000000", "h": "100.00000000", "l": "0.10000000", "v": "8913.30000000",
          "q": "15.30000000", "C": 1499869899040}
    r = nz.binance_ticker("binance-spot", rest, **KW)
    assert r.change_rate == Decimal("-0.95960") and r.norm == "BNB-BTC"
    _same(r, nz.binance_ticker("binance-spot", ws, **KW))


@pytest.mark.parametrize(("call", "field"), [
    (lambda: nz.parse(b"Too many API requests.", "upbit ticker"), ""),
    (lambda: nz.upbit_ticker({"market": "KRW-BTC", "timestamp": 1}, **KW), "trade_price"),
    (lambda: nz.upbit_ticker({"market": "KRW-BTC", "timestamp": 1, "trade_price": "x"}, **KW),
     "trade_price"),
    (lambda: nz.upbit_tickers({"error": {"name": "x"}}, **KW), ""),
    (lambda: nz.binance_depth("binance-spot", "BTCUSDT", {"lastUpdateId": 1, "bids": [["1"]],
                                                          "asks": []}, **KW), "bids[0]"),
    (lambda: nz.binance_kline("binance-spot", "BTCUSDT", "1m", [1, "2"], **KW), ""),
    (lambda: nz.binance_trade("binance-spot", "BTCUSDT", {"id": 1, "price": "1", "qty": "1",
                                                          "time": 1, "isBuyerMaker": "no"}, **KW), "m"),
])
def test_bad_shapes_name_what_was_wrong(call, field):
    with pytest.raises(BadResponseError) as e:
        call()
    assert e.value.field == field


def test_a_projection_s_state_is_a_memory_ticker_and_book_with_its_exact_values():
    """``from_market_state`` over a real capture's projection: the ticker's last and best
    prices and the book's levels are the projection's own, exactly, and say they are from
    memory with their age."""
    import tempfile
    from pathlib import Path

    from query.market.normalize import from_market_state
    from recorder.importer import import_files
    from recorder.journal.reader import JournalReader
    from state.projector import Projector
    from tools.captures import HFTBACKTEST_USDM

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "d"
        import_files(data, [HFTBACKTEST_USDM], venue="binance-usdm")
        with JournalReader(data) as reader:
            p = Projector(reader.streams())
            p.apply_many(reader.read())
    m = p.market("binance-usdm", "BTCUSDT")
    book = p.book("binance-usdm", "BTCUSDT")
    now = p.ts_ns + 5_000_000
    ticker, ob = from_market_state(m, book, now_ns=now, depth=5)
    assert ticker is not None and ob is not None
    assert (ticker.source, ob.source) == ("memory", "memory")
    assert ticker.last == m.last_price and (ticker.bid, ticker.ask) == (m.best_bid, m.best_ask)
    assert [tuple(lv) for lv in ob.bids] == [tuple(lv) for lv in book.top_bids(5)]
    assert [tuple(lv) for lv in ob.asks] == [tuple(lv) for lv in book.top_asks(5)]
    assert ob.spread == m.best_ask - m.best_bid and ticker.age_ms >= 5
