"""On-disk encoding: big-endian u64 keys, msgpack values.

value = msgpack array ``[ts_ns, stream, kind_code, payload]`` with an optional fifth
element ``meta`` (a map). ``payload`` is msgpack bin: the bytes exactly as received.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from .record import KIND_CODE, KINDS, Record

_KEY = struct.Struct(">Q")
encode_key = _KEY.pack


def decode_key(key: bytes) -> int:
    return _KEY.unpack(key)[0]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()


def encode_value(ts_ns: int, stream: int, kind: str, payload: bytes, meta: dict[str, Any] | None) -> bytes:
    code = KIND_CODE[kind]
    if meta:
        return _ENCODER.encode((ts_ns, stream, code, payload, meta))
    return _ENCODER.encode((ts_ns, stream, code, payload))


def decode_value(seq: int, value: bytes) -> Record:
    """Decode one stored value; raises ``ValueError`` when it is not a record."""
    try:
        v = _DECODER.decode(value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"value does not decode: {exc}") from None
    if type(v) is not list or not 4 <= len(v) <= 5:
        raise ValueError(f"value is not a record array: {type(v).__name__}")
    ts_ns, stream, code, payload = v[0], v[1], v[2], v[3]
    if type(ts_ns) is not int or type(stream) is not int or type(payload) is not bytes:
        raise ValueError("value has wrong field types")
    try:
        kind = KINDS[code]
    except (IndexError, TypeError):
        raise ValueError(f"unknown kind code {code!r}") from None
    return Record(seq, ts_ns, stream, kind, payload, v[4] if len(v) == 5 else None)


encode_msgpack = _ENCODER.encode
decode_msgpack = _DECODER.decode
