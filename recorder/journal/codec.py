"""The one codec of the stored journal value: every encode and decode of it is here.

key   = big-endian u64 seq (so LMDB's byte order is seq order)
value = msgpack array ``[seq, ts_ns, stream, kind, payload, meta]``: ``payload`` is msgpack
        bin, the bytes exactly as received; ``kind`` the kind's name (a str); ``meta`` a
        map, or nil when the record has none (a value of the first five alone decodes too)

The seq in the value repeats the key: one C call decodes a whole ``Record``, and a value
that landed under the wrong key is detected.

Batches cross in one C call each way: ``encode_batch_into`` writes a msgpack array whose
elements are exactly the stored values (what the committer process receives), and
``split_batch`` gives those values back as they are; ``decode_values`` decodes many
stored values at once (the reader's chunk), ``decode_checked`` does so and checks each
against its key (compaction). A value that does not decode is a ``CorruptValueError``
naming its seq; ``BAD_VALUE`` is what the unchecked calls raise instead.

The catalog's small values (stream rows, format, seq floor) are plain msgpack:
``encode_msgpack`` / ``decode_msgpack``.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence

import msgspec

from .errors import CorruptValueError
from .record import KIND_CODE, Record

_KEY = struct.Struct(">Q")
encode_key = _KEY.pack


def decode_key(key: bytes) -> int:
    return _KEY.unpack(key)[0]


def encode_keys(first_seq: int, n: int) -> bytes:
    """The keys of seq ``first_seq`` .. ``first_seq + n - 1``, concatenated (one C call)."""
    a = array("Q", range(first_seq, first_seq + n))
    if sys.byteorder == "little":
        a.byteswap()  # keys are big-endian u64
    return a.tobytes()


# What msgspec raises for bytes that are not the expected value: its own DecodeError, and
# UnicodeDecodeError (not a DecodeError) for a string that is not UTF-8.
BAD_VALUE = (msgspec.DecodeError, UnicodeDecodeError)

_ENCODER = msgspec.msgpack.Encoder()
_RECORD_DECODER = msgspec.msgpack.Decoder(Record)
_RECORDS_DECODER = msgspec.msgpack.Decoder(list[Record])
_RAW_VALUES = msgspec.msgpack.Decoder(list[msgspec.Raw])
_DECODER = msgspec.msgpack.Decoder()
_ARRAY32 = b"\xdd"  # msgpack array32 marker: a u32 count follows, then the elements

encode_record = _ENCODER.encode  # one stored value
decode_record_fast = _RECORD_DECODER.decode  # one stored value, unchecked; raises BAD_VALUE
encode_msgpack = _ENCODER.encode
decode_msgpack = _DECODER.decode


def encode_batch_into(records: Sequence[Record], buf: bytearray) -> None:
    """Encode ``records`` into ``buf`` (replacing its content) as one msgpack array.

    Each element is exactly the value ``encode_record`` stores; ``split_batch`` gives
    them back. Encoding into a reused buffer costs no allocation per batch.
    """
    _ENCODER.encode_into(records, buf)


def split_batch(buf: bytes | memoryview) -> list[msgspec.Raw]:
    """The stored values of a batch ``encode_batch_into`` made, as they are (nothing decoded).

    Each element is a view of ``buf``: keep ``buf`` alive while they are used.
    """
    return _RAW_VALUES.decode(buf)


def decode_records(buf: bytes) -> list[Record]:
    """A msgpack array of stored values (array32 header + the values joined) in one call."""
    return _RECORDS_DECODER.decode(buf)


def decode_values(values: Sequence[bytes]) -> list[Record]:
    """Records of many stored values, in one C call; raises ``BAD_VALUE`` if any is not one.

    The values are joined behind one array header and decoded together: a record costs
    little more than its bytes' copy. Nothing is checked against keys: ``decode_checked``
    does that, and names the value that failed.
    """
    return _RECORDS_DECODER.decode(b"".join((_ARRAY32, len(values).to_bytes(4, "big"), *values)))


def decode_value(seq: int, value: bytes | memoryview) -> Record:
    """Decode one stored value under key ``seq``; raises ``CorruptValueError`` if it is not that record."""
    try:
        rec = _RECORD_DECODER.decode(value)
    except BAD_VALUE as exc:
        raise CorruptValueError(seq, _why_not(value, exc)) from None
    if rec.seq != seq:
        raise CorruptValueError(seq, f"value holds seq {rec.seq} under key {seq}")
    return rec


def decode_checked(first_seq: int, keys: Sequence[bytes], values: Sequence[bytes]) -> list[Record]:
    """Stored (key, value) pairs -> Records, checked: keys and seqs run ``first_seq``, +1, ...

    ``map`` runs the decoder over the values in C, with no Python frame per value; the
    keys are compared in one piece. Raises ``CorruptValueError`` naming the first bad
    pair: a key that is not the next u64 seq, a value that does not decode, or one that
    holds another seq than its key. Its message is whole (it names the seq).
    """
    n = len(values)
    if len(keys) != n:
        raise CorruptValueError(first_seq, f"{len(keys)} keys for {n} values")
    if not n:
        return []
    try:
        recs = list(map(_RECORD_DECODER.decode, values))
    except BAD_VALUE:
        recs = None
    if recs is not None and recs[0].seq == first_seq and recs[-1].seq == first_seq + n - 1 \
            and [r.seq for r in recs] == list(range(first_seq, first_seq + n)) \
            and b"".join(keys) == encode_keys(first_seq, n) and set(map(len, keys)) == {8}:
        return recs
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):  # find and name the culprit
        seq = first_seq + i
        if len(key) != 8:
            raise CorruptValueError(seq, f"key {bytes(key)!r} where seq {seq} was expected (not a u64)")
        if decode_key(key) != seq:
            raise CorruptValueError(seq, f"seq {decode_key(key)} where {seq} was expected")
        try:
            decode_value(seq, value)
        except CorruptValueError as exc:
            raise CorruptValueError(seq, f"seq {seq}: {exc.reason}") from None
    raise CorruptValueError(first_seq, f"seq {first_seq}..{first_seq + n - 1}: values do not decode as a batch")


def _why_not(value: bytes | memoryview, exc: Exception) -> str:
    """The reason a stored value is not a ``Record``, as precisely as it can be said."""
    try:
        fields = _DECODER.decode(value)
    except BAD_VALUE:
        return f"value does not decode: {exc}"
    if isinstance(fields, list) and len(fields) > 3 and fields[3] not in KIND_CODE:
        return f"unknown kind {fields[3]!r}"
    return f"value does not decode: {exc}"
