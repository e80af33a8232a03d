"""query.market.attach: a second process reads a running recorder's live table under load
without a torn or damaged row, and asks it for symbols and journal entries over its socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from query.market.attach import Attached
from query.market.errors import (
    MarketDataError,
    UnknownSymbolError,
    UnknownVenueError,
    VenueUnavailableError,
)
from recorder.daemon.publish import ATTACH_FILE, live_dir
from tests.recorder.daemon.helpers import Journal, Running, config, until
from tools.simulator import Simulator

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[3]


async def _reader(data: Path, seconds: float) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.query.market.attach_reader", str(data), str(seconds),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("batch", [False, True], ids=["every-record", "batched"])
async def test_second_process_reads_under_load_without_torn_rows(tmp_path, batch):
    """Every record rewrites its row (the most writes racing the reads), or once per batch
    (the default)."""
    async with Simulator(source="synthetic", speed="max", seed=61) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "ETHUSDT", "SOLUSDT"],
                     binance_channels=["depth", "aggTrade", "bookTicker"],
                     upbit=["KRW-BTC", "KRW-ETH"], sections={"publish": {"batch": batch}})
        async with Running(cfg) as rec:
            pub = rec.publisher
            assert pub is not None
            await until(lambda: len(pub.rows) >= 5, 20, "rows of every symbol")
            before = pub.published
            stats = await _reader(tmp_path, 3.0)
            written = pub.published - before
        print(stats, {"written": written, **pub.stats()})
    assert stats["alive"] is True
    assert stats["rows"] >= 5
    assert stats["reads"] >= 20_000 and stats["values"] >= 19_000, stats
    # the recorder rewrote rows all along, and the reader saw them change (how often depends
    # on the machine's load: enough to race, not a rate)
    assert written >= (100 if batch else 2_000), written
    assert stats["changes"] >= (50 if batch else 500), stats
    assert stats["crc_errors"] == 0 and stats["damaged"] == 0, stats
    assert stats["torn"] == 0 and stats["backwards"] == 0, stats
    # a read gives up only when the writer stays mid-write for 10k retries (it yields the CPU
    # after 64): practically never, unless the writer died mid-write
    assert stats["busy"] <= stats["reads"] // 10_000, stats
    assert stats["timed"] > 1000 and stats["row_ns_p50"] is not None


async def test_subscribe_adds_symbols_without_reconnecting_others(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=62) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], upbit=["KRW-BTC"],
                     upbit_channels=["trade", "orderbook"])
        async with Running(cfg) as rec:
            att = Attached(tmp_path)
            await until(lambda: att.row("binance-usdm", "BTCUSDT") is not None
                        and att.row("upbit", "KRW-BTC") is not None, 20, "first rows")
            assert att.row("binance-usdm", "ETHUSDT") is None
            before = {s.name: [link.sid for link in s.links] for s in rec.supervisors}
            added, already = await att.subscribe("binance-usdm", ["ethusdt", "BTCUSDT"])
            assert (added, already) == (["ETHUSDT"], ["BTCUSDT"])
            assert await att.subscribe("upbit", ["KRW-XRP"]) == (["KRW-XRP"], [])
            await until(lambda: att.row("binance-usdm", "ETHUSDT") is not None
                        and att.row("upbit", "KRW-XRP") is not None, 20, "the added symbols' rows")
            row = att.row("upbit", "KRW-XRP")
            assert row is not None and row.venue == "upbit" and row.norm == "XRP-KRW"
            # the added diff book is synced like the others (its snapshot fetched)
            await until(lambda: (r := att.row("binance-usdm", "ETHUSDT")) is not None and r.valid
                        and len(r.bids) > 0, 20, "the added book in sync")
            # the connections open before are the same ones (no reconnect)
            for sup in rec.supervisors:
                if sup.name in before:
                    assert [link.sid for link in sup.links] == before[sup.name], sup.name
            # ...and carry the added symbols too (subscribed live: no connection was added)
            assert len(rec.supervisors) == len(before)
            status = await att.status()
            assert status["venues"] == {"binance-usdm": ["BTCUSDT", "ETHUSDT"],
                                        "upbit": ["KRW-BTC", "KRW-XRP"]}
            # the Upbit slot reconnects on both codes (a fresh ticket)
            up = next(s for s in rec.supervisors if s.venue == "upbit")
            assert up.adapter.replan(up.plan, up.index).streams == up.plan.streams
            assert {st.split(":")[1] for st in up.plan.streams} == {"KRW-BTC", "KRW-XRP"}
            assert await att.unsubscribe("upbit", ["KRW-XRP", "KRW-DOGE"]) == (["KRW-XRP"], ["KRW-DOGE"])
            assert (await att.status())["venues"]["upbit"] == ["KRW-BTC"]
            with pytest.raises(UnknownVenueError, match="binance-usdm"):
                await att.subscribe("okx", ["BTC-USDT"])
            with pytest.raises(UnknownSymbolError):
                await att.subscribe("upbit", ["BTCUSDT"])
            assert att.alive()
            att.close()


async def test_journal_op_lands_as_a_rest_record(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=63) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"])
        async with Running(cfg) as rec:
            att = Attached(tmp_path)
            body = b'[{"market":"KRW-BTC","trade_price":1}]'
            url = "https://api.upbit.com/v1/ticker?markets=KRW-BTC"
            seq = await att.journal("upbit", url, 200, body, recv_ns=123)
            seq2 = await att.journal("upbit", url, 429, b"too many", recv_ns=124)
            seq3 = await att.mark("upbit", "circuit", {"old": "closed", "new": "open",
                                                        "limit": Decimal("0.5")})
            seq4 = await att.mark("", "api_started")
            assert seq4 > seq3 > seq2 > seq > 0
            await until(lambda: rec.writer.committed_seq >= seq4, 10, "commit")
    j = Journal(tmp_path)
    by_seq = {r.seq: r for r in j.records}
    r1, r2 = by_seq[seq], by_seq[seq2]
    assert (r1.kind, r1.payload, r1.meta["url"], r1.meta["status"], r1.meta["recv_ns"]) == (
        "rest", body, url, 200, 123)
    assert (r2.kind, r2.payload, r2.meta["status"]) == ("error", b"too many", 429)
    info = j.streams[r1.stream]
    assert (info.venue, info.conn) == ("upbit", "upbit.api") and r1.stream == r2.stream
    r3, r4 = by_seq[seq3], by_seq[seq4]
    assert (r3.kind, r3.stream) == ("mark", r1.stream)
    assert json.loads(r3.payload) == {"mark": "circuit", "old": "closed", "new": "open",
                                      "limit": "0.5"}
    assert json.loads(r4.payload) == {"mark": "api_started"}
    assert (j.streams[r4.stream].venue, j.streams[r4.stream].conn) == ("recorder", "recorder.api")


async def test_bad_control_input_gets_an_error_reply(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=64) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"])
        async with Running(cfg) as rec:
            path = json.loads((live_dir(tmp_path) / ATTACH_FILE).read_text())["control"]
            reader, writer = await asyncio.open_unix_connection(path)
            bad = [b"not json", b"[1,2]", b'{"op":"nope"}', b'{"op":"subscribe"}',
                   b'{"op":"subscribe","venue":"binance-usdm","symbols":[1]}',
                   b'{"op":"journal","venue":"upbit","url":"u","status":200,"body_b64":"!!"}',
                   b'{"op":"journal","venue":"nowhere","url":"u","status":200,"body_b64":""}',
                   b'{"op":"journal","venue":"upbit","url":"u","status":true,"body_b64":""}',
                   b'{"op":"mark","venue":"upbit","text":"x","fields":[1]}',
                   b"\xff\xfe", b'{"op":"status"}']
            replies = []
            for line in bad:
                writer.write(line + b"\n")
                await writer.drain()
                replies.append(json.loads(await reader.readline()))
            writer.close()
            assert [r["ok"] for r in replies] == [False] * (len(bad) - 1) + [True]
            assert all(r["error"] for r in replies[:-1])
            assert "unknown op" in replies[2]["error"]
            assert replies[6]["code"] == "unknown_venue" and "upbit" in replies[6]["choices"]
            assert rec.control is not None and rec.control.refused == len(bad) - 1
            # a client's misuse surfaces as a typed error, and the recorder goes on
            att = Attached(tmp_path)
            with pytest.raises(MarketDataError, match="body_b64"):
                await att.ask({"op": "journal", "venue": "upbit", "url": "u", "status": 200})
            assert (await att.status())["venues"] == {"binance-usdm": ["BTCUSDT"]}
            assert not rec.stopping


async def test_no_recorder_is_a_clear_error(tmp_path):
    with pytest.raises(VenueUnavailableError, match="no recorder runs at"):
        Attached(tmp_path)
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "attach.json").write_text("{not json")
    with pytest.raises(VenueUnavailableError, match="unreadable"):
        Attached(tmp_path)
    # a recorder that died without cleaning up: its pid is gone
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    (tmp_path / "live" / "attach.json").write_text(json.dumps(
        {"pid": proc.pid, "control": str(tmp_path / "live" / "control.sock"), "table": None}))
    with pytest.raises(VenueUnavailableError, match="not running"):
        Attached(tmp_path)
    # a live pid whose table is not a table, then one whose socket does not answer
    (tmp_path / "t").write_bytes(b"garbage" * 20)
    (tmp_path / "live" / "attach.json").write_text(json.dumps(
        {"pid": os.getpid(), "control": str(tmp_path / "live" / "control.sock"),
         "table": str(tmp_path / "t")}))
    with pytest.raises(VenueUnavailableError, match="not a live table"):
        Attached(tmp_path)
    (tmp_path / "live" / "attach.json").write_text(json.dumps(
        {"pid": os.getpid(), "control": str(tmp_path / "live" / "control.sock"), "table": None}))
    att = Attached(tmp_path)
    assert att.row("upbit", "KRW-BTC") is None and att.symbols() == []
    with pytest.raises(VenueUnavailableError, match="control socket"):
        await att.subscribe("upbit", ["KRW-BTC"])


async def test_stale_after_the_recorder_stops(tmp_path):
    async with Simulator(source="synthetic", speed=20, seed=65) as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"])
        run = Running(cfg)
        async with run as rec:
            att = Attached(tmp_path, stale_after_s=1.0)
            await until(lambda: att.row("binance-usdm", "BTCUSDT") is not None, 20, "a row")
            assert att.alive()
            assert rec.publisher is not None
            await run.stop()
        # the table's heartbeat stops: stale a second later (our pid lives on in this test)
        assert not att.alive(time.time_ns() + 2_000_000_000)
        with pytest.raises(VenueUnavailableError):
            Attached(tmp_path)
