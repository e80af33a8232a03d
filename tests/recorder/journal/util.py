"""Helpers of the journal tests: small journals and a hand on their stored bytes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import lmdb

from recorder.journal import Record
from recorder.journal.codec import encode_key
from recorder.journal.writer import JournalWriter

ROOT = Path(__file__).resolve().parents[3]
MIDNIGHT = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def write(data: Path, n: int, *, start_ts: int = MIDNIGHT - 10**9, step: int = 1_000_000, **kw) -> list[Record]:
    kw.setdefault("background", False)
    with JournalWriter(data, **kw) as w:
        sid = w.register_stream("binance-usdm", market="usdm", url="wss://fstream.binance.com/public/stream")
        return [w.append(sid, "frame", b'{"i":%d}' % i, ts_ns=start_ts + i * step) for i in range(n)]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def poke(data: Path, seq: int, value: bytes) -> None:
    """Overwrite one stored value behind the writer's back (simulated corruption)."""
    seg = next(p for p in sorted((data / "journal").iterdir()) if p.name[:2] == "20")
    env = lmdb.open(str(seg), max_dbs=4, map_size=256 << 30)
    db = env.open_db(b"records")
    with env.begin(write=True) as txn:
        txn.put(encode_key(seq), value, db=db)
    env.close()


def stored(segment: Path) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of a segment read with bare lmdb: what raw_chunks must give."""
    env = lmdb.open(str(segment), max_dbs=4, readonly=True, lock=False, map_size=256 << 30)
    db = env.open_db(b"records", create=False)
    with env.begin() as txn:
        pairs = list(txn.cursor(db=db))
    env.close()
    return pairs


def segments(data: Path) -> list[Path]:
    """The day segments of a data directory, oldest first."""
    return sorted(p for p in (data / "journal").iterdir() if p.name[:2] == "20")


def rot(segment: Path, size: int = 64) -> int:
    """Bit rot: write ``size`` bytes of 0xFF into the middle of ``segment``'s data.mdb; the seq it hit.

    The bytes land inside the payload of the record stored nearest the middle of the file
    whose value has room for them (LMDB keeps stale copies of pages, so each place a value
    is found is tried until the live one changes). Asserts that exactly that record's
    value changed, in exactly those bytes, and every other record is as it was.
    """
    before = stored(segment)
    path = segment / "data.mdb"
    raw = path.read_bytes()
    middle = len(raw) // 2
    head = 40  # past the value's head, seq, time, stream, kind and payload length: inside the payload
    places = []
    for key, value in before:
        if len(value) < head + size + 16:
            continue
        at = raw.find(value)
        while at >= 0:
            places.append((abs(at - middle), at, key, value))
            at = raw.find(value, at + 1)
    for _, at, key, value in sorted(places):
        start = at + head
        with open(path, "r+b") as f:
            f.seek(start)
            f.write(b"\xff" * size)
        after = dict(stored(segment))
        if after[key] != value:
            want = value[:head] + b"\xff" * size + value[head + size:]
            assert after[key] == want
            assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before if k != key}
            return int.from_bytes(key, "big")
        with open(path, "r+b") as f:  # a stale copy: put it back, try the next
            f.seek(start)
            f.write(raw[start:start + size])
    raise AssertionError(f"no value of {segment} has room for {size} bytes")


FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The UPBIT capture imported by the code before checksums (``recorder import``): the catalog's
# and the day's data.mdb, as a zstd tar. Its stored bytes hash (tools.golden.journal_digest) to:
OLD_UPBIT_SHA256 = "560c6696c1e873cd661ec1149e5c50c0498436dd646e7588c34b95b034465fd9"
OLD_UPBIT_DAY = "2021-04-17"


def old_journal(data: Path) -> Path:
    """A data directory at ``data`` holding the journal written before checksums (see ``FIXTURES``)."""
    import io
    import tarfile

    import zstandard

    blob = zstandard.ZstdDecompressor().decompress((FIXTURES / "journal-v1-upbit.tar.zst").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(data, filter="data")
    return data
