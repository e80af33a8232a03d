"""Simulator markets without sockets: looped captures keep the chain, books and bytes right."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from tools.simulator.binance_market import GENERATED, BinanceMarket, stream_kind
from tools.simulator.book import Book
from tools.simulator.captures import (
    CRYPTOFEED_BINANCE_FUTURES,
    CRYPTOFEED_UPBIT,
    read_cryptofeed,
    read_hftbacktest,
)
from tools.simulator.upbit_market import UpbitMarket, as_snapshot, to_default

from .simhelp import DepthChains


def _run_clients(market: BinanceMarket, until_t: float, snapshot_after: int = 200):
    """Consume the tape like clients that sync from a snapshot mid-way; check every rule."""
    chains = DepthChains()
    clients: dict[str, tuple[int, Book, list[bool]]] = {}
    n = 0
    while market.tape.t < until_t:
        ev = market.next()
        n += 1
        if ev.kind != "depth":
            continue
        d = orjson.loads(ev.data)
        assert (d["U"], d["u"], d["pu"]) == ev.ids
        gaps = chains.frame(ev.data)
        assert gaps == [], gaps  # never a gap, across loops too
        if ev.symbol in clients:
            lid, book, started = clients[ev.symbol]
            if not started:
                if d["u"] < lid:
                    continue
                assert d["U"] <= lid <= d["u"]  # the snapshot brackets the next diff
                started.append(True)
            book.apply(d["b"], d["a"])
        elif n > snapshot_after:
            lid, book = market.snapshot(ev.symbol)
            assert chains.snapshot(ev.symbol, lid) == []
            clients[ev.symbol] = (lid, book.copy(), [])
    return clients, chains


def _book_now(market: BinanceMarket, sym: str) -> Book:
    lid, book = market.snapshot(sym)
    return book


def test_capture_loops_keep_chain_and_books_equal():
    market = BinanceMarket([read_cryptofeed(CRYPTOFEED_BINANCE_FUTURES)], seed=1, base_ms=0)
    loop_s = market._capture["SUSHIUSDT"].cap.loop_s
    clients, chains = _run_clients(market, until_t=loop_s * 2.5)
    assert set(clients) == {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"}
    for sym, (_lid, book, started) in clients.items():
        assert started, sym
        assert chains.live(sym)
        cs = market._capture[sym].cap.symbols[sym]
        assert book == cs.catch_up(), sym  # a client's book equals the simulator's
        assert not _crossed(book)


def _crossed(book: Book) -> bool:
    (bid,), (ask,) = book.top(1)
    return float(bid[0]) >= float(ask[0])


def _next_captured(market: BinanceMarket):
    """The tape's next event of a capture (the ticker events made between them skipped)."""
    while (ev := market.next()).kind in GENERATED:
        pass
    return ev


def test_first_loop_is_the_capture_byte_for_byte_and_later_loops_shift():
    raw = read_cryptofeed(CRYPTOFEED_BINANCE_FUTURES)
    market = BinanceMarket([raw], base_ms=0)
    cap = market._capture["SUSHIUSDT"].cap
    originals = [f for _, f in raw.frames if f.startswith(b'{"stream"')]
    first_loop = []
    for _ in range(len(cap.frames)):
        ev = _next_captured(market)
        if (ev.symbol, ev.kind) in cap.derived:  # made from other streams: not in the capture
            continue
        stream = next(s for s in (f"{ev.symbol.lower()}@{k}" for k in
                                  ("depth@100ms", "aggTrade", "kline_1m", "bookTicker"))
                      if stream_kind(s) == ev.kind)
        first_loop.append(b'{"stream":"%s","data":%s}' % (stream.encode(), ev.data))
    assert set(first_loop) <= set(originals)
    assert len(first_loop) >= len(originals) - 40  # only pre-snapshot diffs are left out
    later = [_next_captured(market) for _ in range(len(cap.frames) + 4)]
    bridges = [e for e in later[:4] if e.kind == "depth"]
    assert len(bridges) == 4  # one bridge diff per symbol between loops
    trades = [orjson.loads(e.data) for e in later if e.kind == "aggTrade"]
    orig_trades = [orjson.loads(f.partition(b'"data":')[2][:-1]) for f in originals if b"@aggTrade" in f[:40]]
    first = next(t for t in trades if t["s"] == orig_trades[0]["s"])
    assert first["a"] > orig_trades[-1]["a"] and first["E"] % 60_000 == orig_trades[0]["E"] % 60_000
    klines = [orjson.loads(e.data)["k"] for e in later if e.kind == "kline_1m"]
    assert all(k["t"] % 60_000 == 0 for k in klines)


