"""``recorder run --dashboard``: the live rich view of connections, journal, projection, rates
and uptime, with no log line drawn under it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from recorder.daemon.dashboard import Rates, duration, logs_off_screen, render
from recorder.daemon.logs import LOGGER, event_logger, fields
from recorder.daemon.ports import ConnectionStatus
from tools.simulator import Simulator

from .helpers import Running, config, frames, until

pytestmark = pytest.mark.timeout(60)



async def test_render_shows_connections_journal_snapshots_and_projection(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=31) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], upbit=["KRW-BTC"])
        run = Running(cfg)
        async with run as rec:
            await until(lambda: frames(rec) > 200 and rec.fetchers["binance-usdm"].fetched, 10, "frames")
            s.fault("drop", venue="upbit", code=1011)
            await until(lambda: sum(sv.reconnects for sv in rec.supervisors) == 1
                        and all(sv.up for sv in rec.supervisors), 10, "the reconnect")
            console = Console(record=True, width=200, color_system=None)
            console.print(render(rec.status))
            text = console.export_text()
            per_conn = {sv.name: sum(lk.frames for lk in rec.links.values() if lk.conn == sv.name)
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
        assert 0 < int(cols[3]) <= per_conn[sv.name]  # drawn a moment before the count
        assert cols[5] == str(sv.reconnects)
    assert [sv.reconnects for sv in rec.supervisors if sv.venue == "upbit"] == [1]
    assert "snapshots" in text and "BTCUSDT" in text
    assert "projection: live" in text


async def test_recorder_run_dashboard_process(tmp_path):
    """The command line: ``--dashboard`` draws to stdout with rates and uptime; without
    ``--log-file`` the JSON log lines go to DATA/logs/recorder.jsonl, none to the terminal."""
    data = tmp_path / "data"
    async with Simulator(source="synthetic", speed=20, seed=32) as s:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--venue", "upbit", "--symbols", "KRW-BTC",
            "--channels", "trade,orderbook", "--data", str(data), "--ws-url", s.urls.ws,
            "--rest-url", s.urls.rest, "--duration", "2", "--dashboard", "--durability", "os",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "160", "TERM": "dumb"})
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    assert "connections" in text and "upbit.ws.0" in text and "projection: live" in text
    assert re.search(r"records/s [\d,.]+", text) and re.search(r"up 00:00:0\d", text)
    assert "frames/s" in text and "KiB/s" in text
    log = data / "logs" / "recorder.jsonl"
    assert f"log: {log}" in text
    events = [json.loads(x)["event"] for x in log.read_text().splitlines()]
    assert "start" in events and "stopped" in events
    # Not one log line on the terminal: was mixed into the live view.
    assert '"event"' not in text and '"event"' not in err.decode()


@dataclass
class FakeJournal:
    last_seq: int = 0
    committed_seq: int = 0
    pending: int = 0
    max_pending: int = 100
    commits: int = 0
    last_ts_ns: int = 0


@dataclass
class FakeStatus:
    config_hash: str = "abc"
    journal: FakeJournal = field(default_factory=FakeJournal)
    frames: int = 0

    def connections(self, now: float) -> list[ConnectionStatus]:
        return [ConnectionStatus(name="upbit.ws.0", venue="upbit", up=True, links=1, failed=None,
                                 down_s=0.0, stream=3, frames=self.frames, bytes=self.frames * 512,
                                 reconnects=0, rotations=0, stale=0)]

    def snapshots(self):
        return []

    def projection(self):
        return None


def test_render_shows_rates_and_uptime():
    status = FakeStatus()
    rates = Rates(window_s=5.0)
    rates.update(status, now=100.0)
    status.journal.last_seq, status.frames = 2000, 1500
    rates.update(status, now=102.0)
    console = Console(record=True, width=160, color_system=None)
    console.print(render(status, 102.0, rates=rates, uptime_s=3723.0, log="/x/recorder.jsonl",
                         alerts=["12:00:00Z warning reconnect venue=upbit"]))
    text = console.export_text()
    assert "records/s 1,000" in text and "up 01:02:03" in text
    row = next(ln for ln in text.splitlines() if "upbit.ws.0" in ln)
    cols = [c.strip() for c in row.split("│")[1:-1]]
    assert cols[-2:] == ["750", "375"]  # frames/s, KiB/s over the 2 s between samples
    assert "log: /x/recorder.jsonl" in text and "warning reconnect venue=upbit" in text
    # the window slides: older samples drop out
    status.journal.last_seq = 2000
    rates.update(status, now=110.0)
    assert rates.records == 0.0
    assert duration(90061) == "1d 01:01:01"


def test_logs_are_held_off_the_screen_while_the_view_runs(capsys, monkeypatch):
    """A logger on the terminal is held, and printed once the view closes; warnings of
    loggers without a handler too (they would reach logging.lastResort); the daemon's
    warnings are collected for the view."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in the daemon: none (pytest adds its own)
    log = event_logger(level="info", path="")  # stderr, as without --log-file
    other = logging.getLogger("some.library")
    try:
        with logs_off_screen() as alerts:
            log.info("connected", extra=fields(venue="upbit"))
            log.warning("reconnect", extra=fields(venue="upbit", wait_s=1.5))
            other.warning("library says")
            assert capsys.readouterr().err == ""  # nothing while the view runs
            assert len(alerts.lines) == 1 and "warning reconnect venue=upbit wait_s=1.5" in alerts.lines[0]
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert [json.loads(x)["event"] for x in lines if x.startswith("{")] == ["connected", "reconnect"]
        assert "library says" in err
        log.info("after")  # the terminal handler is back
        assert '"event":"after"' in capsys.readouterr().err
    finally:
        for h in list(logging.getLogger(LOGGER).handlers):
            logging.getLogger(LOGGER).removeHandler(h)
