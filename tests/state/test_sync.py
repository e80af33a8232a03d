"""Each venue's sync rule (``state.sync``), driven through ``Book.apply_snapshot`` /
``apply_delta`` with events built by hand: what applies, what is stale, what is a Gap
(with expected/got), and how each kind of venue re-syncs."""

from __future__ import annotations

import random
import zlib
from decimal import Decimal as D

import msgspec
import pytest

from state.book import Book
from state.decode import DECODERS
from state.events import BookDelta, BookSnapshot, Gap
from state.sync import BUFFER_LIMIT, RULES, ids_suffice, rest_synced, rule_of


def snap(update_id, bids=(("10", "1"),), asks=(("11", "1"),), seq=1, **kw) -> BookSnapshot:
    return BookSnapshot(venue="v", symbol="S", norm="S-T", exch_ts_ns=0, recv_ts_ns=seq, seq=seq,
                        bids=tuple(bids), asks=tuple(asks), update_id=update_id, **kw)


def delta(first, last, prev=None, bids=(), asks=(), seq=2, checksum=None) -> BookDelta:
    return BookDelta(venue="v", symbol="S", norm="S-T", exch_ts_ns=0, recv_ts_ns=seq, seq=seq,
                     bids=tuple(bids), asks=tuple(asks), first_id=first, last_id=last,
                     prev_id=prev, checksum=checksum)


def ignore(ev, kind, detail, out):
    """A report that keeps nothing (findings are tested in test_book.py)."""


class Driver:
    """A book and every Gap its events produced."""

    def __init__(self, rule: str) -> None:
        self.book = Book("v", "S", "S-T", rule)
        self.gaps: list[Gap] = []

    def snap(self, *a, **kw) -> list[tuple]:
        out: list = []
        self.book.apply_snapshot(snap(*a, **kw), out, ignore)
        self.gaps += out
        return [(g.expected, g.got, g.reason) for g in out]

    def delta(self, *a, **kw) -> list[tuple]:
        out: list = []
        self.book.apply_delta(delta(*a, **kw), out, ignore)
        self.gaps += out
        return [(g.expected, g.got, g.reason) for g in out]


def test_every_decoded_venue_has_a_rule_and_the_table_says_how_it_resyncs():
    assert set(RULES) == set(DECODERS)
    assert [r for r in RULES if rest_synced(r)] == ["binance-usdm", "binance-spot", "gate", "kucoin"]
    assert [r for r in RULES if RULES[r].ticker_update_id] == ["binance-usdm", "binance-spot"]
    assert [r for r in RULES if RULES[r].level_ids] == ["kucoin"]
    assert [r for r in RULES if RULES[r].snapshots_only] == ["upbit"] and RULES["upbit"].check is None
    assert [r for r in RULES if not ids_suffice(r)] == ["okx"] and RULES["okx"].checksum
    assert rule_of("no-such-venue") == (None, False, False, False, False, False)


def test_binance_futures_first_delta_brackets_the_snapshot_then_pu_chains():
    d = Driver("binance-usdm")
    assert d.delta(95, 100, 90, bids=[("9", "1")]) == []  # before a snapshot: buffered
    assert d.delta(101, 104, 100, bids=[("10", "2")], seq=3) == []
    assert d.book.buffered == 2 and d.book.needs_snapshot and not d.book.valid
    assert d.snap(102, bids=[("10", "5"), ("8", "1")], seq=4) == []
    # u=100 < 102 dropped; U=101 <= 102 <= u=104 applied on top of the snapshot
    b = d.book
    assert b.valid and not b.pending and b.last_id == 104 and b.buffered == 0
    assert b.top_bids(3) == [(D(10), D(2)), (D(8), D(1))]
    assert d.delta(105, 106, 104) == [] and b.last_id == 106 and b.updates == 3


def test_binance_futures_a_frame_without_pu_chains_by_u_plus_one_and_a_break_is_a_gap():
    d = Driver("binance-usdm")
    d.snap(10)
    assert d.delta(9, 11, 8) == [] and d.book.last_id == 11  # brackets 10
    assert d.delta(12, 12, None) == [] and d.book.last_id == 12  # no pu: U == last + 1
    assert d.delta(20, 21, 19) == [(12, 19, "sequence")]
    b = d.book
    assert not b.valid and len(b) == 0 and b.gaps == 1 and b.buffered == 1  # that delta kept
    # a snapshot older than the buffered stream: stale_snapshot, keep waiting
    assert d.snap(15, seq=5) == [(15, 20, "stale_snapshot")] and not b.valid and b.buffered == 1
    assert d.snap(20, bids=[("10", "7")], seq=6) == [] and b.valid and b.last_id == 21


