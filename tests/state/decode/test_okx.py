"""OKX v5: every book update's CRC32 checksum verified on the capture; a bad one is a Gap."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, Record, StreamInfo
from state.events import BookDelta, BookSnapshot, Gap
from state.projector import Projector


def test_checksums_match_290_of_290(projected):
    p, events = projected("OKX")
    updates = [e for e in events if type(e) is BookDelta]
    assert len(updates) + len([e for e in events if type(e) is BookSnapshot]) == 290
    assert all(e.checksum is not None for e in updates)
    assert not [e for e in events if type(e) is Gap]
    books = [p.book("okx", s) for s in ("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")]
    assert [b.checksum_ok for b in books] == [99, 93, 98] and sum(b.checksum_bad for b in books) == 0
    assert sum(b.checksum_ok for b in books) == 290  # every snapshot and update verified
    assert p.counters == {}
    # the final book reproduces the last checksum OKX sent for it
    last = {e.symbol: e.checksum for e in events if type(e) in (BookDelta, BookSnapshot)}
    for b in books:
        assert b.valid and b.okx_checksum() == last[b.symbol]
    assert p.market("okx", "UNI-USD-SWAP").norm == "UNI-USD-PERP"


def test_wrong_checksum_invalidates_the_book():
    p = Projector({1: StreamInfo(1, "okx", "", "wss://ws.okx.com:8443/ws/v5/public")})
    snap = (b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":'
            b'[["3366.8","9","0","3"],["3368","8","3","4"]],"bids":[["3366.1","7","0","3"],'
            b'["3366","6","3","4"]],"ts":"1","checksum":-1881014294}]}')
    assert not [e for e in p.apply(Record(1, 1, 1, FRAME, snap, None)) if type(e) is Gap]
    upd = (b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],'
           b'"bids":[["3366","0","0","0"]],"ts":"2","checksum":12345}]}')
    [g] = [e for e in p.apply(Record(2, 2, 1, FRAME, upd, None)) if type(e) is Gap]
    assert (g.reason, g.expected) == ("checksum", 12345)
    b = p.book("okx", "BTC-USDT")
    assert not b.valid and b.checksum_ok == 1 and b.checksum_bad == 1
    assert p.books_needing_snapshot() == [("okx", "BTC-USDT")]
    assert p.apply(Record(3, 3, 1, FRAME, b"pong", None)) == []
    assert p.apply(Record(4, 4, 1, FRAME, b'{"event":"subscribe","arg":{"channel":"books"}}', None)) == []
    p.apply(Record(5, 5, 1, FRAME, snap, None))
    assert b.valid and b.best_ask() == Decimal("3366.8")
