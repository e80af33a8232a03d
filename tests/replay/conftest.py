"""Data directories shared by the replay tests.

``straddle``: the first RECORDS records of the hftbacktest capture, moved in time so
that UTC midnight falls in the middle, twice: journal only (``plain``), and with the
first day compacted by ``query.compact`` into the archive and pruned from the journal
(``mixed``: archive day 1 + journal day 2). Whatever replay reads must not tell them apart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from query.compact import compact
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter

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


@pytest.fixture(scope="session")
def straddle(capture_journal, tmp_path_factory) -> tuple[Path, Path]:
    """(journal only, archive day 1 + journal day 2) holding the same records; read-only."""
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
