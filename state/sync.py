"""Each venue's book sync rule, all transitions in one place.

A rule answers, for a delta and the book's position, one of APPLY, STALE (older than
the book: drop quietly) or GAP (continuity broken). ``RULES`` is the table, one row per
venue: its check and how the venue differs (resync by REST snapshot, book tickers with the
depth update id, levels with their own ids, full snapshots only, a checksum of the levels).
The driver (``on_delta`` / ``on_snapshot``) does the rest the same way for every venue:

- REST-synced venues (Binance, Gate, KuCoin) buffer deltas until a snapshot arrives,
  then replay the buffer through the rule; a snapshot older than the buffered
  stream is a ``stale_snapshot`` Gap and the book keeps waiting.
- WebSocket-snapshot venues (Bybit, OKX, Phemex) drop deltas until their snapshot.
- Upbit sends full snapshots only.

A Gap clears the book, marks it invalid and (REST-synced) starts buffering again.

Every check but OKX's checksum decides on update ids alone (``ids_suffice``): a sync-only
projection decodes those venues' book events without their levels and keeps none
(``Book(..., sync_only=True)``), through these same rules.

Only ``state.book.Book`` calls the driver (``Book.apply_snapshot`` / ``apply_delta``), and
only the book and this module write a book's state: the functions here read and set its
private fields (``b._last_id``, ...), which is why they live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .events import BookDelta, BookSnapshot, Event, Gap

if TYPE_CHECKING:
    from .book import Book

APPLY, STALE, GAP = 0, 1, 2


def _binance_futures(b: Book, d: BookDelta):
    """USD-M: first event after the snapshot has U <= lastUpdateId <= u; then pu == last u."""
    if b._pending:
        if d.last_id < b._last_id:
            return STALE, None, None
        if d.first_id <= b._last_id:
            return APPLY, None, None
        return GAP, b._last_id, d.first_id
    if d.prev_id == b._last_id:
        return APPLY, None, None
    if d.prev_id is None and d.first_id == b._last_id + 1:  # a frame without pu
        return APPLY, None, None
    return GAP, b._last_id, d.prev_id


def _next_range(b: Book, d: BookDelta):
    """Spot (current text), Gate, KuCoin: drop u <= last; U > last + 1 is a gap."""
    if d.last_id <= b._last_id:
        return STALE, None, None
    if d.first_id > b._last_id + 1:
        return GAP, b._last_id + 1, d.first_id
    return APPLY, None, None


def _plus_one(b: Book, d: BookDelta):
    """Bybit: each delta's u is the previous u + 1."""
    if d.last_id == b._last_id + 1:
        return APPLY, None, None
    if d.last_id <= b._last_id:
        return STALE, None, None
    return GAP, b._last_id + 1, d.last_id


def _okx(b: Book, d: BookDelta):
    """OKX: prevSeqId == the last seqId when the venue sends them (2022 frames do not)."""
    if d.prev_id is None or b._last_id is None or d.prev_id == b._last_id:
        return APPLY, None, None
    return GAP, b._last_id, d.prev_id


def _increasing(b: Book, d: BookDelta):
    """Phemex: the sequence only grows."""
    if b._last_id is None or d.last_id > b._last_id:
        return APPLY, None, None
    return GAP, b._last_id + 1, d.last_id


class Rule(NamedTuple):
    """One venue's row of ``RULES``."""

    # check(book, delta) -> (verdict, expected, got); None: deltas are not applied
    check: Callable[[Book, BookDelta], tuple] | None
    rest_synced: bool = False  # resynced by a REST snapshot (deltas buffered until it comes)
    ticker_update_id: bool = False  # its book ticker carries the depth update id (Binance u)
    level_ids: bool = False  # each level carries its own update id (KuCoin; see _levels)
    snapshots_only: bool = False  # the venue sends full books, never deltas (Upbit)
    checksum: bool = False  # its books carry a checksum of their top levels (OKX): sync reads levels


RULES: dict[str, Rule] = {
    "binance-usdm": Rule(_binance_futures, rest_synced=True, ticker_update_id=True),
    "binance-spot": Rule(_next_range, rest_synced=True, ticker_update_id=True),
    "gate": Rule(_next_range, rest_synced=True),
    "kucoin": Rule(_next_range, rest_synced=True, level_ids=True),
    "bybit": Rule(_plus_one),
    "okx": Rule(_okx, checksum=True),
    "phemex": Rule(_increasing),
    "upbit": Rule(None, snapshots_only=True),
}
_NO_RULE = Rule(None)  # a venue without a rule: its deltas are not applied

