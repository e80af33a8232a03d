"""The symbol universe in the daemon, against the simulator's exchangeInfo and market/all."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest

from recorder.daemon import Recorder
from recorder.daemon.snapshots import Response, http_get
from recorder.errors import ConfigError
from tools.simulator import Simulator

from .helpers import Journal, Running, config, until

pytestmark = pytest.mark.timeout(60)

CAPTURED = ["AKROUSDT", "BTCUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"]  # the capture's symbols


async def listed(s: Simulator) -> list[str]:
    """What the simulator's exchangeInfo lists: its captures and the big perpetuals."""
    resp = await asyncio.to_thread(http_get, s.urls.rest + "/fapi/v1/exchangeInfo", 5)
    got = [x["symbol"] for x in orjson.loads(resp.body)["symbols"]]
    assert set(CAPTURED) < set(got) and "ETHUSDT" in got
    return got


def sim() -> Simulator:
    return Simulator(speed=20, seed=3)  # the captures: their symbols are listed


def listing(**kw):
    return {"listing": True, **kw}


async def test_an_unlisted_symbol_is_refused_at_start_naming_the_nearest(tmp_path):
    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "BTCUSDX", "SUSHIUSD"],
                     binance_channels=["aggTrade"], binance_extra=listing(),
                     upbit=["KRW-BTC", "KRW-BTX"], upbit_channels=["trade"], upbit_extra=listing())
        with pytest.raises(ConfigError) as err:
            await Recorder(cfg, metrics=False).run()
    assert err.value.problems == [  # type: ignore[attr-defined]
        "venue[0].symbols: binance-usdm does not list BTCUSDX (nearest: BTCUSDT)",
        "venue[0].symbols: binance-usdm does not list SUSHIUSD (nearest: SUSHIUSDT)",
        "venue[1].symbols: upbit does not list KRW-BTX (nearest: KRW-BTC, KRW-BTG, KRW-BTT)"]
    assert not (tmp_path / "journal").exists()  # refused before the journal opened


async def test_all_expands_is_journaled_and_the_refresh_marks_delisted_and_new(tmp_path):
    calls = {"n": 0}

    def get(url: str, timeout: float) -> Response:
        resp = http_get(url, timeout)
        calls["n"] += 1
        if calls["n"] > 1 and url.endswith("/fapi/v1/exchangeInfo"):  # KEEP leaves, WIF comes
            doc = orjson.loads(resp.body)
            doc["symbols"] = [x for x in doc["symbols"] if x["symbol"] != "KEEPUSDT"]
            doc["symbols"].append({**doc["symbols"][0], "symbol": "WIFUSDT", "baseAsset": "WIF"})
            return Response(resp.status, resp.headers, orjson.dumps(doc))
        return resp

    async with sim() as s:
        everything = await listed(s)
        cfg = config(tmp_path, s.urls, binance=["all"], binance_channels=["aggTrade"],
                     binance_extra=listing(exclude=["AKRO*"]),
                     supervision={"universe_refresh_s": 0.5})
        run = Running(cfg, rest_get=get)
        async with run as rec:
            assert rec.served["binance-usdm"] == [x for x in everything if x != "AKROUSDT"]
            await until(lambda: "WIFUSDT" in rec.served["binance-usdm"], 15, "WIFUSDT subscribed")
            assert await run.stop() == 0
    j = Journal(tmp_path)
    api = [i for i in j.streams.values() if i.conn == "binance-usdm.api"]
    assert len(api) == 1
    lists = [r for r in j.kinds(api[0].id, "rest") if r.meta["url"].endswith("/fapi/v1/exchangeInfo")]
    assert len(lists) >= 2 and all(r.meta["via"] == "universe" for r in lists)
    assert [x["symbol"] for x in orjson.loads(lists[0].payload)["symbols"]] == everything
    marks = [m for m in j.marks() if m["mark"] == "universe"]
    assert marks[0]["delisted"] == ["KEEPUSDT"] and marks[0]["listed"] == ["WIFUSDT"]
    assert len(marks) == 1  # told once, not every refresh
    # the journaled list comes before the recording it chose
    first_frame = min(r.seq for r in j.records if r.kind == "frame")
    assert lists[0].seq < first_frame


