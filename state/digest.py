"""Canonical encoding of a projector's state (snapshot/restore) and its digest.

The encoding is msgpack of plain values in a fixed order: symbols sorted, book
levels sorted, dicts with sorted keys, Decimals as their strings, floats as float64.
The same state always gives the same bytes, so ``digest`` (blake2b of the bytes)
compares a live projection with a replay in one line.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import TYPE_CHECKING

import msgpack
import msgspec

from .book import Book
from .events import BookDelta, BookTicker, Trade
from .features import TradeTape
from .market import SymbolState

if TYPE_CHECKING:
    from .projector import Projector

FORMAT = 2  # bump when the layout changes; restore refuses other versions (2: tape columns as bytes)


def _book_state(b: Book) -> list:
    bids, asks = b.raw_levels()
    return [b.rule, b.depth, bids, asks, b.last_id, b.valid, b.crossed, b.pending, b.mode,
            [list(msgspec.structs.astuple(d)) for d in b.buffer], b.seen_delta, b.seq, b.ts_ns,
            [b.updates, b.gaps, b.stale, b.checksum_ok, b.checksum_bad, b.ticker_ok, b.ticker_bad],
            [[t.update_id, t.bid_px, t.bid_sz, t.ask_px, t.ask_sz, t.seq] for t in b.tickers]]


def _book_from(venue: str, symbol: str, norm: str, s: list) -> Book:
    (rule, depth, bids, asks, last_id, valid, crossed, pending, mode, buffer, seen_delta, seq,
     ts_ns, counts, tickers) = s
    b = Book(venue, symbol, norm, rule, depth)
    b.load(bids, asks)
    b.last_id, b.valid, b.crossed, b.pending, b.mode = last_id, valid, crossed, pending, mode
    b.buffer = [BookDelta(*d) for d in buffer]
    b.seen_delta, b.seq, b.ts_ns = seen_delta, seq, ts_ns
    b.tickers = [BookTicker(venue, symbol, norm, 0, 0, seq, bid, bid_sz, ask, ask_sz, u)
                 for u, bid, bid_sz, ask, ask_sz, seq in tickers]
    (b.updates, b.gaps, b.stale, b.checksum_ok, b.checksum_bad, b.ticker_ok, b.ticker_bad) = counts
    return b


def _symbol_state(st: SymbolState) -> list:
    return [st.venue, st.symbol, st.norm, None if st.book is None else _book_state(st.book),
            st.tape.state(),
            None if st.quote is None else list(msgspec.structs.astuple(st.quote)),
            sorted(st.ticker.items()), sorted(st.klines.items()),
            None if st.last_trade is None else list(msgspec.structs.astuple(st.last_trade)),
            st.last_large, st.last_ordinal, st.recent_ids, st.seq, st.ts_ns, st.large_threshold]


def _symbol_from(s: list) -> SymbolState:
    (venue, symbol, norm, book, tape, quote, ticker, klines, last_trade, last_large, last_ordinal,
     recent, seq, ts_ns, large) = s
    st = SymbolState(venue, symbol, norm, tape[0], large)
    st.book = None if book is None else _book_from(venue, symbol, norm, book)
    st.tape = TradeTape.from_state(tape)
    st.quote = None if quote is None else BookTicker(*quote)
    st.ticker = dict(ticker)
    st.klines = dict(klines)
    st.last_trade = None if last_trade is None else Trade(*last_trade)
    st.last_large = last_large
    st.last_ordinal, st.recent_ids, st.seq, st.ts_ns = last_ordinal, recent, seq, ts_ns
    return st


def encode(p: Projector) -> bytes:
    config = [p.depth_levels, list(p.windows), sorted(p.large_trade_quote.items()), p.spike_ratio]
    state = [
        FORMAT, config, p.last_seq, p.ts_ns, sorted(p._stream_ts.items()),
        [[s, sorted(c.items())] for s, c in sorted(p.counters_.by_stream.items())],
        [_symbol_state(p._symbols[k]) for k in sorted(p._symbols)],
    ]
    return msgpack.packb(state, use_bin_type=True)


def decode(cls: type[Projector], blob: bytes, streams: dict) -> Projector:
    state = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    if not isinstance(state, list) or not state or state[0] != FORMAT:
        raise ValueError(f"not a projector snapshot of format {FORMAT}")
    _, config, last_seq, ts_ns, stream_ts, counters, symbols = state
    depth, windows, large, spike = config
    p = cls(streams, depth_levels=depth, windows=tuple(windows), large_trade_quote=dict(large),
            spike_ratio=spike)
    p.last_seq, p.ts_ns = last_seq, ts_ns
    p._stream_ts = dict(stream_ts)
    for s, c in counters:
        p.counters_.by_stream[s] = dict(c)
    for s in symbols:
        st = _symbol_from(s)
        p._symbols[(st.venue, st.symbol)] = st
    return p


def digest_of(blob: bytes) -> str:
    return blake2b(blob, digest_size=32).hexdigest()
