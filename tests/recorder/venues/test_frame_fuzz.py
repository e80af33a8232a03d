"""The recorder's per-frame inspection never raises on a damaged frame.

It runs inside the socket read for every frame the venue sends (error
replies, keep-alive answers): an exception there would end the connection. Frames of
the real Binance USD-M and Upbit captures are damaged the way the projection's fuzz test
damages them (``tests/state/test_fuzz.py``) and fed to every such function of the
venue's adapter. (Book continuity is the projection's: ``tests/state/test_fuzz.py``.)
"""

from __future__ import annotations

import random

import pytest

from recorder.daemon.config import VenueConfig
from recorder.errors import VenueReplyError
from recorder.journal.reader import JournalReader
from recorder.venues import binance_usdm, descriptor_for, upbit
from recorder.venues.base import Backoff
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
    d = descriptor_for(venue)
    cfg = VenueConfig(venue, (d.symbol_example,), d.channels[:1])
    adapter = d.adapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "t")
    keepalive = adapter.keepalive() or (lambda p: False)
    errors = 0
    for p in damaged:
        errors += adapter.frame_error(p) is not None
        keepalive(p)
        if adapter.snapshots is not None:
            try:
                adapter.snapshots.last_update_id(p)
            except VenueReplyError:  # the one error it may raise: the fetcher catches it
                pass
    assert errors > 0  # the hand-made error replies are read as such


def test_a_string_that_is_not_utf8_is_no_error_reply():
    """msgspec raises UnicodeDecodeError (not DecodeError) for such a string: it used to
    escape from the socket callback."""
    ack = b'{"error":{"code":2,"msg":"Invalid request"},"id":1}'
    assert binance_usdm.parse_ack(ack).error == "2: Invalid request"
    assert binance_usdm.parse_ack(ack.replace(b"Invalid", b"In\xffvalid")) is None
    err = b'{"error":{"name":"INVALID_AUTH","message":"no"}}'
    assert upbit.parse_error(err) == ("INVALID_AUTH", "no")
    assert upbit.parse_error(err.replace(b"no", b"n\xffo")) is None
