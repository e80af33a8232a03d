"""Page planning and merging for paged candles: pure, no I/O, no clock (times are epoch ms).

Every page is "the newest ``count`` candles opening before ``end_ms``" (Upbit's ``to`` +
``count``; Binance's ``endTime`` + ``limit``), optionally bounded below by ``start_ms``
(Binance's ``startTime``). Pages are planned on the interval's grid from an anchor, ``page``
periods apart, so they can all be in flight at once instead of each waiting for the oldest
time of the one before.

Why this never loses or doubles a candle at a page border: a page ending at ``end_ms`` holds
every candle in ``[oldest returned, end_ms)`` (Upbit leaves out periods without trades, so
with gaps it reaches further back than its slot, never less far). The next page ends where
this one's slot starts, which is at or after that oldest time: the pages' spans overlap or
touch, and merging by open time keeps one copy. A page that returns fewer than it asked
for has reached the start of the venue's history (``Span.lo`` None).

For a count, ``plan_back`` plans the first wave from the anchor; when minutes without
trades leave it short, ``covered_from`` says how far back the merged pages reach without a
hole, and the next wave (``plan_wave``, spaced by the share of periods that had a candle)
starts there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec

from query.market.types import Candle, age_ms

from .intervals import Interval

MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Page:
    """One request: the newest ``count`` candles opening in ``[start_ms, end_ms)``
    (``start_ms`` None: however far back ``count`` reaches)."""

    end_ms: int
    count: int
    start_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """What one answered page proves: every candle opening in ``[lo, hi)`` is known
    (``lo`` None: every candle before ``hi``; history starts inside it)."""

    lo: int | None
    hi: int


def plan_back(iv: Interval, end_ms: int, periods: int, page: int) -> list[Page]:
    """Pages covering the ``periods`` periods before period start ``end_ms``, newest first,
    ``page`` periods each (the oldest may hold fewer)."""
    out = []
    hi = end_ms
    while periods > 0:
        n = min(page, periods)
        out.append(Page(hi, n))
        hi = iv.shift(hi, -n)
        periods -= n
    return out


def plan_wave(iv: Interval, end_ms: int, need: int, page: int, density: float) -> list[Page]:
    """Pages for ``need`` more candles before period start ``end_ms`` on a market where about
    ``density`` (0..1] of the periods have a candle: each asks ``page`` (the last fewer), their
    ends about ``page / density`` periods apart, less a tenth, so that neighbours overlap
    rather than leave a hole (a hole costs one more wave, never a candle)."""
    stride = page if density >= 0.9 else max(page, int(page / max(density, 1e-3) * 0.9))
    out = []
    hi = end_ms
    while need > 0:
        n = min(page, need)
        out.append(Page(hi, n))
        hi = iv.shift(hi, -stride)
        need -= n
    return out


def plan_range(iv: Interval, start_ms: int, end_ms: int, page: int, *, lead: int = 0) -> list[Page]:
    """Pages covering ``[start_ms, end_ms)`` (period starts), newest first, each bounded
    below by its slot. ``lead`` > 0 also asks for that many periods before ``start_ms`` with
    an unbounded oldest page, which then reaches back to at least one candle before
    ``start_ms`` when the venue has one (the previous close a fill needs)."""
    pages = plan_back(iv, end_ms, iv.periods(start_ms, end_ms) + lead, page)
    out = []
    for i, p in enumerate(pages):
        oldest = i == len(pages) - 1
        out.append(p if lead and oldest else Page(p.end_ms, p.count, iv.shift(p.end_ms, -p.count)))
    return out


def span_of(p: Page, opens: Sequence[int]) -> Span:
    """What page ``p`` proves given the open times it answered."""
    if p.start_ms is not None:
        return Span(p.start_ms, p.end_ms)
    if len(opens) < p.count:
        return Span(None, p.end_ms)
    return Span(min(opens), p.end_ms)


def covered_from(anchor_ms: int, spans: Iterable[Span]) -> int | None:
    """How far back from ``anchor_ms`` the spans reach without a hole: every candle opening in
    ``[result, anchor_ms)`` is known (None: back to the start of history)."""
    todo = sorted(spans, key=lambda s: s.hi, reverse=True)
    cur = anchor_ms
    progress = True
    while progress:
        progress = False
        for s in todo:
            if s.hi >= cur and (s.lo is None or s.lo < cur):
                if s.lo is None:
                    return None
                cur = s.lo
                progress = True
    return cur


def newer(old: Candle, new: Candle) -> bool:
    """Whether ``new`` replaces ``old`` (the same period): a later last tick, or the same one
    received no earlier. A copy from an older page arriving late never undoes a newer one."""
    return (new.exch_ts_ns, new.recv_ts_ns) >= (old.exch_ts_ns, old.recv_ts_ns)


def merge(into: dict[int, Candle], candles: Iterable[Candle]) -> None:
    """Add ``candles`` to ``into`` (open time ns -> candle), one copy per period (``newer``)."""
    for c in candles:
        old = into.get(c.open_time_ns)
        if old is None or newer(old, c):
            into[c.open_time_ns] = c


def fill(candles: Sequence[Candle], iv: Interval, start_ms: int, end_ms: int, *,
         prev: Candle | None, now_ns: int) -> list[Candle]:
    """``candles`` (ascending, inside ``[start_ms, end_ms)``) with every period of that range
    they miss filled in: OHLC the previous close, volumes 0, ``fill=True``. Periods before
    the first known close (``prev`` or the first candle) stay absent: there is no price."""
    by_open = {c.open_time_ns: c for c in candles}
    out: list[Candle] = []
    t = start_ms
    while t < end_ms:
        c = by_open.get(t * MS)
        if c is not None:
            prev = c
            out.append(c)
        elif prev is not None:
            nxt = iv.shift(t, 1)
            px = prev.close
            out.append(msgspec.structs.replace(
                prev, interval=iv.name, open_time_ns=t * MS, open=px, high=px, low=px, close=px,
                volume=Decimal(0), quote_volume=Decimal(0), closed=now_ns >= nxt * MS,
                exch_ts_ns=0, age_ms=age_ms(now_ns, 0, prev.recv_ts_ns), fill=True))
        t = iv.shift(t, 1)
    return out
