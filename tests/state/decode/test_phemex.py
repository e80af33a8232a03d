"""Phemex: scaled-integer books and trades from the capture, exact after unscaling."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, Record, StreamInfo
from state.decode.phemex import PhemexDecoder
from state.events import BookDelta, BookSnapshot, Gap, Trade


def test_books_stay_valid_with_growing_sequences(projected):
    p, events = projected("PHEMEX")
    assert not [e for e in events if type(e) is Gap]
    last: dict[str, int] = {}
    for e in events:
        if type(e) is BookSnapshot:
            last[e.symbol] = e.update_id
        elif type(e) is BookDelta and e.symbol in last:
            assert e.last_id > last[e.symbol]
            last[e.symbol] = e.last_id
    assert len(last) == 10
    assert p.counters == {}
    for sym in last:
        b = p.book("phemex", sym)
        assert b.valid and not b.crossed and b.last_id == last[sym]
    assert p.market("phemex", "XTZUSD").norm == "XTZ-USD-PERP"
    assert p.market("phemex", "sLINKUSDT").norm == "LINK-USDT"


def test_scaled_integers_become_exact_decimals():
    d = PhemexDecoder(StreamInfo(1, "phemex", "", "wss://phemex.com/ws"))
    [s] = d.decode(Record(1, 1, 1, FRAME, b'{"book":{"asks":[[329915000,1559]],"bids":[[329360000,5488]]},'
                          b'"depth":30,"sequence":7,"symbol":"YFIUSD","timestamp":5,"type":"snapshot"}', None))
    assert (s.asks, s.bids, s.update_id) == ((("32991.5000", "1559"),), (("32936.0000", "5488"),), 7)
    trades = d.decode(Record(2, 2, 1, FRAME, b'{"sequence":9,"symbol":"sBTCUSDT","trades":[[2,"Buy",'
                             b'867350000000,560000],[1,"Sell",867340000000,100]],"type":"snapshot"}', None))
    assert [(t.exch_ts_ns, t.price, t.size, t.side) for t in trades] == [
        (1, "8673.40000000", "0.00000100", "sell"), (2, "8673.50000000", "0.00560000", "buy")]
    assert all(type(t) is Trade and t.norm == "BTC-USDT" for t in trades)
    assert Decimal(trades[0].price) == Decimal("8673.4")
    assert d.decode(Record(3, 3, 1, FRAME, b'{"error":null,"id":1,"result":{"status":"success"}}', None)) == []


def test_usdt_perpetual_trades_carry_real_value_strings():
    d = PhemexDecoder(StreamInfo(1, "phemex", "", "wss://phemex.com/ws"))
    [t] = d.decode(Record(1, 1, 1, FRAME, b'{"sequence":77702250,"symbol":"BTCUSDT","trades_p":[[1666856076819029800,'
                          b'"Sell","20700.3","0.649"]],"type":"incremental"}', None))
    assert (t.price, t.size, t.side, t.exch_ts_ns, t.norm, t.trade_id) == (
        "20700.3", "0.649", "sell", 1666856076819029800, "BTC-USDT-PERP", "77702250:0")
