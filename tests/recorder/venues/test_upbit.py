"""Upbit rules: endpoint, request arrays, plans, keep-alive, limits, REST, errors."""

from __future__ import annotations

import json
import random

import pytest

from recorder.daemon.config import VenueConfig
from recorder.errors import RecorderUsageError
from recorder.venues import upbit
from recorder.venues.base import Backoff, ErrorClass


def test_endpoint_and_override_keep_the_path():
    assert upbit.ws_url() == "wss://api.upbit.com/websocket/v1"
    cfg = upbit.UpbitConfig(ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002")
    assert upbit.ws_url(cfg) == "ws://127.0.0.1:9001/websocket/v1"
    assert upbit.orderbook_request(["krw-btc", "KRW-ETH"], config=cfg).url == \
        "http://127.0.0.1:9002/v1/orderbook?markets=KRW-BTC,KRW-ETH"


@pytest.mark.parametrize("fmt", ["DEFAULT", "SIMPLE"])
def test_subscribe_request_array(fmt):
    msg = upbit.subscribe_message("t-1", [("orderbook", ["krw-btc"]), ("trade", ["KRW-BTC", "KRW-ETH"])],
                                  fmt=fmt, only_realtime=True)
    assert json.loads(msg) == [
        {"ticket": "t-1"},
        {"type": "orderbook", "codes": ["KRW-BTC"], "is_only_realtime": True},
        {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"], "is_only_realtime": True},
        {"format": fmt},
    ]
    with pytest.raises(ValueError):
        upbit.subscribe_message("", [("trade", ["KRW-BTC"])])
    with pytest.raises(ValueError):
        upbit.subscribe_message("t", [("trade", ["KRW-BTC"])], fmt="XML")
    assert json.loads(upbit.list_subscriptions_message("t-2")) == \
        [{"method": "LIST_SUBSCRIPTIONS"}, {"ticket": "t-2"}]


def test_plans_split_codes_with_caller_tickets():
    cfg = upbit.UpbitConfig(max_codes_per_connection=4, format="DEFAULT")
    codes = [f"KRW-C{i}" for i in range(10)]
    plans = upbit.plan_connections(codes, ["orderbook", "trade", "ticker"], ticket="abc", config=cfg)
    assert len(plans) == 3
    tickets, seen = [], []
    for p in plans:
        assert p.url == "wss://api.upbit.com/websocket/v1"
        (msg,) = p.messages
        req = json.loads(msg)
        tickets.append(req[0]["ticket"])
        assert req[-1] == {"format": "DEFAULT"}
        assert [r["type"] for r in req[1:-1]] == ["orderbook", "trade", "ticker"]
        codes_here = req[1]["codes"]
        assert len(codes_here) <= 4 and all(r["codes"] == codes_here for r in req[1:-1])
        seen += codes_here
        assert len(p.streams) == 3 * len(codes_here)
    assert seen == codes
    assert tickets == ["abc-0", "abc-1", "abc-2"]
    with pytest.raises(RecorderUsageError, match="unknown Upbit channel 'depth'"):
        upbit.plan_connections(codes, ["depth"], ticket="x")


def test_keepalive_rules():
    hb = upbit.heartbeat()
    assert hb.client_ping == b"PING" and hb.idle_timeout_s == 120
    assert hb.client_ping_interval_s < hb.idle_timeout_s
    assert hb.ping_due(60.0, 0.0) and not hb.ping_due(59.0, 0.0)
    assert upbit.heartbeat(upbit.UpbitConfig(ping_frame=True)).client_ping is None
    assert upbit.is_status_up(b'{"status":"UP"}')
    assert not upbit.is_status_up(b'{"ty":"trade"}')
    with pytest.raises(ValueError):
        upbit.UpbitConfig(ping_interval_s=130)


def test_message_and_connect_limits():
    lim = upbit.message_limiter()
    sent = [t / 20 for t in range(20 * 60) if lim.try_take(t / 20)]
    assert len(sent) == 100  # the 100/min part binds within the minute
    for s in sent:
        assert sum(1 for x in sent if s <= x < s + 1.0) <= 5
    conn = upbit.connect_limiter()
    assert sum(conn.try_take(0.0) for _ in range(8)) == 5
    assert conn.delay(0.5) == pytest.approx(0.5)


def test_rest_requests_and_remaining_req():
    assert upbit.market_all_request().url == "https://api.upbit.com/v1/market/all"
    assert upbit.market_all_request(details=True).url.endswith("?is_details=true")
    assert upbit.ticker_request(["KRW-BTC"]).group == "ticker"
    req = upbit.candles_request("krw-btc", count=200, to="2025-06-24T04:56:53Z")
    assert req.path == "/v1/candles/minutes/1" and req.group == "candle"
    assert "market=KRW-BTC&count=200&to=2025-06-24T04%3A56%3A53Z" in req.url
    with pytest.raises(ValueError):
        upbit.candles_request("KRW-BTC", unit=2)
    rem = upbit.parse_remaining_req("group=default; min=1800; sec=29")
    assert rem == upbit.RemainingReq("default", 29, 1800)
    assert upbit.parse_remaining_req("garbage") is None
    limits = upbit.UpbitRestLimits()
    for _ in range(10):
        assert limits.delay(0.0, "orderbook") == 0.0
        limits.take(0.0, "orderbook")
    assert limits.delay(0.0, "orderbook") == pytest.approx(1.0)
    assert limits.delay(0.0, "ticker") == 0.0  # groups count separately
    limits.observe(5.0, "group=ticker; min=1800; sec=0")
    assert limits.delay(5.0, "ticker") == pytest.approx(1.0)
    assert limits.delay(6.0, "ticker") == 0.0


@pytest.mark.parametrize(("kwargs", "cls", "retry", "floor"), [
    ({"status": 429}, ErrorClass.RATE_LIMIT, True, 1.0),
    ({"status": 418, "retry_after": "600"}, ErrorClass.IP_BAN, True, 600.0),
    ({"status": 404, "message": '{"error":{"name":"404","message":"Code not found"}}'},
     ErrorClass.UNKNOWN_SYMBOL, False, 0.0),
    ({"message": '{"error":{"name":"INVALID_AUTH","message":"x"}}'}, ErrorClass.AUTH, False, 0.0),
    ({"message": '{"error":{"name":"WRONG_FORMAT","message":"x"}}'}, ErrorClass.FATAL, False, 0.0),
    ({"message": '{"error":{"name":"NO_CODES","message":"x"}}'}, ErrorClass.FATAL, False, 0.0),
    ({"close_code": 1006}, ErrorClass.NETWORK, True, 0.0),
    ({"exc": "TimeoutError"}, ErrorClass.NETWORK, True, 0.0),
])
def test_error_classification_table(kwargs, cls, retry, floor):
    v = upbit.classify_error(**kwargs)
    assert (v.error_class, v.retry, v.min_delay_s) == (cls, retry, floor)
    if retry:
        assert upbit.DEFAULT.backoff.delay(v, 0, random.Random(1)) >= floor


def test_error_frames():
    assert upbit.parse_error(b'{"error":{"name":"NO_TICKET","message":"no ticket"}}') == \
        ("NO_TICKET", "no ticket")
    assert upbit.parse_error(b'{"ty":"trade"}') is None
    assert upbit.parse_error(b'{"error": broken') is None


def test_adapter_asks_the_daemon_for_each_ticket_and_keeps_upbits_limits():
    ids = iter(["a1", "b2", "c3"])
    cfg = VenueConfig("upbit", ("KRW-BTC", "KRW-ETH", "KRW-XRP"), ("trade", "orderbook"),
                      ws_url="ws://127.0.0.1:9001", max_streams_per_connection=2, format="DEFAULT")
    a = upbit.UpbitAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: next(ids))
    first = a.plans()
    assert [json.loads(p.messages[0])[0]["ticket"] for p in first] == ["ticktape-a1-0", "ticktape-a1-1"]
    again = a.replan(first[1], 1)  # a reconnect: a fresh ticket, the same codes
    req = json.loads(again.messages[0])
    assert req[0]["ticket"] == "ticktape-b2-1" and req[1]["codes"] == ["KRW-XRP"]
    assert req[-1] == {"format": "DEFAULT"} and again.url == "ws://127.0.0.1:9001/websocket/v1"
    assert a.connect_limit is not None and a.connect_limit.limit == 5
    assert a.snapshots is None and a.depth_symbols(again) == [] and a.rotate_after_s is None
    assert a.keepalive()(b'{"status":"UP"}') and not a.keepalive()(b'{"ty":"trade"}')
    assert a.frame_error(b'{"error":{"name":"NO_TICKET","message":"x"}}') == "NO_TICKET: x"
    assert a.heartbeat().client_ping == b"PING"
