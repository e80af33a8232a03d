"""The core's Upbit decoder (``ticktape::decode::upbit``) against ``state.decode.upbit``.

As the Binance test (``test_core_binance``): every frame of the real capture decodes alike,
and so do those frames damaged; a frame one calls a decode error the other does too. Upbit's
bare numbers are written as exact plain decimals on both sides, checked here over numbers
of every form, and its candle times as ``time.strptime`` reads them.
"""

from __future__ import annotations

import random

import pytest
import ticktape_core

from recorder.journal.record import FRAME, StreamInfo
from tests.state.test_core_binance import core_side, damaged, python_side, repeats_a_key

WS = StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1")


def frames(capture_records) -> tuple[StreamInfo, list[bytes]]:
    streams, records = capture_records("UPBIT")
    [sid] = {r.stream for r in records if r.kind == FRAME}
    return streams[sid], [r.payload for r in records if r.kind == FRAME and r.stream == sid]


def test_every_frame_of_the_capture_decodes_alike(capture_records):
    info, payloads = frames(capture_records)
    assert len(payloads) == 449
    want = python_side(info, payloads)
    got = core_side(info, payloads)
    assert sum(len(w) for w in want if w != "error") == 449
    for p, w, g in zip(payloads, want, got, strict=True):
        assert g == w, p[:300]


def test_damaged_frames_are_errors_or_events_alike(capture_records):
    info, payloads = frames(capture_records)
    rnd = random.Random(16)
    sample = [damaged(rnd.choice(payloads), rnd) for _ in range(3000)]
    want = python_side(info, sample)
    got = core_side(info, sample)
    diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
    assert not diff, diff[:3]
    assert 0 < sum(w == "error" for w in want) < len(want)


