"""Bybit v5 rules: endpoints per market, topics, request splitting, replies, ping, errors."""

from __future__ import annotations

import json

import pytest

from recorder.daemon.config import VenueConfig, build_config
from recorder.errors import RecorderUsageError
from recorder.venues import bybit, descriptor_for
from recorder.venues.base import Backoff, ErrorClass

# Replies as the capture (cryptofeed/BYBIT) and PROTOCOLS.md §4 show them.
SPOT_ACK = b'{"success":true,"ret_msg":"subscribe","conn_id":"d9avt8shteepr00gfc1g-4zd1x","op":"subscribe"}'
LINEAR_ACK = b'{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw","req_id":"","op":"subscribe"}'
SPOT_PONG = (b'{"success": true, "ret_msg": "pong", "conn_id": "0970e817-426e-429a-a679-ff7f55e0b16a",'
             b' "op": "ping"}')
LINEAR_PONG = b'{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}'
OPTION_PONG = b'{"args": ["1672916271846"], "op": "pong"}'
REFUSAL = b'{"success":false,"ret_msg":"Invalid symbol :[orderbook.50.NOPEUSDT]","conn_id":"c","op":"subscribe"}'
DELTA = (b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT",'
         b'"b":[["30247.20","30.028"]],"a":[],"u":177400507,"seq":66544703342},"cts":1687940967464}')


def test_endpoints_per_market_and_override_keeps_the_path():
    assert bybit.ws_url() == "wss://stream.bybit.com/v5/public/spot"
    assert bybit.ws_url(bybit.BybitConfig(market="linear")) == "wss://stream.bybit.com/v5/public/linear"
    cfg = bybit.BybitConfig(ws_url="ws://127.0.0.1:9001/ignored", market="linear")
    assert bybit.ws_url(cfg) == "ws://127.0.0.1:9001/v5/public/linear"
    with pytest.raises(RecorderUsageError):
        bybit.BybitConfig(market="inverse")


def test_topics_are_spelled_as_bybit_spells_them():
    assert bybit.VENUE_CHANNELS == ("orderbook.1", "orderbook.50", "orderbook.200", "orderbook.1000",
                                    "publicTrade", "tickers", "kline.1")
    assert bybit.topic("orderbook.50", "btcusdt") == "orderbook.50.BTCUSDT"
    assert bybit.topic("publicTrade", "ETHUSDT") == "publicTrade.ETHUSDT"
    assert bybit.symbol_of("orderbook.200.SOLUSDT") == "SOLUSDT"
    with pytest.raises(RecorderUsageError):
        bybit.topic("orderbook.500", "BTCUSDT")


def test_subscribe_and_unsubscribe_messages():
    assert json.loads(bybit.subscribe_message(["tickers.BTCUSDT"], "r1")) == \
        {"req_id": "r1", "op": "subscribe", "args": ["tickers.BTCUSDT"]}
    assert bybit.subscribe_message(["a"]) == b'{"op":"subscribe","args":["a"]}'
    assert json.loads(bybit.unsubscribe_message(["publicTrade.ETHUSD"], "x")) == \
        {"req_id": "x", "op": "unsubscribe", "args": ["publicTrade.ETHUSD"]}
    with pytest.raises(RecorderUsageError):
        bybit.subscribe_message([])


def test_spot_requests_carry_at_most_ten_args():
    syms = [f"C{i}USDT" for i in range(7)]
    (plan,) = bybit.plan_connections(syms, ["orderbook.50", "publicTrade"])
    assert plan.url == "wss://stream.bybit.com/v5/public/spot" and plan.route == "spot"
    reqs = [json.loads(m) for m in plan.messages]
    assert [len(r["args"]) for r in reqs] == [10, 4]
    assert [r["req_id"] for r in reqs] == ["ticktape-0-0", "ticktape-0-1"]
    assert [a for r in reqs for a in r["args"]] == list(plan.streams)
    assert plan.streams[:2] == ("orderbook.50.C0USDT", "publicTrade.C0USDT")
    linear = bybit.plan_connections(syms, ["orderbook.50", "publicTrade"],
                                    config=bybit.BybitConfig(market="linear"))
    assert [len(json.loads(m)["args"]) for m in linear[0].messages] == [14]
    assert linear[0].url.endswith("/v5/public/linear")


