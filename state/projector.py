"""The projector: folds journal records into books, market state and validation counts.

    p = Projector(reader.streams(), depth_levels=20)
    for rec in reader.read():
        events = p.apply(rec)          # decoded events plus Gap / Anomaly it derived
    p.market("binance-usdm", "BTCUSDT").best_bid
    p.books_needing_snapshot()         # live: fetch these snapshots into the journal
    blob = p.snapshot(); q = Projector.restore(blob, streams); assert q.digest() == p.digest()

Deterministic: the state after records 1..N depends on those records only (not on
batching, wall time or restore points). All time is the records' ``ts_ns``.

``apply`` and ``apply_many`` are one fold, the compiled core's (``ticktape_core.Fold``:
``ticktape::fold`` for the checks, ``core/python/src/fold.rs`` for the state), crossing
into it once per call: a frame of a venue the core has a decoder for is decoded and folded
there without a Python object (``apply`` makes the events it returns); REST records,
venues without a compiled decoder and unknown streams go through ``state.decode``, whose
events the core folds the same way. Books (``state.book``) are changed only by the
venue's sync rule, whose findings are counted ``Anomaly`` events. A venue's bad frame is an
event (``DecodeError``), never an exception; misuse is (``state.errors``: records out of
order, a blob of another format, bad settings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import msgspec
import ticktape_core as _core

from recorder.journal.record import Record, StreamInfo

from . import digest as _codec
from .book import Book
from .decode import Decoder, decoder_for
from .decode.common import NullDecoder
from .errors import RecordOrderError, SettingsError, UnknownSymbolError
from .events import (
    Anomaly,
    BookDelta,
    BookSnapshot,
    BookTicker,
    DecodeError,
    Event,
    Gap,
    Kline,
    Listing,
    Ticker,
    Trade,
)
from .features import NS, TradeTape
from .listing import listing_of
from .market import (
    MarketState,
    SymbolState,
    market_state,
    reference_price,
    state_json,
)
from .symbols import split_key
from .sync import ids_suffice
from .validation import Counters

# The classes the core's fold makes values of (it imports no project module).
_core.fold_types(BookTicker, Trade, BookDelta, BookSnapshot, Ticker, Kline, Gap, Anomaly,
                 DecodeError, TradeTape, Listing, listing_of)

DEFAULT_LARGE = {"USDT": 100_000.0, "USDC": 100_000.0, "USD": 100_000.0, "FDUSD": 100_000.0,
                 "BUSD": 100_000.0, "KRW": 130_000_000.0, "BTC": 1.5, "ETH": 30.0, "EUR": 90_000.0}
RECENT_IDS = _core.RECENT_IDS  # trade ids remembered per symbol when the venue's ids have no order


class Premium(msgspec.Struct, frozen=True):
    """An Upbit KRW market against one USDT twin, at Upbit's own KRW-USDT rate."""

    base: str
    upbit_symbol: str
    krw_price: Decimal
    usdt_krw: Decimal  # KRW per USDT (Upbit KRW-USDT)
    venue: str
    symbol: str
    usdt_price: Decimal
    premium: float  # krw_price / (usdt_price * usdt_krw) - 1