def test_hftbacktest_capture_depth_brackets_and_serves_bytes():
    raw = read_hftbacktest()
    market = BinanceMarket([raw], base_ms=0)
    clients, chains = _run_clients(market, until_t=30.0, snapshot_after=500)
    assert chains.live("BTCUSDT")
    _, book, started = clients["BTCUSDT"]
    assert started and book == market._capture["BTCUSDT"].cap.symbols["BTCUSDT"].catch_up()


def test_synthetic_market_is_seeded_consistent_and_uncrossed():
    def take(seed):
        m = BinanceMarket(seed=seed, base_ms=1_700_000_000_000)
        m.activate("FOOUSDT")
        return m, [m.next() for _ in range(3000)]

    m1, a = take(3)
    _, b = take(3)
    _, c = take(4)
    assert [e.data for e in a] == [e.data for e in b]
    assert [e.data for e in a] != [e.data for e in c]
    assert {e.kind for e in a} == {"depth", "bookTicker", "trade", "aggTrade", "kline_1m", "markPrice",
                                   "ticker"}
    m2 = BinanceMarket(seed=3, base_ms=1_700_000_000_000)
    m2.activate("FOOUSDT")
    clients, chains = _run_clients(m2, until_t=60.0, snapshot_after=100)
    assert chains.live("FOOUSDT")
    _, book, started = clients["FOOUSDT"]
    assert started and book == m2._synthetic["FOOUSDT"].book() and not _crossed(book)
    tickers = [orjson.loads(e.data) for e in a if e.kind == "bookTicker"]
    assert all(float(t["b"]) < float(t["a"]) for t in tickers)


def test_symbol_restriction():
    m = BinanceMarket(symbols=["BTCUSDT"])
    assert m.known("btcusdt") and not m.known("ETHUSDT")
    assert m.activate("BTCUSDT") and not m.activate("ETHUSDT")
    assert not BinanceMarket().activate("BAD-SYMBOL")


def test_upbit_default_names_snapshot_label_and_loop_shift():
    frame = (b'{"ty":"trade","cd":"KRW-LAMB","tms":1618678262712,"td":"2021-04-17","ttm":"16:51:02",'
             b'"ttms":1618678262000,"tp":127.0,"tv":46.48838371,"ab":"BID","pcp":123.00000000,'
             b'"c":"RISE","cp":4.00000000,"sid":1618678262000003,"st":"REALTIME"}')
    default = to_default(frame)
    assert default.startswith(b'{"type":"trade","code":"KRW-LAMB","timestamp":1618678262712,'
                              b'"trade_date":"2021-04-17","trade_time":"16:51:02"')
    assert b'"prev_closing_price":123.00000000' in default  # number text untouched
    assert b'"sequential_id":1618678262000003,"stream_type":"REALTIME"' in default
    assert b'"st":"SNAPSHOT"' in as_snapshot(frame)
    raw = read_cryptofeed(CRYPTOFEED_UPBIT)
    market = UpbitMarket([raw], base_ms=0)
    src_frames = [f for _, f in raw.frames]
    n_loop = sum(1 for _ in market.tape._heap[0][2].cap.frames)
    first = [market.next() for _ in range(n_loop)]
    assert [e.data for e in first if e.kind != "ticker"] == \
        [f for f in src_frames if b'"ty":"trade"' in f or b'"ty":"orderbook"' in f]
    second = [market.next() for _ in range(n_loop)]
    t0 = [orjson.loads(e.data) for e in first if e.kind == "trade"]
    t1 = [orjson.loads(e.data) for e in second if e.kind == "trade"]
    assert len(t0) == len(t1) == 304
    shift = t1[0]["ttms"] - t0[0]["ttms"]
    assert shift > 0 and shift % 60_000 == 0
    for a, b in zip(t0, t1, strict=True):
        assert b["ttms"] - a["ttms"] == shift and b["sid"] > a["sid"]
        assert b["tp"] == a["tp"]
    assert t1[0]["td"] == "2021-04-17" and t1[0]["ttm"] != t0[0]["ttm"]
    tickers = [orjson.loads(e.data) for e in first if e.kind == "ticker"]
    assert len(tickers) == 304 and all(t["ty"] == "ticker" for t in tickers)


