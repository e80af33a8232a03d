"""OKX v5 protocol rules: plans, subscribe/unsubscribe messages, replies, ping, limits, errors."""

from __future__ import annotations

import random
import zlib
from types import SimpleNamespace

import orjson
import pytest

from recorder.errors import RecorderUsageError
from recorder.venues import VENUES, descriptor_for, okx
from recorder.venues.base import Backoff, ErrorClass


def _options(**kw):
    base = dict(venue="okx", symbols=("BTC-USDT", "ETH-USDT"), channels=("books", "trades"),
                snapshots=True, snapshot_limit=1000, weight_limit_per_min=2400,
                rotate_after_s=0.0, subscribe=False, format="SIMPLE", ping_interval_s=60.0,
                max_streams_per_connection=200, ws_base="ws://127.0.0.1:9001",
                rest_base="http://127.0.0.1:9002")
    base.update(kw)
    return SimpleNamespace(**base)


def _adapter(**kw):
    return okx.OkxAdapter(_options(**kw), backoff=Backoff(), stale_after_s=10.0,
                          new_id=lambda: "x")


def test_registered_and_described():
    d = descriptor_for("okx")
    assert VENUES["okx"] is d is okx.DESCRIPTOR
    assert d.channels == ("books", "books5", "bbo-tbt", "trades", "tickers")
    assert d.sync_rule == "okx" and not d.snapshots
    for sym in ("BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-220527", "BTC-USD-220527-30000-C"):
        assert d.is_symbol(sym), sym
    for bad in ("BTCUSDT", "btc-usdt", "BTC_USDT", "-USDT"):
        assert not d.is_symbol(bad), bad
    assert d.limits.connects_per_s == 3 and d.limits.idle_timeout_s == 30.0


def test_url_keeps_the_path_and_replaces_only_the_origin():
    assert okx.ws_url() == "wss://ws.okx.com:8443/ws/v5/public"
    cfg = okx.OkxConfig(ws_url="ws://127.0.0.1:9001/anything/else?q=1")
    assert okx.ws_url(cfg) == "ws://127.0.0.1:9001/ws/v5/public"


