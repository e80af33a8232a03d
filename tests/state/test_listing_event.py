"""A ``listing`` mark is a ``Listing`` event: in the projection (the core's fold and the
Python reference alike), and to a strategy in both backtest loops, whatever its symbol filter;
any other mark, and a listing mark that is not whole, is no event."""

from __future__ import annotations

import json

import pytest

from recorder.journal.reader import JournalReader
from recorder.journal.writer import JournalWriter
from replay.engine import Engine, EngineConfig
from replay.strategy import Strategy
from state.events import Listing, Trade
from state.projector import Projector
from tests.state.py_fold import Projector as PyProjector

T0 = 1_790_000_000_000_000_000
LISTING = {"mark": "listing", "symbol": "DEEP", "name": "딥북", "markets": ["KRW", "USDT"],
           "notice_id": 5055, "title": "딥북(DEEP) KRW, USDT 마켓 디지털 자산 추가",
           "announced_at_ns": T0 - 300_000_000, "detected_at_ns": T0, "latency_ms": 300.0,
           "signal": "notice"}


def journal(path):
    trade = json.dumps({"e": "trade", "E": 1, "s": "DEEPUSDT", "t": 1, "p": "0.1", "q": "5",
                        "T": 1, "m": False}).encode()
    with JournalWriter(path, background=False) as w:
        api = w.register_stream("upbit", url="https://api.upbit.com", conn="upbit.api", channels=("rest",))
        ws = w.register_stream("binance-spot", url="wss://stream.binance.com:9443/ws", conn="c0",
                               channels=("trade",))
        w.append(ws, "frame", trade, ts_ns=T0 - 1000)
        w.append(api, "mark", json.dumps(LISTING, sort_keys=True).encode(), ts_ns=T0)
        w.append(api, "mark", json.dumps({"mark": "universe", "listed": ["X"]}, sort_keys=True).encode(),
                 ts_ns=T0 + 1)
        bad = {**LISTING, "announced_at_ns": "soon"}
        w.append(api, "mark", json.dumps(bad, sort_keys=True).encode(), ts_ns=T0 + 2)
        w.append(ws, "frame", trade.replace(b'"t": 1', b'"t": 2'), ts_ns=T0 + 3)
    with JournalReader(path) as r:
        return list(r.read()), r.streams()


@pytest.mark.parametrize("cls", [Projector, PyProjector])
def test_a_listing_mark_is_a_listing_event_and_other_marks_are_none(tmp_path, cls):
    records, streams = journal(tmp_path)
    p = cls(streams)
    events = [p.apply(r) for r in records]
    (ev,) = events[1]
    assert ev == Listing("upbit", "DEEP", "DEEP", T0 - 300_000_000, T0, records[1].seq,
                         ("KRW", "USDT"), 5055, LISTING["title"], T0 - 300_000_000, T0, "딥북")
    assert events[2] == [] and events[3] == []
    assert type(events[0][0]) is Trade and type(events[4][0]) is Trade


@pytest.mark.parametrize("core", [True, False])
@pytest.mark.parametrize("symbols", [None, frozenset({"BTCUSDT"})])
def test_a_strategy_hears_the_listing_with_no_market_whatever_its_filter(tmp_path, core, symbols):
    records, streams = journal(tmp_path)
    seen = []

    class Watch(Strategy):
        def on_event(self, ctx, event, market):
            seen.append((type(event).__name__, market, ctx.now_ns))

    engine = Engine(Watch(), config=EngineConfig(symbols=symbols), streams=streams)
    engine.core_loop = core
    engine.run(iter(records))
    assert ("Listing", None, T0) in seen
    assert sum(name == "Trade" for name, _, _ in seen) == (2 if symbols is None else 0)
