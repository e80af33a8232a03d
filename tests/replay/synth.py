"""Tiny hand-made journals whose books can be checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

from recorder.journal import FRAME, REST
from recorder.journal.writer import JournalWriter

T0 = 1_700_000_000_000_000_000  # ns; 2023-11-14T22:13:20Z
MS = 1_000_000
DEPTH_URL = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT"


def depth(U: int, u: int, pu: int, bids=(), asks=(), E: int = 0) -> bytes:
    data = {"e": "depthUpdate", "E": E, "T": E, "s": "BTCUSDT", "U": U, "u": u, "pu": pu,
            "b": [list(x) for x in bids], "a": [list(x) for x in asks]}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}).encode()


def trade(tid: int, price: str, qty: str, taker_sold: bool = True) -> bytes:
    data = {"e": "trade", "E": 0, "T": 0, "s": "BTCUSDT", "t": tid, "p": price, "q": qty,
            "m": taker_sold}
    return json.dumps({"stream": "btcusdt@trade", "data": data}).encode()


def snapshot(last_id: int, bids, asks) -> bytes:
    return json.dumps({"lastUpdateId": last_id, "E": 0, "T": 0, "bids": [list(x) for x in bids],
                       "asks": [list(x) for x in asks]}).encode()


# The book, record by record (times in ms after T0):
#   1 @1000 REST snapshot id 100: bids 100.0x1 99.5x2 99.0x5 | asks 100.5x1 101.0x2 102.0x5
#   2 @1100 U=99  u=105 pu=98 : ask 100.5 -> 0.5                (brackets the snapshot)
#   3 @1200 U=106 u=110 pu=105: ask 100.5 removed, ask 100.8x0.7 added
#   4 @1300 U=111 u=115 pu=110: bid 100.2x1.5 added
#   5 @1400 trade 99.8 x 0.4 (taker sold)
#   6 @1500 U=120 u=125 pu=118: a pu break (expected 115): Gap, book invalid
#   7 @1600 U=126 u=130 pu=125: buffered (book invalid)
#   8 @1700 trade 103.0 x 0.2 (taker bought)
BOOK_RECORDS = [
    (1000, "rest", snapshot(100, [("100.0", "1"), ("99.5", "2"), ("99.0", "5")],
                            [("100.5", "1"), ("101.0", "2"), ("102.0", "5")])),
    (1100, "ws", depth(99, 105, 98, asks=[("100.5", "0.5")])),
    (1200, "ws", depth(106, 110, 105, asks=[("100.5", "0"), ("100.8", "0.7")])),
    (1300, "ws", depth(111, 115, 110, bids=[("100.2", "1.5")])),
    (1400, "ws", trade(1, "99.8", "0.4")),
    (1500, "ws", depth(120, 125, 118, bids=[("100.3", "1")])),
    (1600, "ws", depth(126, 130, 125, asks=[("100.9", "1")])),
    (1700, "ws", trade(2, "103.0", "0.2", taker_sold=False)),
]


def write_binance(data_dir: Path, records=BOOK_RECORDS) -> Path:
    """A Binance USD-M journal: one WS stream (combined depth + trade) and one REST stream."""
    w = JournalWriter(data_dir, background=False, durability="os")
    try:
        ws = w.register_stream("binance-usdm", market="usdm", conn="synth.ws", opened_ns=T0,
                               url="wss://fstream.binance.com/stream?streams=btcusdt@depth@100ms/btcusdt@trade")
        rest = w.register_stream("binance-usdm", market="usdm", url=DEPTH_URL, conn="synth.rest",
                                 opened_ns=T0)
        for ms, conn, payload in records:
            if conn == "rest":
                w.append(rest, REST, payload, ts_ns=T0 + ms * MS, meta={"url": DEPTH_URL})
            else:
                w.append(ws, FRAME, payload, ts_ns=T0 + ms * MS)
    finally:
        w.close()
    return data_dir


def upbit_book(code: str, bid: int | str, ask: int | str, size: str, ms: int) -> bytes:
    unit = {"ask_price": ask, "bid_price": bid, "ask_size": size, "bid_size": size}
    return json.dumps({"type": "orderbook", "code": code, "timestamp": ms, "total_ask_size": size,
                       "total_bid_size": size, "orderbook_units": [unit], "stream_type": "REALTIME"}
                      ).encode().replace(b'"' + size.encode() + b'"', size.encode())


def kimchi_prices(step: int, krw_per_usdt: int) -> tuple[int, int]:
    """(BTC mid in USDT, KRW-BTC mid) at step ``step`` (every 500 ms) of ``write_kimchi``."""
    import math

    t = step / 2
    usdt = 60000 + round(100 * math.sin(t / 7))
    prem = 0.02 + 0.01 * math.sin(2 * math.pi * t / 40)
    return usdt, int(round(usdt * krw_per_usdt * (1 + prem), -3))


def write_kimchi(data_dir: Path, seconds: int = 120, krw_per_usdt: int = 1400) -> Path:
    """Upbit KRW-BTC and KRW-USDT books and a Binance USD-M BTCUSDT book, every 500 ms.

    BTC is 60000 USDT +- 100; Upbit KRW-BTC carries a premium of 2% +- 1% (a 40 s
    sine) at ``krw_per_usdt`` (Upbit KRW-USDT quoted 1 KRW either side of it).
    """
    w = JournalWriter(data_dir, background=False, durability="os")
    try:
        up = w.register_stream("upbit", market="spot", url="wss://api.upbit.com/websocket/v1",
                               conn="synth.upbit", opened_ns=T0)
        ws = w.register_stream("binance-usdm", market="usdm", conn="synth.ws", opened_ns=T0,
                               url="wss://fstream.binance.com/stream?streams=btcusdt@depth@100ms")
        rest = w.register_stream("binance-usdm", market="usdm", url=DEPTH_URL, conn="synth.rest",
                                 opened_ns=T0)
        last_id = 1000
        bid = ask = None
        for step in range(seconds * 2):
            ms = 500 * step
            usdt, krw = kimchi_prices(step, krw_per_usdt)
            nb, na = f"{usdt - 0.5:.1f}", f"{usdt + 0.5:.1f}"
            if step == 0:
                w.append(rest, REST, snapshot(last_id, [(nb, "5")], [(na, "5")]),
                         ts_ns=T0 + ms * MS, meta={"url": DEPTH_URL})
            else:
                bids = ([(bid, "0")] if bid != nb else []) + [(nb, "5")]
                asks = ([(ask, "0")] if ask != na else []) + [(na, "5")]
                w.append(ws, FRAME, depth(last_id, last_id + 5, last_id, bids, asks),
                         ts_ns=T0 + ms * MS + 1)
                last_id += 5
            bid, ask = nb, na
            w.append(up, FRAME, upbit_book("KRW-USDT", krw_per_usdt - 1, krw_per_usdt + 1, "1000", ms),
                     ts_ns=T0 + ms * MS + 2)
            w.append(up, FRAME, upbit_book("KRW-BTC", krw - 1000, krw + 1000, "2", ms),
                     ts_ns=T0 + ms * MS + 3)
    finally:
        w.close()
    return data_dir
