"""The core's Binance decoder (``ticktape::decode::binance``) against ``state.decode.binance``.

Before the fold switches to the compiled decoders, each is held to the Python one event for
event: on every frame of the real captures, and on those frames damaged (cut short, a byte
flipped, a field's type changed). A frame one calls a decode error the other does too; the
reasons' texts may differ.
"""

from __future__ import annotations

import random

import pytest
import ticktape_core

from recorder.journal.record import FRAME, Record
from state.decode import decoder_for
from state.events import BookDelta, BookSnapshot, BookTicker, DecodeError, Kline, Ticker, Trade

CAPTURES = ("hftbacktest", "BINANCE", "BINANCE_FUTURES")


def as_tuple(ev) -> tuple:
    """A Python event in the core's tuple form (``core/python/src/decode.rs``)."""
    t = type(ev)
    if t is Trade:
        return ("Trade", ev.symbol, ev.exch_ts_ns, ev.price, ev.size, ev.side, ev.trade_id, ev.ordinal)
    if t is BookTicker:
        return ("BookTicker", ev.symbol, ev.exch_ts_ns, ev.bid_px, ev.bid_sz, ev.ask_px, ev.ask_sz,
                ev.update_id)
    if t is BookDelta:
        return ("BookDelta", ev.symbol, ev.exch_ts_ns, tuple(map(tuple, ev.bids)), tuple(map(tuple, ev.asks)),
                ev.first_id, ev.last_id, ev.prev_id, ev.checksum)
    if t is BookSnapshot:
        return ("BookSnapshot", ev.symbol, ev.exch_ts_ns, tuple(map(tuple, ev.bids)),
                tuple(map(tuple, ev.asks)), ev.update_id, ev.depth, ev.checksum,
                None if ev.totals is None else tuple(ev.totals), ev.source)
    if t is Ticker:
        return ("Ticker", ev.symbol, ev.exch_ts_ns, (ev.last, ev.bid, ev.ask, ev.open, ev.high, ev.low,
                ev.volume, ev.quote_volume, ev.mark, ev.index, ev.funding_rate, ev.prev_close,
                ev.change, ev.change_rate))
    if t is Kline:
        return ("Kline", ev.symbol, ev.exch_ts_ns, ev.interval, ev.start_ns,
                (ev.open, ev.high, ev.low, ev.close, ev.volume), ev.quote_volume, ev.closed)
    raise AssertionError(f"unexpected event {ev!r}")


def python_side(info, payloads: list[bytes]) -> list:
    dec = decoder_for(info)
    out = []
    for i, p in enumerate(payloads):
        events = dec.decode(Record(i + 1, 1, info.id, FRAME, p, None))
        if any(type(ev) is DecodeError for ev in events):
            out.append("error")
        else:
            out.append([as_tuple(ev) for ev in events])
    return out


def core_side(info, payloads: list[bytes]) -> list:
    got = ticktape_core.decode_frames(info.venue, info.market, info.url, payloads)
    return ["error" if isinstance(g, str) else [tuple(e) for e in g] for g in got]


def frames_by_stream(streams, records) -> dict:
    by: dict = {}
    for r in records:
        if r.kind == FRAME and streams[r.stream].venue.startswith("binance"):
            by.setdefault(r.stream, []).append(r.payload)
    return by


@pytest.mark.parametrize("name", CAPTURES)
def test_every_frame_of_the_captures_decodes_alike(capture_records, name):
    streams, records = capture_records(name)
    by = frames_by_stream(streams, records)
    assert by
    for sid, payloads in by.items():
        want = python_side(streams[sid], payloads)
        got = core_side(streams[sid], payloads)
        for p, w, g in zip(payloads, want, got, strict=True):
            assert g == w, p[:300]


def damaged(payload: bytes, rnd: random.Random) -> bytes:
    how = rnd.randrange(4)
    if how == 0:
        return payload[:rnd.randrange(len(payload))]
    if how == 1:  # a printable byte: not UTF-8 is refused whole (see the last test)
        i = rnd.randrange(len(payload))
        return payload[:i] + bytes([rnd.randrange(0x20, 0x7F)]) + payload[i + 1:]
    if how == 2:  # a string value becomes a number, or a number a string
        return payload.replace(b'":"', b'":', 1) if rnd.random() < 0.5 else payload.replace(b'":1', b'":"1', 1)
    return payload.replace(b'"', b"", 1)


@pytest.mark.parametrize("name", CAPTURES)
def test_damaged_frames_are_errors_or_events_alike(capture_records, name):
    streams, records = capture_records(name)
    rnd = random.Random(16)
    for sid, payloads in frames_by_stream(streams, records).items():
        sample = [damaged(p, rnd) for p in rnd.sample(payloads, min(3000, len(payloads)))]
        want = python_side(streams[sid], sample)
        got = core_side(streams[sid], sample)
        diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
        assert not diff, diff[:3]


def test_a_frame_that_is_not_utf8_is_a_decode_error():
    """Where the two differ, on purpose: msgspec skips the bytes of keys it does not know
    without reading them as UTF-8, the core refuses such a frame whole. A venue's text frame
    is UTF-8 by the WebSocket protocol (the client closes the connection otherwise)."""
    frame = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,'
             b'"p":"1.5","q":"2","\xa9":"MARKET","m":true}}')
    assert ticktape_core.decode_frames("binance-usdm", "usdm", "wss://fstream.binance.com/stream", [frame])[0].startswith("not UTF-8")


