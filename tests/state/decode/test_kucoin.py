"""KuCoin: level2 sequence ranges bracket the REST snapshots; per-change sequences honoured."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, REST, Record, StreamInfo
from state.events import BookDelta, BookSnapshot, BookTicker, Gap, Trade
from state.projector import Projector


def test_nine_books_bracket_their_snapshots_without_a_gap(projected):
    p, events = projected("KUCOIN")
    assert not [e for e in events if type(e) is Gap]
    snaps = {e.symbol: e.update_id for e in events if type(e) is BookSnapshot}
    deltas = [e for e in events if type(e) is BookDelta]
    assert len(snaps) == 9 and len(deltas) == 3853
    applied = 0
    for sym, s in snaps.items():
        after = [d for d in deltas if d.symbol == sym and d.last_id > s]
        assert after and after[0].first_id <= s + 1 <= after[0].last_id
        assert all(b.first_id == a.last_id + 1 for a, b in zip(after, after[1:]))
        b = p.book("kucoin", sym)
        assert b.valid and b.last_id == after[-1].last_id and not b.crossed
        applied += len(after)
    assert sum(p.book("kucoin", s).updates for s in snaps) == 9 + applied
    assert len([e for e in events if type(e) is Trade]) == 18
    assert p.counters == {}
    assert [e for e in events if type(e) is BookTicker]


def test_first_delta_after_snapshot_skips_changes_the_snapshot_has():
    p = Projector({1: StreamInfo(1, "kucoin", "spot", "wss://ws-api-spot.kucoin.com/"),
                   2: StreamInfo(2, "kucoin", "spot", "https://api.kucoin.com")})
    url = "https://api.kucoin.com/api/v3/market/orderbook/level2?symbol=BTC-USDT"
    p.apply(Record(1, 1, 2, REST, b'{"code":"200000","data":{"time":1,"sequence":"100",'
                   b'"bids":[["10","1"]],"asks":[["11","1"]]}}', {"url": url}))
    body = (b'{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":'
            b'{"sequenceStart":99,"symbol":"BTC-USDT","changes":{"asks":[["0","0","99"]],"bids":'
            b'[["10","5","100"],["9","2","101"]]},"sequenceEnd":101}}')
    p.apply(Record(2, 2, 1, FRAME, body, None))
    b = p.book("kucoin", "BTC-USDT")
    # change seq 100 is already in the snapshot (size 1 stays), 101 is new
    assert b.valid and b.last_id == 101
    assert b.top_bids(5) == [(Decimal(10), Decimal(1)), (Decimal(9), Decimal(2))]
    assert p.apply(Record(3, 3, 1, FRAME, b'{"id":"1","type":"ack"}', None)) == []
