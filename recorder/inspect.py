"""What is in a journal: status, verification and record rendering (no printing here)."""

from __future__ import annotations

import base64
import hashlib
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import lmdb

from .journal import CorruptRecordError, Record, StreamInfo
from .journal.codec import (
    count_checked,
    decode_checked,
    decode_key,
    decode_value,
    has_checksum,
)
from .journal.errors import CorruptValueError
from .journal.reader import JournalReader

_STREAM = attrgetter("stream")
_TS = attrgetter("ts_ns")


def status(reader: JournalReader, now_ns: int) -> dict[str, Any]:
    """Summary of a journal; reads every record (counts by kind, stream and segment).

    Every figure describes the same records: those up to the last seq the reader saw
    committed when it last refreshed (``last_seq``), read in one pass. The journal only
    grows, so those records are a snapshot even while a recorder appends: ``records``,
    the segments' counts, the kinds and the streams all add up to the same total, and
    ``last_seq - first_seq + 1`` when the journal is gapless. Only ``bytes`` (the
    segment's file size) is measured at the time it is read.
    """
    upto = reader.last_seq
    segs = [s for s in reader.segments() if s.first_seq and s.first_seq <= upto]
    firsts = [s.first_seq for s in segs]
    per_seg = [[0, 0, 0] for _ in segs]  # records, first seq, last seq (of the snapshot)
    kinds: Counter[str] = Counter()
    by_stream: Counter[int] = Counter()
    first_ts = last_ts = None
    first_seq = last_seq = 0
    records = 0
    i = -1
    for rec in reader.read(1, upto) if upto else ():
        if i + 1 < len(firsts) and rec.seq >= firsts[i + 1]:
            i = bisect_right(firsts, rec.seq) - 1  # the segment holding it: seq ranges are ordered
        seg = per_seg[i]
        if not seg[0]:
            seg[1] = rec.seq
        seg[0] += 1
        seg[2] = rec.seq
        kinds[rec.kind] += 1
        by_stream[rec.stream] += 1
        if first_ts is None:
            first_ts, first_seq = rec.ts_ns, rec.seq
        last_ts, last_seq = rec.ts_ns, rec.seq
        records += 1
    streams = reader.streams()
    for sid in by_stream:
        if sid not in streams and (info := reader.stream(sid)) is not None:
            streams[sid] = info
    return {
        "first_seq": first_seq,
        "last_seq": last_seq,
        "records": records,
        "first_ts_ns": first_ts,
        "last_ts_ns": last_ts,
        "newest_age_s": None if last_ts is None else round((now_ns - last_ts) / 1e9, 3),
        "segments": [
            {"day": s.day, "first_seq": c[1], "last_seq": c[2], "records": c[0], "bytes": s.bytes}
            for s, c in zip(segs, per_seg, strict=True)
        ],
        "streams": [
            {"id": sid, "venue": s.venue, "market": s.market, "url": s.url, "conn": s.conn,
             "channels": list(s.channels), "records": by_stream.get(sid, 0)}
            for sid, s in sorted(streams.items())
        ],
        "kinds": dict(sorted(kinds.items())),
        "by_stream": {str(k): v for k, v in sorted(by_stream.items())},
        "seq_floor": reader.meta.get("seq_floor", 0),
        "shard": reader.shard,
        "shard_number": reader.shard_number,
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
    checked: int = 0  # records whose checksum was checked (and matched)
    segment_records: dict[str, int] = field(default_factory=dict)  # segment -> records
    unchecked: dict[str, int] = field(default_factory=dict)  # segment -> records that carry no checksum

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def damaged(self) -> list[Problem]:
        """The problems that are damaged records (a checksum that does not match, or none where one must be)."""
        return [p for p in self.problems if p.what.startswith(DAMAGED)]

    @property
    def notes(self) -> list[str]:
        """What verify cannot prove: the segments (or the whole journal) that carry no checksums.

        Their values are checked as before checksums (they decode, under their key), but
        damage inside a payload cannot be seen.
        """
        if not self.unchecked:
            return []
        if not self.checked and self.unchecked == {d: n for d, n in self.segment_records.items() if n}:
            return [f"no checksums: the journal was written before checksums ({self.records} records "
                    "unchecked: damage inside a payload cannot be seen)"]
        return [f"segment {day}: no checksums (written before checksums; {n} records unchecked)"
                if n == self.segment_records.get(day) else
                f"segment {day}: {n} of {self.segment_records.get(day)} records carry no checksums "
                "(written before checksums)"
                for day, n in sorted(self.unchecked.items())]

    def lines(self) -> list[str]:
        """The report as ``recorder verify`` prints it, one line each: the verdict, each problem, each note."""
        if self.ok:
            what = ("all checksums match" if not self.unchecked else
                    f"{self.checked} checksums match" if self.checked else "all values decode")
            out = [f"ok: {self.records} records in {self.segments} segments, seq gapless, {what}, "
                   "streams known, time monotone"]
        else:
            out = [f"{len(self.problems)} problem(s) in {self.records} records:"]
            out += [f"  {p}" for p in self.problems]
        return out + [f"note: {n}" for n in self.notes]

    def as_json(self) -> dict[str, Any]:
        """The report as ``recorder verify --json`` prints it."""
        return {"ok": self.ok, "records": self.records, "segments": self.segments, "digest": self.digest,
                "problems": [p.__dict__ for p in self.problems], "checked": self.checked,
                "unchecked": dict(sorted(self.unchecked.items())), "notes": self.notes}


DAMAGED = "damaged"  # how the codec's reason for a damaged value starts
CHUNK = 4096  # records checked per step


def verify(reader: JournalReader, *, max_problems: int = 100) -> Verification:
    """Check gapless seq across segments, checksums, decodable values, known streams, monotone time.

    Reads raw key/values (not ``read()``) so that one corrupt value is reported and the
    walk goes on. A chunk of ``CHUNK`` records is checked whole in a few C calls (one CRC,
    one decode); only a chunk where something fails is walked record by record, to name
    each problem. Records of segments written before checksums (format 1) are counted
    as ``unchecked`` (``notes`` say so).
    """
    out = Verification()
    streams = reader.streams()
    known = set(streams)
    floor = int(reader.meta.get("seq_floor", 0) or 0)
    expected = floor + 1
    last_ts: int | None = None
    h = hashlib.blake2b(digest_size=16)

    def problem(seg: str, seq: int, what: str) -> None:
        if len(out.problems) < max_problems:
            out.problems.append(Problem(seg, seq, what))

    for seg_info in reader.segments():
        day = seg_info.day
        out.segments += 1
        out.segment_records[day] = 0
        require = reader.requires_checksums(day)
        try:
            for keys, values in reader.raw_chunks(day, CHUNK):
                n = len(keys)
                out.records += n
                out.segment_records[day] += n
                checked = count_checked(values)
                if not require and checked < n:
                    out.unchecked[day] = out.unchecked.get(day, 0) + n - checked
                try:
                    recs = decode_checked(expected, keys, values, require=require)
                except CorruptValueError:
                    recs = None
                if recs is not None and known.issuperset(map(_STREAM, recs)):
                    times = list(map(_TS, recs))
                    if (last_ts is None or times[0] >= last_ts) and times == sorted(times):
                        out.checked += checked
                        expected += n
                        last_ts = times[-1]
                        h.update(_interleave(keys, [r.payload for r in recs]))
                        continue
                # Something failed in this chunk: walk it record by record to name each problem.
                for key, value in zip(keys, values, strict=True):
                    if len(key) != 8:
                        problem(day, -1, f"key of {len(key)} bytes is not a u64 seq")
                        continue
                    seq = decode_key(key)
                    if seq != expected:
                        what = (f"seq gap: expected {expected}, found {seq}" if seq > expected
                                else f"seq {seq} out of order (expected {expected})")
                        problem(day, seq, what)
                    expected = seq + 1
                    try:
                        rec = decode_value(seq, value, require=require)
                    except CorruptValueError as exc:
                        problem(day, seq, exc.reason)
                        continue
                    out.checked += has_checksum(value)
                    if rec.stream not in streams:
                        problem(day, seq, f"stream {rec.stream} is not in the streams table")
                    if last_ts is not None and rec.ts_ns < last_ts:
                        problem(day, seq, f"time goes backwards: {rec.ts_ns} < {last_ts}")
                    last_ts = rec.ts_ns
                    h.update(key)
                    h.update(rec.payload)
        except lmdb.Error as exc:
            problem(day, expected or 0, f"LMDB error: {exc}")
    out.digest = h.hexdigest()
    return out


def _interleave(a: list[bytes], b: list[bytes]) -> bytes:
    """a0 b0 a1 b1 ... as one bytes."""
    parts: list[bytes] = [b""] * (2 * len(a))
    parts[::2] = a
    parts[1::2] = b
    return b"".join(parts)


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


# What ``listing`` calls each kind of market data (the event types of ``state.events``).
CHANNEL_OF = {"Trade": "trade", "BookDelta": "book", "BookSnapshot": "book_snapshot",
              "BookTicker": "book_ticker", "Ticker": "ticker", "Kline": "kline"}


def listing(reader: JournalReader) -> dict[str, Any]:
    """What is recorded: per venue and symbol, its channels, first and last time, records.

    Reads and decodes every record up to ``reader.last_seq`` (one pass, no sampling, so
    the counts are exact; as fast as the projection's decode): a record counts for a
    symbol when the venue's decoder (``state.decode``) finds that
    symbol in it, so a frame is attributed by what it says, not by what was subscribed.
    ``channels`` are the kinds of data seen for the symbol (``CHANNEL_OF``). Records
    that name no symbol (opens, closes, subscriptions, acks, pings, errors, marks, REST
    bodies like an exchange's market list) are counted in ``other_records``; frames
    the decoder cannot read in ``undecodable`` (by venue). Records before ``seq_floor``
    were pruned after compaction and are in the archive (``query status``), not here.
    """
    from state.decode import decoder_for
    from state.events import DecodeError

    upto = reader.last_seq
    streams = reader.streams()
    decoders: dict[int, Any] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    other = 0
    undecodable: Counter[str] = Counter()
    first_seq = last_seq = records = 0
    for rec in reader.read(1, upto) if upto else ():
        if not first_seq:
            first_seq = rec.seq
        last_seq = rec.seq
        records += 1
        if rec.kind not in ("frame", "rest"):
            other += 1
            continue
        dec = decoders.get(rec.stream)
        if dec is None:
            info = streams.get(rec.stream) or reader.stream(rec.stream) or StreamInfo(rec.stream, "")
            dec = decoders[rec.stream] = decoder_for(info)
        named: set[tuple[str, str]] = set()
        for ev in dec.decode(rec):
            if type(ev) is DecodeError:
                undecodable[ev.venue or "?"] += 1
                continue
            channel = CHANNEL_OF.get(type(ev).__name__)
            if channel is None or not ev.symbol:
                continue
            key = (ev.venue, ev.symbol)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"venue": ev.venue, "symbol": ev.symbol, "norm": ev.norm,
                                   "channels": set(), "streams": set(), "records": 0,
                                   "first_seq": rec.seq, "first_ts_ns": rec.ts_ns}
            row["channels"].add(channel)
            if key not in named:
                named.add(key)
                row["streams"].add(rec.stream)
                row["records"] += 1
                row["last_seq"], row["last_ts_ns"] = rec.seq, rec.ts_ns
        if not named:
            other += 1
    symbols = []
    for key in sorted(rows):
        row = rows[key]
        row["channels"] = sorted(row["channels"])
        row["streams"] = sorted(row["streams"])
        symbols.append(row)
    return {"first_seq": first_seq, "last_seq": last_seq, "records": records,
            "seq_floor": int(reader.meta.get("seq_floor", 0) or 0), "symbols": symbols,
            "other_records": other, "undecodable": dict(sorted(undecodable.items())),
            "read": "every record"}


__all__ = ["CHANNEL_OF", "CorruptRecordError", "Problem", "Verification", "listing", "record_json",
           "status", "verify"]
