"""The simulated Bybit v5: the real capture per market, acks, refusals, ping, snapshots, faults."""

from __future__ import annotations

import asyncio
import json

import orjson

from recorder.venues import bybit as by
from tools.simulator import Simulator
from tools.simulator.bybit_market import BybitCapture, BybitMarket, read_bybit
from tools.simulator.captures import CRYPTOFEED_BYBIT

from .simhelp import http, recv_for, recv_n, until, ws_connect

START_MS = 1_700_000_000_000


def _sim(**kw) -> Simulator:
    return Simulator(**{"venues": ("bybit",), "speed": 20.0, "start_ms": START_MS, **kw})


def _url(sim, market: str) -> str:
    return by.ws_url(by.BybitConfig(ws_url=sim.urls.ws, market=market))


def _u_chain(msgs: list[dict], topic: str) -> list[tuple[str, int]]:
    return [(m["type"], m["data"]["u"]) for m in msgs if m.get("topic") == topic]


def test_the_capture_is_read_per_market():
    frames, rest = read_bybit(str(CRYPTOFEED_BYBIT))
    cap = BybitCapture(frames)
    assert cap.symbols == {"spot": ["BTCUSDT", "ETHUSDT"],
                           "linear": ["BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT"]}
    assert set(rest) == {"spot", "linear"}
    assert cap.u_span["linear:BTCUSDT"] == 15077365 - 15076952 + 1


async def test_linear_subscribe_ack_snapshot_then_chained_deltas_byte_exact():
    async with _sim() as sim:
        async with ws_connect(_url(sim, "linear")) as ws:
            (plan,) = by.plan_connections(["BTCUSDT"], ["orderbook.200", "publicTrade", "tickers"],
                                          config=by.BybitConfig(market="linear"))
            for m in plan.messages:
                await ws.send(m.decode())
            got = await recv_for(ws, 2.0)
        await until(lambda: sim.connections[0].closed_at is not None)
        assert [g.encode() for g in got] == sim.sent(sim.connections[0].id)[:len(got)]
        msgs = [json.loads(g) for g in got]
        assert msgs[0] == {"success": True, "ret_msg": "", "conn_id": msgs[0]["conn_id"],
                           "req_id": "ticktape-0-0", "op": "subscribe"}
        chain = _u_chain(msgs, "orderbook.200.BTCUSDT")
        assert chain[0][0] == "snapshot" and len(chain) > 10
        assert all(u == chain[0][1] + i for i, (_, u) in enumerate(chain))
        assert {m.get("topic") for m in msgs[1:]} == {"orderbook.200.BTCUSDT", "publicTrade.BTCUSDT",
                                                      "tickers.BTCUSDT"}
        # linear key order (type before ts); the first ticker message is a full snapshot
        book = next(g for g in got if '"orderbook.' in g and '"delta"' in g)
        assert book.index('"type"') < book.index('"ts"')
        first_ticker = next(m for m in msgs if m.get("topic") == "tickers.BTCUSDT")
        assert first_ticker["type"] == "snapshot" and "markPrice" in first_ticker["data"]


async def test_spot_acks_pong_depth_relabel_and_refusals():
    async with _sim() as sim:
        async with ws_connect(_url(sim, "spot")) as ws:
            await ws.send('{"op":"ping"}')
            pong = json.loads((await recv_n(ws, 1))[0])
            assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "op": "ping"}
            assert by.is_pong(orjson.dumps(pong))
            await ws.send(by.subscribe_message([f"tickers.S{i}USDT" for i in range(11)]).decode())
            err = json.loads((await recv_n(ws, 1))[0])
            assert err["success"] is False and err["ret_msg"] == "args size >10"
            await ws.send(by.subscribe_message(["depth.BTCUSDT"], "a").decode())
            err = json.loads((await recv_n(ws, 1))[0])
            assert by.classify_error(message=err["ret_msg"]).error_class.value == "fatal"
            await ws.send(by.subscribe_message(["orderbook.50.ETHUSDT"], "b").decode())
            got = [json.loads(m) for m in await recv_for(ws, 1.5)]
        assert got[0] == {"success": True, "ret_msg": "subscribe", "conn_id": got[0]["conn_id"],
                          "req_id": "b", "op": "subscribe"}
        chain = _u_chain(got, "orderbook.50.ETHUSDT")
        assert chain[0][0] == "snapshot" and all(u == chain[0][1] + i for i, (_, u) in enumerate(chain))
        snap = next(m for m in got if m.get("type") == "snapshot")
        assert len(snap["data"]["b"]) <= 50 and len(snap["data"]["a"]) <= 50


