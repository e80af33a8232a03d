"""The capture window end to end: the overseas universe journaled into the tier, a notice
published at T on the simulator's board, the listing marked, and the window of its coin cut
out of the tier for good, holding exactly the coin's frames received in [T - before,
T + after), which are exactly what the simulator sent; a restart inside the window loses
none of it."""

from __future__ import annotations

import asyncio
import json

import pytest

from recorder.daemon import build_config
from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
from recorder.listing.windows import LISTINGS_DIR
from tests.recorder.daemon.helpers import FAST, Journal, Running, assert_byte_exact, until
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(120)

TITLE = "테스트코인(TSTC) 신규 거래지원 안내 (KRW, USDT 마켓)"
BEFORE_S, AFTER_S = 2.0, 3.0


def config(data, urls, *, tier: str = "short"):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST,
        "compaction": {"enabled": False},
        "listing": {"enabled": True, "interval_ms": 200, "market_interval_ms": 500,
                    "before_s": BEFORE_S, "after_s": AFTER_S,
                    "notice_url": urls.rest + "/api/v1/announcements?page=1&per_page=20&category=trade",
                    "market_url": urls.rest + "/v1/market/all"},
        "venue": [{"venue": "binance-spot", "symbols": ["TSTCUSDT", "BTCUSDT"],
                   "channels": ["trade", "bookTicker"], "ws_url": urls.ws, "rest_url": urls.rest,
                   "listing": False, "tier": tier}],
    })


def window_frames(data) -> list[tuple[int, bytes, int]]:
    (out,) = (data / LISTINGS_DIR).iterdir()
    with JournalReader(out) as r:
        recs = list(r.read())
    (mark,) = [r for r in recs if r.kind == "mark"]
    detected = json.loads(mark.payload)["detected_at_ns"]
    assert b'"TSTC"' in mark.payload and mark.ts_ns == detected  # known when it was detected
    assert all(r.ts_ns < detected for r in recs if r.seq < mark.seq)
    assert all(r.ts_ns >= detected for r in recs if r.seq > mark.seq)
    return [(r.ts_ns, r.payload, r.meta["tier_seq"]) for r in recs
            if r.kind == FRAME and not r.meta.get("context")]


def tier_frames_of_coin(data, start_ns, end_ns) -> list[tuple[int, bytes, int]]:
    with JournalReader(data / "tier") as r:
        return [(rec.ts_ns, rec.payload, rec.seq) for rec in r.read()
                if rec.kind == FRAME and start_ns <= rec.ts_ns < end_ns
                and b'"s":"TSTCUSDT"' in rec.payload]


