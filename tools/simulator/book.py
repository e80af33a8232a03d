"""A price-level book for the simulator: exact price/qty strings, ordered by price."""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedDict


def _zero(qty: str) -> bool:
    return qty.strip("0.") == ""


class Book:
    """Bids and asks as ``price -> (price_str, qty_str)``, sorted by the numeric price.

    Floats only order the levels (within one symbol prices share a tick, so they never
    collide); the strings are kept byte-exact for what the simulator sends.
    """

    __slots__ = ("bids", "asks")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    @classmethod
    def from_levels(cls, bids: Iterable[list[str]], asks: Iterable[list[str]]) -> Book:
        """A book holding the given ``[price, qty]`` levels (zero quantities skipped)."""
        book = cls()
        book.apply(bids, asks)
        return book

    def apply(self, bids: Iterable[list[str]], asks: Iterable[list[str]]) -> None:
        """Set each level's absolute quantity; quantity 0 removes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                key = float(price)
                if _zero(qty):
                    side.pop(key, None)
                else:
                    side[key] = (price, qty)

    def top(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        """Best ``n`` bids (high to low) and asks (low to high) as ``[price, qty]`` lists."""
        bids = [list(self.bids.peekitem(-1 - i)[1]) for i in range(min(n, len(self.bids)))]
        asks = [list(self.asks.peekitem(i)[1]) for i in range(min(n, len(self.asks)))]
        return bids, asks

    def copy(self) -> Book:
        """An independent copy."""
        book = Book()
        book.bids = self.bids.copy()
        book.asks = self.asks.copy()
        return book

    def diff_to(self, target: Book) -> tuple[list[list[str]], list[list[str]]]:
        """Levels that turn this book into ``target`` (a removed level gets quantity 0)."""
        out: list[list[list[str]]] = []
        for mine, theirs in ((self.bids, target.bids), (self.asks, target.asks)):
            levels = [[p, "0"] for k, (p, _q) in mine.items() if k not in theirs]
            levels += [list(v) for k, v in theirs.items() if mine.get(k) != v]
            out.append(levels)
        return out[0], out[1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Book) and self.bids == other.bids and self.asks == other.asks

    __hash__ = None  # type: ignore[assignment]
