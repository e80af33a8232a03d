"""The simulated Binance spot venue: one endpoint, spot shapes, acks, snapshots, pings, limits."""

from __future__ import annotations

import asyncio
import json

import orjson

from recorder.venues import binance_spot as bs
from tools.simulator import Simulator
from tools.simulator.binance_spot_server import spot_payload
from tools.simulator.captures import CRYPTOFEED_BINANCE, read_cryptofeed

from .simhelp import http, recv_for, recv_n, until, ws_connect


def _cfg(**kw):
    return {"venues": ("binance-spot",), "speed": 20.0, "start_ms": 1_700_000_000_000, **kw}


def _url(sim, streams):
    return bs.ws_url(streams, config=bs.BinanceSpotConfig(ws_url=sim.urls.ws))


async def test_capture_replayed_in_spot_shapes_and_byte_exact_to_sent():
    async with Simulator(**_cfg()) as sim:
        url = _url(sim, ["nknusdt@depth@100ms", "nknusdt@bookTicker", "nknusdt@depth20@100ms"])
        async with ws_connect(url) as ws:
            got = await recv_n(ws, 80)
        await until(lambda: sim.connections[0].closed_at is not None)
        assert [g.encode() for g in got] == sim.sent(sim.connections[0].id)[:80]
    msgs = [json.loads(g) for g in got]
    by = {}
    for m in msgs:
        by.setdefault(m["stream"], []).append(m["data"])
    diffs = by["nknusdt@depth@100ms"]
    assert all(set(d) == {"e", "E", "s", "U", "u", "b", "a"} for d in diffs)  # no pu, no T
    assert all(b["U"] == a["u"] + 1 for a, b in zip(diffs, diffs[1:], strict=False))
    assert all(set(t) == {"u", "s", "b", "B", "a", "A"} for t in by["nknusdt@bookTicker"])
    assert all(set(p) == {"lastUpdateId", "bids", "asks"} and len(p["bids"]) <= 20
               for p in by["nknusdt@depth20@100ms"])
    # the capture's own first diffs, unchanged
    raw = {f for _, f in read_cryptofeed(CRYPTOFEED_BINANCE).frames}
    first = next(g for g in got if "@depth@100ms" in g)
    assert first.encode() in raw


async def test_the_chain_holds_across_capture_loops():
    async with Simulator(**_cfg(speed="max")) as sim:
        async with ws_connect(_url(sim, ["nknusdt@depth@100ms"])) as ws:
            diffs = [json.loads(m)["data"] for m in await recv_n(ws, 500, timeout=20)]
    assert all(b["U"] == a["u"] + 1 for a, b in zip(diffs, diffs[1:], strict=False))
    assert diffs[-1]["E"] > diffs[0]["E"]  # several loops, times shifted forward


async def test_snapshot_is_spot_exact_and_raw_mode_has_no_wrapper():
    async with Simulator(**_cfg()) as sim:
        async with ws_connect(sim.urls.ws + "/ws/nknusdt@depth@100ms") as ws:
            await recv_n(ws, 1)
            status, headers, body = await http("GET", sim.urls.rest + "/api/v3/depth?symbol=NKNUSDT&limit=1000")
            later = [json.loads(m) for m in await recv_n(ws, 8)]
        assert status == 200 and "X-MBX-USED-WEIGHT-1M" in headers
        snap = json.loads(body)
        assert set(snap) == {"lastUpdateId", "bids", "asks"}
        lid = snap["lastUpdateId"]
        assert all("stream" not in d for d in later)
        # diffs already on the way are older; the first newer one starts right after the snapshot
        nxt = next(d for d in later if d["u"] > lid)
        assert nxt["U"] == lid + 1
        assert (await http("GET", sim.urls.rest + "/api/v3/depth?symbol=NOPE-1"))[0] == 400
        assert (await http("GET", sim.urls.rest + "/fapi/v1/depth?symbol=NKNUSDT"))[0] == 404


