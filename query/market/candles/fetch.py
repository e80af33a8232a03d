"""``fetch_candles``: a count or a range of candles from a venue's REST API, in concurrent pages.

Pages are planned up front (``paging``), sent at most ``concurrency`` at a time, each through
``RestClient.get`` (whose limiter spaces them within the venue's budget), merged ascending
with one copy per period, and cut to exactly the newest ``count`` or the range. A count
short because of periods without trades (Upbit sends no candle for them) fetches further
back in another wave. ``concurrency=1`` sends the same pages one after another: the
sequential baseline of ``tools/bench/market.py`` (1200 Upbit candles: ``count=1200`` with
``concurrency=8`` against ``concurrency=1``, one ``Limiter`` each; on loopback add latency,
as ``tests/query/market/test_candles_fetch.py``'s ``SlowTransport`` does, or the
simulator's own work per page is all that is measured).

``cache`` (optional) is the disk cache of completed candles::

    get(venue, symbol, interval, start_ns, end_ns) -> list[Candle] | None  # None: not all held
    put(candles, covered=(from_ns, to_ns))             # closed candles only, all of [from, to)

It is asked for the closed part of the request (a count: as many periods as the count); after
any REST page, the closed candles known without a hole go back in with the ``[from, to)`` they
cover: ascending, every candle the venue has in it (periods without one had no trades), the
forming candle never. Some may be ones ``get`` answered: ``put`` must take a candle twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec

from query.market.errors import BadRequestError
from query.market.limits import Priority
from query.market.normalize import binance_klines, parse, upbit_candles
from query.market.rest import RestClient, check_venue
from query.market.types import Candle

from .intervals import PAGE, Interval, check_count
from .intervals import interval as interval_of
from .paging import MS, Page, Span, covered_from, merge, plan_back, plan_range, plan_wave, span_of
from .paging import fill as fill_periods

Time = datetime | int  # an aware datetime, or epoch ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UPBIT_GAPS = 8  # the first wave's allowance for Upbit's periods without trades: one in 8


class CandleCache(Protocol):
    """What ``fetch_candles`` needs of a candle cache (``candles.store`` provides one)."""

    def get(self, venue: str, symbol: str, interval: str, start_ns: int,
            end_ns: int) -> list[Candle] | None: ...

    def put(self, candles: Sequence[Candle], *, covered: tuple[int, int]) -> None: ...


@dataclass(frozen=True, slots=True)
class CandleResult:
    """The candles (ascending by open time, one per period) and how they were got.

    ``requests``: REST pages fetched (0 when the cache held everything); ``source``: ``rest``,
    ``cache`` or ``cache+rest``; ``complete``: False when the venue's history began before
    ``count`` candles were found (then ``candles`` holds all there are).
    """

    candles: tuple[Candle, ...]
    requests: int
    source: str
    complete: bool = True


def _ms(t: Time, what: str) -> int:
    """Epoch ms, rounded up (a candle opens on a whole ms, so ``>= t`` stays the same)."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise BadRequestError(f"{what} is a naive datetime: give a timezone (UTC) or epoch ns")
        t = (t - _EPOCH) // timedelta(microseconds=1) * 1000  # exact, unlike timestamp()'s float
    elif isinstance(t, bool) or not isinstance(t, int):
        raise BadRequestError(f"{what} must be an aware datetime or epoch ns, not {t!r}")
    return -(-t // MS)


class _Job:
    """One call's pages: what to ask, how to read the answers, how many were asked."""

    def __init__(self, rest: RestClient, iv: Interval, native: str, priority: Priority,
                 concurrency: int, now_ns: int) -> None:
        self.rest, self.iv, self.native = rest, iv, native
        self.priority, self.concurrency, self.now_ns = priority, concurrency, now_ns
        self.requests = 0

    def params(self, p: Page) -> dict[str, object]:
        if self.iv.venue == "upbit":
            to = datetime.fromtimestamp(p.end_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"market": self.native, "count": p.count, "to": to}
        return {"symbol": self.native, "interval": self.iv.param, "limit": p.count,
                "startTime": p.start_ms, "endTime": p.end_ms - 1}

    def decode(self, body: bytes, recv_ns: int) -> list[Candle]:
        iv = self.iv
        if iv.venue == "upbit":
            out = upbit_candles(parse(body, "upbit candle"), recv_ns=recv_ns, now_ns=self.now_ns,
                                interval=iv.name)
            if not iv.span_ms:  # months: normalize cannot tell when one closes; the grid can
                out = [msgspec.structs.replace(c, closed=self.now_ns >= iv.shift(c.open_time_ns // MS, 1) * MS)
                       for c in out]
            return out
        return binance_klines(iv.venue, self.native, iv.name, parse(body, f"{iv.venue} kline"),
                              recv_ns=recv_ns, now_ns=self.now_ns)

    async def pages(self, pages: Sequence[Page]) -> list[tuple[Page, list[Candle]]]:
        """Every page's candles, at most ``concurrency`` requests in flight; the first error
        cancels the rest and is raised as is."""
        sem = asyncio.Semaphore(self.concurrency)

        async def one(p: Page) -> tuple[Page, list[Candle]]:
            async with sem:
                reply = await self.rest.get(self.iv.venue, self.iv.path, self.params(p),
                                            priority=self.priority)
                self.requests += 1
            return p, [c for c in self.decode(reply.body, reply.recv_ns) if c.open_time_ns < p.end_ms * MS]

        tasks = [asyncio.ensure_future(one(p)) for p in pages]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


async def fetch_candles(rest: RestClient, venue: str, symbol: str, interval: str, *,
                        count: int | None = None, start: Time | None = None, end: Time | None = None,
                        fill: bool = False, priority: Priority = Priority.LOW, concurrency: int = 8,
                        now_ns: int | None = None, cache: CandleCache | None = None) -> CandleResult:
    """The newest ``count`` candles opening before ``end`` (default: now, the forming one
    included), or every candle opening in ``[start, end)``; ascending, one per period.

    ``symbol`` is the venue's own (``KRW-BTC``, ``BTCUSDT``). Periods without trades are
    absent, or with ``fill=True`` filled in (``Candle.fill``) up to the last closed period,
    ``count`` then counting periods. ``now_ns`` is the time the answer is for (default: the
    client's clock). Raises ``UnknownVenueError``/``UnknownIntervalError`` (naming the valid
    ones), ``BadRequestError`` for a count outside 1..``MAX_COUNT``, a bad range or a bad
    ``concurrency``, and whatever ``RestClient.get`` raises.
    """
    iv = interval_of(check_venue(venue), interval)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise BadRequestError(f"concurrency must be an integer >= 1, not {concurrency!r}")
    now_ns = rest.clock() if now_ns is None else now_ns
    now_ms = now_ns // MS
    job = _Job(rest, iv, symbol.upper(), priority, concurrency, now_ns)
    forming_end = iv.shift(iv.floor(now_ms), 1)  # the end of the forming period
    if count is not None:
        if start is not None:
            raise BadRequestError("give count (and optionally end) or start and end, not count and start")
        check_count(count)
        anchor = forming_end if end is None else iv.ceil(_ms(end, "end"))
        candles, complete, cached, sure, covered = await _by_count(job, anchor, count, fill, cache)
    else:
        if start is None:
            raise BadRequestError("give count=N, or start= (and end=) for a range")
        lo = iv.ceil(_ms(start, "start"))
        hi = forming_end if end is None else iv.ceil(_ms(end, "end"))
        if hi <= lo:
            raise BadRequestError(f"the range [{start!r}, {end!r}) holds no period of {iv.name}")
        check_count(iv.periods(lo, hi), "the range's periods")
        candles, complete, cached, sure, covered = await _by_range(job, lo, hi, fill, cache)
    if cache is not None and job.requests and covered is not None and covered[0] < covered[1]:
        cache.put([c for c in sure if covered[0] <= c.open_time_ns < covered[1]], covered=covered)
    source = "cache" if cached and not job.requests else "cache+rest" if cached else "rest"
    return CandleResult(tuple(candles), job.requests, source, complete)


def _last_closed_end(iv: Interval, now_ms: int) -> int:
    """The end of the newest closed period: every period opening before it is over."""
    return iv.floor(now_ms)


async def _by_count(job: _Job, anchor: int, count: int, want_fill: bool,
                    cache: CandleCache | None) -> tuple[list[Candle], bool, bool, list[Candle],
                                                        tuple[int, int] | None]:
    """(candles, complete, whether the cache answered part, the closed candles known without
    a hole and the ``[from, to)`` ns they cover: what goes back into the cache)."""
    iv = job.iv
    page = PAGE[iv.venue]
    known: dict[int, Candle] = {}
    spans: list[Span] = []
    closed_end = min(anchor, _last_closed_end(iv, job.now_ns // MS))
    # With fill, count is periods, ending at most one period before the anchor.
    pages = plan_back(iv, anchor, _first_wave(iv, count + want_fill), page)
    cached = False
    if cache is not None:
        # First as far back as the first wave asks (Upbit: an allowance for periods without
        # trades), so a count is usually one read of the cache; then just the count's periods.
        hit = None
        for lo in dict.fromkeys((iv.shift(anchor, -_first_wave(iv, count)), iv.shift(anchor, -count))):
            hit = cache.get(iv.venue, job.native, iv.name, lo * MS, closed_end * MS) if lo < closed_end else None
            if hit is not None:
                break
        if hit is not None:
            cached = True
            merge(known, hit)
            spans.append(Span(lo, closed_end))
            n = iv.periods(closed_end, anchor)
            pages = [Page(anchor, n, closed_end)] if n else []
    low: int | None = anchor
    while True:
        for p, got in await job.pages(pages) if pages else ():
            merge(known, got)
            spans.append(span_of(p, [c.open_time_ns // MS for c in got]))
        before, low = low, covered_from(anchor, spans)
        inside = sum(1 for t in known if low is None or t >= low * MS)
        need = _need(iv, inside, known, low, anchor, count, want_fill, job.now_ns)
        if not need or low is None:
            break
        if pages and before is not None and low >= before:
            break  # no progress (a venue answering pages it should not): stop rather than loop
        further = iv.shift(low, -need)
        hit = (cache.get(iv.venue, job.native, iv.name, further * MS, low * MS)
               if cache is not None and low <= closed_end else None)
        if hit is not None:  # the cache holds the older periods the count still needs
            cached = True
            merge(known, hit)
            spans.append(Span(further, low))
            pages = []
            continue
        if want_fill:  # need is periods: down to the one before the oldest wanted
            pages = plan_back(iv, low, need, page)
        else:  # need is candles: space the pages by how many periods had one so far
            pages = plan_wave(iv, low, need, page, inside / max(1, iv.periods(low, anchor)))
    rows = sorted(known.values(), key=lambda c: c.open_time_ns)
    sure = [c for c in rows if c.closed and (low is None or c.open_time_ns >= low * MS)]
    # Every period from ``low`` to the last closed one was asked of the venue (or the cache).
    covered = (low * MS, closed_end * MS) if low is not None else None
    if want_fill:
        end = _fill_end(iv, rows, anchor, job.now_ns)
        first = iv.shift(end, -count)
        prev = next((c for c in reversed(rows) if c.open_time_ns < first * MS), None)
        out = fill_periods([c for c in rows if first * MS <= c.open_time_ns < end * MS], iv, first, end,
                   prev=prev, now_ns=job.now_ns)
        return out, len(out) == count, cached, sure, covered
    return rows[-count:], len(rows) >= count, cached, sure, covered


def _first_wave(iv: Interval, periods: int) -> int:
    """Periods the first wave asks for: Upbit sends no candle for a period without trades, so
    a count past one page gets an allowance of one in ``UPBIT_GAPS`` (a second wave, one more
    round trip, only when the market was quieter than that)."""
    if iv.venue == "upbit" and periods > PAGE["upbit"]:
        return periods + periods // UPBIT_GAPS
    return periods


def _fill_end(iv: Interval, rows: Sequence[Candle], anchor: int, now_ns: int) -> int:
    """Where a filled series ends: after the newest candle, or the last closed period when
    that is later (periods without trades since then are filled), never past ``anchor``."""
    newest = iv.shift(rows[-1].open_time_ns // MS, 1) if rows else 0
    return min(anchor, max(newest, _last_closed_end(iv, now_ns // MS)))


def _need(iv: Interval, inside: int, known: dict[int, Candle], low: int | None, anchor: int,
          count: int, want_fill: bool, now_ns: int) -> int:
    """How many more periods to fetch back from ``low`` (0: done)."""
    if low is None:
        return 0
    if not want_fill:
        return max(0, count - inside)
    rows = sorted(known.values(), key=lambda c: c.open_time_ns)
    first = iv.shift(_fill_end(iv, rows, anchor, now_ns), -count)
    if any(t <= first * MS for t in known):
        return 0  # the price before the oldest wanted period is known
    return iv.periods(first, low) + 1


async def _by_range(job: _Job, lo: int, hi: int, want_fill: bool,
                    cache: CandleCache | None) -> tuple[list[Candle], bool, bool, list[Candle],
                                                        tuple[int, int] | None]:
    """As ``_by_count``; every page here is bounded by its slot or reaches back from the
    range, so all that is known is without a hole."""
    iv = job.iv
    page = PAGE[iv.venue]
    known: dict[int, Candle] = {}
    rest_lo, cached = lo, False
    closed_end = _last_closed_end(iv, job.now_ns // MS)
    if cache is not None and lo < closed_end:
        hit = cache.get(iv.venue, job.native, iv.name, lo * MS, min(hi, closed_end) * MS)
        if hit is not None:
            cached = True
            merge(known, hit)
            rest_lo = min(hi, closed_end)
    pages = plan_range(iv, rest_lo, hi, page, lead=int(want_fill and not cached)) if rest_lo < hi else []
    if want_fill and cached and lo * MS not in known:
        pages.append(Page(lo, 1))  # the close before the range, for its first periods
    for _, got in await job.pages(pages) if pages else ():
        merge(known, got)
    rows = sorted(known.values(), key=lambda c: c.open_time_ns)
    sure = [c for c in rows if c.closed]
    covered = (lo * MS, min(hi, closed_end) * MS)  # the range, up to its last closed period
    inside = [c for c in rows if lo * MS <= c.open_time_ns < hi * MS]
    if want_fill:
        end = min(hi, max(iv.shift(inside[-1].open_time_ns // MS, 1) if inside else lo,
                          _last_closed_end(iv, job.now_ns // MS)))
        prev = next((c for c in reversed(rows) if c.open_time_ns < lo * MS), None)
        inside = fill_periods(inside, iv, lo, end, prev=prev, now_ns=job.now_ns)
    return inside, True, cached, sure, covered