def test_a_repeated_key_is_a_decode_error():
    """Where the two differ, on purpose: msgspec keeps the last of a repeated key, the core's
    Binance decoder refuses the frame (serde's structs do). Binance never repeats a key; the
    Gate, KuCoin and Phemex decoders follow msgspec here (``decode::msgspec``) because their
    Python schemas are read that way on the captures' shapes."""
    frame = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,'
             b'"p":"1.5","q":"2","m":true,"m":false}}')
    got = ticktape_core.decode_frames("binance-usdm", "usdm", "wss://fstream.binance.com/stream", [frame])[0]
    assert isinstance(got, str) and "duplicate" in got


# 24 h ticker frames (``<symbol>@ticker``): no capture holds one, so they are the documented
# shape (USD-M: no ``x``, no best bid/ask; spot adds ``x``, ``b``/``B``, ``a``/``A``), combined
# and bare, over varied numbers.
USDM_TICKER = (b'{"e":"24hrTicker","E":%d,"s":"%s","p":"%s","P":"%s","w":"61950.11","c":"%s",'
               b'"Q":"0.006","o":"%s","h":"%s","l":"%s","v":"%s","q":"%s","O":1723074840000,'
               b'"C":1723161255999,"F":5261000000,"L":5266583935,"n":5583936}')
SPOT_TICKER = (b'{"e":"24hrTicker","E":%d,"s":"%s","p":"%s","P":"%s","w":"0.0018","x":"%s","c":"%s",'
               b'"Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100","o":"%s","h":"%s","l":"%s",'
               b'"v":"%s","q":"%s","O":0,"C":86400000,"F":0,"L":18150,"n":18151}')


def ticker_frames(rnd: random.Random, n: int) -> tuple[list[bytes], list[bytes]]:
    """``n`` USD-M combined and bare ticker frames, and ``n`` spot ones (combined, bare)."""
    def px() -> bytes:
        return b"%d.%02d" % (rnd.randrange(1, 100_000), rnd.randrange(100))

    usdm, spot = [], []
    for i in range(n):
        sym = rnd.choice([b"BTCUSDT", b"ETHUSDT"])
        o, c = px(), px()
        chg = b"%.2f" % (float(c) - float(o))
        pct = b"%.3f" % ((float(c) - float(o)) / float(o) * 100)
        e = 1723161256000 + i * 1000
        u = USDM_TICKER % (e, sym, chg, pct, c, o, max(o, c, key=float), min(o, c, key=float), px(), px())
        t = SPOT_TICKER % (e, sym, chg, pct, o, c, o, max(o, c, key=float), min(o, c, key=float), px(), px())
        stream = sym.lower() + b"@ticker"
        usdm.append(b'{"stream":"%s","data":%s}' % (stream, u) if i % 2 else u)
        spot.append(b'{"stream":"%s","data":%s}' % (stream, t) if i % 2 else t)
    return usdm, spot


def repeats_a_key(payload: bytes) -> bool:
    """A frame with a key twice in one object (a damaged byte made one: ``"l"`` to ``"e"``):
    the core refuses it, msgspec keeps the last (``test_a_repeated_key_is_a_decode_error``)."""
    import json

    def pairs(kv):
        keys = [k for k, _ in kv]
        if len(keys) != len(set(keys)):
            raise KeyError
        return dict(kv)

    try:
        json.loads(payload, object_pairs_hook=pairs)
    except KeyError:
        return True
    except ValueError:
        return False
    return False


def test_24h_ticker_frames_decode_alike_and_damaged_ones_too():
    """A ``24hrTicker`` is a Ticker (last c, open o, high h, low l, volume v, quote volume q,
    change p, rate P as sent, prev close spot's x) both ways, at its event time ``E``; damaged,
    it is the same event or an error both ways."""
    from recorder.journal.record import StreamInfo

    rnd = random.Random(24)
    usdm, spot = ticker_frames(rnd, 200)
    for info, frames in ((StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/market/ws/btcusdt@ticker"), usdm),
                         (StreamInfo(2, "binance-spot", "spot", "wss://stream.binance.com:9443/ws/btcusdt@ticker"), spot)):
        want = python_side(info, frames)
        assert "error" not in want and all(len(w) == 1 and w[0][0] == "Ticker" for w in want)
        assert core_side(info, frames) == want
        sample = [d for d in (damaged(p, rnd) for p in rnd.choices(frames, k=3000)) if not repeats_a_key(d)]
        assert len(sample) > 2900
        want, got = python_side(info, sample), core_side(info, sample)
        diff = [(p[:300], w, g) for p, w, g in zip(sample, want, got, strict=True) if w != g]
        assert not diff, diff[:3]
        assert 0 < want.count("error") < len(want)
    [[ev]] = python_side(StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/market/stream"),
                         [USDM_TICKER % (1723161256000, b"BTCUSDT", b"-412.30", b"-0.662", b"61800.30",
                                         b"62212.60", b"62700.00", b"61010.10", b"203144.512", b"12584431122.73")])
    assert ev == ("Ticker", "BTCUSDT", 1723161256000 * 1_000_000,
                  ("61800.30", None, None, "62212.60", "62700.00", "61010.10", "203144.512", "12584431122.73",
                   None, None, None, None, "-412.30", "-0.662"))
