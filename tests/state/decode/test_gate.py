"""Gate spot and futures: REST snapshots bracket the first update; ranges continuous."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, Record, StreamInfo
from state.events import BookDelta, BookSnapshot, BookTicker, Gap, Trade
from state.projector import Projector


def bracketing(events):
    """symbol -> (snapshot id, first delta that continues it) checked independently."""
    snap: dict[str, int] = {}
    first: dict[str, BookDelta] = {}
    deltas: dict[str, list[BookDelta]] = {}
    for e in events:
        if type(e) is BookSnapshot:
            snap[e.symbol] = e.update_id
        elif type(e) is BookDelta:
            deltas.setdefault(e.symbol, []).append(e)
    for sym, s in snap.items():
        after = [d for d in deltas.get(sym, []) if d.last_id > s]
        if after:
            first[sym] = after[0]
            assert after[0].first_id <= s + 1 <= after[0].last_id, (sym, s, after[0])
            for a, b in zip(after, after[1:]):
                assert b.first_id == a.last_id + 1, (sym, a, b)
    return snap, first


def test_spot_snapshots_bracket_their_first_update(projected):
    p, events = projected("GATEIO")
    assert not [e for e in events if type(e) is Gap]
    snap, first = bracketing(events)
    assert len(snap) == 10 and len(first) == 8  # two pairs sent no update after their snapshot
    assert sorted(set(snap) - set(first)) == ["BTC_USDC", "INK_USDT"]
    assert p.counters == {}
    for sym in snap:
        b = p.book("gate", sym)
        assert b.valid and not b.crossed and b.gaps == 0
        assert b.last_id == (max(d.last_id for d in [first[sym]] + [
            e for e in events if type(e) is BookDelta and e.symbol == sym]) if sym in first else snap[sym])
    assert p.market("gate", "OMG_USDT").norm == "OMG-USDT"
    assert any(type(e) is Trade for e in events)


def test_futures_snapshots_bracket_and_sizes_are_contracts(projected):
    p, events = projected("GATEIO_FUTURES")
    assert not [e for e in events if type(e) is Gap]
    snap, first = bracketing(events)
    assert len(snap) == 10 and all(s.startswith("futures:") for s in snap)
    assert len(first) == 9 and sorted(set(snap) - set(first)) == ["futures:DIA_USDT"]
    for sym in snap:
        b = p.book("gate", sym)
        assert b.valid and not b.crossed and b.gaps == 0
        after = [e for e in events if type(e) is BookDelta and e.symbol == sym and e.last_id > snap[sym]]
        assert b.last_id == (after[-1].last_id if after else snap[sym])
        assert b.updates == 1 + len(after)
    assert p.counters == {}
    assert p.resolve_symbol("gate", "RDNT-USDT-PERP") == "futures:RDNT_USDT"
    tickers = [e for e in events if type(e) is BookTicker]
    assert tickers and all(t.symbol.startswith("futures:") for t in tickers)


def test_a_missing_range_is_a_gap_and_a_new_snapshot_resyncs():
    p = Projector({1: StreamInfo(1, "gate", "spot", "wss://api.gateio.ws/ws/v4/"),
                   2: StreamInfo(2, "gate", "spot", "https://api.gateio.ws")})

    def upd(seq, U, u, bids):
        body = ('{"time":1,"channel":"spot.order_book_update","event":"update","result":{"t":1,'
                f'"e":"depthUpdate","E":1,"s":"BTC_USDT","U":{U},"u":{u},"b":{bids},"a":[]}}}}').encode()
        return p.apply(Record(seq, seq, 1, FRAME, body, None))

    def snap(seq, i):
        body = f'{{"id":{i},"current":1,"update":1,"asks":[["101","1"]],"bids":[["99","1"]]}}'.encode()
        url = "https://api.gateio.ws/api/v4/spot/order_book?currency_pair=BTC_USDT&limit=100&with_id=true"
        return p.apply(Record(seq, seq, 2, "rest", body, {"url": url}))

    upd(1, 10, 12, '[["98","1"]]')
    snap(2, 11)
    b = p.book("gate", "BTC_USDT")
    assert b.valid and b.last_id == 12 and b.best_bid() == Decimal(99)
    assert b.top_bids(3) == [(Decimal(99), Decimal(1)), (Decimal(98), Decimal(1))]
    [g] = [e for e in upd(3, 14, 15, "[]") if type(e) is Gap]
    assert (g.expected, g.got) == (13, 14) and not b.valid
    assert p.books_needing_snapshot(rest_only=True) == [("gate", "BTC_USDT")]
    snap(4, 14)
    assert b.valid and b.last_id == 15
