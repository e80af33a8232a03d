"""The memory ticker (``from_market_state`` over the projection's ticker dict) against the
REST one of the same instant, field by field (issue 17: "the same whatever the source"),
now that the projection keeps ``prev_close``, ``change`` and ``change_rate``."""

from __future__ import annotations

from query.market.normalize import binance_ticker, from_market_state, parse, upbit_ticker
from recorder.journal.record import FRAME, Record, StreamInfo
from state.projector import Projector
from tools.simulator.binance_market import BinanceMarket
from tools.simulator.upbit_market import UpbitMarket, to_default

FIELDS = ("venue", "symbol", "norm", "last", "bid", "ask", "high", "low", "volume", "quote_volume",
          "prev_close", "change", "change_rate")


def fields(t) -> dict:
    return {f: getattr(t, f) for f in FIELDS}


def test_upbit_memory_ticker_equals_the_rest_ticker_of_the_same_instant():
    """Simulated Upbit tickers (SIMPLE and DEFAULT frames) folded, then compared, at each
    ticker, with ``/v1/ticker`` answered then (its last ticker in DEFAULT names)."""
    m = UpbitMarket(seed=2, base_ms=1_700_000_000_000)
    m.activate("KRW-BTC")
    streams = {1: StreamInfo(1, "upbit", "spot", "wss://api.upbit.com/websocket/v1")}
    p = Projector(streams)
    seq, checked = 0, 0
    while checked < 40:
        ev = m.next()
        if ev.kind != "ticker":
            continue
        seq += 1
        payload = ev.data if seq % 2 else to_default(ev.data)
        p.apply(Record(seq, seq, 1, FRAME, payload, {"bin": True}))
        memory, _ = from_market_state(p.market("upbit", "KRW-BTC"), now_ns=seq)
        [row] = parse(m.ticker_body(["KRW-BTC"]), "upbit ticker")
        rest = upbit_ticker(row, recv_ns=seq, now_ns=seq)
        assert fields(memory) == fields(rest)
        assert None not in (memory.prev_close, memory.change, memory.change_rate)
        checked += 1


def test_binance_memory_ticker_equals_the_rest_ticker_of_the_same_instant():
    """A simulated ``@ticker`` stream folded, compared at each event with ``/ticker/24hr``
    then: the change rate the projection keeps as Binance's per cent is a fraction in both."""
    m = BinanceMarket(seed=4, base_ms=1_700_000_000_000, history_minutes=100)
    m.activate("FOOUSDT")
    url = "wss://fstream.binance.com/market/ws/foousdt@ticker"
    p = Projector({1: StreamInfo(1, "binance-usdm", "usdm", url)})
    seq = 0
    while seq < 20:
        ev = m.next()
        if ev.kind != "ticker" or not ev.data:
            continue
        seq += 1
        p.apply(Record(seq, seq, 1, FRAME, ev.data, None))
        memory, _ = from_market_state(p.market("binance-usdm", "FOOUSDT"), now_ns=seq)
        rest = binance_ticker("binance-usdm", m.ticker_24h("FOOUSDT"), recv_ns=seq, now_ns=seq)
        assert fields(memory) == fields(rest)
        assert memory.change_rate is not None and abs(memory.change_rate) < 1