def test_plans_split_by_topic_count_and_args_length_keeping_a_symbol_whole():
    cfg = bybit.BybitConfig(max_topics_per_connection=5)
    plans = bybit.plan_connections([f"S{i}USDT" for i in range(5)], ["orderbook.1", "tickers"], config=cfg)
    assert [len(p.streams) for p in plans] == [4, 4, 2]
    cfg = bybit.BybitConfig(max_args_chars=60)
    plans = bybit.plan_connections(["AAAUSDT", "BBBUSDT", "CCCUSDT"], ["orderbook.1"], config=cfg)
    assert all(len(json.dumps(list(p.streams), separators=(",", ":"))) <= 60 for p in plans)
    assert [s for p in plans for s in p.streams] == [f"orderbook.1.{c * 3}USDT" for c in "ABC"]
    with pytest.raises(RecorderUsageError):
        bybit.plan_connections(["BTCUSDT"], ["depth"])


def test_resubscribe_is_unsubscribe_then_subscribe_of_the_book_topics():
    msgs = bybit.resubscribe_messages(["BTCUSDT"], ["orderbook.50", "publicTrade"], req_id="r")
    assert [json.loads(m) for m in msgs] == [
        {"req_id": "r-0", "op": "unsubscribe", "args": ["orderbook.50.BTCUSDT"]},
        {"req_id": "r-0", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}]


def test_replies_pongs_and_refusals():
    assert bybit.parse_reply(SPOT_ACK).ret_msg == "subscribe"
    assert bybit.parse_reply(LINEAR_ACK).success is True
    assert bybit.parse_reply(DELTA) is None
    for pong in (SPOT_PONG, LINEAR_PONG, OPTION_PONG):
        assert bybit.is_pong(pong)
    for other in (SPOT_ACK, LINEAR_ACK, DELTA, b"", b"{", b'{"op":1}', REFUSAL):
        assert not bybit.is_pong(other)
    assert bybit.frame_error(REFUSAL) == "subscribe: Invalid symbol :[orderbook.50.NOPEUSDT]"
    for ok in (SPOT_ACK, LINEAR_ACK, SPOT_PONG, OPTION_PONG, DELTA, b"\xff", b'{"op":"x","success":fals'):
        assert bybit.frame_error(ok) is None


def test_heartbeat_pings_every_20_s_inside_the_10_minute_cut():
    hb = bybit.heartbeat()
    assert (hb.client_ping, hb.client_ping_interval_s, hb.idle_timeout_s) == (b'{"op":"ping"}', 20.0, 600.0)
    assert hb.ping_due(20.0, 0.0) and not hb.ping_due(19.9, 0.0)
    with pytest.raises(RecorderUsageError):
        bybit.BybitConfig(ping_interval_s=600)


def test_connect_limit_is_500_per_5_minutes():
    lim = bybit.connect_limiter()
    for _ in range(500):
        assert lim.try_take(0.0)
    assert lim.delay(1.0) == pytest.approx(299.0)


@pytest.mark.parametrize(("kw", "cls", "retry"), [
    ({"message": "subscribe: Invalid symbol :[orderbook.50.X]"}, ErrorClass.UNKNOWN_SYMBOL, False),
    ({"message": "error:handler not found,topic:foo.BTCUSDT"}, ErrorClass.FATAL, False),
    ({"message": "too many requests"}, ErrorClass.RATE_LIMIT, True),
    ({"status": 429, "retry_after": "3"}, ErrorClass.RATE_LIMIT, True),
    ({"status": 403}, ErrorClass.FATAL, False),
    ({"close_code": 1006}, ErrorClass.NETWORK, True),
    ({"exc": "ConnectionResetError"}, ErrorClass.NETWORK, True),
])
def test_classify(kw, cls, retry):
    v = bybit.classify_error(**kw)
    assert (v.error_class, v.retry) == (cls, retry)
    if "retry_after" in kw:
        assert v.min_delay_s == 3.0