async def test_not_on_upbit_krw_keeps_the_coins_upbit_has_no_krw_market_for(tmp_path):
    async with sim() as s:
        everything = await listed(s)
        cfg = config(tmp_path, s.urls, binance=["all"], binance_channels=["aggTrade"],
                     binance_extra=listing(not_on_upbit_krw=True),
                     upbit=["KRW-BTC"], upbit_channels=["trade"], upbit_extra=listing())
        async with Running(cfg, metrics=False) as rec:
            got = rec.served["binance-usdm"]
            up = await asyncio.to_thread(http_get, s.urls.rest + "/v1/market/all", 5)
        krw = {m["market"].split("-")[1] for m in orjson.loads(up.body) if m["market"].startswith("KRW-")}
    assert got == [x for x in everything if x[:-4] not in krw]
    assert "BTCUSDT" not in got and got  # BTC is a KRW market on Upbit


async def test_a_delisted_symbol_refused_by_the_venue_is_journaled_and_the_connection_goes_on(tmp_path):
    """The refresh marks KEEPUSDT delisted; the venue then refuses it on the open connection:
    the refusal is an ``error`` record (class unknown_symbol), the connection stays open and
    the other symbols keep coming."""
    calls = {"n": 0}

    def get(url: str, timeout: float) -> Response:
        resp = http_get(url, timeout)
        calls["n"] += 1
        if calls["n"] > 1:
            doc = orjson.loads(resp.body)
            doc["symbols"] = [x for x in doc["symbols"] if x["symbol"] != "KEEPUSDT"]
            return Response(resp.status, resp.headers, orjson.dumps(doc))
        return resp

    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT", "KEEPUSDT"], binance_channels=["aggTrade"],
                     binance_extra=listing(subscribe=True), supervision={"universe_refresh_s": 0.3})
        run = Running(cfg, rest_get=get, metrics=False)
        async with run as rec:
            await until(lambda: any(lk.frames > 20 for lk in rec.links.values()), 15, "frames")
            await until(lambda: calls["n"] > 1, 10, "a refresh")
            (conn,) = s._select("binance-usdm", None)
            conn.push(b'{"error":{"code":-1121,"msg":"Invalid symbol."},"id":77}')
            conn.flush()
            (link,) = rec.links.values()
            before = link.frames
            await until(lambda: link.frames > before + 20, 15, "frames after the refusal")
            assert rec.links[link.sid] is link and len(rec.links) == 1  # no reconnect
            assert await run.stop() == 0
    j = Journal(tmp_path)
    (ws,) = j.ws_streams("binance-usdm")
    errors = j.kinds(ws.id, "error")
    assert [(e.payload, e.meta["class"]) for e in errors] == [(b"-1121: Invalid symbol.",
                                                                "unknown_symbol")]
    refusal = b'{"error":{"code":-1121,"msg":"Invalid symbol."},"id":77}'
    assert any(r.payload == refusal for r in j.kinds(ws.id, "frame"))  # the bytes as they came
    after = [r for r in j.kinds(ws.id, "frame") if r.seq > errors[0].seq]
    assert len(after) > 20 and any(b"btcusdt@aggTrade" in r.payload for r in after)
    assert [r.kind for r in j.by_stream[ws.id]][-1] == "close"  # closed by our stop only
    assert [m["delisted"] for m in j.marks() if m["mark"] == "universe"] == [["KEEPUSDT"]]


async def test_recorder_run_refuses_an_unlisted_symbol_with_exit_2(tmp_path):
    """The command line: the one-line refusal on stderr, status 2, no journal."""
    async with sim() as s:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder.cli", "run", "--venue", "binance-usdm,upbit",
            "--symbols", "binance-usdm:ETHUSDT,binance-usdm:ETHUSD,upbit:KRW-BTC",
            "--channels", "binance-usdm:aggTrade,upbit:trade", "--data", str(tmp_path / "d"),
            "--ws-url", s.urls.ws, "--rest-url", s.urls.rest, "--duration", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 2, err.decode()[-2000:]
    assert ("error: bad configuration: venue[0].symbols: binance-usdm does not list ETHUSD "
            "(nearest: ETHUSDT") in err.decode()
    assert not (tmp_path / "d" / "journal").exists()


async def test_a_live_subscribe_is_checked_against_the_list(tmp_path):
    from recorder.daemon.control import ControlError

    async with sim() as s:
        cfg = config(tmp_path, s.urls, binance=["BTCUSDT"], binance_channels=["aggTrade"],
                     binance_extra=listing())
        async with Running(cfg, metrics=False) as rec:
            with pytest.raises(ControlError, match=r"does not list SOLUSDX \(nearest: SOLUSDT"):
                rec.subscribe("binance-usdm", ["SOLUSDX", "ETHUSDT"])
            assert rec.subscribe("binance-usdm", ["ethusdt"]) == (["ETHUSDT"], [])


