"""Two recorders of two shards, end to end: each records its own venue from the simulator
into its own journal, both compact into one archive on the S3 server, a query over it sees one
table with a ``shard`` column, and a replay over it merges the shards by receive time into the
digest the same merge of the two journals gives."""

from __future__ import annotations

import json
import time

import pytest

from query.catalog import connect
from query.compact import compact
from recorder.daemon import build_config
from recorder.journal.reader import JournalReader
from replay.cli import main as replay
from replay.merge import MergedSource
from state.projector import Projector
from tools.simulator import Simulator

from .helpers import FAST, Running, frames, until

pytestmark = pytest.mark.timeout(180)
URL = "s3://arch/desk"  # the bucket of the s3 fixture (tests/conftest.py)
LATER = time.time_ns() + 3 * 86_400 * 10**9  # a clock past today: the recorded day is finished
SHARDS = {"asia": (1, {"venue": "upbit", "symbols": ["KRW-WAVES"], "channels": ["trade", "orderbook"]}),
          "eu": (2, {"venue": "binance-usdm", "symbols": ["BTCUSDT"], "channels": ["aggTrade", "bookTicker"]})}


def _config(data, urls, name: str):
    number, venue = SHARDS[name]
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST, "compaction": {"enabled": False},
        "shard": {"name": name, "number": number},
        "venue": [{**venue, "ws_url": urls.ws, "rest_url": urls.rest, "listing": False}],
    })



async def test_two_recorders_compact_into_one_archive_and_replay_merged(tmp_path, s3, capsys):
    data = {name: tmp_path / name for name in SHARDS}
    async with Simulator(source="capture", speed=20, seed=4) as sim:
        async with (Running(_config(data["asia"], sim.urls, "asia")) as ra,
                    Running(_config(data["eu"], sim.urls, "eu")) as re):
            for rec in (ra, re):
                await until(lambda rec=rec: frames(rec) > 100, 60, "frames on both recorders")
    held = {}
    for name, d in data.items():
        with JournalReader(d) as r:
            held[name] = r.last_seq
    # the merge of the two journals, by (ts_ns, shard, seq), before compaction prunes them
    parts = {name: JournalReader(d) for name, d in data.items()}
    merged = MergedSource(parts)
    try:
        tagged = list(merged.tagged())
        p = Projector(merged.streams())
        p.apply_many(merged.read())
        want = p.digest()
    finally:
        merged.close()
    for d in data.values():
        assert compact(d, archive=URL, now_ns=LATER).compacted  # the shard's day, to shard=NAME/
    con = connect(None, archive=URL)
    # stream ids never collide across shards: stream alone joins
    per = con.sql("SELECT raw.shard, streams.venue, count(*) FROM raw JOIN streams ON raw.stream = streams.id "
                  "GROUP BY ALL ORDER BY 1").fetchall()
    assert per == [("asia", "upbit", held["asia"]), ("eu", "binance-usdm", held["eu"])]
    assert con.sql("SELECT DISTINCT shard FROM trades ORDER BY 1").fetchall() == [("asia",), ("eu",)]

    assert len(tagged) == sum(held.values())
    for name in SHARDS:  # each shard's own order kept
        assert [r.seq for s, r in tagged if s == name] == list(range(1, held[name] + 1))
    keys = [(r.ts_ns, s, r.seq) for s, r in tagged]
    assert keys == sorted(keys)
    # the replay of the archive: the same merge, the same state, twice
    for _ in range(2):
        assert replay(["state", "--archive", URL, "--at", str(len(tagged)), "--json", "--no-checkpoint"]) == 0
        assert json.loads(capsys.readouterr().out)["digest"] == want
