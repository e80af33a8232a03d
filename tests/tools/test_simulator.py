"""The simulator over real sockets: routes, wrappers, acks, REST, Upbit formats, pacing, CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from recorder.venues import binance_usdm as bn
from recorder.venues import upbit as up
from tools.simulator import Simulator
from tools.simulator.captures import CRYPTOFEED_BINANCE_FUTURES, HFTBACKTEST_USDM, read_hftbacktest

from .simhelp import DepthChains, http, recv_for, recv_n, until, ws_connect

FAST_BN = (str(CRYPTOFEED_BINANCE_FUTURES),)  # small capture: starts in milliseconds


def _cfg(**kw):
    return {"binance_captures": FAST_BN, "speed": 20.0, "start_ms": 1_700_000_000_000, **kw}


async def test_combined_stream_on_the_capture_matches_sent_bytes():
    async with Simulator(**_cfg(venues=("binance-usdm",),
                                binance_captures=(str(HFTBACKTEST_USDM),))) as sim:
        url = bn.ws_url("public", ["btcusdt@depth@100ms", "btcusdt@bookTicker"],
                        config=bn.BinanceUsdmConfig(ws_url=sim.urls.ws))
        async with ws_connect(url) as ws:
            got = await recv_n(ws, 60)
        await until(lambda: sim.connections[0].closed_at is not None)
        rec = sim.connections[0]
        assert rec.path == url.removeprefix(sim.urls.ws)
        assert [g.encode() for g in got] == sim.sent(rec.id)[:60]
        streams = {json.loads(g)["stream"] for g in got}
        assert streams == {"btcusdt@depth@100ms", "btcusdt@bookTicker"}
        # the capture's own frames, re-labelled only in the stream name (depth@0ms there)
        raw = {f for _, f in read_hftbacktest().frames}
        for g in got:
            assert g.replace("@depth@100ms", "@depth@0ms").encode() in raw


async def test_raw_ws_mode_and_market_route():
    async with Simulator(**_cfg(venues=("binance-usdm",))) as sim:
        async with ws_connect(sim.urls.ws + "/market/ws/sushiusdt@aggTrade/sushiusdt@kline_1m") as ws:
            got = [json.loads(m) for m in await recv_n(ws, 10)]
        assert {m["e"] for m in got} <= {"aggTrade", "kline"} and all(m["s"] == "SUSHIUSDT" for m in got)
        assert "stream" not in got[0]


async def test_wrong_route_acks_but_delivers_nothing():
    async with Simulator(**_cfg(venues=("binance-usdm",))) as sim:
        async with ws_connect(sim.urls.ws + "/public/stream") as wrong, \
                ws_connect(sim.urls.ws + "/market/stream") as right:
            await wrong.send(bn.subscribe_message(["sushiusdt@aggTrade"], 1).decode())
            await right.send(bn.subscribe_message(["sushiusdt@aggTrade"], 1).decode())
            assert await recv_n(wrong, 1) == ['{"result":null,"id":1}']
            assert (await recv_n(right, 1))[0] == '{"result":null,"id":1}'
            assert len(await recv_n(right, 5)) == 5
            assert await recv_for(wrong, 0.3) == []
        # unrouted legacy URLs only carry public streams
        async with ws_connect(sim.urls.ws + "/ws/sushiusdt@bookTicker/sushiusdt@aggTrade") as legacy:
            got = [json.loads(m)["e"] for m in await recv_n(legacy, 10)]
        assert set(got) == {"bookTicker"}


async def test_control_messages_acks():
    async with Simulator(**_cfg(venues=("binance-usdm",))) as sim:
        async with ws_connect(sim.urls.ws + "/public/stream?streams=akrousdt@bookTicker") as ws:
            pending = bn.PendingAcks()
            for msg, rid in ((bn.subscribe_message(["ctkusdt@bookTicker"], 7), 7),
                             (bn.list_subscriptions_message(8), 8),
                             (bn.unsubscribe_message(["akrousdt@bookTicker"], 9), 9),
                             (bn.list_subscriptions_message(10), 10)):
                pending.sent(rid, 0.0)
                await ws.send(msg.decode())
            acks = {}
            while len(acks) < 4:
                ack = pending.on_frame((await recv_n(ws, 1))[0].encode())
                if ack:
                    acks[ack.request_id] = ack
            assert acks[7].ok and acks[9].ok and acks[7].result is None
            assert acks[8].result == ["akrousdt@bookTicker", "ctkusdt@bookTicker"]
            assert acks[10].result == ["ctkusdt@bookTicker"]
            await ws.send("not json")
            errs = [a for m in await recv_for(ws, 0.5) if (a := bn.parse_ack(m.encode()))]
            assert len(errs) == 1
            err = errs[0]
            assert err is not None and not err.ok and err.error.startswith("3:")
            # after UNSUBSCRIBE only ctk frames keep coming
            later = [json.loads(m) for m in await recv_n(ws, 10)]
            assert {m["stream"] for m in later} == {"ctkusdt@bookTicker"}


async def test_rest_depth_brackets_the_stream_chain():
    async with Simulator(**_cfg(venues=("binance-usdm",))) as sim:
        cfg = bn.BinanceUsdmConfig(ws_url=sim.urls.ws, rest_url=sim.urls.rest)
        (plan,) = bn.plan_connections(["SUSHIUSDT", "FOOUSDT"], ["depth"], config=cfg)
        chains = DepthChains()
        async with ws_connect(plan.url) as ws:
            firsts: list[str] = []  # symbols in the order their diffs began
            while len(firsts) < 2:
                m = (await recv_n(ws, 1))[0].encode()
                assert chains.frame(m) == []  # no snapshot yet: buffered, never a gap
                sym = orjson.loads(m)["data"]["s"]
                if sym not in firsts:
                    firsts.append(sym)
            for sym in firsts:
                req = bn.snapshot_request(sym, cfg)
                status, headers, body = await http("GET", req.url)
                assert status == 200 and int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20
                assert chains.snapshot(sym, bn.snapshot_last_update_id(body)) == []
                assert len(orjson.loads(body)["bids"]) <= 1000
            for m in await recv_n(ws, 60):
                assert chains.frame(m.encode()) == []
            assert chains.live("SUSHIUSDT") and chains.live("FOOUSDT")
        assert sim.rest_counts["/fapi/v1/depth"] == 2


async def test_rest_klines_exchange_info_and_errors():
    async with Simulator(**_cfg(venues=("binance-usdm",), binance_symbols=("FOOUSDT",),
                                binance_captures=())) as sim:
        rest = sim.urls.rest
        status, _, body = await http("GET", rest + "/fapi/v1/exchangeInfo")
        info = orjson.loads(body)
        assert status == 200 and [s["symbol"] for s in info["symbols"]] == ["FOOUSDT"]
        assert info["rateLimits"][0]["limit"] == 2400
        async with ws_connect(sim.urls.ws + "/market/stream?streams=foousdt@aggTrade") as ws:
            await recv_n(ws, 20)
        status, _, body = await http("GET", rest + "/fapi/v1/klines?symbol=FOOUSDT&interval=1m&limit=5")
        rows = orjson.loads(body)
        assert status == 200 and rows and all(len(r) == 12 for r in rows)
        assert all(float(r[3]) <= float(r[4]) <= float(r[2]) for r in rows)
        status, _, body = await http("GET", rest + "/fapi/v1/depth?symbol=ETHUSDT&limit=1000")
        assert status == 400 and orjson.loads(body)["code"] == -1121
        assert bn.classify_error(status=status, message=body).error_class.value == "unknown_symbol"
        status, _, body = await http("GET", rest + "/fapi/v1/depth?symbol=FOOUSDT&limit=7")
        assert status == 400 and orjson.loads(body)["code"] == -1130


async def test_unknown_path_is_refused_at_handshake():
    async with Simulator(**_cfg(venues=("binance-usdm",))) as sim:
        with pytest.raises(InvalidStatus) as err:
            async with ws_connect(sim.urls.ws + "/nope"):
                pass
        assert err.value.response.status_code == 404


async def test_server_pings_are_answered_by_the_client():
    async with Simulator(**_cfg(venues=("binance-usdm",), binance_ping_interval_s=0.05)) as sim:
        async with ws_connect(sim.urls.ws + "/public/ws/sushiusdt@bookTicker") as ws:
            await until(lambda: sim.connections[0].pings_sent >= 3)
            assert len(await recv_n(ws, 3)) == 3  # still alive: the client's pongs arrived


async def test_upbit_binary_simple_and_default_formats():
    async with Simulator(**_cfg(venues=("upbit",))) as sim:
        url = up.ws_url(up.UpbitConfig(ws_url=sim.urls.ws))
        async with ws_connect(url) as simple, ws_connect(url) as default:
            await simple.send(up.subscribe_message("t-1", [("trade", ["KRW-LAMB"]), ("orderbook", ["KRW-LAMB"])],
                                                   fmt="SIMPLE", only_realtime=True).decode())
            await default.send(up.subscribe_message("t-2", [("trade", ["KRW-LAMB"])], fmt="DEFAULT").decode())
            s_msgs = await recv_n(simple, 12)
            d_msgs = await recv_n(default, 6)
        assert all(isinstance(m, bytes) for m in s_msgs + d_msgs)  # binary frames, like Upbit
        s = [orjson.loads(m) for m in s_msgs]
        assert {m["ty"] for m in s} == {"trade", "orderbook"} and all(m["cd"] == "KRW-LAMB" for m in s)
        assert all(m["st"] == "REALTIME" for m in s)
        d = [orjson.loads(m) for m in d_msgs]
        assert all(m["type"] == "trade" and m["code"] == "KRW-LAMB" for m in d)
        assert {"trade_price", "sequential_id", "stream_type"} <= set(d[0])
        recs = {r.path: r for r in sim.connections}
        assert len(sim.connections) == 2 and len(recs) == 1
        assert s_msgs == sim.sent(sim.connections[0].id)[:12]
        assert d_msgs == sim.sent(sim.connections[1].id)[:6]
        assert all(b for b, _ in sim.connections[0].frames)


async def test_upbit_snapshot_first_ping_errors_and_listing():
    async with Simulator(**_cfg(venues=("upbit",))) as sim:
        async with ws_connect(sim.urls.ws + "/websocket/v1") as ws:
            await ws.send(up.subscribe_message("a", [("orderbook", ["KRW-BTC"])], fmt="SIMPLE").decode())
            await recv_n(ws, 2)
            await ws.send(up.subscribe_message("b", [("orderbook", ["KRW-BTC"]), ("ticker", ["KRW-BTC"])],
                                               fmt="SIMPLE").decode())
            first = orjson.loads((await recv_n(ws, 1))[0])
            assert first["st"] == "SNAPSHOT" and first["ty"] == "orderbook"
            await ws.send(up.ping_message().decode())
            got = await recv_for(ws, 0.3)
            assert any(up.is_status_up(m) for m in got)
            await ws.send(up.list_subscriptions_message("c").decode())
            await ws.send('[{"type":"trade","codes":["KRW-BTC"]}]')
            got = await recv_for(ws, 0.4)
            listing = next(orjson.loads(m) for m in got if b"LIST_SUBSCRIPTIONS" in m)
            assert listing["result"] == [{"type": "orderbook", "codes": ["KRW-BTC"]},
                                         {"type": "ticker", "codes": ["KRW-BTC"]}]
            errors = [up.parse_error(m) for m in got if up.parse_error(m)]
            assert errors and errors[0][0] == "NO_TICKET"


async def test_upbit_rest():
    async with Simulator(**_cfg(venues=("upbit",), upbit_rest_per_s=3)) as sim:
        cfg = up.UpbitConfig(rest_url=sim.urls.rest)
        async with ws_connect(sim.urls.ws + "/websocket/v1") as ws:
            await ws.send(up.subscribe_message("a", [("trade", ["KRW-LAMB", "KRW-ETH"])]).decode())
            await recv_n(ws, 8)
        status, headers, body = await http("GET", up.orderbook_request(["KRW-LAMB"], config=cfg).url)
        book = orjson.loads(body)
        assert status == 200 and book[0]["market"] == "KRW-LAMB" and len(book[0]["orderbook_units"]) == 15
        assert up.parse_remaining_req(headers["Remaining-Req"]).group == "orderbook"
        status, _, body = await http("GET", up.ticker_request(["KRW-LAMB", "KRW-ETH"], config=cfg).url)
        assert status == 200 and [t["market"] for t in orjson.loads(body)] == ["KRW-LAMB", "KRW-ETH"]
        status, _, body = await http("GET", up.candles_request("KRW-LAMB", count=5, config=cfg).url)
        assert status == 200 and orjson.loads(body)[0]["market"] == "KRW-LAMB"
        status, _, body = await http("GET", up.market_all_request(config=cfg).url)
        markets = {m["market"] for m in orjson.loads(body)}
        assert {"KRW-BTC", "KRW-LAMB", "KRW-ETH"} <= markets
        results = [await http("GET", up.market_all_request(config=cfg).url) for _ in range(4)]
        limited = [r for r in results if r[0] == 429]
        assert limited and up.classify_error(status=429).error_class.value == "rate_limit"
        status, _, body = await http("GET", sim.urls.rest + "/v1/orderbook?markets=NOPE")
        assert status == 404 and up.classify_error(status=404, message=body).error_class.value == "unknown_symbol"
        assert sim.rest_counts["/v1/orderbook"] == 2


async def test_max_speed_runs_loops_far_faster_than_real_time_with_an_intact_chain():
    """``speed="max"`` ignores the capture's clock: three loops of the 30 s capture arrive
    well within 60 s (real-time pacing needs 90 s), and the depth chain holds across the
    loop bridges at full speed."""
    streams = "/".join(f"{s}@depth@100ms/{s}@bookTicker" for s in ("sushiusdt", "akrousdt", "keepusdt", "ctkusdt"))
    async with Simulator(**_cfg(venues=("binance-usdm",), speed="max", record_sent=False)) as sim:
        market = sim.venue("binance-usdm").market
        loop_ms = market._capture["SUSHIUSDT"].cap.time_delta_ms  # exchange time per loop
        last_u: dict[str, int] = {}
        breaks = []
        async with ws_connect(sim.urls.ws + "/public/stream?streams=" + streams) as ws:
            async def read_three_loops():
                while True:
                    msg = json.loads(await ws.recv())
                    d = msg["data"]
                    if d.get("e") == "depthUpdate":
                        if d["s"] in last_u and d["pu"] != last_u[d["s"]]:
                            breaks.append((d["s"], last_u[d["s"]], d["pu"]))
                        last_u[d["s"]] = d["u"]
                        if d["E"] - first_e > 3 * loop_ms:
                            return

            first_e = json.loads(await ws.recv())["data"]["E"]
            await asyncio.wait_for(read_three_loops(), 60)
        assert breaks == [] and set(last_u) == {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"}
        assert market._capture["SUSHIUSDT"].loop >= 3
        assert sim.connections[0].frames == [] and sim.connections[0].frame_count > 1000


async def test_steady_rate_paces_the_tape():
    """``rate`` sends the tape at a steady rate: never ahead of ``rate * elapsed`` (a hard
    bound of the scheduler), and not stalled either (a loose lower bound)."""
    rate = 2000.0
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with Simulator(**_cfg(venues=("binance-usdm",), rate=rate, binance_captures=(),
                                binance_symbols=("FOOUSDT",))) as sim:
        # one synthetic symbol, every kind subscribed: each tape event reaches a client
        async with ws_connect(sim.urls.ws + "/public/stream?streams=foousdt@depth@100ms/foousdt@bookTicker") as pub, \
                ws_connect(sim.urls.ws + "/market/stream?streams=foousdt@aggTrade/foousdt@trade/"
                           "foousdt@kline_1m/foousdt@markPrice") as mkt:
            await recv_n(pub, 1)
            await recv_n(mkt, 1)
            n0 = sum(r.frame_count for r in sim.connections)
            w0 = loop.time()
            for _ in range(15):
                await asyncio.sleep(0.1)
                sent = sum(r.frame_count for r in sim.connections)
                assert sent <= rate * (loop.time() - t0) + 2
            window = loop.time() - w0
            got = await recv_for(pub, 0.05) + await recv_for(mkt, 0.05)
        sent = sum(r.frame_count for r in sim.connections) - n0
        assert sent >= 0.3 * rate * window, (sent, window)
        # every frame pushed was delivered and logged byte for byte
        assert len(got) > 0 and all(g.encode() in set(sim.sent(1)) | set(sim.sent(2)) for g in got)
        kinds = {json.loads(p)["data"]["e"] for c in (1, 2) for p in sim.sent(c)}
        assert kinds == {"depthUpdate", "bookTicker", "aggTrade", "trade", "kline", "markPriceUpdate"}


async def test_http_control_sent_and_stats():
    async with Simulator(**_cfg(venues=("binance-usdm", "upbit"))) as sim:
        async with ws_connect(sim.urls.ws + "/public/ws/sushiusdt@bookTicker") as ws:
            got = await recv_n(ws, 5)
        await until(lambda: sim.connections[0].closed_at is not None)
        status, _, body = await http("GET", sim.urls.rest + "/_sim/sent?conn=1")
        (rec,) = orjson.loads(body)["connections"]
        import base64
        frames = [base64.b64decode(f["b64"]) for f in rec["frames"]]
        assert status == 200 and [g.encode() for g in got] == frames[:5]
        assert rec["close_code"] == 1000 and not rec["frames"][0]["binary"]
        status, _, body = await http("GET", sim.urls.rest + "/_sim/stats")
        stats = orjson.loads(body)
        assert "SUSHIUSDT" in stats["symbols"]["binance-usdm"] and "KRW-LAMB" in stats["symbols"]["upbit"]
        status, _, body = await http("POST", sim.urls.rest + "/_sim/fault", {"kind": "nope"})
        assert status == 400


def test_cli_serves_both_venues(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.simulator", "--venue", "binance-usdm,upbit", "--port", "0",
         "--speed", "50", "--source", "synthetic", "--duration", "6"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        ws_line = proc.stdout.readline().split()
        rest_line = proc.stdout.readline().split()
        assert ws_line[0] == "ws" and rest_line[0] == "rest", proc.stderr.read()

        async def check():
            async with ws_connect(ws_line[1] + "/public/stream?streams=btcusdt@depth@100ms") as ws:
                m = json.loads((await recv_n(ws, 1))[0])
            async with ws_connect(ws_line[1] + "/websocket/v1") as ws:
                await ws.send('[{"ticket":"x"},{"type":"trade","codes":["KRW-BTC"]}]')
                u = orjson.loads((await recv_n(ws, 1))[0])
            status, _, _ = await http("GET", rest_line[1] + "/fapi/v1/depth?symbol=BTCUSDT&limit=5")
            return m, u, status

        m, u, status = asyncio.run(check())
        assert m["stream"] == "btcusdt@depth@100ms" and u["type"] == "trade" and status == 200
        assert proc.wait(30) == 0  # --duration ends it cleanly
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)


@pytest.mark.parametrize("argv", [["--speed", "0"], ["--venue", "kraken"], ["--duration", "-1"],
                                  ["--source", "synthetic", "--rate", "-5"]])
def test_cli_refuses_bad_options(argv, capsys):
    from tools.simulator.__main__ import main

    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


async def test_ticker_stream_on_the_market_route_each_second():
    """``@ticker`` is a ``/market`` stream: a 24hrTicker about each second of market time
    there (so ~20 a second at speed 20), made as ``/fapi/v1/ticker/24hr`` is (equal at one
    instant: ``test_simulator_market``); on ``/public`` it is acked and never delivered, as
    Binance does on a wrong route."""
    async with Simulator(**_cfg(venues=("binance-usdm",), binance_symbols=("FOOUSDT",),
                                binance_captures=())) as sim:
        async with ws_connect(sim.urls.ws + "/market/stream?streams=foousdt@ticker") as ws, \
                ws_connect(sim.urls.ws + "/public/stream?streams=foousdt@ticker") as wrong:
            got = [orjson.loads(g) for g in await recv_n(ws, 10)]
            assert await recv_for(wrong, 0.3) == []
        assert {g["stream"] for g in got} == {"foousdt@ticker"}
        data = [g["data"] for g in got]
        assert {d["e"] for d in data} == {"24hrTicker"} and {d["s"] for d in data} == {"FOOUSDT"}
        es = [d["E"] for d in data]
        assert all(900 <= b - a <= 1100 for a, b in zip(es, es[1:], strict=False))
        assert all(float(d["l"]) <= float(d["c"]) <= float(d["h"]) for d in data)
        status, _, body = await http("GET", sim.urls.rest + "/fapi/v1/ticker/24hr?symbol=FOOUSDT")
        rest = orjson.loads(body)
        assert status == 200 and rest["lastId"] >= data[-1]["L"] > 0  # trade ids only grow
