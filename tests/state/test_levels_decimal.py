"""The core reads price strings as Python's ``Decimal`` does (``ticktape::price``): over
generated strings, exotic ones included (whitespace, underscores, signs, exponents at and
past libmpdec's limits, NaN/Infinity spellings, non-ASCII digits and spaces, NUL), the book
takes exactly the strings ``Decimal`` reads as positive and finite, writes ``str(Decimal)``
of every string ``Decimal`` reads, and orders prices as their Decimals."""

from __future__ import annotations

import random
from decimal import Decimal, InvalidOperation

import ticktape_core

from state.book import Book
from state.events import BookDelta, BookSnapshot

PIECES = ["0", "1", "5", "9", "00", "123", "0.", ".", ".5", "e", "E", "e-", "e+", "+", "-", "_",
          " ", "\t", "\u00a0", "\u2003", "\u0661", "\uff15", "\U0001d7d8", "x", "nan", "NaN", "sNaN",
          "inf", "Infinity", "In", "\x00", "999999999999999999", "1999999999999999997",
          "1000000000000000000", "12345678901234567890123", "²"]


def python_price(s: str) -> bool:
    try:
        d = Decimal(s)
    except InvalidOperation:
        return False
    return d.is_finite() and d > 0


def python_str(s: str) -> str | None:
    try:
        return str(Decimal(s))
    except InvalidOperation:
        return None


def generated(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:  # the usual shape, sometimes with an exponent
            s = f"{rng.randint(0, 10**rng.randint(1, 25))}"
            if rng.random() < 0.7:
                k = rng.randint(0, len(s))
                s = s[:k] + "." + s[k:]
            if rng.random() < 0.3:
                s += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 10**rng.randint(1, 20)))
        else:
            s = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
        out.append(s)
    return out


def test_the_core_takes_exactly_the_prices_decimal_takes():
    rng = random.Random(16)
    strings = generated(rng, 40_000) + ["1E-1999999999999999997", "1E-1999999999999999998",
                                        "9e999999999999999999", "0.1e1000000000000000000",
                                        "10e999999999999999999", " _1", "_ 1", "1_ ", "In_f"]
    wrong = [s for s in strings if ticktape_core.is_price(s) != python_price(s)]
    assert wrong == []
    wrong = [s for s in strings if ticktape_core.decimal_str(s) != python_str(s)]
    assert wrong == []


def test_the_book_orders_prices_as_their_decimals():
    rng = random.Random(7)
    prices = [s for s in generated(rng, 20_000) if python_price(s)]
    assert len(prices) > 1000
    book = Book("v", "S", "S-T", "okx")
    book.apply_snapshot(BookSnapshot("v", "S", "S-T", 0, 1, 1, (), ()), [], None)
    for i in range(0, len(prices), 50):
        found: list = []
        book.apply_delta(BookDelta("v", "S", "S-T", 0, i + 2, i + 2,
                                   tuple((p, "1") for p in prices[i:i + 50]), ()), [],
                         lambda ev, kind, detail, out: found.append(kind))
        assert found == []
    newest = {}
    for p in prices:  # one level per value, the newest spelling
        newest.pop(Decimal(p), None)
        newest[Decimal(p)] = p
    want = [newest[k] for k in sorted(newest, reverse=True)]
    assert [p for p, _ in book.raw_levels()[0]] == want
