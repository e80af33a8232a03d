"""Every fault the simulator injects, seen from a client, and the sent-frame report."""

from __future__ import annotations

import asyncio
import base64
import json

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from recorder.venues import binance_usdm as bn
from tools.simulator import Simulator

from .simhelp import http, recv_for, recv_n, until, ws_connect

SYMS = ("FOOUSDT", "BARUSDT")


def _sim(**kw) -> Simulator:
    """A synthetic market (starts at once, deterministic) at 20x real time."""
    cfg = {"binance_captures": (), "upbit_captures": (), "binance_symbols": SYMS, "speed": 20.0,
           "seed": 4, "start_ms": 1_700_000_000_000, **kw}
    return Simulator(**cfg)


async def _closed(ws, timeout: float = 5.0) -> ConnectionClosed:
    """Read until the connection ends; the exception says how."""
    async def go():
        while True:
            await ws.recv()

    with pytest.raises(ConnectionClosed) as err:
        await asyncio.wait_for(go(), timeout)
    return err.value


async def test_drop_aborts_or_closes_with_a_code():
    async with _sim() as sim:
        async with ws_connect(sim.urls.ws + "/public/ws/foousdt@bookTicker") as a, \
                ws_connect(sim.urls.ws + "/websocket/v1") as b, \
                ws_connect(sim.urls.ws + "/market/ws/foousdt@aggTrade") as c:
            await b.send('[{"ticket":"t"},{"type":"orderbook","codes":["KRW-BTC"]}]')
            await recv_n(a, 1), await recv_n(b, 1), await recv_n(c, 1)
            assert sim.fault("drop", venue="binance-usdm", path="/public") == {"kind": "drop", "conns": [1]}
            aborted = await _closed(a)
            assert aborted.rcvd is None  # no close frame: the TCP connection just went away
            assert sim.fault("drop", venue="upbit", code=1011)["conns"] == [2]
            closed = await _closed(b)
            assert closed.rcvd.code == 1011 and closed.rcvd.reason == "simulated drop"
            assert len(await recv_n(c, 3)) == 3  # only the selected connections were touched
        await until(lambda: all(r.closed_at is not None for r in sim.connections))
        codes = {r.id: r.close_code for r in sim.connections}
        assert codes[1] == 1006 and codes[2] == 1011


async def test_gap_skips_update_ids_of_one_symbol_only():
    async with _sim() as sim:
        async with ws_connect(sim.urls.ws + "/public/stream?streams=foousdt@depth@100ms/barusdt@depth@100ms") as ws:
            last_u: dict[str, int] = {}
            breaks: list[tuple[str, int, int]] = []

            async def read(n):
                for m in await recv_n(ws, n):
                    d = json.loads(m)["data"]
                    if d["s"] in last_u and d["pu"] != last_u[d["s"]]:
                        breaks.append((d["s"], last_u[d["s"]], d["pu"]))
                    last_u[d["s"]] = d["u"]

            await read(20)
            assert breaks == []
            assert sim.fault("gap", symbol="foousdt", count=3) == {"kind": "gap", "symbol": "FOOUSDT", "pending": 3}
            # what the feed sent before the fault may still be queued (a loaded machine reads
            # slower than 20x real time): read until the break shows, then some more
            for _ in range(50):
                await read(20)
                if breaks:
                    break
            await read(40)
        assert len(breaks) == 1
        sym, expected, got = breaks[0]
        assert sym == "FOOUSDT" and got > expected  # three diffs' worth of update ids never sent
        # the sent-frame log shows the same single break: the diffs were never sent
        chain: dict[str, int] = {}
        logged = []
        for p in sim.sent(1):
            d = json.loads(p)["data"]
            if d["s"] in chain and d["pu"] != chain[d["s"]]:
                logged.append((d["s"], chain[d["s"]], d["pu"]))
            chain[d["s"]] = d["u"]
        assert logged == breaks
        with pytest.raises(ValueError):
            sim.fault("gap", symbol="FOOUSDT", count=0)


