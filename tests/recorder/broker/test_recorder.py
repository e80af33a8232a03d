"""``recorder run`` with ``[broker]`` over a recording of every simulated venue: a follower on
"another host" (the broker between them) holds exactly the journal, ``replay state --follow``
gives the local reader's digest, and a paper run on the followed tail equals the backtest of
the local journal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from query.market import MarketData
from query.market.folded import FoldedMemory
from query.market.followed import FollowedSource
from query.market.inprocess import DEPTH
from recorder.daemon import build_config
from recorder.journal.remote import RemoteSource
from replay.cli import main as replay
from state.projector import Projector
from tests.recorder.daemon.helpers import FAST, UPBIT_ALL, Running, until
from tools.bench.venues import CHANNELS
from tools.simulator import Simulator

from .pipeline import Follower, journal

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[3]
STRATEGY = str(ROOT / "data" / "strategies" / "imbalance_momentum.py")
PARAMS = ["--param", "hold_s=1", "--param", "cooldown_s=1", "--param", "eval_ms=50", "--latency-ms", "5"]
SYMBOLS = {"binance-usdm": ["BTCUSDT"], "upbit": ["KRW-WAVES", "KRW-LAMB"], "binance-spot": ["BTCUSDT"],
           "bybit": ["BTCUSDT"], "okx": ["BTC-USDT"], "gate": ["BTC_USDT"], "kucoin": ["BTC-USDT"],
           "phemex": ["sBTCUSDT"]}
SHARD = "eu1"  # a sharded recorder: its own stream, TICKTAPE_EU1
CHANNELS_OF = {"binance-usdm": ["depth", "aggTrade", "bookTicker"], "upbit": UPBIT_ALL, **CHANNELS}


def config(data: Path, urls, broker_url: str):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST,
        "compaction": {"enabled": False},
        "broker": {"url": broker_url, "queue": 16, "batch_records": 256},
        "shard": {"name": SHARD, "number": 3},
        "venue": [{"venue": v, "symbols": s, "channels": CHANNELS_OF[v], "ws_url": urls.ws,
                   "rest_url": urls.rest, "listing": False} for v, s in SYMBOLS.items()],
    })


def state(capsys, *args: str) -> dict:
    assert replay(["state", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


async def test_every_venue_followed_from_another_host_same_records_same_digests(tmp_path, nats_server, capsys):
    data = tmp_path / "data"
    async with Simulator(source="capture", speed=20, seed=11) as sim:
        async with Running(config(data, sim.urls, nats_server.url)) as rec:
            follower = await asyncio.to_thread(Follower, nats_server.url, SHARD)
            paper = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "replay.cli", "--live", "--follow", nats_server.url, "--shard", SHARD, "--from", "1",
                "--strategy", STRATEGY, *PARAMS, "--json", "--no-progress", cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                await until(lambda: {s.venue for s in rec.writer.streams.values()} >= set(SYMBOLS)
                            and rec.writer.last_seq > 8000, 90, "every venue recorded")
                await until(lambda: follower.last > 4000, 60, "the follower's records")
                said = b""
                while b"paper trading from" not in said:  # its SIGTERM handler is in place
                    line = await asyncio.wait_for(paper.stderr.readline(), 60)
                    assert line, "the paper run ended before it started"
                    said += line
                await asyncio.sleep(2.0)
                paper.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(paper.communicate(), 60)
                assert paper.returncode == 0, err.decode()[-2000:]
            finally:
                if paper.returncode is None:
                    paper.kill()
                    await paper.wait()
            assert rec.broker is not None and rec.broker.errors == 0
        # stopped: the broker got everything up to the journal's last seq
        local = journal(data)
        await until(lambda: follower.last == local[-1].seq or follower.error is not None, 30,
                    "the follower at the journal's end")
        await asyncio.to_thread(follower.close)
    assert follower.error is None, follower.error
    assert follower.records == local  # exactly once, in order, every field
    with RemoteSource(nats_server.url, SHARD) as src:
        assert src.name == "TICKTAPE_EU1" and {s.venue for s in src.streams().values()} == set(SYMBOLS)
        assert src.last_seq == local[-1].seq

    last = str(local[-1].seq)
    here = state(capsys, "--data", str(data), "--at", last, "--no-checkpoint")
    there = state(capsys, "--follow", nats_server.url, "--shard", SHARD, "--at", last)
    assert there["digest"] == here["digest"] and there["symbols"] == here["symbols"]
    mid = str(local[len(local) // 2].seq)
    assert state(capsys, "--follow", nats_server.url, "--shard", SHARD, "--at", mid)["digest"] == \
        state(capsys, "--data", str(data), "--at", mid, "--no-checkpoint")["digest"]

    await _market_data_follows(nats_server.url, local)

    # the paper run on the followed tail == the backtest of the local journal up to where it stopped
    paper_summary = json.loads(out.decode().strip().splitlines()[-1])
    end = paper_summary["period"]["last_seq"]
    assert paper_summary["period"]["first_seq"] == 1 and end > 0
    assert replay(["--data", str(data), "--from", "1", "--to", str(end), "--strategy", STRATEGY, *PARAMS,
                   "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == paper_summary


async def _market_data_follows(url: str, local: list) -> None:
    """``MarketData(follow=url)``'s memory folds the followed journal into the views a local
    projection of the same records has, with its digest."""
    with RemoteSource(url, SHARD) as src:
        streams = src.streams()
    here = Projector(streams, depth_levels=DEPTH)
    here.apply_many(local)
    mine = FoldedMemory(here)
    async with MarketData(follow=url, shard=SHARD, live=False) as md:
        followed = md.memory
        assert isinstance(followed, FollowedSource)
        await until(lambda: followed.folded_seq == local[-1].seq or followed.error is not None, 60,
                    "the market memory folded everything")
        assert followed.error is None
        assert followed.projector.digest() == here.digest()
        keys = here.symbols()
        assert {v for v, _ in keys} >= {"binance-usdm", "upbit"} and followed.keys() == keys
        for venue, symbol in keys:
            assert followed.view(venue, symbol, 10) == mine.view(venue, symbol, 10)
            assert followed.healthy(venue, symbol)


def test_replay_follow_says_a_broker_that_is_not_there(capsys):
    from tools.natsserver import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    assert replay(["state", "--follow", url, "--at", "1"]) == 2
    assert f"no NATS server answers at {url}" in capsys.readouterr().err

