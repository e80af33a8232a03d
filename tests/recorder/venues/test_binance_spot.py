"""Binance spot rules: one endpoint, plans, subscribe/acks, limits, errors, snapshots, adapter."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from recorder.daemon.config import VenueConfig
from recorder.errors import RecorderUsageError, VenueReplyError
from recorder.venues import VENUES, binance_usdm, descriptor_for
from recorder.venues import binance_spot as bs
from recorder.venues.base import Backoff, ErrorClass


@pytest.mark.parametrize(("channel", "stream"), [
    ("depth", "btcusdt@depth@100ms"),
    ("depth20", "btcusdt@depth20@100ms"),
    ("trade", "btcusdt@trade"),
    ("aggTrade", "btcusdt@aggTrade"),
    ("bookTicker", "btcusdt@bookTicker"),
    ("kline_1m", "btcusdt@kline_1m"),
    ("ticker", "btcusdt@ticker"),
])
def test_every_channel_is_a_spot_stream(channel, stream):
    assert bs.stream_name("BTCUSDT", channel) == stream
    assert channel in bs.DESCRIPTOR.channels


def test_no_futures_only_channel():
    assert "markPrice" not in bs.CHANNELS
    assert set(bs.CHANNELS) < set(binance_usdm.CHANNELS)


def test_urls_default_and_override_keep_the_path():
    assert bs.ws_url(["btcusdt@depth@100ms", "ethusdt@trade"]) == \
        "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/ethusdt@trade"
    assert bs.ws_url(["btcusdt@trade"], combined=False) == "wss://stream.binance.com:9443/ws/btcusdt@trade"
    assert bs.ws_url() == "wss://stream.binance.com:9443/stream"
    cfg = bs.BinanceSpotConfig(ws_url="ws://127.0.0.1:9001/ignored", rest_url="http://127.0.0.1:9002")
    assert bs.ws_url(["btcusdt@kline_1m"], config=cfg) == "ws://127.0.0.1:9001/stream?streams=btcusdt@kline_1m"
    assert bs.snapshot_request("btcusdt", cfg).url == \
        "http://127.0.0.1:9002/api/v3/depth?symbol=BTCUSDT&limit=1000"
    assert bs.exchange_info_request(cfg).url == "http://127.0.0.1:9002/api/v3/exchangeInfo"
    vision = bs.BinanceSpotConfig(ws_url="wss://data-stream.binance.vision")
    assert bs.plan_connections(["BTCUSDT"], ["trade"], config=vision)[0].url == \
        "wss://data-stream.binance.vision/stream?streams=btcusdt@trade"


def test_plans_one_endpoint_symbol_major_within_the_stream_limit():
    cfg = bs.BinanceSpotConfig(max_streams_per_connection=5)
    syms = [f"S{i}USDT" for i in range(4)]
    plans = bs.plan_connections(syms, ["depth", "trade", "bookTicker"], config=cfg)
    assert [len(p.streams) for p in plans] == [5, 5, 2]
    assert all(p.route == "" and p.venue == "binance-spot" and not p.messages for p in plans)
    flat = [s for p in plans for s in p.streams]
    assert flat[:3] == ["s0usdt@depth@100ms", "s0usdt@trade", "s0usdt@bookTicker"]
    assert len(flat) == len(set(flat)) == 12
    for p in plans:
        assert parse_qs(urlsplit(p.url).query)["streams"][0].split("/") == list(p.streams)
    assert len(bs.plan_connections([f"S{i}" for i in range(200)], list(bs.CHANNELS))) == 2  # 1400 > 1024


def test_subscribe_mode_sends_numbered_subscribes_on_the_bare_endpoint():
    cfg = bs.BinanceSpotConfig(params_per_subscribe=2)
    (plan,) = bs.plan_connections(["BTCUSDT", "ETHUSDT"], ["depth", "trade"], config=cfg,
                                  subscribe=True, first_id=7)
    assert urlsplit(plan.url).path == "/stream" and not urlsplit(plan.url).query
    msgs = [json.loads(m) for m in plan.messages]
    assert msgs == [{"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "btcusdt@trade"], "id": 7},
                    {"method": "SUBSCRIBE", "params": ["ethusdt@depth@100ms", "ethusdt@trade"], "id": 8}]


def test_control_messages_acks_and_errors_are_usdm_s():
    assert json.loads(bs.unsubscribe_message(["btcusdt@trade"], 312)) == \
        {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 312}
    assert json.loads(bs.list_subscriptions_message(3)) == {"method": "LIST_SUBSCRIPTIONS", "id": 3}
    acks = bs.PendingAcks(timeout_s=10)
    acks.sent(1, now=0.0)
    assert acks.on_frame(b'{"result":null,"id":1}').ok
    err = bs.parse_ack(b'{"code":2,"msg":"Invalid request: unknown variant","id":4}')
    assert err is not None and not err.ok and "Invalid request" in err.error
    assert bs.parse_ack(b'{"lastUpdateId":160,"bids":[],"asks":[]}') is None  # spot partial depth is data
    assert bs.parse_ack(b'{"u":400900217,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}') is None


def test_control_limiter_leaves_room_for_the_pong():
    bucket = bs.control_limiter(now=0.0)
    sent = sum(bucket.try_take(t / 100) for t in range(100))  # one second, asking every 10 ms
    assert sent <= 4  # 5 incoming per second, pings and pongs included


def test_heartbeat_is_the_2025_spot_rule():
    hb = bs.heartbeat()
    assert (hb.server_ping_interval_s, hb.pong_deadline_s) == (20.0, 60.0)
    assert hb.client_ping_interval_s is None and not hb.ping_due(1e9, 0.0)
    assert hb.is_stale(60.0, 0.0) and not hb.is_stale(59.9, 0.0)


@pytest.mark.parametrize(("limit", "weight"), [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50),
                                               (1000, 50), (1001, 250), (5000, 250)])
def test_depth_weight_bands(limit, weight):
    assert bs.depth_weight(limit) == weight


def test_depth_limits_and_budget():
    for bad in (0, 5001):
        with pytest.raises(RecorderUsageError, match="depth limit"):
            bs.depth_weight(bad)
    with pytest.raises(ValueError, match="snapshot_limit"):
        bs.BinanceSpotConfig(snapshot_limit=6000)
    assert bs.weight_budget().limit == 5400  # 6000/min less the safety margin
    assert bs.snapshot_request("x", limit=5000).weight == 250


@pytest.mark.parametrize(("kwargs", "cls", "retry"), [
    ({"status": 429, "retry_after": "7"}, ErrorClass.RATE_LIMIT, True),
    ({"status": 418}, ErrorClass.IP_BAN, True),
    ({"status": 403}, ErrorClass.RATE_LIMIT, True),
    ({"status": 400, "message": '{"code":-1121,"msg":"Invalid symbol."}'}, ErrorClass.UNKNOWN_SYMBOL, False),
    ({"message": '{"code":2,"msg":"Invalid request: bad"}'}, ErrorClass.FATAL, False),
    ({"close_code": 1008}, ErrorClass.RATE_LIMIT, True),
    ({"close_code": 1006}, ErrorClass.NETWORK, True),
    ({"exc": "ConnectionResetError"}, ErrorClass.NETWORK, True),
])
def test_error_classification(kwargs, cls, retry):
    v = bs.classify_error(**kwargs)
    assert (v.error_class, v.retry) == (cls, retry)
    if "retry_after" in kwargs:
        assert v.min_delay_s == 7.0


def _adapter(**kw) -> bs.BinanceSpotAdapter:
    cfg = VenueConfig("binance-spot", ("BTCUSDT", "ETHUSDT"), kw.pop("channels", ("depth", "aggTrade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return bs.BinanceSpotAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_adapter_plans_one_connection_and_names_its_depth_books():
    a = _adapter()
    (plan,) = a.plans()
    assert plan.url == ("ws://127.0.0.1:9001/stream?streams="
                        "btcusdt@depth@100ms/btcusdt@aggTrade/ethusdt@depth@100ms/ethusdt@aggTrade")
    assert a.depth_symbols(plan) == ["BTCUSDT", "ETHUSDT"]
    (added,) = a.plans_for(["SOLUSDT"])  # a symbol added while running: its own connection
    assert added.streams == ("solusdt@depth@100ms", "solusdt@aggTrade")
    assert a.rotate_after_s == bs.DEFAULT.rotate_after_s and a.connect_limit is None
    assert a.frame_rules == "binance-spot" and a.ping_interval is None
    assert a.heartbeat().stale_after_s == 5.0 and a.heartbeat().server_ping_interval_s == 20.0
    assert a.frame_error(b'{"code":2,"msg":"Invalid request","id":1}') == "2: Invalid request"
    assert a.frame_error(b'{"stream":"btcusdt@depth@100ms","data":{}}') is None
    assert a.classify(status=429, retry_after="3").min_delay_s == 3.0


def test_adapter_snapshot_capability():
    a = _adapter(snapshot_limit=500)
    req = a.snapshots.request("btcusdt")
    assert req.url == "http://127.0.0.1:9002/api/v3/depth?symbol=BTCUSDT&limit=500"
    assert (req.path, req.weight) == ("/api/v3/depth", 25)
    assert a.snapshots.used_weight({"X-MBX-USED-WEIGHT-1M": "37"}) == 37
    assert a.snapshots.last_update_id(b'{"lastUpdateId":42,"bids":[],"asks":[]}') == 42
    with pytest.raises(VenueReplyError, match="binance-spot: not a depth snapshot"):
        a.snapshots.last_update_id(b'{"code":-1121,"msg":"Invalid symbol."}')
    assert _adapter(channels=("depth20", "trade")).snapshots is None
    assert _adapter(snapshots=False).snapshots is None


def test_descriptor_registered_with_spot_s_rule():
    d = descriptor_for("binance-spot")
    assert d is bs.DESCRIPTOR and "binance-spot" in VENUES
    assert (d.market, d.sync_rule, d.snapshots) == ("spot", "binance-spot", True)
    assert d.limits.streams_per_connection == 1024 and d.limits.messages_per_s == 5
    assert d.is_symbol("BTCUSDT") and not d.is_symbol("btc-usdt")
    assert d.options is binance_usdm.DESCRIPTOR.options  # one default and check per key
    assert d.book_frame(b'{"stream":"x@depth20@100ms","data":{"lastUpdateId":1,"bids":[],"asks":[]}}')
    assert d.book_frame(b'{"e":"depthUpdate","U":1,"u":2}')
    assert not d.book_frame(b'{"stream":"x@trade","data":{"e":"trade"}}')
