"""``[shard]``: checked like every section, hashed only when there; two recorders of two
shards recording from one simulator give disjoint stream ids, in the main journal and in
the tier alike; a data directory of another shard is refused."""

from __future__ import annotations

import pytest

from recorder.daemon import Recorder, build_config
from recorder.daemon.config import ShardConfig, load_config
from recorder.errors import ConfigError
from recorder.journal import FRAME
from recorder.journal.errors import JournalUsageError
from recorder.journal.reader import JournalReader
from tools.simulator import Simulator

from .helpers import FAST, Journal, Running, frames, until

pytestmark = pytest.mark.timeout(90)

OKX = {"venue": "okx", "symbols": ["BTC-USDT"], "channels": ["trades"], "listing": False}
# What this document hashed to before [shard] existed (with or without recorder.shard = "").
UNSHARDED_HASH = "b81e437b941ca844"


def doc(**sections) -> dict:
    return {"recorder": {"data": "d"}, "venue": [dict(OKX)], **sections}


def problems(d: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        build_config(d)
    return exc.value.problems


# --- config -----------------------------------------------------------------------------


def test_no_section_is_unsharded_and_hashes_as_before():
    plain = build_config(doc())
    assert plain.shard == ShardConfig() and not plain.shard.sharded
    assert plain.config_hash == UNSHARDED_HASH
    legacy = build_config({**doc(), "recorder": {"data": "d", "shard": ""}})
    assert legacy.shard == ShardConfig() and legacy.config_hash == UNSHARDED_HASH


def test_a_shard_is_read_and_changes_the_hash():
    a = build_config(doc(shard={"name": "tokyo-1", "number": 1}))
    b = build_config(doc(shard={"name": "tokyo-2", "number": 2}))
    assert (a.shard.name, a.shard.number) == ("tokyo-1", 1) and a.shard.sharded
    assert len({a.config_hash, b.config_hash, UNSHARDED_HASH}) == 3
    env = load_config(None, environ={"TICKTAPE_SHARD__NAME": "osaka", "TICKTAPE_SHARD__NUMBER": "63",
                                     "TICKTAPE_RECORDER__DATA": "d"},
                      venue_override=[OKX])
    assert env.shard == ShardConfig("osaka", 63)


@pytest.mark.parametrize(("shard", "want"), [
    ({"name": "Tokyo", "number": 1}, "[shard]: shard name must be 1 to 32 of a-z, 0-9 and '-', not 'Tokyo'"),
    ({"name": "a" * 33, "number": 1}, "[shard]: shard name must be 1 to 32"),
    ({"name": "a b", "number": 1}, "[shard]: shard name must be"),
    ({"name": "a", "number": 0}, "[shard]: shard number must be an integer in 1..63, not 0"),
    ({"name": "a", "number": 64}, "[shard]: shard number must be an integer in 1..63, not 64"),
    ({"name": "a", "number": 1.5}, "shard.number: expected an integer, got 1.5"),
    ({"name": "a", "number": "x"}, "shard.number: expected a number, got 'x'"),
    ({"name": 7, "number": 1}, "shard.name: expected a string, got 7"),
    ({"name": "a"}, "[shard]: give both name and number"),
    ({"number": 3}, "[shard]: give both name and number"),
    ({"name": "", "number": 0}, "[shard]: name (1 to 32 of a-z, 0-9 and '-') and number (1..63)"),
    ({"name": "a", "number": 1, "zone": "x"}, "shard: unknown key 'zone' (known: name, number)"),
])
def test_bad_shard_sections_are_named(shard, want):
    got = problems(doc(shard=shard))
    assert len(got) == 1 and got[0].startswith(want), got


def test_shard_problems_come_with_the_others_and_the_old_key_is_pointed_at_the_section():
    d = doc(shard={"name": "UP", "number": 99})
    d["recorder"] = {"data": "d", "shard": "tokyo", "log_level": "loud"}
    got = problems(d)
    assert "recorder.shard: moved to a [shard] section, with name and number (1..63)" in got
    assert "recorder.log_level: debug, info, warning or error" in got
    assert any(p.startswith("[shard]: shard name must be") and "shard number must be" in p for p in got)
    assert problems({**doc(), "shard": "a"}) == ["[shard]: expected a table, got 'a'"]


# --- two recorders ----------------------------------------------------------------------


def shard_config(data, urls, shard: dict | None):
    """OKX into the journal, Binance spot into the tier: both blocks of the shard's ids."""
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST,
        "compaction": {"enabled": False},
        "projection": {"enabled": False},
        "publish": {"enabled": False},
        **({"shard": shard} if shard else {}),
        "venue": [
            {"venue": "okx", "symbols": ["BTC-USDT"], "channels": ["trades", "tickers"],
             "ws_url": urls.ws, "rest_url": urls.rest, "listing": False},
            {"venue": "binance-spot", "symbols": ["BTCUSDT"], "channels": ["trade", "bookTicker"],
             "ws_url": urls.ws, "rest_url": urls.rest, "listing": False, "tier": "short"},
        ],
    })



