"""The simulator's synthetic universe: names per venue, the instrument lists that carry it (as
the recorder parses them), its streams in each venue's shapes, its rates."""

from __future__ import annotations

import asyncio
import statistics

import orjson
import pytest

from recorder.venues import VENUES as DESCRIPTORS
from recorder.venues.instruments import INSTRUMENTS
from recorder.venues.universe import Selection, krw_bases, resolve
from tools.simulator import Simulator
from tools.simulator.__main__ import parse_args
from tools.simulator.config import SimConfig
from tools.simulator.tape import Tape
from tools.simulator.universe import (
    FORMATS,
    PROFILES,
    VENUES,
    Universe,
    mean_rates,
    name,
    parse_counts,
)

from .simhelp import http, recv_n, ws_connect

pytestmark = pytest.mark.timeout(60)

NAMES = {"binance-spot": "SYN7USDT", "bybit": "SYN7USDT", "okx": "SYN7-USDT", "gate": "SYN7_USDT",
         "kucoin": "SYN7-USDT", "phemex": "sSYN7USDT"}


def test_names_are_spelled_as_each_venue_spells_its_symbols():
    assert {v: name(v, 7) for v in VENUES} == NAMES
    for v in VENUES:  # the recorder takes each as one of the venue's symbols
        assert DESCRIPTORS[v].is_symbol(name(v, 7)), v
    with pytest.raises(ValueError, match="no synthetic universe"):
        name("upbit", 1)


def test_counts_parse_for_every_venue_or_per_venue():
    assert parse_counts("5") == tuple((v, 5) for v in VENUES)
    assert parse_counts("okx=800, phemex=45") == (("okx", 800), ("phemex", 45))
    for bad in ("okx", "okx=x", "upbit=3", "-1"):
        with pytest.raises(ValueError):
            parse_counts(bad)
    config, _ = parse_args(["--universe", "gate=3", "--universe-rate-scale", "2"])
    assert config.universe == (("gate", 3),) and config.universe_rate_scale == 2.0
    with pytest.raises(ValueError, match="universe"):
        SimConfig(universe=(("upbit", 3),))
    with pytest.raises(ValueError, match="rate_scale"):
        SimConfig(universe_rate_scale=0)


def test_rates_come_from_the_capture_profiles_and_scale():
    top, trade = mean_rates()
    assert top == pytest.approx(1.5895, abs=1e-3) and trade == pytest.approx(0.0935, abs=1e-3)
    u = Universe("okx", len(PROFILES) * 2, rate_scale=3.0)
    for n, sym in enumerate(u.names):
        _, _, t, r = PROFILES[n % len(PROFILES)]
        assert u.rates(sym) == (pytest.approx(max(t, 0.01) * 3), pytest.approx(max(r, 0.01) * 3))


@pytest.mark.parametrize("venue", VENUES)
def test_a_symbol_streams_trades_and_top_of_book_at_its_rate(venue):
    u = Universe(venue, 20, seed=1, base_ms=1_700_000_000_000)
    tape = Tape()
    sym = u.names[12]  # BCHSV-USDT's profile: 9.22 changes, 0.17 trades a second
    assert u.activate(sym if venue == "phemex" else sym.lower(), tape)  # Phemex: case-sensitive
    assert not u.activate(name(venue, 21), tape)
    assert (sym.upper() in u) is (venue != "phemex")
    evs = [tape.next() for _ in range(5000)]
    span = evs[-1].t - evs[0].t
    kinds = [e.kind for e in evs]
    trade_kind = {"binance-spot": "trade", "bybit": "publicTrade", "okx": "trades",
                  "gate": "trades", "kucoin": "match", "phemex": "trade"}[venue]
    trades = kinds.count(trade_kind)
    top = len(evs) - trades
    assert top / span == pytest.approx(9.22, rel=0.1)
    assert trades / span == pytest.approx(0.17, rel=0.35)
    assert {e.symbol for e in evs} == {FORMATS[venue].key(sym)}
    for e in evs[:200]:
        msg = orjson.loads(e.data)
        assert sym in e.data.decode(), msg
    if venue == "bybit":  # orderbook.1's u grows by one per book message (a client checks it)
        us = [orjson.loads(e.data)["data"]["u"] for e in evs if e.kind == "orderbook"]
        assert us == list(range(us[0], us[0] + len(us)))
    # the same seed makes the same tape
    again = Tape()
    Universe(venue, 20, seed=1, base_ms=1_700_000_000_000).activate(sym, again)
    assert [again.next().data for _ in range(50)] == [e.data for e in evs[:50]]


async def _listed(sim: Simulator, venue: str, market: str = "") -> list[str]:
    src = INSTRUMENTS[venue]
    status, _, body = await http("GET", src.request(sim.urls.rest, market).url)
    assert status == 200, body
    return [i.symbol for i in src.parse(body, market)]


async def test_each_instrument_reply_lists_the_universe_as_the_recorder_parses_it():
    counts = tuple((v, 4) for v in VENUES)
    async with Simulator(venues=(*VENUES, "upbit"), universe=counts, record_sent=False) as sim:
        krw = krw_bases([i for i in INSTRUMENTS["upbit"].parse(
            (await http("GET", INSTRUMENTS["upbit"].request(sim.urls.rest).url))[2])])
        for venue in VENUES:
            listed = await _listed(sim, venue)
            ours = [name(venue, n) for n in range(1, 5)]
            assert set(ours) <= set(listed), (venue, listed)
            got = resolve(venue, INSTRUMENTS[venue].parse(
                (await http("GET", INSTRUMENTS[venue].request(sim.urls.rest).url))[2]),
                Selection(("all",), not_on_upbit_krw=True), upbit_krw=krw)
            assert set(ours) <= set(got.symbols)  # none of them is an Upbit KRW coin
        assert krw  # the capture's KRW markets were there to be compared with


