"""The engine: records -> projection -> strategy -> simulated orders and fills.

    engine = Engine(StrategyClass(), params, EngineConfig(latency_ns=5_000_000))
    result = engine.run(source)            # a RecordSource, or any iterable of Records in seq order
    write_report(result, "out/")

Per record, in this order (the one definition of "when" in a backtest):

1. equity is sampled if the record crosses a sample boundary (state before it);
2. timers due at or before the record's ``ts_ns`` fire (they see the state as of
   their due time: every record before this one);
3. the projection applies the record;
4. orders whose arrival time (submit time + latency) is <= the record's ``ts_ns``
   reach the venue and are matched against the book *after* this record: a market
   order with zero latency sent while handling record N fills against the book of
   record N, with latency L against the book after the first record at or after
   submit + L;
5. resting limit orders are matched against this record's trades;
6. the strategy gets ``on_event`` for each event (symbol filter applied);
7. orders the callbacks sent that have already arrived (zero latency) are matched.

The same engine runs a backtest (``HistoricalSource``, or any ``RecordSource``: the
journal, the archive, a ``MemorySource``) and paper trading (``LiveSource``); it never
knows which.

A run that starts after the first record (``replay --from X``, ``replay --live``) is
given a ``WarmStart``: the projection after record X - 1 (``replay.state_at``), the
state a run from the first record has there. Its strategy starts at X with the books,
market state and features it would have had; only the strategy's own past (orders,
positions, timers) is new. Every event handed to ``on_event`` whose symbol has a book
that is not valid (gapped, or waiting for a snapshot no record before it holds) is
counted (``RunResult.invalid_book_events``).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from recorder.journal import JournalError, Record, StreamInfo
from recorder.journal.source import RecordSource
from state.events import Listing, Trade
from state.projector import Projector

from .errors import EngineConfigError, RunError, StrategyCallError
from .fills import FeeSchedule, through, walk
from .orders import (
    BAD_ORDER,
    BOOK_INVALID,
    BUY,
    CANCELLED,
    FILLED,
    NO_BOOK,
    NO_LIQUIDITY,
    OPEN,
    PENDING,
    REJECTED,
    UNKNOWN_SYMBOL,
    Fill,
    Order,
)
from .portfolio import Portfolio, quote_of
from .strategy import Context, Strategy

NS = 1_000_000_000


def symbol_names(venue: str, symbol: str, norm: str) -> tuple[str, str, str]:
    """The names ``EngineConfig.symbols`` may select a symbol by: native, normalized, venue:native."""
    return (symbol, norm, f"{venue}:{symbol}")


@dataclass(frozen=True)
class EngineConfig:
    """Everything that changes a run's results besides the records and the strategy."""

    latency_ns: int = 0
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    capital: Decimal = Decimal(10_000)
    symbols: frozenset[str] | None = None  # native or normalized names the strategy sees
    sample_ns: int = NS  # equity sampling period (record time)
    depth_levels: int = 20
    fx_fixed: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.latency_ns < 0:
            raise EngineConfigError(f"latency must be >= 0, not {self.latency_ns} ns")
        if self.sample_ns <= 0:
            raise EngineConfigError(f"the equity sample period must be > 0, not {self.sample_ns} ns")
        if not self.capital > 0:
            raise EngineConfigError(f"capital must be > 0, not {self.capital}")
        if self.depth_levels < 1:
            raise EngineConfigError(f"depth_levels must be >= 1, not {self.depth_levels}")


@dataclass(slots=True)
class Sample:
    """Equity and positions at one sample time.

    One per ``sample_ns`` of record time: with orders and fills, what grows with the
    period (a month at the default 1 s is 2.6M samples; use ``--sample-ms 60000``).
    """

    ts_ns: int
    seq: int  # last record applied
    equity: Decimal
    positions: dict[tuple[str, str], tuple[Decimal, Decimal | None]]  # key -> (qty, mark)


