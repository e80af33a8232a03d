"""Binance USD-M and spot: decoding and the U/u/pu book rules, on real captures."""

from __future__ import annotations

from decimal import Decimal

from recorder.journal.record import FRAME, REST, Record, StreamInfo
from state.decode.binance import BinanceDecoder
from state.events import BookDelta, BookSnapshot, BookTicker, DecodeError, Gap, Kline, Ticker, Trade
from state.projector import Projector

FUT = StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/stream?streams=x")
SPOT = StreamInfo(2, "binance-spot", "spot", "wss://stream.binance.com:9443/stream?streams=x")
REST_F = StreamInfo(3, "binance-usdm", "usdm", "https://fapi.binance.com")


def book_vs_tickers(streams, records, venue):
    """Independently pair every book ticker with the rebuilt book at the same update id."""
    p = Projector(streams)
    at: dict[tuple[str, int], tuple] = {}  # (symbol, u) -> (best bid, best ask) after that delta
    tickers: list[BookTicker] = []
    deltas = 0
    for rec in records:
        for ev in p.apply(rec):
            if type(ev) is BookTicker:
                tickers.append(ev)
            elif type(ev) is BookDelta:
                b = p.book(venue, ev.symbol)
                if b.valid and b.last_id == ev.last_id:
                    deltas += 1
                    at[(ev.symbol, ev.last_id)] = (b.best_bid_level(), b.best_ask_level())
    pairs = [(t, at[(t.symbol, t.update_id)]) for t in tickers if (t.symbol, t.update_id) in at]
    return p, pairs, deltas


def test_hftbacktest_book_equals_every_book_ticker_with_its_update_id(capture_records):
    streams, records = capture_records("hftbacktest")
    p, pairs, deltas = book_vs_tickers(streams, records, "binance-usdm")
    assert len(pairs) == 629
    for t, (bid, ask) in pairs:
        assert bid == (Decimal(t.bid_px), Decimal(t.bid_sz)), t
        assert ask == (Decimal(t.ask_px), Decimal(t.ask_sz)), t
    b = p.book("binance-usdm", "BTCUSDT")
    # the snapshot plus 6547 diffs (2 of them were buffered before it, applied with it)
    assert b.updates == 1 + 6547 and deltas == 6547 - 2
    assert b.valid and not b.crossed and b.gaps == 0
    assert (b.ticker_ok, b.ticker_bad) == (629, 0)  # the projector's own check agrees
    assert p.books_needing_snapshot() == []
    assert p.counters == {}


def test_cryptofeed_futures_books_match_all_their_book_tickers(capture_records):
    streams, records = capture_records("BINANCE_FUTURES")
    p, pairs, deltas = book_vs_tickers(streams, records, "binance-usdm")
    assert sum(p.book("binance-usdm", s).updates for _, s in p.symbols()) == 4 + 752
    # 764 diffs: 12 older than their snapshot are dropped, 752 applied
    assert deltas == 752
    assert sum(p.book("binance-usdm", s).stale for _, s in p.symbols()) == 12
    # every book ticker whose update id a diff ended on: 50 of them, all equal to the book
    assert len(pairs) == 50
    for t, (bid, ask) in pairs:
        assert bid == (Decimal(t.bid_px), Decimal(t.bid_sz)), t
        assert ask == (Decimal(t.ask_px), Decimal(t.ask_sz)), t
    checked = sum(p.book("binance-usdm", s).ticker_ok for s in
                  ("SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"))
    assert checked == len(pairs) == 50
    assert p.counters == {}
    for s in ("SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"):
        b = p.book("binance-usdm", s)
        assert b.valid and not b.crossed and b.gaps == 0 and b.ticker_bad == 0
        assert p.book("binance-usdm", f"{s[:-4]}-USDT-PERP") is b  # normalized name resolves


def test_spot_book_matches_book_tickers_26_of_26(capture_records):
    streams, records = capture_records("BINANCE")
    p, pairs, deltas = book_vs_tickers(streams, records, "binance-spot")
    assert len(pairs) == 26
    for t, (bid, ask) in pairs:
        assert bid == (Decimal(t.bid_px), Decimal(t.bid_sz))
        assert ask == (Decimal(t.ask_px), Decimal(t.ask_sz))
    assert all(p.book("binance-spot", s).gaps == 0 for _, s in p.symbols())
    assert sum(p.book("binance-spot", s).ticker_ok for _, s in p.symbols()) == 26
    assert sum(p.book("binance-spot", s).ticker_bad for _, s in p.symbols()) == 0
    assert p.counters == {}
    assert p.market("binance-spot", "NKNUSDT").norm == "NKN-USDT"


