"""The exact book: levels, lazy removal, price spellings, best prices, top-N."""

from __future__ import annotations

import random
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


def test_a_bad_size_for_a_known_level_is_rejected_too():
    # A level the side already holds is updated in C (dict.update): its size is checked
    # with the rest of the delta, so "-1" or "NaN" never replaces a good size.
    b = Book("v", "S", "S", "binance-usdm")
    assert b.load([("5", "1"), ("4", "2")], [("6", "1")]) == 0
    bad = [("5", "-1"), ("4", "NaN"), ("6.5", "1e5"), ("3", "1.2.3"), ("2", "²"), ("1", "0.5")]
    assert b.apply(bad, [("6", "-3")]) == 6
    assert b.top_bids(5) == [(D(5), D(1)), (D(4), D(2)), (D(1), D("0.5"))]
    assert b.top_asks(5) == [(D(6), D(1))]
    again = Book("v", "S", "S", "binance-usdm")  # what a checkpoint restore does
    again.load(*b.raw_levels())
    assert again.raw_levels() == b.raw_levels()


def test_best_survives_heavy_churn_and_sweeps():
    b = Book("v", "S", "S", "binance-usdm")
    for i in range(1, 3000):
        b.apply([(str(i), "1")], [(str(10_000 + i), "1")])
        if i > 5:
            b.apply([(str(i - 5), "0")], [(str(10_000 + i - 5), "0")])
    assert b.best_bid() == D(2999) and b.best_ask() == D(12995)
    assert len(b) == 10 and len(b.bid_side.levels) < 600  # removed levels were swept
    assert [p for p, _ in b.top_bids(10)] == [D(i) for i in range(2999, 2994, -1)]


def test_short_prices_order_by_float_and_a_long_one_makes_the_side_exact():
    b = Book("v", "S", "S", "binance-usdm")
    b.load([("0.1", "1"), ("0.09", "2")], [("0.2", "1")])
    assert not b.bid_side.exact and b.best_bid() == D("0.1")
    # 21 significant digits: its float would order it below 0.1 (0.1's float is larger)
    b.apply([("0.10000000000000000001", "3")], [])
    assert b.bid_side.exact and not b.ask_side.exact
    assert b.top_bids(3) == [(D("0.10000000000000000001"), D(3)), (D("0.1"), D(1)), (D("0.09"), D(2))]
    assert not b.check_crossed()
    b.apply([], [("0.100000000000000000005", "1")])  # below that bid: crossed, exactly
    assert b.ask_side.exact and b.check_crossed() and b.crossed
    b.apply([("0.10000000000000000001", "0")], [])
    assert b.best_bid_level() == (D("0.1"), D(1)) and not b.check_crossed() and not b.crossed
    bids, asks = b.raw_levels()
    assert bids == [("0.1", "1"), ("0.09", "2")] and asks == [("0.100000000000000000005", "1"), ("0.2", "1")]


def test_prices_whose_float_is_not_a_price_are_judged_exactly():
    b = Book("v", "S", "S", "binance-usdm")
    assert b.load([("nan", "1"), ("inf", "1"), ("0", "1"), ("-0.5", "1"), ("0x10", "1")], []) == 5
    assert b.top_bids(5) == [] and not b.bid_side.exact
    assert b.apply([("1e-400", "1"), ("2", "1")], []) == 0  # positive, though its float is 0
    assert b.bid_side.exact and b.top_bids(5) == [(D(2), D(1)), (D("1e-400"), D(1))]


def test_new_levels_are_found_among_known_ones_in_one_update():
    b = Book("v", "S", "S", "binance-usdm")
    b.load([("10", "1"), ("9", "1")], [("11", "1")])
    # known, new, a known one removed, a new one twice (last size wins), a bad new one
    assert b.apply([("10", "2"), ("9.5", "1"), ("9", "0"), ("8", "1"), ("8", "4"), ("x", "1"),
                    ("7", "-1")], [("11.5", "1")]) == 2
    assert b.top_bids(10) == [(D(10), D(2)), (D("9.5"), D(1)), (D(8), D(4))]
    assert b.top_asks(10) == [(D(11), D(1)), (D("11.5"), D(1))]
    assert "x" not in b.bid_side.levels and "7" not in b.bid_side.levels
    b.apply([("9", "3")], [])  # a removed level comes back
    assert b.top_bids(2) == [(D(10), D(2)), (D("9.5"), D(1))] and b.top_bids(10)[2] == (D(9), D(3))


