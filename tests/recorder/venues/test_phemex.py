"""Phemex rules: endpoint, JSON-RPC requests, symbols, plans, keep-alive, replies, errors."""

from __future__ import annotations

import json

import pytest

from recorder.daemon.config import VenueConfig, build_config
from recorder.errors import ConfigError, RecorderUsageError
from recorder.venues import VENUES, descriptor_for, phemex
from recorder.venues.base import Backoff, ErrorClass


def test_endpoint_and_override_keep_the_path():
    assert phemex.ws_url() == "wss://ws.phemex.com"
    cfg = phemex.PhemexConfig(ws_url="ws://127.0.0.1:9001/other", rest_url="http://127.0.0.1:9")
    assert phemex.ws_url(cfg) == "ws://127.0.0.1:9001"
    assert phemex.ws_url(phemex.PhemexConfig(ws_path="/ws")) == "wss://ws.phemex.com/ws"


def test_subscribe_messages_are_the_captures_json_rpc():
    # byte for byte what cryptofeed sent in the real capture
    assert phemex.subscribe_message("orderbook", "YFIUSD") == \
        b'{"id":1,"method":"orderbook.subscribe","params":["YFIUSD"]}'
    assert phemex.subscribe_message("trade", "SGRTUSDT", req_id=7) == \
        b'{"id":7,"method":"trade.subscribe","params":["sGRTUSDT"]}'
    assert phemex.subscribe_message("kline", "ENJUSD") == \
        b'{"id":1,"method":"kline.subscribe","params":["ENJUSD",60]}'
    assert json.loads(phemex.unsubscribe_message("kline", "ENJUSD", 3)) == \
        {"id": 3, "method": "kline.unsubscribe", "params": ["ENJUSD"]}
    assert json.loads(phemex.unsubscribe_message("trade")) == \
        {"id": 1, "method": "trade.unsubscribe", "params": []}
    # the book takes no symbol: it always drops every book of the connection
    assert json.loads(phemex.unsubscribe_message("orderbook", "BTCUSD")) == \
        {"id": 1, "method": "orderbook.unsubscribe", "params": []}
    with pytest.raises(RecorderUsageError):
        phemex.subscribe_message("mark", "BTCUSD")


def test_a_tick_subscribes_the_index_of_the_symbols_base():
    """Phemex's docs: ``tick.subscribe`` of ``.BTC``, the BTC index (``.<BASECURRENCY>``)."""
    assert phemex.subscribe_message("tick", "BTCUSD", req_id=4) == \
        b'{"id":4,"method":"tick.subscribe","params":[".BTC"]}'
    assert json.loads(phemex.subscribe_message("tick", "SETHUSDC")) == \
        {"id": 1, "method": "tick.subscribe", "params": [".ETH"]}
    assert json.loads(phemex.unsubscribe_message("tick", "sGRTUSDT", 3)) == \
        {"id": 3, "method": "tick.unsubscribe", "params": [".GRT"]}
    assert [phemex.index_symbol(s) for s in ("XTZUSD", "sSUSHIUSDT", "USDUSD")] == [".XTZ", ".SUSHI", ".USD"]
    for bad in ("USD", "sUSDT", "BTCEUR"):
        with pytest.raises(RecorderUsageError, match="names no Phemex index"):
            phemex.index_symbol(bad)
    plan, = phemex.plan_connections(["BTCUSD"], ["orderbook", "tick"])
    assert plan.streams == ("orderbook:BTCUSD", "tick:BTCUSD")
    assert plan.messages[1] == b'{"id":2,"method":"tick.subscribe","params":[".BTC"]}'


@pytest.mark.parametrize(("given", "native"), [
    ("BTCUSD", "BTCUSD"), ("btcusd", "BTCUSD"), ("SBTCUSDT", "sBTCUSDT"), ("sBTCUSDT", "sBTCUSDT"),
    ("SOLUSD", "SOLUSD"), ("SSOLUSDT", "sSOLUSDT"), ("SLINKUSDC", "sLINKUSDC"),
])
def test_native_symbols_undo_the_configurations_upper_case(given, native):
    assert phemex.native_symbol(given) == native
    assert phemex.is_spot(given) == native.startswith("s")