def test_binance_futures_stale_deltas_before_the_bracket_are_dropped():
    d = Driver("binance-usdm")
    d.snap(100)
    assert d.delta(90, 95, 89) == [] and d.book.pending  # u < lastUpdateId: dropped quietly
    assert d.delta(101, 102, 95) == [(100, 101, "sequence")]  # U > lastUpdateId: nothing brackets


@pytest.mark.parametrize("rule", ["binance-spot", "gate", "kucoin"])
def test_ranges_drop_old_updates_and_a_missing_range_is_a_gap(rule):
    d = Driver(rule)
    d.snap(10)
    lv = [("9", "1", "12")] if rule == "kucoin" else [("9", "1")]
    assert d.delta(5, 10, bids=lv) == [] and d.book.stale == 1  # u <= last: stale
    assert d.delta(8, 12, bids=lv) == [] and d.book.last_id == 12  # overlaps: applied
    assert d.book.top_bids(5) == [(D(10), D(1)), (D(9), D(1))]
    assert d.delta(14, 15) == [(13, 14, "sequence")] and not d.book.valid
    assert d.snap(14, seq=3) == [] and d.book.valid and d.book.last_id == 15  # buffer replayed


def test_kucoin_levels_the_snapshot_already_has_are_skipped():
    d = Driver("kucoin")
    d.snap(100)
    # change 100 is in the snapshot (size 1 stays), 101 is new
    assert d.delta(99, 101, bids=[("10", "5", "100"), ("9", "2", "101")]) == []
    assert d.book.top_bids(5) == [(D(10), D(1)), (D(9), D(2))] and d.book.last_id == 101


def test_bybit_u_plus_one_stale_and_gap_and_no_deltas_before_a_snapshot():
    d = Driver("bybit")
    assert d.delta(None, 5) == [] and d.book.stale == 1 and d.book.buffered == 0  # not buffered
    assert d.book.needs_snapshot and not d.book.rest_synced  # it resubscribes instead
    d.snap(500)
    assert d.delta(None, 501, bids=[("9", "1")]) == [] and d.book.last_id == 501
    assert d.delta(None, 501) == [] and d.book.stale == 2
    assert d.delta(None, 503) == [(502, 503, "sequence")] and not d.book.valid


def test_okx_prev_seq_chains_and_a_bad_checksum_is_a_gap():
    d = Driver("okx")
    d.snap(10, bids=[("3366.1", "7"), ("3366", "6")], asks=[("3366.8", "9"), ("3368", "8")],
           checksum=-1881014294)
    assert d.book.checksum_ok == 1 and d.book.valid
    assert d.delta(None, 11, 10) == [] and d.delta(None, 12, None) == []  # 2022 frames: no prev
    assert d.delta(None, 14, 13) == [(12, 13, "sequence")]
    d.snap(20, bids=[("3366.1", "7")], asks=[("3366.8", "9")], seq=3)
    crc = zlib.crc32(b"3366.8:9")  # what the book holds after the update: asks only
    assert d.delta(None, 21, 20, bids=[("3366.1", "0")], checksum=12345) == [
        (12345, crc - (1 << 32) if crc >= 1 << 31 else crc, "checksum")]
    assert (d.book.checksum_ok, d.book.checksum_bad, d.book.valid) == (1, 1, False)


def test_phemex_sequence_only_grows():
    d = Driver("phemex")
    d.snap(7)
    assert d.delta(None, 8) == [] and d.delta(None, 30) == []  # any growth applies
    assert d.delta(None, 30) == [(31, 30, "sequence")] and not d.book.valid


def test_upbit_is_full_snapshots_only():
    d = Driver("upbit")
    d.snap(None, bids=[("100", "1")], asks=[("101", "1")])
    assert d.book.mode == "snapshot" and d.book.valid
    assert d.delta(None, 5, bids=[("99", "1")]) == [] and d.book.top_bids(5) == [(D(100), D(1))]
    d.snap(None, bids=[("99", "2")], asks=[("101", "1")], seq=3)
    assert d.book.top_bids(5) == [(D(99), D(2))] and d.book.updates == 2


