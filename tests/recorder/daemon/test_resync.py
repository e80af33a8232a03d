"""Resync: a projection's Gap becomes one mark (after the subscriber), a count and a fetch;
breaks while a snapshot is on its way or a rotation overlaps are not acted on."""

from __future__ import annotations

import logging

from recorder.daemon.resync import Resync
from state.events import Gap

LOG = logging.getLogger("test")


class FakeJournal:
    def __init__(self) -> None:
        self.marks: list[tuple[int, str, dict]] = []

    def mark(self, sid: int, text: str, **fields) -> None:
        self.marks.append((sid, text, fields))


class FakeFetcher:
    """A ``SnapshotQueue``: requests pend until ``journaled``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.queue: set[str] = set()

    def request(self, symbol: str, reason: str) -> None:
        self.requests.append((symbol, reason))
        self.queue.add(symbol.upper())

    def pending(self, symbol: str) -> bool:
        return symbol.upper() in self.queue

    def journaled(self, symbol: str) -> None:
        self.queue.discard(symbol)


class FakeCounters:
    def __init__(self) -> None:
        self.gaps: list[tuple[str, str]] = []

    def gap(self, venue: str, symbol: str) -> None:
        self.gaps.append((venue, symbol))


def gap(symbol: str = "BTCUSDT", reason: str = "sequence", expected=130, got=140,
        venue: str = "binance-usdm") -> Gap:
    return Gap(venue, symbol, "BTC-USDT-PERP", 0, 1, 99, expected, got, reason)


def setup():
    journal, fetcher, counters, scheduled = FakeJournal(), FakeFetcher(), FakeCounters(), []
    r = Resync(journal=journal, fetchers={"binance-usdm": fetcher}, log=LOG, source="projection",
               schedule=scheduled.append, counters=counters)
    return r, journal, fetcher, counters, scheduled


def run(scheduled: list) -> None:
    while scheduled:
        scheduled.pop(0)()


def test_a_gap_is_marked_after_the_callback_counted_and_fetched():
    r, journal, fetcher, counters, scheduled = setup()
    r.on_gap(gap(), 4)
    assert journal.marks == []  # nothing appended inside the subscriber
    assert fetcher.requests == [("BTCUSDT", "gap")] and counters.gaps == [("binance-usdm", "BTCUSDT")]
    run(scheduled)
    assert journal.marks == [(4, "gap", {"venue": "binance-usdm", "symbol": "BTCUSDT",
                                         "expected": 130, "got": 140, "source": "projection"})]
    # While that snapshot is on its way, more breaks of the book are expected: nothing.
    r.on_gap(gap(expected=150, got=160), 4)
    run(scheduled)
    assert len(journal.marks) == 1 and len(fetcher.requests) == 1
    # Once it is journaled, a break (a snapshot too old for the diffs) is acted on again.
    fetcher.journaled("BTCUSDT")
    r.on_gap(gap(reason="stale_snapshot", expected=125, got=130), 4)
    run(scheduled)
    assert [m[1] for m in journal.marks] == ["gap", "stale_snapshot"]
    assert counters.gaps == [("binance-usdm", "BTCUSDT")]  # only sequence breaks are gaps
    assert fetcher.requests[-1] == ("BTCUSDT", "stale_snapshot")


def test_marks_of_one_callback_share_one_flush_and_keep_their_order():
    r, journal, fetcher, _, scheduled = setup()
    r.on_gap(gap("BTCUSDT"), 4)
    r.on_gap(gap("ETHUSDT"), 5)
    assert len(scheduled) == 1
    run(scheduled)
    assert [(sid, f["symbol"]) for sid, _, f in journal.marks] == [(4, "BTCUSDT"), (5, "ETHUSDT")]


def test_a_prefixed_symbol_key_is_marked_and_fetched_by_its_native_name():
    r, journal, fetcher, _, scheduled = setup()
    r.on_gap(gap("linear:BTCUSDT"), 4)
    run(scheduled)
    assert journal.marks[0][2]["symbol"] == "BTCUSDT" and fetcher.requests == [("BTCUSDT", "gap")]


def test_a_venue_without_snapshots_is_marked_only():
    r, journal, fetcher, counters, scheduled = setup()
    r.on_gap(gap("BTC-USDT-SWAP", reason="checksum", venue="okx"), 7)
    run(scheduled)
    assert [(m[1], m[2]["venue"]) for m in journal.marks] == [("checksum", "okx")]
    assert fetcher.requests == [] and counters.gaps == []


def test_a_connection_that_delivers_fetches_every_diff_book_it_carries():
    r, journal, fetcher, _, scheduled = setup()
    r.hold("binance-usdm", ["BTCUSDT", "ETHUSDT"])  # it opens
    r.on_gap(gap(), 4)  # its first diff cannot continue the old chain
    r.release("binance-usdm", ["BTCUSDT", "ETHUSDT"], fresh=True)  # it delivers
    r.hold("upbit", ["KRW-BTC"])
    r.release("upbit", ["KRW-BTC"], fresh=True)  # no snapshot capability: nothing to fetch
    run(scheduled)
    assert fetcher.requests == [("BTCUSDT", "start"), ("ETHUSDT", "start")] and journal.marks == []


def test_a_rotation_overlap_holds_the_books_and_ends_with_a_fetch():
    r, journal, fetcher, counters, scheduled = setup()
    r.hold("binance-usdm", ["BTCUSDT"])
    r.on_gap(gap(), 4)  # the same diff from both connections
    run(scheduled)
    assert journal.marks == [] and fetcher.requests == [] and counters.gaps == []
    r.release("binance-usdm", ["BTCUSDT"], fresh=True)
    assert fetcher.requests == [("BTCUSDT", "start")]
    # The replacement failed: only a book that broke meanwhile is fetched.
    fetcher.journaled("BTCUSDT")
    r.hold("binance-usdm", ["BTCUSDT", "ETHUSDT"])
    r.hold("binance-usdm", ["ETHUSDT"])  # held twice: released when both let go
    r.on_gap(gap("ETHUSDT"), 4)
    r.release("binance-usdm", ["BTCUSDT", "ETHUSDT"], fresh=False)
    assert fetcher.requests[1:] == []
    r.release("binance-usdm", ["ETHUSDT"], fresh=False)
    assert fetcher.requests[1:] == [("ETHUSDT", "held")]
    assert r.held == {} and r.unmarked == set()
    # After the hold, a break is a break again.
    fetcher.journaled("ETHUSDT")
    r.on_gap(gap("ETHUSDT"), 4)
    run(scheduled)
    assert [m[2]["symbol"] for m in journal.marks] == ["ETHUSDT"]
