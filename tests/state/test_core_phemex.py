"""The core's Phemex decoder (``ticktape::decode::phemex``) against ``state.decode.phemex``,
frame for frame: the real capture, then its frames damaged (see ``core_diff``)."""

from __future__ import annotations

import pytest
import ticktape_core

from recorder.journal.record import FRAME, Record, StreamInfo
from state.decode import decoder_for
from state.decode.common import scaled

from .core_diff import assert_damaged_alike, assert_every_frame_alike

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
