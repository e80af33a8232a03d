"""One symbol's order book on one venue, kept in sync by the venue's rule: opaque.

A ``Book`` changes only by folding events, each through the venue's sync rule
(``state.sync``, the one table of rules), and by ``Book.from_state`` (a checkpoint):

- ``apply_snapshot(snapshot, out, report) -> int``: a full (or top-N) book; REST-synced
  venues then replay the deltas buffered while waiting for it;
- ``apply_delta(delta, out, report) -> int``: changed levels, applied when the rule says
  they follow on, buffered or dropped otherwise;
- ``apply_ticker(ticker, out, report) -> None``: a book ticker carrying the depth stream's
  update id (Binance ``u``) is compared with the book at that id, now or when the book
  gets there.

Each appends the ``Gap`` events it derives to ``out`` and returns how many it appended
(0 almost always: the caller counts them without scanning ``out``). Validation findings
go to ``report(event, kind, detail, out)`` (``kind`` one of ``state.validation.KINDS``;
the projector turns them into counted ``Anomaly`` events), after the Gaps, in this
order: rejected levels (``unparseable``), Upbit totals (``total_mismatch``), the book
becoming crossed (``crossed_book``), book tickers it disagrees with (``ticker_mismatch``).

After a Gap the book is invalid until a snapshot re-syncs it: ``needs_snapshot`` is
True, and the live recorder fetches one (``rest_synced`` venues) or resubscribes.

A sync-only book (``Book(..., sync_only=True)``, the sync-only projection's) keeps no
levels when its rule decides on update ids alone (``state.sync.ids_suffice``: all but
OKX's checksum): the same rule folds the same events to the same Gaps, validity, ids and
buffer, but reads see an empty book, and no level is rejected or found crossed.

Everything else is a read: the read-only properties (``valid``, ``last_id``, ``gaps``,
...; assigning one raises ``AttributeError``), best prices, top N, raw levels, the OKX
checksum, and ``state()`` for checkpoints. Prices and sizes are exact (``Decimal``, or
the strings as sent); the levels live in two ``state.levels.Side``.
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from zlib import crc32

import msgspec

from .events import BookDelta, BookSnapshot, BookTicker
from .levels import NoLevels, Side
from .sync import ids_suffice, on_delta, on_snapshot, rule_of

PENDING_TICKERS = 256  # book tickers waiting for the depth stream to reach their u


def _read_only(name: str, doc: str) -> property:
    # A C getter (no Python frame); no setter, so ``book.valid = True`` raises AttributeError.
    return property(attrgetter(name), doc=doc)


class Book:
    """One symbol's book on one venue with its sync state; see the module docstring."""

    __slots__ = ("_venue", "_symbol", "_norm", "_rule", "_depth", "_bids", "_asks", "_last_id",
                 "_valid", "_crossed", "_pending", "_mode", "_buffer", "_seen_delta", "_seq",
                 "_ts_ns", "_updates", "_gaps", "_stale", "_checksum_ok", "_checksum_bad",
                 "_ticker_ok", "_ticker_bad", "_tickers", "_check", "_by_rest", "_ticker_checked",
                 "_level_ids", "_side")

    def __init__(self, venue: str, symbol: str, norm: str, rule: str, depth: int = 20, *,
                 sync_only: bool = False) -> None:
        """An empty, invalid book. ``rule``: a key of ``state.sync.RULES`` (the venue);
        ``depth``: the levels ``bids``/``asks`` return; ``sync_only``: keep no levels when
        the rule does not need them (see the module docstring)."""
        self._venue = venue
        self._symbol = symbol
        self._norm = norm
        self._rule = rule
        self._depth = depth
        # The rule's row, looked up once (not per delta); derived from ``rule``, not state.
        row = rule_of(rule)
        self._check = row.check
        self._by_rest = row.rest_synced
        self._ticker_checked = row.ticker_update_id
        self._level_ids = row.level_ids
        self._side = NoLevels if sync_only and ids_suffice(rule) else Side  # what _clear makes
        self._bids = self._side(True)
        self._asks = self._side(False)
        self._last_id: int | None = None  # update id the book is at
        self._valid = False  # synced: safe to read
        self._crossed = False
        self._pending = False  # snapshot loaded, first delta still to bracket it
        self._mode = ""  # "diff" (snapshot + deltas), "partial" (top-N pictures), "snapshot"
        self._buffer: list[BookDelta] = []  # deltas waiting for a snapshot (REST-synced venues)
        self._seen_delta = False
        self._seq = 0  # journal seq of the last change
        self._ts_ns = 0
        self._updates = 0
        self._gaps = 0
        self._stale = 0
        self._checksum_ok = 0
        self._checksum_bad = 0
        self._ticker_ok = 0
        self._ticker_bad = 0
        # BookTicker events ahead of the book, checked when the book reaches their
        # update id (the two streams do not arrive in update-id order).
        self._tickers: list[BookTicker] = []

    # -- read-only state -----------------------------------------------------------

    venue = _read_only("_venue", "The venue.")
    symbol = _read_only("_symbol", "The venue's symbol key.")
    norm = _read_only("_norm", "The normalized symbol (BTC-USDT).")
    rule = _read_only("_rule", "The sync rule: a key of ``state.sync.RULES``.")
    depth = _read_only("_depth", "Levels the ``bids``/``asks`` accessors return.")
    last_id = _read_only("_last_id", "The update id the book is at (None: the venue has none).")
    valid = _read_only("_valid", "Synced: safe to read. False from a Gap to the next snapshot.")
    crossed = _read_only("_crossed", "The best bid reached the best ask (at the last change).")
    pending = _read_only("_pending", "A REST snapshot is loaded; the first delta must bracket it.")
    mode = _read_only("_mode", '"diff" (snapshot + deltas), "partial" (top-N pictures), '
                      '"snapshot" (full pictures only), "" before the first event.')
    seen_delta = _read_only("_seen_delta", "A delta has arrived for this book.")
    seq = _read_only("_seq", "Journal seq of the last change.")
    ts_ns = _read_only("_ts_ns", "Receive time of the last change.")
    updates = _read_only("_updates", "Snapshots and deltas applied.")
    gaps = _read_only("_gaps", "Gap events so far.")
    stale = _read_only("_stale", "Deltas dropped: older than the book, or before its snapshot.")
    checksum_ok = _read_only("_checksum_ok", "OKX checksums that matched.")
    checksum_bad = _read_only("_checksum_bad", "OKX checksums that did not (each a Gap).")
    ticker_ok = _read_only("_ticker_ok", "Book tickers equal to the book at their update id.")
    ticker_bad = _read_only("_ticker_bad", "Book tickers that were not (each an Anomaly).")
    ticker_checked = _read_only("_ticker_checked", "Its book tickers carry the depth update id.")
    rest_synced = _read_only("_by_rest", "Synced by a REST snapshot (else by resubscribing).")

    @property
    def keeps_levels(self) -> bool:
        """Its levels are kept (False: a sync-only book; see the module docstring)."""
        return self._side is Side

    @property
    def buffered(self) -> int:
        """Deltas held while waiting for a snapshot."""
        return len(self._buffer)

    @property
    def needs_snapshot(self) -> bool:
        """Has deltas (or had a Gap) but no valid sync: fetch a snapshot or resubscribe."""
        return not self._valid and (self._seen_delta or self._gaps > 0)

    # -- changes: the only ones ----------------------------------------------------

    def apply_snapshot(self, s: BookSnapshot, out: list, report) -> int:
        """Load a snapshot (and replay buffered deltas); returns the Gap events appended to
        ``out``. Findings go to ``report`` (see the module docstring)."""
        n = len(out)
        bad = on_snapshot(self, s, out)
        gaps = len(out) - n
        if bad:
            report(s, "unparseable", f"{bad} book levels rejected", out)
        if s.totals is not None:
            tb = sum((Decimal(lv[1]) for lv in s.bids), Decimal(0))
            ta = sum((Decimal(lv[1]) for lv in s.asks), Decimal(0))
            if tb != Decimal(s.totals[0]) or ta != Decimal(s.totals[1]):
                report(s, "total_mismatch", f"levels {tb}/{ta} totals {s.totals}", out)
        if self._valid and self._became_crossed():
            report(s, "crossed_book", f"bid {self.best_bid()} >= ask {self.best_ask()}", out)
        return gaps

    def apply_delta(self, d: BookDelta, out: list, report) -> int:
        """Fold a delta through the sync rule; returns the Gap events appended to ``out``.
        Findings go to ``report`` (see the module docstring)."""
        n = len(out)
        bad = on_delta(self, d, out)
        gaps = len(out) - n
        if bad:
            report(d, "unparseable", f"{bad} book levels rejected", out)
        if self._valid:
            if self._became_crossed():
                report(d, "crossed_book", f"bid {self.best_bid()} >= ask {self.best_ask()}", out)
            if self._tickers:
                self._resolve_tickers(d, out, report)
        elif self._tickers:
            self._tickers = []
        return gaps

    def apply_ticker(self, t: BookTicker, out: list, report) -> None:
        """Check a book ticker against the book at its update id: now when the book is
        there, later (``apply_delta``) when it is ahead. Other tickers change nothing."""
        u = t.update_id
        if u is None or not (self._valid and self._ticker_checked):
            return
        last = self._last_id
        if u > last:  # the usual case: the depth stream is behind its ticker
            pending = self._tickers
            pending.append(t)
            if len(pending) > PENDING_TICKERS:
                del pending[0]
        elif u == last:
            self._check_ticker(t, t, out, report)

    def _became_crossed(self) -> bool:
        """Update ``crossed``; True when the book just became crossed."""
        b = self._bids
        a = self._asks
        pb = b.best()
        pa = a.best() if pb is not None else None
        if pa is None:
            crossed = False
        elif b.exact or a.exact:
            crossed = b.price(pb) >= a.price(pa)
        else:  # float keys of both sides are exact (see Side): compare them
            crossed = -b.key[pb] >= a.key[pa]
        became = crossed and not self._crossed
        self._crossed = crossed
        return became

    def _check_ticker(self, t: BookTicker, ev, out: list, report) -> None:
        """Compare book ticker ``t`` with the book at its update id (``ev``: the event that
        brought the book there, which a mismatch is reported against)."""
        bb = self.best_bid_level()
        ba = self.best_ask_level()
        if bb == (Decimal(t.bid_px), Decimal(t.bid_sz)) and ba == (Decimal(t.ask_px), Decimal(t.ask_sz)):
            self._ticker_ok += 1
            return
        self._ticker_bad += 1
        report(ev, "ticker_mismatch", f"u {t.update_id} (ticker seq {t.seq}): book {bb} {ba}, "
               f"ticker {t.bid_px}/{t.bid_sz} {t.ask_px}/{t.ask_sz}", out)

    def _resolve_tickers(self, ev, out: list, report) -> None:
        pending = self._tickers
        last = self._last_id
        i = 0
        for t in pending:  # in arrival order, up to the first one still ahead of the book
            u = t.update_id
            if u > last:
                break
            if u == last:
                self._check_ticker(t, ev, out, report)
            i += 1
        del pending[:i]

    # Level writes for state.sync (the rule decides when): both sides replaced / updated.

    def _load_levels(self, bids, asks) -> int:
        """Replace both sides; returns how many levels had an unusable price or size."""
        self._clear()
        return self._bids.apply(bids) + self._asks.apply(asks)

    def _apply_levels(self, bids, asks) -> int:
        """Set absolute sizes (size 0 removes); returns the count of rejected levels."""
        return self._bids.apply(bids) + self._asks.apply(asks)

    def _clear(self) -> None:
        self._bids = self._side(True)
        self._asks = self._side(False)
        self._crossed = False

    # -- reads ---------------------------------------------------------------------

    def best_bid(self) -> Decimal | None:
        p = self._bids.best()
        return None if p is None else self._bids.price(p)

    def best_ask(self) -> Decimal | None:
        p = self._asks.best()
        return None if p is None else self._asks.price(p)

    def best_bid_level(self) -> tuple[Decimal, Decimal] | None:
        s = self._bids
        p = s.best()
        return None if p is None else (s.price(p), Decimal(s.levels[p]))

    def best_ask_level(self) -> tuple[Decimal, Decimal] | None:
        s = self._asks
        p = s.best()
        return None if p is None else (s.price(p), Decimal(s.levels[p]))

    def top_bids(self, n: int) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bids, best first, as exact (price, size)."""
        s = self._bids
        return [(s.price(p), Decimal(s.levels[p])) for p in s.top(n)]

    def top_asks(self, n: int) -> list[tuple[Decimal, Decimal]]:
        s = self._asks
        return [(s.price(p), Decimal(s.levels[p])) for p in s.top(n)]

    @property
    def bids(self) -> list[tuple[Decimal, Decimal]]:
        """Top ``depth`` bids (the projector's ``depth_levels``)."""
        return self.top_bids(self._depth)

    @property
    def asks(self) -> list[tuple[Decimal, Decimal]]:
        return self.top_asks(self._depth)

    def __len__(self) -> int:
        """Levels with a size > 0 (O(levels))."""
        return len(self._bids.live()) + len(self._asks.live())

    def raw_levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Every level as sent (price, size strings), bids descending, asks ascending."""
        b = self._bids
        a = self._asks
        return ([(p, b.levels[p]) for p in b.ordered()], [(p, a.levels[p]) for p in a.ordered()])

    def okx_checksum(self) -> int:
        """OKX's CRC32 (signed) of the top 25 levels: bid:size:ask:size interleaved."""
        b = self._bids
        a = self._asks
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

    # -- checkpoints ---------------------------------------------------------------

    def state(self) -> list:
        """The book as plain values, for ``state.digest`` (the layout is part of its FORMAT):
        ``[rule, depth, bids, asks, last_id, valid, crossed, pending, mode, buffer,
        seen_delta, seq, ts_ns, counts, tickers]``; levels as sent, best first."""
        bids, asks = self.raw_levels()
        return [self._rule, self._depth, bids, asks, self._last_id, self._valid, self._crossed,
                self._pending, self._mode,
                [list(msgspec.structs.astuple(d)) for d in self._buffer], self._seen_delta,
                self._seq, self._ts_ns,
                [self._updates, self._gaps, self._stale, self._checksum_ok, self._checksum_bad,
                 self._ticker_ok, self._ticker_bad],
                [[t.update_id, t.bid_px, t.bid_sz, t.ask_px, t.ask_sz, t.seq] for t in self._tickers]]

    @classmethod
    def from_state(cls, venue: str, symbol: str, norm: str, s: list, *,
                   sync_only: bool = False) -> Book:
        """The book ``state()`` described (its venue, symbol and norm are the caller's;
        ``sync_only`` is not in the state: a sync-only book drops the levels it held)."""
        (rule, depth, bids, asks, last_id, valid, crossed, pending, mode, buffer, seen_delta,
         seq, ts_ns, counts, tickers) = s
        b = cls(venue, symbol, norm, rule, depth, sync_only=sync_only)
        b._load_levels(bids, asks)
        b._last_id, b._valid, b._crossed, b._pending, b._mode = last_id, valid, crossed, pending, mode
        b._buffer = [BookDelta(*d) for d in buffer]  # the fields in order, as state() wrote them
        b._seen_delta, b._seq, b._ts_ns = seen_delta, seq, ts_ns
        (b._updates, b._gaps, b._stale, b._checksum_ok, b._checksum_bad, b._ticker_ok,
         b._ticker_bad) = counts
        b._tickers = [BookTicker(venue=venue, symbol=symbol, norm=norm, exch_ts_ns=0, recv_ts_ns=0,
                                 seq=t_seq, bid_px=bid, bid_sz=bid_sz, ask_px=ask, ask_sz=ask_sz,
                                 update_id=u)
                      for u, bid, bid_sz, ask, ask_sz, t_seq in tickers]
        return b
