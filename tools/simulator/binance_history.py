"""Binance REST history: seeded 1m klines before a symbol's stream, and Binance's paging.

Binance has a kline for every minute (volume 0 when nothing traded), so the history has
no gaps. Its newest kline closes at the stream's first price; prices move in 0.1 steps.
``klines_page`` is the ``/klines`` rule: open times within ``[startTime, endTime]``; with
``startTime`` the oldest ``limit`` of them, otherwise the newest ``limit``; oldest first.
A client pages forwards by passing the last open time + 1 minute as the next ``startTime``.
"""

from __future__ import annotations

import bisect
import random
import zlib
from decimal import Decimal

TICK = Decimal("0.1")


def history_klines(symbol: str, *, seed: int, end_ms: int, price: Decimal, minutes: int) -> list[list]:
    """``minutes`` 12-field kline rows ending the minute before ``end_ms``, oldest first."""
    rng = random.Random(seed ^ zlib.crc32(symbol.encode()) ^ 0xB1A)
    end_minute = end_ms // 60_000 * 60_000
    rows = []
    close = price.quantize(TICK)
    for i in range(1, minutes + 1):
        start = end_minute - i * 60_000
        open_ = max(TICK, close - rng.choice((-2, -1, 0, 0, 1, 2)) * TICK)
        trades = rng.choice((0, 1, 3, 5, 8))
        if trades:
            high = max(open_, close) + rng.randint(0, 3) * TICK
            low = max(TICK, min(open_, close) - rng.randint(0, 3) * TICK)
            volume = Decimal(rng.randint(1, 20_000)) / 1000
            taker = (volume * Decimal(rng.randint(0, 100)) / 100).quantize(Decimal("0.001"))
        else:
            open_ = close
            high = low = close
            volume = taker = Decimal(0)
        mid = (open_ + close) / 2
        rows.append([start, str(open_), str(high), str(low), str(close), str(volume), start + 59_999,
                     str((volume * mid).quantize(Decimal("0.00001"))), trades, str(taker),
                     str((taker * mid).quantize(Decimal("0.00001"))), "0"])
        close = open_
    rows.reverse()
    return rows


def klines_page(rows: list[list], limit: int, start_ms: int | None, end_ms: int | None) -> list[list]:
    """The rows (oldest first) Binance answers for ``startTime``/``endTime``/``limit``."""
    opens = [r[0] for r in rows]
    lo = 0 if start_ms is None else bisect.bisect_left(opens, start_ms)
    hi = len(rows) if end_ms is None else bisect.bisect_right(opens, end_ms)
    if lo >= hi:
        return []
    return rows[lo:lo + limit] if start_ms is not None else rows[max(lo, hi - limit):hi]
