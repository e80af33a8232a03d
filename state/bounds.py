"""The integer bounds a decoded event must respect before it is folded.

Exchange times and ids become part of the state: checkpoints store them as msgpack
integers and the archive in int64 columns, and the next event is compared with them
(a time from the year 2^64 ms would flag every later one as going backwards). A frame
whose time or id does not fit (a damaged or hostile one: ``"T": 18446744073709551616``)
is therefore malformed: ``out_of_range`` names the field, and the projector quarantines
the event as a ``DecodeError`` instead of folding it. A decoder whose wire schemas bound
every integer already (``Decoder.bounded``: msgspec checks them in C, the Binance hot
path) is spared the check.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

from .events import BookDelta, BookSnapshot, BookTicker, Event, Kline, Ticker, Trade

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1


def _id_ok(v: int | None) -> bool:
    return v is None or I64_MIN <= v <= I64_MAX


# One cheap test per event type (the hot path); times are ns since the epoch, >= 0.
# Types not listed (the projector's own Gap, Anomaly, DecodeError) need none.
CHECKS: dict[type, Callable[[Event], bool]] = {
    Trade: lambda e: 0 <= e.exch_ts_ns <= I64_MAX and _id_ok(e.ordinal),
    BookTicker: lambda e: 0 <= e.exch_ts_ns <= I64_MAX and _id_ok(e.update_id),
    BookDelta: lambda e: (0 <= e.exch_ts_ns <= I64_MAX and _id_ok(e.first_id) and _id_ok(e.last_id)
                          and _id_ok(e.prev_id) and _id_ok(e.checksum)),
    BookSnapshot: lambda e: (0 <= e.exch_ts_ns <= I64_MAX and _id_ok(e.update_id) and _id_ok(e.depth)
                             and _id_ok(e.checksum)),
    Ticker: lambda e: 0 <= e.exch_ts_ns <= I64_MAX,
    Kline: lambda e: 0 <= e.exch_ts_ns <= I64_MAX and 0 <= e.start_ns <= I64_MAX,
}


NO_CHECKS: dict[type, Callable[[Event], bool]] = {}  # for a ``Decoder.bounded`` decoder's events


def out_of_range(ev: Event) -> str:
    """Which integer field of ``ev`` is out of range ("" when none is): the report."""
    for n in ("exch_ts_ns", "start_ns", "ordinal", "update_id", "first_id", "last_id", "prev_id",
              "depth", "checksum"):
        v = getattr(ev, n, None)
        if v is None:
            continue
        low = 0 if n.endswith("_ns") else I64_MIN
        if not low <= v <= I64_MAX:
            return f"{type(ev).__name__}.{n} = {v} is out of range"
    return ""
