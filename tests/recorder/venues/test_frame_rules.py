"""The compiled core's frame rules read what the msgspec decoders they replaced read.

``recorder.venues.binance_usdm.parse_ack`` and ``upbit.parse_error`` were typed msgspec
decodes behind a cheap head test; the compiled core (``ticktape::inspect``) now reads
those frames in one pass. The old decoders are kept here, as the reference only: on
real frames, damaged frames and hand-made edge cases both must give the same answer.
One deliberate difference: nesting deeper than Python's recursion limit made msgspec
raise ``RecursionError`` (out of the socket callback); the core reads it as JSON.

The venues added since (Binance spot, Bybit, OKX, Gate, KuCoin, Phemex) kept their msgspec
rules in their modules: the last test checks the core against every venue's adapter.
"""

from __future__ import annotations

import random

import msgspec
import orjson
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


# ---------------------------------------------------------------------------- every venue
#
# For every venue with frame rules, the compiled core (``inspect_frames``, one batch; and
# ``is_keepalive``/``frame_error``, one frame) answers what the venue's Python adapter
# answers (``keepalive()``, ``frame_error()``: the documented reference) on the venue's
# real frames (cryptofeed captures), the control frames its simulator sends
# (``tools/simulator/<venue>_server.py``: pongs, acks, errors) and damaged copies of both.
# Binance and Upbit read a reply only from a frame that starts ``{"`` (the gate the
# recorder's link had before the core): the reference applies that gate for them.

GATED = frozenset({"binance-usdm", "binance-spot", "upbit"})
CAPTURES = {"binance-usdm": ("BINANCE_FUTURES",), "binance-spot": ("BINANCE",), "upbit": ("UPBIT",),
            "bybit": ("BYBIT",), "okx": ("OKX",), "gate": ("GATEIO", "GATEIO_FUTURES"),
            "kucoin": ("KUCOIN",), "phemex": ("PHEMEX",)}


def _dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


def _simulator_replies(venue: str) -> list[bytes]:
    """Control frames as the venue's simulator builds them (and the venue documents them)."""
    if venue in ("binance-usdm", "binance-spot"):
        return [b'{"result":null,"id":1}', b'{"result":["btcusdt@depth"],"id":3}',
                b'{"code":2,"msg":"Invalid request: unknown variant","id":1}',
                b'{"error":{"code":2,"msg":"Invalid request"},"id":1}',
                b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}']
    if venue == "upbit":
        return [b'{"status":"UP"}', b'{"error":{"name":"INVALID_PARAM","message":"bad"}}',
                b'{"error":{"name":"NO_TICKET","message":"ticket missing"}}']
    if venue == "bybit":
        out = []
        for market, conn in (("spot", "sim-spot-1"), ("linear", "sim-linear-2")):
            extra = {} if market == "spot" else {"req_id": "ticktape-0-0"}
            for op, ok, msg in (("subscribe", True, "subscribe" if market == "spot" else ""),
                                ("unsubscribe", True, ""), ("ping", True, "pong"),
                                ("subscribe", False, "Invalid symbol :[orderbook.50.NOPEUSDT]"),
                                ("", False, "error:request not json"),
                                ("subscribe", False, "error:handler not found")):
                out.append(_dumps({"success": ok, "ret_msg": msg, "conn_id": conn, **extra, "op": op}))
        return out + [b'{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c"}']
    if venue == "okx":
        arg = {"channel": "books", "instId": "ETH-USDT"}
        return [b"pong", _dumps({"event": "subscribe", "arg": arg, "connId": "sim-1"}),
                _dumps({"id": "r1", "event": "unsubscribe", "arg": arg, "connId": "sim-1"}),
                _dumps({"event": "error", "code": "60018",
                        "msg": "Wrong URL or channel:books,instId:NOPE-USDT doesn't exist. Please use "
                               "the correct URL, channel and parameters referring to API document.",
                        "connId": "sim-1"}),
                _dumps({"event": "error", "code": "60012", "msg": 'Invalid request: {"op":', "connId": "c"}),
                _dumps({"event": "notice", "code": "64008", "msg": "reconnect soon", "connId": "c"})]
    if venue == "gate":
        from tools.simulator.gate_server import GateVenue
        out = [_dumps({"time": 1, "time_ms": 1000, "channel": f"{m}.pong", "event": "", "result": None})
               for m in ("spot", "futures")]
        out += [GateVenue._reply("spot.trades", "subscribe", ["BTC_USDT"]),
                GateVenue._reply("futures.order_book_update", "unsubscribe", ["BTC_USDT", "100ms", "100"]),
                GateVenue._reply("spot.order_book_update", "subscribe", ["NOPE_USDT", "100ms"],
                                 error=(2, "unknown currency pair NOPE_USDT")),
                b'{"time":1,"channel":"spot.trades","event":"subscribe","error":"x","result":null}',
                b'{"time":1,"channel":"","event":"","error":{"code":"2","message":1}}']
        return out
    if venue == "kucoin":
        from tools.simulator.kucoin_server import _error
        return [_dumps({"id": "c0ffee", "type": "welcome"}), _dumps({"id": "r1", "type": "ack"}),
                _dumps({"id": "p1", "type": "pong"}), _dumps({"id": 7, "type": "pong"}),
                _error("r2", 404, "topic /market/level2:NOPE-USDT is not found"),
                _error("r3", 400, "exceed max subscription count limitation of 100 per time"),
                b'{"id":"r4","type":"error","code":"401","data":{"reason":"token"}}',
                b'{"type":"notice","subject":"x"}']
    if venue == "phemex":
        from tools.simulator.phemex_server import OK, reply
        return [reply(0, "pong"), reply(1, OK), reply(2, None, (6001, "invalid argument")),
                reply(None, "pong"), b'{"error":null,"id":0,"result":"pong"}',
                b'{"error":{"code":6001},"id":3,"result":null}']
    raise AssertionError(venue)


