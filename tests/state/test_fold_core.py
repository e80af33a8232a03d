"""The core's fold (``ticktape_core.Fold``, behind ``state.projector.Projector``) against the
Python fold it replaced (``tests/state/py_fold.py``), event for event and digest for digest.

Both folds are handed the same decoded events: each record goes to the core's projector
first, and the events it decoded (its output less the Gaps and Anomalies it derived) are
what the Python fold's decoder returns for that record. So this holds the fold itself (the
``_on_*`` checks, books, tapes, counters, stream times, Anomaly texts and their order) to
the old one, on every capture with damaged frames slipped in (NaN, 1e400, words, huge
integers, cut frames, repeats); the decoders are held to ``state.decode`` by the
``test_core_<venue>`` tests.
"""

from __future__ import annotations

import msgspec
import pytest

from state.events import Anomaly, Gap, Trade
from state.projector import Projector

from .py_fold import Projector as PyProjector
from .test_fuzz import NAMES, damaged_capture


class _Given:
    """A decoder returning the events it is given (those the core decoded)."""

    venue = ""

    def __init__(self) -> None:
        self.events: list = []

    def decode(self, rec) -> list:
        return list(self.events)


def reference(streams, **kw) -> tuple[PyProjector, _Given]:
    ref = PyProjector(streams, **kw)
    given = _Given()
    ref._decoder = lambda stream: given  # every stream: the events the core decoded
    return ref, given


def fold_both(streams, recs, **kw) -> tuple[Projector, PyProjector, int]:
    core = Projector(streams, **kw)
    ref, given = reference(streams, **kw)
    n = 0
    for rec in recs:
        got = core.apply(rec)
        given.events = [e for e in got if type(e) not in (Gap, Anomaly)]
        want = ref.apply(rec)
        assert got == want, (rec.seq, rec.payload[:200])
        n += len(got)
    return core, ref, n