def test_descriptor_adapter_and_the_market_option():
    d = descriptor_for("bybit")
    assert d is bybit.DESCRIPTOR and d.sync_rule == "bybit" and not d.snapshots
    assert d.channels == bybit.VENUE_CHANNELS and d.market == "spot"
    assert d.is_symbol("BTCUSDT") and d.is_symbol("BTC-27DEC24") and not d.is_symbol("btcusdt")
    assert d.book_frame(DELTA) and not d.book_frame(b'{"topic":"publicTrade.BTCUSDT"}')
    assert "market" not in {o.key for o in d.options}  # every venue's field, checked by its list
    cfg = VenueConfig("bybit", ("BTCUSDT", "ETHUSDT"), ("orderbook.50", "publicTrade"),
                      ws_url="ws://127.0.0.1:1", market="linear", max_streams_per_connection=2)
    a = d.adapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "t")
    assert a.frame_rules == "bybit" and a.snapshots is None and a.ping_interval is None
    plans = a.plans()
    assert [p.url for p in plans] == ["ws://127.0.0.1:1/v5/public/linear"] * 2
    assert [p.streams for p in plans] == [("orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"),
                                         ("orderbook.50.ETHUSDT", "publicTrade.ETHUSDT")]
    assert a.plans_for(["SOLUSDT"])[0].streams == ("orderbook.50.SOLUSDT", "publicTrade.SOLUSDT")
    assert a.replan(plans[1], 1) == plans[1]
    assert a.keepalive()(LINEAR_PONG) and a.frame_error(REFUSAL) is not None
    assert a.classify(close_code=1006).retry
    assert a.heartbeat().client_ping_interval_s == 20.0  # the shared default (60 s) is too long
    fast = d.adapter(VenueConfig("bybit", ("BTCUSDT",), ("tickers",), ping_interval_s=0.5),
                     backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "t")
    assert fast.heartbeat().client_ping_interval_s == 0.5


def test_config_takes_market_and_refuses_a_bad_one():
    doc = {"recorder": {"data": "x"}, "venue": [{"venue": "bybit", "symbols": ["BTCUSDT"],
                                                 "channels": ["orderbook.50"], "market": "linear"}]}
    assert build_config(doc).venues[0].market == "linear"
    doc["venue"][0]["market"] = "inverse"
    with pytest.raises(ValueError, match="market"):
        build_config(doc)
    doc["venue"][0].update(market="spot", channels=["orderbook.500"])
    with pytest.raises(ValueError, match="not a bybit channel"):
        build_config(doc)


def test_inspection_takes_any_damaged_frame_of_the_real_capture(capture_journal):
    import random

    from recorder.journal.reader import JournalReader
    from tests.state.test_fuzz import mutate

    with JournalReader(capture_journal("BYBIT")) as r:
        frames = [x.payload for x in r.read(1, 20_000) if x.kind == "frame"]
    assert sum(bybit.parse_reply(p) is not None for p in frames) == 24  # the capture's acks
    assert not any(bybit.frame_error(p) or bybit.is_pong(p) for p in frames)
    rng = random.Random("BYBIT")
    damaged = [mutate(rng, p) for p in frames for _ in range(3)] + [REFUSAL, b"\xff" * 9]
    errors = sum(bybit.frame_error(p) is not None for p in damaged)
    for p in damaged:
        bybit.is_pong(p)
    assert errors >= 1


def test_adapter_resyncs_only_the_book_topics_of_the_symbol():
    cfg = VenueConfig("bybit", ("BTCUSDT", "ETHUSDT"), ("orderbook.1", "orderbook.200", "tickers"),
                      market="linear")
    a = bybit.BybitAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "n1")
    (plan,) = a.plans()
    assert a.market == "linear" and a.book_symbols(plan) == ["BTCUSDT", "ETHUSDT"]
    msgs = [json.loads(m) for m in a.resync_messages("BTCUSDT")]
    assert msgs == [
        {"req_id": "resync-n1-0", "op": "unsubscribe", "args": ["orderbook.1.BTCUSDT", "orderbook.200.BTCUSDT"]},
        {"req_id": "resync-n1-0", "op": "subscribe", "args": ["orderbook.1.BTCUSDT", "orderbook.200.BTCUSDT"]}]
    trades = VenueConfig("bybit", ("BTCUSDT",), ("publicTrade",))
    b = bybit.BybitAdapter(trades, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "n1")
    assert b.book_symbols(b.plans()[0]) == [] and b.market == "spot"
