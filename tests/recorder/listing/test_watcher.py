"""The listing watcher inside the daemon, against the simulator's notice board and Upbit
market list: history is never a listing, a notice published at T is marked once with its
latency, every answer is journaled first, bad answers back off and detection resumes, and
a restart neither repeats nor misses a listing."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import orjson
import pytest

from recorder.daemon import build_config
from recorder.journal import FRAME
from tests.recorder.daemon.helpers import FAST, Journal, Running, until
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(90)

TITLE = "테스트코인(TSTC) 신규 거래지원 안내 (KRW, USDT 마켓)"
INTERVAL_MS = 200


def listing_config(data, urls, *, venue: list | None = None, **listing):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST,
        "compaction": {"enabled": False},
        **({"venue": venue} if venue else {}),
        "listing": {"enabled": True, "interval_ms": INTERVAL_MS, "market_interval_ms": 300,
                    "notice_url": urls.rest + "/api/v1/announcements?os=web&page=1&per_page=20&category=trade",
                    "market_url": urls.rest + "/v1/market/all?isDetails=false", **listing},
    })


def marks(j: Journal, text: str) -> list[dict]:
    return [m for m in j.marks() if m.get("mark") == text]


def replies(j: Journal) -> list:
    return [r for r in j.records if r.kind in ("rest", "error") and (r.meta or {}).get("via") == "listing"]


async def test_a_notice_published_at_t_is_marked_once_within_one_poll(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit",), seed=1) as s:
        async with Running(listing_config(data, s.urls)) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"},
                        what="both signals seeded")
            await asyncio.sleep(0.5)
            assert rec.watcher.stats.listings == 0  # the board's history is not a listing
            pub = s.notice(title=TITLE, in_s=1.0, market="KRW-TSTC", market_after_s=1.0)
            await until(lambda: rec.watcher.stats.listings == 1, timeout=10, what="the listing")
            await asyncio.sleep(2.0)  # the market opens: the second signal must not repeat it
            stats = rec.watcher.stats
            reg = rec.metrics.registry
            assert reg.get_sample_value("ticktape_listings_total") == 1
            assert reg.get_sample_value("ticktape_listing_detection_seconds_count") == 1
            assert reg.get_sample_value("ticktape_listing_polls_total",
                                        {"signal": "notices", "verdict": "ok"}) >= 1
    j = Journal(data)
    j.assert_gapless()
    (mark,) = marks(j, "listing")
    assert mark["symbol"] == "TSTC" and mark["markets"] == ["KRW", "USDT"]
    assert mark["notice_id"] == pub["id"] and mark["title"] == TITLE
    assert mark["announced_at_ns"] == pub["first_ms"] * 1_000_000
    assert 0 <= mark["latency_ms"] < INTERVAL_MS + 100, mark
    assert mark["signal"] == "notice"
    assert stats.listings == 1 and marks(j, "market_added") == []
    # every answer journaled, 304s included, before the mark that came of it
    got = replies(j)
    assert len(got) == sum(stats.polls.values())
    assert {r.meta["status"] for r in got} <= {200, 304}
    assert any(r.meta["status"] == 304 for r in got)
    first_with_it = next(r for r in got if TITLE.encode() in r.payload)
    mark_rec = next(r for r in j.records if r.kind == "mark" and b'"listing"' in r.payload)
    assert first_with_it.seq < mark_rec.seq
    assert not any(r.kind == FRAME for r in j.records)


async def test_bad_answers_are_journaled_backed_off_and_detection_resumes(tmp_path):
    """Not JSON, a changed shape, a 403 page and a 429 in plain text from the board: each
    journaled and classified, the watcher backs off and then finds the notice; the venue
    recorded beside it never stops."""
    data = tmp_path / "data"
    upbit = [{"venue": "upbit", "symbols": ["KRW-BTC"], "channels": ["trade"], "listing": False}]
    async with Simulator(venues=("upbit",), seed=1, speed=5) as s:
        cfg = listing_config(data, s.urls, max_backoff_s=0.5,
                             venue=[{**upbit[0], "ws_url": s.urls.ws, "rest_url": s.urls.rest}])
        async with Running(cfg) as rec:
            await until(lambda: rec.watcher is not None and "notices" in rec.watcher.stats.seeded,
                        what="seeded")
            frames_before = sum(lk.frames for lk in rec.links.values())
            for kind in ("html", "shape", "forbidden", "limited"):
                s.notice(fault=kind, times=2)
            s.notice(title=TITLE, in_s=0.0)
            await until(lambda: rec.watcher.stats.listings == 1, timeout=20, what="the listing")
            stats = rec.watcher.stats
            assert sum(lk.frames for lk in rec.links.values()) > frames_before  # recording went on
            assert all(lk.is_open for lk in rec.links.values())
    assert stats.unreadable["notices"] == 4  # html x2, shape x2
    assert stats.polls[("notices", "blocked")] == 2 and stats.polls[("notices", "limited")] == 2
    j = Journal(data)
    errors = [r for r in replies(j) if r.kind == "error"]
    assert sorted({r.meta["status"] for r in errors}) == [403, 429]
    assert any(r.payload == b"Too Many Requests" for r in errors)
    assert len(marks(j, "listing")) == 1


async def test_a_restart_resumes_the_state_neither_repeating_nor_missing_a_listing(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit",), seed=1) as s:
        cfg = listing_config(data, s.urls)
        async with Running(cfg) as rec:
            await until(lambda: rec.watcher is not None and "notices" in rec.watcher.stats.seeded)
            s.notice(title=TITLE, in_s=0.0)
            await until(lambda: rec.watcher.stats.listings == 1)
        # while it is down, another coin is announced: found at the first poll after
        s.notice(title="다른코인(OTHR) KRW 마켓 디지털 자산 추가", in_s=0.0)
        async with Running(cfg) as rec:
            await until(lambda: rec.watcher.stats.listings == 1, what="the one missed")
            await asyncio.sleep(1.0)
            assert rec.watcher.stats.listings == 1
    symbols = [m["symbol"] for m in marks(Journal(data), "listing")]
    assert symbols == ["TSTC", "OTHR"]


def test_recorder_listing_alone_from_the_command_line(tmp_path):
    """``recorder listing --data DIR --notice-url URL`` records nothing but the watcher."""
    data = tmp_path / "data"

    async def main():
        async with Simulator(venues=("upbit",), seed=1) as s:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "recorder.cli", "listing", "--data", str(data),
                "--notice-url", s.urls.rest, "--market-url", s.urls.rest,
                "--interval-ms", "200", "--duration", "8",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
            # the board answered it twice: its history is taken, the next notice is news
            await until(lambda: s.notices.requests >= 2 and s.rest_counts["/v1/market/all"] >= 1,
                        timeout=30, what="the watcher polling")
            s.notice(title=TITLE, in_s=0.0)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, err

    code, err = asyncio.run(main())
    assert code == 0, err.decode()[-2000:]
    (mark,) = marks(Journal(data), "listing")
    assert mark["symbol"] == "TSTC"
    state = json.loads((data / "listing" / "detector.json").read_bytes())
    assert ["TSTC", "KRW"] in state["detector"]["announced"]
    assert orjson.loads(orjson.dumps(mark))["latency_ms"] >= 0