class Projector:
    """Fold records into per-(venue, symbol) state; see the module docstring."""

    def __init__(self, streams: dict[int, StreamInfo] | None = None, *, depth_levels: int = 20,
                 windows: tuple[int, ...] = (60, 300, 900),
                 large_trade_quote: dict[str, float] | None = None,
                 spike_ratio: float = 3.0, sync_only: bool = False) -> None:
        """``sync_only``: fold book snapshots and deltas only (their sync, gaps and validity);
        trades, tickers and klines are skipped. The recorder runs such a projection to learn
        which books need a snapshot when the full projection is off. Books keep no levels
        where the venue's rule decides on update ids alone (``state.sync.ids_suffice``,
        ``state.book``): the same Gaps, validity and ``books_needing_snapshot()`` as the full
        projection's. Frames are decoded in full by the compiled decoders (so a frame is a
        decode error in both projections alike); only REST records and venues without a
        compiled decoder go through the ids-only Python schemas."""
        if not windows or list(windows) != sorted(windows) or windows[0] <= 0:
            raise SettingsError("windows", "increasing positive seconds, e.g. (60, 300, 900)")
        self.depth_levels = int(depth_levels)
        self.windows = tuple(int(w) for w in windows)
        self.large_trade_quote = dict(DEFAULT_LARGE if large_trade_quote is None else large_trade_quote)
        self.spike_ratio = float(spike_ratio)
        self.streams: dict[int, StreamInfo] = dict(streams or {})
        self._decoders: dict[int, Decoder] = {}
        self.sync_only = bool(sync_only)
        # The fold itself (records, decoders, symbol states, counters, stream times) is the
        # compiled core's: see ``ticktape_core.Fold`` (core/python/src/fold.rs).
        self._core = _core.Fold(self._resolve, self.depth_levels, self.windows[-1] * NS,
                                self.large_trade_quote, self.sync_only)
        self._sym_cache: dict[tuple[str, str], SymbolState] = {}

    # -- input ---------------------------------------------------------------------

    def add_stream(self, info: StreamInfo) -> None:
        """Register a connection that appeared after construction (live)."""
        self.streams[info.id] = info
        self._decoders.pop(info.id, None)
        self._core.forget_stream(info.id)  # its new decoder with its next record

    def _decoder(self, stream: int) -> Decoder:
        dec = self._decoders.get(stream)
        if dec is None:
            info = self.streams.get(stream)
            if info is None:
                dec = NullDecoder(StreamInfo(stream, f"unknown-stream-{stream}"))
            else:  # sync-only: book events without their levels where the rule needs none
                dec = decoder_for(info, ids_only=self.sync_only and ids_suffice(info.venue))
            self._decoders[stream] = dec
        return dec

    def _resolve(self, stream: int) -> tuple[Decoder, str, str, str, bool]:
        """For the core's fold: the stream's Python decoder (REST records, venues without a
        compiled decoder, unknown streams) and its venue, market and URL, which pick the
        compiled decoder of its frames (``known``: the stream is in the streams table)."""
        dec = self._decoder(stream)
        info = self.streams.get(stream)
        if info is None:
            return dec, dec.venue, "", "", False
        return dec, dec.venue, info.market, info.url, True

    def apply(self, rec: Record) -> list[Event]:
        """Fold one record; returns its decoded events, each followed by the Gap / Anomaly
        events it derived (the live recorder looks for ``Gap`` here).

        ``RecordOrderError`` (a ``ValueError``) when ``rec.seq`` is not above ``last_seq``:
        nothing is folded."""
        out: list[Event] = []
        bad = self._core.apply(rec, out)
        if bad is not None:
            raise RecordOrderError(*bad)
        return out

    def apply_many(self, records: Iterable[Record]) -> None:
        """Fold records in order, the same transitions as ``apply`` each (the replay and
        benchmark path: events are not kept, and a frame a compiled decoder reads makes no
        Python object). ``RecordOrderError`` at the first record out of order; the ones
        before it stay folded."""
        bad = self._core.apply_many(records)
        if bad is not None:
            raise RecordOrderError(*bad)

    def run_events(self, records: Iterator[Record], engine: Any, on_event: Callable,
                   ctx: Any, view_of: Callable, arrive: Callable, match_trades: Callable,
                   stop_ns: int, limit: int, timers: list, pending: Any, resting: dict,
                   streams: dict | None,
                   wanted: Callable | None = None) -> tuple[int, int, int, Record | None]:
        """The backtest's hot loop (``replay.engine``), in the core: fold records of
        ``records`` one at a time and hand each one's events to ``on_event`` before the next
        is folded (a callback sees the state as of its record, as between ``apply`` calls),
        with the engine's steps after the fold (orders arriving, trades matched), until a
        record needs a step before its fold (a sample, a timer, a new stream, progress);
        that one is returned unfolded. See ``ticktape_core.Fold.run_events`` for the
        conditions and the arguments; returns (records folded, events, events of an invalid
        book, the record it stopped at or None when ``records`` ended)."""
        return self._core.run_events(records, engine, on_event, ctx, view_of, arrive,
                                     match_trades, stop_ns, limit, timers, pending, resting,
                                     streams, wanted)

    @property
    def last_seq(self) -> int:
        return self._core.last_seq

    @property
    def ts_ns(self) -> int:
        """Receive time of the last record: "now" for windows."""
        return self._core.ts_ns

    @property
    def counters_(self) -> Counters:
        """The validation counters (a copy)."""
        return Counters.from_state(self._core.counters_state())

    @property
    def _symbols(self) -> dict[tuple[str, str], SymbolState]:
        """(venue, symbol key) -> its state, in first-seen order of the core's (cached while
        no symbol is added; symbols are never removed)."""
        if len(self._sym_cache) != len(self._core):
            self._sym_cache = {(v, s): st for v, s, st in self._core.symbols()}
        return self._sym_cache

    def _stream_times(self) -> dict[int, int]:
        """stream -> receive time of its last record, the current stream's included."""
        return dict(self._core.stream_times())

    # -- queries -------------------------------------------------------------------

    @property
    def counters(self) -> dict[int, dict[str, int]]:
        """stream id -> {counter: count}: validation kinds, decode_error, gap."""
        return self.counters_.as_dict()

    def symbols(self) -> list[tuple[str, str]]:
        """Every (venue, symbol key) seen, sorted."""
        return sorted(self._symbols)

    def symbol_state(self, venue: str, symbol: str) -> SymbolState:
        """The fold's state of a symbol (``ticktape_core.FoldedSymbol``): ``SymbolState``'s
        attributes, read-only and live (its ``book`` and ``tape`` are the ones the fold
        changes; ``quote``, ``last_trade``, ``ticker`` and ``klines`` are made on each read).
        ``state.market.with_book`` makes a ``SymbolState`` copy of it."""
        return self._symbols[(venue, self.resolve_symbol(venue, symbol))]

    def folded(self, venue: str, key: str) -> SymbolState | None:
        """The fold's state of a symbol by its exact key (``symbol_state`` without the name
        resolution), None when it has none: the cheap read a live reader makes per ask."""
        return self._symbols.get((venue, key))

    def resolve_symbol(self, venue: str, name: str) -> str:
        """A symbol key from a key, a bare native name or a normalized name; KeyError if none."""
        if (venue, name) in self._symbols:
            return name
        keys = [s for v, s in sorted(self._symbols) if v == venue]
        for match in (lambda k: split_key(k)[1] == name,
                      lambda k: self._symbols[(venue, k)].norm == name.upper(),
                      lambda k: split_key(k)[1].upper() == name.upper()):
            found = [k for k in keys if match(k)]
            if found:
                return sorted(found, key=lambda k: (":" in k, k))[0]
        raise UnknownSymbolError(venue, name)

    def book(self, venue: str, symbol: str) -> Book | None:
        """The book of a symbol (None when the venue sent it no book data); read-only."""
        return self.symbol_state(venue, symbol).book

    def market(self, venue: str, symbol: str) -> MarketState:
        """The market picture of a symbol at the last record's time."""
        return market_state(self.symbol_state(venue, symbol), self.ts_ns, self.depth_levels,
                            self.windows, self.spike_ratio)

    def books_needing_snapshot(self, *, rest_only: bool = False) -> list[tuple[str, str]]:
        """(venue, symbol key) of every book that has deltas but no valid sync.

        The live recorder fetches a REST snapshot for these (``rest_only=True`` lists
        only venues synced that way; the others need a resubscribe).
        """
        out = []
        for (venue, symbol), st in self._symbols.items():
            b = st.book
            if b is None or not b.needs_snapshot:
                continue
            if rest_only and not b.rest_synced:
                continue
            out.append((venue, symbol))
        return sorted(out)

    def premium(self, base: str) -> list[Premium]:
        """Upbit ``KRW-<base>`` over each USDT twin (spot and perpetual) on other venues."""
        base = base.upper()
        up = self._symbols.get(("upbit", f"KRW-{base}"))
        fx = self._symbols.get(("upbit", "KRW-USDT"))
        if up is None or fx is None:
            return []
        krw = reference_price(self._picture(up))
        rate = reference_price(self._picture(fx))
        if not krw or not rate:
            return []
        out = []
        for (venue, symbol), st in sorted(self._symbols.items()):
            if venue == "upbit" or st.norm not in (f"{base}-USDT", f"{base}-USDT-PERP"):
                continue
            usdt = reference_price(self._picture(st))
            if not usdt:
                continue
            out.append(Premium(base, up.symbol, krw, rate, venue, symbol, usdt,
                               float(krw / (usdt * rate) - 1)))
        return out

    def premiums(self) -> list[Premium]:
        """``premium`` for every Upbit KRW market that has a twin."""
        bases = sorted(s.split("-", 1)[1] for v, s in self._symbols if v == "upbit"
                       and s.startswith("KRW-") and s != "KRW-USDT")
        return [p for b in bases for p in self.premium(b)]

    def _picture(self, st: SymbolState) -> MarketState:
        return market_state(st, self.ts_ns, self.depth_levels, self.windows, self.spike_ratio)

    def to_json(self, venue: str | None = None, symbol: str | None = None, depth: int = 10) -> dict:
        """JSON-ready state: per symbol best bid/ask (decimal strings), valid, features."""
        rows = []
        for v, s in self.symbols():
            if venue is not None and v != venue:
                continue
            if symbol is not None and venue is not None and s != self.resolve_symbol(venue, symbol):
                continue
            if symbol is not None and venue is None and symbol not in (s, self._symbols[(v, s)].norm):
                continue
            st = self._symbols[(v, s)]
            rows.append(state_json(self._picture(st), st.book, depth))
        return {
            "last_seq": self.last_seq, "ts_ns": self.ts_ns, "digest": self.digest(),
            "symbols": rows,
            "premiums": [msgspec.to_builtins(p) for p in self.premiums()],
            "books_needing_snapshot": [list(x) for x in self.books_needing_snapshot()],
            "counters": {str(k): v for k, v in self.counters.items()},
        }

    # -- checkpoints ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes (same state -> same bytes; see ``state.digest``)."""
        config = [self.depth_levels, list(self.windows), sorted(self.large_trade_quote.items()),
                  self.spike_ratio]
        syms = self._symbols
        keys = sorted(syms)
        return _codec.encode_rows([config, self.last_seq, self.ts_ns, sorted(self._stream_times().items()),
                                   self._core.counters_state()],
                                  (syms[k].state() for k in keys), len(keys))

    @classmethod
    def restore(cls, blob: bytes, streams: dict[int, StreamInfo] | None = None, *,
                sync_only: bool = False) -> Projector:
        """A projector continuing exactly where ``snapshot()`` left off.

        ``SnapshotFormatError`` (a ``ValueError``) when ``blob`` is not a snapshot of the
        current format. ``sync_only`` is not in the snapshot: say it again here."""
        config, last_seq, ts_ns, stream_ts, counters, symbols = _codec.decode(blob)
        depth, windows, large, spike = config
        p = cls(streams or {}, depth_levels=depth, windows=tuple(windows),
                large_trade_quote=dict(large), spike_ratio=spike, sync_only=sync_only)
        p._core.restore(last_seq, ts_ns, [tuple(x) for x in stream_ts],
                        [(k, [tuple(c) for c in cs]) for k, cs in counters])
        for s in symbols:
            venue, symbol, norm, book, tape = s[:5]
            b = None if book is None else Book.from_state(venue, symbol, norm, book,
                                                          sync_only=sync_only)
            p._core.add_symbol(s, b, TradeTape.from_state(tape))
        return p

    def digest(self) -> str:
        """blake2b hex of the canonical state: live == replay in one comparison."""
        return _codec.digest_of(self.snapshot())
