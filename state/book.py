"""An exact order book: price -> size per side, best prices in O(1) amortized.

Prices are ``Decimal`` keys parsed once per distinct string (a memo, not state);
sizes stay the exchange's strings, so nothing is rounded and OKX checksums can be
recomputed from what was sent. Bid keys are stored negated so both sides are
min-heaps; a heap may hold keys already removed from its side (lazy deletion) and
is rebuilt when it grows to twice the side.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from heapq import heapify, heappop, heappush, nsmallest
from zlib import crc32

# Memo of price string -> Decimal (and its negation for bids). Pure: cleared when large.
_POS: dict[str, Decimal] = {}
_NEG: dict[str, Decimal] = {}
_MEMO_MAX = 1_000_000


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
            _NEG.clear()
        _POS[p] = k
        _NEG[p] = -k
    return k


def neg_key(p: str) -> Decimal | None:
    k = _NEG.get(p)
    if k is None:
        return None if price_key(p) is None else _NEG[p]
    return k


def is_zero(q: str) -> bool:
    """A size string that means "remove the level" ("0", "0.000", "00")."""
    return not q.strip("0.")


def fixed(d: Decimal) -> str:
    """A Decimal as a plain decimal string (never ``1E-7``)."""
    return format(d, "f")


class Book:
    """One symbol's book on one venue, with its sync state (see ``state.sync``)."""

    __slots__ = ("venue", "symbol", "norm", "rule", "_bids", "_asks", "_bh", "_ah", "last_id",
                 "valid", "crossed", "pending", "mode", "buffer", "seen_delta", "seq", "ts_ns",
                 "updates", "gaps", "stale", "checksum_ok", "checksum_bad", "ticker_ok",
                 "ticker_bad", "depth", "tickers")

    def __init__(self, venue: str, symbol: str, norm: str, rule: str, depth: int = 20) -> None:
        self.venue = venue
        self.symbol = symbol
        self.norm = norm
        self.rule = rule  # a key of state.sync.RULES
        self._bids: dict[Decimal, str] = {}  # -price -> size
        self._asks: dict[Decimal, str] = {}  # price -> size
        self._bh: list[Decimal] = []
        self._ah: list[Decimal] = []
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
        # Book tickers ahead of the book: (u, bid, bid size, ask, ask size, seq), checked
        # when the book reaches u (the two streams do not arrive in update-id order).
        self.tickers: list[tuple] = []

    # -- changes -------------------------------------------------------------------

    def clear(self) -> None:
        self._bids = {}
        self._asks = {}
        self._bh = []
        self._ah = []
        self.crossed = False

    def load(self, bids, asks) -> int:
        """Replace both sides; returns how many levels had an unusable price or size."""
        self.clear()
        return self.apply(bids, asks)

    def apply(self, bids, asks) -> int:
        """Set absolute sizes (size 0 removes); returns the count of rejected levels."""
        bad = 0
        d = self._bids
        h = self._bh
        for lv in bids:
            p = lv[0]
            q = lv[1]
            k = _NEG.get(p)
            if k is None:
                k = neg_key(p)
                if k is None:
                    bad += 1
                    continue
            if not q.strip("0."):
                d.pop(k, None)
            elif q[0] == "-":
                bad += 1
            else:
                if k not in d:
                    heappush(h, k)
                d[k] = q
        if len(h) > 2 * len(d) + 64:
            self._bh = h = list(d)
            heapify(h)
        d = self._asks
        h = self._ah
        for lv in asks:
            p = lv[0]
            q = lv[1]
            k = _POS.get(p)
            if k is None:
                k = price_key(p)
                if k is None:
                    bad += 1
                    continue
            if not q.strip("0."):
                d.pop(k, None)
            elif q[0] == "-":
                bad += 1
            else:
                if k not in d:
                    heappush(h, k)
                d[k] = q
        if len(h) > 2 * len(d) + 64:
            self._ah = h = list(d)
            heapify(h)
        return bad

    def check_crossed(self) -> bool:
        """Update ``crossed``; True when the book just became crossed."""
        bb = self.best_bid()
        ba = self.best_ask()
        crossed = bb is not None and ba is not None and bb >= ba
        became = crossed and not self.crossed
        self.crossed = crossed
        return became

    # -- reads ---------------------------------------------------------------------

    def best_bid(self) -> Decimal | None:
        h = self._bh
        d = self._bids
        while h and h[0] not in d:
            heappop(h)
        return -h[0] if h else None

    def best_ask(self) -> Decimal | None:
        h = self._ah
        d = self._asks
        while h and h[0] not in d:
            heappop(h)
        return h[0] if h else None

    def best_bid_level(self) -> tuple[Decimal, Decimal] | None:
        p = self.best_bid()
        return None if p is None else (p, Decimal(self._bids[-p]))

    def best_ask_level(self) -> tuple[Decimal, Decimal] | None:
        p = self.best_ask()
        return None if p is None else (p, Decimal(self._asks[p]))

    def top_bids(self, n: int) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bids, best first, as exact (price, size)."""
        d = self._bids
        return [(-k, Decimal(d[k])) for k in nsmallest(n, d)]

    def top_asks(self, n: int) -> list[tuple[Decimal, Decimal]]:
        d = self._asks
        return [(k, Decimal(d[k])) for k in nsmallest(n, d)]

    @property
    def bids(self) -> list[tuple[Decimal, Decimal]]:
        """Top ``depth`` bids (the projector's ``depth_levels``)."""
        return self.top_bids(self.depth)

    @property
    def asks(self) -> list[tuple[Decimal, Decimal]]:
        return self.top_asks(self.depth)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def raw_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Every level as (price, size) strings, bids descending, asks ascending."""
        b = self._bids
        a = self._asks
        return ([(fixed(-k), b[k]) for k in sorted(b)], [(fixed(k), a[k]) for k in sorted(a)])

    def okx_checksum(self) -> int:
        """OKX's CRC32 (signed) of the top 25 levels: bid:size:ask:size interleaved."""
        b = self._bids
        a = self._asks
        bk = nsmallest(25, b)
        ak = nsmallest(25, a)
        parts: list[str] = []
        for i in range(max(len(bk), len(ak))):
            if i < len(bk):
                parts.append(f"{fixed(-bk[i])}:{b[bk[i]]}")
            if i < len(ak):
                parts.append(f"{fixed(ak[i])}:{a[ak[i]]}")
        c = crc32(":".join(parts).encode())
        return c - (1 << 32) if c >= 1 << 31 else c
