"""The core's loop (``Projector.run_events``) against the engine's own: what a strategy sees.

``Engine.core_loop`` runs the records that need only the fold and ``on_event`` in the
compiled core; the rest (equity samples, timers, orders, progress, new streams) in
``Engine._run``. A strategy must not tell the two apart: the same events in the same order,
each with the same time, seq, view and book as the record it belongs to.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from recorder.journal.memory import MemorySource
from recorder.journal.reader import JournalReader
from replay.engine import Engine, EngineConfig
from replay.errors import RunError
from replay.strategy import Strategy
from state.projector import Projector


def book_picture(book):
    if book is None:
        return None
    return (book.valid, book.best_bid(), book.best_ask())


class Observer(Strategy):
    """Writes down what it sees at every event, and trades, times and cancels as it goes."""

    def __init__(self, trade: bool = True) -> None:
        self.seen: list = []
        self.trade = trade
        self.n = 0

    def on_start(self, ctx):
        self.seen.append(("start", ctx.now_ns, ctx.seq))
        if self.trade:
            ctx.schedule(700_000_000, self.tick)

    def tick(self, ctx):
        self.seen.append(("timer", ctx.now_ns, ctx.seq, len(ctx.open_orders)))
        for o in ctx.open_orders[:1]:
            ctx.cancel(o.id)
        ctx.schedule(1_300_000_000, self.tick)

    def on_event(self, ctx, event, market):
        self.n += 1
        eng = ctx._engine
        p = eng.projector
        row = [type(event).__name__, event.seq, event.symbol, ctx.now_ns, ctx.seq, p.last_seq,
               None if market is None else (market._venue, market._symbol)]
        if market is not None:
            row.append(book_picture(p.book(market._venue, market._symbol)))
            if self.n % 97 == 0:  # a whole market picture now and then (it costs)
                row.append((market.best_bid, market.best_ask, market.valid, market.mid))
        self.seen.append(tuple(row))
        if not self.trade or market is None:
            return
        if self.n % 401 == 0:
            ctx.buy(market._venue, market._symbol, "0.01", tag="m")
        elif self.n % 613 == 0 and market.best_ask is not None:
            ctx.sell(market._venue, market._symbol, "0.02", market.best_ask, tag="l")
        elif self.n % 1777 == 0:
            ctx.schedule(0, lambda c: self.seen.append(("now", c.now_ns, c.seq)))

    def on_fill(self, ctx, fill):
        self.seen.append(("fill", fill.order_id, fill.seq, fill.price, fill.qty, ctx.seq))

    def on_reject(self, ctx, order):
        self.seen.append(("reject", order.id, order.reason, ctx.seq))


def run_both(records_of, streams, make, *, progress_every=8192, **config):
    """(strategy, result, progress) of the core's loop and of the engine's own."""
    out = []
    for core in (True, False):
        strategy = make()
        engine = Engine(strategy, config=EngineConfig(**config), streams=streams)
        engine.core_loop = core
        progress = []
        res = engine.run(records_of(), progress_every=progress_every, on_progress=lambda e: progress.append(
            (e.records, e.events, e.invalid_book_events, e.seq, e.now_ns)))
        out.append((strategy, res, progress))
    return out


def same_results(a, b):
    assert (a.records, a.events, a.invalid_book_events, a.first_seq, a.last_seq, a.first_ts_ns,
            a.last_ts_ns, a.digest) == (b.records, b.events, b.invalid_book_events, b.first_seq,
                                        b.last_seq, b.first_ts_ns, b.last_ts_ns, b.digest)
    assert [(o.id, o.status, o.reason, o.filled, o.done_ns) for o in a.orders] == \
        [(o.id, o.status, o.reason, o.filled, o.done_ns) for o in b.orders]
    assert a.fills == b.fills and a.samples == b.samples and a.rejections == b.rejections


@pytest.mark.parametrize("capture,latency", [("BINANCE_FUTURES", 0), ("hftbacktest", 0),
                                             ("hftbacktest", 20_000_000)])
def test_a_strategy_sees_the_same_in_the_core_loop_as_in_the_engines(capture_journal, capture, latency):
    data = capture_journal(capture)
    with JournalReader(data) as r:
        records = list(r.read())
        streams = r.streams()
    (s1, r1, p1), (s2, r2, p2) = run_both(lambda: iter(records), streams, Observer,
                                          progress_every=1000, latency_ns=latency)
    assert s1.seen == s2.seen and len(s1.seen) > 1000
    same_results(r1, r2)
    assert p1 == p2 and len(p1) == len(records) // 1000
    assert r1.fills or capture == "BINANCE_FUTURES"


def test_every_event_is_seen_at_its_records_state_as_the_projection_has_it(capture_journal):
    """(event, the book's best bid, last_seq) at every event: a bare projection's, record by record."""
    data = capture_journal("hftbacktest")
    with JournalReader(data) as r:
        records = list(r.read())
        streams = r.streams()
    seen = []

    class Look(Strategy):
        def on_event(self, ctx, event, market):
            p = ctx._engine.projector
            book = p.book(event.venue, event.symbol) if event.symbol else None
            seen.append((event, None if book is None else book.best_bid(), p.last_seq, ctx.now_ns))

    Engine(Look(), streams=streams).run(records)
    p = Projector(streams)
    want = []
    for rec in records:
        for ev in p.apply(rec):
            book = p.book(ev.venue, ev.symbol) if ev.symbol else None
            want.append((ev, None if book is None else book.best_bid(), p.last_seq, rec.ts_ns))
    assert seen == want and len(want) > 90_000


def test_streams_learnt_as_met_and_a_symbol_filter_see_the_same(capture_journal):
    data = capture_journal("BINANCE_FUTURES")
    with JournalReader(data) as r:
        records = list(r.read())
        streams = r.streams()
    out = []
    for core in (True, False):
        strategy = Observer(trade=False)
        engine = Engine(strategy, config=EngineConfig())
        engine.core_loop = core
        res = engine.run(MemorySource(records, streams))
        out.append((strategy.seen, res))
    assert out[0][0] == out[1][0]
    same_results(out[0][1], out[1][1])
    (s1, r1, _), (s2, r2, _) = run_both(lambda: iter(records), streams, Observer,
                                        symbols=frozenset({"CTKUSDT"}))
    assert s1.seen == s2.seen
    same_results(r1, r2)


def test_errors_name_the_same_record_in_both_loops(capture_journal):
    data = capture_journal("hftbacktest")
    with JournalReader(data) as r:
        records = list(r.read(1, 5000))
        streams = r.streams()

    class Fails(Strategy):
        n = 0

        def on_event(self, ctx, event, market):
            self.n += 1
            if self.n == 3210:
                raise KeyError("boom")

    got = []
    for core in (True, False):
        for recs, strategy in ((records, Fails()), (records[:2000] + records[1990:], Strategy())):
            engine = Engine(strategy, streams=streams)
            engine.core_loop = core
            with pytest.raises(RunError) as err:
                engine.run(iter(recs))
            got.append((type(err.value.__cause__).__name__, err.value.seq, err.value.ts_ns,
                        engine.projector.last_seq))
    assert got[:2] == got[2:]
    assert got[0][0] == "KeyError" and got[1][0] == "RecordOrderError" and got[1][1] == 2000


def test_the_bench_strategy_runs_in_the_core_loop(capture_journal, monkeypatch):
    """A do-nothing strategy's records go through the core's loop, and most of a trading one's."""
    data = capture_journal("hftbacktest")
    with JournalReader(data) as r:
        records = list(r.read())
        streams = r.streams()
    folded = []
    run_events = Projector.run_events

    def counting(self, *args):
        got = run_events(self, *args)
        folded.append(got[0])
        return got

    monkeypatch.setattr(Projector, "run_events", counting)

    class Idle(Strategy):
        def on_event(self, ctx, event, market):
            pass

    res = Engine(Idle(), streams=streams).run(records)
    assert sum(folded) > 0.95 * res.records
    assert res.events > 0 and D(res.samples[-1].equity) == D(10_000)
    # Orders in flight and resting do not take a record out of it (only timers due do).
    folded.clear()
    res = Engine(Observer(), config=EngineConfig(latency_ns=20_000_000), streams=streams).run(records)
    assert sum(folded) > 0.9 * res.records and len(res.fills) > 10
