"""Trade windows over record time: volume, VWAP, pressure, momentum, flags."""

from __future__ import annotations

import struct

import pytest

from recorder.journal.record import FRAME, Record, StreamInfo
from state.features import NS, TradeTape
from state.projector import Projector


def test_windows_count_only_trades_inside_them():
    t = TradeTape(900 * NS)
    t.add(0, 100.0, 1.0, True, False)  # t = 0 s
    t.add(200 * NS, 110.0, 2.0, False, False)  # 200 s
    t.add(250 * NS, 120.0, 1.0, True, True)  # 250 s
    w60 = t.window(255 * NS, 60)  # (195 s, 255 s]
    assert (w60.trades, w60.volume, w60.buy_volume, w60.sell_volume) == (2, 3.0, 1.0, 2.0)
    assert w60.vwap == pytest.approx((220 + 120) / 3)
    assert w60.pressure == pytest.approx(-1 / 3)
    assert w60.momentum == pytest.approx(120 / 110 - 1)
    assert w60.large_trades == 1
    w300 = t.window(255 * NS, 300)
    assert w300.trades == 3 and w300.quote_volume == pytest.approx(100 + 220 + 120)
    assert t.window(2000 * NS, 60).trades == 0 and t.window(2000 * NS, 60).vwap is None


def test_compaction_keeps_window_sums_exactly_as_without_it():
    a = TradeTape(10 * NS)
    for i in range(20_000):
        a.add(i * NS // 100, 100.0 + i % 7, 0.5 + i % 3, i % 2 == 0, False)
    assert len(a) < 20_000  # old trades were forgotten (compacted away)
    w = a.window(19_999 * NS // 100, 5)
    n = sum(1 for i in range(20_000) if i * NS // 100 > 19_999 * NS // 100 - 5 * NS)
    assert w.trades == n
    vol = sum(0.5 + i % 3 for i in range(20_000 - n, 20_000))
    assert w.volume == pytest.approx(vol)


def test_a_tape_state_is_little_endian_column_bytes_and_restores_exactly():
    a = TradeTape(10 * NS)
    for i in range(9_000):  # past a compaction, with evicted entries still held
        a.add(i * NS // 100, 100.0 + i % 7, 0.5 + i % 3, i % 2 == 0, i % 50 == 0)
    s = a.state()
    assert s[:2] == [10 * NS, a.head] and all(type(c) is bytes and len(c) == 8 * len(a) for c in s[2:])
    assert 0 < a.head < len(a) < 9_000  # compacted once, evicted entries still held
    first_ts = (9_000 - len(a)) * NS // 100  # the oldest entry held
    assert s[2][:8] == first_ts.to_bytes(8, "little", signed=True)
    assert s[3][:8] == struct.pack("<d", 100.0 + (9_000 - len(a)) % 7)
    b = TradeTape.from_state(s)
    assert b.state() == s and type(b) is TradeTape and b.window(90 * NS, 5) == a.window(90 * NS, 5)
    for i in range(9_000, 12_000):  # and both go on alike, compactions included
        for t in (a, b):
            t.add(i * NS // 100, 100.0 + i % 7, 0.5 + i % 3, i % 2 == 0, False)
    assert a.state() == b.state()


def trade(seq, ts_s, price, qty, buyer_maker):
    body = (f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":{seq},'
            f'"p":"{price}","q":"{qty}","m":{"true" if buyer_maker else "false"}}}}}').encode()
    return Record(seq, ts_s * NS, 1, FRAME, body, None)


def test_a_quiet_symbol_keeps_its_longest_window_not_hours_past_it():
    """A long-tail symbol (a trade every 10 s) held 4,096 evicted trades, eleven hours of
    them, in memory and in every checkpoint; now evicted trades go once they outnumber
    the 91 of the 900 s window, so the state stops growing once the window is full."""
    p = Projector({1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")})
    held, sizes = [], {}
    for i in range(1_440):  # four hours
        p.apply(trade(i + 1, i * 10, "100", "1", i % 2 == 0))
        held.append(len(p.symbol_state("binance-usdm", "BTCUSDT").tape))
        if i % 360 == 359:
            sizes[(i + 1) // 360] = len(p.snapshot())
    assert max(held) <= 2 * 91 + 1 and held[-1] < 1_440
    assert max(sizes.values()) - min(sizes.values()) <= 92 * 48  # hours 1-4: level
    assert p.market("binance-usdm", "BTCUSDT").windows[900].trades == 90


def test_market_features_use_record_time_and_flag_spikes_and_large_trades():
    p = Projector({1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")},
                  large_trade_quote={"USDT": 50_000.0}, spike_ratio=3.0)
    for i in range(14):  # a quiet quarter hour: one small trade a minute
        p.apply(trade(i + 1, i * 60, "100", "1", False))
    m = p.market("binance-usdm", "BTCUSDT")
    assert not m.volume_spike and not m.large_trade and m.windows[900].trades == 14
    p.apply(trade(20, 14 * 60 + 10, "101", "600", True))  # 60,600 USDT taker sell
    m = p.market("binance-usdm", "BTCUSDT")
    assert m.large_trade and m.volume_spike
    assert m.windows[60].trades == 1 and m.windows[60].sell_volume == 600 and m.windows[60].pressure == -1.0
    assert m.windows[300].trades == 5 and m.windows[300].pressure == pytest.approx((4 - 600) / 604)
    assert m.last_side == "sell" and str(m.last_price) == "101"
    # time moves on only with records: an unrelated record 20 minutes later empties the windows
    p.apply(Record(21, 35 * 60 * NS, 1, FRAME, b'{"result":null,"id":1}', None))
    m = p.market("binance-usdm", "BTCUSDT")
    assert m.windows[900].trades == 0 and not m.large_trade and not m.volume_spike


def test_a_damaged_tape_state_is_a_value_error():
    s = TradeTape(10 * NS).state()
    with pytest.raises(ValueError, match="8-byte"):
        TradeTape.from_state([*s[:2], b"1234567", *s[3:]])
    with pytest.raises(ValueError, match="unequal"):
        TradeTape.from_state([*s[:2], b"\0" * 8, *s[3:]])
    with pytest.raises(ValueError, match="head"):
        TradeTape.from_state([s[0], 5, *s[2:]])
