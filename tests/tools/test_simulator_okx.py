"""The simulated OKX over real sockets: acks, errors, ping/pong, books chained and checksummed,
the capture replayed, injected gaps and bad checksums, the idle cut."""

from __future__ import annotations

import contextlib
import re
import zlib

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from recorder.venues import okx
from tools.simulator import Simulator
from tools.simulator.captures import CRYPTOFEED_OKX, read_cryptofeed

from .simhelp import http, recv_for, recv_n, until, ws_connect

pytestmark = pytest.mark.timeout(60)


def _cfg(**kw):
    return {"venues": ("okx",), "speed": 20.0, "start_ms": 1_700_000_000_000, **kw}


def _url(sim) -> str:
    return okx.ws_url(okx.OkxConfig(ws_url=sim.urls.ws))


class Checker:
    """An independent merge of ``books`` frames: chain and checksum of every update."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        self.seq: dict[str, int] = {}
        self.updates = 0

    def feed(self, msg: dict) -> list[str]:
        """Problems found in one ``books`` frame (empty: it continues the book exactly)."""
        inst, d = msg["arg"]["instId"], msg["data"][0]
        problems = []
        if msg["action"] == "snapshot":
            assert d["prevSeqId"] == -1
            self.books[inst] = ({lv[0]: lv[1] for lv in d["bids"]}, {lv[0]: lv[1] for lv in d["asks"]})
        else:
            self.updates += 1
            if d["prevSeqId"] != self.seq.get(inst):
                problems.append("seq")
            bids, asks = self.books[inst]
            for side, levels in ((bids, d["bids"]), (asks, d["asks"])):
                for px, sz, *_ in levels:
                    if float(sz) == 0:
                        side.pop(px, None)
                    else:
                        side[px] = sz
        self.seq[inst] = d["seqId"]
        bids, asks = self.books[inst]
        b = sorted(bids.items(), key=lambda kv: -float(kv[0]))[:25]
        a = sorted(asks.items(), key=lambda kv: float(kv[0]))[:25]
        parts = []
        for i in range(max(len(b), len(a))):
            parts += [*b[i]] if i < len(b) else []
            parts += [*a[i]] if i < len(a) else []
        crc = zlib.crc32(":".join(parts).encode())
        if (crc - (1 << 32) if crc >= 1 << 31 else crc) != d["checksum"]:
            problems.append("checksum")
        return problems


async def test_subscribe_acks_snapshot_then_chained_checksummed_updates_from_the_capture():
    async with Simulator(**_cfg()) as sim:
        async with ws_connect(_url(sim)) as ws:
            await ws.send(okx.subscribe_message([("books", "BTC-USDT"), ("trades", "BTC-USDT"),
                                                 ("tickers", "BTC-USDT"), ("books5", "BTC-USDT")]))
            got = [orjson.loads(m) for m in await recv_for(ws, 4.0)]
        rec = sim.connections[0]
    acks = [m for m in got if m.get("event")]
    assert [(a["event"], a["arg"]["channel"]) for a in acks] == [
        ("subscribe", "books"), ("subscribe", "trades"), ("subscribe", "tickers"), ("subscribe", "books5")]
    books = [m for m in got if m.get("arg", {}).get("channel") == "books" and "data" in m]
    assert books[0]["action"] == "snapshot"
    checker = Checker()
    for m in books:
        assert checker.feed(m) == [], m
    assert checker.updates > 10
    # the capture's own trades and tickers, verbatim
    def shape(p: bytes) -> bytes:  # a looped payload differs only in its ts and tradeId
        return re.sub(rb'"(ts|tradeId)":"\d+"', b"", p)
    capture = {shape(p) for _, p in read_cryptofeed(CRYPTOFEED_OKX).frames}
    trades = [p for p in sim.sent(rec.id) if p.startswith(b'{"arg":{"channel":"trades"')]
    assert trades and all(shape(p) in capture for p in trades)
    assert any(p in {q for _, q in read_cryptofeed(CRYPTOFEED_OKX).frames} for p in trades)
    assert any(m.get("arg", {}).get("channel") == "tickers" and "data" in m for m in got)
    five = [m for m in got if m.get("arg", {}).get("channel") == "books5" and "data" in m]
    assert five and all(len(m["data"][0]["bids"]) <= 5 and m["data"][0]["instId"] == "BTC-USDT" for m in five)
    assert [orjson.loads(p) for p in sim.sent(rec.id)[:len(got)]] == got  # the log is what went out


async def test_synthetic_instrument_unknown_channel_and_bad_request_errors_and_ping():
    async with Simulator(**_cfg(okx_symbols=("SOL-USDT",), source="synthetic")) as sim:
        async with ws_connect(_url(sim)) as ws:
            await ws.send(b'{"id":"7","op":"subscribe","args":[{"channel":"books","instId":"NOPE-USDT"},'
                          b'{"channel":"candle1m","instId":"SOL-USDT"},{"channel":"books","instId":"SOL-USDT"}]}')
            first = [orjson.loads(m) for m in await recv_n(ws, 4)]
            await ws.send("ping")
            await ws.send("not json")
            rest = await recv_for(ws, 1.0)
    errs = [m for m in first if m.get("event") == "error"]
    assert [e["code"] for e in errs] == ["60018", "60018"] and all(e["id"] == "7" for e in errs)
    assert "instId:NOPE-USDT doesn't exist" in errs[0]["msg"]
    assert okx.classify_error(message=errs[0]["msg"]).error_class.value == "unknown_symbol"
    assert first[2] == {"id": "7", "event": "subscribe", "arg": {"channel": "books", "instId": "SOL-USDT"},
                        "connId": first[2]["connId"]}
    assert first[3]["action"] == "snapshot" and len(first[3]["data"][0]["bids"]) == 30
    assert "pong" in rest
    bad = [orjson.loads(m) for m in rest if m.startswith("{\"event\":\"error\"")]
    assert bad and bad[0]["code"] == "60012"
    checker = Checker()
    for m in [first[3]] + [orjson.loads(m) for m in rest if '"channel":"books"' in m and '"data"' in m]:
        assert checker.feed(m) == []


async def test_unsubscribe_then_subscribe_restarts_the_book_with_a_snapshot():
    async with Simulator(**_cfg(source="synthetic")) as sim:
        async with ws_connect(_url(sim)) as ws:
            await ws.send(okx.subscribe_message([("books", "ETH-USDT"), ("trades", "ETH-USDT")]))
            await recv_for(ws, 0.5)
            unsub, sub = okx.resubscribe_messages("ETH-USDT")
            await ws.send(unsub)
            await ws.send(sub)
            got = [orjson.loads(m) for m in await recv_for(ws, 0.5)]
            assert set(sim.venue("okx").subs) == {("ETH-USDT", "books"), ("ETH-USDT", "trades")}
    events = [(m["event"], m["arg"]["channel"]) for m in got if m.get("event")]
    assert events == [("unsubscribe", "books"), ("subscribe", "books")]
    i = next(i for i, m in enumerate(got) if m.get("event") == "subscribe")
    after = [m for m in got[i + 1:] if m.get("arg", {}).get("channel") == "books"]
    assert after[0]["action"] == "snapshot" and after[0]["data"][0]["prevSeqId"] == -1


@pytest.mark.parametrize("kind", ["gap", "checksum"])
async def test_injected_gap_or_bad_checksum_breaks_exactly_one_update(kind):
    async with Simulator(**_cfg(source="synthetic")) as sim:
        async with ws_connect(_url(sim)) as ws:
            await ws.send(okx.subscribe_message([("books", "ETH-USDT")]))
            before = await recv_for(ws, 0.5)
            params = {"kind": kind, "symbol": "ETH-USDT", **({"venue": "okx"} if kind == "gap" else {})}
            status, _, body = await http("POST", sim.urls.rest + "/_sim/fault", params)
            assert status == 200 and orjson.loads(body)["pending"] == 1
            after = await recv_for(ws, 1.0)
    checker = Checker()
    problems = [checker.feed(orjson.loads(m)) for m in before + after if '"data"' in m]
    broken = [p for p in problems if p]
    assert broken[0][0] == ("seq" if kind == "gap" else "checksum")
    assert len([p for p in problems if "seq" in p]) == (1 if kind == "gap" else 0)
    if kind == "checksum":
        assert len(broken) == 1  # the book itself stayed right: only that update lied


async def test_idle_connection_is_cut_and_ping_keeps_it():
    async with Simulator(**_cfg(source="synthetic", okx_idle_timeout_s=0.5)) as sim:
        async with ws_connect(_url(sim)) as idle, ws_connect(_url(sim)) as kept:
            for _ in range(6):
                await kept.send("ping")
                assert await recv_n(kept, 1) == ["pong"]
                with contextlib.suppress(ConnectionClosed):
                    await recv_for(idle, 0.2)
            await until(lambda: sim.connections[0].close_code is not None, 3)
        assert sim.connections[0].close_code == 4004
        assert sim.connections[1].close_code != 4004


def test_capture_constant_points_at_the_okx_recording():
    assert CRYPTOFEED_OKX.name == "OKX.jsonl.zst" and CRYPTOFEED_OKX.exists()


async def test_the_okx_path_is_okx_s_even_beside_binance_s_ws_route():
    """Binance's ``/ws/<streams>`` route would read ``/ws/v5/public`` as two stream names."""
    async with Simulator(**_cfg(venues=("binance-usdm", "okx", "upbit"), source="synthetic")) as sim:
        async with ws_connect(_url(sim)) as ws:
            await ws.send(okx.subscribe_message([("trades", "BTC-USDT")]))
            (ack,) = await recv_n(ws, 1)
        assert orjson.loads(ack)["event"] == "subscribe"
        assert sim.connections[0].venue == "okx"
