"""The book (``state.book``): changed only by folding events, findings reported in order,
read-only to everyone else, and its own checkpoint state."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import msgpack
import pytest

from state.book import Book
from state.events import BookDelta, BookSnapshot, BookTicker, Gap

ROOT = Path(__file__).resolve().parents[2]


def snap(bids, asks, update_id=None, seq=1, **kw) -> BookSnapshot:
    return BookSnapshot(venue="v", symbol="S", norm="S-T", exch_ts_ns=0, recv_ts_ns=seq * 10,
                        seq=seq, bids=tuple(bids), asks=tuple(asks), update_id=update_id, **kw)


def delta(bids, asks, first=None, last=None, prev=None, seq=2, checksum=None) -> BookDelta:
    return BookDelta(venue="v", symbol="S", norm="S-T", exch_ts_ns=0, recv_ts_ns=seq * 10, seq=seq,
                     bids=tuple(bids), asks=tuple(asks), first_id=first, last_id=last,
                     prev_id=prev, checksum=checksum)


def ticker(u, bid, bid_sz, ask, ask_sz, seq=3) -> BookTicker:
    return BookTicker(venue="v", symbol="S", norm="S-T", exch_ts_ns=0, recv_ts_ns=seq * 10,
                      seq=seq, bid_px=bid, bid_sz=bid_sz, ask_px=ask, ask_sz=ask_sz, update_id=u)


class Findings(list):
    """The ``report`` a book is given: records (kind, detail, seq of the event)."""

    def __call__(self, ev, kind, detail, out):
        self.append((kind, detail, ev.seq))
        out.append(kind)  # where it lands among the Gaps


def test_a_snapshot_then_deltas_set_and_remove_levels():
    b = Book("v", "S", "S-T", "okx", depth=3)  # OKX without seq ids: every delta follows on
    out, rep = [], Findings()
    assert b.apply_snapshot(snap([("10.0", "1"), ("9.5", "2"), ("9", "3"), ("8", "4")],
                                 [("11", "1"), ("12.5", "2")]), out, rep) == 0
    assert b.valid and b.bids == [(D("10.0"), D(1)), (D("9.5"), D(2)), (D(9), D(3))]
    assert b.asks == [(D(11), D(1)), (D("12.5"), D(2))] and (b.seq, b.ts_ns, b.updates) == (1, 10, 1)
    assert b.apply_delta(delta([("10.0", "0.000"), ("9.75", "5")], [("11", "0"), ("10.5", "1")]),
                         out, rep) == 0
    assert b.best_bid_level() == (D("9.75"), D(5)) and b.best_ask_level() == (D("10.5"), D(1))
    assert len(b) == 6 and out == [] and rep == [] and (b.seq, b.updates) == (2, 2)
    bids, asks = b.raw_levels()
    assert bids == [("9.75", "5"), ("9.5", "2"), ("9", "3"), ("8", "4")] and asks[0] == ("10.5", "1")
    # a new snapshot replaces everything
    b.apply_snapshot(snap([("1", "1")], [("2", "2")], seq=3), out, rep)
    assert b.raw_levels() == ([("1", "1")], [("2", "2")])


def test_rejected_levels_and_crossing_are_reported_after_the_gaps_in_order():
    b = Book("v", "S", "S-T", "bybit")
    out, rep = [], Findings()
    b.apply_snapshot(snap([("10", "1"), ("x", "1")], [("11", "1"), ("12", "-1")], update_id=5),
                     out, rep)
    assert rep == [("unparseable", "2 book levels rejected", 1)] and not b.crossed
    rep.clear()
    out.clear()
    b.apply_delta(delta([], [("9.5", "1")], last=6, seq=2), out, rep)  # ask below the bid
    assert rep == [("crossed_book", "bid 10 >= ask 9.5", 2)] and b.crossed
    b.apply_delta(delta([("10.5", "1")], [], last=7, seq=3), out, rep)  # still crossed: said once
    assert len(rep) == 1
    b.apply_delta(delta([("10.5", "0"), ("10", "0")], [], last=8, seq=4), out, rep)
    assert not b.crossed and len(rep) == 1
    # a gap (u 10 after 8): the book is cleared and invalid until a snapshot
    out.clear()
    assert b.apply_delta(delta([("10", "1")], [], last=10, seq=5), out, rep) == 1
    assert [(g.expected, g.got, g.reason) for g in out] == [(9, 10, "sequence")] and not b.valid
    assert len(b) == 0 and b.needs_snapshot and not b.crossed
    # one event with both: a snapshot replays a buffered delta with a bad level, then breaks
    g = Book("gate", "BTC_USDT", "BTC-USDT", "gate")
    g.apply_delta(delta([("10", "1"), ("x", "1")], [], first=1, last=3, seq=6), out, rep)
    g.apply_delta(delta([("9", "1")], [], first=10, last=11, seq=7), out, rep)
    out.clear()
    rep.clear()
    assert g.apply_snapshot(snap([("10", "2")], [("11", "2")], update_id=2, seq=8), out, rep) == 1
    assert [type(e) for e in out] == [Gap, str] and (out[0].expected, out[0].got) == (4, 10)
    assert rep == [("unparseable", "1 book levels rejected", 8)] and g.buffered == 1


def test_an_exact_crossing_between_long_prices_is_found():
    b = Book("v", "S", "S-T", "okx")
    out, rep = [], Findings()
    b.apply_snapshot(snap([("0.1", "1"), ("0.10000000000000000001", "3")], [("0.2", "1")]), out, rep)
    assert rep == []
    b.apply_delta(delta([], [("0.100000000000000000005", "1")]), out, rep)  # below that bid
    assert rep == [("crossed_book", "bid 0.10000000000000000001 >= ask 0.100000000000000000005", 2)]
    b.apply_delta(delta([("0.10000000000000000001", "0")], []), out, rep)
    assert b.best_bid_level() == (D("0.1"), D(1)) and not b.crossed


def test_upbit_totals_are_checked_against_the_levels():
    b = Book("upbit", "KRW-BTC", "BTC-KRW", "upbit")
    out, rep = [], Findings()
    b.apply_snapshot(snap([("100", "1.5"), ("99", "2")], [("101", "1")], totals=("3.5", "1")), out, rep)
    assert rep == [] and b.mode == "snapshot" and b.valid
    b.apply_snapshot(snap([("100", "1.5")], [("101", "1")], totals=("3.5", "1"), seq=2), out, rep)
    assert rep == [("total_mismatch", "levels 1.5/1 totals ('3.5', '1')", 2)]


def test_book_tickers_are_checked_at_their_update_id_now_or_when_the_book_gets_there():
    b = Book("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", "binance-usdm")
    out, rep = [], Findings()
    b.apply_snapshot(snap([("10", "1")], [("11", "2")], update_id=100), out, rep)
    b.apply_delta(delta([("10", "3")], [], first=99, last=101, prev=98), out, rep)  # brackets 100
    assert b.last_id == 101 and not b.pending
    b.apply_ticker(ticker(101, "10", "3", "11", "2"), out, rep)  # at the book's id: checked now
    b.apply_ticker(ticker(102, "10", "4", "11", "2", seq=4), out, rep)  # ahead: waits
    b.apply_ticker(ticker(103, "10", "9", "11", "2", seq=5), out, rep)  # ahead, and wrong
    b.apply_ticker(ticker(90, "1", "1", "2", "2", seq=6), out, rep)  # behind: never checked
    assert (b.ticker_ok, b.ticker_bad) == (1, 0) and rep == []
    b.apply_delta(delta([("10", "4")], [], first=102, last=102, prev=101, seq=7), out, rep)
    assert (b.ticker_ok, b.ticker_bad) == (2, 0)
    b.apply_delta(delta([("10", "5")], [], first=103, last=103, prev=102, seq=8), out, rep)
    assert (b.ticker_ok, b.ticker_bad) == (2, 1)
    assert rep == [("ticker_mismatch", "u 103 (ticker seq 5): book (Decimal('10'), Decimal('5')) "
                    "(Decimal('11'), Decimal('2')), ticker 10/9 11/2", 8)]  # against the delta


def test_tickers_waiting_on_a_book_that_breaks_are_dropped_and_other_rules_ignore_them():
    b = Book("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", "binance-usdm")
    out, rep = [], Findings()
    b.apply_snapshot(snap([("10", "1")], [("11", "2")], update_id=100), out, rep)
    b.apply_ticker(ticker(105, "10", "1", "11", "2"), out, rep)
    b.apply_delta(delta([], [], first=120, last=121, prev=119), out, rep)  # U > 100: a gap
    assert not b.valid and b.state()[-1] == []  # the waiting ticker is gone
    other = Book("gate", "BTC_USDT", "BTC-USDT", "gate")
    other.apply_snapshot(snap([("10", "1")], [("11", "2")], update_id=1), out, rep)
    other.apply_ticker(ticker(1, "10", "9", "11", "9"), out, rep)
    assert (other.ticker_ok, other.ticker_bad, other.ticker_checked) == (0, 0, False)


def test_state_round_trips_through_from_state_with_the_same_bytes():
    b = Book("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", "binance-usdm", depth=5)
    out, rep = [], Findings()
    b.apply_delta(delta([("9", "1")], [], first=1, last=3, prev=0), out, rep)  # buffered
    b.apply_snapshot(snap([("10", "1"), ("9.50", "2")], [("11", "2")], update_id=2), out, rep)
    b.apply_ticker(ticker(7, "10", "1", "11", "2"), out, rep)
    b.apply_delta(delta([("10", "0")], [("12", "1")], first=5, last=6, prev=4), out, rep)  # a gap
    b.apply_delta(delta([("8", "1")], [], first=7, last=8, prev=6, seq=9), out, rep)  # buffered
    s = b.state()
    assert s[:2] == ["binance-usdm", 5] and s[5] is False and len(s[9]) == 2  # invalid, 2 waiting
    again = Book.from_state("binance-usdm", "BTCUSDT", "BTC-USDT-PERP", s)
    assert msgpack.packb(again.state()) == msgpack.packb(s)
    assert (again.gaps, again.buffered, again.needs_snapshot, again.rest_synced) == (1, 2, True, True)
    # and the restored book goes on like the original
    for book in (b, again):
        book.apply_snapshot(snap([("10", "1")], [("11", "1")], update_id=6, seq=10), [], rep)
    assert msgpack.packb(again.state()) == msgpack.packb(b.state()) and b.last_id == 8 and b.valid


def test_okx_checksum_of_the_documented_examples():
    b = Book("okx", "X", "X", "okx")
    b.apply_snapshot(snap([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]), [],
                     Findings())
    assert b.okx_checksum() == -1881014294  # "3366.1:7:3366.8:9:3366:6:3368:8"
    b.apply_snapshot(snap([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]), [],
                     Findings())
    assert b.okx_checksum() == 831078360


PUBLIC = ("venue", "symbol", "norm", "rule", "depth", "last_id", "valid", "crossed", "pending",
          "mode", "seen_delta", "seq", "ts_ns", "updates", "gaps", "stale", "checksum_ok",
          "checksum_bad", "ticker_ok", "ticker_bad", "ticker_checked", "rest_synced", "buffered",
          "needs_snapshot", "keeps_levels", "bids", "asks")


@pytest.mark.parametrize("name", PUBLIC)
def test_no_one_can_assign_book_state(name):
    b = Book("v", "S", "S-T", "binance-usdm")
    before = getattr(b, name)
    with pytest.raises(AttributeError):
        setattr(b, name, True)
    assert getattr(b, name) == before
    with pytest.raises(AttributeError):
        b.anything_new = 1  # no __dict__: nothing can be added beside the slots


def test_the_book_state_lives_in_the_core_and_nothing_can_be_written_beside_it():
    """The book is the core's (``ticktape_core.Book``): no Python code holds or writes its
    state; what was a private slot of the Python book cannot be set from outside."""
    b = Book("v", "S", "S-T", "binance-usdm")
    assert type(b).__module__ == "state.book" and not hasattr(b, "__dict__")
    for name in ("_valid", "_last_id", "_bids", "_buffer", "_load_levels"):
        with pytest.raises(AttributeError):
            setattr(b, name, 1)


READS = {"best_bid", "best_ask", "best_bid_level", "best_ask_level", "top_bids", "top_asks",
         "raw_levels", "okx_checksum", "state"}


def test_the_public_methods_are_the_three_folds_and_reads():
    methods = {n for n, v in vars(Book).items() if callable(v) and not n.startswith("_")}
    assert methods == {"apply_snapshot", "apply_delta", "apply_ticker", "from_state"} | READS
    assert Book.from_state.__self__ is Book  # a class method: a new book, from a checkpoint
    b = Book("v", "S", "S-T", "binance-usdm")
    b.apply_snapshot(snap([("10", "1")], [("11", "1")], update_id=5), [], Findings())
    before = msgpack.packb(b.state())
    for name in sorted(READS):
        getattr(b, name)(3) if name.startswith("top_") else getattr(b, name)()
    assert msgpack.packb(b.state()) == before


def test_a_sync_only_book_keeps_no_levels_unless_its_rule_reads_them():
    out, rep = [], Findings()
    b = Book("v", "S", "S-T", "binance-usdm", sync_only=True)
    assert not b.keeps_levels
    b.apply_snapshot(snap([("10", "1"), ("x", "1")], [("9", "1")], update_id=5), out, rep)
    b.apply_delta(delta([("10", "2")], [], first=5, last=6, prev=4), out, rep)
    assert (b.valid, b.last_id, b.updates) == (True, 6, 2)
    assert out == [] and rep == []  # no level rejected ("x"), none crossed (10 >= 9)
    assert (len(b), b.raw_levels(), b.bids, b.best_bid(), b.best_ask_level()) == (
        0, ([], []), [], None, None)
    okx = Book("okx", "X", "X", "okx", sync_only=True)  # its checksum is of the levels
    okx.apply_snapshot(snap([("3366.1", "7")], [("3366.8", "9")], checksum=-1), out, rep)
    assert okx.checksum_bad == 1 and [g.reason for g in out] == ["checksum"]  # so it was checked
    del out[:]
    okx.apply_snapshot(snap([("3366.1", "7")], [("3366.8", "9")]), out, rep)
    assert okx.keeps_levels and okx.raw_levels() == ([("3366.1", "7")], [("3366.8", "9")])
    # a checkpoint does not say sync_only: a sync-only book restored from one drops the levels
    full = Book("v", "S", "S-T", "binance-usdm")
    full.apply_snapshot(snap([("10", "1")], [("11", "1")], update_id=5), [], rep)
    again = Book.from_state("v", "S", "S-T", full.state(), sync_only=True)
    assert not again.keeps_levels and again.raw_levels() == ([], []) and again.last_id == 5
    assert Book.from_state("v", "S", "S-T", full.state()).raw_levels() == full.raw_levels()


def test_inputs_python_raised_on_raise_the_same_errors_after_the_findings_before_them():
    from decimal import InvalidOperation

    out, rep = [], Findings()
    k = Book("kucoin", "BTC-USDT", "BTC-USDT", "kucoin")
    k.apply_snapshot(snap([("10", "1")], [("11", "1")], update_id=5), out, rep)
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'x'"):
        k.apply_delta(delta([("9", "1", "x")], [], first=6, last=6), out, rep)
    assert k.last_id == 5 and k.top_bids(5) == [(D(10), D(1))]  # nothing applied
    k.apply_delta(delta([("9", "1", " 6_0 ")], [], first=6, last=6), out, rep)  # int() reads it
    assert k.top_bids(5)[1] == (D(9), D(1))
    spot = Book("binance-spot", "S", "S-T", "binance-spot")
    spot.apply_snapshot(snap([("10", "1")], [("11", "1")], update_id=None), out, rep)
    with pytest.raises(TypeError, match="'<=' not supported between instances of 'int' and 'NoneType'"):
        spot.apply_delta(delta([], [], first=1, last=2), out, rep)
    up = Book("upbit", "KRW-BTC", "BTC-KRW", "upbit")
    rep.clear()
    with pytest.raises(InvalidOperation):
        up.apply_snapshot(snap([("100", "abc")], [("101", "1")], totals=("1", "1")), out, rep)
    assert rep == [("unparseable", "1 book levels rejected", 1)]  # reported before the raise
    rep.clear()
    up.apply_snapshot(snap([("100", "NaN")], [("101", "1")], totals=("1", "1"), seq=2), out, rep)
    assert rep == [("unparseable", "1 book levels rejected", 2),
                   ("total_mismatch", "levels NaN/1 totals ('1', '1')", 2)]
