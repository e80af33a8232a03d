"""A binance-spot recording of one symbol's partial-depth stream (``depth20``) beside its
diff stream (``depth``): the diff book is synced by the REST snapshot and the diffs alone,
as if the partial pictures were not there, whichever stream's frame comes first.

The journal is written and read back as the recorder's are (``JournalWriter``,
``JournalReader``): a combined connection carrying both streams, and the REST snapshot the
recorder fetched for the diff book.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from recorder.journal import FRAME, REST
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from state.events import Anomaly, BookSnapshot, Gap
from state.projector import Projector

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
WS_URL = "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/btcusdt@depth20@100ms"
DEPTH_URL = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=5000"


def diff(U: int, u: int, bids=(), asks=(), E: int = 0) -> bytes:
    data = {"e": "depthUpdate", "E": E, "s": "BTCUSDT", "U": U, "u": u,
            "b": [list(x) for x in bids], "a": [list(x) for x in asks]}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}).encode()


def picture(last_id: int, bids, asks) -> bytes:
    """A ``depth20`` frame: a bare top-N snapshot (no ``e``), as spot sends it."""
    data = {"lastUpdateId": last_id, "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}
    return json.dumps({"stream": "btcusdt@depth20@100ms", "data": data}).encode()


def rest(last_id: int, bids, asks) -> bytes:
    return json.dumps({"lastUpdateId": last_id, "bids": [list(x) for x in bids],
                       "asks": [list(x) for x in asks]}).encode()


# Times in ms after T0. The REST snapshot (id 107) lands among the diffs, as a live
# recording's does: 104-106 is older than it, 107-109 brackets it, the rest follow on.
DIFFS = [
    (1050, diff(104, 106, bids=[("99.5", "3")])),
    (1100, diff(107, 109, asks=[("100.5", "0.5")])),
    (1300, diff(110, 112, bids=[("100.2", "1.5")])),
    (1400, diff(113, 115, asks=[("101.0", "0")])),
]
PICTURES = [  # each the top of the book at its id, ask 100.4 a level the diff book never had
    (1000, picture(105, [("100.0", "1"), ("99.5", "3")], [("100.4", "7"), ("100.5", "1")])),
    (1150, picture(109, [("100.0", "1"), ("99.5", "3")], [("100.5", "0.5"), ("101.0", "2")])),
    (1350, picture(112, [("100.2", "1.5"), ("100.0", "1")], [("100.5", "0.5"), ("101.0", "2")])),
]
SNAPSHOT = (1200, rest(107, [("100.0", "1"), ("99.5", "3"), ("99.0", "5")],
                       [("100.5", "1"), ("101.0", "2"), ("102.0", "5")]))
# The REST snapshot and the diffs after it give this book:
BIDS = [(D("100.2"), D("1.5")), (D("100.0"), D(1)), (D("99.5"), D(3)), (D("99.0"), D(5))]
ASKS = [(D("100.5"), D("0.5")), (D("102.0"), D(5))]


def write(data_dir, frames) -> None:
    w = JournalWriter(data_dir, background=False, durability="os")
    try:
        ws = w.register_stream("binance-spot", market="spot", url=WS_URL, conn="t.ws", opened_ns=T0)
        rs = w.register_stream("binance-spot", market="spot", url=DEPTH_URL, conn="t.rest",
                               opened_ns=T0)
        for ms, payload in sorted([*frames, SNAPSHOT], key=lambda f: f[0]):
            if payload is SNAPSHOT[1]:
                w.append(rs, REST, payload, ts_ns=T0 + ms * MS, meta={"url": DEPTH_URL})
            else:
                w.append(ws, FRAME, payload, ts_ns=T0 + ms * MS)
    finally:
        w.close()


def project(data_dir) -> tuple[Projector, list]:
    with JournalReader(data_dir) as r:
        p = Projector(r.streams())
        events = [ev for rec in r.read() for ev in p.apply(rec)]
    return p, events


@pytest.mark.parametrize("first", ["picture", "diff"])
def test_a_partial_stream_beside_the_diff_stream_costs_no_resync(tmp_path, first):
    pictures = PICTURES if first == "picture" else PICTURES[1:]  # a diff first: 1050 leads
    write(tmp_path / "both", DIFFS + pictures)
    p, events = project(tmp_path / "both")
    assert [e for e in events if isinstance(e, Gap | Anomaly)] == []
    assert [e.update_id for e in events if isinstance(e, BookSnapshot)] == [
        *(p_id for p_id in (105,) if first == "picture"), 109, 107, 112]  # every one decoded
    book = p.book("binance-spot", "BTCUSDT")
    assert (book.valid, book.mode, book.last_id, book.gaps) == (True, "diff", 115, 0)
    assert (book.top_bids(10), book.top_asks(10)) == (BIDS, ASKS)
    assert p.books_needing_snapshot() == []
    write(tmp_path / "diffs", DIFFS)  # the same recording without the partial stream
    alone, _ = project(tmp_path / "diffs")
    other = alone.book("binance-spot", "BTCUSDT")
    assert book.raw_levels() == other.raw_levels()
    assert (book.last_id, book.stale) == (other.last_id, other.stale)
    assert book.updates == other.updates + (first == "picture")  # the picture before any diff


def test_partial_pictures_alone_still_make_the_book(tmp_path):
    """Without a diff stream the pictures are the book (no REST snapshot is needed)."""
    w = JournalWriter(tmp_path, background=False, durability="os")
    try:
        ws = w.register_stream("binance-spot", market="spot", conn="t.ws", opened_ns=T0,
                               url="wss://stream.binance.com:9443/stream?streams=btcusdt@depth20@100ms")
        for ms, payload in PICTURES:
            w.append(ws, FRAME, payload, ts_ns=T0 + ms * MS)
    finally:
        w.close()
    p, events = project(tmp_path)
    book = p.book("binance-spot", "BTCUSDT")
    assert (book.valid, book.mode, book.last_id) == (True, "partial", 112)
    assert book.top_asks(1) == [(D("100.5"), D("0.5"))]
    assert p.books_needing_snapshot() == []
