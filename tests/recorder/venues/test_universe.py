"""The universe: resolving a table against a list, the filters, suggestions, the pool plan."""

from __future__ import annotations

import pytest

from recorder.errors import ConfigError
from recorder.venues import VENUES
from recorder.venues.instruments import Instrument
from recorder.venues.universe import (
    POOL_LIMITS,
    PoolLimits,
    Selection,
    diff,
    krw_bases,
    max_per_window,
    nearest,
    plan_pool,
    pool_limits,
    resolve,
    unknown_error,
)


def usdm(*syms: str) -> list[Instrument]:
    return [Instrument(s, s[:-4], "USDT", "usdm") for s in syms]


BINANCE = usdm("BTCUSDT", "ETHUSDT", "SOLUSDT", "PEPEUSDT", "NEWUSDT", "BTCDOMUSDT")
UPBIT = [Instrument("KRW-BTC", "BTC", "KRW", "spot"), Instrument("KRW-ETH", "ETH", "KRW", "spot"),
         Instrument("BTC-SOL", "SOL", "BTC", "spot")]  # SOL on Upbit, but not a KRW market


def test_named_symbols_any_case_come_back_in_the_venues_spelling_and_listed_order():
    got = resolve("binance-usdm", BINANCE, Selection(symbols=("ethusdt", "BTCUSDT")))
    assert got.symbols == ("BTCUSDT", "ETHUSDT") and got.unknown == ()


def test_all_expands_to_every_listed_symbol():
    got = resolve("binance-usdm", BINANCE, Selection(symbols=("ALL",)))
    assert got.symbols == tuple(i.symbol for i in BINANCE)
    assert Selection(symbols=("all",)).expands and not Selection(symbols=("BTCUSDT",)).expands


def test_include_and_exclude_globs():
    sel = Selection(include=("*USDT",), exclude=("*DOM*", "pepe*"))
    got = resolve("binance-usdm", BINANCE, sel)
    assert got.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT", "NEWUSDT")
    assert got.dropped == ("PEPEUSDT", "BTCDOMUSDT")
    # a named symbol plus an include: both; exclude applies to the whole selection
    got = resolve("binance-usdm", BINANCE, Selection(symbols=("PEPEUSDT",), include=("S*",),
                                                       exclude=("ETH*",)))
    assert got.symbols == ("SOLUSDT", "PEPEUSDT")


def test_not_on_upbit_krw_keeps_coins_upbit_has_no_krw_market_for():
    krw = krw_bases(UPBIT)
    assert krw == {"BTC", "ETH"}
    got = resolve("binance-usdm", BINANCE, Selection(symbols=("all",), not_on_upbit_krw=True),
                  upbit_krw=krw)
    assert got.symbols == ("SOLUSDT", "PEPEUSDT", "NEWUSDT", "BTCDOMUSDT")  # SOL: BTC market only
    assert got.dropped == ("BTCUSDT", "ETHUSDT")
    with pytest.raises(ValueError, match="Upbit's list"):
        resolve("binance-usdm", BINANCE, Selection(symbols=("all",), not_on_upbit_krw=True))


def test_a_multiplied_contract_counts_as_its_coin():
    listed = [Instrument("1000SHIBUSDT", "1000SHIB", "USDT", "usdm"),
              Instrument("1INCHUSDT", "1INCH", "USDT", "usdm"),
              Instrument("1000PEPEUSDT", "1000PEPE", "USDT", "usdm")]
    krw = krw_bases([Instrument("KRW-SHIB", "SHIB", "KRW", "spot"),
                     Instrument("KRW-1INCH", "1INCH", "KRW", "spot")])
    got = resolve("binance-usdm", listed, Selection(symbols=("all",), not_on_upbit_krw=True),
                  upbit_krw=krw)
    assert got.symbols == ("1000PEPEUSDT",)


def test_unknown_symbols_are_named_with_the_nearest_listed_ones_one_line_each():
    got = resolve("binance-usdm", BINANCE, Selection(symbols=("BTCUSDX", "ETHUSDT", "ZZZZZZ")))
    assert got.unknown == ("BTCUSDX", "ZZZZZZ") and got.symbols == ("ETHUSDT",)
    exc = unknown_error("binance-usdm", got.unknown, BINANCE, where="venue[0]")
    assert isinstance(exc, ConfigError)
    assert exc.problems == [  # type: ignore[attr-defined]
        "venue[0].symbols: binance-usdm does not list BTCUSDX (nearest: BTCUSDT, BTCDOMUSDT)",
        "venue[0].symbols: binance-usdm does not list ZZZZZZ (none listed is close)"]
    assert all("\n" not in p for p in exc.problems)  # type: ignore[attr-defined]
    assert nearest("krw-btx", ["KRW-BTC", "KRW-ETH", "BTC-SOL"])[0] == "KRW-BTC"


