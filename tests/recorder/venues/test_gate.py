"""Gate v4 rules: endpoints, subscribe requests, plans, ping, replies, snapshots, errors."""

from __future__ import annotations

import json

import pytest

from recorder.daemon.adapters import adapter_for
from recorder.daemon.config import build_config
from recorder.errors import ConfigError, RecorderUsageError, VenueReplyError
from recorder.venues import VENUES, gate
from recorder.venues.base import ErrorClass


def _adapter(market="spot", channels=("spot.order_book_update", "spot.trades"), **extra):
    doc = {"recorder": {"data": "/tmp/unused"},
           "venue": [{"venue": "gate", "symbols": ["BTC_USDT", "ETH_USDT"], "channels": list(channels),
                      "market": market, **extra}]}
    cfg = build_config(doc)
    a = adapter_for(cfg.venues[0], cfg.supervision)
    a.clock = lambda: 1700000000.9
    return a


def test_endpoints_per_market_and_override_keeps_the_path():
    assert gate.ws_url() == "wss://api.gateio.ws/ws/v4/"
    assert gate.ws_url(gate.GateConfig(market="futures")) == "wss://fx-ws.gateio.ws/v4/ws/usdt"
    cfg = gate.GateConfig(market="futures", ws_url="ws://127.0.0.1:9001/ignored",
                          rest_url="http://127.0.0.1:9002")
    assert gate.ws_url(cfg) == "ws://127.0.0.1:9001/v4/ws/usdt"
    assert gate.snapshot_request("btc_usdt", cfg).url == (
        "http://127.0.0.1:9002/api/v4/futures/usdt/order_book?contract=BTC_USDT&limit=100&with_id=true")
    assert gate.snapshot_request("BTC_USDT").url == (
        "https://api.gateio.ws/api/v4/spot/order_book?currency_pair=BTC_USDT&limit=100&with_id=true")
    with pytest.raises(RecorderUsageError):
        gate.GateConfig(market="delivery")


def test_subscribe_messages_book_one_symbol_each():
    msgs = gate.subscribe_messages("spot.order_book_update", ["BTC_USDT", "ETH_USDT"], 17)
    assert [json.loads(m) for m in msgs] == [
        {"time": 17, "channel": "spot.order_book_update", "event": "subscribe", "payload": ["BTC_USDT", "100ms"]},
        {"time": 17, "channel": "spot.order_book_update", "event": "subscribe", "payload": ["ETH_USDT", "100ms"]},
    ]
    (msg,) = gate.subscribe_messages("spot.trades", ["BTC_USDT", "ETH_USDT"], 17)
    assert json.loads(msg)["payload"] == ["BTC_USDT", "ETH_USDT"]
    fut = gate.subscribe_messages("futures.order_book_update", ["BTC_USDT"], 1,
                                  gate.GateConfig(market="futures"))
    assert json.loads(fut[0])["payload"] == ["BTC_USDT", "100ms", "100"]
    (un,) = gate.unsubscribe_messages("spot.book_ticker", ["BTC_USDT"], 2)
    assert json.loads(un)["event"] == "unsubscribe"


def test_plans_split_symbols_keep_channels_together():
    cfg = gate.GateConfig(max_streams_per_connection=4)
    syms = [f"C{i}_USDT" for i in range(5)]
    plans = gate.plan_connections(syms, ["spot.trades", "spot.order_book_update"], time_s=5, config=cfg)
    assert [len(p.streams) for p in plans] == [4, 4, 2]
    assert plans[0].streams == ("spot.trades:C0_USDT", "spot.order_book_update:C0_USDT",
                                "spot.trades:C1_USDT", "spot.order_book_update:C1_USDT")
    assert len(plans[0].messages) == 1 + 2  # trades for both, a book request each
    with pytest.raises(RecorderUsageError):
        gate.plan_connections(syms, ["futures.trades"], time_s=5)


def test_adapter_plans_market_and_depth_symbols():
    a = _adapter("futures", ["futures.order_book_update", "futures.book_ticker"])
    (plan,) = a.plans()
    assert plan.url == "wss://fx-ws.gateio.ws/v4/ws/usdt"
    assert json.loads(plan.messages[0])["time"] == 1700000000
    assert a.depth_symbols(plan) == ["BTC_USDT", "ETH_USDT"]
    assert a.snapshots is not None and "/futures/usdt/order_book" in a.snapshots.request("BTC_USDT").url
    (added,) = a.plans_for(["SOL_USDT"])
    assert added.streams == ("futures.order_book_update:SOL_USDT", "futures.book_ticker:SOL_USDT")
    assert a.replan(plan, 0).streams == plan.streams
    assert a.heartbeat().client_ping == b'{"channel":"futures.ping"}'
    assert _adapter(channels=["spot.trades"]).snapshots is None


def test_config_refuses_a_channel_of_the_other_market_and_a_bad_market():
    with pytest.raises(ConfigError):
        _adapter("futures", ["spot.trades"])
    with pytest.raises(ConfigError):
        _adapter("options", ["spot.trades"])
    assert VENUES["gate"].is_symbol("BTC_USDT") and not VENUES["gate"].is_symbol("BTCUSDT")


def test_replies_pongs_and_errors():
    ok = b'{"time":1,"time_ms":2,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}'
    bad = (b'{"time":1,"channel":"spot.trades","event":"subscribe","error":{"code":2,'
           b'"message":"unknown currency pair GIBBERISH_USD"},"result":{"status":"fail"}}')
    pong = b'{"time":1545404023,"channel":"spot.pong","event":"","error":null,"result":null}'
    data = b'{"time":1,"channel":"spot.trades","event":"update","result":{"id":1}}'
    assert gate.parse_reply(ok) == gate.Ack("spot.trades", "subscribe")
    assert gate.parse_reply(bad).error == "2: unknown currency pair GIBBERISH_USD"
    assert gate.parse_reply(pong) is None and gate.parse_reply(data) is None
    assert gate.parse_reply(b"\xff garbage") is None
    a = _adapter()
    assert a.frame_error(bad) == "2: unknown currency pair GIBBERISH_USD"
    assert a.frame_error(ok) is None
    ka = a.keepalive()
    assert ka(pong) and ka(b'{"time":1,"channel":"futures.pong","event":"","result":null}')
    assert not ka(data) and not ka(ok)
    assert a.classify(message=a.frame_error(bad)).error_class is ErrorClass.UNKNOWN_SYMBOL


def test_classify():
    assert gate.classify_error(status=429).error_class is ErrorClass.RATE_LIMIT
    assert gate.classify_error(message='{"label":"TOO_MANY_REQUESTS"}').error_class is ErrorClass.RATE_LIMIT
    assert gate.classify_error(close_code=1006).retry
    v = gate.classify_error(message="unknown contract FOO_USDT")
    assert v.error_class is ErrorClass.UNKNOWN_SYMBOL and not v.retry


def test_snapshot_ids():
    s = gate.BookSnapshots()
    assert s.last_update_id(b'{"id":2691446,"current":1,"update":1,"asks":[],"bids":[]}') == 2691446
    with pytest.raises(VenueReplyError):
        s.last_update_id(b'{"label":"INVALID_CURRENCY_PAIR"}')
    assert s.budget().limit == 180
    assert gate.is_book_frame(b'{"channel":"futures.order_book_update","event":"update"}')
