"""``recorder run`` with ``[compaction] archive = "s3://..."``: the nightly job (its catch-up at
start) compacts a finished day onto a real S3 server (s3s-fs on 127.0.0.1) while recording
goes on, and prunes the journal only after the bucket's manifest lists the day. A bucket that
is not there fails the job (logged, counted), prunes nothing, and recording goes on."""

from __future__ import annotations

import pytest

from query import manifest
from query.catalog import connect
from query.store import open_store
from recorder.daemon import ConfigError, build_config
from tools.simulator import Simulator

from .helpers import Journal, Running, config, frames, until
from .test_nightly import past_day_journal

pytestmark = pytest.mark.timeout(120)
URL = "s3://arch/desk"  # the bucket of the s3 fixture (tests/conftest.py)


def _cfg(data, urls, archive: str):
    return config(data, urls, binance=["BTCUSDT"], binance_channels=["aggTrade", "bookTicker"],
                  sections={"compaction": {"enabled": True, "keep_days": 0, "archive": archive}})


async def test_the_nightly_job_compacts_onto_s3_and_prunes_after_the_manifest(tmp_path, s3):
    data = tmp_path / "data"
    day = past_day_journal(data)
    async with Simulator(source="synthetic", speed=20, seed=21) as sim:
        run = Running(_cfg(data, sim.urls, URL))
        async with run as rec:
            await until(lambda: "compaction" in rec.hooks and rec.hooks["compaction"].compacted,
                        60, "the catch-up compaction")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 100, 10, "frames after the compaction")
            assert await run.stop() == 0
    m = manifest.load(open_store(URL))
    assert list(m["days"]) == [day] and m["days"][day]["records"] == 51
    assert not (data / "archive" / "manifest.json").exists()  # the archive is the bucket's
    assert not (data / "journal" / day).exists()  # pruned, once the bucket listed the day
    Journal(data).assert_gapless()
    # what the bucket holds answers a query
    trades = connect(None, archive=URL).sql("SELECT count(*) FROM trades").fetchall()[0][0]
    assert trades == 50


async def test_a_missing_bucket_fails_the_job_prunes_nothing_recording_goes_on(tmp_path, s3):
    data = tmp_path / "data"
    day = past_day_journal(data)
    async with Simulator(source="synthetic", speed=20, seed=22) as sim:
        run = Running(_cfg(data, sim.urls, "s3://no-such-bucket/desk"))
        async with run as rec:
            await until(lambda: "compaction" in rec.hooks and rec.hooks["compaction"].stats()["runs"]["error"],
                        60, "the failed catch-up")
            base = frames(rec)
            await until(lambda: frames(rec) > base + 100, 10, "frames after the failure")
            assert await run.stop() == 0
    assert (data / "journal" / day).exists()  # nothing pruned
    assert Journal(data).records[0].seq == 1


def test_the_archive_setting_is_checked(tmp_path):
    doc = {"recorder": {"data": str(tmp_path)},
           "venue": [{"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["trade"]}]}
    for bad in ("s3://", "s3://A_B/x", "gs://bucket/x"):
        with pytest.raises(ConfigError, match="compaction.archive"):
            build_config({**doc, "compaction": {"archive": bad}})
    assert build_config({**doc, "compaction": {"archive": URL}}).compaction.archive == URL
    assert build_config(doc).compaction.archive == ""
