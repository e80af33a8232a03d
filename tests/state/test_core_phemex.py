"""The core's Phemex decoder (``ticktape::decode::phemex``) against ``state.decode.phemex``,
frame for frame: the real capture, then its frames damaged (see ``core_diff``)."""

from __future__ import annotations

import pytest
import ticktape_core

from recorder.journal.record import FRAME, Record, StreamInfo
from state.decode import decoder_for
from state.decode.common import scaled

from .core_diff import assert_damaged_alike, assert_every_frame_alike, assert_given_frames_alike

URL = "wss://phemex.com/ws"


def test_every_frame_of_the_capture_decodes_alike(capture_records):
    assert assert_every_frame_alike(capture_records, "PHEMEX", "phemex") > 1400


def test_damaged_frames_are_errors_or_events_alike(capture_records):
    assert_damaged_alike(capture_records, "PHEMEX", "phemex")


def decode_both(frame: bytes) -> tuple:
    info = StreamInfo(1, "phemex", "", URL)
    py = decoder_for(info).decode(Record(1, 1, 1, FRAME, frame, None))
    return py, ticktape_core.decode_frames("phemex", "", URL, [frame])[0]


@pytest.mark.parametrize("value", [0, -5, 329915000, 10**27 + 7, 10**30 + 1, -(10**31) - 51,
                                   99999999999999999999999999995, 12345678901234567890123456789012345])
def test_scaled_integers_print_as_python_prints_them(value):
    """``scaled`` rounds past the decimal context's 28 digits; the core prints the same."""
    frame = (b'{"book":{"asks":[[%d,%d]],"bids":[]},"depth":30,"sequence":1,"symbol":"sX",'
             b'"timestamp":1,"type":"snapshot"}' % (value, value))
    py, core = decode_both(frame)
    assert py[0].asks == ((scaled(value, 8), scaled(value, 8)),)
    assert core[0][4] == py[0].asks


def test_kline_rows_are_sorted_by_value():
    frame = (b'{"kline":[[20,60,0,1,2,3,4,5],[3,60,0,1,2,3,4,5],[3,-60,0,1,2,3,4,5,9]],'
             b'"sequence":1,"symbol":"BTCUSD","type":"incremental"}')
    py, core = decode_both(frame)
    assert [(k.start_ns, k.interval) for k in py] == [(3 * 10**9, "-60s"), (3 * 10**9, "60s"), (20 * 10**9, "60s")]
    assert [(k[4], k[3]) for k in core] == [(k.start_ns, k.interval) for k in py]


# Index ticks (``tick.subscribe``), which the capture lacks: Phemex's documented shape, the
# other series of a base currency (mark, funding rates) and scales, then malformed ones.
TICKS = [
    b'{"tick":{"last":93385362,"scale":4,"symbol":".BTC","timestamp":1580635719408000000}}',
    b'{"tick":{"last":93401234,"scale":4,"symbol":".MBTC","timestamp":1580635720408000000}}',
    b'{"tick":{"last":-37500,"scale":8,"symbol":".BTCFR8H","timestamp":1580635721408000000}}',
    b'{"tick":{"last":2178420000,"scale":6,"symbol":".ETH","timestamp":1580635722408000000}}',
    b'{"tick":{"timestamp":1,"symbol":".XRP","scale":0,"last":0,"extra":[1,{"x":null}]}}',
]
TICKS_BAD = [
    b'{"tick":{"last":1,"scale":19,"symbol":".BTC","timestamp":1}}',  # no price has such a scale
    b'{"tick":{"last":1,"scale":-1,"symbol":".BTC","timestamp":1}}',
    b'{"tick":{"last":"1","scale":4,"symbol":".BTC","timestamp":1}}',
    b'{"tick":{"last":1.5,"scale":4,"symbol":".BTC","timestamp":1}}',
    b'{"tick":{"last":1,"scale":4,"timestamp":1}}',
    b'{"tick":{"last":1,"scale":4,"symbol":".BTC","timestamp":18446744073709551616}}',
    b'{"tick":{"last":1,"scale":4,"symbol":".BTC","timestamp":-1}}',
    b'{"tick":null}',
    b'{"tick":[93385362,4,".BTC",1]}',
]


def test_ticks_decode_alike_to_their_series_index():
    got = assert_given_frames_alike(StreamInfo(1, "phemex", "", URL), TICKS + TICKS_BAD)
    none = (None,) * 9

    def ticker(symbol, ts, index):
        return [("Ticker", symbol, ts, (*none, index, None, None, None, None))]

    assert got[:5] == [
        ticker(".BTC", 1_580_635_719_408_000_000, "9338.5362"),
        ticker(".MBTC", 1_580_635_720_408_000_000, "9340.1234"),
        ticker(".BTCFR8H", 1_580_635_721_408_000_000, "-0.00037500"),
        ticker(".ETH", 1_580_635_722_408_000_000, "2178.420000"),
        ticker(".XRP", 1, "0"),
    ]
    assert got[5:] == ["error"] * len(TICKS_BAD)


def test_a_tick_is_keyed_by_its_series():
    py, _ = decode_both(TICKS[1])
    assert (py[0].symbol, py[0].norm, py[0].index, py[0].mark) == (".MBTC", ".MBTC", "9340.1234", None)


def test_odd_but_valid_ticks_decode_alike():
    """JSON that reads as a tick however spelled: an escaped symbol, ``-0``, an ``id`` beside
    it (the tick wins, as for a book), a repeated ``tick`` key (the last one counts, each
    must be a tick)."""
    frames = [
        b'{"tick":{"last":-0,"scale":18,"symbol":"\\u002eBTC","timestamp":0}}',
        b'{"id":5,"tick":{"last":1,"scale":-0,"symbol":".BTC","timestamp":1}}',
        b'{"tick":{"last":1,"scale":1,"symbol":".A","timestamp":1},"tick":{"last":2,"scale":2,'
        b'"symbol":".B","timestamp":3}}',
        b'{"tick":{"last":1},"tick":{"last":2,"scale":2,"symbol":".B","timestamp":3}}',
    ]
    got = assert_given_frames_alike(StreamInfo(1, "phemex", "", URL), frames, n=500)
    assert [g if g == "error" else [(e[1], e[3][9]) for e in g] for g in got] == [
        [(".BTC", "0.000000000000000000")], [(".BTC", "1")], [(".B", "0.02")], "error"]
