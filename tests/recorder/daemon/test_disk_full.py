"""``recorder run`` on a full disk: it stops with a clear error and exit 1, and everything it
had committed stays in a journal that verifies (the brief: bad input never loses what was
recorded). A file-size limit (RLIMIT_FSIZE) makes every write past it fail as a full disk
does (EFBIG; CPython ignores SIGXFSZ), for the daemon and its committer process alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys

import pytest

from recorder.inspect import verify
from recorder.journal.reader import JournalReader
from tools.simulator import Simulator

from .helpers import Journal, write_config

pytestmark = pytest.mark.timeout(120)
LIMIT = 3 << 20  # bytes a file of the daemon may reach


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


async def test_a_full_disk_stops_the_recorder_clearly_and_keeps_what_was_committed(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "run.log"
    async with Simulator(source="synthetic", speed=50, seed=9) as sim:
        cfg = write_config(tmp_path / "rec.toml", data, sim.urls, binance=["BTCUSDT", "ETHUSDT"],
                           upbit=["KRW-BTC"], recorder={"durability": "fsync"},
                           sections={"projection": {"checkpoint_every_records": 10**9}})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--config", str(cfg), "--log-file", str(log),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_limit_file_size)
        rc = await asyncio.wait_for(proc.wait(), 90)  # no signal: it must stop by itself
        stderr = (await proc.stderr.read()).decode(errors="replace")

    assert rc == 1, stderr[-2000:]
    assert "error: recorder stopped: disk full writing segment" in stderr, stderr[-2000:]
    events = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    (failed,) = [e for e in events if e["event"] == "journal_failed"]
    assert failed["error"].startswith("disk full writing segment"), failed
    # The kernel says EFBIG, or LMDB reports the short write as EIO: either way it is named.
    assert "File too large" in failed["error"] or "file-size limit" in failed["error"], failed
    committed = failed["committed_seq"]
    assert committed > 1000  # it recorded for a while before the disk filled

    # Everything committed before the failure is there, gapless, and the journal verifies.
    with JournalReader(data) as r:
        assert verify(r).ok
        assert r.last_seq >= committed
    j = Journal(data)
    j.assert_gapless()
    assert j.records[0].seq == 1 and j.records[-1].seq >= committed
