"""The simulated Gate: captures looped gapless, subscribe acks and errors, ping, REST snapshots, gaps."""

from __future__ import annotations

import asyncio

import orjson

from tools.simulator import Simulator
from tools.simulator.captures import CRYPTOFEED_GATEIO, read_cryptofeed
from tools.simulator.gate_market import GateMarket

from .simhelp import http, recv_for, recv_n, ws_connect

START_MS = 1_700_000_000_000


def _sub(channel, payload, event="subscribe"):
    return orjson.dumps({"time": 1, "channel": channel, "event": event, "payload": payload})


def test_captures_loop_with_continuous_book_chains():
    raw = read_cryptofeed(CRYPTOFEED_GATEIO)
    market = GateMarket({"spot": [raw]}, seed=1, base_ms=START_MS)
    last: dict[str, int] = {}
    times = []
    for _ in range(3 * 239):  # several loops of the capture
        ev = market.next()
        msg = orjson.loads(ev.data)
        times.append(msg["time"])
        if ev.kind == "order_book_update":
            res = msg["result"]
            if ev.symbol in last:
                assert res["U"] == last[ev.symbol] + 1, ev.symbol
            last[ev.symbol] = res["u"]
    assert times == sorted(times) and times[0] >= START_MS // 1000
    assert "spot:OMG_USDT" in last
    # the first loop keeps the capture's bytes but for the moved times
    first = market.snapshot_body("spot", "OMG_USDT", 5, START_MS)
    assert orjson.loads(first)["id"] == last["spot:OMG_USDT"]


async def test_subscribe_ack_unknown_symbol_ping_and_stream():
    async with Simulator(venues=("gate",), speed=20, seed=3, gate_symbols=("OMG_USDT", "BTC_USDT")) as sim:
        async with ws_connect(sim.urls.ws + "/ws/v4/") as ws:
            await ws.send(_sub("spot.order_book_update", ["OMG_USDT", "100ms"]))
            ack = orjson.loads((await recv_n(ws, 1))[0])
            assert ack["event"] == "subscribe" and ack["result"] == {"status": "success"}
            await ws.send(_sub("spot.trades", ["NOPE_USDT"]))
            await ws.send(b'{"time":1,"channel":"spot.ping"}')
            got = [orjson.loads(m) for m in await recv_for(ws, 1.0)]
            errors = [m for m in got if m.get("error")]
            assert errors[0]["error"] == {"code": 2, "message": "unknown currency pair NOPE_USDT"}
            assert any(m["channel"] == "spot.pong" for m in got)
            books = [m["result"] for m in got if m["channel"] == "spot.order_book_update"
                     and m["event"] == "update"]
            assert books and {b["s"] for b in books} == {"OMG_USDT"}
            assert all(b["U"] == a["u"] + 1 for a, b in zip(books, books[1:], strict=False))


async def test_futures_synthetic_symbol_snapshot_and_gap():
    async with Simulator(venues=("gate",), speed=10, seed=3) as sim:
        async with ws_connect(sim.urls.ws + "/v4/ws/usdt") as ws:
            await ws.send(_sub("futures.order_book_update", ["BTC_USDT", "100ms", "100"]))
            await recv_n(ws, 1)
            await asyncio.sleep(0.5)
            status, _, body = await http("GET", sim.urls.rest + "/api/v4/futures/usdt/order_book"
                                                                "?contract=BTC_USDT&limit=100&with_id=true")
            assert status == 200
            snap = orjson.loads(body)
            assert snap["id"] > 0 and all(isinstance(lv["s"], int) for lv in snap["bids"] + snap["asks"])
            sim.fault("gap", venue="gate", symbol="futures:BTC_USDT", count=2)
            got = [orjson.loads(m)["result"] for m in await recv_for(ws, 1.0)]
            jumps = [b["U"] - a["u"] for a, b in zip(got, got[1:], strict=False)]
            assert 3 in jumps and all(j in (1, 3) for j in jumps)
        status, _, body = await http("GET", sim.urls.rest + "/api/v4/spot/order_book?currency_pair=bad")
        assert status == 400 and b"INVALID_CURRENCY_PAIR" in body


async def test_idle_cut_when_configured():
    async with Simulator(venues=("gate",), speed=10, gate_idle_timeout_s=0.3) as sim:
        async with ws_connect(sim.urls.ws + "/ws/v4/") as ws:
            await asyncio.sleep(0.6)
            await ws.wait_closed()
            assert ws.close_code == 1000


def test_futures_capture_loops_gapless_with_int_sizes():
    from tools.simulator.captures import CRYPTOFEED_GATEIO_FUTURES

    market = GateMarket({"futures": [read_cryptofeed(CRYPTOFEED_GATEIO_FUTURES)]}, seed=1, base_ms=START_MS)
    last: dict[str, int] = {}
    kinds = set()
    for _ in range(3 * 450):
        ev = market.next()
        kinds.add(ev.kind)
        msg = orjson.loads(ev.data)
        assert msg["channel"] == "futures." + ev.kind and msg["time_ms"] >= START_MS
        if ev.kind == "order_book_update":
            res = msg["result"]
            if ev.symbol in last:
                assert res["U"] == last[ev.symbol] + 1, ev.symbol
            last[ev.symbol] = res["u"]
    assert kinds == {"order_book_update", "book_ticker"}  # the capture has no trades
    body = orjson.loads(market.snapshot_body("futures", "OMG_USDT", 10, START_MS))
    assert body["id"] == last["futures:OMG_USDT"]
    assert all(isinstance(lv["s"], int) and lv["s"] > 0 for lv in body["bids"] + body["asks"])