async def test_two_shards_record_disjoint_stream_ids(tmp_path):
    data = {name: tmp_path / name for name in ("a", "b", "plain")}
    async with Simulator(venues=("okx", "binance-spot"), seed=3, speed=20) as s:
        async with (Running(shard_config(data["a"], s.urls, {"name": "a", "number": 1})) as ra,
                    Running(shard_config(data["b"], s.urls, {"name": "b", "number": 2})) as rb,
                    Running(shard_config(data["plain"], s.urls, None)) as rp):
            for rec in (ra, rb, rp):
                await until(lambda rec=rec: frames(rec) > 40, 30, "frames on every recorder")
    ids = {}
    for name, k in (("a", 1), ("b", 2), ("plain", 0)):
        main, tier = Journal(data[name]), Journal(data[name] / "tier")
        with JournalReader(data[name]) as r, JournalReader(data[name] / "tier") as t:
            assert (r.shard, r.shard_number) == (t.shard, t.shard_number) == (
                ("", 0) if name == "plain" else (name, k))
        main.assert_gapless()
        tier.assert_gapless()
        main_ids = {sid for sid, recs in main.by_stream.items() if any(x.kind == FRAME for x in recs)}
        tier_ids = {sid for sid, recs in tier.by_stream.items() if any(x.kind == FRAME for x in recs)}
        assert main_ids and tier_ids, name  # both journals recorded frames
        block = k << 25
        assert all(block < sid <= block + (1 << 24) for sid in main.streams), main.streams
        assert all(block + (1 << 24) < sid < block + (1 << 25) for sid in tier.streams), tier.streams
        assert {main.streams[sid].venue for sid in main_ids} == {"okx"}
        assert {tier.streams[sid].venue for sid in tier_ids} == {"binance-spot"}
        ids[name] = set(main.streams) | set(tier.streams)
    assert min(ids["plain"]) == 1  # unsharded numbers from 1, as always
    assert not ids["a"] & ids["b"] and not ids["a"] & ids["plain"] and not ids["b"] & ids["plain"]


async def test_a_data_directory_of_another_shard_is_refused(tmp_path):
    async with Simulator(venues=("okx", "binance-spot"), seed=3, speed=20) as s:
        async with Running(shard_config(tmp_path, s.urls, {"name": "a", "number": 1})) as rec:
            await until(lambda: frames(rec) > 5, 30, "frames")
        other = Recorder(shard_config(tmp_path, s.urls, {"name": "b", "number": 2}))
        with pytest.raises(JournalUsageError, match=r"shard 'a' \(number 1\).*'b' \(number 2\)"):
            await other.run()
    with JournalReader(tmp_path) as r:
        assert (r.shard, r.shard_number) == ("a", 1)