@dataclass
class RunResult:
    """What a run produced; ``replay.report`` turns it into files."""

    config: EngineConfig
    strategy: str
    params: dict[str, Any]
    records: int
    events: int
    first_seq: int
    last_seq: int
    first_ts_ns: int
    last_ts_ns: int
    orders: list[Order]
    fills: list[Fill]
    samples: list[Sample]
    portfolio: Portfolio
    digest: str
    fills_usdt: list[Decimal | None]  # notional of each fill in USDT at its time
    fees_usdt: list[Decimal | None]
    rejections: Counter = field(default_factory=Counter)
    warm: WarmStart | None = None  # where the projection started (None: at the first record)
    invalid_book_events: int = 0  # events the strategy got while their symbol's book was invalid


@dataclass
class WarmStart:
    """The projection a run starts from: the state after record ``through_seq``.

    ``from_checkpoint``: the checkpoint's seq it was restored from (0: projected from the
    source's first record); ``records``: records folded without the strategy after it;
    ``skipped``: why a checkpoint was passed over; ``invalid_books``: the books that need
    a snapshot there (of the run's venues and symbols). ``digest`` is the state's, set by
    the ``Engine`` given it.
    """

    projector: Projector
    through_seq: int
    from_checkpoint: int = 0
    records: int = 0
    skipped: str = ""
    digest: str = ""
    invalid_books: list[tuple[str, str]] = field(default_factory=list)


class MarketView:
    """A live view of one symbol's ``MarketState``: attributes read the state as of now.

    Computed on first access after each record (most events need none) and cached
    until the next record. Keep ``view.frozen()`` to hold a picture for later.
    """

    __slots__ = ("_projector", "_venue", "_symbol", "_state", "_seq", "_st")

    def __init__(self, projector: Projector, venue: str, symbol: str) -> None:
        self._projector = projector
        self._venue = venue
        self._symbol = symbol
        self._state = None
        self._seq = -1
        try:  # the fold target itself, whose ``book`` the engine checks per event
            self._st = projector.symbol_state(venue, symbol)
        except KeyError:
            self._st = None

    def frozen(self) -> Any:
        p = self._projector
        if self._seq != p.last_seq or self._state is None:
            self._state = p.market(self._venue, self._symbol)
            self._seq = p.last_seq
        return self._state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.frozen(), name)

    def __repr__(self) -> str:
        return f"MarketView({self._venue!r}, {self._symbol!r})"


