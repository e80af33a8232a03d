"""KuCoin spot: token reply -> URL, subscribe topics and plan splits, replies, ping, snapshots."""

from __future__ import annotations

import itertools

import orjson
import pytest

from recorder.daemon.config import VenueConfig
from recorder.errors import RecorderUsageError, VenueReplyError
from recorder.venues import descriptor_for, kucoin
from recorder.venues.base import Backoff, ErrorClass

BULLET = (b'{"code":"200000","data":{"token":"tok=.abc==","instanceServers":[{"endpoint":'
          b'"wss://ws-api-spot.kucoin.com/","encrypt":true,"protocol":"websocket",'
          b'"pingInterval":18000,"pingTimeout":10000}]}}')


def ids():
    c = itertools.count(1)
    return lambda: str(next(c))


def adapter(**kw):
    opts = VenueConfig(venue="kucoin", symbols=kw.pop("symbols", ("BTC-USDT", "ETH-USDT")),
                       channels=kw.pop("channels", ("level2", "match", "ticker")), **kw)
    return kucoin.KucoinAdapter(opts, backoff=Backoff(), stale_after_s=30.0, new_id=ids())


def test_subscribe_message_is_the_documented_shape():
    msg = kucoin.subscribe_message(kucoin.topic("level2", ["btc-usdt", "ETH-USDT"]), "7")
    assert orjson.loads(msg) == {"id": "7", "type": "subscribe",
                                 "topic": "/market/level2:BTC-USDT,ETH-USDT",
                                 "privateChannel": False, "response": True}
    assert orjson.loads(kucoin.subscribe_message("/market/match:BTC-USDT", "8",
                                                 unsubscribe=True))["type"] == "unsubscribe"
    with pytest.raises(RecorderUsageError):
        kucoin.topic("depth", ["BTC-USDT"])


def test_plans_split_topics_at_100_symbols_and_connections_at_300_topics():
    syms = [f"S{i}-USDT" for i in range(250)]
    plans = kucoin.plan_connections(syms, ["level2", "match", "ticker"], new_id=ids())
    assert [len(p.streams) for p in plans] == [300, 300, 150]  # 100 symbols x 3 channels
    first = [orjson.loads(m) for m in plans[0].messages]
    assert [m["topic"].split(":")[0] for m in first] == ["/market/level2", "/market/match",
                                                          "/market/ticker"]
    assert first[0]["topic"].split(":")[1].split(",") == syms[:100]
    assert len({m["id"] for p in plans for m in map(orjson.loads, p.messages)}) == 9
    one = kucoin.plan_connections(syms[:150], ["match"], new_id=ids())
    assert len(one) == 1 and len(one[0].messages) == 2  # 100 + 50 symbols in two topics
    assert one[0].url == "wss://ws-api-spot.kucoin.com/"


