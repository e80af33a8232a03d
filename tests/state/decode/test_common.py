"""Every venue decoder: control frames decode to nothing, garbage to a counted DecodeError.

For each venue the same script runs through a ``Projector``: acks, pongs and other
control frames give no event and no counter; each undecodable frame gives exactly one
``DecodeError`` carrying its seq, stream and the first bytes; a good frame after all
of that still reaches the market state.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from recorder.journal.record import CLOSE, FRAME, OPEN, REST, SENT, Record, StreamInfo
from state.decode import decoder_for
from state.events import BookDelta, BookSnapshot, DecodeError, Trade
from state.projector import Projector
from tests.conftest import CRYPTOFEED_NAMES

# The same garbage for every venue: not JSON, truncated JSON, JSON of the wrong shape.
GARBAGE = [b"\x00\xff\xfe garbage", b"", b"{", b"[1,2,3]", b"null", b'"text"', b"\xef\xbb\xbf{}}"]

VENUES = {
    "binance-usdm": dict(
        info=StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream?streams=btcusdt@trade"),
        control=[b'{"result":null,"id":1}', b'{"result":["btcusdt@trade"],"id":2}',
                 b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1}}'],
        bad=[b'{"stream":"btcusdt@trade","data":{"e":"trade","E":"x","s":"BTCUSDT","t":1,"p":"1",'
             b'"q":"1","m":true}}',
             b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT"}}'],
        good=b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":5,'
             b'"p":"61000.5","q":"0.01","m":false}}',
        symbol="BTCUSDT", price="61000.5"),
    "binance-spot": dict(
        info=StreamInfo(1, "binance-spot", "spot", "wss://stream.binance.com:9443/stream?streams=x"),
        control=[b'{"result":null,"id":7}'],
        bad=[b'{"stream":"ethbtc@bookTicker","data":{"u":"x","s":"ETHBTC"}}'],
        good=b'{"stream":"ethbtc@trade","data":{"e":"trade","E":1,"T":1,"s":"ETHBTC","t":9,'
             b'"p":"0.051","q":"2","m":true}}',
        symbol="ETHBTC", price="0.051"),
    "upbit": dict(
        info=StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1"),
        control=[b'{"status":"UP"}', b'{"error":{"name":"INVALID_AUTH","message":"x"}}',
                 b'{"type":"myOrder","code":"KRW-BTC"}'],
        bad=[b'{"ty":"trade","cd":"KRW-BTC","tp":"x","tv":1,"ab":"BID","sid":1,"ttms":1}',
             b'{"type":"orderbook","code":"KRW-BTC"}', b'{"no":"type"}'],
        good=b'{"ty":"trade","cd":"KRW-BTC","tms":1,"ttms":1,"tp":141000000.0,"tv":0.001,'
             b'"ab":"BID","sid":17,"st":"REALTIME"}',
        symbol="KRW-BTC", price="141000000.0"),
    "bybit": dict(
        info=StreamInfo(1, "bybit", "linear", "wss://stream.bybit.com/v5/public/linear"),
        control=[b'{"success":true,"ret_msg":"","conn_id":"a","req_id":"1","op":"subscribe"}',
                 b'{"success":true,"ret_msg":"pong","conn_id":"a","op":"ping"}',
                 b'{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[]}'],
        bad=[b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT"}]}',
             b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT"}}',
             b'{"no":"topic"}'],
        good=b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT",'
             b'"S":"Buy","v":"0.01","p":"61001.1","L":"PlusTick","i":"a-b","BT":false}]}',
        symbol="linear:BTCUSDT", price="61001.1"),
    "okx": dict(
        info=StreamInfo(1, "okx", "", "wss://ws.okx.com:8443/ws/v5/public"),
        control=[b"pong", b'{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"1"}',
                 b'{"event":"error","code":"60012","msg":"Invalid request","connId":"1"}',
                 b'{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1","2"]]}'],
        bad=[b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT"}]}',
             b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":1}]}',
             b'{"neither":1}'],
        good=b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
             b'"tradeId":"5","px":"30000.5","sz":"0.1","side":"buy","ts":"1652459224818"}]}',
        symbol="BTC-USDT", price="30000.5"),
    "gate": dict(
        info=StreamInfo(1, "gate", "spot", "wss://api.gateio.ws/ws/v4/"),
        control=[b'{"time":1,"time_ms":1,"channel":"spot.pong","event":"","result":null}',
                 b'{"time":1,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}',
                 b'{"time":1,"channel":"spot.trades","event":"subscribe","error":{"code":2,"message":"x"},'
                 b'"result":{"status":"fail"}}',
                 b'{"type":"upgrade","msg":"The connection will soon be closed for a service upgrade."}'],
        bad=[b'{"time":1,"channel":"spot.trades","event":"update","result":{"id":"x"}}',
             b'{"time":1,"channel":"spot.order_book_update","event":"update","result":{"t":1}}',
             b'{"channel":1}', b'{"event":"update"}'],
        good=b'{"time":1,"channel":"spot.trades","event":"update","result":{"id":42,"create_time":1,'
             b'"create_time_ms":"1606292218213.4578","side":"sell","currency_pair":"BTC_USDT",'
             b'"amount":"0.2","price":"19000.1"}}',
        symbol="BTC_USDT", price="19000.1"),
    "kucoin": dict(
        info=StreamInfo(1, "kucoin", "spot", "wss://ws-api-spot.kucoin.com/"),
        control=[b'{"id":"hQvf8jkno","type":"welcome"}', b'{"id":"1","type":"ack"}',
                 b'{"id":"2","type":"pong"}', b'{"id":"3","type":"error","code":401,"data":"token"}'],
        bad=[b'{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{"x":1}}',
             b'{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":'
             b'{"sequenceStart":"a"}}',
             b'{"topic":"no type"}'],
        good=b'{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":'
             b'{"sequence":"1","symbol":"BTC-USDT","side":"buy","size":"0.1","price":"58000.2",'
             b'"tradeId":"t1","time":"1619340000000000000","type":"match"}}',
        symbol="BTC-USDT", price="58000.2"),
    "phemex": dict(
        info=StreamInfo(1, "phemex", "", "wss://phemex.com/ws"),
        control=[b'{"error":null,"id":1,"result":{"status":"success"}}',
                 b'{"error":null,"id":0,"result":"pong"}'],
        bad=[b'{"book":{"asks":[["x",1]],"bids":[]},"depth":30,"sequence":1,"symbol":"BTCUSD",'
             b'"timestamp":1,"type":"snapshot"}',
             b'{"trades":[[1]],"sequence":1,"symbol":"BTCUSD","type":"incremental"}',
             b'{"unknown":1}'],
        good=b'{"sequence":9,"symbol":"BTCUSD","trades":[[1,"Buy",600005000,10]],"type":"incremental"}',
        symbol="BTCUSD", price="60000.5000"),
}


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_control_frames_are_quiet_and_garbage_is_a_counted_decode_error(venue):
    case = VENUES[venue]
    info: StreamInfo = case["info"]
    p = Projector({1: info})
    seq = 0

    def apply(payload: bytes, kind: str = FRAME):
        nonlocal seq
        seq += 1
        return seq, p.apply(Record(seq, 1_000 * seq, 1, kind, payload, None))

    for payload in case["control"]:
        assert apply(payload)[1] == [], payload
    for kind in (OPEN, SENT, CLOSE):  # connection bookkeeping is never projected
        assert apply(b'{"op":"subscribe"}', kind)[1] == []
    assert p.counters == {} and p.symbols() == []
    bad = GARBAGE + case["bad"]
    for payload in bad:
        at, evs = apply(payload)
        assert [type(e) for e in evs] == [DecodeError], payload
        [e] = evs
        assert (e.seq, e.stream, e.venue, e.recv_ts_ns) == (at, 1, venue, 1_000 * at)
        assert e.excerpt == payload[:120] and e.reason
    assert p.counters == {1: {"decode_error": len(bad)}}
    at, evs = apply(case["good"])
    assert [type(e) for e in evs] == [Trade] and evs[0].seq == at
    m = p.market(venue, case["symbol"])
    assert m.last_price == Decimal(case["price"]) and p.last_seq == at
    assert p.counters == {1: {"decode_error": len(bad)}}


@pytest.mark.parametrize("venue,url", [
    ("binance-usdm", "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"),
    ("upbit", "https://api.upbit.com/v1/orderbook?markets=KRW-BTC"),
    ("gate", "https://api.gateio.ws/api/v4/spot/order_book?currency_pair=BTC_USDT&with_id=true"),
    ("kucoin", "https://api.kucoin.com/api/v3/market/orderbook/level2?symbol=BTC-USDT"),
])
def test_a_bad_rest_snapshot_is_a_decode_error_and_other_rest_bodies_are_ignored(venue, url):
    p = Projector({2: StreamInfo(2, venue, "spot", url.split("/api")[0])})
    for i, body in enumerate((b"<html>502 Bad Gateway</html>", b'{"code":-1003,"msg":"banned"}'), 1):
        [e] = p.apply(Record(i, i, 2, REST, body, {"url": url}))
        assert type(e) is DecodeError and e.seq == i and e.stream == 2
    # exchange info, instruments and the like are journaled, not projected
    assert p.apply(Record(3, 3, 2, REST, b'{"symbols":[]}', {"url": url.split("?")[0].rsplit("/", 1)[0] + "/symbols"})) == []
    assert p.counters == {2: {"decode_error": 2}}


def test_an_unknown_venue_reports_every_frame():
    p = Projector({5: StreamInfo(5, "mystery", "", "wss://example.invalid")})
    [e] = p.apply(Record(1, 1, 5, FRAME, b'{"price":"1"}', None))
    assert type(e) is DecodeError and "no decoder" in e.reason
    assert p.counters == {5: {"decode_error": 1}}


def _without_levels(ev):
    if type(ev) in (BookDelta, BookSnapshot):
        return msgspec.structs.replace(ev, bids=(), asks=())
    return ev


@pytest.mark.parametrize("name", [*CRYPTOFEED_NAMES, "hftbacktest"])
def test_an_ids_only_decoder_gives_the_full_ones_events_without_their_levels(capture_records, name):
    """Every record of every capture: the same events, book ones with empty levels where
    the venue has ids-only schemas; OKX (its rule checks levels) and Upbit decode them."""
    streams, records = capture_records(name)
    full = {s: decoder_for(info) for s, info in streams.items()}
    ids = {s: decoder_for(info, ids_only=True) for s, info in streams.items()}
    books = 0
    for rec in records:
        want = full[rec.stream].decode(rec)
        got = ids[rec.stream].decode(rec)
        venue = streams[rec.stream].venue
        if venue in ("okx", "upbit"):
            assert got == want
        else:
            assert got == [_without_levels(e) for e in want]
        books += sum(type(e) in (BookDelta, BookSnapshot) for e in got)
    assert books > 0


def test_an_ids_only_decoder_checks_that_levels_are_there_and_json_not_their_shape():
    info = StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream?streams=x")
    full, ids = decoder_for(info), decoder_for(info, ids_only=True)

    def frame(levels: bytes) -> Record:
        return Record(1, 1, 1, FRAME, b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate",'
                      b'"E":1,"T":1,"s":"BTCUSDT","U":5,"u":7,"pu":4,' + levels + b'}}', None)

    good = frame(b'"b":[["1.5","2"]],"a":[]')
    assert [_without_levels(e) for e in full.decode(good)] == ids.decode(good)
    [e] = ids.decode(good)
    assert (type(e), e.bids, e.asks, e.first_id, e.last_id, e.prev_id) == (BookDelta, (), (), 5, 7, 4)
    for missing_or_not_json in (b'"a":[]', b'"b":[["1.5","2"],],"a":[]'):
        for dec in (full, ids):
            assert [type(e) for e in dec.decode(frame(missing_or_not_json))] == [DecodeError]
    # the shape of the levels is not read: a DecodeError to the full decoder only
    wrong_shape = frame(b'"b":[[1.5,2,3]],"a":{}')
    assert [type(e) for e in full.decode(wrong_shape)] == [DecodeError]
    assert [type(e) for e in ids.decode(wrong_shape)] == [BookDelta]
