"""The Prometheus endpoint serves the daemon's counters, and they equal the journal's contents."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter, defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from state.projector import Projector
from state.validation import KINDS
from tools.simulator import Simulator

from .helpers import Journal, Running, config, frames, until

pytestmark = pytest.mark.timeout(90)


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value} from one HTTP scrape of the endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out



async def test_endpoint_counters_equal_the_journal(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=11) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT"], upbit=["KRW-BTC"],
                     binance_channels=["depth", "aggTrade", "bookTicker"],
                     supervision={"stale_after_s": 60.0},
                     recorder={"metrics_port": 0})
        run = Running(cfg)
        async with run as rec:
            port = rec.metrics.port
            assert port
            f = rec.fetchers["binance-usdm"]
            await until(lambda: len(f.fetched) == 2 and frames(rec) > 300, 15, "snapshots, frames")
            # Faults that every counter family must show: a reconnect, a chain break (gap +
            # resync snapshot), malformed frames (validation findings).
            assert s.fault("drop", venue="upbit", code=1011)["conns"]
            s.fault("gap", symbol="ETHUSDT", count=3)
            await until(lambda: f.fetched.get("ETHUSDT") == 2, 10, "the resync snapshot")
            for mode in ("invalid_json", "garbage"):
                assert s.fault("malformed", venue="binance-usdm", mode=mode)["conns"]
            await until(lambda: sum(sv.reconnects for sv in rec.supervisors) == 1
                        and all(sv.up for sv in rec.supervisors), 10, "the upbit reconnect")
            # During the run: the families are served and move.
            first = scrape(port)
            await asyncio.sleep(0.3)
            second = scrape(port)
            key = "ticktape_seq_last"
            assert second[key][()] > first[key][()]
            # Quiesce (every feed silent, nothing pending) and compare with the journal.
            s.fault("silence")
            w = rec.writer
            last = -1
            while True:
                await asyncio.sleep(0.3)
                if w.last_seq == last and w.committed_seq == w.last_seq:
                    break
                last = w.last_seq
            m = scrape(port)
            scraped_at = time.time_ns()
            commits = w.commits
            j = Journal(tmp_path)
            assert await run.stop() == 0

    assert m["ticktape_seq_last"][()] == j.records[-1].seq == m["ticktape_seq_committed"][()]
    # Records and bytes by venue/conn/stream/kind: exactly the journal's.
    want_n: Counter = Counter()
    want_b: Counter = Counter()
    for r in j.records:
        info = j.streams[r.stream]
        key = (("conn", info.conn), ("kind", r.kind), ("stream", str(r.stream)), ("venue", info.venue))
        want_n[key] += 1
        want_b[key] += len(r.payload)
    assert {k: v for k, v in m["ticktape_records_total"].items() if v} == dict(want_n)
    assert {k: v for k, v in m["ticktape_record_bytes_total"].items() if v} == dict(want_b)
    assert {"frame", "open", "sent", "close", "rest", "mark", "error"} <= {k[1][1] for k in want_n}
    # Reconnects: connections opened per slot after its first.
    opened = Counter(j.streams[r.stream].conn for r in j.records if r.kind == "open")
    want_re = {(("conn", c), ("venue", c.split(".")[0])): float(n - 1) for c, n in opened.items()}
    assert m["ticktape_reconnects_total"] == want_re
    assert sum(want_re.values()) == 1
    assert all(v == 1.0 for v in m["ticktape_connection_up"].values())
    assert all(v == 0.0 for v in m["ticktape_connection_down_seconds"].values())
    # Gaps: the journal's gap marks; snapshots: its 200 depth responses.
    gaps = Counter(x["symbol"] for x in j.marks() if x["mark"] == "gap")
    assert m["ticktape_gaps_total"] == {(("symbol", k), ("venue", "binance-usdm")): float(v)
                                        for k, v in gaps.items()}
    assert gaps == {"ETHUSDT": 1}
    snaps = Counter(r.meta["url"].split("symbol=")[1].split("&")[0] for r in j.rest())
    assert m["ticktape_snapshots_total"] == {(("symbol", k), ("venue", "binance-usdm")): float(v)
                                             for k, v in snaps.items()}
    assert snaps == {"BTCUSDT": 1, "ETHUSDT": 2}
    assert sum(m["ticktape_rest_requests_total"].values()) == len(j.rest())
    # Validation: what one projection of the journal counts, by kind.
    p = Projector(j.streams)
    p.apply_many(j.records)
    want_val: Counter = Counter()
    for c in p.counters.values():
        for kind, n in c.items():
            if kind in KINDS or kind == "decode_error":
                want_val[kind] += n
    assert want_val["decode_error"] >= 2
    assert {k[0][1]: v for k, v in m["ticktape_validation_errors_total"].items()} == dict(want_val)
    n_frames = sum(1 for r in j.records if r.kind == "frame")
    assert m["ticktape_frames_projected_total"][()] == n_frames
    # Queue depth: nothing pending once quiet; the bound is the configured one.
    assert m["ticktape_writer_pending"][()] == 0
    assert m["ticktape_writer_max_pending"][()] == cfg.max_pending
    # Commit latency histogram: one observation per group commit, buckets cumulative.
    assert m["ticktape_commit_seconds_count"][()] == commits > 0
    buckets = sorted(((float(dict(k)["le"]), v) for k, v in m["ticktape_commit_seconds_bucket"].items()))
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1] == (float("inf"), commits)
    r2c = m["ticktape_receive_to_commit_seconds_count"][()]
    assert r2c > 0 and m["ticktape_receive_to_commit_seconds_sum"][()] / r2c < 0.2
    # Newest-record age: the scrape time minus the last record's receive time.
    age = m["ticktape_newest_record_age_seconds"][()]
    expect = (scraped_at - j.records[-1].ts_ns) / 1e9
    assert expect - 0.5 <= age <= expect + 0.01, (age, expect)
    assert age >= 0.25  # it grows while nothing arrives (the silence)