def test_subscribe_and_unsubscribe_messages_exact():
    assert okx.subscribe_message([("books", "BTC-USDT")]) == (
        b'{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}')
    assert okx.unsubscribe_message([("trades", "ETH-USDT")], "r1") == (
        b'{"id":"r1","op":"unsubscribe","args":[{"channel":"trades","instId":"ETH-USDT"}]}')
    with pytest.raises(RecorderUsageError):
        okx.subscribe_message([("books", "BTC-USDT")], "not-alnum")
    unsub, sub = okx.resubscribe_messages("BTC-USDT")
    assert orjson.loads(unsub) == {"op": "unsubscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}
    assert orjson.loads(sub) == {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}


def test_plan_is_symbol_major_one_message_per_fifty_args():
    syms = [f"S{i}-USDT" for i in range(30)]
    (plan,) = okx.plan_connections(syms, ["trades", "tickers"])
    assert plan.url.endswith("/ws/v5/public") and plan.route == ""
    assert plan.streams[:4] == ("trades:S0-USDT", "tickers:S0-USDT", "trades:S1-USDT", "tickers:S1-USDT")
    assert [len(orjson.loads(m)["args"]) for m in plan.messages] == [50, 10]
    assert all(len(m) < 4096 for m in plan.messages)
    sent = [(a["channel"], a["instId"]) for m in plan.messages for a in orjson.loads(m)["args"]]
    assert [okx.stream_name(*a) for a in sent] == list(plan.streams)


def test_plan_keeps_deep_books_under_thirty_per_connection():
    syms = [f"S{i}-USDT" for i in range(70)]
    plans = okx.plan_connections(syms, ["books", "trades"])
    assert [sum(s.startswith("books:") for s in p.streams) for p in plans] == [29, 29, 12]
    # an instrument's channels never straddle two connections
    for p in plans:
        insts = [okx.split_stream(s)[1] for s in p.streams]
        assert all(insts.count(i) == 2 for i in insts)
    cfg = okx.OkxConfig(max_args_per_connection=5)
    assert [len(p.streams) for p in okx.plan_connections(syms[:5], ["trades"], config=cfg)] == [5]
    assert [len(p.streams) for p in okx.plan_connections(syms[:5], ["trades", "tickers"], config=cfg)] == [4, 4, 2]


def test_plan_refuses_unknown_channels_and_dedups_symbols():
    with pytest.raises(RecorderUsageError):
        okx.plan_connections(["BTC-USDT"], ["candle1m"])  # lives on /ws/v5/business
    (p,) = okx.plan_connections(["btc-usdt", "BTC-USDT"], ["books5"])
    assert p.streams == ("books5:BTC-USDT",)
    for shallow in ("books5", "bbo-tbt"):  # one book in the projection: checksums would break
        with pytest.raises(RecorderUsageError, match="books5/bbo-tbt"):
            okx.plan_connections(["BTC-USDT"], ["books", shallow])
    assert okx.plan_connections(["BTC-USDT"], ["books5", "bbo-tbt", "trades"])


def test_replies():
    ack = okx.parse_event(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"accb8e21"}')
    assert ack is not None and ack.ok and (ack.channel, ack.inst_id) == ("books", "BTC-USDT")
    err = b'{"id":"1512","event":"error","code":"60012","msg":"Invalid request: x","connId":"a4d3ae55"}'
    reply = okx.parse_event(err)
    assert reply is not None and not reply.ok and reply.request_id == "1512"
    assert okx.frame_error(err) == "60012: Invalid request: x"
    notice = b'{"event":"notice","code":"64008","msg":"The connection will soon be closed","connId":"a"}'
    assert okx.frame_error(notice).startswith("64008")
    data = b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT"}]}'
    for p in (data, b"pong", b"", b"{garbage", b'{"event":'):
        assert okx.frame_error(p) is None
    assert okx.frame_error(ack and b'{"event":"subscribe","arg":{"channel":"books","instId":"X-Y"}}') is None


def test_heartbeat_text_ping_inside_the_30s_cut():
    hb = okx.heartbeat()
    assert hb.client_ping == b"ping" and hb.client_ping_interval_s < 30 == hb.idle_timeout_s
    assert hb.ping_due(20.0, 0.0) and not hb.ping_due(19.9, 0.0)
    assert okx.is_pong(b"pong") and not okx.is_pong(b"ping") and not okx.is_pong(b'{"pong":1}')
    with pytest.raises(RecorderUsageError):
        okx.OkxConfig(ping_interval_s=30.0)
    # the shared ping_interval_s key (Upbit's 60 s default) never stretches past OKX's cut
    assert _adapter().heartbeat().client_ping_interval_s == 20.0
    assert _adapter(ping_interval_s=0.5).heartbeat().client_ping_interval_s == 0.5


def test_limits():
    conn = okx.connect_limiter()
    assert [conn.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert conn.try_take(1.0)
    ops = okx.op_limiter()
    assert all(ops.try_take(float(i)) for i in range(480))
    assert not ops.try_take(500.0) and ops.delay(500.0) == pytest.approx(3600.0 - 500.0)


@pytest.mark.parametrize(("kw", "cls", "retry"), [
    ({"message": '{"event":"error","code":"60018","msg":"Wrong URL or channel:books,instId:NOPE-USDT doesn\'t exist"}'},
     ErrorClass.UNKNOWN_SYMBOL, False),
    ({"message": "60014: Requests too frequent."}, ErrorClass.RATE_LIMIT, True),
    ({"message": "60012: Invalid request"}, ErrorClass.FATAL, False),
    ({"message": "64008: The connection will soon be closed for a service upgrade."}, ErrorClass.NETWORK, True),
    ({"status": 429}, ErrorClass.RATE_LIMIT, True),
    ({"close_code": 4004}, ErrorClass.NETWORK, True),
    ({"exc": "ConnectionResetError"}, ErrorClass.NETWORK, True),
])
def test_classify(kw, cls, retry):
    v = _adapter().classify(**kw)
    assert v.error_class is cls and v.retry is retry
    if retry:
        assert _adapter().backoff.delay(v, 0, random.Random(1)) is not None


def test_adapter_plans_books_and_resync():
    a = _adapter(symbols=("BTC-USDT", "ETH-USDT"), channels=("books", "trades"))
    (plan,) = a.plans()
    assert plan.url == "ws://127.0.0.1:9001/ws/v5/public"
    assert a.book_symbols(plan) == ["BTC-USDT", "ETH-USDT"]
    assert a.depth_symbols(plan) == [] and a.snapshots is None  # no REST snapshots
    assert a.resync_messages("ETH-USDT") == okx.resubscribe_messages("ETH-USDT")
    # a symbol added while running: its own plan, beside the open ones
    (extra,) = a.plans_for(["SOL-USDT"])
    assert extra.streams == ("books:SOL-USDT", "trades:SOL-USDT")
    assert a.replan(plan, 0) == plan
    assert a.keepalive()(b"pong") and a.frame_error(b'{"event":"error","code":"60013","msg":"x"}') == "60013: x"
    assert a.connect_limit is not None and a.connect_limit.limit == 3


def test_book_frame_test():
    assert okx.is_book_frame(b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}')
    assert okx.is_book_frame(b'{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[]}')
    assert okx.is_book_frame(b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[]}')
    assert not okx.is_book_frame(b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[]}')


def test_checksum_doc_vectors_match_zlib():
    """The documented checksum strings give the documented signed CRC32s (what the core checks)."""
    def signed(s: str) -> int:
        v = zlib.crc32(s.encode())
        return v - (1 << 32) if v >= 1 << 31 else v
    assert signed("3366.1:7:3366.8:9:3366:6:3368:8") == -1881014294
    assert signed("3366.1:7:3366.8:9:3368:8:3372:8") == 831078360
