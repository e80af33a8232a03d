"""The projection's fold as it was in Python (state/projector.py before the fold moved into
the core, ``ticktape_core.Fold``): the reference ``test_fold_core`` holds the core's fold to,
event for event and digest for digest. Test-only; nothing in the product imports it.


    p = Projector(reader.streams(), depth_levels=20)
    for rec in reader.read():
        events = p.apply(rec)          # decoded events plus Gap / Anomaly it derived
    p.market("binance-usdm", "BTCUSDT").best_bid
    p.books_needing_snapshot()         # live: fetch these snapshots into the journal
    blob = p.snapshot(); q = Projector.restore(blob, streams); assert q.digest() == p.digest()

Deterministic: the state after records 1..N depends on those records only (not on
batching, wall time or restore points). All time is the records' ``ts_ns``.

``apply`` and ``apply_many`` are one fold (``_fold_records``). Books (``state.book``) are
changed only through their ``apply_*`` methods, which run the venue's sync rule and
report findings back here as counted ``Anomaly`` events. A venue's bad frame is an
event (``DecodeError``), never an exception; misuse is (``state.errors``: records out of
order, a blob of another format, bad settings).
"""

from __future__ import annotations

from collections.abc import Iterable

from recorder.journal.record import Record, StreamInfo
from state import digest as _codec
from state.book import Book
from state.decode import Decoder, decoder_for
from state.decode.common import NullDecoder
from state.errors import RecordOrderError, SettingsError
from state.events import (
    Anomaly,
    BookDelta,
    BookSnapshot,
    BookTicker,
    DecodeError,
    Event,
    Kline,
    Ticker,
    Trade,
)
from state.features import NS
from state.levels import known_price, price_key
from state.listing import listing_of
from state.market import (
    SymbolState,
)
from state.projector import Projector as _Product
from state.sync import ids_suffice
from state.validation import Counters, classify, classify_size

DEFAULT_LARGE = {"USDT": 100_000.0, "USDC": 100_000.0, "USD": 100_000.0, "FDUSD": 100_000.0,
                 "BUSD": 100_000.0, "KRW": 130_000_000.0, "BTC": 1.5, "ETH": 30.0, "EUR": 90_000.0}
RECENT_IDS = 64  # trade ids remembered per symbol when the venue's ids have no order
INF = float("inf")
NAN = float("nan")


