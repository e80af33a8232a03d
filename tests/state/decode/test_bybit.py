"""Bybit v5: snapshot/delta books continuous on the capture; u == 1 resets; markets apart."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, Record, StreamInfo
from state.events import BookDelta, BookSnapshot, Gap, Kline, Ticker, Trade
from state.projector import Projector


def test_books_are_continuous_with_u_plus_one(projected):
    p, events = projected("BYBIT")
    assert not [e for e in events if type(e) is Gap]
    last: dict[str, int] = {}
    deltas = 0
    for e in events:
        if type(e) is BookSnapshot:
            last[e.symbol] = e.update_id
        elif type(e) is BookDelta:
            assert e.last_id == last[e.symbol] + 1, e
            last[e.symbol] = e.last_id
            deltas += 1
    assert deltas == 2142 and len(last) == 6
    assert len([e for e in events if type(e) is BookSnapshot]) == 6
    assert p.counters == {}  # no gap, no anomaly
    assert sorted(last) == ["BTCUSDT", "ETHUSDT", "linear:BTCUSDT", "linear:DOGEUSDT",
                            "linear:ETHUSDT", "linear:SOLUSDT"]
    for sym in last:
        b = p.book("bybit", sym)
        assert b.valid and not b.crossed and b.last_id == last[sym] and b.gaps == 0 and b.stale == 0
    # spot and linear BTCUSDT are different books
    assert p.book("bybit", "BTCUSDT") is not p.book("bybit", "linear:BTCUSDT")
    assert p.market("bybit", "linear:BTCUSDT").norm == "BTC-USDT-PERP"
    assert p.market("bybit", "BTCUSDT").norm == "BTC-USDT"
    assert {type(e) for e in events} >= {Ticker, Trade, Kline}


def frame(seq, obj: bytes):
    return Record(seq, seq, 1, FRAME, obj, None)


def test_u_equal_one_overwrites_and_a_skipped_u_is_a_gap():
    p = Projector({1: StreamInfo(1, "bybit", "linear", "wss://stream.bybit.com/v5/public/linear")})
    p.apply(frame(1, b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT",'
                     b'"b":[["100","1"]],"a":[["101","1"]],"u":500,"seq":1},"cts":1}'))
    p.apply(frame(2, b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT",'
                     b'"b":[["100","0"],["99.5","2"]],"a":[],"u":501,"seq":2},"cts":2}'))
    b = p.book("bybit", "BTC-USDT-PERP")
    assert b.valid and b.best_bid_level() == (Decimal("99.5"), Decimal(2))
    evs = p.apply(frame(3, b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":3,"data":{"s":"BTCUSDT",'
                           b'"b":[],"a":[["101","3"]],"u":503,"seq":3},"cts":3}'))
    [g] = [e for e in evs if type(e) is Gap]
    assert (g.expected, g.got, g.symbol) == (502, 503, "linear:BTCUSDT") and not b.valid
    assert p.books_needing_snapshot() == [("bybit", "linear:BTCUSDT")]
    assert p.books_needing_snapshot(rest_only=True) == []  # Bybit resyncs by resubscribing
    # service restart: u == 1 carries a full book, whatever the type says
    p.apply(frame(4, b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":4,"data":{"s":"BTCUSDT",'
                     b'"b":[["98","1"]],"a":[["102","1"]],"u":1,"seq":4},"cts":4}'))
    assert b.valid and b.top_bids(5) == [(Decimal(98), Decimal(1))] and b.last_id == 1
    p.apply(frame(5, b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"s":"BTCUSDT",'
                     b'"b":[["98.5","1"]],"a":[],"u":2,"seq":5},"cts":5}'))
    assert b.valid and b.best_bid() == Decimal("98.5")
    assert p.apply(frame(6, b'{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}')) == []
