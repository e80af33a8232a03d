"""The one codec of the stored journal value: every encode and decode of it is here.

key   = big-endian u64 seq (so LMDB's byte order is seq order)
value = msgpack array ``[seq, ts_ns, stream, kind, payload, meta, check]``: ``payload``
        is msgpack bin, the bytes exactly as received; ``kind`` the kind's name (a str);
        ``meta`` a map, or nil when the record has none; ``check`` a msgpack bin of 4
        bytes (``c4 04`` + 4), the checksum of every byte of the value before those 4

The checksum is CRC-32 with zlib's polynomial (reflected, as ``zlib.crc32``) computed
with initial value 0 and no final xor, stored little-endian: the CRC of a whole,
undamaged value is then 0, and so is the CRC of any run of whole values joined (``crc``).
It covers every field: the seq, the time, the stream, the kind, the payload and the meta.

Values written before checksums (segment format 1, ``encode_fields``) are the array of
the first six elements alone (``[seq, ts_ns, stream, kind, payload(, meta)]``); they
still read, unchecked. The array's length tells the two apart (``0x97``, seven
elements: a value with a checksum), and the decoder ignores elements past the sixth
once checked, so one call decodes a chunk of either or both. A segment written
with checksums (format 2, its meta says so) holds none without one: there, a value
without a checksum is damaged too.

The seq in the value repeats the key: a value decodes to a whole ``Record`` alone, and a
value that landed under the wrong key is detected.

The checks and the decoding are Rust's (``ticktape_core``, the crate ``ticktape``'s
``journal`` module): this module is the Python API over them, and every batch crosses
once. ``encode_batch_into`` writes a msgpack array whose elements are the records'
fields (msgspec, in the writer's process: what the committer receives), and
``seal_batch`` keys and seals a whole batch for LMDB's ``putmulti`` (in the committer
process when there is one). ``decode_values`` checks and decodes a chunk of stored
values (the reader's), ``decode_checked`` does so and checks each against its key
(verify, compaction). A value that is damaged (its checksum does not match), does not
decode, or holds another seq than its key is a ``CorruptValueError`` naming its seq
(``decode_value``, ``decode_checked``).

The catalog's small values (stream rows, format, seq floor) are plain msgpack:
``encode_msgpack`` / ``decode_msgpack``.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any

import msgspec
import ticktape_core as _core

from .errors import CorruptValueError
from .record import KINDS, Record

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


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
# Rust makes the records; a meta map (rare: most records have none) is decoded by msgspec.
_RECORDS = _core.RecordCodec(Record, list(KINDS), msgspec.msgpack.Decoder(dict[str, Any] | None).decode)

FIELDS = 0x96  # msgpack fixarray of 6: a record's fields (``encode_fields``); a value without checksum
SEALED = 0x97  # fixarray of 7: the fields and the checksum element; a value with a checksum
CHECK_TAG = b"\xc4\x04"  # msgpack bin 8 of 4 bytes: the checksum element's head
CHECK_SIZE = len(CHECK_TAG) + 4  # bytes a checksum adds to a value

encode_fields = _ENCODER.encode  # the record's fields: a value as written before checksums (format 1)
encode_msgpack = _ENCODER.encode
decode_msgpack = _DECODER.decode



def crc(data: bytes | bytearray | memoryview) -> int:
    """CRC-32 of ``data`` (zlib's polynomial) with initial value 0 and no final xor.

    What a value's checksum is; 0 for a whole value with its checksum, and for any run
    of whole values joined (the CRC is linear and starts from 0).
    """
    return _core.crc(data)


def seal(fields: bytes | bytearray | memoryview) -> bytes:
    """The stored value of a record's fields (``encode_fields``): they with their checksum.

    The array's head becomes ``SEALED`` and the checksum element follows the fields.
    Raises ``ValueError`` for bytes that are not six fields (an array of another length).
    """
    return _core.seal(fields)


def seal_batch(batch: bytes | bytearray | memoryview, first_seq: int, count: int) -> list[tuple[bytes, bytes]]:
    """(key, stored value) of every record of a batch (``encode_batch_into``), in one call.

    Keys run ``first_seq``, +1, ...; each value is sealed (``seal``). Raises
    ``ValueError`` for a batch that is not ``count`` records' fields holding those seqs.
    What LMDB's ``putmulti(append=True)`` stores.
    """
    return _core.seal_batch(batch, first_seq, count)


def encode_record(rec: Record) -> bytes:
    """The stored value of ``rec``, as the writer stores it: its fields and their checksum."""
    return _core.seal(_ENCODER.encode(rec))


def has_checksum(value: bytes | bytearray | memoryview) -> bool:
    """Whether a stored value carries a checksum (a seven-element array)."""
    return _core.has_checksum(value)


def count_checked(values: Sequence[bytes]) -> int:
    """How many of ``values`` carry a checksum."""
    return _core.count_checked(values)


def check_values(values: Sequence[bytes], *, require: bool = False) -> int | None:
    """How many of ``values`` carry no checksum, or None when one is damaged.

    ``require`` (a segment written with checksums): a value without one is damaged too.
    None says only that something failed here: ``decode_value`` says which value, and why.
    """
    return _core.check_values(values, require=require)


def encode_batch_into(records: Sequence[Record], buf: bytearray) -> None:
    """Encode ``records`` into ``buf`` (replacing its content) as one msgpack array.

    Each element is a record's fields, exactly as ``encode_fields`` makes them:
    ``seal_batch`` keys and seals them. Encoding into a reused buffer costs no
    allocation per batch.
    """
    _ENCODER.encode_into(records, buf)


def decode_values(values: Sequence[bytes], *, require: bool = False) -> list[Record] | None:
    """Records of many stored values, checked and decoded in one call; None if any is damaged.

    None when a value is damaged, lacks a checksum where ``require``d, or does not decode:
    ``decode_value`` names it. Nothing is checked against keys: ``decode_checked`` does that.
    """
    return _RECORDS.decode_values(values, require=require)


def decode_value(seq: int, value: bytes | memoryview, *, require: bool = False) -> Record:
    """Decode one stored value under key ``seq``; raises ``CorruptValueError`` if it is not that record.

    A value with a checksum is checked first: when it does not match, the value is
    damaged, whatever it decodes to. ``require``: a value without a checksum is damaged
    too (it is in a segment written with checksums), said so when it decodes (bytes
    that do not are said to be that).
    """
    got = _RECORDS.decode_value(seq, value, require=require)
    if type(got) is str:
        raise CorruptValueError(seq, got)
    return got


def decode_checked(first_seq: int, keys: Sequence[bytes], values: Sequence[bytes], *,
                   require: bool = False) -> list[Record]:
    """Stored (key, value) pairs -> Records, checked: checksums match, keys and seqs run ``first_seq``, +1, ...

    One call for the whole run. Raises ``CorruptValueError`` naming the first bad pair:
    a key that is not the next u64 seq, a damaged value (its checksum does not match; or
    it has none where ``require``d), one that does not decode, or one that holds another
    seq than its key. Its message is whole (it names the seq).
    """
    got = _RECORDS.decode_checked(first_seq, keys, values, require=require)
    if type(got) is tuple:
        raise CorruptValueError(*got)
    return got


Columns = _core.Columns  # a chunk as columns: int64 seq/ts_ns/stream, u8 kind codes, payloads + offsets


def decode_columns(first_seq: int, keys: Sequence[bytes] | None, values: Sequence[bytes], *,
                   require: bool = False) -> Columns:
    """A chunk as columns (no ``Record`` objects), checked as ``decode_checked`` checks it.

    ``keys`` None: the values are those stored under ``first_seq``, +1, ... (a cursor walk
    that took no keys), and each must hold its seq. Columns hold the int fields as native
    int64 bytes (``memoryview(c.ts_ns).cast("q")``), kinds as codes (index in ``KINDS``),
    payloads and meta maps (msgpack) as one buffer each with int64 offsets: Arrow's large
    binary layout. Raises ``CorruptValueError`` like ``decode_checked`` (and for an int
    that does not fit int64); with ``keys`` None its reason is the value's alone (a
    reader names the seq with its segment).
    """
    got = _core.decode_columns(first_seq, keys, values, require=require)
    if type(got) is tuple:
        raise CorruptValueError(*got)
    return got
