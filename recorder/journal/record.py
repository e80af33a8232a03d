"""The journal record: the one type every projection reads.

This module is imported by ``state/`` and must stay free of I/O.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args

import msgspec

# Record kinds, in the order of their on-disk code (the index is what is stored).
FRAME = "frame"  # a WebSocket message, text or binary, exactly as received
REST = "rest"  # a REST response body; meta carries url, status, request line
SENT = "sent"  # bytes we sent: subscribe, ping, pong
OPEN = "open"  # a connection opened; payload is the URL
CLOSE = "close"  # a connection closed; meta carries code, payload the reason
ERROR = "error"  # a classified error; meta carries the class, payload the message
MARK = "mark"  # an annotation: gap detected, resync, listing window, lag

# A Literal, not plain str: decoding then hands out these constants instead of a new
# string per record (a quarter of a record's decode time), and rejects any other kind.
Kind = Literal["frame", "rest", "sent", "open", "close", "error", "mark"]
KINDS: tuple[str, ...] = (FRAME, REST, SENT, OPEN, CLOSE, ERROR, MARK)
assert get_args(Kind) == KINDS
KIND_CODE: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


class Record(msgspec.Struct, array_like=True, frozen=True, gc=False, omit_defaults=True):
    """One journal entry (immutable; ``msgspec.structs.replace`` makes a changed copy).

    Stored as the msgpack array of its fields; ``seq`` repeats the key so one C call
    decodes a whole record and a value that landed under the wrong key is detected.

    seq      -- gapless u64 starting at 1, the order of everything
    ts_ns    -- local receive time, integer ns, never decreasing in a journal
    stream   -- id of the connection (see the ``streams`` table)
    kind     -- one of ``KINDS``
    payload  -- the bytes exactly as received (or sent)
    meta     -- small optional map: REST url/status, close code, raw wall time
                when ``ts_ns`` was clamped (``wall_ns``), binary-frame flag (``bin``)
    """

    seq: int
    ts_ns: int
    stream: int
    kind: Kind
    payload: bytes
    meta: dict[str, Any] | None = None


class StreamInfo(NamedTuple):
    """One row of the ``streams`` table: a connection for its lifetime."""

    id: int
    venue: str
    market: str = ""
    url: str = ""
    conn: str = ""  # connection name, e.g. ``binance-usdm.public.0``
    channels: tuple[str, ...] = ()
    config_hash: str = ""
    opened_ns: int = 0
