"""Exact prices: the price parsing every fold shares, and the book's size checks.

The levels of a book and their order live in the compiled core (``ticktape::levels``, under
``state.book.Book``): exact keys, two spellings of one value one level, strings kept as
sent. Here: ``price_key`` / ``known_price``, the memoized ``Decimal`` of a price string the
projector's other folds use (trades, tickers, klines, book tickers); ``is_zero`` and
``size_ok``, the book's own size checks (the core's, exposed); ``fixed``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import ticktape_core

# Memo of price string -> Decimal for validation outside books. Pure: cleared when large.
_POS: dict[str, Decimal] = {}
_MEMO_MAX = 200_000


# The memoized Decimal of a price string ``price_key`` has already parsed, else None: the
# cheap first try of a hot path (a dict lookup, no call), before ``price_key``.
known_price = _POS.get


def price_key(p: str) -> Decimal | None:
    """The Decimal of a price string, or None when it is not a positive finite number."""
    k = _POS.get(p)
    if k is None:
        try:
            k = Decimal(p)
        except (InvalidOperation, TypeError, ValueError):
            return None
        if not k.is_finite() or k <= 0:
            return None
        if len(_POS) >= _MEMO_MAX:
            _POS.clear()
        _POS[p] = k
    return k


# The book's size checks, as the core makes them (ticktape::price): one implementation.
is_zero = ticktape_core.is_zero  # a size string that means "remove the level" ("0", "0.000", "00")
size_ok = ticktape_core.size_ok  # ASCII digits with at most one dot ("0" removes the level)


def fixed(d: Decimal) -> str:
    """A Decimal as a plain decimal string (never ``1E-7``)."""
    return format(d, "f")