KEYS = (b"error", b"op", b"type", b"event", b"result", b"id", b"code", b"msg", b"message",
        b"ret_msg", b"success", b"data", b"channel", b"arg")


def _variants(replies: list[bytes]) -> list[bytes]:
    """Hand-made edges of each reply: whitespace around it, each key spelled with an escape
    (``"\\u006fp"``), each key repeated with a null value, the reply cut short."""
    out = []
    for p in replies:
        out += [b" " + p, b"\n\t" + p, p + b" \r\n", b"\x0b" + p, p[:-1], p + b"x"]
        for key in KEYS:
            quoted = b'"' + key + b'"'
            if quoted in p:
                out.append(p.replace(quoted, b'"\\u%04x' % key[0] + key[1:] + b'"'))
                out.append(p.replace(b"{" + quoted, b"{" + quoted + b":null," + quoted, 1))
                out.append(p[:-1] + b"," + quoted + b":null}")
    return out


def _adapter(venue: str):
    from recorder.daemon.config import VenueConfig
    from recorder.venues import descriptor_for
    from recorder.venues.base import Backoff

    d = descriptor_for(venue)
    cfg = VenueConfig(venue, (d.symbol_example,), d.channels[:1])
    return d.adapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "t")


@pytest.fixture(scope="module")
def venue_frames():
    from tools.captures import cryptofeed
    from tools.simulator.captures import read_cryptofeed

    made: dict[str, list[bytes]] = {}

    def frames(venue: str) -> list[bytes]:
        if venue not in made:
            real = [p for name in CAPTURES[venue]
                    for _, p in read_cryptofeed(cryptofeed(name)).frames[:1500]]
            replies = _simulator_replies(venue)
            rng = random.Random(venue)
            damaged = [mutate(rng, p) for p in real for _ in range(2)]
            damaged += [mutate(rng, p) for p in replies for _ in range(300)]
            made[venue] = real + replies + damaged + _variants(replies) + EDGES
        return made[venue]

    return frames


@pytest.mark.parametrize("venue", sorted(CAPTURES))
def test_the_core_answers_what_the_venue_module_answers(venue_frames, venue):
    adapter = _adapter(venue)
    assert adapter.frame_rules == venue
    keep = adapter.keepalive() or (lambda p: False)

    def error(p: bytes) -> str | None:
        return None if venue in GATED and p[:2] != b'{"' else adapter.frame_error(p)

    corpus = venue_frames(venue)
    replies = _simulator_replies(venue)
    # the simulator's replies hold keep-alive answers and errors wherever the venue has them
    assert any(error(p) for p in replies)
    assert any(keep(p) for p in replies) == (venue not in ("binance-usdm", "binance-spot"))
    differ = [(p, ticktape_core.is_keepalive(venue, p), keep(p)) for p in corpus
              if ticktape_core.is_keepalive(venue, p) != keep(p)]
    assert not differ, differ[:5]
    differ = [(p, ticktape_core.frame_error(venue, p), error(p)) for p in corpus
              if ticktape_core.frame_error(venue, p) != error(p)]
    assert not differ, differ[:5]
    for start in range(0, len(corpus), 997):
        batch = corpus[start:start + 997]
        data, nbytes, errors = ticktape_core.inspect_frames(venue, batch)
        assert data == sum(not keep(p) for p in batch)
        assert nbytes == sum(map(len, batch))
        assert errors == [(i, e) for i, p in enumerate(batch) if (e := error(p)) is not None]
