"""The core's Gate decoder (``ticktape::decode::gate``) against ``state.decode.gate``, frame
for frame: the real spot and futures captures, then their frames damaged (see ``core_diff``).

The core's events name a contract as the frame spells it (``BTC_USDT``); Python keys a
futures contract ``futures:BTC_USDT`` by its channel's prefix. ``core_diff`` keys the
core's side by the stream's market, which is the channel's on every frame (checked here).
"""

from __future__ import annotations

import json

import pytest
import ticktape_core

from recorder.journal.record import FRAME, Record, StreamInfo
from state.decode import decoder_for

from .core_diff import (
    assert_damaged_alike,
    assert_every_frame_alike,
    assert_given_frames_alike,
    frames_by_stream,
)

CAPTURES = (("GATEIO", 150), ("GATEIO_FUTURES", 400))


@pytest.mark.parametrize(("name", "events"), CAPTURES)
def test_every_frame_of_the_captures_decodes_alike(capture_records, name, events):
    assert assert_every_frame_alike(capture_records, name, "gate") > events


@pytest.mark.parametrize("name", [c[0] for c in CAPTURES])
def test_a_streams_market_is_its_channels(capture_records, name):
    streams, records = capture_records(name)
    for sid, payloads in frames_by_stream(streams, records, "gate").items():
        prefixes = {json.loads(p).get("channel", "").split(".")[0] for p in payloads}
        assert prefixes == {streams[sid].market}


@pytest.mark.parametrize("name", [c[0] for c in CAPTURES])
def test_damaged_frames_are_errors_or_events_alike(capture_records, name):
    assert_damaged_alike(capture_records, name, "gate")


def decode_both(frame: bytes, market: str = "spot") -> tuple:
    info = StreamInfo(1, "gate", market, "wss://api.gateio.ws/ws/v4/")
    py = decoder_for(info).decode(Record(1, 1, 1, FRAME, frame, None))
    return py, ticktape_core.decode_frames("gate", market, info.url, [frame])[0]


def test_integers_of_any_size_are_read_where_no_event_carries_them():
    """msgspec reads an ``int`` of any size; only an id or time an event carries must fit
    an i64 (``state.bounds``). A futures size is printed as sent, however long."""
    big = "123456789012345678901234567890"
    frame = (b'{"time":' + big.encode() + b',"channel":"futures.trades","event":"update","result":'
             b'[{"id":1,"create_time_ms":2,"contract":"BTC_USDT","size":-' + big.encode() + b',"price":"3"}]}')
    py, core = decode_both(frame, "futures")
    assert py[0].size == big
    assert core == [("Trade", "BTC_USDT", 2_000_000, "3", big, "sell", "1", 1)]
    for digits, ok in ((4299, True), (4300, False)):  # msgspec's limit: 4300 characters
        frame = (b'{"channel":"futures.trades","event":"update","result":[{"id":1,"create_time_ms":2,'
                 b'"contract":"BTC_USDT","size":-' + b"9" * digits + b',"price":"3"}]}')
        py, core = decode_both(frame, "futures")
        assert (type(py[0]).__name__ == "Trade", isinstance(core, list)) == (ok, ok)


def test_a_repeated_key_is_read_as_its_last_value():
    frame = (b'{"channel":"spot.order_book_update","event":"update","result":{"t":1,"s":"A_B",'
             b'"U":1,"u":2,"a":[["1","2"]],"a":[]}}')
    py, core = decode_both(frame)
    assert py[0].asks == ()
    assert core == [("BookDelta", "A_B", 1_000_000, (), (), 1, 2, None, None)]


def test_a_side_the_core_cannot_carry_is_a_decode_error():
    """As for KuCoin (see ``test_core_kucoin``): Python hands a spot trade's side on
    unchecked, the core's side is buy, sell or unknown."""
    frame = (b'{"channel":"spot.trades","event":"update","result":{"id":1,"create_time_ms":"2.5",'
             b'"side":"bux","currency_pair":"A_B","amount":"1","price":"2"}}')
    py, core = decode_both(frame)
    assert py[0].side == "bux"
    assert core.startswith("unknown taker side")


# spot.book_ticker, which the captures lack: Gate's documented shape (sizes are strings,
# where futures sends contract counts), then malformed ones.
SPOT_BOOK_TICKERS = [
    b'{"time":1606293275,"time_ms":1606293275723,"channel":"spot.book_ticker","event":"update",'
    b'"result":{"t":1606293275123,"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504",'
    b'"a":"19179.38","A":"0.09"}}',
    b'{"time":1606293276,"time_ms":1606293276001,"channel":"spot.book_ticker","event":"update",'
    b'"result":{"t":1606293275999,"u":48733190,"s":"ETH_BTC","b":"0.03119","B":"12.5","a":"0.0312",'
    b'"A":"0.001"}}',
    b'{"time":1606293276,"channel":"spot.book_ticker","event":"update","result":{"s":"DIS_USDT",'
    b'"u":1,"t":1,"A":"1","a":"121.6","B":"2","b":"121.5","extra":[1,{"x":null}]}}',
    b'{"time":1606293275,"time_ms":1606293275723,"channel":"spot.book_ticker","event":"subscribe",'
    b'"result":{"status":"success"}}',
]
SPOT_BOOK_TICKERS_BAD = [
    b'{"channel":"spot.book_ticker","event":"update","result":{"t":1,"u":2,"s":"A_B","b":"1",'
    b'"B":3,"a":"2","A":"4"}}',  # a futures-style size
    b'{"channel":"spot.book_ticker","event":"update","result":{"t":1,"s":"A_B","b":"1","B":"3",'
    b'"a":"2","A":"4"}}',  # no u
    b'{"channel":"spot.book_ticker","event":"update","result":{"t":18446744073709551616,"u":2,'
    b'"s":"A_B","b":"1","B":"3","a":"2","A":"4"}}',  # a time past int64
    b'{"channel":"spot.book_ticker","event":"update","result":[]}',
    b'{"channel":"spot.book_ticker","event":"update","result":null}',
]


def test_spot_book_tickers_decode_alike_and_to_book_tickers():
    info = StreamInfo(1, "gate", "spot", "wss://api.gateio.ws/ws/v4/")
    got = assert_given_frames_alike(info, SPOT_BOOK_TICKERS + SPOT_BOOK_TICKERS_BAD)
    assert got[:4] == [
        [("BookTicker", "BTC_USDT", 1_606_293_275_123_000_000, "19177.79", "0.0003341504",
          "19179.38", "0.09", 48733182)],
        [("BookTicker", "ETH_BTC", 1_606_293_275_999_000_000, "0.03119", "12.5", "0.0312",
          "0.001", 48733190)],
        [("BookTicker", "DIS_USDT", 1_000_000, "121.5", "2", "121.6", "1", 1)],
        [],  # the subscribe ack
    ]
    assert got[4:] == ["error"] * len(SPOT_BOOK_TICKERS_BAD)


def test_a_spot_book_ticker_names_a_spot_pair():
    py, _ = decode_both(SPOT_BOOK_TICKERS[0])
    assert (py[0].symbol, py[0].norm) == ("BTC_USDT", "BTC-USDT")
    py, _ = decode_both(b'{"channel":"futures.book_ticker","event":"update","result":{"t":1,"u":2,'
                        b'"s":"BTC_USDT","b":"1","B":3,"a":"2","A":4}}', "futures")
    assert (py[0].symbol, py[0].norm, py[0].bid_sz) == ("futures:BTC_USDT", "BTC-USDT-PERP", "3")