class Projector:
    """Fold records into per-(venue, symbol) state; see the module docstring."""

    def __init__(self, streams: dict[int, StreamInfo] | None = None, *, depth_levels: int = 20,
                 windows: tuple[int, ...] = (60, 300, 900),
                 large_trade_quote: dict[str, float] | None = None,
                 spike_ratio: float = 3.0, sync_only: bool = False) -> None:
        """``sync_only``: fold book snapshots and deltas only (their sync, gaps and validity);
        trades, tickers and klines are skipped. The recorder runs such a projection to learn
        which books need a snapshot when the full projection is off. Where the venue's rule
        decides on update ids alone (``state.sync.ids_suffice``), book events are decoded
        without their levels and books keep none (``state.book``): the same Gaps, validity
        and ``books_needing_snapshot()`` as the full projection's, at a fraction of the cost."""
        if not windows or list(windows) != sorted(windows) or windows[0] <= 0:
            raise SettingsError("windows", "increasing positive seconds, e.g. (60, 300, 900)")
        self.depth_levels = int(depth_levels)
        self.windows = tuple(int(w) for w in windows)
        self.large_trade_quote = dict(DEFAULT_LARGE if large_trade_quote is None else large_trade_quote)
        self.spike_ratio = float(spike_ratio)
        self.streams: dict[int, StreamInfo] = dict(streams or {})
        self._decoders: dict[int, Decoder] = {}
        self._symbols: dict[tuple[str, str], SymbolState] = {}
        self.counters_ = Counters()
        # stream -> receive time of its last record; the current stream's is ``_prev_ts``
        # while ``_dec`` is set (see _fold_records and _stream_times)
        self._stream_ts: dict[int, int] = {}
        self.last_seq = 0
        self.ts_ns = 0  # receive time of the last record: "now" for windows
        # The stream of the record being folded (counters take it), its decoder and its last
        # receive time, kept from one call to the next; -1 / None: none yet.
        self._stream = -1
        self._dec: Decoder | None = None
        self._prev_ts = 0
        self._hot: SymbolState | None = None  # see _state
        self._hot_sym: str | None = None
        self._hot_venue: str | None = None
        self._fold = {
            BookTicker: self._on_book_ticker, BookDelta: self._on_delta,
            BookSnapshot: self._on_snapshot, Trade: self._on_trade, Ticker: self._on_ticker,
            Kline: self._on_kline, DecodeError: self._on_decode_error,
        }
        self._report = self._bad  # bound once: books call it per finding (see state.book)
        self.sync_only = bool(sync_only)
        if self.sync_only:
            for kind in (BookTicker, Trade, Ticker, Kline):
                self._fold[kind] = self._skip

    # -- input ---------------------------------------------------------------------

    def add_stream(self, info: StreamInfo) -> None:
        """Register a connection that appeared after construction (live)."""
        self.streams[info.id] = info
        self._decoders.pop(info.id, None)
        if info.id == self._stream:  # take its new decoder with its next record
            self._stream_ts[self._stream] = self._prev_ts
            self._stream = -1
            self._dec = None

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

    def apply(self, rec: Record) -> list[Event]:
        """Fold one record; returns its decoded events, each followed by the Gap / Anomaly
        events it derived (the live recorder looks for ``Gap`` here).

        ``RecordOrderError`` (a ``ValueError``) when ``rec.seq`` is not above ``last_seq``:
        nothing is folded."""
        out: list[Event] = []
        self._fold_records((rec,), out, True)
        return out

    def apply_many(self, records: Iterable[Record]) -> None:
        """Fold records in order, the same transitions as ``apply`` each (the replay and
        benchmark path: events are not kept). ``RecordOrderError`` at the first record out
        of order; the ones before it stay folded."""
        self._fold_records(records, [], False)

    def _fold_records(self, records: Iterable[Record], out: list, keep: bool) -> None:
        """The one fold behind ``apply`` and ``apply_many``: ``keep`` leaves each record's
        events in ``out``, else ``out`` is emptied after every record.

        The current stream's decoder and previous receive time stay in locals while
        consecutive records share a stream, and in ``_dec`` / ``_prev_ts`` from one call
        to the next (so ``apply`` on one stream after another looks nothing up); the
        stream's time goes to ``_stream_ts`` when another stream comes. ``last_seq`` and
        ``ts_ns`` are locals too: folds read neither (they take time from events).
        """
        fold = self._fold
        last_seq = self.last_seq
        now = self.ts_ns
        cur = self._stream  # the stream ``dec`` and ``prev`` are of (-1: none)
        dec = self._dec
        prev = self._prev_ts
        try:
            for rec in records:
                seq = rec.seq
                if seq <= last_seq:
                    raise RecordOrderError(seq, last_seq)
                last_seq = seq
                stream = rec.stream
                ts = rec.ts_ns
                if stream != cur:
                    dec = self._decoders.get(stream) or self._decoder(stream)
                    if cur >= 0:
                        self._stream_ts[cur] = prev
                    cur = self._stream = stream
                    prev = self._stream_ts.get(stream, 0)
                if ts > now:
                    now = ts
                if ts < prev:
                    self._anomaly(seq, ts, "", "", "recv_ts_backwards", f"{ts} < {prev}", out)
                prev = ts
                if rec.kind == "mark":  # our own: a listing mark is an event, folded nowhere
                    got = listing_of(rec)
                    if keep and got is not None:
                        out.append(got)
                    continue
                for ev in dec.decode(rec):
                    if keep:
                        out.append(ev)
                    try:
                        fold[type(ev)](ev, out)
                    except Exception as exc:  # never stop the projection: count and go on
                        self._anomaly(ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, "fold_error",
                                      f"{type(ev).__name__}: {type(exc).__name__}: {exc}", out)
                if not keep and out:
                    out.clear()
        finally:
            self._dec = dec
            self._prev_ts = prev
            self.last_seq = last_seq
            self.ts_ns = now

    def _stream_times(self) -> dict[int, int]:
        """stream -> receive time of its last record, the current stream's included."""
        if self._stream < 0:
            return self._stream_ts
        return {**self._stream_ts, self._stream: self._prev_ts}

    # -- folding -------------------------------------------------------------------

    def _state(self, ev: Event) -> SymbolState:
        """The symbol's state (created on first sight), stamped with the event's seq/time.

        A one-entry cache keyed by the identity of the event's venue and symbol strings
        (decoders hand out the same memoized strings) saves the tuple-keyed dict lookup
        while consecutive events concern one symbol.
        """
        sym = ev.symbol
        if sym is self._hot_sym and ev.venue is self._hot_venue:
            st = self._hot
        else:
            st = self._symbols.get((ev.venue, sym))
            if st is None:
                st = self._new_state(ev.venue, sym, ev.norm)
            self._hot, self._hot_sym, self._hot_venue = st, sym, ev.venue
        st.seq = ev.seq
        st.ts_ns = ev.recv_ts_ns
        return st

    def _new_state(self, venue: str, symbol: str, norm: str) -> SymbolState:
        parts = norm.split("-")
        quote = parts[1] if len(parts) > 1 else ""
        large = self.large_trade_quote.get(quote, float("inf"))
        st = self._symbols[(venue, symbol)] = SymbolState(
            venue, symbol, norm, self.windows[-1] * NS, large)
        return st

    def _book(self, st: SymbolState) -> Book:
        b = st.book
        if b is None:
            b = st.book = Book(st.venue, st.symbol, st.norm, st.venue, self.depth_levels,
                               sync_only=self.sync_only)
        return b

    def _anomaly(self, seq: int, ts: int, venue: str, symbol: str, kind: str, detail: str,
                 out: list, norm: str = "") -> None:
        self.counters_.add(self._stream, kind)
        out.append(Anomaly(venue=venue, symbol=symbol, norm=norm, exch_ts_ns=0, recv_ts_ns=ts,
                           seq=seq, stream=self._stream, kind=kind, detail=detail))

    def _bad(self, ev: Event, kind: str, detail: str, out: list) -> None:
        """Report a finding about ``ev``: counted for the current stream, an Anomaly in ``out``.
        Books report theirs through it too (``self._report``, see ``state.book``)."""
        self._anomaly(ev.seq, ev.recv_ts_ns, ev.venue, ev.symbol, kind, detail, out, ev.norm)

    def _skip(self, ev: Event, out: list) -> None:
        """A kind a sync-only projection does not fold."""

    def _on_decode_error(self, ev: DecodeError, out: list) -> None:
        self.counters_.add(ev.stream, "decode_error")

    def _on_book_ticker(self, ev: BookTicker, out: list) -> None:
        # Book tickers are most of a feed's frames and also cost a call into the book:
        # ``_state``'s one-entry cache is inlined here (that saves the call it would cost).
        st = self._hot
        if ev.symbol is not self._hot_sym or ev.venue is not self._hot_venue:
            st = self._state(ev)
        else:
            st.seq = ev.seq
            st.ts_ns = ev.recv_ts_ns
        last = st.quote
        crossed = False
        if st.quote_ok and ev.bid_px == last.bid_px and ev.ask_px == last.ask_px:
            pass  # the same prices as the last quote: already known valid and uncrossed
        else:
            bid = known_price(ev.bid_px) or price_key(ev.bid_px)
            ask = known_price(ev.ask_px) or price_key(ev.ask_px)
            if bid is None or ask is None:
                bad = ev.bid_px if bid is None else ev.ask_px
                self._bad(ev, classify(bad) or "unparseable", f"book ticker price {bad!r}", out)
                return
            crossed = bid >= ask
            st.quote_ok = not crossed
        if last is not None and ev.exch_ts_ns < last.exch_ts_ns and ev.exch_ts_ns:
            self._bad(ev, "exch_ts_backwards", f"book ticker time {ev.exch_ts_ns} < {last.exch_ts_ns}", out)
        if crossed:
            self._bad(ev, "crossed_quote", f"{ev.bid_px} >= {ev.ask_px}", out)
        st.quote = ev
        b = st.book
        if b is not None:
            b.apply_ticker(ev, out, self._report)

    def _on_trade(self, ev: Trade, out: list) -> None:
        st = self._state(ev)
        try:
            price = float(ev.price)
        except ValueError:
            price = -1.0
        # A float that is positive and finite is a valid price; otherwise ask the exact
        # Decimal (a price like "1e-400" is valid though its float is 0).
        if not 0.0 < price < INF and price_key(ev.price) is None:
            self._bad(ev, classify(ev.price) or "unparseable", f"trade price {ev.price!r}", out)
            return
        try:
            size = float(ev.size)
        except ValueError:
            size = NAN
        if not 0.0 < size < INF:
            self._bad(ev, classify_size(ev.size, strict=True) or "bad_size", f"trade size {ev.size!r}", out)
            return
        o = ev.ordinal
        if o is not None:
            last = st.last_ordinal
            if last is not None and o <= last:  # against the previous trade, as sent
                kind = "duplicate_trade" if o == last else "out_of_order_trade"
                self._bad(ev, kind, f"trade id {o} after {last}", out)
            st.last_ordinal = o
        else:
            recent = st.recent_ids
            if ev.trade_id in recent:
                self._bad(ev, "duplicate_trade", f"trade id {ev.trade_id} seen", out)
            recent.append(ev.trade_id)
            if len(recent) > RECENT_IDS:
                del recent[0]
        lt = st.last_trade
        if lt is not None and ev.exch_ts_ns < lt.exch_ts_ns and ev.exch_ts_ns:
            self._bad(ev, "exch_ts_backwards", f"trade time {ev.exch_ts_ns} < {lt.exch_ts_ns}", out)
        large = price * size >= st.large_threshold
        st.tape.add(ev.recv_ts_ns, price, size, ev.side == "buy", large)
        st.last_trade = ev
        st.last_large = large

    def _on_delta(self, ev: BookDelta, out: list) -> None:
        st = self._state(ev)
        b = st.book if st.book is not None else self._book(st)
        gaps = b.apply_delta(ev, out, self._report)
        if gaps:
            self.counters_.add(self._stream, "gap", gaps)

    def _on_snapshot(self, ev: BookSnapshot, out: list) -> None:
        st = self._state(ev)
        b = st.book if st.book is not None else self._book(st)
        gaps = b.apply_snapshot(ev, out, self._report)
        if gaps:
            self.counters_.add(self._stream, "gap", gaps)

    def _on_ticker(self, ev: Ticker, out: list) -> None:
        st = self._state(ev)
        t = st.ticker
        for name in ("last", "bid", "ask", "open", "high", "low", "volume", "quote_volume",
                     "mark", "index", "funding_rate", "prev_close", "change", "change_rate"):
            v = getattr(ev, name)
            if v is not None:
                t[name] = v
        for name in ("last", "mark"):
            v = getattr(ev, name)
            if v is not None and v != "" and price_key(v) is None:
                self._bad(ev, classify(v) or "unparseable", f"ticker {name} {v!r}", out)
        bid, ask = ev.bid, ev.ask
        if bid and ask:
            kb, ka = price_key(bid), price_key(ask)
            if kb is not None and ka is not None and kb >= ka:
                self._bad(ev, "crossed_quote", f"ticker {bid} >= {ask}", out)

    def _on_kline(self, ev: Kline, out: list) -> None:
        st = self._state(ev)
        if price_key(ev.close) is None:
            self._bad(ev, classify(ev.close) or "unparseable", f"kline close {ev.close!r}", out)
            return
        st.klines[ev.interval] = [ev.start_ns, ev.open, ev.high, ev.low, ev.close, ev.volume,
                                  ev.quote_volume, ev.closed, ev.seq]

    # -- queries: the product's own, over this fold's state ----------------------------
    # (the same attributes: _symbols, counters_, ts_ns, depth_levels, windows, spike_ratio)

    counters = _Product.counters
    symbols = _Product.symbols
    symbol_state = _Product.symbol_state
    resolve_symbol = _Product.resolve_symbol
    book = _Product.book
    market = _Product.market
    books_needing_snapshot = _Product.books_needing_snapshot
    premium = _Product.premium
    premiums = _Product.premiums
    _picture = _Product._picture
    to_json = _Product.to_json
    digest = _Product.digest

    # -- checkpoints ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes (same state -> same bytes; see ``state.digest``)."""
        config = [self.depth_levels, list(self.windows), sorted(self.large_trade_quote.items()),
                  self.spike_ratio]
        return _codec.encode([config, self.last_seq, self.ts_ns, sorted(self._stream_times().items()),
                              self.counters_.state(),
                              [self._symbols[k].state() for k in sorted(self._symbols)]])

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
        p.last_seq, p.ts_ns = last_seq, ts_ns
        p._stream_ts = dict(stream_ts)
        p.counters_ = Counters.from_state(counters)
        for s in symbols:
            st = SymbolState.from_state(s, sync_only=sync_only)
            p._symbols[(st.venue, st.symbol)] = st
        return p
