"""The ``Listing`` event of a ``listing`` mark (the recorder's Upbit listing watcher).

The watcher journals ``{"mark": "listing", "symbol", "name", "markets", "notice_id",
"title", "announced_at_ns", "detected_at_ns", ...}`` as sorted JSON; the fold hands every
mark that says ``"mark": "listing"`` to ``listing_of``. A mark that is not a whole listing
gives None: a mark is ours, never a venue's, and a bad one is not an event.
"""

from __future__ import annotations

import msgspec

from recorder.journal import Record

from .events import Listing

MARKER = b'"mark": "listing"'  # as json.dumps(sort_keys=True) writes it


class _Mark(msgspec.Struct, frozen=True):
    mark: str
    symbol: str
    markets: list[str]
    notice_id: int | None
    title: str
    announced_at_ns: int
    detected_at_ns: int
    name: str = ""


_DECODE = msgspec.json.Decoder(_Mark)


def listing_of(rec: Record) -> Listing | None:
    """The record's ``Listing`` event, or None when it is not a whole listing mark."""
    if rec.kind != "mark" or MARKER not in rec.payload:
        return None
    try:
        m = _DECODE.decode(rec.payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if m.mark != "listing" or not m.symbol:
        return None
    return Listing("upbit", m.symbol, m.symbol, m.announced_at_ns, rec.ts_ns, rec.seq,
                   tuple(m.markets), m.notice_id, m.title, m.announced_at_ns, m.detected_at_ns,
                   m.name)
