"""The simulator's KuCoin: token, welcome, subscribe acks and errors, ping/pong, the looped
capture's gapless sequences, snapshots consistent with the diffs, gaps and the idle cut."""

from __future__ import annotations

import asyncio

import orjson

from tools.simulator import Simulator
from tools.simulator.captures import CRYPTOFEED_KUCOIN, read_cryptofeed
from tools.simulator.kucoin_market import KucoinCapture, KucoinCaptureSource

from .simhelp import http, recv_for, recv_n, ws_connect


async def _token(rest: str) -> tuple[str, dict]:
    status, _, body = await http("POST", f"{rest}/api/v1/bullet-public")
    assert status == 200
    data = orjson.loads(body)["data"]
    return data["token"], data["instanceServers"][0]


async def _connect(sim: Simulator, cid: str = "c1"):
    token, server = await _token(sim.urls.rest)
    assert server["endpoint"] == "wss://ws-api-spot.kucoin.com/"
    c = sim.config
    assert (server["pingInterval"], server["pingTimeout"]) == (c.kucoin_ping_interval_ms,
                                                               c.kucoin_ping_timeout_ms)
    ws = await ws_connect(f"{sim.urls.ws}/?token={token}&connectId={cid}").__aenter__()
    assert orjson.loads(await ws.recv()) == {"id": cid, "type": "welcome"}
    return ws


def _sub(rid: str, topic: str) -> bytes:
    return orjson.dumps({"id": rid, "type": "subscribe", "topic": topic, "response": True})


async def test_token_welcome_ack_error_and_ping():
    async with Simulator(venues=("kucoin",), speed=5) as sim:
        assert (sim.config.kucoin_ping_interval_ms, sim.config.kucoin_ping_timeout_ms) == (18000, 10000)
        ws = await _connect(sim)
        try:
            await ws.send(orjson.dumps({"id": "p1", "type": "ping"}))
            assert orjson.loads(await ws.recv()) == {"id": "p1", "type": "pong"}
            await ws.send(_sub("s1", "/market/level2:FET-BTC,SNX-BTC"))
            assert orjson.loads(await ws.recv()) == {"id": "s1", "type": "ack"}
            await ws.send(_sub("s2", "/market/level2:btc-usdt"))
            frames = [orjson.loads(f) for f in await recv_for(ws, 1.0)]
            err = next(f for f in frames if f.get("id") == "s2")
            assert err["type"] == "error" and err["code"] == 404 and "btc-usdt" in err["data"]
            data = [f for f in frames if f["type"] == "message"]
            assert data and {f["data"]["symbol"] for f in data} <= {"FET-BTC", "SNX-BTC"}
        finally:
            await ws.close()
        # a token is good for one connection; an unknown one gets an error and a close
        async with ws_connect(f"{sim.urls.ws}/?token=nope&connectId=x") as bad:
            assert orjson.loads(await bad.recv())["code"] == 401
            await asyncio.wait_for(bad.wait_closed(), 5)


async def test_synthetic_symbols_and_a_snapshot_the_diffs_continue():
    async with Simulator(venues=("kucoin",), speed=5, source="synthetic") as sim:
        ws = await _connect(sim)
        try:
            await ws.send(_sub("s1", "/market/level2:BTC-USDT"))
            await ws.send(_sub("s2", "/market/match:BTC-USDT"))
            await ws.send(_sub("s3", "/market/ticker:BTC-USDT"))
            await recv_n(ws, 3)
            first = orjson.loads(await ws.recv())
            status, _, body = await http(
                "GET", f"{sim.urls.rest}/api/v1/market/orderbook/level2_100?symbol=BTC-USDT")
            snap = orjson.loads(body)["data"]
            assert status == 200 and snap["bids"] and snap["asks"]
            seqs = [orjson.loads(f)["data"]["sequenceEnd"] for f in await recv_for(ws, 1.5)
                    if b"l2update" in (f if isinstance(f, bytes) else f.encode())]
            assert first["topic"].endswith(":BTC-USDT")
            assert seqs and any(s == int(snap["sequence"]) + 1 for s in seqs)
        finally:
            await ws.close()


async def test_gap_fault_skips_level2_diffs_of_that_symbol():
    async with Simulator(venues=("kucoin",), speed=5, source="synthetic") as sim:
        ws = await _connect(sim)
        try:
            await ws.send(_sub("s1", "/market/level2:ETH-USDT"))
            _ack, before = await recv_n(ws, 2)
            assert sim.fault("gap", symbol="ETH-USDT", venue="kucoin")["pending"] == 1
            msgs = [orjson.loads(f)["data"] for f in [before, *await recv_for(ws, 1.5)]]
            ends = [(m["sequenceStart"], m["sequenceEnd"]) for m in msgs]
            assert any(b[0] != a[1] + 1 for a, b in zip(ends, ends[1:], strict=False))
        finally:
            await ws.close()


async def test_idle_client_is_cut_after_ping_interval_plus_timeout():
    async with Simulator(venues=("kucoin",), speed=5, source="synthetic",
                         kucoin_ping_interval_ms=300, kucoin_ping_timeout_ms=200) as sim:
        ws = await _connect(sim)
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000 and "ping" in ws.close_reason


def test_the_looped_capture_is_gapless_and_shifted():
    cap = KucoinCapture(read_cryptofeed(CRYPTOFEED_KUCOIN))
    assert len(cap.symbols) == 9 and "BCHSV-USDT" in cap.snapshots
    src = KucoinCaptureSource(cap)
    last: dict[str, int] = {}
    first_pass = []
    for _ in range(2 * len(cap.frames) + 10):
        ev = src.pop()
        if len(first_pass) < len(cap.frames):
            first_pass.append(ev.data)
        if ev.kind == "level2":
            d = orjson.loads(ev.data)["data"]
            if ev.symbol in last:
                assert d["sequenceStart"] == last[ev.symbol] + 1
            last[ev.symbol] = d["sequenceEnd"]
    assert first_pass == [p for _, _, _, p in cap.frames]  # the first pass byte for byte