@pytest.mark.parametrize("name", NAMES)
def test_the_core_folds_as_python_did(capture_journal, name):
    streams, recs = damaged_capture(capture_journal, name)
    # now and then a receive time earlier than its stream's last (recv_ts_backwards)
    recs = [msgspec.structs.replace(r, ts_ns=r.ts_ns - 10**9) if r.seq % 97 == 0 else r
            for r in recs]
    core, ref, n = fold_both(streams, recs, depth_levels=10)
    assert n > len(recs) // 2
    assert core.snapshot() == ref.snapshot() and core.digest() == ref.digest()
    assert core.counters == ref.counters and core.symbols() == ref.symbols()
    for key in core.symbols():
        a, b = core.symbol_state(*key), ref.symbol_state(*key)
        for attr in ("quote", "last_trade", "ticker", "klines", "recent_ids", "last_ordinal",
                     "last_large", "seq", "ts_ns", "quote_ok", "large_threshold", "norm"):
            assert getattr(a, attr) == getattr(b, attr), (key, attr)
        assert core.market(*key) == ref.market(*key)
    # one batch, and a restore half way, reach the same state
    batch = Projector(streams, depth_levels=10)
    batch.apply_many(recs)
    assert batch.digest() == core.digest()
    half = Projector(streams, depth_levels=10)
    half.apply_many(recs[: len(recs) // 2])
    again = Projector.restore(half.snapshot(), streams)
    again.apply_many(recs[len(recs) // 2:])
    assert again.digest() == core.digest()


@pytest.mark.parametrize("name", ["BINANCE_FUTURES", "OKX", "KUCOIN", "hftbacktest"])
def test_the_sync_only_fold_too(capture_journal, name):
    streams, recs = damaged_capture(capture_journal, name)
    core, ref, _ = fold_both(streams, recs, sync_only=True)
    assert core.digest() == ref.digest()
    assert core.books_needing_snapshot() == ref.books_needing_snapshot()


def test_trade_prices_and_sizes_are_read_as_python_reads_them():
    """float() takes whitespace, underscores and other scripts' digits; an exact price float
    cannot read ("1e-400") still counts, as does one whose float is infinite."""
    streams = {}
    kw = dict(venue="x", symbol="S", norm="S-USDT", exch_ts_ns=0, recv_ts_ns=1, seq=1)
    prices = [" 1_000.5 ", "\u0661\u0662", "1e-400", "1e400", "1__0", "nan", "-1", "0", "abc",
              "1e5", "+2.", ".5"]
    sizes = ["1", " 2 ", "0", "-1", "inf", "x", "1_0", "1e-400"]
    trades = [Trade(**kw, price=p, size=s, side="buy", trade_id=f"{i}")
              for i, (p, s) in enumerate((p, s) for p in prices for s in sizes)]
    core, ref, _ = fold_given(streams, trades)
    assert core.digest() == ref.digest()


def test_generated_prices_and_sizes_fold_alike():
    """Strings drawn from the characters float() and Decimal() treat specially: every trade,
    book ticker, ticker and kline folds to the same events and state both ways."""
    import random

    from state.events import BookTicker, Kline, Ticker

    rng = random.Random(16)
    chars = "0123456789" * 3 + "._eE+- \t_naifNAI\u0661\u00a0x"
    kw = dict(venue="x", symbol="S", norm="S-USDT", exch_ts_ns=0, recv_ts_ns=1, seq=1)
    events = []
    for i in range(3000):
        a, b = ("".join(rng.choice(chars) for _ in range(rng.randint(0, 6))) for _ in range(2))
        a = rng.choice([a, "1" + a, a + "5", "2"])
        kind = i % 4
        if kind == 0:
            events.append(Trade(**kw, price=a, size=b, side="sell", trade_id=str(i % 70)))
        elif kind == 1:
            events.append(BookTicker(**kw, bid_px=a, bid_sz="1", ask_px=b, ask_sz="1"))
        elif kind == 2:
            events.append(Ticker(**kw, last=a, bid=a, ask=b, mark=b))
        else:
            events.append(Kline(**kw, interval="1m", start_ns=i, open=a, high=a, low=b,
                                close=rng.choice([a, b]), volume="1"))
    core, ref, _ = fold_given({}, events)
    assert core.digest() == ref.digest()


def fold_given(streams, events) -> tuple[Projector, PyProjector, None]:
    """Events of an unknown venue's stream, as a Python decoder would hand them over."""
    from recorder.journal.record import FRAME, Record

    core = Projector(streams, large_trade_quote={"USDT": 5})
    ref, given = reference(streams, large_trade_quote={"USDT": 5})
    for i, ev in enumerate(events, 1):
        ev = msgspec.structs.replace(ev, seq=i, recv_ts_ns=i)
        given.events = [ev]
        core._decoders[9] = given  # the stream's Python decoder (no compiled one: unknown)
        rec = Record(i, i, 9, FRAME, b"", None)
        assert core.apply(rec) == ref.apply(rec)
    return core, ref, None



def test_prev_close_change_and_rate_merge_into_the_ticker_dict_alike():
    """The three fields a ticker gained merge as the others do (a field not sent is kept),
    under the names ``prev_close``, ``change`` and ``change_rate``; a state restored from a
    checkpoint without them gains them with the next ticker that sends them."""
    from state.events import Ticker

    kw = dict(venue="x", symbol="S", norm="S-USDT", exch_ts_ns=0, recv_ts_ns=1, seq=1)
    events = [Ticker(**kw, last="100", open="90"),
              Ticker(**kw, last="101", prev_close="95", change="6", change_rate="0.0631578947"),
              Ticker(**kw, last="102", volume="7"),
              Ticker(**kw, change="-1.5", change_rate="-1.47")]
    core, ref, _ = fold_given({}, events[:1])
    [key] = core.symbols()
    old = core.snapshot()
    assert "prev_close" not in core.symbol_state(*key).ticker
    core, ref, _ = fold_given({}, events)
    assert core.digest() == ref.digest()
    want = {"last": "102", "open": "90", "prev_close": "95", "change": "-1.5", "change_rate": "-1.47",
            "volume": "7"}
    assert core.symbol_state(*key).ticker == ref.symbol_state(*key).ticker == want
    assert list(core.symbol_state(*key).ticker) == ["last", "open", "prev_close", "change", "change_rate",
                                                    "volume"]
    again = Projector.restore(core.snapshot())
    assert again.symbol_state(*key).ticker == want
    before = Projector.restore(old)  # a blob from before the fields: restores, then merges them
    assert before.symbol_state(*key).ticker == {"last": "100", "open": "90"}
    from recorder.journal.record import FRAME, Record

    given = _Given()
    given.events = [msgspec.structs.replace(events[1], seq=2, recv_ts_ns=2)]
    before._decoders[9] = given
    before.apply(Record(2, 2, 9, FRAME, b"", None))
    assert before.symbol_state(*key).ticker == {"last": "101", "open": "90", "prev_close": "95",
                                                "change": "6", "change_rate": "0.0631578947"}