def _tables(**binance) -> tuple:
    from recorder.daemon import build_config

    v = {"venue": "binance-usdm", "symbols": ["BTCUSDT"], "channels": ["aggTrade"],
         "rest_url": "http://127.0.0.1:1", **binance}
    return build_config({"recorder": {"data": "d"}, "venue": [v]}).venues


async def test_a_list_that_cannot_be_fetched_leaves_named_symbols_unchecked_but_refuses_all():
    import logging

    from recorder.daemon.universe import Universe

    def down(url: str, timeout: float) -> Response:
        raise ConnectionRefusedError("refused")

    def teapot(url: str, timeout: float) -> Response:
        return Response(418, {}, b'{"code":-1003,"msg":"banned"}')

    log = logging.getLogger("test")
    for get in (down, teapot):
        u = Universe(_tables(), log=log, rest_timeout_s=1, refresh_s=0, get=get)
        (v,) = await u.start()
        assert v.symbols == ("BTCUSDT",)
        (f,) = u.take_pending()  # journaled once the journal opens: an error record
        assert f.listed is None and f.url == "http://127.0.0.1:1/fapi/v1/exchangeInfo"
        u = Universe(_tables(symbols="all"), log=log, rest_timeout_s=1, refresh_s=0, get=get)
        with pytest.raises(ConfigError, match=r"venue\[0\]: could not fetch the instrument list"):
            await u.start()
    # a body of another shape is no list either
    u = Universe(_tables(symbols="all"), log=log, rest_timeout_s=1, refresh_s=0,
                 get=lambda url, t: Response(200, {}, b'{"code":0}'))
    with pytest.raises(ConfigError, match="could not fetch"):
        await u.start()
    assert "binance-usdm: not a list of instruments" in u.pending[0].error


class FakeTarget:
    """The daemon's side of ``Universe.refresh``: what it journals and subscribes."""

    def __init__(self, served: dict[str, list[str]]) -> None:
        self.served = served
        self.rest: list[tuple[str, int]] = []
        self.marks: list[dict] = []
        self.subscribed: list[list[str]] = []

    def venues(self) -> dict[str, list[str]]:
        return {v: list(s) for v, s in self.served.items()}

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        self.subscribed.append(symbols)
        self.served[venue] += symbols
        return symbols, []

    def journal_rest(self, venue, url, status, body, recv_ns, *, via="control") -> int:
        self.rest.append((url.rsplit("/", 1)[1], status))
        return 0

    def journal_mark(self, venue: str, text: str, fields: dict) -> int:
        self.marks.append({"mark": text, **fields})
        return 0


def _exchange_info(*symbols: str) -> bytes:
    return orjson.dumps({"symbols": [{"symbol": s, "status": "TRADING", "baseAsset": s[:-4],
                                      "quoteAsset": "USDT"} for s in symbols]})


async def test_refresh_marks_each_change_once_relists_and_grows_only_a_selecting_table():
    import logging

    from recorder.daemon.universe import Universe

    bodies = [_exchange_info("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    get = lambda url, t: Response(200, {}, bodies[-1])  # noqa: E731
    log = logging.getLogger("test")
    for symbols, grows in ((["BTCUSDT", "SOLUSDT"], False), ("all", True)):
        u = Universe(_tables(symbols=symbols), log=log, rest_timeout_s=1, refresh_s=0, get=get)
        (v,) = await u.start()
        t = FakeTarget({"binance-usdm": list(v.symbols)})
        bodies.append(_exchange_info("BTCUSDT", "ETHUSDT", "WIFUSDT"))  # SOL leaves, WIF comes
        await u.refresh(t)
        await u.refresh(t)  # nothing new: no second mark
        bodies.append(_exchange_info("BTCUSDT", "ETHUSDT", "SOLUSDT", "WIFUSDT"))  # SOL is back
        await u.refresh(t)
        assert t.rest == [("exchangeInfo", 200)] * 3
        listed = ["WIFUSDT"] if grows else []
        assert [(m["delisted"], m["listed"]) for m in t.marks] == [(["SOLUSDT"], listed),
                                                                    ([], ["SOLUSDT"])]
        assert t.subscribed == ([["WIFUSDT"]] if grows else [])  # SOL's connection still runs
        bodies[:] = bodies[:1]
