"""Replay over days compacted to Parquet equals replay over the journal they came from.

The journal: the first RECORDS records of the hftbacktest capture, moved in time so
that UTC midnight falls in the middle. ``query.compact`` archives the first day and
prunes it from the journal; the second day stays in the journal. Every replay below
runs once over that straddling data dir and once over an uncompacted copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from query.archive import archived_range
from query.compact import compact
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.cli import main
from replay.engine import EngineConfig
from replay.run import run_strategy
from replay.source import HistoricalSource, parse_bound

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
RECORDS = 30_000
MIDNIGHT = 1_735_776_000 * 10**9  # 2025-01-02T00:00:00Z
SPLIT = 12_001  # the first record of 2025-01-02


def shifted_copy(src: Path, dst: Path) -> Path:
    """``src``'s first RECORDS records in a new journal, record SPLIT at midnight."""
    with JournalReader(src) as r:
        records = list(r.read(1, RECORDS))
        streams = r.streams()
    shift = MIDNIGHT - records[SPLIT - 1].ts_ns
    w = JournalWriter(dst, background=False, durability="os")
    try:
        ids = {sid: w.register_stream(i.venue, market=i.market, url=i.url, conn=i.conn,
                                      channels=i.channels, opened_ns=i.opened_ns + shift)
               for sid, i in sorted(streams.items())}
        for rec in records:
            w.append(ids[rec.stream], rec.kind, rec.payload, ts_ns=rec.ts_ns + shift, meta=rec.meta)
    finally:
        w.close()
    return dst


@pytest.fixture(scope="module")
def straddle(capture_journal, tmp_path_factory):
    """(journal only, archive day 1 + journal day 2) holding the same records."""
    base = tmp_path_factory.mktemp("straddle")
    plain = shifted_copy(capture_journal("hftbacktest"), base / "plain")
    mixed = base / "mixed"
    shutil.copytree(plain, mixed)
    with JournalReader(plain) as r:
        assert [s.day for s in r.segments()] == ["2025-01-01", "2025-01-02"]
        assert r.seq_at_time(MIDNIGHT) == SPLIT
    done = compact(mixed)
    assert done.compacted == ["2025-01-01"] and done.pruned == ["2025-01-01"]
    return plain, mixed


def test_the_day_is_in_the_archive_only(straddle):
    _, mixed = straddle
    assert archived_range(mixed) == (1, SPLIT - 1)
    with JournalReader(mixed) as r:
        assert [s.day for s in r.segments()] == ["2025-01-02"]
        assert r.first_seq == SPLIT


def test_the_source_reads_archive_then_journal_in_seq_order(straddle):
    plain, mixed = straddle
    with HistoricalSource(plain) as a, HistoricalSource(mixed) as b:
        assert b.estimate() == a.estimate() == RECORDS
        n = 0
        for x, y in zip(a, b, strict=True):  # the same records, byte for byte
            assert x == y
            n += 1
    assert n == RECORDS


@pytest.mark.parametrize("start,end", [
    (None, None),
    ("11990", "12010"),  # seq bounds across the seam
    ("2025-01-01T23:59:00Z", "2025-01-02T00:01:00Z"),  # time bounds across midnight
    ("2025-01-02", None),  # only the journal day
    (None, "2025-01-02"),  # only the archived day
])
def test_bounded_reads_across_the_seam_match(straddle, start, end):
    plain, mixed = straddle
    kw = {"start": parse_bound(start) if start else None, "end": parse_bound(end) if end else None}
    with HistoricalSource(plain, **kw) as a, HistoricalSource(mixed, **kw) as b:
        got_a, got_b = [r.seq for r in a], [r.seq for r in b]
        # The progress bar's total: exact over the journal, an upper bound over the archive.
        assert a.estimate() == len(got_a) and b.estimate() >= len(got_b)
    assert got_a == got_b and got_a
    assert got_a == list(range(got_a[0], got_a[-1] + 1))
    if start == "2025-01-02":
        assert got_b[0] == SPLIT
    if end == "2025-01-02":
        assert got_b[-1] == SPLIT - 1


def test_a_backtest_straddling_archive_and_journal_equals_one_over_the_journal(straddle, tmp_path):
    plain, mixed = straddle
    out = {}
    for name, data in (("plain", plain), ("mixed", mixed)):
        with HistoricalSource(data) as src:
            out[name] = run_strategy(src, STRATEGY, config=EngineConfig(latency_ns=10_000_000),
                                     report_dir=tmp_path / name)
    (a, sa), (b, sb) = out["plain"], out["mixed"]
    assert a.records == b.records == RECORDS
    assert sa == sb and a.digest == b.digest
    assert sa["trades"] > 0
    # Trades on both sides of the seam.
    assert min(f.seq for f in b.fills) < SPLIT <= max(f.seq for f in b.fills)
    for f in ("summary.json", "fills.parquet", "equity.parquet"):
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "mixed" / f).read_bytes(), f


def test_replay_state_over_the_archive_equals_the_journal(straddle, capsys):
    plain, mixed = straddle
    docs = {}
    for at in ("5000", str(SPLIT - 1), str(SPLIT + 500)):
        for name, data in (("plain", plain), ("mixed", mixed)):
            assert main(["state", "--data", str(data), "--at", at, "--depth", "5", "--json"]) == 0
            docs[name, at] = json.loads(capsys.readouterr().out)
        assert docs["plain", at] == docs["mixed", at]
        assert docs["mixed", at]["seq"] == int(at)
    assert len({docs["mixed", at]["digest"] for at in ("5000", str(SPLIT - 1), str(SPLIT + 500))}) == 3


def test_the_source_reads_the_archive_lazily(straddle, monkeypatch):
    """Nothing is read ahead: ten records take one archive batch and no journal read.

    (That ``query.archive`` holds one row group at a time is tested in tests/query.)
    """
    import query.archive as archive

    _, mixed = straddle
    taken = []
    real = archive.records_of_batch

    def spy(batch):
        taken.append(batch.num_rows)
        return real(batch)

    monkeypatch.setattr(archive, "records_of_batch", spy)
    journal_reads = []
    with HistoricalSource(mixed) as src:
        real_read = src.reader.read
        monkeypatch.setattr(src.reader, "read", lambda *a, **k: journal_reads.append(k) or real_read(*a, **k))
        it = iter(src)
        assert [next(it).seq for _ in range(10)] == list(range(1, 11))
        assert len(taken) == 1 and journal_reads == []
        rest = [r.seq for r in it]
    assert rest == list(range(11, RECORDS + 1))
    assert journal_reads == [{"from_seq": SPLIT, "to_seq": None, "from_ts_ns": None, "to_ts_ns": None}]


def test_paper_trading_from_an_archived_seq_catches_up_through_the_archive(straddle):
    import threading

    from replay.live import LiveSource
    from replay.source import Bound

    plain, mixed = straddle
    for start in (Bound(seq=SPLIT - 100), parse_bound("2025-01-01T23:59:59Z")):
        with HistoricalSource(plain, start=start, end=Bound(seq=SPLIT + 100)) as h:
            want = [(r.seq, r.payload) for r in h]
        src = LiveSource(mixed, stop=threading.Event(), start=start, end=Bound(seq=SPLIT + 100))
        with src:
            got = [(r.seq, r.payload) for r in src]
        assert got == want and got[0][0] < SPLIT <= got[-1][0]
