"""The one codec of the stored journal value: every encode and decode of it is here.

key   = big-endian u64 seq (so LMDB's byte order is seq order)
value = msgpack array ``[seq, ts_ns, stream, kind, payload, meta, check]``: ``payload``
        is msgpack bin, the bytes exactly as received; ``kind`` the kind's name (a str);
        ``meta`` a map, or nil when the record has none; ``check`` a msgpack bin of 4
        bytes (``c4 04`` + 4), the checksum of every byte of the value before those 4

The checksum is CRC-32 with zlib's polynomial (reflected, as ``zlib.crc32``) computed
with initial value 0 and no final xor, stored little-endian: the CRC of a whole,
undamaged value is then 0, and so is the CRC of any run of whole values joined, which
is how a reader checks a chunk of 4096 values in one C call (``crc``). It covers every
field: the seq, the time, the stream, the kind, the payload and the meta.

Values written before checksums (segment format 1, ``encode_fields``) are the array of
the first six elements alone (``[seq, ts_ns, stream, kind, payload(, meta)]``); they
still read, unchecked. The array's length tells the two apart (``0x97``, seven
elements: a value with a checksum), and a decoder of the record type ignores the
seventh element, so one C call decodes a chunk of either or both. A segment written
with checksums (format 2, its meta says so) holds none without one: there, a value
without a checksum is damaged too.

The seq in the value repeats the key: one C call decodes a whole ``Record``, and a value
that landed under the wrong key is detected.

Batches cross in one C call each way: ``encode_batch_into`` writes a msgpack array whose
elements are the records' fields (what the committer process receives), ``split_batch``
gives those back as they are, and ``seal`` adds the checksum as the value is stored
(``store.SegmentStore.put``, in the committer process when there is one).
``decode_values`` checks and decodes many stored values at once (the reader's chunk),
``decode_checked`` does so and checks each against its key (compaction). A value that is
damaged (its checksum does not match), does not decode, or holds another seq than its
key is a ``CorruptValueError`` naming its seq (``decode_value``, ``decode_checked``).

The catalog's small values (stream rows, format, seq floor) are plain msgpack:
``encode_msgpack`` / ``decode_msgpack``.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from itertools import compress
from operator import itemgetter

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

FIELDS = 0x96  # msgpack fixarray of 6: a record's fields (``encode_fields``); a value without checksum
SEALED = 0x97  # fixarray of 7: the fields and the checksum element; a value with a checksum
CHECK_TAG = b"\xc4\x04"  # msgpack bin 8 of 4 bytes: the checksum element's head
CHECK_SIZE = len(CHECK_TAG) + 4  # bytes a checksum adds to a value
_SEALED_HEAD = bytes([SEALED])
_ONES = 0xFFFFFFFF
_crc32 = zlib.crc32
_U32LE = struct.Struct("<I").pack
_HEAD = itemgetter(slice(0, 1))  # a value's first byte, as bytes (b"" for an empty value)

encode_fields = _ENCODER.encode  # the record's fields: a value as written before checksums (format 1)
encode_msgpack = _ENCODER.encode
decode_msgpack = _DECODER.decode


def crc(data: bytes | bytearray | memoryview) -> int:
    """CRC-32 of ``data`` (zlib's polynomial) with initial value 0 and no final xor.

    What a value's checksum is; 0 for a whole value with its checksum, and for any run
    of whole values joined (the CRC is linear and starts from 0).
    """
    return _crc32(data, _ONES) ^ _ONES


def seal(fields: bytes | bytearray | memoryview | msgspec.Raw) -> bytearray:
    """The stored value of a record's fields (``encode_fields``): they with their checksum.

    The array's head becomes ``SEALED`` and the checksum element follows the fields;
    bytes-like in, a bytearray out (LMDB stores it as it is). Raises ``ValueError`` for
    bytes that are not six fields (an array of another length).
    """
    value = bytearray(fields)
    if not value or value[0] != FIELDS:
        raise ValueError(f"not a record's six fields: {bytes(value[:1])!r}...")
    value[0] = SEALED
    value += CHECK_TAG
    value += _U32LE(_crc32(value, _ONES) ^ _ONES)  # crc(value), inlined: this runs once per record written
    return value


def encode_record(rec: Record) -> bytes:
    """The stored value of ``rec``, as the writer stores it: its fields and their checksum."""
    return bytes(seal(_ENCODER.encode(rec)))


def has_checksum(value: bytes | bytearray | memoryview) -> bool:
    """Whether a stored value carries a checksum (a seven-element array)."""
    return value[:1] == _SEALED_HEAD


def count_checked(values: Iterable[bytes]) -> int:
    """How many of ``values`` carry a checksum (their first byte, in C)."""
    return b"".join(map(_HEAD, values)).count(SEALED)


def check_values(values: Sequence[bytes], joined: bytes | memoryview | None = None, *,
                 require: bool = False) -> int | None:
    """How many of ``values`` carry no checksum, or None when one is damaged.

    ``joined``: the values joined (the caller's, when it has made them so). A chunk whose
    values all carry checksums is checked by one CRC over the whole chunk; otherwise the
    values with one are checked one by one. ``require`` (a segment written with
    checksums): a value without one is damaged too. None says only that something failed
    here: ``decode_value`` says which value, and why.
    """
    n = len(values)
    if not n:
        return 0
    if require or values[0][:1] == _SEALED_HEAD:  # most likely all sealed: one CRC for the chunk
        if crc(b"".join(values) if joined is None else joined) == 0:
            return 0  # (an unsealed value among them makes the CRC 0 only by a 2**-32 chance)
        if require:
            return None
    heads = b"".join(map(_HEAD, values))
    if len(heads) != n:
        return None  # an empty value
    checked = heads.count(SEALED)
    if checked:
        sealed = compress(values, map(SEALED.__eq__, heads))
        if any(map(_ONES.__ne__, map(_crc32, sealed, [_ONES] * checked))):  # crc32(v, ~0) == ~0 <=> crc(v) == 0
            return None
    return n - checked


def encode_batch_into(records: Sequence[Record], buf: bytearray) -> None:
    """Encode ``records`` into ``buf`` (replacing its content) as one msgpack array.

    Each element is a record's fields, exactly as ``encode_fields`` makes them:
    ``split_batch`` gives them back and ``seal`` makes each the stored value. Encoding
    into a reused buffer costs no allocation per batch.
    """
    _ENCODER.encode_into(records, buf)


def split_batch(buf: bytes | memoryview) -> list[msgspec.Raw]:
    """The elements of a batch ``encode_batch_into`` made, as they are (nothing decoded).

    Each element is a view of ``buf``: keep ``buf`` alive while they are used.
    """
    return _RAW_VALUES.decode(buf)


def decode_values(values: Sequence[bytes], *, require: bool = False) -> list[Record] | None:
    """Records of many stored values, checked and decoded in one C call each; None if any is damaged.

    The values are joined behind one array header: one CRC checks them all (``check_values``)
    and one call decodes them, so a record costs little more than its bytes' copy. None
    when a value is damaged, lacks a checksum where ``require``d, or does not decode:
    ``decode_value`` names it. Nothing is checked against keys: ``decode_checked`` does that.
    """
    n = len(values)
    joined = b"".join((_ARRAY32, n.to_bytes(4, "big"), *values))
    if check_values(values, memoryview(joined)[5:], require=require) is None:
        return None
    try:
        return _RECORDS_DECODER.decode(joined)
    except BAD_VALUE:
        return None


def decode_value(seq: int, value: bytes | memoryview, *, require: bool = False) -> Record:
    """Decode one stored value under key ``seq``; raises ``CorruptValueError`` if it is not that record.

    A value with a checksum is checked first: when it does not match, the value is
    damaged, whatever it decodes to. ``require``: a value without a checksum is damaged
    too (it is in a segment written with checksums), said so when it decodes (bytes
    that do not are said to be that).
    """
    sealed = value[:1] == _SEALED_HEAD
    if sealed and crc(value) != 0:
        raise CorruptValueError(seq, f"damaged: checksum mismatch (a value of {len(value)} bytes)")
    try:
        rec = _RECORD_DECODER.decode(value)
    except BAD_VALUE as exc:
        raise CorruptValueError(seq, _why_not(value, exc)) from None
    if require and not sealed:
        raise CorruptValueError(seq, "damaged: no checksum, in a segment written with checksums")
    if rec.seq != seq:
        raise CorruptValueError(seq, f"value holds seq {rec.seq} under key {seq}")
    return rec


def decode_checked(first_seq: int, keys: Sequence[bytes], values: Sequence[bytes], *,
                   require: bool = False) -> list[Record]:
    """Stored (key, value) pairs -> Records, checked: checksums match, keys and seqs run ``first_seq``, +1, ...

    One CRC and one decode for the whole run (``decode_values``); the keys are compared
    in one piece. Raises ``CorruptValueError`` naming the first bad pair: a key that is
    not the next u64 seq, a damaged value (its checksum does not match; or it has none
    where ``require``d), one that does not decode, or one that holds another seq than its
    key. Its message is whole (it names the seq).
    """
    n = len(values)
    if len(keys) != n:
        raise CorruptValueError(first_seq, f"{len(keys)} keys for {n} values")
    if not n:
        return []
    recs = decode_values(values, require=require)
    if recs is not None and len(recs) == n and recs[0].seq == first_seq and recs[-1].seq == first_seq + n - 1 \
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
            decode_value(seq, value, require=require)
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