def test_partial_pictures_never_overwrite_a_diff_synced_book_and_a_diff_takes_the_book():
    part = Driver("binance-usdm")
    part.snap(50, bids=[("10", "1")], depth=20)
    assert part.book.mode == "partial" and part.book.valid and not part.book.pending
    # the first diff: the diff stream owns the book, unsynced (no Gap), until its snapshot
    assert part.delta(51, 52, 50, bids=[("9", "1")], seq=2) == []
    assert (part.book.mode, part.book.valid, part.book.last_id, len(part.book)) == ("diff", False, None, 0)
    assert part.book.needs_snapshot and part.book.buffered == 1 and part.book.gaps == 0
    assert part.snap(60, bids=[("11", "1")], depth=20, seq=3) == [] and len(part.book) == 0  # ignored
    assert part.snap(51, bids=[("10", "1")], seq=4) == []  # its snapshot: the buffered diff follows on
    assert (part.book.valid, part.book.last_id, part.book.mode) == (True, 52, "diff")
    assert part.book.top_bids(5) == [(D(10), D(1)), (D(9), D(1))] and part.book.seen_delta
    diff = Driver("binance-usdm")
    diff.snap(100)
    diff.delta(100, 101, 99, bids=[("10", "3")])
    diff.snap(200, bids=[("1", "1")], depth=20, seq=5)  # a top-N picture: ignored
    assert diff.book.mode == "diff" and diff.book.last_id == 101 and diff.book.best_bid() == D(10)


def test_the_buffer_keeps_the_newest_deltas_up_to_its_limit():
    d = Driver("gate")
    for i in range(BUFFER_LIMIT + 3):
        d.delta(i + 1, i + 1, seq=i + 2)
    assert d.book.buffered == BUFFER_LIMIT
    assert d.snap(3, seq=BUFFER_LIMIT + 10) == []  # the oldest three went: 4 onwards applies
    assert d.book.last_id == BUFFER_LIMIT + 3 and d.book.updates == 1 + BUFFER_LIMIT


def test_a_venue_without_a_rule_takes_snapshots_and_ignores_deltas():
    d = Driver("no-such-venue")
    assert d.delta(1, 2, bids=[("9", "1")]) == [] and d.book.mode == "diff"
    assert (d.book.buffered, d.book.stale, d.book.valid) == (0, 0, False)
    d.snap(5)
    assert d.book.valid and d.book.mode == "diff" and d.book.top_bids(5) == [(D(10), D(1))]


def sync_view(b: Book) -> tuple:
    """Everything of a book's sync, nothing of its levels."""
    return (b.valid, b.last_id, b.pending, b.mode, b.buffered, b.seen_delta, b.needs_snapshot,
            b.seq, b.ts_ns, b.updates, b.gaps, b.stale, b.checksum_ok, b.checksum_bad)


def random_events(rng: random.Random, rule: str, n: int = 400) -> list:
    """Snapshots and deltas whose ids mostly follow on, sometimes repeat, skip or go back."""
    out: list = []
    last = 100
    for seq in range(1, n + 1):
        def lv(ids: bool = rule == "kucoin") -> list[tuple]:  # KuCoin's deltas: each level's id
            return [(f"{rng.randint(90, 110)}", rng.choice(["0", "1", "2.5"]),
                     str(last + rng.randint(-2, 3)))[:3 if ids else 2]
                    for _ in range(rng.randint(0, 3))]

        if rng.random() < 0.06:
            sid = last + rng.randint(-8, 4)
            out.append(snap(sid, bids=lv(False), asks=lv(False), seq=seq,
                            depth=20 if rng.random() < 0.1 else None))
            continue
        step = rng.choice([1, 1, 1, 1, 1, 2, 0, -3, 5])
        first, new = last + 1, last + max(step, 0) + (step > 0)
        prev = last if rng.random() < 0.9 else last - 1
        if step <= 0:
            first, new, prev = last + step - 1, last + step, last + step - 1
        out.append(delta(first, new, prev, bids=lv(), asks=lv(), seq=seq))
        last = max(last, new)
    return out


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_sync_only_book_folds_the_same_events_to_the_same_gaps_without_levels(rule):
    """A sync-only book on events without levels (what an ids-only decoder gives) against a
    full book on the events with them: the same Gaps and sync after every event; OKX keeps
    its levels (its checksum needs them)."""
    rng = random.Random(rule)
    full, sync = Book("v", "S", "S-T", rule), Book("v", "S", "S-T", rule, sync_only=True)
    assert full.keeps_levels and sync.keeps_levels is not ids_suffice(rule)
    gaps = 0
    for ev in random_events(rng, rule):
        bare = ev if not ids_suffice(rule) else msgspec.structs.replace(ev, bids=(), asks=())
        out_full: list = []
        out_sync: list = []
        if type(ev) is BookSnapshot:
            full.apply_snapshot(ev, out_full, ignore)
            sync.apply_snapshot(bare, out_sync, ignore)
        else:
            full.apply_delta(ev, out_full, ignore)
            sync.apply_delta(bare, out_sync, ignore)
        assert out_sync == out_full
        assert sync_view(sync) == sync_view(full)
        if ids_suffice(rule):
            assert sync.raw_levels() == ([], []) and len(sync) == 0 and sync.best_bid() is None
        gaps += len(out_full)
    assert full.updates > 10 and (gaps > 0 or RULES[rule].check is None)
