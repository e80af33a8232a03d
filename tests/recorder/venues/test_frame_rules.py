"""The compiled core's frame rules read what the msgspec decoders they replaced read.

``recorder.venues.binance_usdm.parse_ack`` and ``upbit.parse_error`` were typed msgspec
decodes behind a cheap head test; the compiled core (``ticktape::inspect``) now reads
those frames in one pass. The old decoders are kept here, as the reference only: on
real frames, damaged frames and hand-made edge cases both must give the same answer.
One deliberate difference: nesting deeper than Python's recursion limit made msgspec
raise ``RecursionError`` (out of the socket callback); the core reads it as JSON.
"""

from __future__ import annotations

import random

import msgspec
import pytest
import ticktape_core

from recorder.journal.reader import JournalReader
from recorder.venues import binance_usdm, upbit
from tests.state.test_fuzz import mutate


class _AckError(msgspec.Struct):
    code: int | None = None
    msg: str = ""


class _Ack(msgspec.Struct):
    id: int | str | None = None
    result: list[str] | bool | None = None
    error: _AckError | None = None
    code: int | None = None
    msg: str | None = None


class _UpbitError(msgspec.Struct):
    name: str = ""
    message: str = ""


class _ErrorFrame(msgspec.Struct):
    error: _UpbitError | None = None


_ack = msgspec.json.Decoder(_Ack)
_err = msgspec.json.Decoder(_ErrorFrame)


def reference_ack(payload: bytes) -> tuple | None:
    head = payload[:16].lstrip()
    if not head.startswith((b'{"result"', b'{"id"', b'{"error"', b'{"code"')):
        return None
    try:
        ack = _ack.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if ack.error is not None:
        return (ack.id, None, f"{ack.error.code}: {ack.error.msg}")
    if ack.code is not None:
        return (ack.id, None, f"{ack.code}: {ack.msg}")
    return (ack.id, ack.result, None)


def reference_error(payload: bytes) -> tuple[str, str] | None:
    if not payload.lstrip().startswith(b'{"error"'):
        return None
    try:
        err = _err.decode(payload).error
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return None if err is None else (err.name, err.message)


def ack_tuple(payload: bytes) -> tuple | None:
    a = binance_usdm.parse_ack(payload)
    return None if a is None else (a.request_id, a.result, a.error)


EDGES = [
    b"", b"{", b'{"', b"\x00" * 40, b'{"e":"depthUpdate"}', b'{"error":', b'{"code":', b"PONG",
    b'{"status":"UP"}', b' {"status":"UP"}\n', b'{"result":null,"id":"x"}', b'{"error":{"name":"X"}}',
    b'{"id":1e2,"result":null}', b'{"id":1.0}', b'{"id":99999999999999999999999}', b'{"id":-0}',
    b'{"id":1,"id":"x"}', b'{"id":"\\ud800"}', b'{"id":"a\xffb"}', b'{"id":1,"x":"a\xffb"}',
    b'{"id":1,"x":"a\x01b"}', b'{"id":1} x', b'{"id":1}\n', b'{"id":true}', b'{"id":1,"result":[1]}',
    b'{"code":1.5,"msg":"x"}', b'{"error":{"code":null,"msg":"x"}}', b'{"error":{"msg":"x"}}',
    b'{"error":null,"code":3}', b'{"code":3}', b'{"id":1,"x":NaN}', b'{"id":01}', b'{"id":1,"x":1.}',
    b'{"id":1,"x":"\\x"}', b'{"id":1,"x":"\\u12"}', b'{"id":"\\udc00\\ud800"}', b'{"id":"\\ud83d\\ude00"}',
    b'{"id":1,"x":"\x7f"}', b'{"id":1,"x":"\xed\xa0\x80"}', b'{"id":1 , "result" : [ "a" , "b" ] }',
    b'{"id":1,}', b'{"id":1,"x":[1,]}', b'{"result":[],"id":null}', b'{"id":1,"x":1E+5,"y":-0.0e-1}',
    b'{"id":1,"\\u0072esult":[1]}', b'{"id":1,"\\u0072esult":["a"]}', b'{"id":1,"x":"\\ud800"}',
    b'{"id":1,"x\xff":2}', b'{"id":1,"result":["a\xff"]}', b'{"code":null,"msg":"x"}',
    b'{"code":5,"msg":null}', b'{"error":{"code":5,"msg":null}}', b'{"id":"\\u0000"}',
    b'{"result":true,"error":{"code":5,"msg":"m"},"code":7,"msg":"q"}', b'           {"id":1}',
    b'            {"id":1}', b'\x0b{"id":1}', b'{"id":1,"x":[' + b"[" * 500 + b"]" * 500 + b"]}",
    b'{"error":{"name":"A","message":"b"}}', b' \x0b{"error":null}', b'{"error":{"name":1}}',
    b'{"error":{}}', b'{"error":{"name":"A"},"x":[}', b'{"error":{"name":"n\xffo"}}',
    b'{"error":{"name":"A","message":"\\u00e9\\n"}, "x": {"y": [1, -2.5e3, "z", null, true]}}',
    b'{"error":{"code":-1121,"msg":"Invalid symbol.","extra":[1,{"a":null}]},"id":"abc"}',
]