async def test_silence_keeps_the_socket_open_then_resumes():
    async with _sim() as sim:
        async with ws_connect(sim.urls.ws + "/public/ws/foousdt@bookTicker") as ws:
            await recv_n(ws, 2)
            assert sim.fault("silence", venue="binance-usdm", seconds=1.0)["conns"] == [1]
            await recv_for(ws, 0.05)  # frames already in flight
            n_before = sim.connections[0].frame_count
            assert await recv_for(ws, 0.5) == []
            await asyncio.wait_for(await ws.ping(), 2)  # still answers pings while silent
            assert sim.connections[0].frame_count == n_before
            assert len(await recv_n(ws, 3, timeout=5)) == 3  # data resumes by itself
            sim.fault("silence", conn=1)  # until cleared
            await recv_for(ws, 0.05)
            assert await recv_for(ws, 0.4) == []
            sim.fault("clear")
            assert len(await recv_n(ws, 3, timeout=5)) == 3


async def test_rest_errors_429_418_and_the_weight_limit():
    async with _sim(binance_weight_limit=50) as sim:
        rest = sim.urls.rest
        sim.fault("rest_error", status=429, times=2, retry_after=0.5, path="/fapi/v1/depth")
        got = [await http("GET", rest + "/fapi/v1/depth?symbol=FOOUSDT&limit=5") for _ in range(3)]
        assert [g[0] for g in got] == [429, 429, 200]
        assert got[0][1]["Retry-After"] == "0.5" and orjson.loads(got[0][2])["code"] == -1003
        assert bn.classify_error(status=429).error_class.value == "rate_limit"
        sim.fault("rest_error", status=418, venue="upbit")
        status, _, body = await http("GET", rest + "/v1/market/all")
        assert status == 418 and "error" in orjson.loads(body)
        assert (await http("GET", rest + "/v1/market/all"))[0] == 200
        # Binance's own REST weight: depth limit=1000 weighs 20, the budget here is 50/min
        statuses = []
        for _ in range(3):
            status, headers, body = await http("GET", rest + "/fapi/v1/depth?symbol=FOOUSDT&limit=1000")
            statuses.append(status)
        assert statuses == [200, 200, 429]
        assert int(headers["Retry-After"]) >= 1 and orjson.loads(body)["code"] == -1003
        assert [c.status for c in sim.rest_log] == [429, 429, 200, 418, 200, 200, 200, 429]
        with pytest.raises(ValueError):
            sim.fault("rest_error", status=200)


async def test_malformed_frames_every_mode():
    async with _sim() as sim:
        async with ws_connect(sim.urls.ws + "/public/ws/foousdt@bookTicker") as ws, \
                ws_connect(sim.urls.ws + "/websocket/v1", max_size=2**20) as up:
            await recv_n(ws, 1)
            sim.fault("silence", conn=1)  # from now on only the injected frames arrive
            await recv_for(ws, 0.05)
            sim.fault("malformed", conn=1, mode="invalid_json")
            sim.fault("malformed", conn=1, mode="garbage")
            sim.fault("malformed", conn=1, mode="oversized", size=100_000)
            got = await recv_n(ws, 3)
            assert got[0].startswith('{"stream":') and got[0].endswith('"E":')
            with pytest.raises(json.JSONDecodeError):
                json.loads(got[0])
            assert isinstance(got[1], bytes) and len(got[1]) == 64  # binary garbage on a text venue
            assert len(got[2]) == 100_000 and got[2].startswith('{"e":"oversized"')
            sim.fault("malformed", conn=1, mode="invalid_utf8")
            raw = await asyncio.wait_for(ws.recv(decode=False), 5)  # a text frame that is not UTF-8
            assert raw == b'{"e":"\xff\xfe bad utf-8"}'
            assert [b for b, _ in sim.connections[0].frames[-4:]] == [False, True, False, False]
            # default oversized: 2 MiB, more than a client allowing 1 MiB takes
            assert sim.fault("malformed", venue="upbit", mode="oversized")["conns"] == [2]
            closed = await _closed(up)
            assert closed.sent is not None and closed.sent.code == 1009
            assert len(sim.connections[1].frames[-1][1]) == 2 * 2**20
        with pytest.raises(ValueError):
            sim.fault("malformed", mode="nope")


