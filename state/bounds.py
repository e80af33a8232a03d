"""The integer bounds a decoded event must respect.

Exchange times and ids become part of the state: checkpoints store them as msgpack
integers and the archive in int64 columns, and the next event is compared with them
(a time from the year 2^64 ms would flag every later one as going backwards). A frame
whose time or id does not fit (a damaged or hostile one: ``"T": 18446744073709551616``)
is therefore malformed: ``Decoder.decode`` turns an event for which ``out_of_range``
names a field into a ``DecodeError``. The Binance hot path bounds the same integers in
its msgspec schemas instead (``Ms``, ``I64`` in ``decode/common.py``: checked in C).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from .events import BookDelta, BookSnapshot, BookTicker, Kline, Ticker, Trade

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1

# Integer fields besides ``exch_ts_ns`` (ns since the epoch, always checked) per event type;
# a type not listed (the projector's own Gap, Anomaly, DecodeError) needs no check.
_IDS = {Trade: ("ordinal",), BookTicker: ("update_id",),
        BookDelta: ("first_id", "last_id", "prev_id", "checksum"),
        BookSnapshot: ("update_id", "depth", "checksum"), Ticker: (), Kline: ("start_ns",)}


def out_of_range(ev: object) -> str:
    """Which integer field of ``ev`` does not fit ("" when every one does)."""
    ids = _IDS.get(type(ev))
    if ids is None:
        return ""
    ts = ev.exch_ts_ns  # type: ignore[attr-defined]
    if not 0 <= ts <= I64_MAX:
        return f"{type(ev).__name__}.exch_ts_ns = {ts} is out of range"
    for name in ids:
        v = getattr(ev, name)
        if v is not None and not (0 if name == "start_ns" else I64_MIN) <= v <= I64_MAX:
            return f"{type(ev).__name__}.{name} = {v} is out of range"
    return ""
