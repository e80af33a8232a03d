"""Per-symbol state the projector folds into, and the MarketState read model.

``SymbolState`` is the mutable fold target (book, trade tape, last quote/ticker/
klines, trade-id tracking). ``MarketState`` is an immutable picture computed from it
on demand: best bid/ask, spread, mid, weighted mid, depth, imbalance, last trade,
window features and flags. Computing on demand keeps the fold cheap and makes the
picture a pure function of (state, query time).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from .book import Book
from .events import BookTicker, Trade
from .features import TradeTape, WindowStats
from .levels import fixed


class SymbolState:
    """Everything folded for one (venue, symbol key).

    A projector's symbols are the compiled fold's (``ticktape_core.FoldedSymbol``, see
    ``state.projector``): the same attributes, read-only, and the same ``state()``. This
    class is that state as plain Python (built by hand, or by ``with_book``)."""

    __slots__ = ("venue", "symbol", "norm", "quote_ccy", "book", "tape", "quote", "ticker",
                 "klines", "last_trade", "last_large", "last_ordinal", "recent_ids", "seq",
                 "ts_ns", "large_threshold", "quote_ok")

    def __init__(self, venue: str, symbol: str, norm: str, horizon_ns: int,
                 large_threshold: float) -> None:
        self.venue = venue
        self.symbol = symbol
        self.norm = norm
        parts = norm.split("-")
        self.quote_ccy = parts[1] if len(parts) > 1 else ""
        self.book: Book | None = None
        self.tape = TradeTape(horizon_ns)
        self.quote: BookTicker | None = None  # the last book ticker, as decoded
        self.ticker: dict[str, str] = {}  # merged Ticker fields (a missing field is unchanged)
        self.klines: dict[str, list] = {}  # interval -> [start_ns, o, h, l, c, v, qv, closed, seq]
        self.last_trade: Trade | None = None
        self.last_large = False  # the last trade was large
        self.last_ordinal: int | None = None
        self.recent_ids: list[str] = []  # ids of the last trades, for venues without ordinals
        self.seq = 0
        self.ts_ns = 0
        self.large_threshold = large_threshold
        # The last quote's prices parsed as positive with bid < ask: a cache of a check
        # (not state: a restored projector recomputes it on the next quote).
        self.quote_ok = False

    def state(self) -> list:
        """Everything folded, as plain values for ``state.digest`` (the layout is part of
        its FORMAT): ``[venue, symbol, norm, book, tape, quote, ticker, klines, last_trade,
        last_large, last_ordinal, recent_ids, seq, ts_ns, large_threshold]``; events as
        their fields in order, dicts as sorted pairs."""
        return [self.venue, self.symbol, self.norm,
                None if self.book is None else self.book.state(), self.tape.state(),
                None if self.quote is None else list(msgspec.structs.astuple(self.quote)),
                sorted(self.ticker.items()), sorted(self.klines.items()),
                None if self.last_trade is None else list(msgspec.structs.astuple(self.last_trade)),
                self.last_large, self.last_ordinal, self.recent_ids, self.seq, self.ts_ns,
                self.large_threshold]

    @classmethod
    def from_state(cls, s: list, *, sync_only: bool = False) -> SymbolState:
        """The state ``state()`` described (``sync_only``: for a sync-only projection, whose
        book keeps no levels; see ``state.book``)."""
        (venue, symbol, norm, book, tape, quote, ticker, klines, last_trade, last_large,
         last_ordinal, recent, seq, ts_ns, large) = s
        st = cls(venue, symbol, norm, tape[0], large)
        st.book = None if book is None else Book.from_state(venue, symbol, norm, book,
                                                            sync_only=sync_only)
        st.tape = TradeTape.from_state(tape)
        st.quote = None if quote is None else BookTicker(*quote)  # the fields in order
        st.ticker = dict(ticker)
        st.klines = dict(klines)
        st.last_trade = None if last_trade is None else Trade(*last_trade)
        st.last_large = last_large
        st.last_ordinal, st.recent_ids, st.seq, st.ts_ns = last_ordinal, recent, seq, ts_ns
        return st


def with_book(st, book) -> SymbolState:
    """A shallow copy of a symbol's state (a projector's, or a ``SymbolState``) with another
    book: what ``market_state`` reads, e.g. a sampled picture of the top levels."""
    out = SymbolState.__new__(SymbolState)
    for name in SymbolState.__slots__:
        setattr(out, name, getattr(st, name))
    out.book = book
    return out


class MarketState(msgspec.Struct, frozen=True):
    """A picture of one symbol at the query time. Prices exact (Decimal), features float."""

    venue: str
    symbol: str
    norm: str
    seq: int  # last journal seq that changed this symbol
    ts_ns: int  # its receive time
    valid: bool  # the book is synced (or, bookless, a quote exists)
    crossed: bool
    source: str  # where best bid/ask came from: "book", "quote", "ticker", "trade" or ""
    best_bid: Decimal | None
    best_bid_size: Decimal | None
    best_ask: Decimal | None
    best_ask_size: Decimal | None
    spread: Decimal | None
    mid: Decimal | None
    weighted_mid: Decimal | None  # microprice: (bid * ask_size + ask * bid_size) / sizes
    depth_levels: int
    bid_depth: Decimal | None  # sum of sizes over the top depth_levels
    ask_depth: Decimal | None
    imbalance: float | None  # (bid_depth - ask_depth) / (bid_depth + ask_depth)
    last_price: Decimal | None
    last_size: Decimal | None
    last_side: str
    last_trade_ts_ns: int
    windows: dict[int, WindowStats]  # seconds -> stats
    large_trade: bool  # a large trade within the shortest window
    volume_spike: bool  # shortest-window volume >= spike_ratio x its share of the longest
    ticker: dict[str, str]  # 24h stats, mark, index, funding as sent


def _dec(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def market_state(st: SymbolState, now_ns: int, depth: int, windows: tuple[int, ...],
                 spike_ratio: float) -> MarketState:
    """Compute the picture of ``st`` at record time ``now_ns``."""
    book = st.book
    bb = ba = bbs = bas = None
    bid_depth = ask_depth = None
    source = ""
    valid = False
    crossed = False
    if book is not None:
        valid = book.valid
        crossed = book.crossed
    has_levels = False
    if book is not None and book.valid:
        if depth > 0:  # the top levels say whether it holds any (len(book) counts them all)
            bids = book.top_bids(depth)
            asks = book.top_asks(depth)
            has_levels = bool(bids or asks)
        else:
            bids = asks = []
            has_levels = len(book) > 0
    if has_levels:
        if bids:
            bb, bbs = bids[0]
            bid_depth = sum((s for _, s in bids), Decimal(0))
        if asks:
            ba, bas = asks[0]
            ask_depth = sum((s for _, s in asks), Decimal(0))
        source = "book"
    elif st.quote is not None and (book is None or not book.seen_delta):
        q = st.quote
        bb, bbs, ba, bas = Decimal(q.bid_px), Decimal(q.bid_sz), Decimal(q.ask_px), Decimal(q.ask_sz)
        source = "quote"
        valid = book is None or valid
    elif st.ticker.get("bid") and st.ticker.get("ask") and book is None:
        bb, ba = Decimal(st.ticker["bid"]), Decimal(st.ticker["ask"])
        source = "ticker"
    if bb is not None and ba is not None:
        spread = ba - bb
        mid = (bb + ba) / 2
        wmid = ((bb * bas + ba * bbs) / (bbs + bas)) if bbs is not None and bas is not None \
            and (bbs + bas) > 0 else None
        if source != "book":
            crossed = bb >= ba
    else:
        spread = mid = wmid = None
    imbalance = None
    if bid_depth is not None and ask_depth is not None and bid_depth + ask_depth > 0:
        imbalance = float((bid_depth - ask_depth) / (bid_depth + ask_depth))
    stats = {w: st.tape.window(now_ns, w) for w in windows}
    short, long_ = stats[windows[0]], stats[windows[-1]]
    spike = (long_.volume > 0 and short.volume >= spike_ratio * long_.volume * windows[0] / windows[-1]
             and short.volume > 0 and windows[0] < windows[-1])
    lt = st.last_trade
    return MarketState(
        st.venue, st.symbol, st.norm, st.seq, st.ts_ns, valid, crossed, source, bb, bbs, ba, bas,
        spread, mid, wmid, depth, bid_depth, ask_depth, imbalance,
        _dec(lt.price) if lt else None, _dec(lt.size) if lt else None, lt.side if lt else "",
        lt.exch_ts_ns if lt else 0, stats, short.large_trades > 0, bool(spike), dict(st.ticker))


def reference_price(m: MarketState) -> Decimal | None:
    """Mid if both sides are known, else the last trade price (for premiums)."""
    if m.mid is not None:
        return m.mid
    if m.ticker.get("last"):
        return Decimal(m.ticker["last"])
    return m.last_price


def state_json(m: MarketState, book: Book | None, levels: int) -> dict:
    """MarketState as JSON-ready builtins: decimals as strings, book top levels."""
    def s(d):
        return None if d is None else fixed(d)
    out = {
        "venue": m.venue, "symbol": m.symbol, "norm": m.norm, "seq": m.seq, "ts_ns": m.ts_ns,
        "valid": m.valid, "crossed": m.crossed, "source": m.source,
        "best_bid": s(m.best_bid), "best_bid_size": s(m.best_bid_size),
        "best_ask": s(m.best_ask), "best_ask_size": s(m.best_ask_size),
        "features": {
            "spread": s(m.spread), "mid": s(m.mid), "weighted_mid": s(m.weighted_mid),
            "depth_levels": m.depth_levels, "bid_depth": s(m.bid_depth), "ask_depth": s(m.ask_depth),
            "imbalance": m.imbalance, "last_price": s(m.last_price), "last_size": s(m.last_size),
            "last_side": m.last_side, "last_trade_ts_ns": m.last_trade_ts_ns,
            "large_trade": m.large_trade, "volume_spike": m.volume_spike,
            "windows": {str(k): msgspec.to_builtins(v) for k, v in m.windows.items()},
        },
        "ticker": m.ticker,
    }
    if book is not None and levels > 0 and book.valid:
        out["bids"] = [[fixed(p), fixed(q)] for p, q in book.top_bids(levels)]
        out["asks"] = [[fixed(p), fixed(q)] for p, q in book.top_asks(levels)]
    return out
