"""Exact price levels: one side of a book (price string -> size string) and its order.

Each side maps the exchange's price string to its size string, so an update to an
existing level is one dict store and nothing is ever rounded (OKX checksums are
recomputed from exactly what was sent). Order comes from exact keys parsed once per
distinct price string (see ``Side``): per side (bids negated) a heap for the best
price and a lazily merged sorted ladder for the top N, both with lazy deletion,
rebuilt when the side grows to four times its live levels. Two strings of one value ("1.50",
"1.5") are one level: a new string whose value is already present replaces the old one.

A ``Side`` is the storage under ``state.book.Book``; only the book (and so only its sync
rule) writes one. ``NoLevels`` stands in for it in a sync-only book. Also here: the price
parsing every fold shares (``price_key``, ``known_price``) and the size checks.
"""

from __future__ import annotations

from bisect import insort
from decimal import Decimal, InvalidOperation
from heapq import heapify, heappop, heappush
from itertools import islice
from operator import itemgetter

# Memo of price string -> Decimal for validation outside books. Pure: cleared when large.
_POS: dict[str, Decimal] = {}
_MEMO_MAX = 200_000
_INF = float("inf")
_size = itemgetter(1)
_SIZE_CHARS = b"0123456789."


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


def is_zero(q: str) -> bool:
    """A size string that means "remove the level" ("0", "0.000", "00")."""
    return not q.strip("0.")


def size_ok(q: str) -> bool:
    """A size string the book takes: ASCII digits with at most one dot ("0" removes the level)."""
    b = q.encode()
    return not b.translate(None, _SIZE_CHARS) and b.count(b".") <= 1


def fixed(d: Decimal) -> str:
    """A Decimal as a plain decimal string (never ``1E-7``)."""
    return format(d, "f")