@pytest.mark.parametrize("fmt_codes", [["KRW-BTC"], ["KRW-ETH", "BTC-XRP"]])
def test_upbit_synthetic_codes_and_rest_bodies(fmt_codes):
    market = UpbitMarket(seed=1, base_ms=1_700_000_000_000)
    for c in fmt_codes:
        assert market.activate(c)
    assert not market.activate("BTCKRW")
    events = [market.next() for _ in range(400)]
    kinds = {(e.symbol, e.kind) for e in events}
    for c in fmt_codes:
        assert {(c, "orderbook"), (c, "trade"), (c, "ticker")} <= kinds
    books = orjson.loads(market.orderbook_body(fmt_codes))
    assert [b["market"] for b in books] == fmt_codes
    units = books[0]["orderbook_units"]
    assert len(units) == 15 and all(u["bid_price"] < u["ask_price"] for u in units)
    assert books[0]["total_ask_size"] == pytest.approx(sum(u["ask_size"] for u in units))
    candles = orjson.loads(market.candles_body(fmt_codes[0], 1, 200))
    assert candles and all(c["low_price"] <= c["trade_price"] <= c["high_price"] for c in candles)
    assert [c["timestamp"] for c in candles] == sorted((c["timestamp"] for c in candles), reverse=True)


def test_binance_rest_klines_agree_with_the_kline_stream():
    """Every closed ``kline_1m`` event equals the ``/fapi/v1/klines`` row of its minute."""
    market = BinanceMarket(seed=5, base_ms=1_700_000_000_000)
    market.activate("FOOUSDT")
    closed = []
    while len(closed) < 3:
        ev = market.next()
        if ev.kind == "kline_1m" and (k := orjson.loads(ev.data)["k"])["x"]:
            closed.append(k)
    rows = {r[0]: r for r in orjson.loads(market.klines_body("FOOUSDT", limit=1500))}
    for k in closed:
        assert rows[k["t"]] == [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"],
                                k["n"], k["V"], k["Q"], "0"]
    later = orjson.loads(market.klines_body("FOOUSDT", limit=2, start_ms=closed[1]["t"]))
    assert [r[0] for r in later] == [closed[1]["t"], closed[2]["t"]]


