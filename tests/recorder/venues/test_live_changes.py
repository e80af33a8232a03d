"""``Adapter.subscribe_messages``/``unsubscribe_messages``: what each venue sends to change an
open connection's streams, when it cannot (another route, no room), and the plan a
reconnect opens afterwards."""

from __future__ import annotations

import orjson

from recorder.daemon.config import VenueConfig
from recorder.venues import binance_spot as bs
from recorder.venues import binance_usdm as bn
from recorder.venues import bybit as by
from recorder.venues import gate as gt
from recorder.venues import kucoin as kc
from recorder.venues import okx as ok
from recorder.venues import phemex as ph
from recorder.venues import upbit as ub
from recorder.venues.base import Backoff, TokenBucket


def _binance(**kw) -> bn.BinanceUsdmAdapter:
    cfg = VenueConfig("binance-usdm", ("BTCUSDT",), kw.pop("channels", ("depth", "aggTrade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return bn.BinanceUsdmAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def _upbit(**kw) -> ub.UpbitAdapter:
    ids = iter(range(100))
    cfg = VenueConfig("upbit", ("KRW-BTC",), ("trade", "orderbook"), ws_url="ws://127.0.0.1:9001",
                      rest_url="http://127.0.0.1:9002", **kw)
    return ub.UpbitAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: f"t{next(ids)}")


def test_binance_subscribes_on_the_routes_own_connection_with_ids_and_a_new_url():
    a = _binance()
    public, market = a.plans()
    new_public, new_market = a.plans_for(["ETHUSDT"])
    assert a.subscribe_messages(market, new_public.streams) is None  # never mix routes
    ch = a.subscribe_messages(public, new_public.streams)
    assert ch is not None and ch.added == ("ethusdt@depth@100ms",) and ch.removed == ()
    (msg,) = ch.messages
    assert orjson.loads(msg) == {"method": "SUBSCRIBE", "params": ["ethusdt@depth@100ms"],
                                 "id": ch.ids[0]}
    # a reconnect names the current set in its URL
    assert ch.plan.streams == ("btcusdt@depth@100ms", "ethusdt@depth@100ms")
    assert ch.plan.url.endswith("/public/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms")
    assert a.answer(b'{"result":null,"id":%d}' % ch.ids[0]) == (ch.ids[0], None)
    assert a.answer(b'{"e":"depthUpdate"}') is None
    un = a.unsubscribe_messages(ch.plan, ["ethusdt@depth@100ms"])
    assert un is not None and un.plan.url == public.url and un.removed == ("ethusdt@depth@100ms",)
    assert orjson.loads(un.messages[0])["method"] == "UNSUBSCRIBE"
    assert un.ids[0] != ch.ids[0]  # ids never repeat on a connection
    assert a.unsubscribe_messages(public, public.streams) is None  # nothing left: close it instead


def test_binance_room_chunks_and_subscribe_mode():
    a = _binance(max_streams_per_connection=3)
    public, _ = a.plans()
    assert a.subscribe_messages(public, [f"s{i}usdt@depth@100ms" for i in range(3)]) is None
    assert a.subscribe_messages(public, ["s1usdt@depth@100ms", "s2usdt@depth@100ms"]) is not None
    a = _binance(subscribe=True)
    public, _ = a.plans()
    many = [f"s{i}usdt@depth@100ms" for i in range(120)]
    ch = a.subscribe_messages(public, many)
    assert ch is not None and len(ch.messages) == 3 and len(set(ch.ids)) == 3  # 50 a message
    # subscribe mode: the bare endpoint, and SUBSCRIBEs of the whole set on reconnect
    assert ch.plan.url == public.url
    assert sum(len(orjson.loads(m)["params"]) for m in ch.plan.messages) == 121
    assert isinstance(a.control_limiter(), TokenBucket)


def test_upbit_replaces_the_whole_list_under_a_fresh_ticket():
    a = _upbit()
    (plan,) = a.plans()
    (new,) = a.plans_for(["KRW-ETH"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None and ch.ids == ()  # Upbit acknowledges nothing
    req = orjson.loads(ch.messages[0])
    assert [i["codes"] for i in req if "type" in i] == [["KRW-BTC", "KRW-ETH"]] * 2
    assert req[0]["ticket"] != orjson.loads(plan.messages[0])[0]["ticket"]
    assert ch.plan.messages == ch.messages  # a reconnect sends the same list
    assert ch.added == ("trade:KRW-ETH", "orderbook:KRW-ETH")
    un = a.unsubscribe_messages(ch.plan, ["trade:KRW-ETH", "orderbook:KRW-ETH"])
    assert un is not None and un.plan.streams == plan.streams
    assert [i["codes"] for i in orjson.loads(un.messages[0]) if "type" in i] == [["KRW-BTC"]] * 2
    assert a.unsubscribe_messages(plan, plan.streams) is None  # an empty list is refused: close
    small = _upbit(max_streams_per_connection=2)
    (p2,) = small.plans()
    assert small.subscribe_messages(p2, ["trade:KRW-ETH"]) is not None
    assert small.subscribe_messages(p2, ["trade:KRW-ETH", "trade:KRW-XRP"]) is None


def _okx(**kw) -> ok.OkxAdapter:
    cfg = VenueConfig("okx", ("BTC-USDT",), kw.pop("channels", ("books", "trades")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return ok.OkxAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_okx_subscribe_and_unsubscribe_ops_with_ids_and_the_plan_a_reconnect_sends():
    a = _okx()
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETH-USDT"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None and ch.added == ("books:ETH-USDT", "trades:ETH-USDT")
    (msg,) = ch.messages
    assert orjson.loads(msg) == {"id": ch.ids[0], "op": "subscribe",
                                 "args": [{"channel": "books", "instId": "ETH-USDT"},
                                          {"channel": "trades", "instId": "ETH-USDT"}]}
    assert ch.ids[0].isalnum() and len(ch.ids[0]) <= 32  # OKX's rule for an id
    # a reconnect subscribes the whole current set, without ids
    assert ch.plan.url == plan.url
    assert [a_["instId"] for m in ch.plan.messages for a_ in orjson.loads(m)["args"]] == [
        "BTC-USDT", "BTC-USDT", "ETH-USDT", "ETH-USDT"]
    assert all("id" not in orjson.loads(m) for m in ch.plan.messages)
    rid = ch.ids[0]
    ack = b'{"id":"%s","event":"subscribe","arg":{"channel":"books","instId":"ETH-USDT"},"connId":"a"}'
    assert a.answer(ack % rid.encode()) == (rid, None)
    err = (b'{"id":"%s","event":"error","code":"60018","msg":"Wrong URL or channel:books,'
           b'instId:NOPE-USDT doesn\'t exist","connId":"a"}') % rid.encode()
    assert a.answer(err) == (rid, "60018: Wrong URL or channel:books,instId:NOPE-USDT doesn't exist")
    assert a.answer(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}') is None
    assert a.answer(b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[]}') is None
    assert a.answer(b"pong") is None
    un = a.unsubscribe_messages(ch.plan, ["books:ETH-USDT", "trades:ETH-USDT", "books:XRP-USDT"])
    assert un is not None and un.removed == ("books:ETH-USDT", "trades:ETH-USDT")
    assert un.plan.streams == plan.streams and un.plan.messages == plan.messages
    body = orjson.loads(un.messages[0])
    assert body["op"] == "unsubscribe" and body["id"] == un.ids[0] != rid
    assert a.unsubscribe_messages(plan, plan.streams) is None  # nothing left: close it


def test_okx_room_chunks_and_the_op_budget():
    a = _okx(max_streams_per_connection=4)
    (plan,) = a.plans()
    assert a.subscribe_messages(plan, ["books:ETH-USDT", "trades:ETH-USDT"]) is not None
    assert a.subscribe_messages(plan, ["books:ETH-USDT", "trades:ETH-USDT", "books:XRP-USDT"]) is None
    books = [f"books:C{i}-USDT" for i in range(29)]
    assert a.subscribe_messages(plan, books[:1]) is not None
    big = _okx(max_streams_per_connection=500)
    (p2,) = big.plans()
    assert big.subscribe_messages(p2, books[:29]) is None  # 29 deep books is room; 30 is not
    assert big.subscribe_messages(p2, books[:28]) is not None
    trades = [f"trades:C{i}-USDT" for i in range(120)]
    ch = _okx(channels=("trades",), max_streams_per_connection=500).subscribe_messages(p2, trades)
    assert ch is not None and len(ch.messages) == 3 and len(set(ch.ids)) == 3  # 50 args a message
    lim = a.control_limiter()
    assert all(lim.try_take(0.0) for _ in range(480)) and not lim.try_take(1.0)
    assert lim.delay(1.0) > 3000


def _bybit(**kw) -> by.BybitAdapter:
    cfg = VenueConfig("bybit", ("BTCUSDT",), kw.pop("channels", ("orderbook.50", "publicTrade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return by.BybitAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_bybit_requests_of_at_most_10_topics_with_req_ids():
    a = _bybit(max_streams_per_connection=500)
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETHUSDT"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None and ch.added == ("orderbook.50.ETHUSDT", "publicTrade.ETHUSDT")
    (msg,) = ch.messages
    assert orjson.loads(msg) == {"req_id": ch.ids[0], "op": "subscribe",
                                 "args": ["orderbook.50.ETHUSDT", "publicTrade.ETHUSDT"]}
    assert ch.plan.url == plan.url and ch.plan.route == "spot"
    assert [t for m in ch.plan.messages for t in orjson.loads(m)["args"]] == list(ch.plan.streams)
    rid = ch.ids[0]
    ack = b'{"success":true,"ret_msg":"subscribe","conn_id":"c","req_id":"%s","op":"subscribe"}'
    assert a.answer(ack % rid.encode()) == (rid, None)
    no = (b'{"success":false,"ret_msg":"Invalid symbol :[publicTrade.NOPE]","conn_id":"c",'
          b'"req_id":"%s","op":"subscribe"}') % rid.encode()
    assert a.answer(no) == (rid, "subscribe: Invalid symbol :[publicTrade.NOPE]")
    assert a.answer(b'{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}') is None
    assert a.answer(b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","data":[]}') is None
    many = [f"publicTrade.S{i}USDT" for i in range(25)]
    big = a.subscribe_messages(plan, many)
    assert big is not None and [len(orjson.loads(m)["args"]) for m in big.messages] == [10, 10, 5]
    assert len(set(big.ids)) == 3 and not set(big.ids) & {rid}
    assert all(len(orjson.loads(m)["args"]) <= 10 for m in big.plan.messages)
    un = a.unsubscribe_messages(ch.plan, ["publicTrade.ETHUSDT", "orderbook.50.ETHUSDT"])
    assert un is not None and un.plan.streams == plan.streams
    assert orjson.loads(un.messages[0])["op"] == "unsubscribe"
    assert a.unsubscribe_messages(plan, plan.streams) is None
    small = _bybit(max_streams_per_connection=3)
    (p2,) = small.plans()
    assert small.subscribe_messages(p2, ["publicTrade.ETHUSDT"]) is not None
    assert small.subscribe_messages(p2, new.streams) is None  # no room: a connection of its own


def _gate(**kw) -> gt.GateAdapter:
    cfg = VenueConfig("gate", ("BTC_USDT",), ("spot.order_book_update", "spot.trades"),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return gt.GateAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x",
                          clock=lambda: 1700000000.0)


def test_gate_one_request_per_channel_and_one_per_book_symbol_with_ids():
    a = _gate()
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETH_USDT", "XRP_USDT"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None
    msgs = [orjson.loads(m) for m in ch.messages]
    assert [(m["channel"], m["event"], m["payload"]) for m in msgs] == [
        ("spot.order_book_update", "subscribe", ["ETH_USDT", "100ms"]),
        ("spot.order_book_update", "subscribe", ["XRP_USDT", "100ms"]),
        ("spot.trades", "subscribe", ["ETH_USDT", "XRP_USDT"])]
    assert [m["id"] for m in msgs] == list(ch.ids) and len(set(ch.ids)) == 3
    assert all(m["time"] == 1700000000 for m in msgs)
    # a reconnect: the current set, as plan_connections would ask for it
    assert ch.plan.messages == a.plans_for(["BTC_USDT", "ETH_USDT", "XRP_USDT"])[0].messages
    assert ch.plan.streams == (*plan.streams, *new.streams)
    rid = ch.ids[0]
    ok_ = (b'{"time":1,"time_ms":1000,"id":%d,"channel":"spot.trades","event":"subscribe",'
           b'"payload":["ETH_USDT"],"result":{"status":"success"}}') % rid
    assert a.answer(ok_) == (rid, None)
    no = (b'{"time":1,"id":%d,"channel":"spot.trades","event":"subscribe","error":{"code":2,'
          b'"message":"unknown currency pair NOPE_USDT"},"result":{"status":"fail"}}') % rid
    assert a.answer(no) == (rid, "2: unknown currency pair NOPE_USDT")
    assert a.answer(b'{"time":1,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}') is None
    assert a.answer(b'{"time":1,"channel":"spot.trades","event":"update","result":{"id":1}}') is None
    un = a.unsubscribe_messages(ch.plan, ["spot.trades:XRP_USDT", "spot.order_book_update:XRP_USDT"])
    assert un is not None and un.removed == ("spot.trades:XRP_USDT", "spot.order_book_update:XRP_USDT")
    assert [(m["channel"], m["event"], m["payload"]) for m in map(orjson.loads, un.messages)] == [
        ("spot.trades", "unsubscribe", ["XRP_USDT"]),
        ("spot.order_book_update", "unsubscribe", ["XRP_USDT", "100ms"])]
    assert un.plan.messages == a.plans_for(["BTC_USDT", "ETH_USDT"])[0].messages
    assert a.unsubscribe_messages(plan, plan.streams) is None
    small = _gate(max_streams_per_connection=3)
    (p2,) = small.plans()
    assert small.subscribe_messages(p2, ["spot.trades:ETH_USDT"]) is not None
    assert small.subscribe_messages(p2, new.streams[:2]) is None
    assert small.subscribe_messages(p2, ["spot.book_ticker:ETH_USDT"]) is None  # not recorded here


def _kucoin(**kw) -> kc.KucoinAdapter:
    ids = iter(range(1000))
    cfg = VenueConfig("kucoin", ("BTC-USDT",), ("level2", "match"), ws_url="ws://127.0.0.1:9001",
                      rest_url="http://127.0.0.1:9002", **kw)
    return kc.KucoinAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: f"k{next(ids)}")


def test_kucoin_topic_requests_with_ids_asking_for_acks():
    a = _kucoin()
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETH-USDT", "XRP-USDT"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None
    msgs = [orjson.loads(m) for m in ch.messages]
    assert msgs == [{"id": ch.ids[0], "type": "subscribe", "topic": "/market/level2:ETH-USDT,XRP-USDT",
                     "privateChannel": False, "response": True},
                    {"id": ch.ids[1], "type": "subscribe", "topic": "/market/match:ETH-USDT,XRP-USDT",
                     "privateChannel": False, "response": True}]
    assert [orjson.loads(m)["topic"] for m in ch.plan.messages] == [
        "/market/level2:BTC-USDT,ETH-USDT,XRP-USDT", "/market/match:BTC-USDT,ETH-USDT,XRP-USDT"]
    rid = ch.ids[0]
    assert a.answer(b'{"id":"%s","type":"ack"}' % rid.encode()) == (rid, None)
    err = b'{"id":"%s","type":"error","code":404,"data":"topic /market/match:NOPE-USDT is not found"}'
    assert a.answer(err % rid.encode()) == (rid, "404: topic /market/match:NOPE-USDT is not found")
    assert a.answer(b'{"id":"ping","type":"pong"}') is None
    assert a.answer(b'{"id":"c1","type":"welcome"}') is None
    assert a.answer(b'{"type":"message","topic":"/market/match:BTC-USDT","data":{}}') is None
    un = a.unsubscribe_messages(ch.plan, ["match:XRP-USDT", "level2:XRP-USDT"])
    assert un is not None and un.removed == ("match:XRP-USDT", "level2:XRP-USDT")
    assert [(m["type"], m["topic"]) for m in map(orjson.loads, un.messages)] == [
        ("unsubscribe", "/market/match:XRP-USDT"), ("unsubscribe", "/market/level2:XRP-USDT")]
    assert len(set(ch.ids + un.ids)) == 4
    assert a.unsubscribe_messages(plan, plan.streams) is None
    many = [f"match:S{i}-USDT" for i in range(150)]
    big = _kucoin(max_streams_per_connection=300).subscribe_messages(plan, many)
    assert big is not None and len(big.messages) == 2  # 100 symbols a topic
    small = _kucoin(max_streams_per_connection=3)
    (p2,) = small.plans()
    assert small.subscribe_messages(p2, ["match:ETH-USDT"]) is not None
    assert small.subscribe_messages(p2, ["match:ETH-USDT", "level2:ETH-USDT"]) is None
    assert small.subscribe_messages(p2, ["ticker:ETH-USDT"]) is None  # a channel not recorded
    lim = a.control_limiter()
    assert all(lim.try_take(0.0) for _ in range(100)) and not lim.try_take(1.0)


def _phemex(**kw) -> ph.PhemexAdapter:
    cfg = VenueConfig("phemex", ("BTCUSD",), kw.pop("channels", ("orderbook", "trade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return ph.PhemexAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_phemex_one_request_a_stream_and_no_in_place_removal_of_one_book_among_several():
    a = _phemex()
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETHUSD"])
    ch = a.subscribe_messages(plan, new.streams)
    assert ch is not None and ch.added == ("orderbook:ETHUSD", "trade:ETHUSD")
    assert [orjson.loads(m) for m in ch.messages] == [
        {"id": ch.ids[0], "method": "orderbook.subscribe", "params": ["ETHUSD"]},
        {"id": ch.ids[1], "method": "trade.subscribe", "params": ["ETHUSD"]}]
    assert min(ch.ids) >= ph.LIVE_FIRST_ID  # never a plan's 1..20 nor a ping's 0
    assert ch.plan.messages == a.plans_for(["BTCUSD", "ETHUSD"])[0].messages
    rid = ch.ids[0]
    assert a.answer(b'{"error":null,"id":%d,"result":{"status":"success"}}' % rid) == (rid, None)
    assert a.answer(b'{"error":{"code":6001,"message":"invalid argument"},"id":%d,"result":null}'
                    % rid) == (rid, "6001: invalid argument")
    assert a.answer(b'{"error":null,"id":0,"result":"pong"}') is None
    assert a.answer(b'{"error":null,"id":1,"result":{"status":"success"}}') is None
    assert a.answer(b'{"book":{"asks":[],"bids":[]},"sequence":1,"symbol":"BTCUSD"}') is None
    # a trade alone: trade.unsubscribe names its symbol
    un = a.unsubscribe_messages(ch.plan, ["trade:ETHUSD"])
    assert un is not None and [orjson.loads(m)["params"] for m in un.messages] == [["ETHUSD"]]
    # ETHUSD's book while BTCUSD's stays: orderbook.unsubscribe would drop both
    assert a.unsubscribe_messages(ch.plan, ["orderbook:ETHUSD", "trade:ETHUSD"]) is None
    # the only book on the connection: orderbook.unsubscribe (no symbol) is exact
    only = a.subscribe_messages(plan, ["trade:ETHUSD"])
    assert only is not None
    un = a.unsubscribe_messages(only.plan, ["orderbook:BTCUSD"])
    assert un is not None and un.plan.streams == ("trade:BTCUSD", "trade:ETHUSD")
    assert [orjson.loads(m) for m in un.messages] == [
        {"id": un.ids[0], "method": "orderbook.unsubscribe", "params": []}]
    assert a.unsubscribe_messages(plan, plan.streams) is None
    small = _phemex(max_streams_per_connection=3)
    (p2,) = small.plans()
    assert small.subscribe_messages(p2, ["trade:ETHUSD"]) is not None
    assert small.subscribe_messages(p2, new.streams) is None  # over 3 (Phemex: 20)
    assert small.subscribe_messages(p2, ["kline:ETHUSD"]) is None  # not a recorded channel
    lim = a.control_limiter()
    assert all(lim.try_take(0.0) for _ in range(20)) and not lim.try_take(0.5)


def _spot(**kw) -> bs.BinanceSpotAdapter:
    cfg = VenueConfig("binance-spot", ("BTCUSDT",), kw.pop("channels", ("depth", "aggTrade")),
                      ws_url="ws://127.0.0.1:9001", rest_url="http://127.0.0.1:9002", **kw)
    return bs.BinanceSpotAdapter(cfg, backoff=Backoff(), stale_after_s=5.0, new_id=lambda: "x")


def test_binance_spot_changes_as_usdm_on_its_one_endpoint():
    a = _spot()
    (plan,) = a.plans()
    (new,) = a.plans_for(["ETHUSDT"])
    ch = a.subscribe_messages(plan, new.streams)  # depth and trades share the one endpoint
    assert ch is not None and ch.added == ("ethusdt@depth@100ms", "ethusdt@aggTrade")
    (msg,) = ch.messages
    assert orjson.loads(msg) == {"method": "SUBSCRIBE", "params": list(ch.added), "id": ch.ids[0]}
    assert ch.ids[0] >= bn.LIVE_FIRST_ID
    assert ch.plan.url == "ws://127.0.0.1:9001/stream?streams=" + "/".join(ch.plan.streams)
    assert ch.plan.venue == "binance-spot"
    assert a.answer(b'{"result":null,"id":%d}' % ch.ids[0]) == (ch.ids[0], None)
    un = a.unsubscribe_messages(ch.plan, list(ch.added))
    assert un is not None and un.plan.url == plan.url and un.ids[0] != ch.ids[0]
    assert a.unsubscribe_messages(plan, plan.streams) is None
    assert _spot(max_streams_per_connection=3).subscribe_messages(plan, new.streams) is None
    b = _spot(subscribe=True)
    (p2,) = b.plans()
    ch = b.subscribe_messages(p2, new.streams)
    assert ch is not None and ch.plan.url == p2.url
    assert [s for m in ch.plan.messages for s in orjson.loads(m)["params"]] == list(ch.plan.streams)
    assert b.control_limiter().try_take(0.0) and b.control_limiter().delay(0.0) == 0
