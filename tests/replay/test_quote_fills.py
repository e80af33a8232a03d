"""A symbol recorded with its top of book only (book tickers, no depth) fills at its quote:
a market order takes at most the quoted size at the quoted price, the rest is cancelled."""

from __future__ import annotations

import json
from decimal import Decimal

from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.engine import Engine
from replay.strategy import Strategy

T0 = 1_790_000_000_000_000_000


def journal(path):
    def bt(u, bid, bq, ask, aq):  # spot's combined stream: a book ticker has no "e"
        data = {"u": u, "s": "XUSDT", "b": bid, "B": bq, "a": ask, "A": aq}
        return json.dumps({"stream": "xusdt@bookTicker", "data": data}, separators=(",", ":")).encode()

    with JournalWriter(path, background=False) as w:
        sid = w.register_stream("binance-spot", url="wss://stream.binance.com:9443/stream", conn="c0",
                                channels=("bookTicker",))
        for i, frame in enumerate([bt(1, "1.00", "5", "1.01", "3"), bt(2, "1.02", "4", "1.03", "2"),
                                   bt(3, "1.04", "6", "1.05", "9")]):
            w.append(sid, "frame", frame, ts_ns=T0 + i * 1_000_000)
    with JournalReader(path) as r:
        return list(r.read()), r.streams()


def test_a_market_order_on_a_quote_only_symbol_takes_the_quoted_size_at_the_quote(tmp_path):
    records, streams = journal(tmp_path)

    class Trade3(Strategy):
        def on_event(self, ctx, event, market):
            # with no latency an order meets the quote of the record that prompted it
            if event.seq == 1:
                ctx.buy("binance-spot", "X-USDT", "5")  # 3 asked at 1.01
            elif event.seq == 2:
                ctx.sell("binance-spot", "XUSDT", "1")  # 4 bid at 1.02

    res = Engine(Trade3(), streams=streams).run(iter(records))
    assert [(f.side, f.price, f.qty) for f in res.fills] == [
        ("buy", Decimal("1.01"), Decimal("3")), ("sell", Decimal("1.02"), Decimal("1"))]
    buy = res.orders[0]
    assert buy.status == "cancelled" and buy.filled == 3 and "exhausted" in buy.reason
