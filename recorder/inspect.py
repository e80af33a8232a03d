"""What is in a journal: status, verification and record rendering (no printing here)."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import lmdb

from .journal import CorruptRecordError, Record
from .journal.codec import decode_key, decode_value
from .journal.errors import CorruptValueError
from .journal.reader import JournalReader


def status(reader: JournalReader, now_ns: int) -> dict[str, Any]:
    """Summary of a journal; reads every record (counts by kind and stream)."""
    kinds: Counter[str] = Counter()
    by_stream: Counter[int] = Counter()
    first_ts = last_ts = None
    records = 0
    for rec in reader.read():
        kinds[rec.kind] += 1
        by_stream[rec.stream] += 1
        if first_ts is None:
            first_ts = rec.ts_ns
        last_ts = rec.ts_ns
        records += 1
    streams = reader.streams()
    return {
        "first_seq": reader.first_seq,
        "last_seq": reader.last_seq,
        "records": records,
        "first_ts_ns": first_ts,
        "last_ts_ns": last_ts,
        "newest_age_s": None if last_ts is None else round((now_ns - last_ts) / 1e9, 3),
        "segments": [
            {"day": s.day, "first_seq": s.first_seq, "last_seq": s.last_seq,
             "records": s.records, "bytes": s.bytes}
            for s in reader.segments()
        ],
        "streams": [
            {"id": sid, "venue": s.venue, "market": s.market, "url": s.url, "conn": s.conn,
             "channels": list(s.channels), "records": by_stream.get(sid, 0)}
            for sid, s in sorted(streams.items())
        ],
        "kinds": dict(sorted(kinds.items())),
        "by_stream": {str(k): v for k, v in sorted(by_stream.items())},
        "seq_floor": reader.meta.get("seq_floor", 0),
    }


@dataclass
class Problem:
    segment: str
    seq: int
    what: str

    def __str__(self) -> str:
        return f"segment {self.segment} seq {self.seq}: {self.what}"


@dataclass
class Verification:
    records: int = 0
    segments: int = 0
    problems: list[Problem] = field(default_factory=list)
    digest: str = ""  # blake2b over (seq, payload) in order: compare with the archive manifest

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(reader: JournalReader, *, max_problems: int = 100) -> Verification:
    """Check gapless seq across segments, decodable values, known streams, monotone time.

    Reads raw key/values (not ``read()``) so that one corrupt value is reported and the
    walk goes on.
    """
    out = Verification()
    streams = reader.streams()
    floor = int(reader.meta.get("seq_floor", 0) or 0)
    expected = floor + 1
    last_ts = None
    h = hashlib.blake2b(digest_size=16)

    def problem(seg: str, seq: int, what: str) -> None:
        if len(out.problems) < max_problems:
            out.problems.append(Problem(seg, seq, what))

    for seg_info in reader.segments():
        out.segments += 1
        try:
            for key, value in reader.iter_raw(seg_info.day):
                if len(key) != 8:
                    problem(seg_info.day, -1, f"key of {len(key)} bytes is not a u64 seq")
                    continue
                seq = decode_key(key)
                if seq != expected:
                    what = (f"seq gap: expected {expected}, found {seq}" if seq > expected
                            else f"seq {seq} out of order (expected {expected})")
                    problem(seg_info.day, seq, what)
                expected = seq + 1
                out.records += 1
                try:
                    rec = decode_value(seq, value)
                except CorruptValueError as exc:
                    problem(seg_info.day, seq, str(exc))
                    continue
                if rec.stream not in streams:
                    problem(seg_info.day, seq, f"stream {rec.stream} is not in the streams table")
                if last_ts is not None and rec.ts_ns < last_ts:
                    problem(seg_info.day, seq, f"time goes backwards: {rec.ts_ns} < {last_ts}")
                last_ts = rec.ts_ns
                h.update(key)
                h.update(rec.payload)
        except lmdb.Error as exc:
            problem(seg_info.day, expected or 0, f"LMDB error: {exc}")
    out.digest = h.hexdigest()
    return out


def record_json(rec: Record) -> dict[str, Any]:
    """One record as a JSON-able object: text payloads as text, others as base64."""
    out: dict[str, Any] = {"seq": rec.seq, "ts_ns": rec.ts_ns, "stream": rec.stream, "kind": rec.kind}
    try:
        out["payload"] = rec.payload.decode("utf-8")
    except UnicodeDecodeError:
        out["payload_b64"] = base64.b64encode(rec.payload).decode("ascii")
    if rec.meta:
        out["meta"] = rec.meta
    return out


__all__ = ["CorruptRecordError", "Problem", "Verification", "record_json", "status", "verify"]