def test_descriptor_registered_and_symbols_checked():
    d = descriptor_for("phemex")
    assert VENUES["phemex"] is d and d.sync_rule == "phemex" and not d.snapshots
    assert d.channels == ("orderbook", "trade", "kline", "tick")
    for ok in ("BTCUSD", "SBTCUSDT", "sBTCUSDT", "XTZUSD"):
        assert d.is_symbol(ok), ok
    for bad in ("BTCUSDT", "KRW-BTC", "uBTCUSD", "BTC"):
        assert not d.is_symbol(bad), bad
    assert d.book_frame(b'{"book":{"asks":[],"bids":[]},"depth":30}')
    assert not d.book_frame(b'{"sequence":1,"symbol":"X","trades":[],"type":"snapshot"}')


def test_config_accepts_spot_symbols_and_refuses_other_channels():
    cfg = build_config({"recorder": {"data": "d"},
                        "venue": [{"venue": "phemex", "symbols": ["sBTCUSDT", "BTCUSD"],
                                   "channels": ["orderbook", "trade"]}]})
    (vc,) = cfg.venues
    assert vc.symbols == ("SBTCUSDT", "BTCUSD")  # upper-cased by the configuration ...
    plan, = descriptor_for("phemex").adapter(vc, backoff=Backoff(), stale_after_s=60,
                                             new_id=lambda: "x").plans()
    assert b'"sBTCUSDT"' in plan.messages[0]  # ... and spelled Phemex's way again
    with pytest.raises(ConfigError, match=r"'mark' is not a phemex channel .one of orderbook, trade, kline, tick"):
        build_config({"recorder": {"data": "d"},
                      "venue": [{"venue": "phemex", "symbols": ["BTCUSD"], "channels": ["mark"]}]})
    with pytest.raises(ConfigError, match=r"'BTCUSDT' is not a phemex symbol"):
        build_config({"recorder": {"data": "d"},
                      "venue": [{"venue": "phemex", "symbols": ["BTCUSDT"], "channels": ["trade"]}]})


def test_plans_keep_twenty_subscriptions_a_connection_and_a_symbols_channels_together():
    syms = [f"C{i}USD" for i in range(15)]
    plans = phemex.plan_connections(syms, ["orderbook", "trade", "kline"])
    assert [len(p.streams) for p in plans] == [18, 18, 9]
    seen = []
    for p in plans:
        assert p.url == "wss://ws.phemex.com" and len(p.messages) == len(p.streams) <= 20
        reqs = [json.loads(m) for m in p.messages]
        assert [r["id"] for r in reqs] == list(range(1, len(reqs) + 1))
        assert [f'{r["method"].split(".")[0]}:{r["params"][0]}' for r in reqs] == list(p.streams)
        seen += [s.split(":")[1] for s in p.streams]
    assert list(dict.fromkeys(seen)) == syms
    one = phemex.plan_connections(["BTCUSD", "btcusd"], ["trade"])
    assert [p.streams for p in one] == [("trade:BTCUSD",)]


def test_plans_refuse_more_than_five_connections():
    syms = [f"C{i}USD" for i in range(101)]
    with pytest.raises(RecorderUsageError, match="5 of 20"):
        phemex.plan_connections(syms, ["trade"])
    assert len(phemex.plan_connections(syms[:100], ["trade"])) == 5
    with pytest.raises(RecorderUsageError):
        phemex.plan_connections(["BTCUSD"], [])


def test_heartbeat_pings_inside_the_thirty_second_cut():
    hb = phemex.heartbeat()
    assert hb.client_ping == b'{"id":0,"method":"server.ping","params":[]}'
    assert hb.client_ping_interval_s == 15.0 and hb.idle_timeout_s == 30.0
    assert hb.ping_due(15.0, 0.0) and not hb.ping_due(14.9, 0.0)
    assert phemex.is_pong(b'{"error":null,"id":0,"result":"pong"}')
    assert not phemex.is_pong(b'{"error":null,"id":1,"result":{"status":"success"}}')
    assert not phemex.is_pong(b'{"sequence":1,"symbol":"pong","trades":[],"type":"snapshot"}')
    with pytest.raises(RecorderUsageError):
        phemex.PhemexConfig(ping_interval_s=30.0)