def test_upbit_rest_orderbook_and_candles_agree_with_the_stream():
    market = UpbitMarket(seed=2, base_ms=1_700_000_000_000)
    market.activate("KRW-BTC")
    events = [market.next() for _ in range(3000)]
    last_book = next(e for e in reversed(events) if e.kind == "orderbook")
    (book,) = orjson.loads(market.orderbook_body(["KRW-BTC"]))
    stream = orjson.loads(to_default(last_book.data))
    assert book == {"market": "KRW-BTC", **{k: v for k, v in stream.items()
                                            if k not in ("type", "code", "stream_type")}}
    trades = [orjson.loads(e.data) for e in events if e.kind == "trade"]
    candles = orjson.loads(market.candles_body("KRW-BTC", 1, 200))
    by_minute: dict[int, list[dict]] = {}
    for t in trades:
        by_minute.setdefault(t["ttms"] // 60_000 * 60_000, []).append(t)
    assert len(candles) == len(by_minute) >= 2
    for c in candles:
        start = next(m for m in by_minute if by_minute[m][-1]["ttms"] == c["timestamp"])
        ts = by_minute[start]
        assert c["opening_price"] == ts[0]["tp"] and c["trade_price"] == ts[-1]["tp"]
        assert c["high_price"] == max(t["tp"] for t in ts) and c["low_price"] == min(t["tp"] for t in ts)
        assert c["candle_acc_trade_volume"] == pytest.approx(sum(t["tv"] for t in ts))


def test_derived_binance_streams_agree_with_the_trades_and_tickers_they_come_from():
    """The hftbacktest capture has ``trade``/``depth``/``bookTicker`` only: its ``aggTrade``,
    ``kline_1m`` and ``markPrice`` are derived from the same tape, in Binance's shapes, and
    across a loop boundary the ids go on increasing and no kline minute repeats."""
    market = BinanceMarket([read_hftbacktest()], base_ms=0)
    src = market._capture["BTCUSDT"]
    cap = src.cap
    assert cap.derived == {("BTCUSDT", "aggTrade"), ("BTCUSDT", "kline_1m"), ("BTCUSDT", "markPrice")}
    by_kind: dict[str, list[dict]] = {}
    ticker = None
    while src.loop < 1 or src.i < len(cap.frames) // 10:  # the first loop and a tenth of the next
        ev = market.next()
        d = orjson.loads(ev.data)
        by_kind.setdefault(ev.kind, []).append(d)
        if ev.kind == "bookTicker":
            ticker = d
        elif ev.kind == "markPrice":  # from the ticker just sent
            assert ticker is not None
            assert Decimal(ticker["b"]) <= Decimal(d["p"]) <= Decimal(ticker["a"])
    trades, aggs = by_kind["trade"], by_kind["aggTrade"]
    assert [t["t"] for t in trades] == list(range(trades[0]["t"], trades[0]["t"] + len(trades)))
    assert list(aggs[0]) == ["e", "E", "a", "s", "p", "q", "f", "l", "T", "m"]
    # every trade is in exactly one aggregate, ids f..l consecutive, a +1 each
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    assert aggs[0]["f"] == trades[0]["t"] and all(b["f"] == a["l"] + 1 for a, b in zip(aggs, aggs[1:]))
    i = 0
    for a in aggs:
        group = trades[i:i + a["l"] - a["f"] + 1]
        i += len(group)
        assert [t["t"] for t in group] == list(range(a["f"], a["l"] + 1))
        assert {(t["T"], t["p"], t["m"]) for t in group} == {(a["T"], a["p"], a["m"])}
        assert Decimal(a["q"]) == sum(Decimal(t["q"]) for t in group)
    assert i == len(trades)
    # klines: the closed ones equal /fapi/v1/klines built from the same trades; minutes only grow
    klines = [d["k"] for d in by_kind["kline_1m"]]
    starts = [k["t"] for k in klines]
    assert starts == sorted(starts) and all(t % 60_000 == 0 for t in starts)
    closed = [k for k in klines if k["x"]]
    assert len(closed) == len({k["t"] for k in closed}) >= 6
    rows = {r[0]: r for r in orjson.loads(market.klines_body("BTCUSDT", limit=1500))}
    for k in closed:
        assert rows[k["t"]] == [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"],
                                k["n"], k["V"], k["Q"], "0"]
    # mark prices: one per second of exchange time
    seconds = [d["E"] // 1000 for d in by_kind["markPrice"]]
    assert seconds == sorted(set(seconds)) and len(seconds) > 300


def test_kept_bars_equal_the_bars_rebuilt_from_every_kept_trade():
    """``LiveTrades`` folds trades in as they are read and rebuilds only a bar that lost its
    oldest trade to the bound: its rows equal a rebuild from scratch at every read, through
    evictions, out-of-order minutes and a switch from trades to aggregates."""
    import random

    from tools.simulator.binance_live import LiveTrades, rebuild_rows
    from tools.simulator.tape import Event

    rnd = random.Random(9)
    live = LiveTrades(maxlen=300)
    t_ms, tid = 1_700_000_000_000, 1
    for i in range(3000):
        t_ms += rnd.choice([0, 50, 400, 9000, 61_000]) - (30_000 if rnd.random() < 0.02 else 0)
        kind = "aggTrade" if i > 2400 or rnd.random() < 0.3 else "trade"
        tr = {"e": kind, "E": t_ms, "T": t_ms, "s": "X", "p": f"{rnd.randrange(90, 110)}.{rnd.randrange(10)}",
              "q": f"0.{rnd.randrange(1, 999):03d}", "m": rnd.random() < 0.5}
        if kind == "trade":
            tr["t"] = tid
        else:
            tr.update(a=tid, f=tid, l=tid + rnd.randrange(3))
        tid += 1
        live.add(Event(i / 10, "X", kind, orjson.dumps(tr)))
        if rnd.random() < 0.1 or i > 2990:
            assert live.rows() == rebuild_rows(live.events), i
    assert live.use() == "aggTrade" and len(live.events) == 300


def test_the_ticker_stream_is_the_rest_24h_ticker_each_second():
    """``<symbol>@ticker`` events come once a second of tape time; each, read when the tape
    reaches it (as the server delivers it), is ``/ticker/24hr`` at that instant under the
    stream's keys, and decodes to a Ticker; ``E`` grows by about a second each time."""
    from recorder.journal.record import FRAME, Record, StreamInfo
    from state.decode import decoder_for

    m = BinanceMarket(seed=3, base_ms=1_700_000_000_000, history_minutes=1500)
    m.activate("FOOUSDT")
    dec = decoder_for(StreamInfo(1, "binance-usdm", "usdm", "wss://fstream.binance.com/market/ws/foousdt@ticker"))
    got = []
    while len(got) < 30:
        ev = m.next()
        if ev.kind != "ticker":
            continue
        d = orjson.loads(ev.data)
        rest = m.ticker_24h("FOOUSDT")
        keys = {"p": "priceChange", "P": "priceChangePercent", "w": "weightedAvgPrice", "c": "lastPrice",
                "Q": "lastQty", "o": "openPrice", "h": "highPrice", "l": "lowPrice", "v": "volume",
                "q": "quoteVolume", "O": "openTime", "C": "closeTime", "F": "firstId", "L": "lastId",
                "n": "count"}
        assert {k: d[k] for k in keys} == {k: rest[v] for k, v in keys.items()}
        assert (d["e"], d["s"]) == ("24hrTicker", "FOOUSDT") and d["E"] >= d["C"]
        [tk] = dec.decode(Record(len(got) + 1, 1, 1, FRAME, ev.data, None))
        assert (tk.last, tk.high, tk.volume, tk.change, tk.change_rate) == \
            (rest["lastPrice"], rest["highPrice"], rest["volume"], rest["priceChange"], rest["priceChangePercent"])
        got.append((ev.t, d["E"]))
    ts, es = zip(*got, strict=True)
    assert all(b - a == 1.0 for a, b in zip(ts, ts[1:], strict=False))
    assert all(900 <= b - a <= 1100 for a, b in zip(es, es[1:], strict=False))
    assert Decimal(orjson.loads(ev.data)["v"]) > 0  # history and stream minutes both count
