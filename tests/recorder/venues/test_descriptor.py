"""One descriptor per venue, and everything that reads venue facts reads them from it."""

from __future__ import annotations

import dataclasses
import sys
from functools import partial

import pytest

import state.decode
import state.sync
from recorder.daemon import config as daemon_config
from recorder.daemon.config import VenueConfig, build_config
from recorder.errors import UnknownVenueError
from recorder.venues import (
    VENUES,
    binance_spot,
    binance_usdm,
    bybit,
    descriptor_for,
    gate,
    kucoin,
    okx,
    phemex,
    upbit,
)
from recorder.venues.base import Backoff
from recorder.venues.descriptor import Adapter, VenueDescriptor, VenueRules


def test_the_registry_holds_each_venue_modules_descriptor():
    assert VENUES == {"binance-spot": binance_spot.DESCRIPTOR, "binance-usdm": binance_usdm.DESCRIPTOR, "bybit": bybit.DESCRIPTOR, "gate": gate.DESCRIPTOR, "kucoin": kucoin.DESCRIPTOR, "okx": okx.DESCRIPTOR, "phemex": phemex.DESCRIPTOR, "upbit": upbit.DESCRIPTOR}
    assert descriptor_for("upbit") is upbit.DESCRIPTOR
    with pytest.raises(UnknownVenueError, match="unknown venue 'nope' .known: binance-spot, binance-usdm, bybit, gate, kucoin, okx, phemex, upbit"):
        descriptor_for("nope")
    with pytest.raises(KeyError):  # what a dict lookup raised
        descriptor_for("nope")


@pytest.mark.parametrize("name", sorted(VENUES))
def test_descriptor_names_a_sync_rule_a_decoder_and_its_own_adapter(name):
    d = VENUES[name]
    assert isinstance(d, VenueDescriptor) and d.name == name
    assert d.sync_rule in state.sync.RULES
    assert name in state.decode.DECODERS
    assert issubclass(d.adapter, Adapter) and d.adapter.venue == name
    assert d.is_symbol(d.symbol_example)
    # The snapshot capability matches the rule: REST-synced rules need REST snapshots.
    assert d.snapshots == state.sync.rest_synced(d.sync_rule)


@pytest.mark.parametrize("name", sorted(VENUES))
def test_an_adapter_declares_its_own_modules_rules(name):
    """Each rule is the venue module's own name for it, so no venue runs another's by a slip
    (spot's ``plan`` must be spot's ``plan_connections``, not USD-M's)."""
    adapter = VENUES[name].adapter
    module = sys.modules[adapter.__module__]
    rules = adapter.rules
    declared = {f.name: getattr(rules, f.name) for f in dataclasses.fields(VenueRules)}
    assert all(declared[k] is not None for k in ("configure", "plan", "heartbeat", "classify"))
    for field, rule in declared.items():
        if rule is None or isinstance(rule, str):
            continue
        fn = rule.func if isinstance(rule, partial) else rule
        assert getattr(module, fn.__name__, None) is fn, (name, field)


def test_binance_spot_adapter_is_usdm_with_spots_rules():
    assert issubclass(binance_spot.BinanceSpotAdapter, binance_usdm.BinanceUsdmAdapter)
    spot, usdm = binance_spot.BinanceSpotAdapter.rules, binance_usdm.BinanceUsdmAdapter.rules
    assert spot.error is usdm.error  # the same acks and error replies
    assert spot.configure.keywords == {"config": binance_spot.BinanceSpotConfig}
    differ = [f.name for f in dataclasses.fields(VenueRules) if getattr(spot, f.name) != getattr(usdm, f.name)]
    assert differ == ["configure", "plan", "heartbeat", "classify", "control", "snapshots"]


def test_the_base_calls_the_declared_rules_with_the_venue_config():
    seen: list[tuple[str, object]] = []

    def configure(options, *, backoff, stale_after_s):
        return {"venue": options.venue, "stale": stale_after_s}

    def plan(symbols, channels, *, config, ticket):
        seen.append(("plan", (tuple(symbols), channels, config["stale"], ticket)))
        return []

    class Toy(Adapter):
        venue = "toy"
        rules = VenueRules(configure, plan, lambda config: ("heartbeat", config["venue"]),
                           lambda *, config, **kw: ("verdict", sorted(kw)),
                           error=lambda payload: payload.decode() if payload.startswith(b"E") else None)

        def plan_options(self):
            return {"ticket": self.new_id()}

    toy = Toy(VenueConfig(venue="upbit", symbols=("KRW-BTC",), channels=("trade",)),
              backoff=Backoff(), stale_after_s=7.0, new_id=lambda: "t1")
    assert toy.vc == {"venue": "upbit", "stale": 7.0}
    assert toy.plans() == [] and seen == [("plan", (("KRW-BTC",), ("trade",), 7.0, "t1"))]
    assert toy.heartbeat() == ("heartbeat", "upbit")
    assert toy.classify(status=500, message=b"x") == ("verdict", ["message", "status"])
    assert toy.frame_error(b"Eboom") == "Eboom" and toy.frame_error(b"data") is None
    assert toy.keepalive() is None and toy.control_limiter() is None
    assert toy.connect_limit is None and toy.snapshots is None
    assert [toy.next_live_id(), toy.next_live_id()] == [1, 2]


