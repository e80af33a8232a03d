"""The simulated Phemex over real sockets: acks, errors, snapshots, the looped capture, ping, idle cut."""

from __future__ import annotations

import json

import orjson

from recorder.venues import phemex as px
from state.decode.phemex import PhemexDecoder
from tools.simulator import Simulator
from tools.simulator.captures import CRYPTOFEED_PHEMEX, read_cryptofeed
from tools.simulator.phemex_market import PhemexCapture, PhemexCaptureSource

from .simhelp import recv_for, recv_n, until, ws_connect


def _cfg(**kw):
    return {"venues": ("phemex",), "speed": 20.0, "start_ms": 1_700_000_000_000, **kw}


async def test_subscribe_is_acked_then_a_book_snapshot_and_the_captures_own_frames():
    async with Simulator(**_cfg()) as sim:
        url = px.ws_url(px.PhemexConfig(ws_url=sim.urls.ws))
        async with ws_connect(url) as ws:
            for m in px.plan_connections(["XTZUSD", "SSUSHIUSDT"], ["orderbook", "trade"])[0].messages:
                await ws.send(m.decode())
            got = await recv_for(ws, 1.5)
        rec = sim.connections[0]
        assert rec.path == "/"
        assert [g.encode() for g in got] == sim.sent(rec.id)[:len(got)]
        msgs = [json.loads(g) for g in got]
        acks = [m for m in msgs if "result" in m]
        assert [a["id"] for a in acks] == [1, 2, 3, 4]
        assert all(a == {"error": None, "id": a["id"], "result": {"status": "success"}} for a in acks)
        books = [m for m in msgs if "book" in m]
        assert {m["symbol"] for m in books} == {"XTZUSD", "sSUSHIUSDT"}
        for sym in ("XTZUSD", "sSUSHIUSDT"):
            mine = [m for m in books if m["symbol"] == sym]
            assert mine[0]["type"] == "snapshot"  # a book starts with its snapshot
            for prev, m in zip(mine, mine[1:]):  # "increasing" (a periodic snapshot may repeat one)
                assert m["sequence"] > prev["sequence"] or m["type"] == "snapshot"
        raw = {f for _, f in read_cryptofeed(CRYPTOFEED_PHEMEX).frames}
        incr = [g for g, m in zip(got, msgs, strict=True) if m.get("type") == "incremental"]
        assert incr and all(g.encode() in raw for g in incr)  # loop 0: the capture's bytes


async def test_unknown_symbol_and_method_are_error_replies_and_ping_is_pong():
    async with Simulator(**_cfg(phemex_symbols=("BTCUSD",))) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            await ws.send(px.subscribe_message("trade", "NOPEUSD", 5).decode())
            await ws.send('{"id":6,"method":"tick.subscribe","params":[".BTC"]}')
            await ws.send(px.ping_message(9).decode())
            await ws.send(px.subscribe_message("trade", "BTCUSD", 7).decode())
            got = [json.loads(m) for m in await recv_n(ws, 5)]
        assert got[0] == {"error": {"code": 6001, "message": "invalid argument"}, "id": 5, "result": None}
        assert got[1]["id"] == 6 and got[1]["error"]["code"] == 6001
        assert got[2] == {"error": None, "id": 9, "result": "pong"}
        assert got[3] == {"error": None, "id": 7, "result": {"status": "success"}}
        assert got[4]["symbol"] == "BTCUSD" and got[4]["type"] == "snapshot"  # synthetic: no history yet
        assert px.frame_error(orjson.dumps(got[0])) == "6001: invalid argument"
        assert px.is_pong(orjson.dumps(got[2]))


async def test_synthetic_symbol_streams_a_decodable_book():
    async with Simulator(**_cfg(source="synthetic", speed=5.0)) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            await ws.send(px.subscribe_message("orderbook", "SBTCUSDT").decode())
            await ws.send(px.subscribe_message("trade", "SBTCUSDT", 2).decode())
            got = await recv_for(ws, 1.0)
        books = [json.loads(g) for g in got if '"book"' in g]
        assert books[0]["type"] == "snapshot" and books[0]["symbol"] == "sBTCUSDT"
        assert len(books[0]["book"]["asks"]) == 30 and len(books) > 2
        assert [b["sequence"] for b in books] == sorted({b["sequence"] for b in books})


async def test_more_than_twenty_subscriptions_are_refused():
    async with Simulator(**_cfg(source="synthetic")) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            for i in range(21):
                await ws.send(px.subscribe_message("trade", f"C{i}USD", i + 1).decode())
            got = [json.loads(m) for m in await recv_for(ws, 1.0)]
        replies = {m["id"]: m for m in got if "id" in m}
        assert replies[20]["error"] is None and replies[21]["error"]["code"] == 6002


async def test_silent_client_is_cut_and_a_pinging_one_is_not():
    async with Simulator(**_cfg(phemex_idle_timeout_s=0.6, source="synthetic")) as sim:
        async with ws_connect(sim.urls.ws) as quiet, ws_connect(sim.urls.ws) as alive:
            await quiet.send(px.subscribe_message("trade", "BTCUSD").decode())
            await alive.send(px.subscribe_message("trade", "BTCUSD").decode())
            for _ in range(6):
                await alive.send(px.ping_message().decode())
                await recv_for(alive, 0.2)
            await until(lambda: sim.connections[0].closed_at is not None, timeout=3)
            assert sim.connections[0].close_reason == "heartbeat timeout"
            assert sim.connections[1].closed_at is None