async def test_unknown_symbol_is_refused_with_its_topic():
    async with _sim(bybit_symbols=("spot:BTCUSDT",)) as sim:
        async with ws_connect(_url(sim, "spot")) as ws:
            await ws.send(by.subscribe_message(["publicTrade.NOPEUSDT", "publicTrade.BTCUSDT"]).decode())
            err = (await recv_n(ws, 1))[0].encode()
        assert by.frame_error(err) == "subscribe: Invalid symbol :[publicTrade.NOPEUSDT]"
        assert by.classify_error(message=by.frame_error(err)).error_class.value == "unknown_symbol"


def test_three_loops_of_the_capture_keep_every_chain_and_clock_going_forward():
    market = BybitMarket([read_bybit(str(CRYPTOFEED_BYBIT))])
    last_u: dict[str, int] = {}
    last_ts: dict[str, int] = {}
    snapshots = 0
    t = -1.0
    while market.tape.peek_t() < 3 * 42.6:
        ev = market.next()
        assert ev.t >= t
        t = ev.t
        msg = orjson.loads(ev.data)
        assert msg["ts"] >= last_ts.get(ev.symbol + ev.kind, 0)
        last_ts[ev.symbol + ev.kind] = msg["ts"]
        if ev.kind == "orderbook":
            u = msg["data"]["u"]
            if ev.symbol in last_u:
                assert u == last_u[ev.symbol] + 1, (ev.symbol, last_u[ev.symbol], u, msg["type"])
            snapshots += msg["type"] == "snapshot"
            last_u[ev.symbol] = u
    assert snapshots == 3 * 6  # each loop opens each of the 6 books with the capture's snapshot
    top = orjson.loads(market.book_snapshot("linear", "BTCUSDT", 1))["data"]
    assert (len(top["b"]), len(top["a"]), top["u"]) == (1, 1, last_u["linear:BTCUSDT"])


async def test_synthetic_symbol_and_the_loop_keeps_the_chain():
    async with _sim(speed=200.0) as sim:
        async with ws_connect(_url(sim, "linear")) as ws:
            await ws.send(by.subscribe_message(["orderbook.1.ABCUSDT", "orderbook.200.DOGEUSDT",
                                                "publicTrade.ABCUSDT"]).decode())
            got = [json.loads(m) for m in await recv_for(ws, 1.5)]  # 300 s of tape: several loops
        for topic in ("orderbook.1.ABCUSDT", "orderbook.200.DOGEUSDT"):
            chain = _u_chain(got, topic)
            assert chain and chain[0][0] == "snapshot"
            for (_, a), (typ, b) in zip(chain, chain[1:], strict=False):
                assert b == a + 1, (topic, a, b, typ)
        assert any(m.get("topic") == "publicTrade.ABCUSDT" for m in got)


async def test_gap_fault_breaks_the_chain_and_resubscribe_resyncs():
    async with _sim() as sim:
        async with ws_connect(_url(sim, "linear")) as ws:
            await ws.send(by.subscribe_message(["orderbook.200.BTCUSDT"]).decode())
            before = await recv_for(ws, 0.5)
            assert sim.venue("bybit").inject_gap("BTCUSDT", 2, market="linear")["pending"] == 2
            got = [json.loads(m) for m in before + await recv_for(ws, 1.0)]
            chain = _u_chain(got, "orderbook.200.BTCUSDT")
            steps = [b - a for (_, a), (_, b) in zip(chain, chain[1:], strict=False)]
            assert 3 in steps
            for m in by.resubscribe_messages(["BTCUSDT"], ["orderbook.200"], req_id="r"):
                await ws.send(m.decode())
            again = [json.loads(m) for m in await recv_for(ws, 0.5)]
        acks = [i for i, m in enumerate(again) if "op" in m]  # deltas in flight come first
        assert [again[i]["op"] for i in acks] == ["unsubscribe", "subscribe"]
        assert acks[1] == acks[0] + 1 and again[acks[1] + 1]["type"] == "snapshot"


async def test_idle_cut_and_instruments_rest():
    async with _sim(bybit_idle_timeout_s=0.5) as sim:
        async with ws_connect(_url(sim, "spot")), ws_connect(_url(sim, "linear")) as pinging:
            for _ in range(6):  # the pinging one stays; the silent one is cut
                await pinging.send(by.PING.decode())
                await asyncio.sleep(0.2)
            await until(lambda: sim.connections[0].closed_at is not None, 3)
            assert sim.connections[1].closed_at is None
        assert sim.connections[0].close_code == 1000 and sim.connections[0].close_reason == "idle timeout"
        status, _, body = await http("GET", sim.urls.rest + "/v5/market/instruments-info?category=linear")
        assert status == 200 and orjson.loads(body)["result"]["category"] == "linear"
        status, _, body = await http("GET", sim.urls.rest + "/v5/market/instruments-info?category=option")
        assert orjson.loads(body)["retCode"] == 10001
