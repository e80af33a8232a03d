"""Upbit: SIMPLE and DEFAULT frames, full-snapshot books, totals, trade-id order, REST."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, REST, Record, StreamInfo
from state.decode.upbit import UpbitDecoder
from state.events import Anomaly, BookSnapshot, Kline, Ticker, Trade

WS = StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1")


def test_tas_tbs_equal_the_sum_of_levels_in_all_145_orderbooks(projected):
    p, events = projected("UPBIT")
    books = [e for e in events if type(e) is BookSnapshot]
    assert len(books) == 145
    for e in books:
        assert Decimal(e.totals[0]) == sum(Decimal(q) for _, q in e.bids), e.seq
        assert Decimal(e.totals[1]) == sum(Decimal(q) for _, q in e.asks), e.seq
        assert len(e.bids) == len(e.asks) == 15
    assert not any(type(e) is Anomaly and e.kind == "total_mismatch" for e in events)
    # each frame replaced its book: the book equals the last frame of its code
    last = {e.symbol: e for e in books}
    for sym, e in last.items():
        b = p.book("upbit", sym)
        assert b.valid and b.top_bids(15) == [(Decimal(x), Decimal(y)) for x, y in e.bids]
        assert b.top_asks(15) == [(Decimal(x), Decimal(y)) for x, y in e.asks]


def test_krw_lamb_trade_ids_go_backwards_six_times(projected):
    p, events = projected("UPBIT")
    trades = [e for e in events if type(e) is Trade]
    assert len(trades) == 304
    lamb = [t.ordinal for t in trades if t.symbol == "KRW-LAMB"]
    backwards = [(a, b) for a, b in zip(lamb, lamb[1:]) if b < a]
    assert len(backwards) == 6
    found = [e for e in events if type(e) is Anomaly and e.kind == "out_of_order_trade"]
    assert [(e.symbol, e.detail) for e in found] == \
        [("KRW-LAMB", f"trade id {b} after {a}") for a, b in backwards]
    [stream] = {e.stream for e in found}
    late = [e for e in events if type(e) is Anomaly and e.kind == "exch_ts_backwards"]
    assert [(e.symbol, e.seq) for e in late] == [(e.symbol, e.seq) for e in found]
    # the only findings on the capture: those 6 ids, and the 6 trade times that go back with them
    assert p.counters == {stream: {"exch_ts_backwards": 6, "out_of_order_trade": 6}}
    assert p.market("upbit", "LAMB-KRW").norm == "LAMB-KRW"


def test_exponent_numbers_stay_exact():
    d = UpbitDecoder(WS)
    [t] = d.decode(Record(1, 1, 1, FRAME, b'{"ty":"trade","cd":"BTC-ITAM","tms":1,"ttms":2,"tp":0.00000113,'
                          b'"tv":3416.89061628,"ab":"ASK","cp":6E-8,"sid":7,"st":"REALTIME"}', {"bin": True}))
    assert (t.price, t.size, t.side, t.ordinal, t.norm) == ("0.00000113", "3416.89061628", "sell", 7, "ITAM-BTC")


def test_default_and_simple_formats_decode_alike():
    d = UpbitDecoder(WS)
    simple = d.decode(Record(1, 5, 1, FRAME, b'{"ty":"orderbook","cd":"KRW-BTC","tms":9,"tas":0.87,"tbs":2.47,'
                             b'"obu":[{"ap":114850000,"bp":114833000,"as":0.11621747,"bs":0.00173353}],'
                             b'"st":"REALTIME"}', {"bin": True}))
    default = d.decode(Record(1, 5, 1, FRAME, b'{"type":"orderbook","code":"KRW-BTC","timestamp":9,'
                              b'"total_ask_size":0.87,"total_bid_size":2.47,"orderbook_units":[{"ask_price":'
                              b'114850000,"bid_price":114833000,"ask_size":0.11621747,"bid_size":0.00173353}],'
                              b'"stream_type":"REALTIME"}', {"bin": True}))
    assert simple == default
    assert simple[0].bids == (("114833000", "0.00173353"),) and simple[0].totals == ("2.47", "0.87")
    [tk] = d.decode(Record(2, 6, 1, FRAME, b'{"type":"ticker","code":"KRW-BTC","trade_price":8629000.0,'
                           b'"opening_price":8450000.0,"acc_trade_volume_24h":6448.96200341,"timestamp":1}', None))
    assert type(tk) is Ticker and (tk.last, tk.open, tk.volume) == ("8629000.0", "8450000.0", "6448.96200341")
    assert (tk.prev_close, tk.change, tk.change_rate) == (None, None, None)  # not sent: None
    [full] = d.decode(Record(2, 6, 1, FRAME, b'{"type":"ticker","code":"KRW-BTC","trade_price":8629000.0,'
                             b'"prev_closing_price":8450000.0,"signed_change_price":-179000,'
                             b'"signed_change_rate":-0.0211834320,"timestamp":1}', None))
    [short] = d.decode(Record(2, 6, 1, FRAME, b'{"ty":"ticker","cd":"KRW-BTC","tp":8629000.0,'
                              b'"pcp":8450000.0,"scp":-1.79E+5,"scr":-0.0211834320,"tms":1}', None))
    assert (full.prev_close, full.change, full.change_rate) == ("8450000.0", "-179000", "-0.0211834320")
    assert full == short
    [k] = d.decode(Record(3, 7, 1, FRAME, b'{"ty":"candle.1m","cd":"KRW-BTC","cdttmu":"2021-04-17T16:51:00",'
                          b'"op":1,"hp":2,"lp":0.5,"tp":1.5,"catv":10,"catp":15,"tms":1}', None))
    assert type(k) is Kline and (k.interval, k.start_ns, k.close) == ("1m", 1618678260_000_000_000, "1.5")
    assert d.decode(Record(4, 8, 1, FRAME, b'{"status":"UP"}', None)) == []
    assert d.decode(Record(5, 9, 1, FRAME, b'{"error":{"name":"NO_TICKET","message":"x"}}', None)) == []


def test_rest_orderbook_ticker_and_candles():
    d = UpbitDecoder(StreamInfo(2, "upbit", "spot", "https://api.upbit.com"))
    [b] = d.decode(Record(1, 1, 2, REST, b'[{"market":"KRW-BTC","timestamp":1,"total_ask_size":1.5,'
                          b'"total_bid_size":2,"orderbook_units":[{"ask_price":101,"bid_price":99,'
                          b'"ask_size":1.5,"bid_size":2}]}]', {"url": "https://api.upbit.com/v1/orderbook?markets=KRW-BTC"}))
    assert type(b) is BookSnapshot and b.source == "rest" and b.asks == (("101", "1.5"),)
    [t] = d.decode(Record(2, 1, 2, REST, b'[{"market":"KRW-ETH","trade_price":4000000.0,"timestamp":5}]',
                          {"url": "https://api.upbit.com/v1/ticker?markets=KRW-ETH"}))
    assert (t.symbol, t.last) == ("KRW-ETH", "4000000.0")
    [t] = d.decode(Record(2, 1, 2, REST, b'[{"market":"KRW-ETH","trade_price":4000000.0,"timestamp":5,'
                          b'"prev_closing_price":3900000,"signed_change_price":100000,'
                          b'"signed_change_rate":0.0256410256}]',
                          {"url": "https://api.upbit.com/v1/ticker?markets=KRW-ETH"}))
    assert (t.prev_close, t.change, t.change_rate) == ("3900000", "100000", "0.0256410256")
    [c] = d.decode(Record(3, 1, 2, REST, b'[{"market":"KRW-BTC","candle_date_time_utc":"2025-06-24T04:56:00",'
                          b'"opening_price":1,"high_price":2,"low_price":1,"trade_price":2,'
                          b'"candle_acc_trade_volume":3,"candle_acc_trade_price":5,"unit":1}]',
                          {"url": "https://api.upbit.com/v1/candles/minutes/1?market=KRW-BTC"}))
    assert (c.interval, c.close, c.volume) == ("1m", "2", "3")