def test_the_loop_keeps_sequences_growing_and_moves_times_by_whole_minutes():
    cap = PhemexCapture(read_cryptofeed(CRYPTOFEED_PHEMEX))
    assert cap.ns_delta % 60_000_000_000 == 0
    src = PhemexCaptureSource(cap)
    n = len(cap.frames)
    first = [src.pop() for _ in range(n)]
    second = [src.pop() for _ in range(n)]
    assert [e.data for e in first] == [f[3] for f in cap.frames]
    last: dict[str, int] = {}
    for ev in first + second:
        if ev.kind == "orderbook":
            m = orjson.loads(ev.data)  # growing; a periodic snapshot may repeat the last one
            assert m["sequence"] > last.get(ev.symbol, -1) or m["type"] == "snapshot"
            last[ev.symbol] = m["sequence"]
    a, b = orjson.loads(first[0].data), orjson.loads(second[0].data)
    assert b["timestamp"] - a["timestamp"] == cap.ns_delta
    # shifted frames still decode
    from recorder.journal.record import Record, StreamInfo
    dec = PhemexDecoder(StreamInfo(1, "phemex", "", "wss://ws.phemex.com"))
    for i, ev in enumerate(second[:200]):
        dec.frame(Record(i + 1, 0, 1, "frame", ev.data, None))


async def test_a_gap_fault_repeats_a_book_message():
    async with Simulator(**_cfg(source="synthetic", speed=5.0)) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            await ws.send(px.subscribe_message("orderbook", "SBTCUSDT").decode())
            await recv_n(ws, 3)
            assert sim.fault("gap", venue="phemex", symbol="sBTCUSDT") == \
                {"kind": "gap", "symbol": "sBTCUSDT", "pending": 1}
            got = [json.loads(m) for m in await recv_for(ws, 1.0) if '"book"' in m]
        seqs = [m["sequence"] for m in got]
        repeats = [a for a, b in zip(seqs, seqs[1:]) if b <= a]
        assert len(repeats) == 1 and not sim.venue("phemex").gaps


async def test_a_subscriber_at_the_start_gets_the_captures_trade_and_kline_history():
    async with Simulator(**_cfg(speed=1.0)) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            await ws.send(px.subscribe_message("trade", "YFIUSD", 1).decode())
            await ws.send(px.subscribe_message("kline", "YFIUSD", 2).decode())
            got = [json.loads(m) for m in await recv_n(ws, 4)]
    trades, kline = got[1], got[3]
    assert trades["type"] == "snapshot" and len(trades["trades"]) == 200
    times = [t[0] for t in trades["trades"]]
    assert times == sorted(times, reverse=True)  # newest first, like Phemex
    assert kline["type"] == "snapshot" and kline["kline"][0][1] == 60
    assert [k[0] for k in kline["kline"]] == sorted((k[0] for k in kline["kline"]), reverse=True)


async def test_unsubscribes_follow_the_docs():
    async with Simulator(**_cfg(source="synthetic", speed=5.0)) as sim:
        venue = sim.venue("phemex")
        async with ws_connect(sim.urls.ws) as ws:
            for i, (ch, sym) in enumerate([("orderbook", "BTCUSD"), ("orderbook", "ETHUSD"),
                                           ("trade", "BTCUSD"), ("trade", "ETHUSD")], start=1):
                await ws.send(px.subscribe_message(ch, sym, i).decode())
            await until(lambda: len(venue.subs) == 4)
            await ws.send(px.unsubscribe_message("trade", "BTCUSD", 5).decode())
            await until(lambda: len(venue.subs) == 3)
            assert ("BTCUSD", "trade") not in venue.subs
            await ws.send(px.unsubscribe_message("orderbook", None, 6).decode())
            await until(lambda: set(venue.subs) == {("ETHUSD", "trade")})
            got = [json.loads(m) for m in await recv_for(ws, 0.3)]
        assert {m["id"]: m["result"] for m in got if m.get("id") in (5, 6)} == \
            {5: {"status": "success"}, 6: {"status": "success"}}


async def test_books_get_a_periodic_snapshot_like_datagw():
    async with Simulator(**_cfg(source="synthetic", speed=5.0, phemex_snapshot_interval_s=1.0)) as sim:
        async with ws_connect(sim.urls.ws) as ws:
            await ws.send(px.subscribe_message("orderbook", "ETHUSD").decode())
            got = [json.loads(m) for m in await recv_for(ws, 1.2)]
    books = [m for m in got if "book" in m]
    snaps = [i for i, m in enumerate(books) if m["type"] == "snapshot"]
    assert snaps[0] == 0 and len(snaps) >= 4  # on subscribe, then every tape second (5 a second)
    for i in snaps[1:]:  # the book as it stands: the message before it has the same sequence
        assert books[i]["sequence"] == books[i - 1]["sequence"]