def test_diff_reports_delisted_and_newly_selected():
    sel = Selection(symbols=("all",), exclude=("BTCDOM*",))
    before = resolve("binance-usdm", BINANCE, sel).symbols
    after_list = [i for i in BINANCE if i.symbol != "PEPEUSDT"] + usdm("WIFUSDT")
    change = diff(before, resolve("binance-usdm", after_list, sel), after_list)
    assert change.delisted == ("PEPEUSDT",) and change.listed == ("WIFUSDT",)
    assert not diff(before, resolve("binance-usdm", BINANCE, sel), BINANCE)
    # a named table never grows, but still hears of its delisted symbols
    named = Selection(symbols=("BTCUSDT", "PEPEUSDT"))
    change = diff(("BTCUSDT", "PEPEUSDT"), resolve("binance-usdm", after_list, named), after_list)
    assert change.delisted == ("PEPEUSDT",) and change.listed == ()


# ------------------------------------------------------------------------- the pool plan

THOUSANDS = [f"{c}{n}USDT@depth" for c in "ABCDEFGHIJ" for n in range(500)]  # 5,000 topics


@pytest.mark.parametrize("venue", sorted(POOL_LIMITS))
def test_pool_plan_keeps_every_venues_limits_over_thousands_of_topics(venue):
    desc = VENUES.get(venue)
    limits = pool_limits(venue, desc.limits if desc is not None else None)
    plan = plan_pool(THOUSANDS, limits)
    assert plan.topics == THOUSANDS  # each once, in order
    per_s = limits.messages_per_s
    for conn in plan.connections:
        topics = [t for m in conn for t in m.topics]
        assert 0 < len(topics) <= limits.topics_per_connection
        assert all(len(m.topics) <= limits.topics_per_message for m in conn)
        if limits.chars_per_connection is not None:
            assert sum(len(t) + 3 for t in topics) <= limits.chars_per_connection
        times = [m.at_s for m in conn]
        assert times == sorted(times) and times[0] == 0.0
        # never more messages in any second than the venue allows (at least one)
        assert max_per_window(times, 1.0) <= max(1, int(per_s))
        if per_s < 1:  # OKX: 480 an hour
            assert max_per_window(times, 3600.0) <= 480
        if limits.messages_per_min is not None:  # Upbit: 100 a minute too
            assert max_per_window(times, 60.0) <= limits.messages_per_min
    # as few connections as the limits allow (the chars cap can need more)
    if limits.chars_per_connection is None:
        assert len(plan.connections) == -(-len(THOUSANDS) // limits.topics_per_connection)


def test_binance_usdm_limits_come_from_its_descriptor():
    lim = pool_limits("binance-usdm", VENUES["binance-usdm"].limits)
    assert lim.topics_per_connection == VENUES["binance-usdm"].limits.streams_per_connection
    assert lim.messages_per_s == 10
    plan = plan_pool(THOUSANDS[:1000], lim)
    assert len(plan.connections) == 5  # 200 streams each
    assert [len(m.topics) for m in plan.connections[0]] == [50, 50, 50, 50]
    assert [m.at_s for m in plan.connections[0]] == [0.0, 0.125, 0.25, 0.375]


def test_a_per_minute_limit_spaces_messages_further():
    lim = PoolLimits(10_000, 1, 5.0, messages_per_min=100)
    plan = plan_pool([f"KRW-C{i}" for i in range(300)], lim)
    (conn,) = plan.connections
    times = [m.at_s for m in conn]
    assert max_per_window(times, 60.0) <= 100 and max_per_window(times, 1.0) <= 5
    assert times[1] == 0.75  # 60 / (100 * 0.8), not 1 / (5 * 0.8)


def test_unknown_venue_gets_cautious_limits_and_bad_limits_are_refused():
    lim = pool_limits("nowhere")
    assert lim.messages_per_s <= 1 and lim.topics_per_connection <= 100
    with pytest.raises(ValueError):
        plan_pool(["a"], PoolLimits(0, 1, 1.0))
    assert plan_pool([], lim).connections == ()