BUFFER_LIMIT = 5000  # deltas kept per book while waiting for a snapshot


def rule_of(rule: str) -> Rule:
    """The row of ``rule`` (a venue without one: nothing applied, nothing buffered)."""
    return RULES.get(rule, _NO_RULE)


def rest_synced(rule: str) -> bool:
    return rule_of(rule).rest_synced


def ids_suffice(rule: str) -> bool:
    """The rule decides on update ids alone (every venue but a checksummed one): a sync-only
    projection may leave the levels undecoded and unkept, with the same Gaps and validity."""
    return not rule_of(rule).checksum


def _gap(b: Book, d: Event, expected, got, reason: str) -> Gap:
    b._gaps += 1
    return Gap(venue=b._venue, symbol=b._symbol, norm=b._norm, exch_ts_ns=d.exch_ts_ns,
               recv_ts_ns=d.recv_ts_ns, seq=d.seq, expected=expected, got=got, reason=reason)


def _invalidate(b: Book) -> None:
    b._valid = False
    b._pending = False
    b._clear()


def _levels(b: Book, d: BookDelta):
    """Levels with their own ids (KuCoin's sequence): the first delta after a snapshot may
    hold changes the snapshot already has, and the book takes (price, size) pairs."""
    if b._level_ids:
        last = b._last_id
        return ([(lv[0], lv[1]) for lv in d.bids if int(lv[2]) > last],
                [(lv[0], lv[1]) for lv in d.asks if int(lv[2]) > last])
    return d.bids, d.asks


def _apply(b: Book, d: BookDelta) -> int:
    bids, asks = _levels(b, d)
    bad = b._apply_levels(bids, asks)
    b._last_id = d.last_id
    b._pending = False
    b._updates += 1
    b._seq = d.seq
    b._ts_ns = d.recv_ts_ns
    return bad


def _verify(b: Book, ev, out: list) -> None:
    """OKX: the CRC32 of the top 25 levels must equal the frame's checksum."""
    if ev.checksum is None or not b._valid:
        return
    got = b.okx_checksum()
    if got == ev.checksum:
        b._checksum_ok += 1
        return
    b._checksum_bad += 1
    out.append(_gap(b, ev, ev.checksum, got, "checksum"))
    _invalidate(b)


def on_delta(b: Book, d: BookDelta, out: list) -> int:
    """Fold one delta; appends Gap events to ``out``; returns rejected-level count."""
    b._seen_delta = True
    if b._mode == "partial":
        return 0  # a book fed by top-N pictures ignores diffs
    b._mode = "diff"
    check = b._check
    by_rest = b._by_rest
    if check is None:
        return 0
    if not b._valid:
        if by_rest:
            if len(b._buffer) >= BUFFER_LIMIT:
                del b._buffer[0]
            b._buffer.append(d)
        else:
            b._stale += 1
        return 0
    verdict, expected, got = check(b, d)
    if verdict == APPLY:
        bad = _apply(b, d)
        if d.checksum is not None:
            _verify(b, d, out)
        return bad
    if verdict == STALE:
        b._stale += 1
        return 0
    out.append(_gap(b, d, expected, got, "sequence"))
    _invalidate(b)
    if by_rest:
        b._buffer = [d]
    return 0


def on_snapshot(b: Book, s: BookSnapshot, out: list) -> int:
    """Fold one snapshot; replays buffered deltas for REST-synced venues."""
    if s.depth is not None and b._mode == "diff":
        return 0  # a partial picture never overwrites a diff-synced book
    if s.depth is not None:
        b._mode = "partial"
    elif b._mode != "diff":
        b._mode = "snapshot" if rule_of(b._rule).snapshots_only else "diff"
    bad = b._load_levels(s.bids, s.asks)
    b._last_id = s.update_id
    b._valid = True
    b._seq = s.seq
    b._ts_ns = s.recv_ts_ns
    b._updates += 1
    check = b._check
    by_rest = b._by_rest
    b._pending = by_rest and s.depth is None
    if s.checksum is not None:
        _verify(b, s, out)
    if not (by_rest and b._buffer) or b._last_id is None:
        b._buffer = []
        return bad
    buffered, b._buffer = b._buffer, []
    for i, d in enumerate(buffered):
        verdict, expected, got = check(b, d)
        if verdict == STALE:
            continue
        if verdict == APPLY:
            bad += _apply(b, d)
            continue
        # The snapshot predates the buffered stream (or the stream broke): wait for another.
        out.append(_gap(b, d, expected, got, "stale_snapshot" if b._pending else "sequence"))
        _invalidate(b)
        b._buffer = buffered[i:]
        break
    return bad
