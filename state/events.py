"""Exchange-neutral events: what decoders produce and the projector folds.

Every event carries the venue, the symbol key (the venue's native symbol, see
``state.symbols``), the normalized symbol, the exchange time and our receive time
(both integer ns; 0 when the exchange sent none) and the journal seq it came from.
Prices and sizes are the exchange's decimal strings, unchanged (exact, never floats).
"""

from __future__ import annotations

import msgspec

# A price level as sent: (price, size) strings; KuCoin adds the level's own sequence.
Level = tuple[str, ...]
Levels = tuple[Level, ...]


class Event(msgspec.Struct, frozen=True, gc=False):
    """Fields shared by every event."""

    venue: str
    symbol: str  # native symbol key, unique within the venue
    norm: str  # normalized: BTC-USDT, BTC-KRW, BTC-USDT-PERP, BTC-USD-220527
    exch_ts_ns: int
    recv_ts_ns: int
    seq: int


class Trade(Event, frozen=True, gc=False):
    """One public trade (or an exchange-aggregated one)."""

    price: str
    size: str
    side: str  # taker side: "buy", "sell" or "" when unknown
    trade_id: str
    ordinal: int | None = None  # a numeric id that should grow, when the venue has one


class BookSnapshot(Event, frozen=True, gc=False):
    """A full (or top-``depth``) book: replaces what the book held."""

    bids: Levels
    asks: Levels
    update_id: int | None = None  # Binance lastUpdateId, Bybit u, Gate id, KuCoin sequence
    depth: int | None = None  # set for a partial top-N snapshot (Binance @depth20)
    checksum: int | None = None  # OKX CRC32 of the top 25 levels
    totals: tuple[str, str] | None = None  # Upbit (total_bid_size, total_ask_size)
    source: str = "ws"  # "ws" or "rest"


class BookDelta(Event, frozen=True, gc=False):
    """Changed levels: absolute sizes, size 0 removes the level."""

    bids: Levels
    asks: Levels
    first_id: int | None = None  # Binance U, Gate U, KuCoin sequenceStart
    last_id: int | None = None  # Binance u, Bybit u, OKX seqId, KuCoin sequenceEnd
    prev_id: int | None = None  # Binance futures pu, OKX prevSeqId
    checksum: int | None = None


class BookTicker(Event, frozen=True, gc=False):
    """Best bid and ask as the venue reports them."""

    bid_px: str
    bid_sz: str
    ask_px: str
    ask_sz: str
    update_id: int | None = None  # the book update id it reflects (Binance u)


class Ticker(Event, frozen=True, gc=False):
    """24h statistics, mark/index/funding; a field is None when the frame omitted it.

    ``prev_close``, ``change`` and ``change_rate`` are as the venue sends them, never
    derived: Upbit's ``prev_closing_price``, ``signed_change_price`` and
    ``signed_change_rate`` (a signed fraction: ``0.0211`` is +2.11 %); Binance's ``p`` and
    ``P`` (``P`` is per cent: ``2.11`` is +2.11 %), with ``prev_close`` its spot ``x`` (USD-M
    sends none). A reader comparing venues scales Binance's rate by 1/100.
    """

    last: str | None = None
    bid: str | None = None
    ask: str | None = None
    open: str | None = None
    high: str | None = None
    low: str | None = None
    volume: str | None = None  # base volume, 24h (or since the venue's day start)
    quote_volume: str | None = None
    mark: str | None = None
    index: str | None = None
    funding_rate: str | None = None
    prev_close: str | None = None  # the close the change is measured against
    change: str | None = None  # last - prev_close (Upbit) or 24 h price change (Binance)
    change_rate: str | None = None  # as sent: Upbit a signed fraction, Binance per cent


class Kline(Event, frozen=True, gc=False):
    """One candle as pushed (repeated while open; the last one wins)."""

    interval: str
    start_ns: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str | None = None
    closed: bool | None = None


class Gap(Event, frozen=True, gc=False):
    """A break in a book's continuity: the book is invalid until a snapshot re-syncs it.

    After a Gap: fetch a REST snapshot (Binance, Gate, KuCoin) or resubscribe (Bybit,
    OKX, Phemex); ``Projector.books_needing_snapshot()`` lists what is still broken.
    """

    expected: int | None
    got: int | None
    reason: str  # "sequence", "checksum", "stale_snapshot", "buffer_overflow", "reset"


class Anomaly(Event, frozen=True, gc=False):
    """A validation finding (counted per stream); the projection keeps going."""

    stream: int
    kind: str  # a key of state.validation.KINDS
    detail: str


class DecodeError(Event, frozen=True, gc=False):
    """A record that could not be decoded: quarantined with its seq, counted, skipped."""

    stream: int
    reason: str
    excerpt: bytes


class Listing(Event, frozen=True, gc=False):
    """A new Upbit KRW listing the recorder's watcher detected (its ``listing`` mark).

    ``symbol`` and ``norm`` are the coin (``DEEP``), ``venue`` is ``upbit``; ``exch_ts_ns``
    is the announcement (the notice's first visibility), ``recv_ts_ns`` the mark's record
    time. Strategies get it with ``market`` None: it belongs to no book.
    """

    markets: tuple[str, ...]  # the new markets: "KRW", and "BTC"/"USDT" announced with it
    notice_id: int | None  # None: found in Upbit's market list before any notice
    title: str
    announced_at_ns: int
    detected_at_ns: int
    name: str = ""  # the coin's name as the notice writes it


EVENT_TYPES = (Trade, BookSnapshot, BookDelta, BookTicker, Ticker, Kline, Gap, Anomaly, DecodeError,
               Listing)