async def test_synthetic_depth_chains_the_spot_way():
    async with Simulator(**_cfg(speed="max")) as sim:
        async with ws_connect(_url(sim, ["foousdt@depth@100ms"])) as ws:
            diffs = [json.loads(m)["data"] for m in await recv_n(ws, 300, timeout=20)]
    assert all(b["U"] == a["u"] + 1 for a, b in zip(diffs, diffs[1:], strict=False))


async def test_synthetic_symbols_and_control_messages():
    async with Simulator(**_cfg(binance_spot_symbols=("FOOUSDT", "NKNUSDT"))) as sim:
        async with ws_connect(sim.urls.ws + "/stream") as ws:
            await ws.send(bs.subscribe_message(["foousdt@trade", "foousdt@aggTrade", "barusdt@trade"], 1).decode())
            assert (await recv_n(ws, 1))[0] == '{"result":null,"id":1}'
            data = [json.loads(m)["data"] for m in await recv_n(ws, 6)]
            assert {d["e"] for d in data} <= {"trade", "aggTrade"} and all(d["M"] is True for d in data)
            assert all(d["s"] == "FOOUSDT" for d in data)  # BARUSDT is no symbol here: nothing
            await ws.send(bs.list_subscriptions_message(2).decode())
            reply = next(json.loads(m) for m in await recv_for(ws, 1.0) if '"id":2' in m)
            assert reply["result"] == ["foousdt@trade", "foousdt@aggTrade", "barusdt@trade"]
            await ws.send('{"method":"NOPE","id":3}')
            err = next(json.loads(m) for m in await recv_for(ws, 1.0) if '"id":3' in m)
            assert err["code"] == 2 and bs.parse_ack(orjson.dumps(err)).ok is False


async def test_five_messages_a_second_and_server_pings():
    async with Simulator(**_cfg(binance_spot_ping_interval_s=0.2)) as sim:
        async with ws_connect(sim.urls.ws + "/stream") as ws:
            await asyncio.sleep(0.7)
            assert sim.connections[0].pings_sent >= 2  # and the client's pongs keep it open
            for i in range(6):
                await ws.send(bs.list_subscriptions_message(i).decode())
            await until(lambda: sim.connections[0].closed_at is not None, 3.0)
        assert sim.connections[0].close_code == 1008


async def test_usdm_keeps_the_shared_paths_when_both_run():
    async with Simulator(**_cfg(venues=("binance-spot", "binance-usdm"))) as sim:
        async with ws_connect(sim.urls.ws + "/ws/nknusdt@bookTicker"):
            pass
        assert sim.connections[0].venue == "binance-usdm"
        assert not sim.venue("binance-spot").accepts("/stream?streams=x@trade")


def test_spot_payload_shapes():
    fut = b'{"e":"depthUpdate","E":1,"T":1,"s":"X","U":5,"u":6,"pu":2,"b":[],"a":[]}'
    assert spot_payload("depth", fut) == b'{"e":"depthUpdate","E":1,"s":"X","U":3,"u":6,"b":[],"a":[]}'
    assert spot_payload("bookTicker", b'{"e":"bookTicker","u":1,"E":2,"T":2,"s":"X","b":"1","B":"1","a":"2","A":"1"}') \
        == b'{"u":1,"s":"X","b":"1","B":"1","a":"2","A":"1"}'
    same = b'{"e":"aggTrade","a":1,"M":true}'
    assert spot_payload("aggTrade", same) is same and spot_payload("kline_1m", same) is same


async def test_server_shutdown_event_then_close():
    async with Simulator(**_cfg()) as sim:
        async with ws_connect(sim.urls.ws + "/ws/nknusdt@bookTicker") as raw, \
                ws_connect(_url(sim, ["nknusdt@bookTicker"])) as combined:
            await until(lambda: len(sim.venue("binance-spot").sessions) == 2)
            cut = await sim.venue("binance-spot").server_shutdown(5)
            got_raw = [m async for m in raw]  # until the close
            got_combined = [m async for m in combined]
        assert sorted(cut) == [1, 2]
        assert got_raw[-1] == '{"e":"serverShutdown","E":5}'
        assert got_combined[-1] == '{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":5}}'
        await until(lambda: all(c.closed_at is not None for c in sim.connections))
