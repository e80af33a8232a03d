"""Binance USD-M rules: routes, pool plans, subscribe/acks, limits, errors, rotation, snapshots,
and the adapter the daemon drives it through."""

from __future__ import annotations

import itertools
import json
import random
from urllib.parse import parse_qs, urlsplit

import pytest

from recorder.daemon.config import VenueConfig
from recorder.errors import RecorderUsageError, VenueReplyError
from recorder.venues import binance_usdm as bn
from recorder.venues.base import Backoff, ErrorClass


@pytest.mark.parametrize(("channel", "route", "stream"), [
    ("depth", "public", "btcusdt@depth@100ms"),
    ("depth20", "public", "btcusdt@depth20@100ms"),
    ("bookTicker", "public", "btcusdt@bookTicker"),
    ("aggTrade", "market", "btcusdt@aggTrade"),
    ("trade", "market", "btcusdt@trade"),
    ("kline_1m", "market", "btcusdt@kline_1m"),
    ("markPrice", "market", "btcusdt@markPrice@1s"),
    ("ticker", "market", "btcusdt@ticker"),
])
def test_every_channel_has_its_route(channel, route, stream):
    name = bn.stream_name("BTCUSDT", channel)
    assert name == stream
    assert bn.route_for_stream(name) == route


def test_trade_route_is_configurable_because_it_is_unconfirmed():
    cfg = bn.BinanceUsdmConfig(trade_route="public")
    assert bn.route_for_stream("btcusdt@trade", cfg) == "public"
    assert bn.route_for_stream("btcusdt@aggTrade", cfg) == "market"
    assert bn.route_for_stream("!bookTicker") == "public"
    with pytest.raises(ValueError):
        bn.BinanceUsdmConfig(trade_route="private")