async def test_rotate_closes_connections_at_a_compressed_24h():
    async with _sim(rotate_after_s=0.6) as sim:
        loop = asyncio.get_running_loop()
        async with ws_connect(sim.urls.ws + "/public/ws/foousdt@bookTicker") as ws:
            t0 = loop.time()
            closed = await _closed(ws, 5)
            assert loop.time() - t0 >= 0.5
            assert closed.rcvd.code == 1001 and closed.rcvd.reason == "connection lifetime reached"
        sim.fault("clear")
        async with ws_connect(sim.urls.ws + "/public/ws/foousdt@bookTicker") as ws:
            assert len(await recv_for(ws, 1.0)) > 5  # cleared: lives past the old age
            sim.fault("rotate", after_s=1.5, code=1000, venue="binance-usdm")
            closed = await _closed(ws, 5)
            assert closed.rcvd.code == 1000
        rec = sim.connections[1]
        assert rec.closed_at - rec.opened_at >= 1.5
        with pytest.raises(ValueError):
            sim.fault("rotate", after_s=0)


async def test_venue_limits_incoming_messages_and_upbit_idle_cut():
    async with _sim(upbit_idle_timeout_s=0.5) as sim:
        async with ws_connect(sim.urls.ws + "/public/stream") as ws:
            for i in range(11):  # Binance allows 10 incoming messages per second
                await ws.send(bn.list_subscriptions_message(i).decode())
            closed = await _closed(ws)
            assert closed.rcvd.code == 1008
        async with ws_connect(sim.urls.ws + "/websocket/v1", ping_interval=None) as idle, \
                ws_connect(sim.urls.ws + "/websocket/v1", ping_interval=0.1) as pinging:
            closed = await _closed(idle, 5)
            assert closed.rcvd.code == 1000 and closed.rcvd.reason == "idle timeout"
            await asyncio.sleep(0.3)
            await asyncio.wait_for(await pinging.ping(), 2)  # client pings count as activity


async def test_sent_report_over_http_with_offsets():
    async with _sim() as sim:
        async with ws_connect(sim.urls.ws + "/websocket/v1") as ws:
            await ws.send('[{"ticket":"t"},{"type":"trade","codes":["KRW-BTC"]},{"format":"SIMPLE"}]')
            got = await recv_n(ws, 6)
        await until(lambda: sim.connections[0].closed_at is not None)
        assert got == sim.sent(1)[:6]
        status, _, body = await http("GET", sim.urls.rest + "/_sim/sent?conn=1&offset=2")
        (rec,) = orjson.loads(body)["connections"]
        assert status == 200 and rec["offset"] == 2 and rec["path"] == "/websocket/v1"
        assert [base64.b64decode(f["b64"]) for f in rec["frames"]][:4] == got[2:]
        assert all(f["binary"] for f in rec["frames"]) and rec["frame_count"] == len(sim.sent(1))
        assert rec["bytes_sent"] == sum(len(p) for p in sim.sent(1))
        # faults over HTTP, as a separate process (the demo) drives them
        status, _, body = await http("POST", sim.urls.rest + "/_sim/fault",
                                     {"kind": "gap", "symbol": "FOOUSDT", "count": 2})
        assert status == 200 and orjson.loads(body)["pending"] == 2
        status, _, body = await http("POST", sim.urls.rest + "/_sim/clear")
        assert status == 200 and sim.venue("binance-usdm").gaps == {}
        status, _, body = await http("POST", sim.urls.rest + "/_sim/fault", {"kind": "rest_error", "status": 1})
        assert status == 400 and "status" in orjson.loads(body)["error"]