def test_binance_usdm_descriptor():
    d = binance_usdm.DESCRIPTOR
    assert (d.market, d.ws_url, d.rest_url) == ("usdm", "wss://fstream.binance.com",
                                                "https://fapi.binance.com")
    assert d.channels == ("depth", "depth20", "aggTrade", "trade", "kline_1m", "bookTicker",
                          "markPrice", "ticker")
    assert d.snapshots and d.sync_rule == "binance-usdm"
    assert d.is_symbol("1000PEPEUSDT") and not d.is_symbol("KRW-BTC") and not d.is_symbol("btcusdt")
    assert d.limits.streams_per_connection == 200 and d.limits.rest_weight_per_min == 2400
    assert d.limits.messages_per_s == 10 and d.limits.max_connection_s == 24 * 3600
    opts = {o.key: o for o in d.options}
    assert {k: o.default for k, o in opts.items()} == {
        "snapshot_limit": 1000, "weight_limit_per_min": 2400,
        "rotate_after_s": 24 * 3600 - 600, "subscribe": False}
    assert opts["snapshot_limit"].check(7) == "one of [5, 10, 20, 50, 100, 500, 1000]"
    assert opts["snapshot_limit"].check(500) is None
    # what a sync-only projection folds: depth frames (diff and partial), nothing else
    assert d.book_frame(b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":1}}')
    assert d.book_frame(b'{"stream":"btcusdt@depth20@100ms","data":{"e":"depthUpdate","U":1}}')
    assert not d.book_frame(b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1}}')
    assert not d.book_frame(b'{"result":null,"id":1}')


def test_upbit_descriptor():
    d = upbit.DESCRIPTOR
    assert (d.market, d.ws_url, d.rest_url) == ("spot", "wss://api.upbit.com", "https://api.upbit.com")
    assert d.channels == ("orderbook", "trade", "ticker")
    assert not d.snapshots and d.sync_rule == "upbit"
    assert d.is_symbol("KRW-BTC") and d.is_symbol("USDT-ETH") and not d.is_symbol("BTCUSDT")
    assert (d.limits.connects_per_s, d.limits.messages_per_s, d.limits.idle_timeout_s) == (5, 5, 120.0)
    opts = {o.key: o for o in d.options}
    assert {k: o.default for k, o in opts.items()} == {"format": "SIMPLE", "ping_interval_s": 60.0}
    assert opts["format"].check("JSON_LIST") == "one of DEFAULT, SIMPLE"
    assert opts["ping_interval_s"].check(120) == "must be under Upbit's 120 s idle cut"
    assert opts["ping_interval_s"].check(119.5) is None
    assert d.book_frame(b'{"ty":"orderbook","cd":"KRW-BTC"}') and d.book_frame(b'{"type":"orderbook"}')
    assert not d.book_frame(b'{"ty":"trade","cd":"KRW-BTC"}')


def test_the_config_reads_every_venue_fact_from_the_descriptors():
    assert daemon_config.VENUES == tuple(VENUES)
    defaults = {f: getattr(VenueConfig("upbit", (), ()), f) for f in daemon_config.OPTIONS}
    assert defaults == {o.key: o.default for d in VENUES.values() for o in d.options}
    for d in VENUES.values():
        v = VenueConfig(d.name, (d.symbol_example,), d.channels[:1])
        assert (v.ws_base, v.rest_base) == (d.ws_url, d.rest_url)
        adapter = d.adapter(v, backoff=Backoff(), stale_after_s=1.0, new_id=lambda: "t")
        assert adapter.plans()
    doc = {"recorder": {"data": "x"}, "venue": [{"venue": "upbit", "symbols": ["BTCUSDT"],
                                                 "channels": ["trade"]}]}
    with pytest.raises(daemon_config.ConfigError, match=r"'BTCUSDT' is not a upbit symbol \(e.g. KRW-BTC\)"):
        build_config(doc)
