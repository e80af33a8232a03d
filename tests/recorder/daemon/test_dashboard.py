"""``recorder run --dashboard``: the live rich view of connections, journal and projection."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest
from rich.console import Console

from recorder.daemon.dashboard import render
from tools.simulator import Simulator

from .helpers import Running, config, until

pytestmark = pytest.mark.timeout(60)


def _frames(rec) -> int:
    return sum(lk.frames for lk in rec.links.values())


async def test_render_shows_connections_journal_snapshots_and_projection(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=31) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], upbit=["KRW-BTC"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: _frames(rec) > 200 and rec.fetchers["binance-usdm"].fetched, 10, "frames")
            s.fault("drop", venue="upbit", code=1011)
            await until(lambda: sum(sv.reconnects for sv in rec.supervisors) == 1
                        and all(sv.up for sv in rec.supervisors), 10, "the reconnect")
            console = Console(record=True, width=200, color_system=None)
            console.print(render(rec.status))
            text = console.export_text()
            frames = {sv.name: sum(lk.frames for lk in rec.links.values() if lk.conn == sv.name)
                      for sv in rec.supervisors}
            sids = {sv.name: str(sv.links[-1].sid) for sv in rec.supervisors}
            assert await run.stop() == 0
    seq, committed = (int(x) for x in re.search(r"seq (\d+)\s+committed (\d+)", text).groups())
    assert 0 < committed <= seq <= rec.writer.last_seq
    for sv in rec.supervisors:
        row = next(ln for ln in text.splitlines() if sv.name in ln)
        cols = [c.strip() for c in row.split("│")[1:-1]]
        # conn, stream, state, frames, bytes, reconnects, rotations, stale
        assert cols[0] == sv.name and cols[1] == sids[sv.name]
        assert cols[2] == "up"
        assert 0 < int(cols[3]) <= frames[sv.name]  # drawn a moment before the count
        assert cols[5] == str(sv.reconnects)
    assert [sv.reconnects for sv in rec.supervisors if sv.venue == "upbit"] == [1]
    assert "snapshots" in text and "BTCUSDT" in text
    assert "projection: live" in text


async def test_recorder_run_dashboard_process(tmp_path):
    """The command line: ``--dashboard`` draws to stdout, logs go to their file, exit 0."""
    async with Simulator(source="synthetic", speed=20, seed=32) as s:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--venue", "upbit", "--symbols", "KRW-BTC",
            "--channels", "trade,orderbook", "--data", str(tmp_path / "data"), "--ws-url", s.urls.ws,
            "--rest-url", s.urls.rest, "--duration", "2", "--dashboard", "--durability", "os",
            "--log-file", str(tmp_path / "log.jsonl"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "160", "TERM": "dumb"})
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    assert "connections" in text and "upbit.ws.0" in text and "projection: live" in text
    assert b'"event":"start"' in (tmp_path / "log.jsonl").read_bytes()