def _dec(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise StrategyCallError("pass quantities and prices as Decimal, int or str, not float")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise StrategyCallError(f"not a number: {value!r}") from None


class Engine:
    """One run of one strategy; see the module docstring for the order of things."""

    # Records that need no step of the loop before their fold run in the core's loop
    # (``Projector.run_events``); False: every record in ``_run``'s own, the same run (the
    # tests hold the two to each other).
    core_loop = True

    def __init__(self, strategy: Strategy, params: dict[str, Any] | None = None,
                 config: EngineConfig | None = None, streams: dict[int, StreamInfo] | None = None,
                 name: str = "", *, warm: WarmStart | None = None) -> None:
        """``warm``: start from that projection (see the module docstring) instead of an
        empty one; its depth levels must be the config's."""
        self.strategy = strategy
        self.config = config or EngineConfig()
        self.name = name or type(strategy).__name__
        if warm is None:
            self.projector = Projector(streams or {}, depth_levels=self.config.depth_levels)
        else:
            p = warm.projector
            if p.depth_levels != self.config.depth_levels:
                raise EngineConfigError(f"the warm projection keeps {p.depth_levels} depth levels, "
                                        f"the config {self.config.depth_levels}")
            for sid, info in (streams or {}).items():
                if sid not in p.streams:
                    p.add_stream(info)
            warm.digest = p.digest()
            self.projector = p
        self.warm = warm
        self.invalid_book_events = 0
        self.portfolio = Portfolio(self.config.capital, self.config.fx_fixed)
        self.ctx = Context(self, dict(params or {}))
        self.now_ns = 0
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.fills_usdt: list[Decimal | None] = []
        self.fees_usdt: list[Decimal | None] = []
        self.samples: list[Sample] = []
        self.rejections: Counter = Counter()
        self._pending: deque[Order] = deque()  # in arrival order (latency is constant)
        self._resting: dict[tuple[str, str], list[Order]] = {}
        self._timers: list[tuple[int, int, Callable[[Context], None]]] = []
        self._cancelled_timers: set[int] = set()
        self._next_id = 1
        self._next_sample = 0
        self._started = False
        self._traded: dict[tuple[str, str], None] = {}  # instruments ever filled, in order
        self._norm_index: dict[str, list[tuple[str, str]]] = {}
        self._norm_count = -1
        self.records = 0
        self.events = 0
        self.first_seq = self.first_ts_ns = 0
        cls = type(strategy)
        # Skip per-event dispatch when the strategy does not listen (it cannot tell).
        self._dispatch = cls.on_event is not Strategy.on_event
        symbols = self.config.symbols
        self._wanted: dict[tuple[str, str], bool] | None = {} if symbols else None

    # -- the loop ----------------------------------------------------------------------

    def run(self, records: Iterable[Record] | RecordSource, *,
            stream_of: Callable[[int], StreamInfo | None] | None = None,
            on_progress: Callable[[Engine], None] | None = None, progress_every: int = 8192) -> RunResult:
        """Feed every record through the loop, then stop the strategy; returns the results.

        ``records``: a ``RecordSource`` (all it holds, its streams known as they are
        met) or any iterable of records in seq order (``HistoricalSource`` for bounds).
        ``stream_of`` names the stream of a record whose stream the engine was not given.
        An exception of a strategy callback becomes a ``RunError`` naming the seq;
        errors reading the records (``JournalError``) pass through unchanged.
        """
        if isinstance(records, RecordSource):
            stream_of = stream_of or records.stream
            records = records.read()
        try:
            return self._run(records, stream_of, on_progress, progress_every)
        except (JournalError, RunError):
            raise
        except Exception as exc:
            raise RunError(self.seq, self.now_ns, exc) from exc

    def _run(self, records: Iterable[Record], stream_of: Callable[[int], StreamInfo | None] | None,
             on_progress: Callable[[Engine], None] | None, progress_every: int) -> RunResult:
        # The hot loop: everything it touches per record is a local, and each step
        # below costs one comparison when it has nothing to do (tools/bench/replay.py).
        p = self.projector
        apply = p.apply
        streams = p.streams
        pending = self._pending
        resting = self._resting
        timers = self._timers
        dispatch = self._dispatch
        on_event = self.strategy.on_event
        ctx = self.ctx
        wanted = self._wanted
        views: dict[str, MarketView] = {}  # symbol -> view (of its first venue)
        views_other: dict[tuple[str, str], MarketView] = {}  # the same symbol on other venues
        last_sym = last_venue = last_view = None
        last_st = None  # last_view's SymbolState: its book is checked per event
        invalid = 0  # events handed over while their symbol's book was invalid
        n = 0
        events_total = 0
        next_sample = -1
        next_progress = progress_every if on_progress is not None else -1
        # Records that need no step before their fold (no equity sample, timer due, new
        # stream or progress call) run in the core's loop, record by record and step by
        # step as here (Projector.run_events); it hands back the first record that needs
        # more, unfolded, and this loop takes that one.
        fast = dispatch and self.core_loop
        is_wanted = None if wanted is None else self._is_wanted
        run_events = p.run_events
        arrive = self._arrive
        match = self._match_trades
        known = streams if stream_of is not None else None

        def view_of(venue: str, sym: str) -> tuple[MarketView, Any]:
            view = views.get(sym)
            if view is None or view._venue != venue:
                view = self._view(views, views_other, venue, sym)
            return view, view._st

        it = iter(records)
        while True:
            if fast:
                k, e, bad, rec = run_events(it, self, on_event, ctx, view_of, arrive, match, next_sample,
                                            next_progress - n - 1 if next_progress >= 0 else -1,
                                            timers, pending, resting, known, is_wanted)
                n += k
                events_total += e
                invalid += bad
                if rec is None:
                    break
            else:
                rec = next(it, None)
                if rec is None:
                    break
            ts = rec.ts_ns
            if stream_of is not None and rec.stream not in streams:
                info = stream_of(rec.stream)
                if info is not None:
                    p.add_stream(info)
            if ts >= next_sample:
                if not self._started:
                    self._start(rec)
                self._sample(ts)
                next_sample = self._next_sample
            if timers and timers[0][0] <= ts:
                self._fire_timers(ts)
            self.now_ns = ts
            events = apply(rec)
            n += 1
            if pending and pending[0].active_ns <= ts:
                self._arrive(rec)
            if events:
                events_total += len(events)
                if resting:
                    self._match_trades(rec, events)
                if dispatch:
                    for ev in events:
                        if type(ev) is Listing:  # no book, no filter: every strategy hears it
                            on_event(ctx, ev, None)
                            continue
                        sym = ev.symbol
                        # Decoders hand out the same str objects per symbol: most events
                        # are the previous event's symbol, found by identity.
                        if sym is not last_sym or ev.venue is not last_venue:
                            if not sym:
                                if wanted is None:
                                    on_event(ctx, ev, None)
                                continue
                            if wanted is not None and not self._is_wanted(ev):
                                continue
                            last_venue, last_sym = ev.venue, sym
                            last_view, last_st = view_of(last_venue, sym)
                        if last_st is not None:
                            book = last_st.book
                            if book is not None and not book.valid:
                                invalid += 1
                        on_event(ctx, ev, last_view)
                    if pending and pending[0].active_ns <= ts:
                        self._arrive(rec)
            if n == next_progress:
                next_progress += progress_every
                self.records = n
                self.events = events_total
                self.invalid_book_events = invalid
                on_progress(self)  # type: ignore[misc]
        self.records = n
        self.events = events_total
        self.invalid_book_events = invalid
        return self._finish()

    def _view(self, views: dict[str, MarketView], others: dict[tuple[str, str], MarketView],
              venue: str, symbol: str) -> MarketView:
        """The one ``MarketView`` of (venue, symbol), made on first use."""
        view = views.get(symbol)
        if view is None:
            view = views[symbol] = MarketView(self.projector, venue, symbol)
        elif view._venue != venue:
            view = others.get((venue, symbol))
            if view is None:
                view = others[(venue, symbol)] = MarketView(self.projector, venue, symbol)
        return view

    @property
    def seq(self) -> int:
        """Seq of the last record applied (0 before the first)."""
        return self.projector.last_seq

    def _start(self, rec: Record) -> None:
        self._started = True
        self.first_seq = rec.seq
        self.first_ts_ns = rec.ts_ns
        self.now_ns = rec.ts_ns
        self.strategy.on_start(self.ctx)

    def _finish(self) -> RunResult:
        if self._started:
            self.strategy.on_stop(self.ctx)
            # Orders still in flight or resting at the end are cancelled (not filled).
            for o in self.live_orders():
                self._close(o, CANCELLED, "end_of_run")
            self._pending.clear()
            self._resting.clear()
            self._sample(self.now_ns, final=True)
        return RunResult(
            self.config, self.name, dict(self.ctx.params), self.records, self.events,
            self.first_seq, self.seq, self.first_ts_ns, self.now_ns,
            [self.orders[k] for k in sorted(self.orders)], self.fills, self.samples,
            self.portfolio, self.projector.digest(), self.fills_usdt, self.fees_usdt,
            self.rejections, self.warm, self.invalid_book_events)

    def _is_wanted(self, ev: Any) -> bool:
        key = (ev.venue, ev.symbol)
        ok = self._wanted.get(key)  # type: ignore[union-attr]
        if ok is None:
            names = self.config.symbols or frozenset()
            ok = self._wanted[key] = bool(ev.symbol) and (  # type: ignore[index]
                not names.isdisjoint(symbol_names(ev.venue, ev.symbol, ev.norm)))
        return ok

    # -- timers ------------------------------------------------------------------------

    def add_timer(self, due_ns: int, callback: Callable[[Context], None]) -> int:
        tid = self._next_id
        self._next_id += 1
        heapq.heappush(self._timers, (due_ns, tid, callback))
        return tid

    def cancel_timer(self, timer_id: int) -> bool:
        if any(t[1] == timer_id for t in self._timers):
            self._cancelled_timers.add(timer_id)
            return True
        return False

    def _fire_timers(self, ts: int) -> None:
        timers = self._timers
        while timers and timers[0][0] <= ts:
            due, tid, cb = heapq.heappop(timers)
            if tid in self._cancelled_timers:
                self._cancelled_timers.discard(tid)
                continue
            self.now_ns = max(self.now_ns, due)
            cb(self.ctx)

    # -- orders ------------------------------------------------------------------------

    def resolve(self, venue: str, symbol: str) -> str | None:
        try:
            return self.projector.resolve_symbol(venue, symbol)
        except KeyError:
            return None

    def submit(self, venue: str, symbol: str, side: str, qty: Any, price: Any, tag: str) -> int:
        oid = self._next_id
        self._next_id += 1
        key = self.resolve(venue, symbol)
        norm = self.projector.symbol_state(venue, key).norm if key else ""
        o = Order(oid, venue, key or symbol, norm, side, _dec(qty) or Decimal(0), _dec(price),
                  self.now_ns, self.now_ns + self.config.latency_ns, tag)
        self.orders[oid] = o
        if o.qty <= 0 or (o.price is not None and o.price <= 0):
            self._reject(o, BAD_ORDER)
        else:
            self._pending.append(o)
        return oid

    def cancel(self, order_id: int) -> bool:
        o = self.orders.get(order_id)
        if o is None or o.status not in (PENDING, OPEN):
            return False
        if o.status == PENDING:
            self._pending.remove(o)
        else:
            self._resting[(o.venue, o.symbol)].remove(o)
            if not self._resting[(o.venue, o.symbol)]:
                del self._resting[(o.venue, o.symbol)]
        self._close(o, CANCELLED, "cancelled")
        return True

    def live_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status in (PENDING, OPEN)]

    def _close(self, o: Order, status: str, reason: str = "") -> None:
        o.status = status
        o.reason = reason or o.reason
        o.done_ns = self.now_ns

    def _reject(self, o: Order, reason: str) -> None:
        self._close(o, REJECTED, reason)
        self.rejections[reason] += 1
        self.strategy.on_reject(self.ctx, o)

    def _arrive(self, rec: Record) -> None:
        """Orders that reached the venue by this record: match them against its book."""
        pending = self._pending
        ts = rec.ts_ns
        while pending and pending[0].active_ns <= ts:
            o = pending.popleft()
            if o.status != PENDING:
                continue
            if not o.norm:
                key = self.resolve(o.venue, o.symbol)
                if key is None:
                    self._reject(o, UNKNOWN_SYMBOL)
                    continue
                o.symbol = key
                o.norm = self.projector.symbol_state(o.venue, key).norm
            book = self.projector.book(o.venue, o.symbol)
            if book is None:
                levels_of = self._quote_levels(o)
                if levels_of is None:
                    self._reject(o, NO_BOOK)
                    continue
            elif not book.valid:
                self._reject(o, BOOK_INVALID)
                continue
            else:
                levels_of = book.top_asks if o.side == BUY else book.top_bids
            takes = walk(levels_of, o.side, o.qty, o.price)
            for price, qty in takes:
                self._fill(o, rec, price, qty, "taker")
            if o.price is None:
                if not takes:
                    self._reject(o, NO_LIQUIDITY)
                elif o.remaining > 0:
                    self._close(o, CANCELLED, "partial: book exhausted")
            elif o.remaining > 0:
                o.status = OPEN
                self._resting.setdefault((o.venue, o.symbol), []).append(o)

    def _quote_levels(self, o: Order) -> Callable[[int], list[tuple[Decimal, Decimal]]] | None:
        """A symbol recorded with its top of book only (a book ticker, no depth): its quote
        as a one-level book, so an order takes at most the quoted size at the quoted price;
        None when it has no quote on that side."""
        st = self.projector.market(o.venue, o.symbol)
        if st is None or st.source != "quote":
            return None
        px, sz = (st.best_ask, st.best_ask_size) if o.side == BUY else (st.best_bid, st.best_bid_size)
        if px is None or not sz or sz <= 0:
            return None
        return lambda n: [(px, sz)]

    def _match_trades(self, rec: Record, events: list) -> None:
        resting = self._resting
        for ev in events:
            if type(ev) is not Trade:
                continue
            orders = resting.get((ev.venue, ev.symbol))
            if not orders:
                continue
            price = Decimal(ev.price)
            left = Decimal(ev.size)
            # Best-priced first, then oldest: the trade's size is shared out in that order.
            hit = sorted((o for o in orders if through(o.side, o.price, price)),  # type: ignore[arg-type]
                         key=lambda o: (-o.price if o.side == BUY else o.price, o.id))
            for o in hit:
                if left <= 0:
                    break
                if o.status != OPEN:  # cancelled by an on_fill of this same trade
                    continue
                take = min(o.remaining, left)
                left -= take
                if take >= o.remaining:
                    orders.remove(o)
                self._fill(o, rec, o.price, take, "maker")  # type: ignore[arg-type]
            if not orders:
                resting.pop((ev.venue, ev.symbol), None)

    def _fill(self, o: Order, rec: Record, price: Decimal, qty: Decimal, liquidity: str) -> None:
        notional = price * qty
        fee = notional * self.config.fees.rate(o.venue, liquidity)
        f = Fill(o.id, rec.seq, rec.ts_ns, o.venue, o.symbol, o.norm, o.side, price, qty,
                 notional, fee, quote_of(o.norm), liquidity, o.tag)
        o.filled += qty
        if o.remaining <= 0:
            self._close(o, FILLED)
        self.fills.append(f)
        self.portfolio.apply(f)
        self._traded[(o.venue, o.symbol)] = None
        self.fills_usdt.append(self.portfolio.value_usdt(notional, f.currency, self._mid_of, o.venue))
        self.fees_usdt.append(self.portfolio.value_usdt(fee, f.currency, self._mid_of, o.venue))
        self.strategy.on_fill(self.ctx, f)

    # -- valuation ---------------------------------------------------------------------

    def market(self, venue: str, symbol: str) -> Any | None:
        key = self.resolve(venue, symbol)
        return None if key is None else self.projector.market(venue, key)

    def book(self, venue: str, symbol: str) -> Any | None:
        key = self.resolve(venue, symbol)
        return None if key is None else self.projector.book(venue, key)

    def _mid_key(self, venue: str, key: str) -> Decimal | None:
        st = self.projector.symbol_state(venue, key)
        b = st.book
        if b is not None and b.valid:
            bb, ba = b.best_bid(), b.best_ask()
            return (bb + ba) / 2 if bb is not None and ba is not None else None
        if b is None or not b.seen_delta:
            m = self.projector.market(venue, key)
            return m.mid if m.valid else None
        return None

    def _by_norm(self) -> dict[str, list[tuple[str, str]]]:
        """normalized symbol -> [(venue, key)], rebuilt when the projection meets new symbols."""
        symbols = self.projector.symbols()
        if len(symbols) != self._norm_count:
            index: dict[str, list[tuple[str, str]]] = {}
            for v, k in symbols:
                index.setdefault(self.projector.symbol_state(v, k).norm, []).append((v, k))
            self._norm_index, self._norm_count = index, len(symbols)
        return self._norm_index

    def _mid_of(self, venue: str, norm: str) -> Decimal | None:
        """Valid mid of a normalized symbol on ``venue`` ("" = the first venue that has one).

        Matched on the normalized name only: Upbit's native ``KRW-USDT`` is ``USDT-KRW``.
        """
        for v, key in self._by_norm().get(norm, ()):
            if venue and v != venue:
                continue
            m = self._mid_key(v, key)
            if m is not None:
                return m
        return None

    def fx(self, currency: str) -> Decimal | None:
        return self.portfolio.fx(currency, self._mid_of)

    def equity(self) -> Decimal:
        self.portfolio.update_marks(self._mid_key)
        return self.portfolio.equity(self._mid_of)

    def _sample(self, ts: int, final: bool = False) -> None:
        pf = self.portfolio
        if pf.positions or pf.cash:
            equity = self.equity()
        else:
            equity = pf.capital
        stamp = ts if final or not self.samples else ts - ts % self.config.sample_ns
        if self.samples and self.samples[-1].ts_ns == stamp:
            self.samples.pop()  # the final sample replaces one at the same time
        positions = {k: (pf.position(*k), pf.marks.get(k)) for k in self._traded}
        self.samples.append(Sample(stamp, self.seq, equity, positions))
        self._next_sample = ts - ts % self.config.sample_ns + self.config.sample_ns