def rec(seq, payload: bytes, stream=1, kind=FRAME, meta=None, ts=None):
    return Record(seq, ts if ts is not None else 1_000_000_000 * seq, stream, kind, payload, meta)


def test_decodes_each_futures_stream_type():
    d = BinanceDecoder(FUT)
    agg = rec(1, b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":5,"a":7,"s":"BTCUSDT",'
                 b'"p":"1.5","q":"2","f":1,"l":2,"T":4,"m":true}}')
    [t] = d.decode(agg)
    assert type(t) is Trade and (t.price, t.size, t.side, t.ordinal, t.exch_ts_ns) == \
        ("1.5", "2", "sell", 7, 4_000_000)
    assert (t.symbol, t.norm, t.seq, t.recv_ts_ns) == ("BTCUSDT", "BTC-USDT-PERP", 1, 1_000_000_000)
    mark = rec(2, b'{"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate","E":9,"s":"BTCUSDT",'
                  b'"p":"11794.15","i":"11784.6","P":"1","r":"0.0003","T":10}}')
    [m] = d.decode(mark)
    assert type(m) is Ticker and (m.mark, m.index, m.funding_rate) == ("11794.15", "11784.6", "0.0003")
    day = rec(2, b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":123456789,"s":"BTCUSDT",'
                 b'"p":"0.0015","P":"250.00","w":"0.0018","c":"0.0025","Q":"10","o":"0.0010",'
                 b'"h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,'
                 b'"L":18150,"n":18151}}')
    [tk] = d.decode(day)
    assert type(tk) is Ticker and tk.exch_ts_ns == 123456789_000_000
    assert (tk.last, tk.open, tk.high, tk.low, tk.volume, tk.quote_volume) == \
        ("0.0025", "0.0010", "0.0025", "0.0010", "10000", "18")
    assert (tk.prev_close, tk.change, tk.change_rate, tk.mark, tk.bid) == (None, "0.0015", "250.00", None, None)
    kline = rec(3, b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":60000,'
                   b'"T":119999,"s":"BTCUSDT","i":"1m","f":1,"L":2,"o":"1","c":"2","h":"3","l":"0.5",'
                   b'"v":"10","n":2,"x":false,"q":"15","V":"1","Q":"1","B":"0"}}}')
    [k] = d.decode(kline)
    assert type(k) is Kline and (k.interval, k.start_ns, k.open, k.close, k.closed) == \
        ("1m", 60_000_000_000, "1", "2", False)
    partial = rec(4, b'{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":1,"T":1,'
                     b'"s":"BTCUSDT","U":1,"u":9,"pu":0,"b":[["1","2"]],"a":[["3","4"]]}}')
    [s] = d.decode(partial)
    assert type(s) is BookSnapshot and s.depth == 5 and s.update_id == 9
    assert d.decode(rec(5, b'{"result":null,"id":1}')) == []  # SUBSCRIBE ack: nothing, quietly
    assert d.decode(rec(6, b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1}}')) == []


def test_spot_frames_without_event_type_and_raw_ws_partial_depth():
    d = BinanceDecoder(SPOT)
    [t] = d.decode(rec(1, b'{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT",'
                          b'"b":"25.35190000","B":"31.21","a":"25.36520000","A":"40.66"}}'))
    assert type(t) is BookTicker and (t.update_id, t.bid_px, t.norm) == (400900217, "25.35190000", "BNB-USDT")
    raw = BinanceDecoder(StreamInfo(9, "binance-spot", "spot", "wss://stream.binance.com:9443/ws/bnbbtc@depth20"))
    [s] = raw.decode(rec(2, b'{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}', 9))
    assert type(s) is BookSnapshot and (s.symbol, s.update_id, s.depth) == ("BNBBTC", 160, 20)


def test_garbage_becomes_a_counted_decode_error_and_projection_continues():
    p = Projector({1: FUT})
    bad = [b"\x00\xffgarbage", b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT"',
           b'{"stream":"btcusdt@trade","data":{"e":"trade","E":"x","s":"BTCUSDT","t":1,"p":"1","q":"1","m":true}}',
           b'[1,2,3]', b'']
    for i, payload in enumerate(bad, start=1):
        [e] = p.apply(rec(i, payload))
        assert type(e) is DecodeError and e.seq == i and e.stream == 1 and e.excerpt == payload[:120]
    ok = p.apply(rec(10, b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT",'
                         b'"t":5,"p":"10","q":"1","m":false}}'))
    assert [type(e) for e in ok] == [Trade]
    assert p.counters[1]["decode_error"] == len(bad)
    assert p.market("binance-usdm", "BTCUSDT").last_price == Decimal(10)


