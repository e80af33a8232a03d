"""Snapshots and digests (``state.digest``): the same state gives the same bytes whatever
the batching, restore points or hash seed; the parts are those of the format written
before the re-housing (FORMAT 3 holds the same parts as FORMAT 2 wherever no tape compacted
sooner); anything else is refused with a typed error."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.record import FRAME, Record, StreamInfo
from state import digest
from state.errors import SnapshotFormatError, StateError
from state.projector import Projector

# blake2b of Projector.snapshot() after the first N records, computed with the code
# before the re-housing (commit 2b5145b), FORMAT 2. FORMAT 3 changed when a tape forgets
# evicted trades (from 64 on, not 4,096), not the layout: none of these tapes reaches 64,
# so the parts are the same and only the version in front differs (``as_format_2``).
MIXED_BEFORE = {
    1294: "0aa66f99314bcc5aa6cfa70532e3269c96232b0db6ddfaf56b70fa6f3521150f",
    4313: "b3996b36dacb4702bab487d24a3070c9ee46533b67ab26f7f7e4f97e4a392f8f",
}
HFT_BEFORE = {
    54: "32ba3a3e2cab47af64268049131b72e4a5fb874811797385f5138f435ceaa27f",  # 6 deltas buffered
    40_000: "7c909c8af0f6da7058daf772eda19767d3ecdfa9836393bc8e018307c0b22879",  # 43 tickers waiting
}


def as_format_2(blob: bytes) -> bytes:
    """A FORMAT 3 snapshot framed as FORMAT 2 (the same parts, the old version in front)."""
    return msgpack.packb([2, *digest.decode(blob)], use_bin_type=True)


def test_snapshot_parts_are_those_written_before_the_rehousing(mixed, capture_records):
    streams, records = mixed
    for cut, want in MIXED_BEFORE.items():
        p = Projector(streams)
        p.apply_many(records[:cut])
        assert digest.digest_of(as_format_2(p.snapshot())) == want, cut
        assert p.digest() != want  # the version is part of the digest
        assert Projector.restore(p.snapshot(), streams).snapshot() == p.snapshot()
    streams, records = capture_records("hftbacktest")
    for cut, want in HFT_BEFORE.items():
        p = Projector(streams)
        p.apply_many(records[:cut])
        assert digest.digest_of(as_format_2(p.snapshot())) == want, cut
    waiting = p.book("binance-usdm", "BTCUSDT").state()[-1]  # [u, bid, bid_sz, ask, ask_sz, seq]
    assert len(waiting) == 43 and all(t[0] > p.book("binance-usdm", "BTCUSDT").last_id for t in waiting)


def test_the_layout_is_the_documented_one(capture_records):
    streams, records = capture_records("hftbacktest")
    p = Projector(streams, depth_levels=7)
    p.apply_many(records[:54])  # the book is still waiting for its snapshot
    fmt, config, last_seq, ts_ns, stream_ts, counters, symbols = msgpack.unpackb(
        p.snapshot(), raw=False, strict_map_key=False)
    assert fmt == digest.FORMAT == 3 and config[:2] == [7, [60, 300, 900]]
    assert (last_seq, ts_ns) == (54, records[53].ts_ns) and stream_ts == [[1, records[53].ts_ns]]
    assert counters == p.counters_.state()
    [st] = symbols
    st_now = p.symbol_state("binance-usdm", "BTCUSDT")
    assert st == msgpack.unpackb(msgpack.packb(st_now.state()), raw=False, strict_map_key=False)
    book = st[3]
    assert book[:2] == ["binance-usdm", 7] and book[5] is False and len(book[9]) == 6  # buffered
    assert digest.encode(digest.decode(p.snapshot())) == p.snapshot()


def test_digest_is_the_same_in_one_pass_in_random_batches_and_across_restores(mixed):
    streams, records = mixed
    reference = Projector(streams)
    for r in records:
        reference.apply(r)
    want = reference.digest()
    rng = random.Random(7)
    for trial in range(3):
        p = Projector(streams)
        i = 0
        while i < len(records):
            n = rng.choice((1, 1, 2, 3, 17, 250, 4000))
            p.apply_many(records[i:i + n])
            i += n
        assert p.digest() == want, trial
    # snapshot/restore at several points, continuing each time from the restored copy
    p = Projector(streams)
    cuts = sorted(rng.sample(range(1, len(records)), 4))
    start = 0
    for cut in cuts + [len(records)]:
        p.apply_many(records[start:cut])
        blob = p.snapshot()
        p = Projector.restore(blob, streams)
        assert p.snapshot() == blob and p.last_seq == cut
        start = cut
    assert p.digest() == want
    assert p.to_json() == reference.to_json()
    assert p.symbols() == reference.symbols() and len(p.symbols()) > 50


def test_an_lmdb_checkpoint_mid_way_reaches_the_same_digest(mixed, tmp_path):
    streams, records = mixed
    whole = Projector(streams)
    whole.apply_many(records)
    half = len(records) // 2
    p = Projector(streams)
    p.apply_many(records[:half])
    LmdbCheckpointStore(tmp_path / "ck").save(p.last_seq, p.snapshot())
    del p
    seq, blob = LmdbCheckpointStore(tmp_path / "ck").load()
    q = Projector.restore(blob, streams)
    assert seq == half and q.last_seq == half
    q.apply_many(records[half:])
    assert q.digest() == whole.digest()
    # and the digest really tracks the state: one record less is another digest
    short = Projector(streams)
    short.apply_many(records[:-1])
    assert short.digest() != whole.digest()


DIGEST_SCRIPT = """
import sys
from recorder.journal.reader import JournalReader
from state.projector import Projector
with JournalReader(sys.argv[1]) as r:
    p = Projector(r.streams())
    p.apply_many(r.read())