class Side:
    """One side: price string -> size string, ordered by keys (bids negated).

    Removals are lazy: a size-0 update is stored like any other (one C-level
    ``dict.update`` per delta, no per-level test), and zero levels are skipped when
    read and swept out when the side has grown to four times its live levels (a level
    removed and sent again stays one dict store; a swept one is admitted anew). New
    price strings are found without a scan: ``dict.update`` appends them at the end
    of the dict, so they are the last ``len(after) - len(before)`` keys. Only those go through Python: parse, validate,
    push the key on the heap and queue it in ``fresh``.

    Two orders of the same keys, each paid for by the reads that need it:

    - ``heap``, a min-heap, for the best price (read after every delta, to flag a
      crossed book): a push per new level, O(log n);
    - ``ladder``, every key in order, best first, for the top ``n`` (read by the
      query layer and by OKX checksums): kept sorted lazily. A read merges the keys
      queued in ``fresh`` since the last read (``insort`` for a few, one near-linear
      timsort of a sorted run and a short tail for many), then walks from the best:
      O(n + dead levels walked past), independent of the side's size. The dead ones
      walked past are dropped, so the next read does not meet them again.

    Ordering keys are exact. A price of at most 15 characters has at most 15
    significant digits, so its float is distinct from (and ordered like) the float of
    any other such price (IEEE-754 doubles hold 15 decimal digits): those keys are
    floats, cheap to make and compare. The first longer price turns the side
    ``exact``: every key is rebuilt as a ``Decimal``. Prices read from the book are
    always the ``Decimal`` of the string that was sent.
    """

    __slots__ = ("levels", "heap", "ladder", "fresh", "key", "text", "neg", "sweep_at", "exact")

    def __init__(self, neg: bool) -> None:
        self.levels: dict[str, str] = {}  # price string -> size string ("0" = removed)
        self.heap: list = []  # ordering keys (float, or Decimal when exact), possibly stale
        self.ladder: list = []  # the keys of text (fresh excepted), sorted, possibly stale
        self.fresh: list = []  # keys new to text since the last ladder read
        self.key: dict[str, float | Decimal] = {}  # price string -> ordering key (memo)
        self.text: dict[float | Decimal, str] = {}  # ordering key -> the price string in use
        self.neg = neg
        self.sweep_at = 256
        self.exact = False

    def apply(self, levels) -> int:
        """Set absolute sizes (size 0 removes); returns the count of rejected levels.

        A level whose size is not a plain non-negative decimal ("-1", "NaN", "1e5") is
        rejected before it reaches the side: checked for the whole delta at once, in C
        (the sizes joined: nothing but ASCII digits and dots, one dot a size at most).
        """
        joined = "".join(map(_size, levels)).encode()
        if joined.translate(None, _SIZE_CHARS) or joined.count(b".") > len(levels):
            ok = [lv for lv in levels if size_ok(lv[1])]
            bad = len(levels) - len(ok)
            levels = ok
        else:
            bad = 0
        d = self.levels
        n = len(d)
        d.update(levels)
        n = len(d) - n
        if n:
            new = list(islice(reversed(d), n))  # the strings update just added
            new.reverse()
            bad += self._admit(new)
        if len(d) > self.sweep_at:
            self.sweep()
        return bad

    def _order(self, p: str):
        """The ordering key of a price string, or None when it is not a valid price."""
        if not self.exact and len(p) <= 15:
            try:
                k = float(p)
            except ValueError:
                return None
            if 0.0 < k < _INF:
                return -k if self.neg else k
        k = price_key(p)  # long, or a float that is no price (0, inf, nan, 1e-400)
        if k is None:
            return None
        if not self.exact:
            self._make_exact()
        return -k if self.neg else k

    def _make_exact(self) -> None:
        self.exact = True
        key = self.key
        for p in key:
            k = price_key(p)
            key[p] = -k if self.neg else k
        self.text = {key[p]: p for p in self.text.values()}
        self.heap = h = [key[p] for p in self.levels if p in key]  # new ones: pushed by _admit
        heapify(h)
        self.ladder = []  # sorted by the next ladder read, if any
        self.fresh = list(self.text)

    def _admit(self, new: list[str]) -> int:
        d = self.levels
        key = self.key
        text = self.text
        fresh = self.fresh
        heap = self.heap
        bad = 0
        for p in new:
            k = key.get(p)
            if k is None:
                k = self._order(p)
                if k is None:
                    bad += 1
                    del d[p]
                    continue
                key[p] = k
                text = self.text  # _order may have made the side exact: new containers
                fresh = self.fresh
                heap = self.heap
            old = text.get(k)
            if old is None:
                fresh.append(k)
            elif old != p:
                d.pop(old, None)  # same price, another spelling: one level
            text[k] = p
            heappush(heap, k)
        return bad

    def sweep(self) -> None:
        """Drop zero levels, rebuild the heap and forget unused price strings (the ladder
        is re-sorted by its next read, if any)."""
        self.levels = d = {p: q for p, q in self.levels.items() if q.strip("0.")}
        key = self.key
        if len(key) > 4 * len(d) + 4096:
            self.key = key = {p: key[p] for p in d}
            self.text = {k: p for p, k in key.items()}
            self.ladder = []  # sorted by the next ladder read, if any
            self.fresh = list(self.text)
        self.heap = h = [key[p] for p in d]
        heapify(h)
        self.sweep_at = 4 * len(d) + 256

    def best(self) -> str | None:
        """The best price string (highest bid, lowest ask), or None when empty."""
        h = self.heap
        d = self.levels
        text = self.text
        while h:
            p = text.get(h[0])
            if p is not None:
                q = d.get(p)
                if q is not None:
                    if q.strip("0."):
                        return p
                    del d[p]  # a removed level reached the top: drop it for good
            heappop(h)
        return None

    def price(self, p: str) -> Decimal:
        """The exact price of a price string the side holds."""
        return _POS.get(p) or price_key(p)

    def live(self) -> list[str]:
        """Price strings with a size > 0."""
        return [p for p, q in self.levels.items() if q.strip("0.")]

    def _ladder(self) -> list:
        """The ladder with ``fresh`` merged in."""
        f = self.fresh
        lad = self.ladder
        if f:
            if len(f) <= 16:
                for k in f:
                    insort(lad, k)
            else:
                lad += f
                lad.sort()  # a sorted run and a tail: timsort merges them in ~linear time
            self.fresh = []
        return lad

    def top(self, n: int) -> list[str]:
        """The best ``n`` price strings, best first: O(n + dead levels walked past)."""
        lad = self._ladder()
        out: list[str] = []
        if n <= 0:
            return out
        d = self.levels
        text = self.text
        dead = 0
        i = 0
        for k in lad:
            i += 1
            p = text[k]
            q = d.get(p)
            if q is not None and q.strip("0."):
                out.append(p)
                if len(out) == n:
                    break
            else:
                dead += 1
        if dead:  # drop the dead levels walked past: the next read does not meet them
            keep = []
            for k in lad[:i]:
                p = text[k]
                q = d.get(p)
                if q is not None and q.strip("0."):
                    keep.append(k)
                else:  # gone from the ladder and text; the heap skips a key text lacks
                    if q is not None:
                        del d[p]
                    del text[k]
            lad[:i] = keep
        return out

    def ordered(self) -> list[str]:
        """Every live price string, best first."""
        d = self.levels
        text = self.text
        out = []
        for k in self._ladder():
            p = text[k]
            q = d.get(p)
            if q is not None and q.strip("0."):
                out.append(p)
        return out


class NoLevels:
    """A side that keeps no levels: a sync-only book's (``Book(..., sync_only=True)``), whose
    rule decides on update ids alone. Writes are dropped (none rejected); reads see an
    empty side. Cheaper than testing a flag on every write of a full book's ``Side``."""

    __slots__ = ()

    def __init__(self, neg: bool) -> None:
        pass  # the signature of Side's: the book makes either kind the same way

    def apply(self, levels) -> int:
        return 0

    def best(self) -> None:
        return None

    def top(self, n: int) -> list[str]:
        return []

    def live(self) -> list[str]:
        return []

    def ordered(self) -> list[str]:
        return []
