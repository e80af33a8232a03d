"""The simulator's Upbit REST: candle paging, ticks, many-market tickers, and the limits."""

from __future__ import annotations

import orjson
import pytest

from tools.simulator import Simulator
from tools.simulator.upbit_candles import KST_MS, fold, history_bars, period_start, shape
from tools.simulator.upbit_market import UpbitMarket

from .simhelp import http

START_MS = 1_700_000_000_000  # the stream's first event; the history ends the minute before


def _sim(**kw) -> Simulator:
    kw = {"source": "synthetic", "venues": ("upbit",), "seed": 11, "start_ms": START_MS,
          "history_minutes": 1500, **kw}
    return Simulator(**kw)


class FakeClock:
    """The rate limiter's clock, moved only by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def _page_back(rest: str, market: str, want: int, first_to: str) -> tuple[list[dict], int]:
    """Fetch ``want`` one-minute candles backwards from ``first_to``, 200 a page, each page's
    ``to`` the oldest ``candle_date_time_utc`` of the one before; (ascending, requests)."""
    got: list[dict] = []
    to, requests = first_to, 0
    while len(got) < want:
        n = min(200, want - len(got))
        status, headers, body = await http("GET", f"{rest}/v1/candles/minutes/1?market={market}"
                                                  f"&count={n}&to={to}")
        requests += 1
        assert status == 200, body
        assert headers["Remaining-Req"].startswith("group=candle; min=1800; sec=")
        rows = orjson.loads(body)
        assert rows, "history ran out"
        times = [r["candle_date_time_utc"] for r in rows]
        assert times == sorted(times, reverse=True)  # newest first
        got.extend(rows)
        to = rows[-1]["candle_date_time_utc"] + "Z"
    return got[::-1], requests


@pytest.mark.parametrize("want", [1000, 1201])
async def test_paging_minute_candles_matches_the_simulators_history(want):
    """1000 and 1201 candles fetched page by page with ``to``: none missing, no duplicate,
    equal candle for candle to the simulator's own history (the named page-border test)."""
    async with _sim(upbit_rest_per_s=100) as sim:
        market: UpbitMarket = sim.venue("upbit").market  # type: ignore[assignment]
        market.activate("KRW-BTC")
        first_to = "2023-11-14T22:13:00Z"  # the stream's first minute: only history before it
        got, requests = await _page_back(sim.urls.rest, "KRW-BTC", want, first_to)
        assert requests == -(-want // 200)
        own = [c for c in market.candles("KRW-BTC", 1) if c["start"] < START_MS // 60_000 * 60_000]
        expect = own[-want:]
        assert len(got) == want == len({c["candle_date_time_utc"] for c in got})
        assert got == [shape(e, 1, None) for e in expect]  # every field, candle for candle
        starts = [e["start"] for e in expect]
        assert any(b - a > 60_000 for a, b in zip(starts, starts[1:], strict=False))  # gaps exist


def test_history_ends_where_the_stream_starts_and_has_gaps():
    bars = history_bars("KRW-BTC", seed=3, end_ms=START_MS, price=86_450_000.0, minutes=600)
    assert bars == history_bars("KRW-BTC", seed=3, end_ms=START_MS, price=86_450_000.0, minutes=600)
    assert bars[-1]["trade_price"] == 86_450_000.0 and bars[-1]["start"] < START_MS // 60_000 * 60_000
    assert 450 < len(bars) < 600  # about one minute in ten has no trades and no candle
    for b in bars:
        assert b["low_price"] <= min(b["opening_price"], b["trade_price"])
        assert b["high_price"] >= max(b["opening_price"], b["trade_price"])
        assert b["start"] <= b["timestamp"] < b["start"] + 60_000


async def test_candle_units_periods_and_bad_requests():
    async with _sim(upbit_rest_per_s=None) as sim:
        rest, market = sim.urls.rest, sim.venue("upbit").market
        for unit in (3, 15, 240):
            status, _, body = await http("GET", f"{rest}/v1/candles/minutes/{unit}?market=KRW-ETH&count=5"
                                                "&to=2023-11-14%2020:00:00")
            rows = orjson.loads(body)
            assert status == 200 and len(rows) == 5 and {r["unit"] for r in rows} == {unit}
            assert all(r["candle_date_time_utc"] < "2023-11-14T20:00:00" for r in rows)
            own = [c for c in market.candles("KRW-ETH", unit)
                   if c["start"] < 1_699_992_000_000][-5:][::-1]
            assert [r["timestamp"] for r in rows] == [c["timestamp"] for c in own]
        # the same instant written with a KST offset gives the same page
        a = (await http("GET", f"{rest}/v1/candles/minutes/1?market=KRW-ETH&count=3&to=2023-11-14T20:00:00Z"))[2]
        b = (await http("GET", f"{rest}/v1/candles/minutes/1?market=KRW-ETH&count=3"
                               "&to=2023-11-15T05:00:00%2B09:00"))[2]
        assert a == b
        status, _, body = await http("GET", f"{rest}/v1/candles/days?market=KRW-ETH&count=2")
        days = orjson.loads(body)
        assert status == 200 and days[0]["candle_date_time_kst"].endswith("T00:00:00")
        assert days[0]["prev_closing_price"] == days[1]["trade_price"]
        for period in ("weeks", "months"):
            status, _, body = await http("GET", f"{rest}/v1/candles/{period}?market=KRW-ETH")
            (row,) = orjson.loads(body)
            assert status == 200 and row["first_day_of_period"] == row["candle_date_time_kst"][:10]
        for bad in ("minutes/2?market=KRW-ETH", "minutes/1?market=KRW-ETH&count=201",
                    "minutes/1?market=KRW-ETH&count=0", "minutes/1?market=KRW-ETH&to=yesterday"):
            status, _, body = await http("GET", f"{rest}/v1/candles/{bad}")
            assert status == 400 and orjson.loads(body)["error"]["name"] == "invalid_parameter_error"
        assert (await http("GET", f"{rest}/v1/candles/minutes/1?market=NOPE"))[0] == 404


def test_period_starts_are_kst():
    t = 1_699_999_980_000  # 2023-11-14T22:13Z = 2023-11-15T07:13 KST, a Wednesday
    day = period_start(t, "days")
    assert (day + KST_MS) % 86_400_000 == 0 and day <= t < day + 86_400_000
    assert period_start(t, "weeks") == day - 2 * 86_400_000
    assert fold([], "months") == []


async def test_ticks_and_many_market_tickers_follow_the_stream():
    async with _sim(upbit_rest_per_s=None, speed="max") as sim:
        rest, market = sim.urls.rest, sim.venue("upbit").market
        codes = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE"]
        status, _, body = await http("GET", f"{rest}/v1/ticker?markets={','.join(codes)}")
        assert status == 200
        last_kind: dict[str, str] = {}
        for i in range(100_000):  # advance the tape by hand: the feed only runs for subscribers
            ev = market.next()
            if ev.kind in ("trade", "ticker"):
                last_kind[ev.symbol] = ev.kind
            if i > 2000 and all(last_kind.get(c) == "ticker" for c in codes):
                break  # every code's last trade has its ticker out too
        status, headers, body = await http("GET", f"{rest}/v1/ticker?markets={','.join(codes)}")
        tickers = orjson.loads(body)
        assert status == 200 and [t["market"] for t in tickers] == codes
        assert "Remaining-Req" not in headers  # limits off in this simulator
        for t in tickers:
            last = orjson.loads(market.last[(t["market"], "trade")].data)
            assert t["trade_price"] == last["tp"] and t["trade_timestamp"] == last["ttms"]
        status, _, body = await http("GET", f"{rest}/v1/trades/ticks?market=KRW-BTC&count=5")
        ticks = orjson.loads(body)
        streamed = [orjson.loads(e.data) for e in market.trades["KRW-BTC"]][::-1][:10]
        assert [t["sequential_id"] for t in ticks] == [s["sid"] for s in streamed[:5]]
        status, _, body = await http("GET", f"{rest}/v1/trades/ticks?market=KRW-BTC&count=5"
                                            f"&cursor={ticks[-1]['sequential_id']}")
        assert [t["sequential_id"] for t in orjson.loads(body)] == [s["sid"] for s in streamed[5:10]]
        assert (await http("GET", f"{rest}/v1/trades/ticks?market=KRW-BTC&count=501"))[0] == 400


async def test_limits_remaining_req_429_plain_text_then_418_per_address():
    async with _sim(upbit_rest_per_s=10, upbit_ban_after=3, upbit_ban_s=30) as sim:
        venue = sim.venue("upbit")
        clock = venue.limits.clock = FakeClock()  # type: ignore[union-attr]
        url = sim.urls.rest + "/v1/candles/minutes/1?market=KRW-BTC"
        got = [await http("GET", url) for _ in range(11)]
        assert [g[0] for g in got] == [200] * 10 + [429]
        assert [g[1]["Remaining-Req"] for g in got[:3]] == [
            f"group=candle; min=1800; sec={n}" for n in (9, 8, 7)]
        status, headers, body = got[10]
        assert body == b"Too many API requests." and headers["Content-Type"].startswith("text/plain")
        assert headers["Remaining-Req"] == "group=candle; min=1800; sec=0"
        # another group has its own counter; another address its own budget
        assert (await http("GET", sim.urls.rest + "/v1/ticker?markets=KRW-BTC"))[0] == 200
        other = await _http_as("10.0.0.2", url)
        assert other[0] == 200 and other[1]["Remaining-Req"].endswith("sec=9")
        # continuing past 429: three more strikes, then 418 saying how long, for every group
        statuses = [(await http("GET", url))[0] for _ in range(3)]
        assert statuses == [429, 429, 418]
        status, headers, body = await http("GET", sim.urls.rest + "/v1/ticker?markets=KRW-BTC")
        assert status == 418 and b"blocked for 30 seconds" in body and headers["Retry-After"] == "30"
        clock.t += 10
        assert b"blocked for 20 seconds" in (await http("GET", url))[2]
        clock.t += 21
        assert (await http("GET", url))[0] == 200  # the block is over
        # what the simulator counted, per address, group and second
        _, _, body = await http("GET", sim.urls.rest + "/_sim/stats")
        stats = orjson.loads(body)["rate_limits"]["upbit"]
        assert stats["127.0.0.1"]["accepted"]["candle"] == {"1000": 10, "1031": 1}
        assert stats["127.0.0.1"]["refused"]["candle"] == {"1000": 4, "1010": 1}
        assert stats["10.0.0.2"]["accepted"]["candle"] == {"1000": 1}
        assert venue.limits.max_per_second("127.0.0.1", "candle") == 10  # type: ignore[union-attr]


async def _http_as(address: str, url: str) -> tuple[int, dict[str, str], bytes]:
    import asyncio
    import urllib.error
    import urllib.request

    def go():
        req = urllib.request.Request(url, headers={"X-Forwarded-For": address})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    return await asyncio.to_thread(go)
