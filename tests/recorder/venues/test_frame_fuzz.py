"""The recorder's per-frame inspection never raises on a damaged frame.

It runs inside the socket's ``data_received`` for every frame the venue sends (update-id
chain, error replies, keep-alive answers): an exception there would end the connection.
Frames of the real Binance USD-M and Upbit captures are damaged the way the projection's
fuzz test damages them (``tests/state/test_fuzz.py``) and fed to every such function.
"""

from __future__ import annotations

import random

import pytest

from recorder.journal.reader import JournalReader
from recorder.venues import binance_usdm, upbit
from tests.state.test_fuzz import mutate


@pytest.mark.parametrize(("name", "venue"), [("BINANCE_FUTURES", "binance-usdm"),
                                             ("hftbacktest", "binance-usdm"), ("UPBIT", "upbit")])
def test_inspection_takes_any_damaged_frame(capture_journal, name, venue):
    with JournalReader(capture_journal(name)) as r:
        frames = [x.payload for x in r.read(1, 20_000) if x.kind == "frame"]
    rng = random.Random(name)
    damaged = [mutate(rng, p) for p in frames for _ in range(3)]
    damaged += [b"", b"{", b'{"', b"\x00" * 40, b'{"e":"depthUpdate"}', b'{"error":', b'{"code":',
                b'{"result":null,"id":"x"}', b'{"error":{"name":"X"}}', b"PONG", b'{"status":"UP"}']
    watcher = binance_usdm.DepthWatcher()
    needs = 0
    for p in damaged:
        if venue == "binance-usdm":
            binance_usdm.parse_ack(p)
            needs += watcher.on_frame(p) is not None
        else:
            upbit.parse_error(p)
            upbit.is_status_up(p)
    if name == "hftbacktest":
        assert needs > 0  # damaged ids broke the chain: snapshots asked for, nothing raised


def test_a_string_that_is_not_utf8_is_no_depth_update_and_no_error_reply():
    """msgspec raises UnicodeDecodeError (not DecodeError) for such a string: it used to
    escape from the socket callback."""
    depth = (b'{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT",'
             b'"U":5,"u":9,"pu":4,"b":[],"a":[]}}')
    assert binance_usdm.depth_ids(depth) == ("BTCUSDT", 5, 9, 4)
    assert binance_usdm.depth_ids(depth.replace(b'"BTCUSDT"', b'"BTC\xffUSDT"')) is None
    ack = b'{"error":{"code":2,"msg":"Invalid request"},"id":1}'
    assert binance_usdm.parse_ack(ack).error == "2: Invalid request"
    assert binance_usdm.parse_ack(ack.replace(b"Invalid", b"In\xffvalid")) is None
    err = b'{"error":{"name":"INVALID_AUTH","message":"no"}}'
    assert upbit.parse_error(err) == ("INVALID_AUTH", "no")
    assert upbit.parse_error(err.replace(b"no", b"n\xffo")) is None
