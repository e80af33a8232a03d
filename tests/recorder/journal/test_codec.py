"""The one codec of the stored value: its exact bytes, checksums, batches both ways, and precise failures."""

from __future__ import annotations

import msgspec
import pytest

from recorder.journal import FRAME, KINDS, REST, Record
from recorder.journal.codec import (
    check_values,
    count_checked,
    crc,
    decode_checked,
    decode_key,
    decode_value,
    decode_values,
    encode_batch_into,
    encode_fields,
    encode_key,
    encode_keys,
    encode_record,
    has_checksum,
    seal,
    seal_batch,
)
from recorder.journal.errors import CorruptValueError, JournalError

RECS = [Record(i, 1_700_000_000_000_000_000 + i, 1 + i % 2, KINDS[i % len(KINDS)], b"p%d" % i,
               {"url": "https://x", "status": 200} if i % 3 == 0 else None) for i in range(1, 40)]


def crc_by_the_book(data: bytes) -> int:
    """CRC-32, polynomial 0x04C11DB7 reflected (0xEDB88320), initial value 0, no final xor: bit by bit."""
    c = 0
    for byte in data:
        c ^= byte
        for _ in range(8):
            c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
    return c


def test_the_stored_bytes_are_the_fields_and_their_checksum():
    # Pinned: these bytes are on disk in every journal written since checksums.
    assert encode_record(Record(1, 2, 3, FRAME, b"x")) == \
        b"\x97\x01\x02\x03\xa5frame\xc4\x01x\xc0" + b"\xc4\x04" + b"\xfflJ\xf1"
    assert encode_record(Record(1, 2, 3, REST, b"x", {"url": "u"})) == \
        b"\x97\x01\x02\x03\xa4rest\xc4\x01x\x81\xa3url\xa1u" + b"\xc4\x04" + b"\xa3\x1c\xce@"
    # ... and these in every journal written before them (format 1): they stay readable.
    assert encode_fields(Record(1, 2, 3, FRAME, b"x")) == b"\x96\x01\x02\x03\xa5frame\xc4\x01x\xc0"
    assert encode_fields(Record(1, 2, 3, REST, b"x", {"url": "u"})) == \
        b"\x96\x01\x02\x03\xa4rest\xc4\x01x\x81\xa3url\xa1u"
    assert encode_key(258) == b"\x00\x00\x00\x00\x00\x00\x01\x02" and decode_key(encode_key(2**64 - 1)) == 2**64 - 1


def test_the_checksum_is_the_crc_of_everything_before_it_and_a_whole_value_has_crc_zero():
    for rec in RECS:
        value = encode_record(rec)
        body, check = value[:-4], value[-4:]
        assert body[0] == 0x97 and body[1:-2] == encode_fields(rec)[1:] and body[-2:] == b"\xc4\x04"
        assert int.from_bytes(check, "little") == crc_by_the_book(body) == crc(body)
        assert crc(value) == 0 and crc_by_the_book(value) == 0
        assert has_checksum(value) and not has_checksum(encode_fields(rec))
        assert bytes(seal(encode_fields(rec))) == value
    # Whole values joined have CRC 0 too: a reader checks a chunk in one call.
    assert crc(b"".join(encode_record(r) for r in RECS)) == 0
    with pytest.raises(ValueError, match="six fields"):
        seal(msgspec.msgpack.encode([1, 2, 3, "mark", b"m"]))


def test_values_round_trip_and_kinds_are_the_shared_constants():
    for rec in RECS:
        got = decode_value(rec.seq, encode_record(rec), require=True)
        assert got == rec and got.kind is rec.kind
        assert decode_value(rec.seq, encode_fields(rec)) == rec  # written before checksums: unchecked
    five = msgspec.msgpack.encode([7, 1, 2, "mark", b"m"])  # no meta element at all (never written since)
    assert decode_value(7, five) == Record(7, 1, 2, "mark", b"m", None)


def damage(value: bytes, at: int, data: bytes = b"\xff" * 4) -> bytes:
    return value[:at] + data + value[at + len(data):]


