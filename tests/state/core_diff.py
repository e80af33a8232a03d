"""The differential test of a compiled decoder against ``state.decode``, for the venues
whose core events name their symbol as the frame spells it (Gate, KuCoin, Phemex).

The core's event tuple (``core/python/src/decode.rs``) carries the native symbol: the core
has no naming, the fold resolves the symbol key once per symbol. The Python event carries
the key, so the core's side is mapped with ``state.symbols.symbol_key`` and the stream's
market before the two are compared (Gate's futures contracts are keyed ``futures:...``).
"""

from __future__ import annotations

import random

import ticktape_core

from recorder.journal.record import FRAME
from state.symbols import symbol_key

from .test_core_binance import damaged, python_side

# The sides a core Trade can carry; Python passes a venue's side string on unchecked.
SIDES = ("buy", "sell", "")


def core_side(info, payloads: list[bytes]) -> list:
    """Per frame, the core's events with their symbol keyed as Python keys it, or "error"."""
    got = ticktape_core.decode_frames(info.venue, info.market, info.url, payloads)
    key = symbol_key
    return ["error" if isinstance(g, str)
            else [(e[0], key(info.venue, info.market, e[1]), *e[2:]) for e in g] for g in got]


def frames_by_stream(streams, records, venue: str) -> dict:
    by: dict = {}
    for r in records:
        if r.kind == FRAME and streams[r.stream].venue == venue:
            by.setdefault(r.stream, []).append(r.payload)
    return by


def assert_every_frame_alike(capture_records, name: str, venue: str) -> int:
    """Every frame of a capture: the same events both ways. Returns how many events."""
    streams, records = capture_records(name)
    by = frames_by_stream(streams, records, venue)
    assert by
    n = 0
    for sid, payloads in by.items():
        want = python_side(streams[sid], payloads)
        got = core_side(streams[sid], payloads)
        for p, w, g in zip(payloads, want, got, strict=True):
            assert g == w, p[:300]
            n += len(w) if w != "error" else 0
    return n


def odd_side(events) -> bool:
    """A Python Trade whose side the core cannot carry (see ``msgspec::side``)."""
    return events != "error" and any(e[0] == "Trade" and e[5] not in SIDES for e in events)


def assert_damaged_alike(capture_records, name: str, venue: str, n: int = 3000) -> None:
    """``n`` damaged frames per stream (drawn with replacement: a small stream is damaged
    several ways): the same events both ways, or both a decode error. The one difference
    allowed is the core's: a trade with a side it cannot carry is a decode error."""
    streams, records = capture_records(name)
    rnd = random.Random(16)
    for sid, payloads in frames_by_stream(streams, records, venue).items():
        sample = [damaged(p, rnd) for p in rnd.choices(payloads, k=n)]
        want = python_side(streams[sid], sample)
        got = core_side(streams[sid], sample)
        diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True)
                if w != g and not (g == "error" and odd_side(w))]
        assert not diff, diff[:3]


def assert_given_frames_alike(info, payloads: list[bytes], n: int = 3000) -> list:
    """For a channel the captures lack: each of ``payloads`` decodes alike, and so do ``n``
    of them damaged (as ``assert_damaged_alike``). Returns the Python side of ``payloads``
    (per frame its events as tuples, or "error") for the caller to check its content."""
    want = python_side(info, payloads)
    assert core_side(info, payloads) == want
    rnd = random.Random(16)
    sample = [damaged(p, rnd) for p in rnd.choices(payloads, k=n)]
    got, expect = core_side(info, sample), python_side(info, sample)
    diff = [(p[:300], w, g) for p, w, g in zip(sample, expect, got, strict=True)
            if w != g and not (g == "error" and odd_side(w))]
    assert not diff, diff[:3]
    kinds = {"error" if w == "error" else "events" for w in expect}
    assert kinds == {"error", "events"}  # the damage made both decode errors and events
    return want