async def test_the_window_holds_exactly_the_coins_frames_around_the_announcement(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit", "binance-spot"), seed=2, speed=5) as s:
        async with Running(config(data, s.urls)) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"})
            pub = s.notice(title=TITLE, in_s=BEFORE_S + 0.5)
            await until(lambda: rec.capture is not None and rec.capture.cut_count == 1,
                        timeout=30, what="the window cut")
        tier = Journal(data / "tier")
        tier.assert_gapless()
        assert assert_byte_exact(s, tier) > 20  # the tier holds what was sent, byte for byte
    main = Journal(data)
    assert not any(r.kind == FRAME for r in main.records)  # the venue went to the tier only
    (listing,) = [m for m in main.marks() if m.get("mark") == "listing"]
    (window,) = [m for m in main.marks() if m.get("mark") == "window"]
    t = pub["first_ms"] * 1_000_000
    assert listing["announced_at_ns"] == t
    assert (window["start_ns"], window["end_ns"]) == (t - int(BEFORE_S * 1e9), t + int(AFTER_S * 1e9))
    want = tier_frames_of_coin(data, window["start_ns"], window["end_ns"])
    assert len(want) > 5 and window_frames(data) == want
    assert window["frames"] == {"binance-spot": len(want)}


async def test_a_restart_inside_the_window_loses_nothing(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit", "binance-spot"), seed=2, speed=5) as s:
        cfg = config(data, s.urls)
        async with Running(cfg) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"})
            pub = s.notice(title=TITLE, in_s=0.3)
            await until(lambda: rec.watcher.stats.listings == 1, what="the listing")
        assert not (data / LISTINGS_DIR).exists()  # stopped inside the window: booked only
        async with Running(cfg) as rec:
            await until(lambda: rec.capture.cut_count == 1, timeout=30, what="the window cut")
    t = pub["first_ms"] * 1_000_000
    want = tier_frames_of_coin(data, t - int(BEFORE_S * 1e9), t + int(AFTER_S * 1e9))
    got = window_frames(data)
    assert got == want and len(got) > 5
    assert not (data / "listing" / "windows.json").read_bytes().strip(b"[] ")


async def test_without_a_tier_the_window_is_cut_from_the_journal(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit", "binance-spot"), seed=2, speed=5) as s:
        async with Running(config(data, s.urls, tier="")) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"})
            s.notice(title=TITLE, in_s=BEFORE_S)
            await until(lambda: rec.capture.cut_count == 1, timeout=30, what="the window cut")
    assert not (data / "tier").exists()
    frames = window_frames(data)
    assert len(frames) > 5 and all(b"TSTCUSDT" in p for _, p, _ in frames)
    await asyncio.sleep(0)


async def test_query_lists_the_listing_and_its_window_in_sql_json_and_html(tmp_path):
    """``listings`` and ``listing_windows`` over what a run detected and cut; ``query listings``
    in JSON (times ISO-8601) and its HTML report."""
    import json
    import subprocess
    import sys

    from query.catalog import connect

    data = tmp_path / "data"
    async with Simulator(venues=("upbit", "binance-spot"), seed=2, speed=5) as s:
        async with Running(config(data, s.urls)) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"})
            pub = s.notice(title=TITLE, in_s=BEFORE_S)
            await until(lambda: rec.capture.cut_count == 1, timeout=30, what="the window cut")
    con = connect(data)
    (row,) = con.sql("SELECT symbol, markets, notice_id, title, latency_ms, window_name, "
                     "epoch_ms(announced_at) FROM listings").fetchall()
    assert row[:4] == ("TSTC", ["KRW", "USDT"], pub["id"], TITLE)
    assert row[6] == pub["first_ms"] and row[5].endswith(f"TSTC-{pub['first_ms'] // 1000}")
    kinds = dict(con.sql("SELECT kind, count(*) FROM listing_windows GROUP BY 1").fetchall())
    frames = window_frames(data)
    trades = sum(b'"e":"trade"' in p for _, p, _ in frames)
    assert kinds["trade"] == trades and kinds["quote"] > 0
    lo, hi, venues = con.execute("SELECT min(rel_ms), max(rel_ms), list(DISTINCT venue) "
                                 "FROM listing_windows").fetchone()
    assert -BEFORE_S * 1000 <= lo and hi < AFTER_S * 1000 and venues == ["binance-spot"]
    assert con.execute("SELECT count(*) FROM listing_windows WHERE norm <> 'TSTC-USDT'").fetchone() == (0,)

    out = subprocess.run([sys.executable, "-m", "query.cli", "listings", "--data", str(data),
                          "--json", "--html"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (doc,) = json.loads(out.stdout)["listings"]
    assert set(doc) == {"symbol", "markets", "notice_id", "title", "announced_at", "detected_at",
                        "latency_ms", "window"}
    assert doc["symbol"] == "TSTC" and doc["announced_at"].endswith("Z")
    page = (data / LISTINGS_DIR / doc["window"] / "report.html").read_text()
    assert "<svg" in page and "binance-spot TSTC-USDT" in page and "<script" not in page


async def test_the_example_listing_strategy_trades_the_window_after_the_listing_only(tmp_path):
    """``data/strategies/listing_momentum.py`` over a cut window: it buys the coin when the
    listing is known (not before: the mark sits at its detection time) and sells ``hold_s``
    later; the same run twice is the same digest."""
    from pathlib import Path

    from replay.run import run_strategy
    from replay.source import HistoricalSource

    data = tmp_path / "data"
    async with Simulator(venues=("upbit", "binance-spot"), seed=2, speed=5) as s:
        async with Running(config(data, s.urls)) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"})
            s.notice(title=TITLE, in_s=BEFORE_S)
            await until(lambda: rec.capture.cut_count == 1, timeout=30, what="the window cut")
    (window,) = (data / LISTINGS_DIR).iterdir()
    strategy = str(Path(__file__).resolve().parents[3] / "data" / "strategies" / "listing_momentum.py")
    runs = []
    for _ in range(2):
        with HistoricalSource(window) as src:
            result, _ = run_strategy(src, strategy, params=["hold_s=1", "stop=0.5"])
        runs.append(result)
    result = runs[0]
    with JournalReader(window) as r:
        mark = next(x for x in r.read() if x.kind == "mark")
    buys = [f for f in result.fills if f.side == "buy"]
    sells = [f for f in result.fills if f.side == "sell"]
    assert buys and sells, result.fills
    assert all(f.venue == "binance-spot" and f.symbol == "TSTCUSDT" for f in result.fills)
    assert min(f.ts_ns for f in buys) >= mark.ts_ns
    assert min(f.ts_ns for f in sells) >= min(f.ts_ns for f in buys) + 1_000_000_000
    assert runs[0].digest == runs[1].digest
