"""Exact price levels: one side's sizes, removal, price spellings, exact order, best price and
top N against a brute-force sort (the sides live in the core, ``ticktape::levels``, and are
driven here through a ``Book``), and the price and size checks (``state.levels``)."""

from __future__ import annotations

import random
import re
from decimal import Decimal as D
from pathlib import Path

from state.book import Book
from state.events import BookDelta, BookSnapshot
from state.levels import fixed, is_zero, known_price, price_key, size_ok


class Side:
    """One side of a book (OKX's rule without ids: every delta applies), the other empty."""

    def __init__(self, bids: bool) -> None:
        self.bids = bids
        self.book = Book("v", "S", "S-T", "okx")
        self.seq = 1
        self.book.apply_snapshot(BookSnapshot("v", "S", "S-T", 0, 1, 1, (), ()), [], self._report)

    def _report(self, ev, kind, detail, out) -> None:
        assert kind == "unparseable", (kind, detail)
        self.rejected += int(detail.split()[0])

    def apply(self, levels) -> int:
        """Set absolute sizes; returns the count of rejected levels."""
        self.seq += 1
        self.rejected = 0
        lv = tuple(levels)
        self.book.apply_delta(BookDelta("v", "S", "S-T", 0, self.seq, self.seq,
                                        lv if self.bids else (), () if self.bids else lv),
                              [], self._report)
        return self.rejected

    def top(self, n: int) -> list[tuple[D, D]]:
        return self.book.top_bids(n) if self.bids else self.book.top_asks(n)

    def best(self) -> D | None:
        return self.book.best_bid() if self.bids else self.book.best_ask()

    def ordered(self) -> list[str]:
        return [p for p, _ in self.book.raw_levels()[0 if self.bids else 1]]

    def raw(self) -> list[tuple[str, str]]:
        return self.book.raw_levels()[0 if self.bids else 1]


def test_levels_set_remove_and_order():
    bids, asks = Side(True), Side(False)
    assert bids.apply([("10.0", "1"), ("9.5", "2"), ("9", "3"), ("8", "4")]) == 0
    assert asks.apply([("11", "1"), ("12.5", "2")]) == 0
    assert bids.top(3) == [(D("10.0"), D(1)), (D("9.5"), D(2)), (D(9), D(3))]
    assert asks.top(5) == [(D(11), D(1)), (D("12.5"), D(2))]
    bids.apply([("10.0", "0.000"), ("9.75", "5")])
    asks.apply([("11", "0"), ("10.5", "1")])
    assert bids.best() == D("9.75") and asks.best() == D("10.5")
    bids.apply([("7", "0")])  # removing an absent level is normal
    assert bids.ordered() == ["9.75", "9.5", "9", "8"] and asks.ordered() == ["10.5", "12.5"]
    assert len(bids.book) == 4 and bids.top(0) == [] and bids.top(-1) == []


def test_two_spellings_of_one_price_are_one_level():
    s = Side(True)
    s.apply([("100.50", "1")])
    s.apply([("100.5", "2")])
    assert s.top(5) == [(D("100.5"), D(2))] and s.raw() == [("100.5", "2")]
    s.apply([("100.50", "0")])
    assert s.top(5) == [] and s.best() is None
    # within one update, in order: the later spelling and size win
    s.apply([("7.0", "1"), ("7", "3"), ("7.00", "0"), ("7.000", "4")])
    assert s.raw() == [("7.000", "4")]


def test_bad_levels_are_rejected_and_counted():
    s = Side(True)
    assert s.apply([("-1", "1"), ("abc", "1"), ("NaN", "1"), ("5", "-2"), ("4", "1")]) == 4
    assert s.top(5) == [(D(4), D(1))] and s.raw() == [("4", "1")]
    # a bad price string counts once per update, however often it comes (as before)
    assert s.apply([("abc", "1"), ("abc", "2"), ("x", "0")]) == 2


def test_a_bad_size_for_a_known_level_is_rejected_too():
    s = Side(True)
    assert s.apply([("5", "1"), ("4", "2")]) == 0
    bad = [("5", "-1"), ("4", "NaN"), ("6.5", "1e5"), ("3", "1.2.3"), ("2", "²"), ("1", "0.5")]
    assert s.apply(bad) == 5
    assert s.top(5) == [(D(5), D(1)), (D(4), D(2)), (D(1), D("0.5"))]
    # one size with two dots among good ones is caught too (each size is checked alone)
    assert s.apply([("5", "1.2.3"), ("4", "7")]) == 1 and s.top(1) == [(D(5), D(1))]


def test_best_survives_heavy_churn():
    s = Side(True)
    for i in range(1, 3000):
        s.apply([(str(i), "1")])
        if i > 5:
            s.apply([(str(i - 5), "0")])
    assert s.best() == D(2999) and len(s.book) == 5
    assert [p for p, _ in s.top(10)] == [D(i) for i in range(2999, 2994, -1)]


