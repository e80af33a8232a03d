"""The snapshot fetcher against a fake HTTP GET: coalescing, pending until journaled,
refusals journaled and retried, a body that is no snapshot fetched again."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from recorder.daemon.adapters import adapter_for
from recorder.daemon.config import Supervision, VenueConfig
from recorder.daemon.snapshots import Response, SnapshotFetcher
from recorder.errors import RecorderUsageError

from .helpers import until

LOG = logging.getLogger("test")
SNAP = b'{"lastUpdateId":1000,"E":1,"T":1,"bids":[["1","1"]],"asks":[["2","1"]]}'


class FakeJournal:
    def __init__(self, fetcher_ref: list) -> None:
        self.records: list[tuple[int, str, bytes, dict | None, bool]] = []
        self.streams: list[tuple[str, str, str]] = []
        self.fetcher_ref = fetcher_ref

    def register(self, venue, *, url, conn, channels) -> int:
        self.streams.append((venue, url, conn))
        return 9

    def append(self, sid, kind, payload, meta=None) -> None:
        f = self.fetcher_ref[0]
        # what the resync sees at the moment the body is appended (the projection folds it)
        pending = f.pending("BTCUSDT")
        self.records.append((sid, kind, payload, meta, pending))


class Counters:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def rest(self, venue, path, status) -> None:
        self.calls.append((venue, path, status))


def make(answers: list, sup: Supervision | None = None):
    sup = sup or Supervision(backoff_initial_s=0.01, backoff_max_s=0.02, jitter=0.0,
                             rate_limit_cooldown_s=0.05)
    adapter = adapter_for(VenueConfig("binance-usdm", ("BTCUSDT", "ETHUSDT"), ("depth",),
                                      rest_url="http://127.0.0.1:9"), sup)
    calls: list[str] = []

    def get(url: str, timeout: float) -> Response:
        calls.append(url)
        return answers.pop(0)

    ref: list = []
    journal = FakeJournal(ref)
    counters = Counters()
    f = SnapshotFetcher(adapter, journal=journal, log=LOG, rest_timeout_s=1.0,
                        rng=random.Random(1), counters=counters, get=get)
    ref.append(f)
    return f, journal, counters, calls


async def test_requests_coalesce_and_stay_pending_until_the_body_is_journaled():
    ok = Response(200, {"X-MBX-USED-WEIGHT-1M": "20"}, SNAP)
    f, journal, counters, calls = make([ok, ok])
    f.request("btcusdt", "start")
    f.request("BTCUSDT", "gap")  # coalesced: one fetch
    f.request("ETHUSDT", "start")
    assert f.pending("BTCUSDT") and f.pending("ethusdt") and not f.pending("XRPUSDT")
    task = asyncio.create_task(f.run())
    try:
        await until(lambda: len(f.fetched) == 2, 5, "two snapshots")
    finally:
        task.cancel()
    assert calls == ["http://127.0.0.1:9/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
                     "http://127.0.0.1:9/fapi/v1/depth?symbol=ETHUSDT&limit=1000"]
    assert journal.streams == [("binance-usdm", "http://127.0.0.1:9", "binance-usdm.rest")]
    (sid, kind, body, meta, pending_then), _ = journal.records
    assert (sid, kind, body) == (9, "rest", SNAP)
    assert meta == {"url": calls[0], "status": 200, "weight": 20}
    assert pending_then is False  # settled before the append: a break found in it asks again
    assert not f.pending("BTCUSDT") and f.fetched == {"BTCUSDT": 1, "ETHUSDT": 1}
    assert counters.calls == [("binance-usdm", "/fapi/v1/depth", "200")] * 2


async def test_a_refusal_is_journaled_and_retried_after_its_retry_after():
    refused = Response(429, {"Retry-After": "0.2"}, b'{"code":-1003,"msg":"Too many requests"}')
    not_a_snapshot = Response(200, {}, b'{"code":-1121,"msg":"Invalid symbol."}')
    f, journal, counters, calls = make([refused, not_a_snapshot, Response(200, {}, SNAP)])
    f.request("BTCUSDT", "start")
    task = asyncio.create_task(f.run())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        await until(lambda: f.fetched.get("BTCUSDT") == 1, 5, "the snapshot")
    finally:
        task.cancel()
    assert loop.time() - t0 >= 0.19  # Retry-After honoured
    kinds = [(k, m.get("status"), m.get("class")) for _, k, _, m, _ in journal.records]
    assert kinds == [("error", 429, "rate_limit"), ("rest", 200, None), ("rest", 200, None)]
    assert journal.records[0][4] is True  # still pending while refused
    assert len(calls) == 3 and f.calls == 3 and not f.pending("BTCUSDT")
    assert [c[2] for c in counters.calls] == ["429", "200", "200"]


async def test_a_final_refusal_gives_the_request_up():
    f, journal, _, calls = make([Response(401, {}, b'{"code":-2015,"msg":"Invalid API-key"}')])
    f.request("BTCUSDT", "start")
    task = asyncio.create_task(f.run())
    try:
        await until(lambda: calls and not f.pending("BTCUSDT"), 5, "the refusal")
    finally:
        task.cancel()
    assert [r[3]["class"] for r in journal.records] == ["auth"] and f.fetched == {}


def test_a_venue_without_the_capability_has_no_fetcher():
    adapter = adapter_for(VenueConfig("upbit", ("KRW-BTC",), ("trade",)), Supervision())
    with pytest.raises(RecorderUsageError, match="upbit has no snapshot capability"):
        SnapshotFetcher(adapter, journal=None, log=LOG, rest_timeout_s=1.0,  # type: ignore[arg-type]
                        rng=random.Random(1))