def test_replies_acks_and_errors():
    ack = phemex.parse_reply(b'{"error":null,"id":1,"result":{"status":"success"}}')
    assert ack is not None and ack.ok and ack.id == 1
    err = b'{"error":{"code":6001,"message":"invalid argument"},"id":2,"result":null}'
    assert phemex.frame_error(err) == "6001: invalid argument"
    assert phemex.frame_error(b'{"error":null,"id":1,"result":{"status":"success"}}') is None
    assert phemex.parse_reply(b'{"book":{"asks":[],"bids":[]},"depth":30,"sequence":1}') is None
    assert phemex.parse_reply(b'{"id":1,"result":') is None


def test_classify():
    v = phemex.classify_error(message="6001: invalid argument")
    assert v.error_class is ErrorClass.UNKNOWN_SYMBOL and not v.retry
    assert phemex.classify_error(status=429, retry_after="3").min_delay_s == 3.0
    assert phemex.classify_error(close_code=1006).error_class is ErrorClass.NETWORK
    assert phemex.classify_error(exc="ConnectionRefusedError").retry


def test_request_limiter_is_twenty_a_second():
    lim = phemex.request_limiter()
    assert all(lim.try_take(0.0) for _ in range(20)) and not lim.try_take(0.5)
    assert lim.try_take(1.0)


def test_adapter_plans_pings_and_answers():
    cfg = VenueConfig("phemex", ("BTCUSD", "SETHUSDT"), ("orderbook", "trade"),
                      ws_url="ws://127.0.0.1:9001", max_streams_per_connection=2, ping_interval_s=1.0)
    a = phemex.PhemexAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")
    plans = a.plans()
    assert [p.streams for p in plans] == [("orderbook:BTCUSD", "trade:BTCUSD"),
                                          ("orderbook:sETHUSDT", "trade:sETHUSDT")]
    assert plans[0].url == "ws://127.0.0.1:9001"
    assert a.replan(plans[1], 1) == plans[1]  # ids restart per connection: nothing to renew
    added = a.plans_for(["XTZUSD"])
    assert [p.streams for p in added] == [("orderbook:XTZUSD", "trade:XTZUSD")]
    hb = a.heartbeat()
    assert hb.client_ping_interval_s == 1.0 and hb.stale_after_s == 5.0
    default = phemex.PhemexAdapter(VenueConfig("phemex", ("BTCUSD",), ("trade",)), backoff=Backoff(),
                                   stale_after_s=60.0, new_id=lambda: "x")
    assert default.heartbeat().client_ping_interval_s == 15.0  # Upbit's 60 s default is capped
    assert a.keepalive()(b'{"error":null,"id":0,"result":"pong"}')
    assert a.frame_error(b'{"error":{"code":6001,"message":"invalid argument"},"id":1,"result":null}')
    assert a.classify(message="invalid argument").error_class is ErrorClass.UNKNOWN_SYMBOL
    assert a.snapshots is None and a.depth_symbols(plans[0]) == [] and a.frame_rules == "phemex"


def test_the_real_captures_frames_sort_into_acks_books_and_data():
    """Every frame of the 2021 capture: 30 acks, no error, no pong; the book test is exact."""
    from tools.captures import cryptofeed
    from tools.simulator.captures import read_cryptofeed

    acks = books = 0
    for _, payload in read_cryptofeed(cryptofeed("PHEMEX")).frames:
        msg = json.loads(payload)
        rep = phemex.parse_reply(payload)
        assert (rep is not None) == ("result" in msg)
        acks += rep is not None and rep.ok and rep.id == 1
        assert phemex.frame_error(payload) is None and not phemex.is_pong(payload)
        assert phemex.is_book_frame(payload) == ("book" in msg)
        books += "book" in msg
    assert acks == 30 and books == 1337