def _brute(levels: dict[str, str], bids: bool) -> list[tuple[D, D]]:
    """Every live level, best first, by sorting exact Decimals."""
    live = [(D(p), D(q)) for p, q in levels.items() if D(q) != 0]
    return sorted(live, key=lambda lv: -lv[0] if bids else lv[0])


def _check_against_brute(seed: int, long_prices: bool) -> None:
    rng = random.Random(seed)
    b = Book("v", "S", "S", "binance-usdm")
    truth = ({}, {})  # exact price -> (price string, size string), per side

    def spell(v: int) -> str:  # one price, several spellings; sometimes 16+ digits
        if v in spelled:  # within one update a venue spells a price one way
            return spelled[v]
        s = spelled[v] = f"{v / 100:.2f}"
        r = rng.random()
        if r < 0.1:
            s = spelled[v] = s + "0"
        elif long_prices and r < 0.13:
            s = spelled[v] = s + "0" * 14 + "1"  # not the float's value: exact order only
        return s

    for step in range(1500):
        spelled: dict[int, str] = {}
        sides = ([], [])
        for side in (0, 1):
            for _ in range(rng.randint(0, 12)):
                v = rng.randint(9_000, 10_000) if side == 0 else rng.randint(10_001, 11_000)
                p = spell(v)
                q = "0" if rng.random() < 0.4 else rng.choice(["1", "0.5", "2.250", "3"])
                sides[side].append((p, q))
                book = truth[side]
                book.pop(D(p), None)
                if D(q) != 0:
                    book[D(p)] = (p, q)
        if step % 500 == 0:
            b.load(*sides)
            truth = tuple({D(p): (p, q) for p, q in s if D(q) != 0} for s in sides)
        else:
            b.apply(*sides)
        if step % 13 == 0 or step > 1480:
            n = rng.choice([1, 5, 20, 200])
            want_b = _brute({p: q for p, q in truth[0].values()}, True)
            want_a = _brute({p: q for p, q in truth[1].values()}, False)
            assert b.top_bids(n) == want_b[:n] and b.top_asks(n) == want_a[:n], step
            assert b.best_bid() == (want_b[0][0] if want_b else None)
            assert b.best_ask() == (want_a[0][0] if want_a else None)
    bids, asks = b.raw_levels()
    assert [(D(p), D(q)) for p, q in bids] == _brute({p: q for p, q in truth[0].values()}, True)
    assert [(D(p), D(q)) for p, q in asks] == _brute({p: q for p, q in truth[1].values()}, False)
    assert len(b) == len(bids) + len(asks)


def test_top_n_equals_a_brute_force_sort_after_random_updates():
    for seed in (1, 2, 3):
        _check_against_brute(seed, long_prices=False)


def test_top_n_equals_a_brute_force_sort_on_exact_sides():
    for seed in (4, 5):
        _check_against_brute(seed, long_prices=True)


def test_top_n_reads_do_not_walk_the_same_removed_levels_again():
    b = Book("v", "S", "S", "binance-usdm")
    b.load([(str(i), "1") for i in range(1, 1001)], [(str(i), "1") for i in range(2001, 3001)])
    b.apply([(str(i), "0") for i in range(900, 1001)], [])  # 101 removed at the top
    assert [p for p, _ in b.top_bids(3)] == [D(899), D(898), D(897)]
    lad = b.bid_side.ladder
    assert b.bid_side.text[lad[0]] == "899" and len(lad) == 899  # walked-past dead ones dropped
    b.apply([("950", "2")], [])  # a dropped level comes back
    assert b.top_bids(2) == [(D(950), D(2)), (D(899), D(1))]
