"""Paper trading while ``recorder run`` records from the simulator equals the backtest after.

Three processes, as a desk runs them: the exchange simulator (in this test's event
loop, replaying the real Binance USD-M BTCUSDT and Upbit captures at 20x),
``recorder run`` writing the journal, and ``replay --live`` paper trading the
order-book imbalance strategy on the journal tail with simulated fills. The paper run is stopped
with SIGTERM while the recorder is still writing; then a backtest of the same
journal up to the last seq the paper run saw must write the same report, byte for
byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from recorder.journal.reader import JournalReader
from replay.cli import main
from tests.recorder.daemon.helpers import last_seq, until, write_config
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
# Record time is receive time: at 20x the capture's minutes take seconds, so short holds.
PARAMS = ["--param", "hold_s=1", "--param", "cooldown_s=1", "--param", "eval_ms=50",
          "--latency-ms", "5"]


async def spawn(*args: str, out=asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, stdout=out, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})


async def test_paper_trading_while_recording_equals_the_backtest(tmp_path, capsys):
    data = tmp_path / "data"
    async with Simulator(source="capture", speed=20, seed=11) as sim:
        cfg = write_config(tmp_path / "rec.toml", data, sim.urls, binance=["BTCUSDT"],
                           upbit=["KRW-WAVES", "KRW-LAMB"])
        recorder = await spawn("recorder.cli", "run", "--config", str(cfg),
                               "--log-file", str(tmp_path / "rec.log"))
        try:
            await until(lambda: last_seq(data) >= 100, 60, "the recorder's first records")
            paper = await spawn("replay.cli", "--live", "--data", str(data), "--from", "1",
                                "--strategy", STRATEGY, *PARAMS, "--report", str(tmp_path / "paper"),
                                "--json", "--no-progress", out=asyncio.subprocess.PIPE)
            started_at = last_seq(data)
            await until(lambda: last_seq(data) >= started_at + 20_000, 120, "20000 more records")
            paper.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(paper.communicate(), 60)
            assert paper.returncode == 0, err.decode()[-2000:]
            recording = recorder.returncode is None
        finally:
            recorder.send_signal(signal.SIGTERM)
            await asyncio.wait_for(recorder.wait(), 30)
    assert recording, "the recorder stopped before the paper run"
    paper_summary = json.loads(out.decode().strip().splitlines()[-1])
    end = paper_summary["period"]["last_seq"]
    assert paper_summary["period"]["first_seq"] == 1 and end > started_at + 19_000
    assert last_seq(data) >= end
    assert paper_summary["trades"] >= 2  # at least one entry and its exit
    with JournalReader(data) as r:
        assert {s.venue for s in r.streams().values()} == {"upbit", "binance-usdm"}

    # The backtest of the same records, after the fact.
    assert main(["--data", str(data), "--from", "1", "--to", str(end), "--strategy", STRATEGY, *PARAMS,
                 "--report", str(tmp_path / "backtest"), "--json", "--no-progress"]) == 0
    back_summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert back_summary == paper_summary
    for name in ("summary.json", "fills.parquet", "equity.parquet", "chart.html"):
        assert (tmp_path / "paper" / name).read_bytes() == (tmp_path / "backtest" / name).read_bytes(), name
