"""``query market ... --follow nats://...``: one answer from the journal a recorder on another
host publishes, equal to the answer a local projection of the same journal gives."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from query.cli import main as query
from query.market import MarketData
from query.market.cli import as_json
from query.market.folded import FoldedMemory
from query.market.inprocess import DEPTH
from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from state.projector import Projector
from tools.natsserver import NatsServer

from .test_source_contract import _publish

pytestmark = pytest.mark.timeout(180)
SHARD = "seoul"
AGED = ("age_ms", "source")  # when it was asked, and which memory: not the market's state
NOWHERE = "http://127.0.0.1:9"  # REST, should memory not answer: refused at once, never the internet


def recent(capture, data):
    """The capture's journal moved in time to end a second ago: memory answers only what was
    received within ``Routing.stale_ms``, as from a recorder running now."""
    with JournalReader(capture) as r:
        streams, records = r.streams(), list(r.read())
    shift = time.time_ns() - 10**9 - records[-1].ts_ns
    w = JournalWriter(data, durability="os", background=False)
    ids = {sid: w.register_stream(s.venue, market=s.market, url=s.url, conn=s.conn, channels=s.channels,
                                  config_hash=s.config_hash, opened_ns=s.opened_ns + shift)
           for sid, s in sorted(streams.items())}
    for rec in records:
        w.append(ids[rec.stream], rec.kind, rec.payload, ts_ns=rec.ts_ns + shift, meta=rec.meta)
    w.close()
    return data


@pytest.fixture(scope="module")
def published(capture_journal, tmp_path_factory):
    data = recent(capture_journal("UPBIT"), tmp_path_factory.mktemp("recent"))
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        asyncio.run(_publish(data, srv.url, SHARD))
        yield data, srv.url
    finally:
        srv.stop()


async def _local(data, symbol: str):
    with JournalReader(data) as r:
        p = Projector(r.streams(), depth_levels=DEPTH)
        p.apply_many(r.read())
    async with MarketData(memory=FoldedMemory(p), live=False, rest_urls={"upbit": NOWHERE}) as md:
        return as_json(await md.orderbook("upbit", symbol, 5))


def _said(capsys, *args: str) -> dict:
    assert query(["market", *args, "--rest-url", NOWHERE, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _state(doc: dict) -> dict:
    """An answer without when it was asked and where from (``AGED``; per trade too)."""
    out = {k: v for k, v in doc.items() if k not in (*AGED, "requests")}
    return out


def test_a_book_from_the_followed_journal_equals_the_local_one(published, capsys):
    data, url = published
    got = _said(capsys, "book", "--follow", url, "--shard", SHARD, "--venue", "upbit", "--symbol",
                "KRW-WAVES", "--depth", "5")
    want = asyncio.run(_local(data, "KRW-WAVES"))
    assert _state(got) == _state(want) and got["bids"] and got["asks"]
    assert got["source"] == "memory" and got.get("requests", 0) == 0


def test_a_shard_nobody_publishes_is_a_clear_error(published, capsys):
    _, url = published
    assert query(["market", "ticker", "--follow", url, "--shard", "nobody", "--venue", "upbit",
                  "--symbol", "KRW-WAVES", "--rest-url", NOWHERE]) != 0
    assert "nobody" in capsys.readouterr().err.lower()
