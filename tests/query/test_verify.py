"""What the archive checks (query/archive.py): digests, meta that JSON cannot carry (the
journal values compaction reads are checked by ``codec.decode_checked``: tests/recorder/journal/test_codec.py)."""

from __future__ import annotations

import hashlib

import pytest

import query.archive as archive
from query.archive import (
    ArchiveError,
    RawPartWriter,
    RecordDigest,
    check_file,
    digest_file,
    meta_text,
)
from recorder.journal import Record
from recorder.journal.codec import decode_columns, encode_key, encode_record


def write_part(path, chunks: list[list[Record]]) -> RawPartWriter:
    """A raw part of ``chunks`` of records, each added as the columns compaction decodes."""
    w = RawPartWriter(path)
    for chunk in chunks:
        w.add_columns(decode_columns(chunk[0].seq, [encode_key(r.seq) for r in chunk],
                                     [encode_record(r) for r in chunk], require=True))
    w.close()
    return w


def records(n: int, start: int = 1) -> list[Record]:
    return [Record(start + i, 10**18 + i * 1000, 1 + i % 3, "frame" if i % 5 else "rest",
                   f'{{"i":{i}}}'.encode(), None if i % 7 else {"status": 200, "url": f"u{i}"})
            for i in range(n)]


def test_digests_do_not_depend_on_batching(tmp_path, monkeypatch):
    recs = records(1000)
    one = RecordDigest()
    for r in recs:
        one.add_record(r)
    many = RecordDigest()
    for i in range(0, 1000, 333):
        chunk = recs[i:i + 333]
        many.add_many([encode_key(r.seq) for r in chunk], [r.payload for r in chunk],
                      [encode_record(r) for r in chunk])
    assert (one.count, one.payload, one.record) == (many.count, many.payload, many.record)
    # The payload digest is recorder verify's: blake2b-16 over (u64be seq + payload).
    h = hashlib.blake2b(digest_size=16)
    for r in recs:
        h.update(r.seq.to_bytes(8, "big") + r.payload)
    assert one.payload == h.hexdigest()

    monkeypatch.setattr(archive, "ROW_GROUP", 128)
    results = []
    for size in (1, 77, 1000):
        w = write_part(tmp_path / f"p{size}.parquet", [recs[i:i + size] for i in range(0, 1000, size)])
        results.append((w.columns.hexdigest, check_file(w.path)))
        d = digest_file(w.path)
        assert (d.count, d.payload, d.record) == (one.count, one.payload, one.record)
        before = digest_file(w.path, checksums=False)  # as a day written before checksums was digested
        assert (before.count, before.payload) == (one.count, one.payload) and before.record != one.record
        assert list(archive.iter_file(w.path)) == recs
    assert results[0] == results[1] == results[2]
    assert results[0][1] == (1000, results[0][0])
    # Another value in any column changes the file's check.
    r = recs[500]
    variants = [Record(r.seq + 1, r.ts_ns, r.stream, r.kind, r.payload, r.meta),
                Record(r.seq, r.ts_ns + 1, r.stream, r.kind, r.payload, r.meta),
                Record(r.seq, r.ts_ns, r.stream + 1, r.kind, r.payload, r.meta),
                Record(r.seq, r.ts_ns, r.stream, "sent", r.payload, r.meta),
                Record(r.seq, r.ts_ns, r.stream, r.kind, r.payload + b" ", r.meta),
                Record(r.seq, r.ts_ns, r.stream, r.kind, r.payload, {"status": 201}),
                Record(r.seq, r.ts_ns, r.stream, r.kind, b"", None)]
    seen = {results[0][0]}
    for i, v in enumerate(variants):
        w = write_part(tmp_path / f"other{i}.parquet", [recs[:500], [v], recs[501:]])
        got = check_file(w.path)
        assert got[1] == w.columns.hexdigest and got[1] not in seen, v
        seen.add(got[1])


def test_meta_json_cannot_carry_is_refused():
    assert meta_text(Record(1, 1, 1, "rest", b"", {"status": 200, "x": [1, 2.5, None, True]})) == (
        '{"status":200,"x":[1,2.5,null,true]}')
    with pytest.raises(ArchiveError, match="seq 7: meta"):
        meta_text(Record(7, 1, 1, "rest", b"", {"raw": b"\x00\x01"}))
    with pytest.raises(ArchiveError, match="seq 8: meta"):
        meta_text(Record(8, 1, 1, "rest", b"", {1: "int key"}))


def test_columns_make_the_same_file_and_digests_as_records(tmp_path, monkeypatch):
    """Compaction's raw path (chunks decoded as columns) writes the bytes that the same
    records, made arrays one Python value at a time (``add_to_columns``), write."""
    import pyarrow.parquet as pq
    monkeypatch.setattr(archive, "ROW_GROUP", 300)
    recs = records(1000)
    recs[3] = Record(4, recs[3].ts_ns, 2, "rest", b"", {})  # an empty meta map is not None
    keys = [encode_key(r.seq) for r in recs]
    values = [encode_record(r) for r in recs]
    by_recs, by_cols = RecordDigest(), RecordDigest()
    w = RawPartWriter(tmp_path / "cols.parquet")
    for i in range(0, 1000, 128):  # chunks that do not divide the row groups
        k, v = keys[i:i + 128], values[i:i + 128]
        by_recs.add_many(k, [r.payload for r in recs[i:i + 128]], v)
        cols = decode_columns(i + 1, k, v, require=True)
        by_cols.add_columns(k, v, cols)
        w.add_columns(cols)
    w.close()
    assert (by_recs.count, by_recs.payload, by_recs.record) == (by_cols.count, by_cols.payload, by_cols.record)
    with pq.ParquetWriter(tmp_path / "recs.parquet", archive.RAW_SCHEMA, **archive.PARQUET_OPTS) as ref:
        for i in range(0, 1000, 300):
            lists: tuple[list, ...] = ([], [], [], [], [], [])
            for r in recs[i:i + 300]:
                archive.add_to_columns(lists, r)
            ref.write_table(archive.columns_table(lists))
    assert (tmp_path / "recs.parquet").read_bytes() == w.path.read_bytes()
    assert (w.rows, w.first_seq, w.last_seq) == (1000, 1, 1000)
    assert check_file(w.path) == (1000, w.columns.hexdigest)
    assert list(archive.iter_file(w.path)) == recs


def test_columns_refuse_meta_json_cannot_carry(tmp_path):
    bad = Record(1, 1, 1, "rest", b"", {"raw": b"\x00\x01"})
    cols = decode_columns(1, [encode_key(1)], [encode_record(bad)], require=True)
    with pytest.raises(ArchiveError, match="seq 1: meta"):
        RawPartWriter(tmp_path / "x.parquet").add_columns(cols)