@pytest.fixture(scope="module")
def corpus(capture_journal) -> list[bytes]:
    frames: list[bytes] = []
    for name in ("BINANCE_FUTURES", "hftbacktest", "UPBIT"):
        with JournalReader(capture_journal(name)) as r:
            frames += [x.payload for x in r.read(1, 5_000) if x.kind == "frame"]
    rng = random.Random(16)
    damaged = [mutate(rng, p) for p in frames for _ in range(3)]
    # replies damaged the same way: most frames above are data, never parsed past the head
    replies = [e for e in EDGES if e.lstrip().startswith(b"{")]
    damaged += [mutate(rng, p) for p in replies for _ in range(200)]
    return frames + damaged + EDGES


def test_binance_replies_read_as_the_reference_read_them(corpus):
    differ = [(p, ack_tuple(p), reference_ack(p)) for p in corpus if ack_tuple(p) != reference_ack(p)]
    assert not differ, differ[:5]


def test_upbit_errors_read_as_the_reference_read_them(corpus):
    differ = [(p, upbit.parse_error(p), reference_error(p)) for p in corpus
              if upbit.parse_error(p) != reference_error(p)]
    assert not differ, differ[:5]
    assert [upbit.is_status_up(p) for p in corpus] == [p.strip() == upbit.STATUS_UP for p in corpus]


@pytest.mark.parametrize("venue", ["binance-usdm", "upbit"])
def test_a_batch_says_what_each_frame_says(corpus, venue):
    adapter_error = binance_usdm.parse_ack if venue == "binance-usdm" else upbit.parse_error
    keep = (lambda p: False) if venue == "binance-usdm" else (lambda p: len(p) < 24 and upbit.is_status_up(p))
    for start in range(0, len(corpus), 997):
        batch = corpus[start:start + 997]
        data, nbytes, errors = ticktape_core.inspect_frames(venue, batch)
        assert data == sum(not keep(p) for p in batch)
        assert nbytes == sum(map(len, batch))
        want = [i for i, p in enumerate(batch) if p[:2] == b'{"' and ticktape_core.frame_error(venue, p)]
        assert [i for i, _ in errors] == want
        for i, text in errors:
            got = adapter_error(batch[i])
            assert got is not None
            assert text == (got.error if venue == "binance-usdm" else f"{got[0]}: {got[1]}")


def test_deep_nesting_is_json_not_an_exception():
    deep = b'{"id":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(RecursionError):
        reference_ack(deep)
    assert ack_tuple(deep) == (1, None, None)


def test_a_batch_takes_bytes_and_bytearrays_only():
    assert ticktape_core.inspect_frames("upbit", [bytearray(b'{"status":"UP"}'), b"x"]) == (1, 16, [])
    with pytest.raises(TypeError):
        ticktape_core.inspect_frames("upbit", [b"x", "x"])
    with pytest.raises(ValueError):
        ticktape_core.inspect_frames("kraken", [])
