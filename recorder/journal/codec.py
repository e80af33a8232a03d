"""On-disk encoding: big-endian u64 keys, msgpack values.

value = msgpack array ``[seq, ts_ns, stream, kind, payload]`` with an optional sixth
element ``meta`` (a map); ``payload`` is msgpack bin, the bytes exactly as received.
The seq in the value repeats the key: one C call decodes a whole ``Record``.
"""

from __future__ import annotations

import struct

import msgspec

from .record import KIND_CODE, Record

_KEY = struct.Struct(">Q")
encode_key = _KEY.pack


def decode_key(key: bytes) -> int:
    return _KEY.unpack(key)[0]


# What msgspec raises for bytes that are not the expected value: its own DecodeError, and
# UnicodeDecodeError (not a DecodeError) for a string that is not UTF-8.
BAD_VALUE = (msgspec.DecodeError, UnicodeDecodeError)

_ENCODER = msgspec.msgpack.Encoder()
_RECORD_DECODER = msgspec.msgpack.Decoder(Record)
_DECODER = msgspec.msgpack.Decoder()

encode_record = _ENCODER.encode
decode_record_fast = _RECORD_DECODER.decode  # no checks: for the hot read path
_RECORDS_DECODER = msgspec.msgpack.Decoder(list[Record])


def decode_records(buf: bytes) -> list[Record]:
    """A msgpack array of stored values (array32 header + the values joined) in one call."""
    return _RECORDS_DECODER.decode(buf)

encode_msgpack = _ENCODER.encode
decode_msgpack = _DECODER.decode


def decode_value(seq: int, value: bytes | memoryview) -> Record:
    """Decode one stored value under key ``seq``; raises ``ValueError`` if it is not that record."""
    try:
        rec = _RECORD_DECODER.decode(value)
    except BAD_VALUE as exc:
        raise ValueError(_why_not(value, exc)) from None
    if rec.seq != seq:
        raise ValueError(f"value holds seq {rec.seq} under key {seq}")
    return rec


def _why_not(value: bytes | memoryview, exc: Exception) -> str:
    """The reason a stored value is not a ``Record``, as precisely as it can be said."""
    try:
        fields = _DECODER.decode(value)
    except BAD_VALUE:
        return f"value does not decode: {exc}"
    if isinstance(fields, list) and len(fields) > 3 and fields[3] not in KIND_CODE:
        return f"unknown kind {fields[3]!r}"
    return f"value does not decode: {exc}"