def test_urls_default_and_override_keep_routes():
    assert bn.ws_url("public", ["btcusdt@depth@100ms", "ethusdt@depth@100ms"]) == \
        "wss://fstream.binance.com/public/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms"
    assert bn.ws_url("market", ["btcusdt@aggTrade"], combined=False) == \
        "wss://fstream.binance.com/market/ws/btcusdt@aggTrade"
    cfg = bn.BinanceUsdmConfig(ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002")
    assert bn.ws_url("market", ["btcusdt@kline_1m"], config=cfg) == \
        "ws://127.0.0.1:9001/market/stream?streams=btcusdt@kline_1m"
    assert bn.snapshot_request("btcusdt", cfg).url == \
        "http://127.0.0.1:9002/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    assert bn.exchange_info_request(cfg).url == "http://127.0.0.1:9002/fapi/v1/exchangeInfo"
    plans = bn.plan_connections(["BTCUSDT"], ["depth", "aggTrade"], config=cfg)
    assert [urlsplit(p.url).path for p in plans] == ["/public/stream", "/market/stream"]
    assert all(p.url.startswith("ws://127.0.0.1:9001/") for p in plans)


def test_pool_respects_stream_limit_and_never_mixes_routes():
    cfg = bn.BinanceUsdmConfig(max_streams_per_connection=7)
    symbols = [f"SYM{i}USDT" for i in range(10)]
    channels = list(bn.CHANNELS)
    plans = bn.plan_connections(symbols, channels, config=cfg)
    all_streams = [s for p in plans for s in p.streams]
    assert sorted(all_streams) == sorted(bn.stream_name(s, c) for s in symbols for c in channels)
    assert len(all_streams) == len(set(all_streams))
    for p in plans:
        assert 1 <= len(p.streams) <= 7
        assert {bn.route_for_stream(s) for s in p.streams} == {p.route}
        assert urlsplit(p.url).path == f"/{p.route}/stream"
        assert parse_qs(urlsplit(p.url).query)["streams"] == ["/".join(p.streams)]
        assert p.messages == ()
    # 10 symbols x 3 public channels = 30 -> 5 conns; x 5 market = 50 -> 8 conns
    assert [p.route for p in plans].count("public") == 5
    assert [p.route for p in plans].count("market") == 8


def test_pool_in_subscribe_mode_sends_numbered_subscribes():
    cfg = bn.BinanceUsdmConfig(max_streams_per_connection=200, params_per_subscribe=3)
    plans = bn.plan_connections(["a", "b", "c", "d"], ["depth", "bookTicker"], config=cfg,
                                subscribe=True, first_id=10)
    assert len(plans) == 1
    (plan,) = plans
    assert plan.url == "wss://fstream.binance.com/public/stream"
    msgs = [json.loads(m) for m in plan.messages]
    assert [m["id"] for m in msgs] == [10, 11, 12]
    assert all(m["method"] == "SUBSCRIBE" for m in msgs)
    assert list(itertools.chain.from_iterable(m["params"] for m in msgs)) == list(plan.streams)


def test_control_messages_and_ack_matching():
    assert json.loads(bn.subscribe_message(["btcusdt@aggTrade"], 1)) == \
        {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}
    assert json.loads(bn.unsubscribe_message(["x@depth"], 312))["method"] == "UNSUBSCRIBE"
    assert json.loads(bn.list_subscriptions_message(3)) == {"method": "LIST_SUBSCRIPTIONS", "id": 3}
    pending = bn.PendingAcks(timeout_s=5.0)
    pending.sent(1, now=0.0)
    pending.sent(2, now=0.0)
    pending.sent(3, now=1.0)
    data = b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","id":1}}'
    assert pending.on_frame(data) is None
    assert pending.on_frame(b'{"result":null,"id":99}') is None  # not ours
    ack = pending.on_frame(b'{"result":null,"id":1}')
    assert ack is not None and ack.ok and ack.request_id == 1
    lst = pending.on_frame(b'{"result":["btcusdt@aggTrade"],"id":3}')
    assert lst.result == ["btcusdt@aggTrade"]
    err = bn.parse_ack(b'{"error":{"code":2,"msg":"Invalid request: unknown variable"},"id":2}')
    assert err is not None and not err.ok and "Invalid request" in err.error
    assert bn.parse_ack(b'{"code": 3, "msg": "Invalid JSON"}').error.startswith("3:")
    assert pending.expired(4.9) == []
    assert pending.expired(5.0) == [2]
    assert len(pending) == 0


def test_control_limiter_keeps_ten_per_second():
    bucket = bn.control_limiter(now=0.0)
    times = [t / 100 for t in range(300)]
    sent = [t for t in times if bucket.try_take(t)]
    for s in sent:
        assert sum(1 for x in sent if s <= x < s + 1.0) <= 10


def test_rest_weights_and_budget():
    assert [bn.depth_weight(n) for n in (5, 10, 20, 50, 100, 500, 1000)] == [2, 2, 2, 2, 5, 10, 20]
    with pytest.raises(ValueError):
        bn.depth_weight(200)
    assert [bn.klines_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == \
        [1, 1, 2, 2, 5, 5, 10, 10]
    req = bn.snapshot_request("BTCUSDT")
    assert (req.method, req.path, req.weight) == ("GET", "/fapi/v1/depth", 20)
    assert bn.klines_request("btcusdt", start_ms=1, end_ms=2, limit=1500).url == \
        "https://fapi.binance.com/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=1&endTime=2&limit=1500"
    budget = bn.weight_budget(bn.BinanceUsdmConfig(weight_limit_per_min=100, weight_safety=1.0))
    now = 0.0
    granted = 0
    while budget.delay(now, 20) == 0.0:
        budget.take(now, 20)
        granted += 1
    assert granted == 5
    assert budget.delay(now, 20) == pytest.approx(60.0)
    assert bn.used_weight({"X-MBX-USED-WEIGHT-1M": "1234"}) == 1234
    assert bn.snapshot_last_update_id(b'{"lastUpdateId":1027024,"E":1,"bids":[],"asks":[]}') == 1027024


@pytest.mark.parametrize(("kwargs", "cls", "retry", "floor"), [
    ({"status": 429, "retry_after": "12"}, ErrorClass.RATE_LIMIT, True, 12.0),
    ({"status": 429}, ErrorClass.RATE_LIMIT, True, 60.0),
    ({"status": 418, "retry_after": "7200"}, ErrorClass.IP_BAN, True, 7200.0),
    ({"status": 418}, ErrorClass.IP_BAN, True, 300.0),
    ({"status": 403}, ErrorClass.RATE_LIMIT, True, 60.0),  # WAF limit, not auth
    ({"status": 400, "message": '{"code":-1121,"msg":"Invalid symbol."}'}, ErrorClass.UNKNOWN_SYMBOL, False, 0.0),
    ({"status": 401, "message": '{"code":-2015,"msg":"Invalid API-key"}'}, ErrorClass.AUTH, False, 0.0),
    ({"message": '{"error":{"code":2,"msg":"Invalid request: unknown variable"},"id":1}'}, ErrorClass.FATAL, False, 0.0),
    ({"status": 502}, ErrorClass.NETWORK, True, 0.0),
    ({"close_code": 1001}, ErrorClass.NETWORK, True, 0.0),
    ({"close_code": 1008}, ErrorClass.RATE_LIMIT, True, 5.0),
    ({"exc": "ConnectionClosedError"}, ErrorClass.NETWORK, True, 0.0),
    ({"exc": "InvalidURI"}, ErrorClass.FATAL, False, 0.0),
])
def test_error_classification_table(kwargs, cls, retry, floor):
    v = bn.classify_error(**kwargs)
    assert (v.error_class, v.retry, v.min_delay_s) == (cls, retry, floor)


def test_backoff_from_config_with_seeded_random():
    cfg = bn.BinanceUsdmConfig()
    v = bn.classify_error(exc="ConnectionResetError")
    a = [cfg.backoff.delay(v, n, random.Random(5)) for n in range(6)]
    rng = random.Random(5)
    b = [cfg.backoff.delay(v, n, rng) for n in range(6)]
    assert a[0] == b[0] and 0.5 <= a[0] <= 1.0
    assert all(x <= 30.0 for x in b)
    assert b[5] >= 15.0  # 32 s capped at 30, less at most half of it


def test_rotation_timing():
    cfg = bn.BinanceUsdmConfig()
    assert cfg.rotate_after_s == 23 * 3600 + 50 * 60
    assert not bn.rotation_due(1000.0, 1000.0 + cfg.rotate_after_s - 0.001)
    assert bn.rotation_due(1000.0, 1000.0 + cfg.rotate_after_s)
    assert bn.rotation_at(5.0, bn.BinanceUsdmConfig(rotate_after_s=5)) == 10.0
    with pytest.raises(ValueError):
        bn.BinanceUsdmConfig(rotate_after_s=25 * 3600)
    hb = bn.heartbeat()
    assert hb.server_ping_interval_s == 180 and hb.pong_deadline_s == 600
    assert not hb.ping_due(1e9, 0.0)  # we never need to ping Binance
    assert hb.is_stale(60.0, 0.0) and not hb.is_stale(59.9, 0.0)


def _adapter(**kw) -> bn.BinanceUsdmAdapter:
    cfg = VenueConfig("binance-usdm", ("BTCUSDT", "ETHUSDT"), kw.pop("channels", ("depth", "aggTrade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return bn.BinanceUsdmAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_adapter_plans_routes_and_names_its_depth_books():
    a = _adapter()
    public, market = a.plans()
    assert public.url == ("ws://127.0.0.1:9001/public/stream?streams="
                          "btcusdt@depth@100ms/ethusdt@depth@100ms")
    assert market.route == "market" and market.streams == ("btcusdt@aggTrade", "ethusdt@aggTrade")
    assert a.depth_symbols(public) == ["BTCUSDT", "ETHUSDT"] and a.depth_symbols(market) == []
    assert a.rotate_after_s == bn.DEFAULT.rotate_after_s and a.connect_limit is None
    assert a.heartbeat().stale_after_s == 5.0
    assert a.frame_error(b'{"error":{"code":2,"msg":"Invalid request"},"id":1}') == "2: Invalid request"
    assert a.frame_error(b'{"stream":"btcusdt@depth@100ms","data":{}}') is None
    assert a.classify(status=429, retry_after="3").min_delay_s == 3.0


def test_adapter_snapshot_capability_follows_the_config():
    a = _adapter(snapshot_limit=500)
    req = a.snapshots.request("btcusdt")
    assert req.url == "http://127.0.0.1:9002/fapi/v1/depth?symbol=BTCUSDT&limit=500"
    assert (req.path, req.weight) == ("/fapi/v1/depth", 10)
    assert a.snapshots.budget().limit == 2160  # 2400/min less the safety margin
    assert a.snapshots.used_weight({"x-mbx-used-weight-1m": "37"}) == 37
    assert a.snapshots.last_update_id(b'{"lastUpdateId":42,"bids":[],"asks":[]}') == 42
    with pytest.raises(VenueReplyError, match="binance-usdm: not a depth snapshot"):
        a.snapshots.last_update_id(b'{"code":-1121,"msg":"Invalid symbol."}')
    # no diff depth, or snapshots switched off: no capability, no depth books
    assert _adapter(channels=("depth20", "aggTrade")).snapshots is None
    off = _adapter(snapshots=False)
    assert off.snapshots is None and off.depth_symbols(off.plans()[0]) == []


def test_misuse_raises_usage_errors():
    with pytest.raises(RecorderUsageError, match="depth limit"):
        bn.depth_weight(7)
    with pytest.raises(ValueError, match="snapshot_limit"):  # still a ValueError
        bn.BinanceUsdmConfig(snapshot_limit=3)