def depth(seq, sym, U, u, pu, bids=(), asks=()):
    import orjson
    data = {"e": "depthUpdate", "E": seq, "T": seq, "s": sym, "U": U, "u": u, "pu": pu,
            "b": [list(x) for x in bids], "a": [list(x) for x in asks]}
    return rec(seq, orjson.dumps({"stream": f"{sym.lower()}@depth@100ms", "data": data}))


def snapshot(seq, sym, last, bids, asks):
    import orjson
    body = orjson.dumps({"lastUpdateId": last, "E": 1, "T": 1, "bids": bids, "asks": asks})
    return rec(seq, body, stream=3, kind=REST,
               meta={"url": f"https://fapi.binance.com/fapi/v1/depth?symbol={sym}&limit=1000"})


def test_futures_gap_invalidates_one_book_only_until_a_snapshot_resyncs_it():
    p = Projector({1: FUT, 3: REST_F})
    # Deltas before any snapshot are buffered; the book asks for a snapshot.
    p.apply(depth(1, "BTCUSDT", 95, 100, 90, [("10", "1")], [("11", "1")]))
    p.apply(depth(2, "ETHUSDT", 5, 8, 4, [("1", "1")], [("2", "1")]))
    assert p.books_needing_snapshot() == [("binance-usdm", "BTCUSDT"), ("binance-usdm", "ETHUSDT")]
    p.apply(depth(3, "BTCUSDT", 101, 104, 100, [("10", "2")], []))
    p.apply(snapshot(4, "BTCUSDT", 102, [["10", "5"], ["9", "1"]], [["11", "3"]]))
    b = p.book("binance-usdm", "BTCUSDT")
    # delta u=100 < 102 dropped; delta U=101 <= 102 <= u=104 applied on top of the snapshot
    assert b.valid and b.last_id == 104 and b.top_bids(2) == [(Decimal(10), Decimal(2)), (Decimal(9), Decimal(1))]
    p.apply(snapshot(5, "ETHUSDT", 8, [["1", "1"]], [["2", "1"]]))
    # pu that does not chain: a Gap with expected/got, BTC invalid, ETH untouched
    evs = p.apply(depth(6, "BTCUSDT", 110, 112, 109, [("10", "0")], []))
    gaps = [e for e in evs if type(e) is Gap]
    assert [(g.symbol, g.expected, g.got, g.reason) for g in gaps] == [("BTCUSDT", 104, 109, "sequence")]
    assert not b.valid and b.top_bids(5) == []
    assert p.book("binance-usdm", "ETHUSDT").valid
    assert p.books_needing_snapshot(rest_only=True) == [("binance-usdm", "BTCUSDT")]
    assert p.market("binance-usdm", "BTCUSDT").valid is False
    p.apply(depth(7, "BTCUSDT", 113, 115, 112, [("9", "4")], []))
    # a snapshot older than the buffered stream: still a gap (stale_snapshot), keep waiting
    evs = p.apply(snapshot(8, "BTCUSDT", 105, [["10", "5"]], [["11", "3"]]))
    assert [(e.reason, e.expected, e.got) for e in evs if type(e) is Gap] == [("stale_snapshot", 105, 110)]
    assert not b.valid
    p.apply(snapshot(9, "BTCUSDT", 113, [["10", "7"]], [["11", "3"]]))
    assert b.valid and b.last_id == 115 and b.best_bid_level() == (Decimal(10), Decimal(7))
    assert b.top_bids(3) == [(Decimal(10), Decimal(7)), (Decimal(9), Decimal(4))]
    assert p.books_needing_snapshot() == []
    assert p.counters[1]["gap"] == 1 and p.counters[3]["gap"] == 1


def test_crossed_book_is_flagged_and_counted():
    p = Projector({1: FUT, 3: REST_F})
    p.apply(snapshot(1, "BTCUSDT", 10, [["10", "1"]], [["11", "1"]]))
    evs = p.apply(depth(2, "BTCUSDT", 10, 12, 9, [("11.5", "1")], []))
    assert [e.kind for e in evs if hasattr(e, "kind")] == ["crossed_book"]
    assert p.book("binance-usdm", "BTCUSDT").crossed and p.market("binance-usdm", "BTCUSDT").crossed
    p.apply(depth(3, "BTCUSDT", 13, 13, 12, [("11.5", "0")], []))
    assert not p.book("binance-usdm", "BTCUSDT").crossed
    assert p.counters[1]["crossed_book"] == 1
