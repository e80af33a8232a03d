"""Canonical encoding of a projector's state (snapshot/restore) and its digest.

The encoding is msgpack of plain values in a fixed order: symbols sorted, book
levels sorted, dicts as sorted pairs, Decimals as their strings, floats as float64.
The same state always gives the same bytes, so ``digest_of`` (blake2b of the bytes)
compares a live projection with a replay in one line.

Each object gives its own part (``state()``) and rebuilds itself from it
(``from_state``); this module frames the whole and owns its version:

    [FORMAT,
     config,                 [depth_levels, windows, sorted large_trade_quote, spike_ratio]
     last_seq, ts_ns,
     stream_ts,              sorted [stream, last ts_ns]
     counters,               state.validation.Counters.state()
     symbols]                state.market.SymbolState.state() each, sorted by (venue, symbol)
                             (its book: state.book.Book.state())

A change to any part's layout, or to what a part holds for the same records (3: tapes
forget evicted trades sooner), is a new ``FORMAT``: checkpoints of another format are
refused (``SnapshotFormatError``) and recovery projects from the first record.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b

import msgpack

from .errors import SnapshotFormatError

FORMAT = 3  # bump when the layout or what it holds changes; restore refuses other versions
# (2: tape columns as bytes; 3: tapes drop evicted trades from 64 on, not 4,096: a FORMAT 2
# tape may hold trades a FORMAT 3 fold has compacted away, so it would not fold on alike)
PARTS = 6  # parts after FORMAT


def encode(parts: list) -> bytes:
    """The snapshot bytes of ``parts`` (the list above without FORMAT)."""
    return msgpack.packb([FORMAT, *parts], use_bin_type=True)


def encode_rows(parts: list, rows: Iterable, count: int) -> bytes:
    """``encode([*parts, list(rows)])``'s bytes, each of the ``count`` rows packed as it
    comes: a checkpoint never holds every symbol's state as Python values at once (at
    thousands of symbols that was a copy of the whole snapshot, its tape columns as bytes
    objects, on top of msgpack's buffer and the result)."""
    pk = msgpack.Packer(use_bin_type=True, autoreset=False)
    pk.pack_array_header(len(parts) + 2)
    pk.pack(FORMAT)
    for part in parts:
        pk.pack(part)
    pk.pack_array_header(count)
    n = 0
    for row in rows:
        pk.pack(row)
        n += 1
    if n != count:
        raise ValueError(f"{n} rows packed, not {count}")
    return pk.bytes()


def decode(blob: bytes) -> list:
    """The parts of a snapshot of this FORMAT; ``SnapshotFormatError`` for anything else."""
    try:
        state = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except (ValueError, TypeError) as exc:  # msgpack's own errors are ValueErrors
        raise SnapshotFormatError(FORMAT, detail=f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, list) or not state:
        raise SnapshotFormatError(FORMAT, detail=f"a msgpack {type(state).__name__}")
    if state[0] != FORMAT:
        raise SnapshotFormatError(FORMAT, state[0])
    if len(state) != PARTS + 1:
        raise SnapshotFormatError(FORMAT, detail=f"{len(state) - 1} parts, not {PARTS}")
    return state[1:]


def digest_of(blob: bytes) -> str:
    """blake2b (32 bytes) hex of snapshot bytes."""
    return blake2b(blob, digest_size=32).hexdigest()