def test_long_prices_order_exactly():
    s = Side(True)
    s.apply([("0.1", "1"), ("0.09", "2")])
    assert s.best() == D("0.1")
    # 21 significant digits: its float would order it below 0.1 (0.1's float is larger)
    s.apply([("0.10000000000000000001", "3")])
    assert s.top(3) == [(D("0.10000000000000000001"), D(3)), (D("0.1"), D(1)), (D("0.09"), D(2))]
    s.apply([("0.10000000000000000001", "0")])
    assert s.ordered() == ["0.1", "0.09"]


def test_prices_whose_float_is_not_a_price_are_judged_exactly():
    s = Side(True)
    assert s.apply([("nan", "1"), ("inf", "1"), ("0", "1"), ("-0.5", "1"), ("0x10", "1")]) == 5
    assert s.top(5) == []
    assert s.apply([("1e-400", "1"), ("2", "1")]) == 0  # positive, though its float is 0
    assert s.top(5) == [(D(2), D(1)), (D("1e-400"), D(1))]
    assert s.raw() == [("2", "1"), ("1e-400", "1")]  # the strings as sent


def test_new_levels_are_found_among_known_ones_in_one_update():
    s = Side(True)
    s.apply([("10", "1"), ("9", "1")])
    # known, new, a known one removed, a new one twice (last size wins), a bad new one
    assert s.apply([("10", "2"), ("9.5", "1"), ("9", "0"), ("8", "1"), ("8", "4"), ("x", "1"),
                    ("7", "-1")]) == 2
    assert s.top(10) == [(D(10), D(2)), (D("9.5"), D(1)), (D(8), D(4))]
    assert "x" not in dict(s.raw()) and "7" not in dict(s.raw())
    s.apply([("9", "3")])  # a removed level comes back
    assert s.top(2) == [(D(10), D(2)), (D("9.5"), D(1))] and s.top(10)[2] == (D(9), D(3))


def _brute(levels: dict[str, str], bids: bool) -> list[tuple[D, D]]:
    """Every live level, best first, by sorting exact Decimals."""
    live = [(D(p), D(q)) for p, q in levels.items() if D(q) != 0]
    return sorted(live, key=lambda lv: -lv[0] if bids else lv[0])


def _check_against_brute(seed: int, long_prices: bool) -> None:
    rng = random.Random(seed)
    sides = (Side(True), Side(False))
    truth = ({}, {})  # exact price -> (price string, size string), per side

    def spell(v: int) -> str:  # one price, several spellings; sometimes 16+ digits
        s = f"{v / 100:.2f}"
        r = rng.random()
        if r < 0.1:
            s = s + "0"
        elif r < 0.15:
            s = f"{v}e-2"
        elif long_prices and r < 0.2:
            s = s + "0" * 14 + "1"  # not the float's value: exact order only
        return s

    for step in range(1500):
        update = ([], [])
        for side in (0, 1):
            for _ in range(rng.randint(0, 12)):
                v = rng.randint(9_000, 10_000) if side == 0 else rng.randint(10_001, 11_000)
                p = spell(v)
                q = "0" if rng.random() < 0.4 else rng.choice(["1", "0.5", "2.250", "3"])
                update[side].append((p, q))
                book = truth[side]
                book.pop(D(p), None)
                if D(q) != 0:
                    book[D(p)] = (p, q)
        for side in (0, 1):
            sides[side].apply(update[side])
        if step % 13 == 0 or step > 1480:
            n = rng.choice([1, 5, 20, 200])
            for side in (0, 1):
                want = _brute({p: q for p, q in truth[side].values()}, side == 0)
                assert sides[side].top(n) == want[:n], step
                assert sides[side].best() == (want[0][0] if want else None)
    for side in (0, 1):
        want = sorted(truth[side].values(), key=lambda lv: -D(lv[0]) if side == 0 else D(lv[0]))
        assert sides[side].raw() == want  # the newest spelling of each price, as sent


def test_top_n_equals_a_brute_force_sort_after_random_updates():
    for seed in (1, 2, 3):
        _check_against_brute(seed, long_prices=False)


def test_top_n_equals_a_brute_force_sort_with_long_prices():
    for seed in (4, 5):
        _check_against_brute(seed, long_prices=True)


def test_price_and_size_helpers():
    assert price_key("61000.50") == D("61000.50") and known_price("61000.50") == D("61000.50")
    assert price_key("0") is None and price_key("-1") is None and price_key("nan") is None
    assert known_price("never parsed 1.234") is None
    assert is_zero("0.000") and is_zero("00") and not is_zero("0.01")
    assert size_ok("12.5") and size_ok("0") and not size_ok("1e5") and not size_ok("1.2.3")
    assert fixed(D("1E-7")) == "0.0000001"


def test_the_price_memo_is_used_only_through_its_public_names():
    """``_POS`` is private to state.levels: others call ``known_price`` / ``price_key``."""
    root = Path(__file__).resolve().parents[2]
    users = [str(f.relative_to(root)) for d in ("state", "recorder", "replay", "query", "tools")
             for f in sorted((root / d).rglob("*.py")) if re.search(r"\b_POS\b", f.read_text())]
    assert users == ["state/levels.py"]
