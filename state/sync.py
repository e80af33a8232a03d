"""Each venue's book sync rule, all transitions in one place.

A rule answers, for a delta and the book's position, one of APPLY, STALE (older than
the book: drop quietly) or GAP (continuity broken). The driver (``on_delta`` /
``on_snapshot``) does the rest the same way for every venue:

- REST-synced venues (Binance, Gate, KuCoin) buffer deltas until a snapshot arrives,
  then replay the buffer through the rule; a snapshot older than the buffered
  stream is a ``stale_snapshot`` Gap and the book keeps waiting.
- WebSocket-snapshot venues (Bybit, OKX, Phemex) drop deltas until their snapshot.
- Upbit sends full snapshots only.

A Gap clears the book, marks it invalid and (REST-synced) starts buffering again.
"""

from __future__ import annotations

from .book import Book
from .events import BookDelta, BookSnapshot, Event, Gap

APPLY, STALE, GAP = 0, 1, 2

# rule name -> (check function, resync by REST snapshot?)
# check(book, delta) -> (verdict, expected, got)


def _binance_futures(b: Book, d: BookDelta):
    """USD-M: first event after the snapshot has U <= lastUpdateId <= u; then pu == last u."""
    if b.pending:
        if d.last_id < b.last_id:
            return STALE, None, None
        if d.first_id <= b.last_id:
            return APPLY, None, None
        return GAP, b.last_id, d.first_id
    if d.prev_id == b.last_id:
        return APPLY, None, None
    if d.prev_id is None and d.first_id == b.last_id + 1:  # a frame without pu
        return APPLY, None, None
    return GAP, b.last_id, d.prev_id


def _next_range(b: Book, d: BookDelta):
    """Spot (current text), Gate, KuCoin: drop u <= last; U > last + 1 is a gap."""
    if d.last_id <= b.last_id:
        return STALE, None, None
    if d.first_id > b.last_id + 1:
        return GAP, b.last_id + 1, d.first_id
    return APPLY, None, None


def _plus_one(b: Book, d: BookDelta):
    """Bybit: each delta's u is the previous u + 1."""
    if d.last_id == b.last_id + 1:
        return APPLY, None, None
    if d.last_id <= b.last_id:
        return STALE, None, None
    return GAP, b.last_id + 1, d.last_id


def _okx(b: Book, d: BookDelta):
    """OKX: prevSeqId == the last seqId when the venue sends them (2022 frames do not)."""
    if d.prev_id is None or b.last_id is None or d.prev_id == b.last_id:
        return APPLY, None, None
    return GAP, b.last_id, d.prev_id


def _increasing(b: Book, d: BookDelta):
    """Phemex: the sequence only grows."""
    if b.last_id is None or d.last_id > b.last_id:
        return APPLY, None, None
    return GAP, b.last_id + 1, d.last_id


RULES = {
    "binance-usdm": (_binance_futures, True),
    "binance-spot": (_next_range, True),
    "gate": (_next_range, True),
    "kucoin": (_next_range, True),
    "bybit": (_plus_one, False),
    "okx": (_okx, False),
    "phemex": (_increasing, False),
    "upbit": (None, False),  # full snapshots only
}

BUFFER_LIMIT = 5000  # deltas kept per book while waiting for a snapshot


def rest_synced(rule: str) -> bool:
    return RULES.get(rule, (None, False))[1]


def _gap(b: Book, d: Event, expected, got, reason: str) -> Gap:
    b.gaps += 1
    return Gap(b.venue, b.symbol, b.norm, d.exch_ts_ns, d.recv_ts_ns, d.seq, expected, got, reason)


def _invalidate(b: Book) -> None:
    b.valid = False
    b.pending = False
    b.clear()


def _levels(b: Book, d: BookDelta):
    """KuCoin levels carry their own sequence: the first delta after a snapshot may hold
    changes the snapshot already has, and the book takes (price, size) pairs."""
    if b.rule == "kucoin":
        last = b.last_id
        return ([(lv[0], lv[1]) for lv in d.bids if int(lv[2]) > last],
                [(lv[0], lv[1]) for lv in d.asks if int(lv[2]) > last])
    return d.bids, d.asks


def _apply(b: Book, d: BookDelta, out: list) -> int:
    bids, asks = _levels(b, d)
    bad = b.apply(bids, asks)
    b.last_id = d.last_id
    b.pending = False
    b.updates += 1
    b.seq = d.seq
    b.ts_ns = d.recv_ts_ns
    return bad


def _verify(b: Book, ev, out: list) -> None:
    """OKX: the CRC32 of the top 25 levels must equal the frame's checksum."""
    if ev.checksum is None or not b.valid:
        return
    got = b.okx_checksum()
    if got == ev.checksum:
        b.checksum_ok += 1
        return
    b.checksum_bad += 1
    out.append(_gap(b, ev, ev.checksum, got, "checksum"))
    _invalidate(b)


def on_delta(b: Book, d: BookDelta, out: list) -> int:
    """Fold one delta; appends Gap events to ``out``; returns rejected-level count."""
    b.seen_delta = True
    if b.mode == "partial":
        return 0  # a book fed by top-N pictures ignores diffs
    b.mode = "diff"
    check, by_rest = RULES.get(b.rule, (None, False))
    if check is None:
        return 0
    if not b.valid:
        if by_rest:
            if len(b.buffer) >= BUFFER_LIMIT:
                del b.buffer[0]
            b.buffer.append(d)
        else:
            b.stale += 1
        return 0
    verdict, expected, got = check(b, d)
    if verdict == APPLY:
        bad = _apply(b, d, out)
        if d.checksum is not None:
            _verify(b, d, out)
        return bad
    if verdict == STALE:
        b.stale += 1
        return 0
    out.append(_gap(b, d, expected, got, "sequence"))
    _invalidate(b)
    if by_rest:
        b.buffer = [d]
    return 0


def on_snapshot(b: Book, s: BookSnapshot, out: list) -> int:
    """Fold one snapshot; replays buffered deltas for REST-synced venues."""
    if s.depth is not None and b.mode == "diff":
        return 0  # a partial picture never overwrites a diff-synced book
    if s.depth is not None:
        b.mode = "partial"
    elif b.mode != "diff":
        b.mode = "diff" if b.rule != "upbit" else "snapshot"
    bad = b.load(s.bids, s.asks)
    b.last_id = s.update_id
    b.valid = True
    b.seq = s.seq
    b.ts_ns = s.recv_ts_ns
    b.updates += 1
    check, by_rest = RULES.get(b.rule, (None, False))
    b.pending = by_rest and s.depth is None
    if s.checksum is not None:
        _verify(b, s, out)
    if not (by_rest and b.buffer) or b.last_id is None:
        b.buffer = []
        return bad
    buffered, b.buffer = b.buffer, []
    for i, d in enumerate(buffered):
        verdict, expected, got = check(b, d)
        if verdict == STALE:
            continue
        if verdict == APPLY:
            bad += _apply(b, d, out)
            continue
        # The snapshot predates the buffered stream (or the stream broke): wait for another.
        out.append(_gap(b, d, expected, got, "stale_snapshot" if b.pending else "sequence"))
        _invalidate(b)
        b.buffer = buffered[i:]
        break
    return bad