def number_text(rnd: random.Random) -> str:
    sign = rnd.choice(["", "", "-"])
    whole = rnd.choice(["0", str(rnd.randrange(1, 10)), str(rnd.randrange(10 ** 12))])
    frac = rnd.choice(["", "." + "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(1, 12)))])
    exp = rnd.choice(["", "", f"{rnd.choice('eE')}{rnd.choice(['', '+', '-'])}{rnd.randrange(0, 40)}"])
    return sign + whole + frac + exp


def test_numbers_of_every_form_are_written_alike():
    """Bare numbers (int, fraction, exponent) and numbers sent as strings, in every field;
    integers of every form where an ``int`` is read."""
    rnd = random.Random(6)
    texts = [number_text(rnd) for _ in range(3000)]
    texts += [f'"{rnd.choice(["", " "])}{number_text(rnd)}{rnd.choice(["", " "])}"' for _ in range(500)]
    texts += ['"+1"', '"+1.5E-3"', '" -0.0"']
    texts += ["6E-8", "-0", "-0.0", "0e5", "-0e5", "0E-8", "1E+400", '"5."', '".5"', '"-0"', '"007"']
    payloads = [(b'{"ty":"trade","cd":"KRW-BTC","tms":1,"ttms":2,"tp":%s,"tv":%s,"ab":"BID","sid":7}'
                 % (t.encode(), rnd.choice(texts).encode())) for t in texts]
    want = python_side(WS, payloads)
    assert "error" not in want
    assert core_side(WS, payloads) == want
    ints = [b"-0", b"0", b"7", b"-7", b"1.0", b"null", b'"7"', b"99999999999999999999", b"9223372036854"]
    payloads = [b'{"ty":"trade","cd":"KRW-BTC","tms":%s,"ttms":%s,"tp":1,"tv":2,"ab":"BID","sid":%s}'
                % (rnd.choice(ints), rnd.choice(ints), rnd.choice(ints)) for _ in range(500)]
    want = python_side(WS, payloads)
    assert 0 < want.count("error") < len(want)
    assert core_side(WS, payloads) == want


def test_candle_times_are_read_as_strptime_reads_them():
    rnd = random.Random(7)
    base = "2021-04-17T16:51:00"
    texts = [base, base + ".5Z", "2021-4-7T1:2:3", "2021-04- 7T01:02:03", "2021-04-17t16:51:61",
             "2020-02-29T00:00:00", "2021-02-29T00:00:00", "1969-12-31T23:59:59", "2262-04-11T23:47:16",
             "2262-04-11T23:47:17", "0000-01-01T00:00:00", "", "2021-04-17T16:51:7x"]
    for _ in range(2000):  # a character changed or dropped
        i = rnd.randrange(len(base))
        c = rnd.choice("0123456789 -:Tt") if rnd.random() < 0.8 else ""
        texts.append(base[:i] + c + base[i + 1:])
    payloads = [b'{"ty":"candle.1m","cd":"KRW-BTC","cdttmu":"%s","op":1,"hp":2,"lp":0.5,"tp":1.5,'
                b'"catv":10,"catp":15,"tms":1}' % t.encode() for t in texts]
    want = python_side(WS, payloads)
    assert 0 < want.count("error") < len(want)
    assert core_side(WS, payloads) == want


def test_a_lone_surrogate_anywhere_is_a_decode_error_on_both_sides():
    """msgspec refuses a ``\\ud800`` escape even in a field it skips; serde reads over it
    there, so the core looks for one first (``shape::escapes``). A pair is a character."""
    payloads = [b'{"ty":"ticker","cd":"X","tp":1,"z":"\\ud800"}', b'{"ty":"ticker","cd":"X","tp":1,"z":"\\udc00"}',
                b'{"status":"\\ud800"}', b'{"ty":"ticker","cd":"X\\ud83d\\ude00","tp":1,"z":"\\\\ud800"}']
    want = python_side(WS, payloads)
    assert want[:3] == ["error"] * 3 and want[3] != "error"
    assert core_side(WS, payloads) == want


@pytest.mark.parametrize("payload", [
    b'{"ty":"ticker","cd":"KRW-BTC","tp":1,"\xa9":1}',  # not UTF-8 (in a key msgspec skips)
    b'{"ty":"ticker","cd":"KRW-BTC","tp":1,"tp":2}',  # a key repeated
    b'{"ty":"ticker","cd":"KRW-BTC","tp":"1_000"}',  # a number as a string Decimal() reads
    b'{"ty":"ticker","cd":"KRW-BTC","tp":"NaN"}',
    b'{"ty":"ticker","cd":"KRW-BTC","tp":"Infinity"}',
    '{"ty":"ticker","cd":"KRW-BTC","tp":"\u0663"}'.encode(),  # ARABIC-INDIC DIGIT THREE
    b'{"ty":"ticker","cd":"KRW-BTC","tp":1E+5000}',  # 5001 digits once written plain
    '{"ty":"candle.1m","cd":"KRW-BTC","cdttmu":"2021-04-17T16:51:0\u0663","op":1,"hp":2,"lp":0.5,'
    '"tp":1.5,"catv":10,"catp":15}'.encode(),  # strptime's \\d takes any decimal digit
    b'{"status":1%s}' % (b"0" * 400),  # an integer past a float's range, in a control frame
])
def test_what_the_core_refuses_that_python_reads(payload):
    """Where the two differ, on purpose: frames no venue sends, that Python reads and the
    core calls decode errors. A frame that is not UTF-8 (see ``test_core_binance``); a key
    repeated (serde refuses it, msgspec keeps the last); a number sent as a string that
    ``Decimal()`` reads but is no JSON number's text (underscores, NaN, Infinity, non-ASCII
    digits: not a price the fold could use); a number longer than 4,096 digits written plain
    (a damaged exponent: Python would write a string that long, or a gigabyte); a candle time
    with non-ASCII digits; a control frame holding an integer past a float's range (the core
    reads a frame without a type as a serde_json ``Value``, msgspec keeps any integer)."""
    [want] = python_side(WS, [payload])
    assert want != "error"
    [got] = ticktape_core.decode_frames("upbit", "spot", WS.url, [payload])
    assert isinstance(got, str)


# Ticker frames: the capture holds none, so the documented shape (PROTOCOLS.md 3.3's key
# tables over the 2018 sample's values), SIMPLE and DEFAULT, numbers in every form.
SIMPLE_TICKER = (b'{"ty":"ticker","cd":"KRW-BTC","op":%s,"hp":8679000.00000000,"lp":8445000.00000000,'
                 b'"tp":%s,"pcp":%s,"c":"RISE","cp":179000.00000000,"scp":%s,"cr":0.0211834320,"scr":%s,'
                 b'"tv":0.0105675,"atv":12312.36058857,"atv24h":6448.96200341,"atp":105514711074.18726,'
                 b'"atp24h":55330325803.7821,"tdt":"20180418","ttm":"100729","ttms":1524046049000,'
                 b'"ab":"ASK","aav":5703.42273172,"abv":6608.93785685,"h52wp":28885000,'
                 b'"h52wdt":"2018-01-06","l52wp":3286000,"l52wdt":"2017-09-15","ms":"ACTIVE",'
                 b'"its":false,"dd":null,"mw":"NONE","tms":1524046049766,"st":"REALTIME"}')
DEFAULT_TICKER = (b'{"type":"ticker","code":"KRW-BTC","opening_price":%s,"high_price":8679000.00000000,'
                  b'"low_price":8445000.00000000,"trade_price":%s,"prev_closing_price":%s,"change":"RISE",'
                  b'"change_price":179000.00000000,"signed_change_price":%s,"change_rate":0.0211834320,'
                  b'"signed_change_rate":%s,"trade_volume":0.0105675,"acc_trade_volume":12312.36058857,'
                  b'"acc_trade_volume_24h":6448.96200341,"acc_trade_price":105514711074.18726,'
                  b'"acc_trade_price_24h":55330325803.7821,"trade_date":"20180418","trade_time":"100729",'
                  b'"trade_timestamp":1524046049000,"ask_bid":"ASK","market_state":"ACTIVE",'
                  b'"timestamp":1524046049766,"stream_type":"SNAPSHOT"}')


def test_ticker_frames_keep_prev_close_change_and_rate_alike():
    """Upbit's ``prev_closing_price``/``pcp``, ``signed_change_price``/``scp`` and
    ``signed_change_rate``/``scr`` are the Ticker's ``prev_close``, ``change`` and
    ``change_rate``, written plain both ways (and None when absent or null); damaged, the
    same event or an error both ways."""
    rnd = random.Random(17)
    nums = [number_text(rnd) for _ in range(400)] + ["null"] * 20
    frames = [shape % tuple(rnd.choice(nums).encode() if i > 1 else number_text(rnd).encode()
                            for i in range(5))
              for shape in (SIMPLE_TICKER, DEFAULT_TICKER) for _ in range(300)]
    frames.append(b'{"ty":"ticker","cd":"KRW-BTC","tp":1,"tms":2}')  # none of the three
    want = python_side(WS, frames)
    assert "error" not in want
    assert core_side(WS, frames) == want
    assert want[-1][0][3][-3:] == (None, None, None)
    [[ev]] = python_side(WS, [SIMPLE_TICKER % (b"8450000.00000000", b"8629000.0", b"8450000.00000000",
                                               b"1.79E+5", b"0.0211834320")])
    assert ev[3][-3:] == ("8450000.00000000", "179000", "0.0211834320")
    sample = [d for d in (damaged(rnd.choice(frames), rnd) for _ in range(3000)) if not repeats_a_key(d)]
    want, got = python_side(WS, sample), core_side(WS, sample)
    diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
    assert not diff, diff[:3]
    assert 0 < want.count("error") < len(want)
