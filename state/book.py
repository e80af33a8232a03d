"""An exact order book: price -> size per side; best price and top N independent of size.

Each side maps the exchange's price string to its size string, so an update to an
existing level is one dict store and nothing is ever rounded (OKX checksums are
recomputed from exactly what was sent). Order comes from exact keys parsed once per
distinct price string (see ``Side``): per side (bids negated) a heap for the best
price and a lazily merged sorted ladder for the top N, both with lazy deletion,
rebuilt when the side grows to four times its live levels. Two strings of one value ("1.50",
"1.5") are one level: a new string whose value is already present replaces the old one.
"""

from __future__ import annotations

from bisect import insort
from decimal import Decimal, InvalidOperation
from heapq import heapify, heappop, heappush
from itertools import islice
from operator import itemgetter
from zlib import crc32

# Memo of price string -> Decimal for validation outside books. Pure: cleared when large.
_POS: dict[str, Decimal] = {}
_MEMO_MAX = 200_000
_INF = float("inf")
_size = itemgetter(1)
_SIZE_CHARS = b"0123456789."
# Rules whose book ticker carries the depth stream's update id (Binance ``u``): the
# projector compares such a ticker with the book at the same id.
TICKER_CHECKED = ("binance-usdm", "binance-spot")


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


class Book:
    """One symbol's book on one venue, with its sync state (see ``state.sync``)."""

    __slots__ = ("venue", "symbol", "norm", "rule", "bid_side", "ask_side", "last_id",
                 "valid", "crossed", "pending", "mode", "buffer", "seen_delta", "seq", "ts_ns",
                 "updates", "gaps", "stale", "checksum_ok", "checksum_bad", "ticker_ok",
                 "ticker_bad", "depth", "tickers", "ticker_checked")

    def __init__(self, venue: str, symbol: str, norm: str, rule: str, depth: int = 20) -> None:
        self.venue = venue
        self.symbol = symbol
        self.norm = norm
        self.rule = rule  # a key of state.sync.RULES
        self.ticker_checked = rule in TICKER_CHECKED
        self.bid_side = Side(True)
        self.ask_side = Side(False)
        self.last_id: int | None = None  # update id the book is at
        self.valid = False  # synced: safe to read
        self.crossed = False
        self.pending = False  # snapshot loaded, first delta still to bracket it
        self.mode = ""  # "diff" (snapshot + deltas), "partial" (top-N pictures), "snapshot"
        self.buffer: list = []  # deltas waiting for a snapshot (REST-synced venues)
        self.seen_delta = False
        self.seq = 0  # journal seq of the last change
        self.ts_ns = 0
        self.updates = 0
        self.gaps = 0
        self.stale = 0
        self.checksum_ok = 0
        self.checksum_bad = 0
        self.ticker_ok = 0
        self.ticker_bad = 0
        self.depth = depth  # levels the .bids/.asks accessors return
        # BookTicker events ahead of the book, checked when the book reaches their
        # update id (the two streams do not arrive in update-id order).
        self.tickers: list = []

    # -- changes -------------------------------------------------------------------

    def clear(self) -> None:
        self.bid_side = Side(True)
        self.ask_side = Side(False)
        self.crossed = False

    def load(self, bids, asks) -> int:
        """Replace both sides; returns how many levels had an unusable price or size."""
        self.clear()
        return self.apply(bids, asks)

    def apply(self, bids, asks) -> int:
        """Set absolute sizes (size 0 removes); returns the count of rejected levels."""
        return self.bid_side.apply(bids) + self.ask_side.apply(asks)

    def check_crossed(self) -> bool:
        """Update ``crossed``; True when the book just became crossed."""
        b = self.bid_side
        a = self.ask_side
        pb = b.best()
        pa = a.best() if pb is not None else None
        if pa is None:
            crossed = False
        elif b.exact or a.exact:
            crossed = b.price(pb) >= a.price(pa)
        else:  # float keys of both sides are exact (see Side): compare them
            crossed = -b.key[pb] >= a.key[pa]
        became = crossed and not self.crossed
        self.crossed = crossed
        return became

    # -- reads ---------------------------------------------------------------------

    def best_bid(self) -> Decimal | None:
        p = self.bid_side.best()
        return None if p is None else self.bid_side.price(p)

    def best_ask(self) -> Decimal | None:
        p = self.ask_side.best()
        return None if p is None else self.ask_side.price(p)

    def best_bid_level(self) -> tuple[Decimal, Decimal] | None:
        s = self.bid_side
        p = s.best()
        return None if p is None else (s.price(p), Decimal(s.levels[p]))

    def best_ask_level(self) -> tuple[Decimal, Decimal] | None:
        s = self.ask_side
        p = s.best()
        return None if p is None else (s.price(p), Decimal(s.levels[p]))

    def top_bids(self, n: int) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bids, best first, as exact (price, size)."""
        s = self.bid_side
        return [(s.price(p), Decimal(s.levels[p])) for p in s.top(n)]

    def top_asks(self, n: int) -> list[tuple[Decimal, Decimal]]:
        s = self.ask_side
        return [(s.price(p), Decimal(s.levels[p])) for p in s.top(n)]

    @property
    def bids(self) -> list[tuple[Decimal, Decimal]]:
        """Top ``depth`` bids (the projector's ``depth_levels``)."""
        return self.top_bids(self.depth)

    @property
    def asks(self) -> list[tuple[Decimal, Decimal]]:
        return self.top_asks(self.depth)

    def __len__(self) -> int:
        """Levels with a size > 0 (O(levels))."""
        return len(self.bid_side.live()) + len(self.ask_side.live())

    def raw_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Every level as sent (price, size strings), bids descending, asks ascending."""
        b = self.bid_side
        a = self.ask_side
        return ([(p, b.levels[p]) for p in b.ordered()], [(p, a.levels[p]) for p in a.ordered()])

    def okx_checksum(self) -> int:
        """OKX's CRC32 (signed) of the top 25 levels: bid:size:ask:size interleaved."""
        b = self.bid_side
        a = self.ask_side
        bk = b.top(25)
        ak = a.top(25)
        parts: list[str] = []
        for i in range(max(len(bk), len(ak))):
            if i < len(bk):
                parts.append(f"{bk[i]}:{b.levels[bk[i]]}")
            if i < len(ak):
                parts.append(f"{ak[i]}:{a.levels[ak[i]]}")
        c = crc32(":".join(parts).encode())
        return c - (1 << 32) if c >= 1 << 31 else c
