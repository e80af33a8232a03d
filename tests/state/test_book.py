"""The exact book: levels, lazy removal, price spellings, best prices, top-N."""

from __future__ import annotations

from decimal import Decimal as D

from state.book import Book


def test_levels_set_remove_and_order():
    b = Book("v", "S", "S", "binance-usdm", depth=3)
    assert b.load([("10.0", "1"), ("9.5", "2"), ("9", "3"), ("8", "4")], [("11", "1"), ("12.5", "2")]) == 0
    assert b.bids == [(D("10.0"), D(1)), (D("9.5"), D(2)), (D(9), D(3))]
    assert b.asks == [(D(11), D(1)), (D("12.5"), D(2))]
    b.apply([("10.0", "0.000"), ("9.75", "5")], [("11", "0"), ("10.5", "1")])
    assert b.best_bid_level() == (D("9.75"), D(5)) and b.best_ask_level() == (D("10.5"), D(1))
    assert len(b) == 6
    b.apply([("7", "0")], [])  # removing an absent level is normal
    assert len(b) == 6
    bids, asks = b.raw_levels()
    assert bids == [("9.75", "5"), ("9.5", "2"), ("9", "3"), ("8", "4")] and asks[0] == ("10.5", "1")


def test_two_spellings_of_one_price_are_one_level():
    b = Book("v", "S", "S", "okx")
    b.load([("100.50", "1")], [])
    b.apply([("100.5", "2")], [])
    assert b.top_bids(5) == [(D("100.5"), D(2))] and len(b) == 1
    b.apply([("100.50", "0")], [])
    assert b.top_bids(5) == [] and b.best_bid() is None


def test_bad_levels_are_rejected_and_counted():
    b = Book("v", "S", "S", "okx")
    assert b.load([("-1", "1"), ("abc", "1"), ("NaN", "1"), ("5", "-2"), ("4", "1")], []) == 4
    assert b.top_bids(5) == [(D(4), D(1))]


def test_best_survives_heavy_churn_and_sweeps():
    b = Book("v", "S", "S", "binance-usdm")
    for i in range(1, 3000):
        b.apply([(str(i), "1")], [(str(10_000 + i), "1")])
        if i > 5:
            b.apply([(str(i - 5), "0")], [(str(10_000 + i - 5), "0")])
    assert b.best_bid() == D(2999) and b.best_ask() == D(12995)
    assert len(b) == 10 and len(b.bid_side.levels) < 600  # removed levels were swept
    assert [p for p, _ in b.top_bids(10)] == [D(i) for i in range(2999, 2994, -1)]
