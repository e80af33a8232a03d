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
