"""The fill model against a book that can be checked by hand (see ``synth.BOOK_RECORDS``)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from recorder.journal.reader import JournalReader
from replay.engine import Engine, EngineConfig
from replay.fills import FeeRate, FeeSchedule, load_fees, walk
from replay.orders import BOOK_INVALID, BUY, CANCELLED, FILLED, NO_LIQUIDITY, REJECTED, SELL
from replay.strategy import Strategy

from .synth import MS, T0, write_binance


class AtSeq(Strategy):
    """Sends the given orders when the record with that seq has been applied."""

    def __init__(self, orders):
        self.orders = orders  # seq -> [(side, qty, price)]
        self.ids = []
        self.rejected = []
        self.filled = []
        self.done = 0

    def on_event(self, ctx, event, market):
        if ctx.seq == self.done:  # one record may carry several events (a delta and its Gap)
            return
        self.done = ctx.seq
        for side, qty, price in self.orders.get(ctx.seq, []):
            send = ctx.buy if side == BUY else ctx.sell
            self.ids.append(send("binance-usdm", "BTCUSDT", qty, price))

    def on_fill(self, ctx, fill):
        self.filled.append(fill)

    def on_reject(self, ctx, order):
        self.rejected.append(order)


@pytest.fixture(scope="module")
def book_journal(tmp_path_factory):
    return write_binance(tmp_path_factory.mktemp("synth"))


def run(data, strategy, **config):
    with JournalReader(data) as r:
        engine = Engine(strategy, config=EngineConfig(**config), streams=r.streams())
        return engine.run(r.read())


def test_market_buy_with_latency_fills_against_the_book_at_arrival(book_journal):
    # Sent after record 2 (t=1100 ms), 150 ms latency: arrives at 1250, so it meets the
    # book after record 4 (t=1300), the first record at or after its arrival. That book's
    # asks are 100.8x0.7 101.0x2 102.0x5 (100.5 was removed by record 3).
    s = AtSeq({2: [(BUY, "2", None)]})
    res = run(book_journal, s, latency_ns=150 * MS)
    assert [(f.seq, f.ts_ns, f.price, f.qty, f.liquidity) for f in res.fills] == [
        (4, T0 + 1300 * MS, D("100.8"), D("0.7"), "taker"),
        (4, T0 + 1300 * MS, D("101.0"), D("1.3"), "taker"),
    ]
    # binance-usdm taker fee 5 bp on each notional, exact.
    assert [f.notional for f in res.fills] == [D("70.56"), D("131.30")]
    assert [f.fee for f in res.fills] == [D("0.035280"), D("0.065650")]
    order = res.orders[0]
    assert order.status == FILLED and order.submit_ns == T0 + 1100 * MS
    assert order.active_ns == T0 + 1250 * MS
    assert res.portfolio.position("binance-usdm", "BTCUSDT") == D("2.0")
    assert res.portfolio.cash[("binance-usdm", "USDT")] == -(D("70.56") + D("131.30") + D("0.10093"))


def test_zero_latency_fills_against_the_current_book(book_journal):
    s = AtSeq({2: [(BUY, "2", None)], 4: [(SELL, "1", None)]})
    res = run(book_journal, s, latency_ns=0)
    assert [(f.seq, f.side, f.price, f.qty) for f in res.fills] == [
        (2, BUY, D("100.5"), D("0.5")), (2, BUY, D("101.0"), D("1.5")),
        (4, SELL, D("100.2"), D("1")),
    ]
    assert s.filled == res.fills


def test_fees_come_from_the_schedule(book_journal):
    fees = FeeSchedule({"binance-usdm": FeeRate(maker=D("0.0001"), taker=D("0.001"))})
    res = run(book_journal, AtSeq({4: [(SELL, "1", None)]}), fees=fees)
    assert res.fills[0].fee == D("0.1002")  # 100.2 * 1 * 10 bp


def test_order_on_a_gapped_book_is_rejected(book_journal):
    # Sent after record 4 with 150 ms latency: arrives at 1450, meets record 6 (t=1500),
    # whose pu=118 breaks the chain (last u was 115): no fill at the stale price. The
    # orders sent after records 5 and 6 meet records 7 and 8: still gapped.
    s = AtSeq({4: [(BUY, "1", None)], 5: [(SELL, "1", None)], 6: [(BUY, "1", "200")]})
    res = run(book_journal, s, latency_ns=150 * MS)
    assert res.fills == []
    assert [o.status for o in res.orders] == [REJECTED, REJECTED, REJECTED]
    assert {o.reason for o in res.orders} == {BOOK_INVALID}
    assert res.rejections == {BOOK_INVALID: 3}
    assert [o.id for o in s.rejected] == s.ids


def test_market_order_larger_than_the_book_fills_what_is_there(book_journal):
    res = run(book_journal, AtSeq({4: [(SELL, "100", None)]}))
    assert [(f.price, f.qty) for f in res.fills] == [
        (D("100.2"), D("1.5")), (D("100.0"), D("1")), (D("99.5"), D("2")), (D("99.0"), D("5"))]
    assert res.orders[0].status == CANCELLED and res.orders[0].filled == D("9.5")


def test_limit_order_rests_and_fills_only_on_a_trade_through_its_price(book_journal):
    # After record 4 the book is 100.2 / 100.8. A buy at 99.8 rests: the trade at
    # exactly 99.8 (record 5) does not fill it (we are last in the queue). A buy at
    # 99.9 rests and is filled by that trade, which printed through it: 0.4 of 1, at
    # 99.9, as maker (2 bp). A sell at 102.5 rests; record 8's trade at 103.0 (0.2)
    # goes through it even though the book is gapped then: trades are real prints.
    s = AtSeq({4: [(BUY, "1", "99.8"), (BUY, "1", "99.9"), (SELL, "0.5", "102.5")]})
    res = run(book_journal, s)
    assert [(f.order_id, f.seq, f.price, f.qty, f.liquidity, f.fee) for f in res.fills] == [
        (s.ids[1], 5, D("99.9"), D("0.4"), "maker", D("0.0079920")),
        (s.ids[2], 8, D("102.5"), D("0.2"), "maker", D("0.0041000")),
    ]
    # Unfilled rests are cancelled when the run ends.
    assert [o.status for o in res.orders] == [CANCELLED, CANCELLED, CANCELLED]
    assert [o.filled for o in res.orders] == [D(0), D("0.4"), D("0.2")]


def test_crossing_limit_takes_liquidity_up_to_its_price_then_rests(book_journal):
    res = run(book_journal, AtSeq({4: [(BUY, "3", "101.0")]}))
    assert [(f.seq, f.price, f.qty, f.liquidity) for f in res.fills] == [
        (4, D("100.8"), D("0.7"), "taker"), (4, D("101.0"), D("2"), "taker"),
        (5, D("101.0"), D("0.3"), "maker")]  # the rest rested, then record 5's trade at 99.8
    assert res.orders[0].status == FILLED


def test_cancel_before_arrival(book_journal):
    class SendCancel(Strategy):
        def on_event(self, ctx, event, market):
            if ctx.seq == 2:
                oid = ctx.buy("binance-usdm", "BTCUSDT", "1")
                assert ctx.cancel(oid)
                assert not ctx.cancel(oid)

    res = run(book_journal, SendCancel(), latency_ns=50 * MS)
    assert res.fills == [] and res.orders[0].status == CANCELLED


def test_market_order_on_an_empty_side_is_rejected(tmp_path):
    from .synth import snapshot
    data = write_binance(tmp_path, [(1000, "rest", snapshot(100, [("100", "1")], []))])
    res = run(data, AtSeq({1: [(BUY, "1", None)]}))
    assert res.rejections == {NO_LIQUIDITY: 1}


def test_walk_stops_at_the_limit_and_fetches_deeper_levels():
    asks = [(D(100 + i), D(1)) for i in range(50)]
    calls = []

    def levels_of(n):
        calls.append(n)
        return asks[:n]

    assert walk(levels_of, BUY, D("25.5")) == [(D(100 + i), D(1)) for i in range(25)] + [(D(125), D("0.5"))]
    assert calls == [20, 80]
    assert walk(lambda n: asks[:n], BUY, D(5), limit=D(102)) == [(D(100), D(1)), (D(101), D(1)), (D(102), D(1))]


def test_fee_file_toml_and_json(tmp_path):
    (tmp_path / "f.toml").write_text('[binance-usdm]\ntaker = 0.0004\n[default]\nmaker = 0\ntaker = 0.002\n')
    f = load_fees(tmp_path / "f.toml")
    assert f.rate("binance-usdm", "taker") == D("0.0004")
    assert f.rate("binance-usdm", "maker") == D("0.0002")  # the default for the venue is kept
    assert f.rate("nowhere", "taker") == D("0.002") and f.rate("nowhere", "maker") == D(0)
    (tmp_path / "f.json").write_text('{"upbit": {"maker": "0.00025", "taker": "0.00139"}}')
    assert load_fees(tmp_path / "f.json").rate("upbit", "taker") == D("0.00139")
    (tmp_path / "bad.json").write_text('{"upbit": {"maker": -1}}')
    with pytest.raises(ValueError):
        load_fees(tmp_path / "bad.json")
