"""The simulator's Binance REST: USD-M and spot klines paging, trades, 24 h tickers, weights."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from tools.simulator import Simulator

from .simhelp import http

START_MS = 1_700_000_000_000


def _sim(**kw) -> Simulator:
    kw = {"source": "synthetic", "venues": ("binance-usdm",), "seed": 5, "start_ms": START_MS,
          "history_minutes": 4000, **kw}
    return Simulator(**kw)


class FakeClock:
    def __init__(self) -> None:
        self.t = 6000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(("prefix", "page"), [("/fapi/v1", 1500), ("/api/v3", 1000)])
async def test_klines_paged_forwards_equal_the_simulators_rows(prefix, page):
    # speed "max": with nobody subscribed the feed waits, so the tape stays at its start and
    # only the history answers (at real-time pace a slow run let the stream add a minute)
    async with _sim(speed="max") as sim:
        market = sim.venue("binance-usdm").market
        market.activate("FOOUSDT")
        rows = market.kline_rows("FOOUSDT")
        end = START_MS // 60_000 * 60_000 - 1  # history only: the stream has not moved yet
        start = rows[0][0]
        got, requests = [], 0
        while True:
            status, headers, body = await http(
                "GET", f"{sim.urls.rest}{prefix}/klines?symbol=FOOUSDT&interval=1m"
                       f"&startTime={start}&endTime={end}&limit={page}")
            requests += 1
            assert status == 200 and int(headers["X-MBX-USED-WEIGHT-1M"]) > 0
            part = orjson.loads(body)
            if not part:
                break
            assert len(part) <= page
            got += part
            start = part[-1][0] + 60_000
        history = [r for r in rows if r[0] <= end]
        assert got == history and len(history) == 4000
        assert requests == -(-4000 // page) + 1
        assert [r[0] for r in got] == list(range(got[0][0], got[-1][0] + 1, 60_000))  # every minute
        # without startTime: the newest rows up to endTime
        status, _, body = await http("GET", f"{sim.urls.rest}{prefix}/klines?symbol=FOOUSDT&interval=1m"
                                            f"&endTime={end}&limit=3")
        assert orjson.loads(body) == history[-3:]
        status, _, body = await http("GET", f"{sim.urls.rest}{prefix}/klines?symbol=FOOUSDT&interval=1m"
                                            f"&limit={page + 1}")
        assert status == 400 and orjson.loads(body)["code"] == -1130


async def test_history_meets_the_stream_trades_and_tickers_follow_it():
    async with _sim(binance_weight_limit=None, binance_spot_weight_limit=None) as sim:
        market, rest = sim.venue("binance-usdm").market, sim.urls.rest
        for sym in ("FOOUSDT", "BARUSDT"):
            market.activate(sym)
        for _ in range(3000):  # advance the tape by hand: the feed only runs for subscribers
            market.next()
        rows = market.kline_rows("FOOUSDT")
        opens = [r[0] for r in rows]
        assert opens == sorted(set(opens))  # history and stream minutes neither overlap nor repeat
        status, _, body = await http("GET", f"{rest}/fapi/v1/trades?symbol=FOOUSDT&limit=5")
        trades = orjson.loads(body)
        streamed = [orjson.loads(e.data) for e in market.trades["FOOUSDT"] if e.kind == "trade"][-5:]
        assert status == 200 and [t["id"] for t in trades] == [s["t"] for s in streamed]
        assert [t["price"] for t in trades] == [s["p"] for s in streamed]
        status, _, body = await http("GET", f"{rest}/fapi/v1/ticker/24hr?symbol=FOOUSDT")
        tk = orjson.loads(body)
        assert status == 200 and tk["lastPrice"] == rows[-1][4]
        assert Decimal(tk["lastPrice"]) == Decimal(streamed[-1]["p"])  # the last streamed trade
        assert tk["lastId"] == streamed[-1]["t"] and tk["openTime"] == rows[-1440][0]
        status, _, body = await http("GET", f"{rest}/api/v3/ticker/24hr")
        every = orjson.loads(body)
        assert status == 200 and [t["symbol"] for t in every] == ["BARUSDT", "FOOUSDT"]
        assert float(every[1]["bidPrice"]) < float(every[1]["askPrice"])
        status, _, body = await http("GET", f"{rest}/api/v3/depth?symbol=FOOUSDT&limit=5")
        book = orjson.loads(body)
        assert status == 200 and set(book) == {"lastUpdateId", "bids", "asks"} and len(book["bids"]) == 5
        assert (await http("GET", f"{rest}/api/v3/trades?symbol=FOOUSDT&limit=1001"))[0] == 400
        assert (await http("GET", f"{rest}/api/v3/nope"))[0] == 404


async def test_weights_429_retry_after_then_418_per_address():
    async with _sim(binance_weight_limit=100, binance_ban_after=2, binance_ban_s=60) as sim:
        api = sim.venue("binance-usdm").rest_api
        clock = FakeClock()
        for lim in api.limits.values():
            lim.clock = clock
        url = sim.urls.rest + "/fapi/v1/klines?symbol=FOOUSDT&interval=1m&limit=1000"  # weight 5
        got = [await http("GET", url) for _ in range(21)]
        assert [g[0] for g in got] == [200] * 20 + [429]
        assert [g[1]["X-MBX-USED-WEIGHT-1M"] for g in got[:3]] == ["5", "10", "15"]
        assert got[20][1]["Retry-After"] == "61" and orjson.loads(got[20][2])["code"] == -1003
        # the spot budget is apart
        assert (await http("GET", sim.urls.rest + "/api/v3/klines?symbol=FOOUSDT&interval=1m"))[0] == 200
        statuses = [(await http("GET", url))[0] for _ in range(2)]
        assert statuses == [429, 418]
        status, headers, body = await http("GET", sim.urls.rest + "/fapi/v1/time")
        assert status == 418 and headers["Retry-After"] == "60" and b"banned" in body
        clock.t += 61
        assert (await http("GET", url))[0] == 200
        stats = orjson.loads((await http("GET", sim.urls.rest + "/_sim/stats"))[2])["rate_limits"]
        usdm = stats["binance-usdm"]["usdm"]["127.0.0.1"]
        assert usdm["weight_per_minute"] == {"100": 100, "101": 5}
        assert usdm["refused_per_minute"] == {"100": 4}
