"""One symbol's live state as the bytes of a row of the recorder's live table.

``recorder run`` publishes a row per (venue, symbol key) after each record that touches
it (``recorder.daemon.publish``); a process that attaches (``query.market.attach``)
reads the row and decodes it here. Writer and reader share this one codec:

    payload = encode_row(projector.symbol_state(venue, key), depth=10)
    row = decode_row(payload)          # LiveRow: top of book, last trade, ticker, quote
    row.bids[0]                        # ("64000.1", "0.5"): the venue's decimal strings

The payload is msgpack (array-like structs: field order is the format, ``ROW_FORMAT``
its number, checked on decode); the compiled core writes the same bytes' meaning
(``ticktape::live_row``) for the fold's symbols. Pure: no clock, no I/O; ``ts_ns`` is the receive time of
the last record that touched the symbol, never the time of publication.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import RowFormatError

ROW_FORMAT = 1
Pair = tuple[str, str]

__all__ = ["ROW_FORMAT", "LiveQuote", "LiveRow", "LiveTrade", "RowFormatError", "decode_row",
           "encode", "encode_row", "row_key", "row_of"]


class LiveTrade(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """The last trade folded."""

    price: str
    size: str
    side: str  # taker side: "buy", "sell" or "" when unknown
    trade_id: str
    exch_ts_ns: int
    recv_ts_ns: int
    seq: int  # journal seq of its record


class LiveQuote(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """The last best bid/ask the venue reported itself (a book ticker)."""

    bid_px: str
    bid_sz: str
    ask_px: str
    ask_sz: str
    exch_ts_ns: int
    recv_ts_ns: int


class LiveRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One symbol's published state; see the module docstring.

    ``valid``: the book is in sync (False when the symbol has no book, or after a gap
    until its snapshot). ``bids``/``asks`` best first, at most the publisher's depth.
    ``seq``/``ts_ns``: journal seq and receive time of the last record folded into it.
    """

    format: int
    venue: str
    symbol: str  # the venue's symbol key (state.symbols)
    norm: str
    seq: int
    ts_ns: int
    valid: bool
    has_book: bool
    bids: tuple[Pair, ...]
    asks: tuple[Pair, ...]
    last_trade: LiveTrade | None
    ticker: dict[str, str]
    quote: LiveQuote | None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(LiveRow)


def _top(book: Any, depth: int) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    """Best ``depth`` levels a side as the venue's strings (``Book.raw_levels``, exact; the
    reference path: the recorder's rows are encoded in the core)."""
    bids, asks = book.raw_levels()
    return tuple(map(tuple, bids[:depth])), tuple(map(tuple, asks[:depth]))


def row_of(sym: Any, depth: int) -> LiveRow:
    """The ``LiveRow`` of a folded symbol (``ticktape_core.FoldedSymbol`` or a
    ``state.market.SymbolState``) with ``depth`` levels a side."""
    book = sym.book
    t = sym.last_trade
    q = sym.quote
    bids, asks = _top(book, depth) if book is not None else ((), ())
    return LiveRow(
        ROW_FORMAT, sym.venue, sym.symbol, sym.norm, sym.seq, sym.ts_ns,
        bool(book is not None and book.valid), book is not None, bids, asks,
        None if t is None else LiveTrade(t.price, t.size, t.side, t.trade_id, t.exch_ts_ns,
                                         t.recv_ts_ns, t.seq),
        {k: v for k, v in sym.ticker.items() if v is not None},
        None if q is None else LiveQuote(q.bid_px, q.bid_sz, q.ask_px, q.ask_sz, q.exch_ts_ns,
                                         q.recv_ts_ns),
    )


def encode_row(sym: Any, depth: int) -> bytes:
    """The payload of ``sym``'s row: ``row_of(sym, depth)`` as msgpack.

    A projector's symbol (``ticktape_core.FoldedSymbol``) encodes itself in the compiled
    core (``live_row``: no Python object made, the recorder's per-record path); any other
    (a ``SymbolState``) through ``row_of``, the reference the core is tested against."""
    own = getattr(sym, "live_row", None)
    if own is not None:
        return own(depth)
    return _ENCODER.encode(row_of(sym, depth))


def encode(row: LiveRow) -> bytes:
    """The payload of a ``LiveRow`` built by hand (tests, tools)."""
    return _ENCODER.encode(row)


def decode_row(payload: bytes) -> LiveRow:
    """The ``LiveRow`` in ``payload``; ``RowFormatError`` when it is not one of this format."""
    try:
        row = _DECODER.decode(payload)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise RowFormatError(f"not a live row of format {ROW_FORMAT}: {exc}") from None
    if row.format != ROW_FORMAT:
        raise RowFormatError(f"live row format {row.format}, this reader knows {ROW_FORMAT}")
    return row


def row_key(venue: str, symbol: str) -> str:
    """The table key of a (venue, symbol key): ``venue/symbol``."""
    return f"{venue}/{symbol}"
