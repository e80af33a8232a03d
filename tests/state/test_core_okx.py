"""The core's OKX decoder (``ticktape::decode::okx``) against ``state.decode.okx``.

As the Binance test (``test_core_binance``): every frame of the real capture decodes alike,
and so do those frames damaged; a frame one calls a decode error the other does too.
"""

from __future__ import annotations

import random

import pytest
import ticktape_core

from recorder.journal.record import FRAME, StreamInfo
from tests.state.core_diff import odd_side
from tests.state.test_core_binance import core_side, damaged, python_side

WS = StreamInfo(1, "okx", "", "wss://ws.okx.com:8443/ws/v5/public")


def frames(capture_records) -> tuple[StreamInfo, list[bytes]]:
    streams, records = capture_records("OKX")
    [sid] = {r.stream for r in records if r.kind == FRAME}
    return streams[sid], [r.payload for r in records if r.kind == FRAME and r.stream == sid]


def expected(events):
    """Python's events as the core should give them: a trade side other than OKX's own is
    a decode error in the core (``test_a_trade_side_okx_does_not_send_is_a_decode_error``)."""
    return "error" if odd_side(events) else events


def test_every_frame_of_the_capture_decodes_alike(capture_records):
    info, payloads = frames(capture_records)
    assert len(payloads) == 410
    want = python_side(info, payloads)
    kinds = sorted({e[0] for w in want for e in w})
    assert kinds == ["BookDelta", "BookSnapshot", "Ticker", "Trade"]
    got = core_side(info, payloads)
    for p, w, g in zip(payloads, want, got, strict=True):
        assert g == w, p[:300]


def test_damaged_frames_are_errors_or_events_alike(capture_records):
    info, payloads = frames(capture_records)
    rnd = random.Random(16)
    sample = [damaged(rnd.choice(payloads), rnd) for _ in range(3000)]
    want = [expected(w) for w in python_side(info, sample)]
    got = core_side(info, sample)
    diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
    assert not diff, diff[:3]
    assert 0 < sum(w == "error" for w in want) < len(want)


def test_ids_times_and_levels_of_every_form_are_read_alike():
    """Fields damage rarely reaches: ids as strings of every form, levels of any length,
    nulls, a missing action, control frames."""
    book = (b'{"arg":{"channel":"books","instId":"BTC-USDT"}%s,"data":[{"asks":[%s],"bids":[],'
            b'"ts":%s%s}]}')
    actions = [b"", b',"action":"update"', b',"action":"snapshot"', b',"action":null', b',"action":1']
    levels = [b"", b'["1","2"]', b'["1","2","0","3"]', b'["1"]', b'["1",2]', b"[]", b'{"a":1}']
    times = [b'"1"', b'" 12 "', b'"1_000"', b'"1__0"', b'"-1"', b'"+5"', b'"1.5"', b'""', b"1", b'"9223372036854"',
             b'"9223372036855"', b"null"]
    ids = [b"", b',"seqId":5', b',"seqId":null', b',"prevSeqId":99999999999999999999',
           b',"checksum":1.0', b',"checksum":-1', b',"seqId":"5"', b',"prevSeqId":null',
           b',"seqId":-0', b',"prevSeqId":1e3']
    rnd = random.Random(3)
    payloads = [book % (rnd.choice(actions), rnd.choice(levels), rnd.choice(times), rnd.choice(ids))
                for _ in range(1500)]
    trade = (b'{"arg":{"channel":"trades"},"data":[{"instId":"X","tradeId":%s,"px":"1","sz":"2",'
             b'"side":%s,"ts":"3"}]}')
    payloads += [trade % (i, s) for i in (b'"12"', b'"a1"', b'""', b'"99999999999999999999"', b"12")
                 for s in (b'"buy"', b'"sell"', b'""', b"null")]
    payloads += [b'{"event":"error","msg":"x"}', b'{"event":null,"arg":null}', b'{"arg":{"channel":"x"}}',
                 b'{"arg":{"channel":"tickers"},"data":[{"instId":"X"}]}', b'{"arg":{"channel":1},"data":1}',
                 b'{"arg":{"channel":"tickers","instId":null},"data":[]}', b'{"event":"x","arg":[]}',
                 b'{"arg":{"channel":"tickers"},"data":[{"instId":"X","last":null,"ts":"7"}]}', b"[]", b"pong ",
                 b'{"arg":{"channel":"tickers"},"data":[{"instId":"X","z":"\\ud800"}]}',  # a lone surrogate
                 b'{"arg":{"channel":"tickers"},"data":[{"instId":"X\\ud83d\\ude00","z":"\\u00e9"}]}']
    want = python_side(WS, payloads)
    assert 0 < want.count("error") < len(want)
    assert core_side(WS, payloads) == want


@pytest.mark.parametrize("side", [b"BUY", b"bxy", b"unknown"])
def test_a_trade_side_okx_does_not_send_is_a_decode_error(side):
    """Where the two differ, on purpose: Python keeps any side string in the Trade, the core's
    side is buy, sell or unknown (""), so another string makes the frame a decode error."""
    frame = (b'{"arg":{"channel":"trades"},"data":[{"instId":"X","tradeId":"1","px":"1","sz":"2",'
             b'"side":"%s","ts":"3"}]}' % side)
    [want] = python_side(WS, [frame])
    assert want[0][5] == side.decode()
    [got] = ticktape_core.decode_frames("okx", "", WS.url, [frame])
    assert got.startswith("trade side")


@pytest.mark.parametrize("payload", [
    b'{"arg":{"channel":"tickers"},"data":[{"instId":"X","\xa9":1}]}',  # not UTF-8 (a key msgspec skips)
    b'{"arg":{"channel":"tickers"},"data":[{"instId":"X","instId":"Y"}]}',  # a key repeated
    '{"arg":{"channel":"tickers"},"data":[{"instId":"X","ts":"\u0663"}]}'.encode(),  # int() reads any digit
    '{"arg":{"channel":"trades"},"data":[{"instId":"X","tradeId":"\u0663","px":"1","sz":"2",'
    '"side":"buy","ts":"3"}]}'.encode(),  # an id of non-ASCII digits: Python's ordinal is 3
])
def test_what_the_core_refuses_that_python_reads(payload):
    """Where the two differ, on purpose, on frames OKX does not send: a frame that is not
    UTF-8 (see ``test_core_binance``); a key repeated (serde refuses it, msgspec keeps the
    last); a time or trade id written with non-ASCII digits, which Python's ``int()`` reads."""
    [want] = python_side(WS, [payload])
    assert want != "error"
    [got] = ticktape_core.decode_frames("okx", "", WS.url, [payload])
    assert isinstance(got, str)
