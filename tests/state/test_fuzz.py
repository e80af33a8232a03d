"""Mutated real frames never stop a projection (the brief: the recorder never crashes on data).

Every capture's records are replayed with damaged copies slipped in between them: cut
short, bytes flipped, prices and sizes turned into NaN, negatives, zero, 1e400 or words,
integers into huge numbers or strings, arrays into objects, empty payloads, invalid UTF-8.
The projection must take every one of them (no exception), count what it could not use,
and stay deterministic: the same records folded one at a time and in one batch reach the
same digest, and a checkpoint of the damaged state restores to it. A journal of them
compacts, derived tables and all, and the example strategies backtest over it to the end.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import msgspec
import pytest

from query.compact import compact
from recorder.journal import Record
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.run import run_strategy
from replay.source import HistoricalSource
from state.projector import Projector
from tests.conftest import CRYPTOFEED_NAMES

STRATEGIES = Path(__file__).resolve().parents[2] / "data" / "strategies"
_QUOTED_NUMBER = re.compile(rb'"-?\d+(\.\d+)?"')
_BARE_INT = re.compile(rb"(?<=[:\[,])-?\d+(?=[,}\]])")
_BAD_NUMBERS = [b'"NaN"', b'"-1"', b'"0"', b'"1e400"', b'"inf"', b'""', b'"abc"', b'null', b'1.5',
                b'"99999999999999999999999999999.999999999999"', b'"-0.00000000"', b'[]']
_BAD_INTS = [b"-1", b"0", b"18446744073709551616", b"1e30", b'"7"', b"null", b"1.5", b"{}"]


def _sub_one(rng: random.Random, pattern: re.Pattern, payload: bytes, choices: list[bytes]) -> bytes:
    hits = list(pattern.finditer(payload))
    if not hits:
        return payload[: len(payload) // 2]
    m = rng.choice(hits)
    return payload[: m.start()] + rng.choice(choices) + payload[m.end():]


def mutate(rng: random.Random, payload: bytes) -> bytes:
    how = rng.randrange(9)
    if how == 0:
        return payload[: rng.randrange(max(1, len(payload)))]
    if how == 1:
        b = bytearray(payload or b"x")
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if how in (2, 3):
        return _sub_one(rng, _QUOTED_NUMBER, payload, _BAD_NUMBERS)
    if how == 4:
        return _sub_one(rng, _BARE_INT, payload, _BAD_INTS)
    if how == 5:
        return payload.replace(b"[", b"{", 1)
    if how == 6:
        return b""
    if how == 7:
        return payload[:10] + b"\xff\xfe" + payload[10:]
    return payload  # a repeat: the same frame again (stale ids, duplicate trades)


def damaged(records: list[Record], seed: str) -> list[Record]:
    """``records`` with a mutated copy of about every third frame or REST body before it."""
    rng = random.Random(seed)
    out: list[Record] = []
    for rec in records:
        if rec.kind in ("frame", "rest") and rng.random() < 0.35:
            out.append(msgspec.structs.replace(rec, seq=len(out) + 1, payload=mutate(rng, rec.payload)))
        out.append(msgspec.structs.replace(rec, seq=len(out) + 1))
    return out


def damaged_capture(capture_journal, name: str) -> tuple[dict, list[Record]]:
    """(streams, records) of a capture with its damaged copies (the hftbacktest one cut to 20k)."""
    with JournalReader(capture_journal(name)) as r:
        streams = r.streams()
        records = list(r.read(1, 20_000))
    recs = damaged(records, name)
    assert len(recs) > len(records) + len(records) // 5
    return streams, recs


NAMES = (*CRYPTOFEED_NAMES, "hftbacktest")


@pytest.mark.parametrize("name", NAMES)
def test_mutated_frames_never_stop_the_projection(capture_journal, name):
    streams, recs = damaged_capture(capture_journal, name)

    one = Projector(streams, depth_levels=20)
    for rec in recs:
        one.apply(rec)  # never raises
    assert one.last_seq == len(recs)
    assert sum(c.get("decode_error", 0) for c in one.counters.values()) > 0

    batch = Projector(streams, depth_levels=20)
    batch.apply_many(recs)
    assert batch.digest() == one.digest()
    assert Projector.restore(one.snapshot()).digest() == one.digest()


def write_journal(data, streams: dict, recs: list[Record]) -> None:
    with JournalWriter(data, background=False) as w:
        for sid in sorted(streams):
            s = streams[sid]
            assert w.register_stream(s.venue, market=s.market, url=s.url, conn=s.conn,
                                     channels=s.channels) == sid
        for rec in recs:
            w.append(rec.stream, rec.kind, rec.payload, ts_ns=rec.ts_ns, meta=rec.meta)


@pytest.mark.parametrize("name", NAMES)
def test_a_journal_of_mutated_frames_compacts(capture_journal, tmp_path, name):
    streams, recs = damaged_capture(capture_journal, name)
    write_journal(tmp_path, streams, recs)
    result = compact(tmp_path, now_ns=4_102_444_800 * 10**9)  # every day is over by 2100
    assert result.records == len(recs) and len(result.compacted) == 1


@pytest.mark.parametrize("strategy", ["imbalance_momentum.py", "kimchi_premium.py"])
def test_a_backtest_over_mutated_frames_runs_to_the_end(capture_journal, tmp_path, strategy):
    streams, recs = damaged_capture(capture_journal, "hftbacktest")
    write_journal(tmp_path, streams, recs)
    with HistoricalSource(tmp_path) as source:
        result, summary = run_strategy(source, str(STRATEGIES / strategy))
    assert result.records == len(recs) and summary["period"]["records"] == len(recs)