def test_a_damaged_value_is_caught_by_its_checksum_even_when_it_still_decodes():
    rec = Record(5, 1_700_000_000_000_000_000, 1, FRAME, b'{"price":"100.5","qty":"2"}' * 4)
    value = encode_record(rec)
    bad = damage(value, 30)  # inside the payload: the value still decodes, to other bytes
    assert msgspec.msgpack.decode(bad, type=Record).payload != rec.payload
    with pytest.raises(CorruptValueError) as err:
        decode_value(5, bad)
    assert err.value.seq == 5 and err.value.reason == f"damaged: checksum mismatch (a value of {len(value)} bytes)"
    for at in range(1, len(value) - 3):  # any 4 bytes anywhere, seq, kind and checksum included
        with pytest.raises(CorruptValueError, match="damaged: checksum mismatch"):
            decode_value(5, damage(value, at))
    # A damaged head no longer says the value has a checksum: it is no array of a record either.
    for require in (False, True):
        with pytest.raises(CorruptValueError, match="value does not decode"):
            decode_value(5, damage(value, 0), require=require)
    # A head that says six elements: the checksum element is one too many.
    with pytest.raises(CorruptValueError, match="value does not decode"):
        decode_value(5, b"\x96" + value[1:], require=True)
    # In a segment written with checksums a value without one is damaged too.
    with pytest.raises(CorruptValueError, match="damaged: no checksum, in a segment written with checksums"):
        decode_value(5, encode_fields(rec), require=True)


def test_keys_of_a_run_are_the_keys_joined():
    assert encode_keys(250, 10) == b"".join(encode_key(s) for s in range(250, 260))
    assert encode_keys(5, 0) == b""


def test_a_batch_holds_the_fields_its_store_seals_and_its_buffer_is_reused():
    buf = bytearray()
    encode_batch_into(RECS, buf)
    rows = seal_batch(bytes(buf), 1, len(RECS))
    assert rows == [(encode_key(r.seq), encode_record(r)) for r in RECS]
    encode_batch_into(RECS[:2], buf)  # a shorter batch replaces the content, nothing stays behind
    assert seal_batch(memoryview(buf), 1, 2) == rows[:2]  # the child reads a mapping
    # A batch that is not what it is announced as is refused whole.
    with pytest.raises(ValueError, match="batch of 2 records announced as 3"):
        seal_batch(bytes(buf), 1, 3)
    with pytest.raises(ValueError, match="holds seq 1 where 2 was expected"):
        seal_batch(bytes(buf), 2, 2)
    with pytest.raises(ValueError, match="does not decode"):
        seal_batch(bytes(buf)[:-1], 1, 2)


def test_many_values_are_checked_and_decode_in_one_call():
    values = [encode_record(r) for r in RECS]
    old = [encode_fields(r) for r in RECS]
    assert decode_values(values) == RECS and decode_values(values, require=True) == RECS
    assert decode_values(old) == RECS  # written before checksums
    mixed = old[:20] + values[20:]  # a day a writer with checksums continued
    assert decode_values(mixed) == RECS
    assert decode_values([]) == []
    assert decode_values([*values[:3], b"\xc1", *values[4:]]) is None
    assert decode_values([*values[:3], damage(values[3], 12), *values[4:]]) is None
    assert decode_values([*mixed[:30], damage(mixed[30], 12), *mixed[31:]]) is None
    assert decode_values(mixed, require=True) is None  # a value without checksum where all must have one
    assert decode_values([*values[:3], b"", *values[4:]]) is None
    # How many carry none, or None when one is damaged.
    assert (check_values(values), check_values(old), check_values(mixed)) == (0, len(RECS), 20)
    assert check_values(mixed, require=True) is None and check_values([]) == 0
    assert check_values([*mixed[:30], damage(mixed[30], 12), *mixed[31:]]) is None
    assert check_values([*old[:5], damage(old[5], 12), *old[6:]]) == len(RECS)  # no checksum: nothing to see
    assert (count_checked(values), count_checked(old), count_checked(mixed)) == (len(RECS), 0, len(RECS) - 20)


