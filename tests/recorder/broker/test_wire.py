"""The follower's cursor (no server): each record once, in order; repeats skipped, holes and
damage said, values in parts joined."""

from __future__ import annotations

import pytest

from recorder.journal import Record, StreamInfo
from recorder.journal.codec import encode_record
from recorder.journal.errors import CorruptValueError
from recorder.journal.remote import (
    RecordCursor,
    RemoteGapError,
    complete_last,
    encode_stream_info,
    encode_values,
    records_headers,
    stream_name,
    subjects,
)

REC, STR = subjects("")[:2]


def rec(seq: int, size: int = 10) -> Record:
    return Record(seq, 1_000 + seq, 1, "frame", bytes([seq % 256]) * size)


def msg(first: int, last: int) -> tuple[str, dict[str, str], bytes]:
    return REC, records_headers("", first, last), encode_values([encode_record(rec(s)) for s in range(first, last + 1)])


def test_names():
    assert stream_name("") == "TICKTAPE_MAIN" and stream_name("eu1") == "TICKTAPE_EU1"
    assert subjects("eu1") == ("ticktape.eu1.records", "ticktape.eu1.streams", "ticktape.eu1.>")
    assert subjects("eu1", "desk") == ("desk.eu1.records", "desk.eu1.streams", "desk.eu1.>")
    assert records_headers("", 3, 9)["Nats-Msg-Id"] == "main:3-9"


def test_each_record_once_in_order_repeats_skipped():
    c = RecordCursor("S", 1)
    info = StreamInfo(1, "okx", url="wss://x", channels=("trades",))
    assert c.feed(STR, {}, encode_stream_info(info)) == [] and c.streams == {1: info}
    assert [r.seq for r in c.feed(*msg(1, 5))] == [1, 2, 3, 4, 5]
    assert c.feed(*msg(1, 5)) == []  # a repeat (after a reconnect)
    assert [r.seq for r in c.feed(*msg(3, 8))] == [6, 7, 8]  # overlapping: only the new ones
    assert c.feed(*msg(9, 9))[0] == rec(9) and c.next_seq == 10


def test_a_hole_is_an_error_naming_it():
    c = RecordCursor("TICKTAPE_MAIN", 1)
    c.feed(*msg(1, 5))
    with pytest.raises(RemoteGapError, match="lacks seq 6..9") as err:
        c.feed(*msg(10, 12))
    assert (err.value.expected, err.value.got) == (6, 10)


def test_damage_and_wrong_spans_are_corrupt_values():
    subject, headers, body = msg(1, 3)
    bad = bytearray(body)
    bad[-3] ^= 0xFF  # inside the last value's checksum
    with pytest.raises(CorruptValueError) as err:
        RecordCursor("S", 1).feed(subject, headers, bytes(bad))
    assert err.value.seq == 3  # the damaged value is named, not the message's first
    with pytest.raises(CorruptValueError, match="holds 3 values"):
        RecordCursor("S", 1).feed(subject, records_headers("", 1, 4), body)
    with pytest.raises(CorruptValueError, match="not a ticktape records message"):
        RecordCursor("S", 1).feed(subject, {}, body)
    with pytest.raises(CorruptValueError, match="holds seq 1 at seq 2"):
        RecordCursor("S", 2).feed(subject, records_headers("", 2, 4), body)


def test_a_value_in_parts_is_joined():
    big = Record(1, 5, 1, "rest", b"z" * 1000)
    value = encode_record(big)
    parts = [value[i:i + 300] for i in range(0, len(value), 300)]
    n = len(parts)
    c = RecordCursor("S", 1)
    for i, part in enumerate(parts[:-1], 1):
        h = records_headers("", 1, 1, (i, n))
        assert complete_last(h) == 0
        assert c.feed(REC, h, part) == []
    assert c.feed(REC, records_headers("", 1, 1, (2, n)), parts[1]) == []  # a repeated part
    last = records_headers("", 1, 1, (n, n))
    assert complete_last(last) == 1 and c.feed(REC, last, parts[-1]) == [big]
    with pytest.raises(CorruptValueError, match="without the parts before it"):
        RecordCursor("S", 1).feed(REC, records_headers("", 1, 1, (2, n)), parts[1])


def test_credentials_in_a_broker_url_are_never_said():
    from recorder.journal.remote import BrokerUnreachableError, said_url

    assert said_url("nats://alice:s3cret@10.0.0.2:4222") == "nats://***@10.0.0.2:4222"
    assert said_url("nats://T0KEN@host:4222") == "nats://***@host:4222"
    assert said_url("nats://10.0.0.2:4222") == "nats://10.0.0.2:4222"
    err = BrokerUnreachableError("nats://alice:s3cret@10.0.0.2:4222", "refused")
    assert "s3cret" not in str(err) and "s3cret" not in err.url
