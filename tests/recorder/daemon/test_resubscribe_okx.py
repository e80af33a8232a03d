"""The resubscribing resync (OKX books): which link, what is sent, coalescing, the op budget."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

from recorder.daemon.resubscribe import Resubscriber
from recorder.venues import okx
from recorder.venues.base import Backoff, WindowLimit


class FakeLink:
    def __init__(self, sid: int, is_open: bool = True) -> None:
        self.sid = sid
        self.is_open = is_open
        self.sent: list[bytes] = []

    async def send(self, payload: bytes) -> None:
        await asyncio.sleep(0)
        self.sent.append(payload)


def _adapter():
    opts = SimpleNamespace(venue="okx", symbols=("BTC-USDT", "ETH-USDT"), channels=("books", "trades"),
                           ping_interval_s=60.0, max_streams_per_connection=2,
                           ws_base="ws://127.0.0.1:1", rest_base="http://127.0.0.1:2")
    return okx.OkxAdapter(opts, backoff=Backoff(), stale_after_s=10.0, new_id=lambda: "x")


def _setup(limit=None):
    a = _adapter()
    plans = a.plans()
    assert [p.streams for p in plans] == [("books:BTC-USDT", "trades:BTC-USDT"),
                                         ("books:ETH-USDT", "trades:ETH-USDT")]
    links = [[FakeLink(1, is_open=False), FakeLink(2)], [FakeLink(3)]]
    sups = [SimpleNamespace(venue="okx", plan=p, links=ls) for p, ls in zip(plans, links)]
    other = SimpleNamespace(venue="upbit", plan=plans[1], links=[FakeLink(9)])
    r = Resubscriber(a, supervisors=lambda: [other, *sups], log=logging.getLogger("t"),
                     op_limiter=limit)
    return r, links


async def test_sends_unsubscribe_subscribe_on_the_open_link_carrying_the_book():
    r, links = _setup()
    r.request("eth-usdt", "gap")
    assert r.pending("ETH-USDT")
    r.request("ETH-USDT", "checksum")  # coalesced while on its way
    await r.inflight["ETH-USDT"]
    assert not r.pending("ETH-USDT")
    assert links[1][0].sent == list(okx.resubscribe_messages("ETH-USDT"))
    assert links[0][0].sent == links[0][1].sent == []
    r.request("BTC-USDT", "gap")
    await r.inflight["BTC-USDT"]
    assert links[0][1].sent == list(okx.resubscribe_messages("BTC-USDT")) and links[0][0].sent == []
    assert r.sent == {"ETH-USDT": 1, "BTC-USDT": 1}


async def test_no_open_link_sends_nothing():
    r, links = _setup()
    links[1][0].is_open = False
    r.request("ETH-USDT", "gap")
    await r.inflight["ETH-USDT"]
    assert links[1][0].sent == [] and r.sent == {}


async def test_the_op_budget_is_per_connection_and_counts_both_messages():
    budgets: list[WindowLimit] = []

    def limiter() -> WindowLimit:
        budgets.append(WindowLimit(480, 3600.0))
        return budgets[-1]

    r, _ = _setup(limiter)
    for sym in ("ETH-USDT", "BTC-USDT", "ETH-USDT"):
        r.request(sym, "gap")
        await r.inflight[sym]
    assert len(budgets) == 2  # one per link
    assert sorted(b.used(time.monotonic()) for b in budgets) == [2, 4]
