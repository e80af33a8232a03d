"""Rolling trade features over record time: volume, VWAP, pressure, momentum, flags.

A ``TradeTape`` keeps, per symbol, the trades of the longest window as parallel
columns with running (cumulative) sums, in the compiled core: any window's totals are
two lookups and a subtraction at query time, and folding a trade is a few appends. Times are the
records' receive times (``recv_ts_ns``), never a clock. Sums are float64: features
are derived numbers; books and events keep the exact strings.
"""

from __future__ import annotations

import msgspec
import ticktape_core as _core

NS = 1_000_000_000


class WindowStats(msgspec.Struct, frozen=True):
    """Trades of one window ending at the query time."""

    seconds: int
    trades: int
    volume: float  # base volume
    quote_volume: float  # sum of price * size
    vwap: float | None
    buy_volume: float  # taker buys
    sell_volume: float
    pressure: float | None  # (buy - sell) / (buy + sell), -1..1
    momentum: float | None  # last price / first price in the window - 1
    large_trades: int  # trades with price * size >= the large-trade threshold


class TradeTape(_core.TradeTape):
    """Trades within ``horizon_ns`` of the newest one, with cumulative sums.

    The tape itself is the compiled core's (``ticktape::tape``, crate ``core/ticktape``):
    ``add(ts, price, size, buy, large)`` folds a trade, ``len()`` counts the entries held
    (evicted ones not yet compacted away included), ``head`` is the first entry still in
    the horizon and ``state()`` is ``[horizon_ns, head, ts, px, cv, cq, cb, cl]``, each
    column its little-endian bytes: a checkpoint of a million trades is one copy per
    column, not six million boxed numbers (that was a 300 MB spike in the recorder's soak).
    Its float sums are the ones the Python tape made, operation for operation, so
    digests did not change with the switch.
    """

    __slots__ = ()

    def window(self, now_ns: int, seconds: int) -> WindowStats:
        """Stats of trades with ``now - seconds < ts <= now`` (record time)."""
        return WindowStats(*self._window(now_ns, seconds))

    @classmethod
    def from_state(cls, s: list) -> TradeTape:
        """The tape ``state()`` described; ``ValueError`` for one that is not whole."""
        t = cls(s[0])
        t._restore(s)
        return t
