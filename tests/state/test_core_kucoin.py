"""The core's KuCoin decoder (``ticktape::decode::kucoin``) against ``state.decode.kucoin``,
frame for frame: the real capture, then its frames damaged (see ``core_diff``)."""

from __future__ import annotations

import ticktape_core

from recorder.journal.record import FRAME, Record, StreamInfo
from state.decode import decoder_for

from .core_diff import assert_damaged_alike, assert_every_frame_alike

URL = "wss://push-private.kucoin.com/endpoint"


def test_every_frame_of_the_capture_decodes_alike(capture_records):
    assert assert_every_frame_alike(capture_records, "KUCOIN", "kucoin") > 4000


def test_damaged_frames_are_errors_or_events_alike(capture_records):
    assert_damaged_alike(capture_records, "KUCOIN", "kucoin")


def decode_both(frame: bytes) -> tuple:
    info = StreamInfo(1, "kucoin", "spot", URL)
    py = decoder_for(info).decode(Record(1, 1, 1, FRAME, frame, None))
    return py, ticktape_core.decode_frames("kucoin", "spot", URL, [frame])[0]


MATCH = ('{{"data":{{"symbol":"BTC-USDT","sequence":"{seq}","side":"{side}","size":"1",'
         '"price":"2","time":"{time}","tradeId":"t1"}},"subject":"trade.l3match",'
         '"topic":"/market/match:BTC-USDT","type":"message"}}')


def test_string_times_and_sequences_are_read_as_python_int_reads_them():
    frame = MATCH.format(seq=" +1_2 ", side="sell", time="1_000").encode()
    py, core = decode_both(frame)
    assert (py[0].exch_ts_ns, py[0].ordinal) == (1000, 12)
    assert core == [("Trade", "BTC-USDT", 1000, "2", "1", "sell", "t1", 12)]


def test_a_side_the_core_cannot_carry_is_a_decode_error():
    """Where the two differ, on purpose: Python hands the venue's side string on unchecked,
    the core's ``Side`` is buy, sell or unknown (""), so any other word is a decode error
    rather than an event the fold would count as neither side."""
    frame = MATCH.format(seq="1", side="bux", time="1").encode()
    py, core = decode_both(frame)
    assert py[0].side == "bux"
    assert core.startswith("unknown taker side")


def test_non_ascii_digits_are_a_decode_error():
    """Where the two differ, on purpose: Python's ``int()`` reads any Unicode decimal digit
    (``int("١")`` is 1), the core only ASCII ones; KuCoin sends ASCII digits."""
    frame = MATCH.format(seq="\\u0661", side="buy", time="1").encode()
    py, core = decode_both(frame)
    assert py[0].ordinal == 1
    assert core.startswith("invalid literal for int()")


def test_a_frame_that_is_not_utf8_is_a_decode_error():
    """As for Binance: msgspec skips an unknown key's bytes unread, the core refuses a frame
    that is not UTF-8 whole (a text frame is UTF-8 by the WebSocket protocol)."""
    frame = MATCH.format(seq="1", side="buy", time="1").encode().replace(b'"tradeId"', b'"\xa9":1,"tradeId"')
    py, core = decode_both(frame)
    assert py[0].trade_id == "t1"
    assert core.startswith("not UTF-8")
