"""Derived tables: the projections of ``state/`` flattened into Arrow rows.

A ``Deriver`` folds records in seq order through a ``state.projector.Projector`` and
emits rows for these tables (prices and sizes as float64 for SQL, exact decimal
strings kept where the venue sent them: ``price_text``/``size_text`` in trades):

    trades       one row per Trade event
    quotes       top of book on every change: source "book" (the synced book, with
                 its validity), "bbo" (the venue's book ticker), "ticker" (a ticker's bid/ask)
    book_levels  top ``book_depth`` levels of each book that changed, every
                 ``book_interval_ms`` of record time (the state just before the boundary)
    klines       1-minute bars from trades, by record (receive) time
    features     per symbol with activity, every ``feature_interval_ms``: best bid/ask, mid,
                 spread, imbalance, depth and the projector's rolling-window stats
    gaps         one row per Gap event (a book's continuity broke)
    anomalies    validation findings and undecodable records

Time is record time only. Sampled rows (book_levels, features, klines) are emitted
by ``advance(t)`` for every boundary before ``t``; ``apply`` advances to the record's
time first, and compaction advances to the day's end after its last record, so a
day's rows are exactly those whose timestamp falls in that day, and projecting day
by day from checkpoints gives the same rows as one continuous projection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from recorder.journal import Record, StreamInfo
from state.events import (
    Anomaly,
    BookDelta,
    BookSnapshot,
    BookTicker,
    DecodeError,
    Event,
    Gap,
    Ticker,
    Trade,
)
from state.market import market_state, with_book
from state.projector import Projector

from .errors import CheckpointFormatError, QueryUsageError, SettingsError

FORMAT = 1  # of the deriver's own checkpoint state


@dataclass(frozen=True)
class DeriveParams:
    """What shapes the derived tables (recorded in the manifest with the code version)."""

    depth_levels: int = 20  # the projector's book depth for features (depth, imbalance)
    book_depth: int = 10  # levels per side in book_levels
    book_interval_ms: int = 1000
    feature_interval_ms: int = 1000
    kline_seconds: int = 60

    def __post_init__(self) -> None:
        for name in ("depth_levels", "book_depth", "book_interval_ms", "feature_interval_ms",
                     "kline_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(name, "must be > 0")


_WINDOWS = (60, 300, 900)  # the projector's default rolling windows, seconds
_F64 = pa.float64()
_I64 = pa.int64()
_S = pa.string()
_B = pa.bool_()


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(cols))


_KEY = (("seq", _I64), ("ts_ns", _I64), ("venue", _S), ("symbol", _S), ("norm", _S))
SCHEMAS: dict[str, pa.Schema] = {
    "trades": _schema(*_KEY, ("exch_ts_ns", _I64), ("stream", pa.int32()), ("price", _F64),
                      ("size", _F64), ("side", _S), ("trade_id", _S), ("price_text", _S),
                      ("size_text", _S)),
    "quotes": _schema(*_KEY, ("exch_ts_ns", _I64), ("source", _S), ("valid", _B),
                      ("bid_px", _F64), ("bid_sz", _F64), ("ask_px", _F64), ("ask_sz", _F64)),
    "book_levels": _schema(*_KEY, ("valid", _B), ("side", _S), ("level", pa.int16()),
                           ("price", _F64), ("size", _F64)),
    "klines": _schema(*_KEY, ("open", _F64), ("high", _F64), ("low", _F64), ("close", _F64),
                      ("volume", _F64), ("quote_volume", _F64), ("buy_volume", _F64),
                      ("trades", _I64), ("vwap", _F64), ("first_seq", _I64)),
    "features": _schema(*_KEY, ("valid", _B), ("source", _S), ("best_bid", _F64),
                        ("best_ask", _F64), ("mid", _F64), ("spread", _F64),
                        ("weighted_mid", _F64), ("bid_depth", _F64), ("ask_depth", _F64),
                        ("imbalance", _F64), ("last_price", _F64),
                        *[(f"{k}_{w}s", t) for w in _WINDOWS for k, t in (
                            ("trades", _I64), ("volume", _F64), ("vwap", _F64),
                            ("pressure", _F64), ("momentum", _F64))],
                        ("large_trade", _B), ("volume_spike", _B)),
    "gaps": _schema(*_KEY, ("exch_ts_ns", _I64), ("stream", pa.int32()), ("expected", _I64),
                    ("got", _I64), ("reason", _S)),
    "anomalies": _schema(*_KEY, ("stream", pa.int32()), ("kind", _S), ("detail", _S)),
}
TABLES = tuple(SCHEMAS)
# Tables worth a venue= directory level (per-venue queries read only their files).
BY_VENUE = frozenset({"trades", "quotes", "book_levels", "klines", "features"})
# What each row's ts_ns means, for readers: record time, or the sampling boundary.
SAMPLED = frozenset({"book_levels", "features", "klines"})


def _code_files() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    return sorted([*root.joinpath("state").rglob("*.py"), Path(__file__).resolve()])


def projection_version(params: DeriveParams) -> str:
    """Hash of the projection code (state/ and this module) and the parameters.

    Derived tables and checkpoints made under another version are stale: rebuild them.
    """
    h = hashlib.blake2b(digest_size=12)
    root = Path(__file__).resolve().parents[1]
    for p in _code_files():
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(repr(sorted(asdict(params).items())).encode())
    return h.hexdigest()


def _f(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # the projector reports it as an anomaly; the row keeps the text


class Deriver:
    """Fold records into derived rows; see the module docstring.

    After a batch of ``apply`` calls: ``take()`` returns and clears the rows so far.
    ``snapshot()`` after ``advance(day_end)`` is the checkpoint the next day starts from.
    """

    def __init__(self, streams: dict[int, StreamInfo], params: DeriveParams | None = None, *,
                 projector: Projector | None = None) -> None:
        self.params = params or DeriveParams()
        self.p = projector if projector is not None else Projector(
            streams, depth_levels=self.params.depth_levels)
        self._book_iv = self.params.book_interval_ms * 1_000_000
        self._feat_iv = self.params.feature_interval_ms * 1_000_000
        self._bar_ns = self.params.kline_seconds * 1_000_000_000
        self._top_depth = max(self.params.book_depth, self.p.depth_levels)
        self.next_book = 0  # next book sampling boundary (0: not started)
        self.next_feat = 0
        self.next_bar_close = 0  # smallest end of an open bar (0: none open)
        self.dirty_books: set[tuple[str, str]] = set()
        self.dirty_feats: set[tuple[str, str]] = set()
        self.bars: dict[tuple[str, str], list] = {}  # (venue, symbol) -> open bar
        self.last_quote: dict[tuple[str, str, str], tuple] = {}
        self.rows: dict[str, list[tuple]] = {t: [] for t in TABLES}
        self._on = {Trade: self._trade, BookTicker: self._bbo, BookSnapshot: self._book,
                    BookDelta: self._book, Gap: self._gap, Ticker: self._ticker,
                    Anomaly: self._anomaly, DecodeError: self._decode_error}

    # -- input ---------------------------------------------------------------------

    def apply(self, rec: Record) -> list[Event]:
        """Fold one record (records must come in seq order); returns the projector's events."""
        t = rec.ts_ns
        if t >= self.next_book or t >= self.next_feat or (self.next_bar_close and t >= self.next_bar_close):
            self.advance(t)
        on = self._on
        stream = rec.stream
        events = self.p.apply(rec)
        for ev in events:
            h = on.get(type(ev))
            if h is not None:
                h(ev, stream)
        return events

    def apply_many(self, records: Iterable[Record]) -> None:
        for rec in records:
            self.apply(rec)

    def advance(self, t: int) -> None:
        """Emit every sample and bar whose boundary is before record time ``t``."""
        if self.next_bar_close and t >= self.next_bar_close:
            self._close_bars(t)
        if not self.next_book:
            self.next_book = (t // self._book_iv + 1) * self._book_iv
            self.next_feat = (t // self._feat_iv + 1) * self._feat_iv
            return
        tops: dict = {}  # books read at a boundary both samplings share (see _tops)
        if self.next_book < t:
            if self.dirty_books:
                self._sample_books(self.next_book, tops)
            if self.next_book != self.next_feat:
                tops = {}
            self.next_book = ((t - 1) // self._book_iv + 1) * self._book_iv
        if self.next_feat < t:
            if self.dirty_feats:
                self._sample_features(self.next_feat, tops)
            self.next_feat = ((t - 1) // self._feat_iv + 1) * self._feat_iv

    # -- events --------------------------------------------------------------------

    def _trade(self, ev: Trade, stream: int) -> None:
        price = _num(ev.price)
        size = _num(ev.size)
        key = (ev.venue, ev.symbol)
        self.rows["trades"].append((ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, ev.norm,
                                    ev.exch_ts_ns, stream, price, size, ev.side, ev.trade_id,
                                    ev.price, ev.size))
        self.dirty_feats.add(key)
        if not (price > 0 and size > 0) or price == float("inf") or size == float("inf"):
            return  # counted as an anomaly by the projector; keep bars clean
        start = ev.recv_ts_ns - ev.recv_ts_ns % self._bar_ns
        bar = self.bars.get(key)
        if bar is None:
            # [start, norm, o, h, l, c, volume, quote volume, buy volume, trades, first seq, last seq]
            self.bars[key] = [start, ev.norm, price, price, price, price, size, price * size,
                              size if ev.side == "buy" else 0.0, 1, ev.seq, ev.seq]
            end = start + self._bar_ns
            if not self.next_bar_close or end < self.next_bar_close:
                self.next_bar_close = end
            return
        if price > bar[3]:
            bar[3] = price
        if price < bar[4]:
            bar[4] = price
        bar[5] = price
        bar[6] += size
        bar[7] += price * size
        if ev.side == "buy":
            bar[8] += size
        bar[9] += 1
        bar[11] = ev.seq

    def _quote_row(self, ev: Any, source: str, valid: bool, bid: tuple | None, ask: tuple | None) -> None:
        key = (ev.venue, ev.symbol, source)
        state = (valid, bid, ask)
        if self.last_quote.get(key) == state:
            return
        self.last_quote[key] = state
        self.rows["quotes"].append((
            ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, ev.norm, ev.exch_ts_ns, source, valid,
            _f(bid[0]) if bid else None, _f(bid[1]) if bid else None,
            _f(ask[0]) if ask else None, _f(ask[1]) if ask else None))

    def _bbo(self, ev: BookTicker, stream: int) -> None:
        self.dirty_feats.add((ev.venue, ev.symbol))
        try:
            bid = (Decimal(ev.bid_px), Decimal(ev.bid_sz))
            ask = (Decimal(ev.ask_px), Decimal(ev.ask_sz))
        except ArithmeticError:
            return  # an unparseable quote is an anomaly row already
        self._quote_row(ev, "bbo", True, bid, ask)

    def _ticker(self, ev: Ticker, stream: int) -> None:
        self.dirty_feats.add((ev.venue, ev.symbol))
        if not ev.bid or not ev.ask:
            return
        try:
            bid = (Decimal(ev.bid), None)
            ask = (Decimal(ev.ask), None)
        except ArithmeticError:
            return
        self._quote_row(ev, "ticker", True, bid, ask)

    def _book(self, ev: Any, stream: int) -> None:
        key = (ev.venue, ev.symbol)
        self.dirty_feats.add(key)
        self.dirty_books.add(key)
        try:
            b = self.p.book(ev.venue, ev.symbol)
        except KeyError:
            return
        if b is None:
            return
        if b.valid:
            self._quote_row(ev, "book", True, b.best_bid_level(), b.best_ask_level())
        else:
            self._quote_row(ev, "book", False, None, None)

    def _gap(self, ev: Gap, stream: int) -> None:
        self.rows["gaps"].append((ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, ev.norm,
                                  ev.exch_ts_ns, stream, ev.expected, ev.got, ev.reason))
        self._book(ev, stream)

    def _anomaly(self, ev: Anomaly, stream: int) -> None:
        self.rows["anomalies"].append((ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, ev.norm,
                                       ev.stream, ev.kind, ev.detail))

    def _decode_error(self, ev: DecodeError, stream: int) -> None:
        self.rows["anomalies"].append((ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, ev.norm,
                                       ev.stream, "decode_error", ev.reason))

    # -- sampling ------------------------------------------------------------------

    def _close_bars(self, t: int) -> None:
        out = self.rows["klines"]
        closed = sorted((bar[0], key) for key, bar in self.bars.items() if bar[0] + self._bar_ns <= t)
        for _, key in closed:
            bar = self.bars.pop(key)
            start, norm, o, h, lo, c, vol, qv, buy, n, first, last = bar
            out.append((last, start, key[0], key[1], norm, o, h, lo, c, vol, qv, buy, n,
                        qv / vol if vol > 0 else None, first))
        self.next_bar_close = min((b[0] for b in self.bars.values()), default=-self._bar_ns) + self._bar_ns

    def _tops(self, venue: str, symbol: str, tops: dict) -> _SampledBook | None:
        """The book of (venue, symbol) read once for this sampling boundary (None: no book).

        ``Book.top_bids``/``top_asks`` cost O(levels) each (every level of a side is
        scanned): one read of the deepest top either table needs serves both
        book_levels and features at a boundary they share.
        """
        key = (venue, symbol)
        if key in tops:
            return tops[key]
        try:
            b = self.p.book(venue, symbol)
        except KeyError:
            b = None
        sb = tops[key] = None if b is None else _SampledBook(b, self._top_depth)
        return sb

    def _sample_books(self, at: int, tops: dict) -> None:
        out = self.rows["book_levels"]
        n = self.params.book_depth
        for venue, symbol in sorted(self.dirty_books):
            sb = self._tops(venue, symbol, tops)
            if sb is None or not sb:
                continue
            b = sb.book
            for side, levels in (("bid", sb.top_bids(n)), ("ask", sb.top_asks(n))):
                for i, (px, sz) in enumerate(levels):
                    out.append((b.seq, at, venue, symbol, b.norm, b.valid, side, i, float(px), float(sz)))
        self.dirty_books.clear()

    def _sample_features(self, at: int, tops: dict) -> None:
        out = self.rows["features"]
        p = self.p
        for venue, symbol in sorted(self.dirty_feats):
            try:
                st = p.symbol_state(venue, symbol)
            except KeyError:
                continue  # an event whose fold failed before the symbol existed
            if st.book is not None and st.book.valid:
                # market_state reads the top levels through the sampled picture (same values)
                st = with_book(st, self._tops(venue, symbol, tops))
            m = market_state(st, at, p.depth_levels, p.windows, p.spike_ratio)
            win = []
            for w in _WINDOWS:
                s = m.windows.get(w)
                win.extend((s.trades, s.volume, s.vwap, s.pressure, s.momentum) if s else
                           (None,) * 5)
            out.append((m.seq, at, venue, symbol, m.norm, m.valid, m.source, _f(m.best_bid),
                        _f(m.best_ask), _f(m.mid), _f(m.spread), _f(m.weighted_mid),
                        _f(m.bid_depth), _f(m.ask_depth), m.imbalance, _f(m.last_price), *win,
                        m.large_trade, m.volume_spike))
        self.dirty_feats.clear()

    # -- output --------------------------------------------------------------------

    def pending_rows(self) -> int:
        return sum(len(v) for v in self.rows.values())

    def take(self) -> dict[str, pa.Table]:
        """The rows emitted since the last ``take`` as one Arrow table per table name."""
        out = {}
        for name, rows in self.rows.items():
            out[name] = rows_to_table(name, rows)
            self.rows[name] = []
        return out

    # -- checkpoints ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Projector state plus sampling state as canonical bytes (rows not taken are not kept)."""
        state = [FORMAT, self.next_book, self.next_feat, self.next_bar_close,
                 sorted(self.dirty_books), sorted(self.dirty_feats),
                 sorted([list(k), v] for k, v in self.bars.items()),
                 sorted([list(k), _quote_state(v)] for k, v in self.last_quote.items())]
        return msgspec.msgpack.encode([self.p.snapshot(), msgspec.msgpack.encode(state)])

    @classmethod
    def restore(cls, blob: bytes, streams: dict[int, StreamInfo],
                params: DeriveParams | None = None) -> Deriver:
        proj_blob, state_blob = msgspec.msgpack.decode(blob)
        d = cls(streams, params, projector=Projector.restore(proj_blob, streams))
        s = msgspec.msgpack.decode(state_blob)
        if s[0] != FORMAT:
            raise CheckpointFormatError(FORMAT, s[0])
        d.next_book, d.next_feat, d.next_bar_close = s[1], s[2], s[3]
        d.dirty_books = {tuple(k) for k in s[4]}
        d.dirty_feats = {tuple(k) for k in s[5]}
        d.bars = {tuple(k): v for k, v in s[6]}
        d.last_quote = {tuple(k): _quote_from(v) for k, v in s[7]}
        return d


class _SampledBook:
    """A book's top levels read once at a sampling boundary, for book_levels and features.

    Stands in for the ``Book`` where ``state.market.market_state`` reads it (``valid``,
    ``crossed``, ``seen_delta``, truthiness, ``top_bids``/``top_asks`` up to ``depth``;
    any other attribute is the book's own).
    The best ``n`` of a side are the first ``n`` of its best ``depth`` (keys are unique
    per level), so every value equals what the book itself returns.
    """

    __slots__ = ("book", "valid", "crossed", "seen_delta", "depth", "_bids", "_asks")

    def __init__(self, book: Any, depth: int) -> None:
        self.book = book
        self.valid = book.valid
        self.crossed = book.crossed
        self.seen_delta = book.seen_delta
        self.depth = depth
        # An empty book has no best price: skip its O(levels) scans.
        self._bids = book.top_bids(depth) if book.best_bid() is not None else []
        self._asks = book.top_asks(depth) if book.best_ask() is not None else []

    def __getattr__(self, name: str) -> Any:
        # Anything else market_state may read comes from the book itself (same instant).
        return getattr(self.book, name)

    def __len__(self) -> int:
        """Levels within the top read (non-zero exactly when the book has a level)."""
        return len(self._bids) + len(self._asks)

    def top_bids(self, n: int) -> list[tuple[Decimal, Decimal]]:
        if n > self.depth:
            raise QueryUsageError(f"{n} levels asked of a picture of {self.depth}")
        return self._bids[:n]

    def top_asks(self, n: int) -> list[tuple[Decimal, Decimal]]:
        if n > self.depth:
            raise QueryUsageError(f"{n} levels asked of a picture of {self.depth}")
        return self._asks[:n]


def _quote_state(v: tuple) -> list:
    valid, bid, ask = v
    def side(x):  # noqa: E306 (Decimals as strings: canonical and exact)
        return None if x is None else [None if d is None else str(d) for d in x]
    return [valid, side(bid), side(ask)]


def _quote_from(v: list) -> tuple:
    valid, bid, ask = v
    def side(x):  # noqa: E306
        return None if x is None else tuple(None if d is None else Decimal(d) for d in x)
    return (valid, side(bid), side(ask))


def rows_to_table(name: str, rows: list[tuple]) -> pa.Table:
    """Rows (tuples in schema order) as an Arrow table of ``SCHEMAS[name]``."""
    schema = SCHEMAS[name]
    if not rows:
        return schema.empty_table()
    cols = list(zip(*rows, strict=True))
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)],
                                schema=schema)