@pytest.mark.parametrize("value,reason", [
    (encode_fields(RECS[2])[:-3], "value does not decode"),
    (encode_fields(RECS[2]).replace(b"\xa4open", b"\xa4opan"), "unknown kind 'opan'"),
    (encode_fields(RECS[2]).replace(b"\xa4open", b"\xa4o\xffen"), "value does not decode"),
    (bytes(seal(encode_fields(RECS[2]).replace(b"\xa4open", b"\xa4opan"))), "unknown kind 'opan'"),
    (b"\xc1", "value does not decode"),
    (encode_record(RECS[5]), "value holds seq 6 under key 3"),
    (encode_record(RECS[2])[:-3], "damaged: checksum mismatch"),
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
    odd = encode_record(Record(8, 1, 1, "nonsense", b""))
    assert fails(keys, values[:7] + [odd] + values[8:]) == (8, "seq 8: unknown kind 'nonsense'")
    seq, text = fails(keys, values[:20] + [b"\xc1"] + values[21:])
    assert seq == 21 and text.startswith("seq 21: value does not decode")
    value = values[30]
    assert fails(keys, values[:30] + [value[:20] + b"\xff" * 4 + value[24:]] + values[31:]) == (
        31, f"seq 31: damaged: checksum mismatch (a value of {len(value)} bytes)")
    assert fails(keys[:-1], values) == (1, f"{len(keys) - 1} keys for {len(keys)} values")
    old = [encode_fields(r) for r in RECS]
    assert decode_checked(1, keys, old) == RECS  # written before checksums
    with pytest.raises(CorruptValueError, match="seq 1: damaged: no checksum"):
        decode_checked(1, keys, old, require=True)


INT_EDGES = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
             -1, -32, -33, -128, -129, -32_768, -32_769, -2**31, -2**31 - 1, -2**63]


@pytest.mark.parametrize("n", [0, 1, 31, 32, 255, 256, 65_535, 65_536])
def test_what_msgspec_writes_the_rust_codec_reads_back_every_width_and_case(n):
    # The writer's bytes are msgspec's (encode_batch_into); every check and decode is Rust's:
    # each int width, bin length and meta case must read back as the record written.
    metas = [None, {}, {"url": "https://x", "status": 200}, {"wall_ns": 2**63 - 1, "bin": True, "x": [1.5, None, "é"]}]
    recs = [Record(seq, ts, stream, KINDS[i % len(KINDS)], bytes(range(256)) * (n // 256) + b"p" * (n % 256),
                   metas[i % len(metas)])
            for i, (seq, ts, stream) in enumerate(zip(INT_EDGES, reversed(INT_EDGES), INT_EDGES[3:] + INT_EDGES[:3],
                                                      strict=True))]
    for rec in recs:
        for value in (encode_record(rec), encode_fields(rec)):
            if rec.seq >= 0:
                assert decode_value(rec.seq, value) == rec
    buf = bytearray()
    run = [msgspec.structs.replace(r, seq=s) for s, r in enumerate(recs, 1)]
    encode_batch_into(run, buf)
    rows = seal_batch(buf, 1, len(run))
    assert [v for _, v in rows] == [encode_record(r) for r in run]
    assert decode_values([v for _, v in rows], require=True) == run


def test_an_unknown_kind_is_named_whatever_its_type():
    for kind, said in [("opan", "unknown kind 'opan'"), (5, "unknown kind 5"), (None, "unknown kind None")]:
        value = msgspec.msgpack.encode([3, 1, 1, kind, b"x", None])
        with pytest.raises(CorruptValueError) as err:
            decode_value(3, value)
        assert err.value.reason == said
    # A meta map with a key that is no str: the value does not decode (as msgspec said).
    with pytest.raises(CorruptValueError, match="value does not decode"):
        decode_value(3, msgspec.msgpack.encode([3, 1, 1, "frame", b"x", {1: 2}]))
