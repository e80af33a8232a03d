"""``recorder run`` as a process: SIGKILL and restart, SIGINT/SIGTERM (issue 3 item 1, issue 4 item 5).

The daemon runs as a subprocess against the simulator (in this test's event loop). After a
SIGKILL the restart continues the same journal with no seq gap, restores its newest
checkpoint and re-projects the rest, journals that it recovered (a ``recovered`` mark with
the last committed seq and the checkpoint used), and reaches the same state digest at the
same seq as one uninterrupted projection of the whole journal. A clean stop leaves nothing
to recover: the restart after it journals no such mark.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from recorder.daemon.recovery import RUN_MARKER
from recorder.inspect import verify
from recorder.journal.checkpoints import LmdbCheckpointStore
from recorder.journal.reader import JournalReader
from state.digest import digest_of
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import Journal, last_seq, until, write_config

pytestmark = pytest.mark.timeout(120)


def crash_config(path: Path, data: Path, urls, *, checkpoint_every: int = 400) -> Path:
    return write_config(path, data, urls, binance=["BTCUSDT", "ETHUSDT"], upbit=["KRW-BTC", "KRW-USDT"],
                        sections={"projection": {"checkpoint_every_records": checkpoint_every,
                                                 "checkpoint_every_s": 0.5}})


async def start(cfg: Path, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recorder.cli", "run", "--config", str(cfg), "--log-file", str(log),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def log_events(log: Path, event: str) -> list[dict]:
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    return [x for x in lines if x["event"] == event]


def replay_digest(data: Path, upto: int) -> str:
    """The digest of one uninterrupted projection of records 1..upto."""
    with JournalReader(data) as r:
        p = Projector(r.streams(), depth_levels=20)
        p.apply_many(r.read(1, upto))
    assert p.last_seq == upto
    return p.digest()


async def _exit_code(proc: asyncio.subprocess.Process, timeout: float = 30) -> int:
    rc = await asyncio.wait_for(proc.wait(), timeout)
    if rc not in (0, -signal.SIGKILL):
        err = (await proc.stderr.read()).decode(errors="replace")
        raise AssertionError(f"recorder exited {rc}: {err[-2000:]}")
    return rc


async def test_sigkill_restart_continues_journal_and_reaches_replay_digest(tmp_path):
    data = tmp_path / "data"
    checkpoints = LmdbCheckpointStore.of_data_dir(data)
    async with Simulator(source="synthetic", speed=20, seed=5) as sim:
        cfg = crash_config(tmp_path / "rec.toml", data, sim.urls)
        first = await start(cfg, tmp_path / "run1.log")
        try:
            await until(lambda: last_seq(data) >= 1500 and checkpoints.seqs(), 40,
                        "1500 records and a checkpoint")
        finally:
            first.kill()
        assert await _exit_code(first) == -signal.SIGKILL
        killed_at = last_seq(data)
        ck_seq, ck_blob = checkpoints.load()
        assert 0 < ck_seq <= killed_at
        assert (data / RUN_MARKER).exists()  # the killed daemon could not take it away

        second = await start(cfg, tmp_path / "run2.log")
        await until(lambda: last_seq(data) >= killed_at + 1500, 40, "1500 more records")
        second.send_signal(signal.SIGTERM)
        assert await _exit_code(second) == 0

    # The same journal, continued: one gapless seq from 1, and it verifies.
    j = Journal(data)
    j.assert_gapless()
    assert j.records[0].seq == 1
    final = j.records[-1].seq
    with JournalReader(data) as r:
        assert verify(r).ok
    cli = subprocess.run([sys.executable, "-m", "recorder.cli", "verify", "--data", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    new_streams = [s for s in j.streams.values() if j.by_stream[s.id]
                   and j.by_stream[s.id][0].seq > killed_at]
    assert new_streams and all(j.by_stream[s.id][0].seq > killed_at for s in new_streams)
    # Streams of the killed process simply stop (no close record); the restart's are closed.
    old_ws = [s for s in j.ws_streams() if j.by_stream[s.id] and j.by_stream[s.id][0].seq <= killed_at]
    assert old_ws and not any(j.kinds(s.id, "close") for s in old_ws)
    for s in j.ws_streams():
        if s in new_streams:
            assert j.by_stream[s.id][-1].kind == "close"

    # Recovery restored the checkpoint and re-projected only what came after it.
    (rec,) = log_events(tmp_path / "run2.log", "projection_recovered")
    assert rec["checkpoint_seq"] == ck_seq and rec["from_seq"] == ck_seq + 1
    assert rec["last_seq"] == killed_at

    # ... and the journal says so: the restart's first record is its "recovered" mark, on
    # a stream of the recorder's own, naming the last committed seq and the checkpoint.
    mark = j.records[killed_at]
    assert (mark.seq, mark.kind) == (killed_at + 1, "mark")
    assert (j.streams[mark.stream].venue, j.streams[mark.stream].conn) == ("recorder", "recorder")
    body = orjson.loads(mark.payload)
    assert {k: body[k] for k in ("mark", "last_committed_seq", "checkpoint_seq", "reprojected")} == {
        "mark": "recovered", "last_committed_seq": killed_at, "checkpoint_seq": ck_seq,
        "reprojected": killed_at - ck_seq}
    assert body["previous"]["pid"] == first.pid
    assert [m["mark"] for m in j.marks()].count("recovered") == 1
    (logged,) = log_events(tmp_path / "run2.log", "recovered")
    assert logged["last_committed_seq"] == killed_at and logged["checkpoint_seq"] == ck_seq
    assert not (data / RUN_MARKER).exists()  # the second run stopped in order

    # The checkpoint taken before the kill is the uninterrupted projection's state there ...
    assert digest_of(ck_blob) == replay_digest(data, ck_seq)
    # ... and the restarted daemon, at its last seq, equals one pass over the whole journal.
    seq, blob = checkpoints.load()
    assert seq == final
    assert Projector.restore(blob).digest() == replay_digest(data, final)


async def test_sigint_flushes_closes_and_exits_zero(tmp_path):
    data = tmp_path / "data"
    async with Simulator(source="synthetic", speed=20, seed=6) as sim:
        cfg = crash_config(tmp_path / "rec.toml", data, sim.urls, checkpoint_every=10**9)
        proc = await start(cfg, tmp_path / "run.log")
        await until(lambda: last_seq(data) >= 500, 40, "500 records")
        proc.send_signal(signal.SIGINT)
        assert await _exit_code(proc) == 0
        sent = {c.id: len(c.frames) for c in sim.connections}
    j = Journal(data)
    j.assert_gapless()
    with JournalReader(data) as r:
        assert verify(r).ok
    # Every connection was closed by us with 1000 and journaled; every frame is on disk.
    for s in j.ws_streams():
        close = j.kinds(s.id, "close")
        assert close and close[0].meta["code"] == 1000 and close[0].meta["by"] == "us"
    assert sum(len(j.kinds(s.id, "frame")) for s in j.ws_streams()) == sum(sent.values())
    (stopped,) = log_events(tmp_path / "run.log", "stopped")
    assert stopped["exit_code"] == 0 and stopped["committed_seq"] == j.records[-1].seq
    # The stop wrote a checkpoint of the final state (none was due before).
    assert LmdbCheckpointStore.of_data_dir(data).seqs() == [j.records[-1].seq]
    # A clean stop leaves no run marker, so nothing is "recovered" ...
    assert not (data / RUN_MARKER).exists()
    assert "recovered" not in [m["mark"] for m in j.marks()]


async def test_a_restart_after_a_clean_stop_journals_no_recovery(tmp_path):
    data = tmp_path / "data"
    async with Simulator(source="synthetic", speed=20, seed=7) as sim:
        cfg = crash_config(tmp_path / "rec.toml", data, sim.urls)
        for n in (1, 2):
            proc = await start(cfg, tmp_path / f"run{n}.log")
            await until(lambda n=n: last_seq(data) >= 300 * n, 40, f"{300 * n} records")
            proc.send_signal(signal.SIGTERM)
            assert await _exit_code(proc) == 0
    j = Journal(data)
    j.assert_gapless()
    assert "recovered" not in [m["mark"] for m in j.marks()]
    assert {s.venue for s in j.streams.values()} <= {"binance-usdm", "upbit"}
    assert not log_events(tmp_path / "run2.log", "recovered")
