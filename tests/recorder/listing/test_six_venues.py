"""The listing chain on every overseas venue at once, offline: the simulator's six venues list
a synthetic universe, the recorder keeps the coins Upbit has no KRW market for in the tier, a
notice for one of them is published at T, and its window holds exactly the frames of that
coin each venue sent between T - before and T + after, with the price moving after T."""

from __future__ import annotations

import json

import pytest

from query.catalog import connect
from recorder.daemon import build_config
from recorder.journal import FRAME
from recorder.journal.reader import JournalReader
from recorder.listing.windows import LISTINGS_DIR
from tests.recorder.daemon.helpers import FAST, Journal, Running, assert_byte_exact, until
from tools.bench.venues import CHANNELS, VENUES
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(180)

COIN = "SYN2"
TITLE = f"신규코인({COIN}) 신규 거래지원 안내 (KRW, USDT 마켓)"
BEFORE_S, AFTER_S = 2.0, 4.0
INTERVAL_MS = 200


def config(data, urls):
    return build_config({
        "recorder": {"data": str(data), "durability": "os", "commit_interval_ms": 5},
        "supervision": FAST,
        "compaction": {"enabled": False},
        "listing": {"enabled": True, "interval_ms": INTERVAL_MS, "market_interval_ms": 500,
                    "before_s": BEFORE_S, "after_s": AFTER_S,
                    "notice_url": urls.rest + "/api/v1/announcements?os=web&page=1&per_page=20&category=trade",
                    "market_url": urls.rest + "/v1/market/all?isDetails=false"},
        "venue": [{"venue": v, "symbols": "all", "not_on_upbit_krw": True, "channels": CHANNELS[v],
                   "ws_url": urls.ws, "rest_url": urls.rest, "tier": "short"} for v in VENUES],
    })


async def test_a_listing_is_captured_on_all_six_venues_exactly_as_sent(tmp_path):
    data = tmp_path / "data"
    async with Simulator(venues=("upbit", *VENUES), source="synthetic", seed=4,
                         universe=tuple((v, 4) for v in VENUES), universe_rate_scale=10) as s:
        async with Running(config(data, s.urls)) as rec:
            await until(lambda: rec.watcher is not None and rec.watcher.stats.seeded == {"notices", "markets"},
                        timeout=30, what="the watcher seeded")
            await until(lambda: len(rec.links) >= 6, timeout=30, what="every venue connected")
            pub = s.notice(title=TITLE, in_s=BEFORE_S + 1, market=f"KRW-{COIN}", market_after_s=1)
            await until(lambda: rec.capture.cut_count == 1, timeout=40, what="the window cut")
        tier = Journal(data / "tier")
        tier.assert_gapless()
        assert assert_byte_exact(s, tier) > 100
    assert pub["moved"] == sorted(VENUES)
    main = Journal(data)
    (listing,) = [m for m in main.marks() if m.get("mark") == "listing"]
    (window,) = [m for m in main.marks() if m.get("mark") == "window"]
    t = pub["first_ms"] * 1_000_000
    assert listing["symbol"] == COIN and listing["announced_at_ns"] == t
    assert 0 <= listing["latency_ms"] < INTERVAL_MS + 100
    start, end = t - int(BEFORE_S * 1e9), t + int(AFTER_S * 1e9)
    assert (window["start_ns"], window["end_ns"]) == (start, end)

    # the tier's frames of the coin in the window, by the bytes alone, per venue
    with JournalReader(data / "tier") as r:
        streams = r.streams()
        want = [(rec.seq, rec.payload) for rec in r.read()
                if rec.kind == FRAME and start <= rec.ts_ns < end and COIN.encode() in rec.payload]
        venue_of = {rec.seq: streams[rec.stream].venue for rec in r.read() if rec.kind == FRAME}
    (out,) = (data / LISTINGS_DIR).iterdir()
    with JournalReader(out) as r:
        recs = [rec for rec in r.read() if rec.kind == FRAME]
        got = [(rec.meta["tier_seq"], rec.payload) for rec in recs if not rec.meta.get("context")]
        context = [rec for rec in recs if rec.meta.get("context")]
    assert all(rec.ts_ns < start for rec in context)  # a diff book's frames since its snapshot
    assert got == want
    per_venue = {}
    for seq, _ in got:
        per_venue[venue_of[seq]] = per_venue.get(venue_of[seq], 0) + 1
    assert per_venue == window["frames"] and set(per_venue) == set(VENUES)

    # the coin moved after the announcement, on every venue: its price before T (all the
    # tier saw of it) against the highest in the window from T + 0.5 s
    tier_db = connect(data / "tier")
    before = dict(tier_db.execute(
        "SELECT venue, avg(p) FROM (SELECT venue, norm, ts_ns, price AS p FROM trades UNION ALL "
        "SELECT venue, norm, ts_ns, (bid_px + ask_px) / 2 FROM quotes WHERE bid_px > 0) "
        f"WHERE norm LIKE '{COIN}-%' AND ts_ns < {t} GROUP BY venue").fetchall())
    after = dict(connect(data).execute(
        "SELECT venue, max(coalesce(price, (bid_px + ask_px) / 2)) FROM listing_windows "
        "WHERE rel_ms >= 500 GROUP BY venue").fetchall())
    assert sorted(before) == sorted(after) == sorted(VENUES), (before, after)
    for venue in VENUES:
        assert after[venue] > before[venue] * 1.2, (venue, before[venue], after[venue])
    assert json.loads(json.dumps(listing))["markets"] == ["KRW", "USDT"]
