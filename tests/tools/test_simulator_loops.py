"""What a client of the simulator sees over a long run and across venues: the looped Bybit
capture's trade ids keep growing, Gate's synthetic book never crosses, and an injected REST
error speaks for the venue that serves the path (``Simulator._rest_fault_for``)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import orjson

from tools.simulator.bybit_market import BybitMarket, read_bybit
from tools.simulator.captures import CRYPTOFEED_BYBIT
from tools.simulator.gate_market import GateMarket
from tools.simulator.server import Simulator

from .simhelp import http


def test_bybit_spot_trade_ids_grow_across_capture_loops():
    """Spot's trade ids are numbers a client checks the order of (linear's are UUIDs)."""
    market = BybitMarket([read_bybit(str(CRYPTOFEED_BYBIT))])
    span = market.tape.peek_t() + 3 * 43.0  # the capture is 42.5 s: three loops and more
    ids: dict[str, list[int]] = defaultdict(list)
    while market.tape.peek_t() < span:
        ev = market.next()
        if ev.kind == "publicTrade" and ev.symbol.startswith("spot:"):
            ids[ev.symbol] += [int(t["i"]) for t in orjson.loads(ev.data)["data"]]
    assert set(ids) == {"spot:BTCUSDT", "spot:ETHUSDT"}, set(ids)
    for key, got in ids.items():
        assert len(got) > 10 and got == sorted(got), key  # a repeat would be out of order
        assert len(set(got)) == len(got), key


def test_gate_synthetic_book_never_crosses():
    market = GateMarket({}, seed=5, base_ms=1_700_000_000_000)
    assert market.activate("spot", "FOO_USDT") and market.activate("futures", "FOO_USDT")
    updates = 0
    for _ in range(6000):  # 10 minutes of 100 ms updates for each market
        ev = market.next()
        if ev.kind != "order_book_update":
            continue
        updates += 1
        key = tuple(ev.symbol.split(":", 1))
        bids, asks = market.books[key].top(1)
        if bids and asks:
            assert Decimal(bids[0][0]) < Decimal(asks[0][0]), (ev.symbol, bids, asks)
    assert updates > 1000


async def test_rest_error_speaks_for_the_venue_serving_the_path():
    async with Simulator(venues=("binance-spot", "gate", "kucoin", "upbit"), speed=1) as sim:
        rest = sim.urls.rest
        # Gate's /api/v4 was once taken for Binance USD-M's (any /api/ path)
        sim.fault("rest_error", status=429, venue="binance-spot")
        status, _, body = await http("GET", rest + "/api/v4/spot/order_book?currency_pair=FOO_USDT")
        assert status == 200 and "id" in orjson.loads(body)
        status, _, body = await http("GET", rest + "/api/v3/depth?symbol=FOOUSDT&limit=5")
        assert status == 429 and orjson.loads(body)["code"] == -1003  # spot's, in Binance's words
        sim.fault("rest_error", status=429, venue="kucoin")
        assert (await http("GET", rest + "/v1/market/all"))[0] == 200  # Upbit's path: not KuCoin's
        status, _, body = await http("POST", rest + "/api/v1/bullet-public")
        assert status == 429 and orjson.loads(body)["code"] == "429000"
        sim.fault("rest_error", status=418, path="/api/v4/")  # no venue named: the path's answers
        status, headers, body = await http("GET", rest + "/api/v4/spot/order_book?currency_pair=FOO_USDT")
        assert status == 418 and headers["Retry-After"] == "1" and "error" in orjson.loads(body)
        sim.fault("rest_error", status=503, venue="upbit")
        assert (await http("GET", rest + "/api/v3/depth?symbol=FOOUSDT&limit=5"))[0] == 200
        status, _, body = await http("GET", rest + "/v1/market/all")
        assert status == 503 and orjson.loads(body)["error"]["name"] == "503"
