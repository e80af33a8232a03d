"""The core's Bybit decoder (``ticktape::decode::bybit``) against ``state.decode.bybit``.

As the Binance test (``test_core_binance``): every frame of the real capture decodes alike,
and so do those frames damaged; a frame one calls a decode error the other does too.

The core's events carry the symbol as the frame spells it (``BTCUSDT``); Python's carry
its symbol key, prefixed on a derivative market (``linear:BTCUSDT``). The core's symbols
are keyed here with ``state.symbols.symbol_key`` and the Python decoder's own market (the
stream's, or its URL's: ``bybit.market_of``), as the fold will key them.
"""

from __future__ import annotations

import random

import pytest
import ticktape_core

from recorder.journal.record import FRAME, StreamInfo
from state.decode import decoder_for
from state.symbols import symbol_key
from tests.state.test_core_binance import core_side, damaged, python_side

LINEAR = StreamInfo(1, "bybit", "", "wss://stream.bybit.com/v5/public/linear")


def keyed_core_side(info: StreamInfo, payloads: list[bytes]) -> list:
    market = decoder_for(info).market
    return [g if g == "error" else [(e[0], symbol_key(info.venue, market, e[1]), *e[2:]) for e in g]
            for g in core_side(info, payloads)]


def frames_by_stream(capture_records) -> dict:
    streams, records = capture_records("BYBIT")
    by: dict = {}
    for r in records:
        if r.kind == FRAME:
            by.setdefault(streams[r.stream], []).append(r.payload)
    return by


def test_every_frame_of_the_capture_decodes_alike(capture_records):
    by = frames_by_stream(capture_records)
    assert sorted((i.market, len(p)) for i, p in by.items()) == [("linear", 2546), ("spot", 681)]
    for info, payloads in by.items():
        want = python_side(info, payloads)
        assert "error" not in want
        got = keyed_core_side(info, payloads)
        for p, w, g in zip(payloads, want, got, strict=True):
            assert g == w, p[:300]
    linear = next(w for i, p in by.items() if i.market == "linear" for w in python_side(i, p) if w)
    assert linear[0][1].startswith("linear:")


def test_damaged_frames_are_errors_or_events_alike(capture_records):
    rnd = random.Random(16)
    for info, payloads in frames_by_stream(capture_records).items():
        sample = [damaged(rnd.choice(payloads), rnd) for _ in range(3000)]
        want = python_side(info, sample)
        got = keyed_core_side(info, sample)
        diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
        assert not diff, diff[:3]
        assert 0 < sum(w == "error" for w in want) < len(want)


def test_times_ids_and_control_frames_of_every_form_are_read_alike():
    """Fields damage rarely reaches: ``cts or ts`` and ``timestamp or ts`` with either zero,
    absent, null or past int64, ids of every form, the u == 1 snapshot, acks."""
    book = b'{"topic":"orderbook.50.X","type":%s,%s"data":{"s":"X","b":[["1","2"]],"a":[],"u":%s%s}}'
    types = [b'"delta"', b'"snapshot"', b"null", b"1"]
    times = [b"", b'"ts":5,', b'"ts":5,"cts":0,', b'"ts":5,"cts":7,', b'"ts":99999999999999999999,"cts":7,',
             b'"ts":5,"cts":99999999999999999999,', b'"ts":5,"cts":null,', b'"ts":-1,', b'"ts":1.0,',
             b'"ts":5,"cts":-0,', b'"cts":7,', b'"ts":"5",']
    ids = [b"1", b"2", b"-1", b"99999999999999999999", b"null", b'"3"']
    seqs = [b"", b',"seq":7', b',"seq":99999999999999999999', b',"seq":null', b',"seq":1.5']
    rnd = random.Random(4)
    payloads = [book % (rnd.choice(types), rnd.choice(times), rnd.choice(ids), rnd.choice(seqs))
                for _ in range(1500)]
    kline = (b'{"topic":"kline.5.A.B","ts":%s,"data":[{"start":%s,"interval":"5","open":"1","close":"2",'
             b'"high":"3","low":"0","volume":"1","turnover":"2","confirm":%s%s}]}')
    payloads += [kline % (ts, start, confirm, stamp)
                 for ts in (b"9", b"99999999999999999999", b"null")
                 for start in (b"0", b"-1", b"3")
                 for confirm in (b"true", b"null", b"1")
                 for stamp in (b"", b',"timestamp":0', b',"timestamp":8', b',"timestamp":null')]
    trade = b'{"topic":"publicTrade.X","ts":%s,"data":[{"T":1,"s":"X","S":%s,"v":"1","p":"2","i":%s}]}'
    payloads += [trade % (ts, side, i) for ts in (b"1", b"99999999999999999999", b"1.5")
                 for side in (b'"Buy"', b'"Sell"', b'"x"', b"null")
                 for i in (b'"12"', b'"ab-1"', b'""', b'"99999999999999999999"', b"12")]
    payloads += [b'{"success":true}', b'{"success":false}', b'{"success":null}', b'{"op":"pong"}', b'{"op":null}',
                 b'{"topic":null,"op":"x"}', b'{"topic":1}', b'{"topic":"tickers.X","ts":1,"data":{"symbol":"X",'
                 b'"markPrice":null,"fundingRate":"0.1"}}', b'{"topic":"tickers.X","data":{"symbol":"X"}}',
                 b'{"topic":"tickers.X","ts":1,"data":[]}', b"[]", b'{"success":1e999}',
                 b'{"topic":"tickers.X","ts":1,"data":{"symbol":"X","z":"\\udc00"}}',  # a lone surrogate
                 b'{"topic":"tickers.X","ts":1,"data":{"symbol":"X\\ud83d\\ude00"}}']
    info = LINEAR
    want = python_side(info, payloads)
    assert 0 < want.count("error") < len(want)
    assert keyed_core_side(info, payloads) == want


@pytest.mark.parametrize("payload", [
    b'{"topic":"tickers.X","ts":1,"data":{"symbol":"X","\xa9":1}}',  # not UTF-8 (a key msgspec skips)
    b'{"topic":"tickers.X","ts":1,"ts":2,"data":{"symbol":"X"}}',  # a key repeated
    '{"topic":"publicTrade.X","ts":1,"data":[{"T":1,"s":"X","S":"Buy","v":"1","p":"2",'
    '"i":"\u0663"}]}'.encode(),  # an id of non-ASCII digits: Python's ordinal is 3
    b'{"success":true,"n":1%s}' % (b"0" * 400),  # an integer past a float's range, in an ack
])
def test_what_the_core_refuses_that_python_reads(payload):
    """Where the two differ, on purpose, on frames Bybit does not send: a frame that is not
    UTF-8 (see ``test_core_binance``); a key repeated (serde refuses it, msgspec keeps the
    last); a trade id of non-ASCII digits, which Python's ``int()`` reads; an ack holding an
    integer past a float's range (the core reads a frame without a topic as a serde_json
    ``Value``, msgspec keeps any integer)."""
    [want] = python_side(LINEAR, [payload])
    assert want != "error"
    [got] = ticktape_core.decode_frames("bybit", "", LINEAR.url, [payload])
    assert isinstance(got, str)