print(p.digest())
"""


@pytest.mark.parametrize("name", ["OKX", "KUCOIN"])
def test_digest_is_the_same_in_other_processes_whatever_their_hash_seed(name, capture_journal,
                                                                         capture_records):
    """String hashing is randomized per process: no state may depend on set or hash order."""
    streams, records = capture_records(name)
    p = Projector(streams)
    p.apply_many(records)
    root = Path(__file__).resolve().parents[2]
    got = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        run = subprocess.run([sys.executable, "-c", DIGEST_SCRIPT, str(capture_journal(name))],
                             capture_output=True, text=True, env=env, cwd=root, timeout=120)
        assert run.returncode == 0, run.stderr
        got.add(run.stdout.strip())
    assert got == {p.digest()}


def test_hftbacktest_restore_mid_way_matches_one_pass(capture_records):
    streams, records = capture_records("hftbacktest")
    a = Projector(streams)
    a.apply_many(records)
    b = Projector(streams)
    b.apply_many(records[:40_000])
    b = Projector.restore(b.snapshot(), streams)
    b.apply_many(records[40_000:])
    assert a.digest() == b.digest()
    assert b.book("binance-usdm", "BTCUSDT").ticker_ok == 629


def test_digest_changes_with_state():
    info = {1: StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream")}
    p = Projector(info)
    empty = p.digest()
    p.apply(Record(1, 10, 1, FRAME, b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,'
                                     b'"s":"BTCUSDT","t":1,"p":"10","q":"1","m":true}}', None))
    assert p.digest() != empty and len(p.digest()) == 64
    assert p.digest() == digest.digest_of(p.snapshot())


def test_other_blobs_are_refused_with_a_typed_error():
    good = msgpack.unpackb(Projector().snapshot(), raw=False)
    older = msgpack.packb([1, *good[1:]])  # the layout before tape columns were bytes
    format2 = msgpack.packb([2, *good[1:]])  # tapes that kept up to 4,096 evicted trades
    cases = [(older, 1, "format 1"), (format2, 2, "format 2"), (b"\xc1", None, "FormatError"),
             (msgpack.packb({"a": 1}), None, "a msgpack dict"), (b"", None, "ValueError"),
             (msgpack.packb(good[:-1]), None, "5 parts, not 6")]
    for blob, got, why in cases:
        with pytest.raises(SnapshotFormatError, match="not a projector snapshot of format 3") as e:
            Projector.restore(blob)
        assert e.value.got == got and e.value.expected == 3 and why in str(e.value)
        assert isinstance(e.value, StateError) and isinstance(e.value, ValueError)


def test_sync_only_is_said_again_on_restore():
    p = Projector(sync_only=True)
    assert Projector.restore(p.snapshot()).sync_only is False
    assert Projector.restore(p.snapshot(), sync_only=True).sync_only is True


def test_rows_packed_one_by_one_are_the_bytes_of_the_whole_list(capture_records):
    streams, records = capture_records("OKX")
    p = Projector(streams)
    p.apply_many(records)
    parts = digest.decode(p.snapshot())
    assert digest.encode_rows(parts[:-1], iter(parts[-1]), len(parts[-1])) == digest.encode(parts)
    assert p.snapshot() == digest.encode(parts) and len(parts[-1]) > 1
    with pytest.raises(ValueError, match="1 rows packed, not 2"):
        digest.encode_rows(parts[:-1], iter(parts[-1][:1]), 2)