def test_the_token_reply_becomes_the_url_and_an_override_keeps_only_its_origin():
    a = adapter()
    (plan,) = a.plans()
    assert a.pre_connect(plan).method == "POST"
    assert a.pre_connect(plan).url == "https://api.kucoin.com/api/v1/bullet-public"
    p = a.connect_plan(plan, BULLET)
    assert p.url.startswith("wss://ws-api-spot.kucoin.com/?token=tok%3D.abc%3D%3D&connectId=")
    assert p.messages == plan.messages and p.streams == plan.streams
    sim = adapter(ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002")
    assert sim.pre_connect(plan).url == "http://127.0.0.1:9002/api/v1/bullet-public"
    assert sim.connect_plan(plan, BULLET).url.startswith("ws://127.0.0.1:9001/?token=")
    with pytest.raises(VenueReplyError):
        a.connect_plan(plan, b'{"code":"400100","msg":"bad"}')
    with pytest.raises(VenueReplyError):
        a.connect_plan(plan, b'{"code":"200000","data":{"token":"t","instanceServers":[]}}')


def test_ping_interval_comes_from_the_token_reply_when_shorter():
    a = adapter()
    assert a.greeting and a.frame_rules == "kucoin"
    hb = a.heartbeat()
    assert hb.client_ping_interval_s == 18.0
    assert orjson.loads(hb.client_ping) == {"id": "ping", "type": "ping"}
    a.connect_plan(a.plans()[0], BULLET.replace(b"18000", b"5000"))
    assert a.heartbeat().client_ping_interval_s == 5.0
    assert adapter(ping_interval_s=0.3).heartbeat().client_ping_interval_s == 0.3


def test_replies_keepalives_and_errors():
    assert kucoin.is_keepalive(b'{"id":"hQvf8jkno","type":"welcome"}')
    assert kucoin.is_keepalive(b'{"id":"1545910590801","type":"pong"}')
    assert kucoin.is_keepalive(b'{"id":"1","type":"ack"}')
    assert not kucoin.is_keepalive(b'{"type":"message","topic":"/market/match:BTC-USDT","data":{}}')
    assert not kucoin.is_keepalive(b"garbage")
    err = b'{"id":"3","type":"error","code":404,"data":"topic /market/ticker:XX-YY is not found"}'
    assert kucoin.error_text(err) == "404: topic /market/ticker:XX-YY is not found"
    assert kucoin.error_text(b'{"id":"1","type":"ack"}') is None
    a = adapter()
    assert a.frame_error(err) is not None
    assert a.classify(message=a.frame_error(err)).error_class is ErrorClass.UNKNOWN_SYMBOL
    assert a.classify(message="509: exceed max subscription").error_class is ErrorClass.RATE_LIMIT
    assert a.classify(status=429).error_class is ErrorClass.RATE_LIMIT
    assert a.classify(close_code=1006).retry
    assert a.classify(exc="ConnectionResetError").error_class is ErrorClass.NETWORK


def test_level2_snapshots_and_depth_symbols():
    a = adapter()
    assert a.snapshots is not None
    req = a.snapshots.request("btc-usdt")
    assert req.url == "https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol=BTC-USDT"
    body = b'{"code":"200000","data":{"time":1,"sequence":"3262786978","bids":[],"asks":[]}}'
    assert a.snapshots.last_update_id(body) == 3262786978
    with pytest.raises(VenueReplyError):
        a.snapshots.last_update_id(b'{"code":"400100"}')
    (plan,) = a.plans()
    assert a.depth_symbols(plan) == ["BTC-USDT", "ETH-USDT"]
    assert adapter(channels=("match",)).snapshots is None
    assert adapter(snapshots=False).depth_symbols(plan) == []


def test_symbols_added_while_running_get_their_own_plan_and_replan_keeps_them():
    a = adapter()
    (added,) = a.plans_for(["SOL-USDT"])
    assert added.streams == ("level2:SOL-USDT", "match:SOL-USDT", "ticker:SOL-USDT")
    again = a.replan(added, 5)
    assert again.streams == added.streams and again.messages != added.messages  # fresh ids


def test_descriptor():
    d = descriptor_for("kucoin")
    assert d is kucoin.DESCRIPTOR and d.channels == ("level2", "match", "ticker")
    assert d.is_symbol("BTC-USDT") and not d.is_symbol("BTCUSDT") and not d.is_symbol("btc-usdt")
    assert d.sync_rule == "kucoin" and d.snapshots
    assert d.book_frame(b'{"type":"message","subject":"trade.l2update","data":{}}')
    assert not d.book_frame(b'{"type":"message","subject":"trade.ticker","data":{}}')


def test_the_generic_adapter_has_no_pre_connect_call_and_no_greeting():
    from recorder.venues import upbit
    opts = VenueConfig(venue="upbit", symbols=("KRW-BTC",), channels=("trade",))
    a = upbit.UpbitAdapter(opts, backoff=Backoff(), stale_after_s=30.0, new_id=ids())
    (plan,) = a.plans()
    assert a.pre_connect(plan) is None and a.greeting is False
    assert a.connect_plan(plan, b"anything") is plan
