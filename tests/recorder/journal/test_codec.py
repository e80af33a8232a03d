"""The one codec of the stored value: its exact bytes, batches both ways, and precise failures."""

from __future__ import annotations

import msgspec
import pytest

from recorder.journal import FRAME, KINDS, REST, Record
from recorder.journal.codec import (
    BAD_VALUE,
    decode_checked,
    decode_key,
    decode_value,
    decode_values,
    encode_batch_into,
    encode_key,
    encode_keys,
    encode_record,
    split_batch,
)
from recorder.journal.errors import CorruptValueError, JournalError

RECS = [Record(i, 1_700_000_000_000_000_000 + i, 1 + i % 2, KINDS[i % len(KINDS)], b"p%d" % i,
               {"url": "https://x", "status": 200} if i % 3 == 0 else None) for i in range(1, 40)]


def test_the_stored_bytes_are_the_msgpack_array_of_the_fields():
    # Pinned: these bytes are on disk in every journal; the codec must never change them.
    assert encode_record(Record(1, 2, 3, FRAME, b"x")) == b"\x96\x01\x02\x03\xa5frame\xc4\x01x\xc0"
    assert encode_record(Record(1, 2, 3, REST, b"x", {"url": "u"})) == \
        b"\x96\x01\x02\x03\xa4rest\xc4\x01x\x81\xa3url\xa1u"
    assert encode_key(258) == b"\x00\x00\x00\x00\x00\x00\x01\x02" and decode_key(encode_key(2**64 - 1)) == 2**64 - 1


def test_values_round_trip_and_kinds_are_the_shared_constants():
    for rec in RECS:
        got = decode_value(rec.seq, encode_record(rec))
        assert got == rec and got.kind is rec.kind
    five = msgspec.msgpack.encode([7, 1, 2, "mark", b"m"])  # no meta element at all
    assert decode_value(7, five) == Record(7, 1, 2, "mark", b"m", None)


def test_keys_of_a_run_are_the_keys_joined():
    assert encode_keys(250, 10) == b"".join(encode_key(s) for s in range(250, 260))
    assert encode_keys(5, 0) == b""


def test_a_batch_holds_exactly_the_stored_values_and_its_buffer_is_reused():
    buf = bytearray()
    encode_batch_into(RECS, buf)
    assert [bytes(v) for v in split_batch(bytes(buf))] == [encode_record(r) for r in RECS]
    encode_batch_into(RECS[:2], buf)  # a shorter batch replaces the content, nothing stays behind
    assert [bytes(v) for v in split_batch(bytes(buf))] == [encode_record(r) for r in RECS[:2]]
    assert bytes(split_batch(memoryview(buf))[1]) == encode_record(RECS[1])  # the child reads a mapping


def test_many_values_decode_in_one_call():
    values = [encode_record(r) for r in RECS]
    assert decode_values(values) == RECS
    assert decode_values([]) == []
    with pytest.raises(BAD_VALUE):
        decode_values([*values[:3], b"\xc1", *values[4:]])


@pytest.mark.parametrize("value,reason", [
    (encode_record(RECS[2])[:-3], "value does not decode"),
    (encode_record(RECS[2]).replace(b"\xa4open", b"\xa4opan"), "unknown kind 'opan'"),
    (encode_record(RECS[2]).replace(b"\xa4open", b"\xa4o\xffen"), "value does not decode"),
    (b"\xc1", "value does not decode"),
    (encode_record(RECS[5]), "value holds seq 6 under key 3"),
])
def test_a_bad_value_is_a_corrupt_value_error_saying_why(value, reason):
    assert RECS[2].kind == "open"
    with pytest.raises(CorruptValueError) as err:
        decode_value(3, value)
    assert err.value.seq == 3 and str(err.value).startswith(reason)
    assert isinstance(err.value, JournalError) and isinstance(err.value, ValueError)


def test_checked_batches_name_the_first_bad_pair():
    keys = [encode_key(r.seq) for r in RECS]
    values = [encode_record(r) for r in RECS]
    assert decode_checked(1, keys, values) == RECS
    assert decode_checked(9, [], []) == []

    def fails(k, v, first=1):
        with pytest.raises(CorruptValueError) as err:
            decode_checked(first, k, v)
        return err.value.seq, str(err.value)

    assert fails(keys, values, first=2) == (2, "seq 1 where 2 was expected")
    assert fails(keys[:5] + keys[6:], values[:5] + values[6:]) == (6, "seq 7 where 6 was expected")
    assert fails(keys[:5] + [b"\x00" * 7] + keys[6:], values) == (6, "key b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00' "
                                                                     "where seq 6 was expected (not a u64)")
    assert fails(keys, values[:9] + [values[12]] + values[10:]) == (10, "seq 10: value holds seq 13 under key 10")
    seq, text = fails(keys, values[:20] + [b"\xc1"] + values[21:])
    assert seq == 21 and text.startswith("seq 21: value does not decode")
    assert fails(keys[:-1], values) == (1, f"{len(keys) - 1} keys for {len(keys)} values")
