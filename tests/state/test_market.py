"""Per-symbol state and its picture (``state.market``): where best bid/ask come from, the
derived numbers, and the state a checkpoint keeps."""

from __future__ import annotations

from decimal import Decimal as D

import msgpack

from state.book import Book
from state.events import BookSnapshot, BookTicker, Trade
from state.features import NS
from state.market import SymbolState, market_state, reference_price, state_json


def ev_kw(seq: int) -> dict:
    return dict(venue="binance-usdm", symbol="BTCUSDT", norm="BTC-USDT-PERP", exch_ts_ns=seq,
                recv_ts_ns=seq * NS, seq=seq)


def symbol_with_a_book() -> SymbolState:
    st = SymbolState("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", 900 * NS, 1000.0)
    st.book = Book("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", "binance-usdm", depth=2)
    st.book.apply_snapshot(BookSnapshot(**ev_kw(1), bids=(("100", "3"), ("99", "1")),
                                        asks=(("101", "1"), ("102", "5")), update_id=10, depth=20),
                           [], lambda *a: None)
    st.tape.add(2 * NS, 100.5, 2.0, True, False)
    st.last_trade = Trade(**ev_kw(2), price="100.5", size="2", side="buy", trade_id="7", ordinal=7)
    st.last_ordinal = 7
    st.quote = BookTicker(**ev_kw(3), bid_px="100", bid_sz="3", ask_px="101", ask_sz="1", update_id=10)
    st.ticker = {"last": "100.5", "mark": "100.4"}
    st.klines = {"1m": [0, "1", "2", "0.5", "1.5", "10", None, False, 4]}
    st.seq, st.ts_ns = 3, 3 * NS
    return st


def test_the_picture_of_a_synced_book():
    st = symbol_with_a_book()
    m = market_state(st, 3 * NS, 2, (60, 300), 3.0)
    assert (m.source, m.valid, m.crossed) == ("book", True, False)
    assert (m.best_bid, m.best_bid_size, m.best_ask, m.best_ask_size) == (D(100), D(3), D(101), D(1))
    assert (m.spread, m.mid) == (D(1), D("100.5")) and m.weighted_mid == D("100.75")
    assert (m.bid_depth, m.ask_depth) == (D(4), D(6)) and m.imbalance == -0.2
    assert (m.last_price, m.last_side, m.windows[60].trades) == (D("100.5"), "buy", 1)
    assert reference_price(m) == D("100.5")
    doc = state_json(m, st.book, 1)
    assert doc["bids"] == [["100", "3"]] and doc["features"]["weighted_mid"] == "100.75"


def test_without_a_book_the_quote_then_the_ticker_speak():
    st = symbol_with_a_book()
    st.book = None
    m = market_state(st, 3 * NS, 2, (60,), 3.0)
    assert (m.source, m.valid, m.best_bid, m.best_ask_size) == ("quote", True, D(100), D(1))
    st.quote = None
    st.ticker = {"bid": "99", "ask": "99"}
    m = market_state(st, 3 * NS, 2, (60,), 3.0)
    assert (m.source, m.crossed, m.mid) == ("ticker", True, D(99))


def test_state_round_trips_exactly():
    st = symbol_with_a_book()
    s = st.state()
    assert s[:3] == ["binance-usdm", "BTCUSDT", "BTC-USDT-PERP"] and s[3] == st.book.state()
    again = SymbolState.from_state(msgpack.unpackb(msgpack.packb(s), raw=False))
    assert msgpack.packb(again.state()) == msgpack.packb(s)
    assert again.last_trade == st.last_trade and again.quote == st.quote
    assert again.book.raw_levels() == st.book.raw_levels() and again.quote_ok is False  # a cache
    assert market_state(again, 3 * NS, 2, (60,), 3.0) == market_state(st, 3 * NS, 2, (60,), 3.0)