async def test_without_a_universe_the_lists_hold_what_streams():
    async with Simulator(venues=("okx", "gate", "kucoin", "phemex"), start_ms=1_700_000_000_000,
                         record_sent=False) as sim:
        # the capture's own, and the majors listed too (any symbol is served: LISTED_TOO)
        assert sorted(await _listed(sim, "okx")) == ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
        assert sorted(await _listed(sim, "okx", "swap")) == ["BTC-USDT-SWAP", "ETH-USDT-SWAP",
                                                             "UNI-USD-SWAP"]
        assert "NEO_BTC" in await _listed(sim, "gate")
        assert "SNX-BTC" in await _listed(sim, "kucoin")
        assert sorted(await _listed(sim, "phemex")) == [
            "sBCHUSDT", "sBTCUSDT", "sENJUSDT", "sETHUSDT", "sGRTUSDT", "sLINKUSDT", "sSUSHIUSDT"]


async def test_bybit_lists_its_captured_spot_symbols_and_the_universe():
    async with Simulator(venues=("bybit",), universe=(("bybit", 3),), record_sent=False) as sim:
        assert await _listed(sim, "bybit") == ["BTCUSDT", "ETHUSDT", "SYN1USDT", "SYN2USDT", "SYN3USDT"]
        assert len(await _listed(sim, "bybit", "linear")) == 800  # the captured reply, unchanged


async def test_a_subscribed_universe_symbol_streams_over_the_socket():
    async with Simulator(venues=("okx", "gate"), universe=(("okx", 3), ("gate", 2)),
                         universe_rate_scale=20.0, source="synthetic", record_sent=False) as sim:
        async with ws_connect(sim.urls.ws + "/ws/v5/public") as ws:
            await ws.send(orjson.dumps({"op": "subscribe", "args": [
                {"channel": "bbo-tbt", "instId": "SYN3-USDT"}, {"channel": "trades", "instId": "SYN3-USDT"}]}))
            msgs = [orjson.loads(m) for m in await recv_n(ws, 12)]
        channels = {m.get("arg", {}).get("channel") for m in msgs if "data" in m}
        assert "bbo-tbt" in channels
        assert all(m["arg"]["instId"] == "SYN3-USDT" for m in msgs if "data" in m)
        bbo = [m["data"][0] for m in msgs if m.get("arg", {}).get("channel") == "bbo-tbt" and "data" in m]
        assert all(len(d["bids"]) == 1 and len(d["asks"]) == 1 for d in bbo)  # the touch only
        assert all(float(d["bids"][0][0]) < float(d["asks"][0][0]) for d in bbo)
        async with ws_connect(sim.urls.ws + "/ws/v4/") as ws:
            await ws.send(orjson.dumps({"time": 0, "channel": "spot.book_ticker", "event": "subscribe",
                                        "payload": ["SYN2_USDT"]}))
            msgs = [orjson.loads(m) for m in await recv_n(ws, 4)]
        ticks = [m["result"] for m in msgs if m.get("event") == "update"]
        assert ticks and all(t["s"] == "SYN2_USDT" and float(t["b"]) < float(t["a"]) for t in ticks)
    await asyncio.sleep(0)


def test_statistics_of_the_profiles_are_what_the_bench_docstring_says():
    tops = [max(p[2], 0.01) for p in PROFILES]
    assert round(statistics.fmean(tops), 2) == 1.59


def test_a_listing_shock_moves_the_coin_from_its_time_and_empties_the_old_touch():
    """``Universe.shock``: the coin's next frame comes at the shock time with its price moved
    by the factor; a book venue's message removes the touch from before (no crossed book)."""
    from tools.simulator.tape import Tape
    from tools.simulator.universe import Universe

    u = Universe("bybit", 3, base_ms=0)
    tape = Tape()
    assert u.activate("SYN2USDT", tape) and u.activate("SYN1USDT", tape)
    first = tape.next()  # a snapshot
    assert not u.shock("SYN9", 5_000, 1.5)  # not listed here
    src = u.active["SYN2USDT"]
    old_bid, old_ask = src.top.bid, src.top.ask
    assert u.shock("SYN2", 5_000, 1.5)
    events = []
    while not events or events[-1].t < 5.0 or "SYN2" not in events[-1].symbol:
        events.append(tape.next())
    ev = events[-1]
    assert ev.t == 5.0 and first.t == 0.0
    import orjson

    doc = orjson.loads(ev.data)
    assert ev.kind == "orderbook"  # the quote at the listing's time
    (new_bid, _), (gone_bid, zero_b) = doc["data"]["b"]
    (new_ask, _), (gone_ask, zero_a) = doc["data"]["a"]
    assert zero_b == zero_a == "0"  # the touch from before the shock is emptied
    assert abs(float(gone_bid) * 100 - old_bid) <= 5 and abs(float(gone_ask) * 100 - old_ask) <= 5
    assert abs(float(new_bid) / float(gone_bid) - 1.5) < 0.01
