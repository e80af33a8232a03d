"""Validation findings, counted per stream: what each kind means and how to classify."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# kind -> meaning. Every Anomaly event's ``kind`` is one of these.
KINDS: dict[str, str] = {
    "nan": "a price or size that is NaN or infinite",
    "nonpositive_price": "a price <= 0",
    "bad_size": "a size < 0 (or <= 0 for a trade)",
    "unparseable": "a price or size that is not a number",
    "crossed_book": "the book's best bid reached its best ask (counted when it starts)",
    "crossed_quote": "a book ticker / ticker with bid >= ask",
    "duplicate_trade": "a trade id equal to the previous one (or seen recently)",
    "out_of_order_trade": "a trade id lower than the previous one",
    "exch_ts_backwards": "an exchange timestamp earlier than the previous one of its kind",
    "recv_ts_backwards": "a record's receive time earlier than the stream's previous one",
    "total_mismatch": "Upbit total_ask_size/total_bid_size differ from the sum of levels",
    "ticker_mismatch": "a book ticker disagrees with the book at the same update id",
    "fold_error": "an event that could not be folded (a bug or an impossible value)",
}

# Counter names that are not anomaly kinds.
COUNTS = ("records", "events", "decode_error", "gap")


def classify(value: str) -> str | None:
    """None for a positive finite number, else the anomaly kind for a price."""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return "unparseable"
    if not d.is_finite():
        return "nan"
    if d <= 0:
        return "nonpositive_price"
    return None


def classify_size(value: str, *, strict: bool) -> str | None:
    """None for a usable size (> 0 when ``strict``, >= 0 otherwise), else the kind."""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return "unparseable"
    if not d.is_finite():
        return "nan"
    if d < 0 or (strict and d == 0):
        return "bad_size"
    return None


class Counters:
    """stream id -> counter name -> count (names: ``KINDS`` plus ``COUNTS``)."""

    __slots__ = ("by_stream",)

    def __init__(self) -> None:
        self.by_stream: dict[int, dict[str, int]] = {}

    def add(self, stream: int, name: str, n: int = 1) -> None:
        c = self.by_stream.get(stream)
        if c is None:
            c = self.by_stream[stream] = {}
        c[name] = c.get(name, 0) + n

    def get(self, stream: int, name: str) -> int:
        return self.by_stream.get(stream, {}).get(name, 0)

    def total(self, name: str) -> int:
        return sum(c.get(name, 0) for c in self.by_stream.values())

    def state(self) -> list:
        """``[[stream, [[name, count], ...]], ...]``, sorted (for ``state.digest``)."""
        return [[s, sorted(c.items())] for s, c in sorted(self.by_stream.items())]

    @classmethod
    def from_state(cls, s: list) -> Counters:
        c = cls()
        for stream, counts in s:
            c.by_stream[stream] = dict(counts)
        return c

    def as_dict(self) -> dict[int, dict[str, int]]:
        """A sorted plain copy (stable for JSON and digests)."""
        return {s: dict(sorted(c.items())) for s, c in sorted(self.by_stream.items())}
