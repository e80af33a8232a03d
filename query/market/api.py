"""``MarketData``: one object for ticker, order book, trades and candles, from memory when it
can, from REST when it must.

    async with MarketData() as md:                       # in-process connections
        t = await md.ticker("upbit", "KRW-BTC")          # or "BTC-KRW"
        book = await md.orderbook("binance-usdm", "BTC-USDT-PERP", depth=10)
        bars = await md.candles("upbit", "KRW-BTC", "1m", count=1000)
        async for t in md.subscribe("ticker", "upbit", ["KRW-BTC", "KRW-ETH"]):
            ...

Routing, per call (``Routing`` holds the knobs):

1. **memory**: a symbol with live state in this process (``MarketData()`` runs its own
   connections, journaled) or in a ``recorder run`` on this machine
   (``MarketData(attach=DATA_DIR)``) answers from memory when its connection is up, its state
   was received within ``stale_ms`` and (for a book) the book is valid;
2. otherwise **REST**, through the venue's limiter by priority, behind a circuit breaker per
   endpoint group (each change journaled as a ``mark``), each reply journaled before it is
   read; identical requests in flight share one call and a short TTL per kind keeps a
   second ask in the same second from going out again;
3. a symbol asked ``subscribe_after`` times within ``subscribe_window_s`` is subscribed on the
   fly (a new connection for it; the others are untouched), so later asks come from memory.

``max_age_ms=`` refuses older data: memory that old falls through to REST, and a REST answer
that old raises ``StaleDataError``. Every answer says its ``source`` and ``age_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import quotes
from .breaker import BreakerPolicy, Breakers
from .candles import CandleCache, CandleResult, fetch_candles
from .candles import interval as candle_interval
from .candles.cache import StoreCache
from .candles.forming import forming
from .candles.forming import merge as merge_forming
from .candles.store import CandleStore
from .errors import StaleDataError, UnknownNameError
from .limits import Limiter, Priority
from .memory import Answers, Source, book_of, ticker_of
from .names import LISTING_PATHS, Universe
from .quotes import MAX_DEPTH, MAX_TRADES, check_range
from .rest import Reply, RestClient, check_venue
from .types import Candle, OrderBook, Ticker, Trade, age_ms

KINDS = ("ticker", "orderbook", "trades")


@dataclass(frozen=True, slots=True)
class Routing:
    """How ``MarketData`` chooses a source (see the module docstring)."""

    subscribe_after: int = 3  # asks within the window that subscribe a symbol; 0: never
    subscribe_window_s: float = 10.0
    stale_ms: int = 10_000  # memory received longer ago than this is not fresh
    ttl_ms: Mapping[str, int] = field(default_factory=lambda: {
        "ticker": 1000, "tickers": 1000, "orderbook": 250, "trades": 1000})
    poll_s: float = 1.0  # subscribe() without memory: how often REST is asked
    depth: int = 10  # orderbook()'s default depth


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's latest state in memory (``MarketData.snapshot``)."""

    venue: str
    symbol: str
    norm: str
    ticker: Ticker | None
    orderbook: OrderBook | None
    healthy: bool  # its connection is up and the state within stale_ms


class MarketData:
    """The market-data API; see the module docstring. Use ``async with`` (or ``start`` and
    ``close``).

    - ``attach``: the data dir of a ``recorder run`` on this machine: read its live state
      from shared memory, ask it to subscribe what it lacks, journal REST replies into it.
    - ``data_dir``: otherwise, where this process journals the connections it runs and the
      REST replies it fetches (None: a temporary directory removed on ``close``).
    - ``live=False``: run no connections (REST only; nothing journaled unless attached).
    - ``rest_urls``/``ws_urls``: base URLs per venue (``--rest-url``, ``--ws-url``): only
      scheme, host and port are used.
    - ``cache_dir``: where completed candles are cached as Parquet (default: ``attach`` or
      ``data_dir``; None with neither: no disk cache).
    - ``follow``: ``nats://HOST:4222``, a journal a recorder on another host publishes
      (its ``[broker]``; ``shard``: which one): the memory folds it (``followed``), runs no
      connections, and answers what memory cannot from REST.
    - ``memory``: a memory to use instead (tests).
    """

    def __init__(self, *, attach: str | None = None, data_dir: str | None = None, live: bool = True,
                 rest_urls: Mapping[str, str] | None = None, ws_urls: Mapping[str, str] | None = None,
                 cache_dir: str | None = None, routing: Routing | None = None,
                 breaker: BreakerPolicy | None = None, timeout_s: float = 5.0,
                 limiter: Limiter | None = None, clock: Callable[[], int] = time.time_ns,
                 memory: Source | None = None, transport: Any = None, follow: str | None = None,
                 shard: str = "") -> None:
        self.routing = routing or Routing()
        self.clock = clock
        self.marks: list[dict[str, Any]] = []  # breaker changes, newest last (also journaled)
        self.rest = RestClient(urls=rest_urls, limiter=limiter,
                               breakers=Breakers(breaker, on_change=self._breaker_changed),
                               timeout_s=timeout_s, sink=self._journal_reply, clock=clock,
                               transport=transport)
        self.universe = Universe(self._fetch_listing)
        if memory is None and follow is not None:
            from .followed import FollowedSource

            memory = FollowedSource(follow, shard)
        self.memory = memory if memory is not None else _default_memory(
            attach=attach, data_dir=data_dir, live=live, rest_urls=rest_urls, ws_urls=ws_urls)
        self.cache_dir = cache_dir or attach or data_dir
        self.candle_cache: CandleCache | None = (
            StoreCache(CandleStore(self.cache_dir), clock) if self.cache_dir else None)
        self.journaled = 0  # REST replies handed to the journal
        self._answers = Answers()
        self._asks: dict[tuple[str, str], deque[float]] = {}
        self._wanted: set[tuple[str, str]] = set()
        self._ttl: dict[tuple, tuple[float, Any]] = {}  # key -> (fetched at, answer)
        self._inflight: dict[tuple, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    # -- life -------------------------------------------------------------------------

    async def start(self) -> MarketData:
        if not self._started:
            if self.memory is not None:
                try:
                    await self.memory.start()
                except BaseException:
                    await self.rest.aclose()  # nothing else was opened
                    if isinstance(self.candle_cache, StoreCache):
                        self.candle_cache.close()
                    raise
            self._started = True
        return self

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.rest.aclose()
        if isinstance(self.candle_cache, StoreCache):
            self.candle_cache.close()
        if self.memory is not None and self._started:
            await self.memory.close()
        self._started = False

    async def __aenter__(self) -> MarketData:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- names ------------------------------------------------------------------------

    async def symbols(self, venue: str) -> tuple[str, ...]:
        """Every symbol ``venue`` lists (its native keys)."""
        return await self.universe.symbols(check_venue(venue))

    async def _name(self, venue: str, symbol: str) -> str:
        mem = self.memory
        if mem is not None and isinstance(symbol, str) and mem.stamp(venue, symbol) is not None:
            return symbol  # a key the memory holds: no need of the venue's list
        return await self.universe.resolve(check_venue(venue), symbol)

    async def _fetch_listing(self, venue: str) -> bytes:
        return (await self.rest.get(venue, LISTING_PATHS[venue], priority=Priority.HIGH)).body

    # -- the four kinds ---------------------------------------------------------------

    async def ticker(self, venue: str, symbol: str, *, max_age_ms: int | None = None,
                     priority: Priority = Priority.HIGH) -> Ticker:
        """The symbol's last price and 24 h statistics."""
        key = await self._name(venue, symbol)
        self._asked(venue, key)
        t = self._memory("ticker", venue, key, 0, max_age_ms)
        if t is not None:
            return t
        t = (await self._once(("ticker", venue, key), "ticker", lambda: quotes.tickers(
            self.rest, venue, [key], now=self.clock, priority=priority)))[0]
        return self._aged(t, venue, key, max_age_ms)

    async def tickers(self, venue: str, symbols: Sequence[str] | str = "all", *,
                      max_age_ms: int | None = None, priority: Priority = Priority.HIGH) -> list[Ticker]:
        """Tickers of ``symbols`` (or ``"all"`` the venue lists), in that order: from memory
        where fresh, the rest in as few REST calls as the venue allows (Upbit: 100 markets a
        call; Binance: one call for all)."""
        keys = await self.universe.resolve_all(check_venue(venue), symbols)
        out: dict[str, Ticker] = {}
        for key in keys:
            t = self._memory("ticker", venue, key, 0, max_age_ms)
            if t is not None:
                out[key] = t
        missing = [k for k in keys if k not in out]
        if missing:
            every = symbols == "all" and len(missing) == len(keys)
            got = await self._once(("tickers", venue, tuple(missing)), "tickers", lambda: quotes.tickers(
                self.rest, venue, missing, now=self.clock, priority=priority, all_listed=every))
            for t in got:
                out[t.symbol] = self._aged(t, venue, t.symbol, max_age_ms)
        return [out[k] for k in keys]

    async def orderbook(self, venue: str, symbol: str, depth: int | None = None, *,
                        max_age_ms: int | None = None, priority: Priority = Priority.HIGH) -> OrderBook:
        """The top ``depth`` levels of the symbol's book (1..1000; Upbit has at most 30)."""
        depth = check_range("depth", self.routing.depth if depth is None else depth, MAX_DEPTH)
        key = await self._name(venue, symbol)
        self._asked(venue, key)
        b = self._memory("orderbook", venue, key, depth, max_age_ms)
        if b is not None:
            return b
        b = await self._once(("orderbook", venue, key, depth), "orderbook", lambda: quotes.orderbook(
            self.rest, venue, key, depth, now=self.clock, priority=priority))
        return self._aged(b, venue, key, max_age_ms)

    async def trades(self, venue: str, symbol: str, limit: int = 100, *,
                     priority: Priority = Priority.NORMAL) -> list[Trade]:
        """The last ``limit`` public trades (1..1000), oldest first: from memory when this
        process has received at least that many since it subscribed, else REST."""
        limit = check_range("limit", limit, MAX_TRADES)
        key = await self._name(venue, symbol)
        self._asked(venue, key)
        if self.memory is not None and self._fresh(venue, key):
            kept = self.memory.trades(venue, key, limit)
            if kept is not None and len(kept) >= limit:
                now = self.clock()
                return [msgspec.structs.replace(t, age_ms=age_ms(now, t.exch_ts_ns, t.recv_ts_ns))
                        for t in kept[-limit:]]
        return await self._once(("trades", venue, key, limit), "trades", lambda: quotes.trades(
            self.rest, venue, key, limit, now=self.clock, priority=priority))

    async def candles(self, venue: str, symbol: str, interval: str, *, count: int | None = None,
                      start: Any = None, end: Any = None, fill: bool = False,
                      priority: Priority = Priority.LOW) -> list[Candle]:
        """The newest ``count`` candles (the forming one included) or those opening in
        ``[start, end)``, ascending, one per period; see ``fetch_candles``."""
        return list((await self.candle_result(venue, symbol, interval, count=count, start=start, end=end,
                                              fill=fill, priority=priority)).candles)

    async def candle_result(self, venue: str, symbol: str, interval: str, *, count: int | None = None,
                            start: Any = None, end: Any = None, fill: bool = False,
                            priority: Priority = Priority.LOW, concurrency: int = 8) -> CandleResult:
        """``candles`` with how they were got: REST pages asked, source, completeness."""
        key = await self._name(venue, symbol)
        iv = candle_interval(venue, interval)  # UnknownIntervalError before anything is asked
        now = self.clock()
        live = self._live_trades(venue, key, iv, now) if count is not None and start is None \
            and end is None else None
        if live is not None:
            # Completed candles from the cache or REST, the forming one from the trades this
            # process received (no REST call for it).
            trades, since, period = live
            res = await fetch_candles(self.rest, venue, key, interval, count=count, end=period, fill=fill,
                                      priority=priority, concurrency=concurrency, now_ns=now,
                                      cache=self.candle_cache)
            prev = res.candles[-1].close if res.candles else None
            st = self.memory.view(venue, key, 0) if self.memory is not None else None
            f = forming(trades, venue=venue, symbol=key, norm=st.norm if st else key, interval=iv.name,
                        now_ns=now, since_ns=since, prev_close=prev)
            if f is not None and (fill or not f.fill):
                rows = merge_forming(list(res.candles), f)[-count:]  # type: ignore[index]
                return CandleResult(tuple(rows), res.requests, f"{res.source}+memory", res.complete)
            return res
        return await fetch_candles(self.rest, venue, key, interval, count=count, start=start, end=end,
                                   fill=fill, priority=priority, concurrency=concurrency,
                                   now_ns=now, cache=self.candle_cache)

    def _live_trades(self, venue: str, key: str, iv: Any, now_ns: int) -> tuple[list[Any], int, int] | None:
        """(trades, complete since, the forming period's start) when this process holds every
        trade of the symbol's forming period of ``iv`` (an interval of fixed length cut on
        UTC, so the period is the trades' own); else None."""
        mem = self.memory
        if mem is None or not iv.span_ms or iv.origin_ms or not self._fresh(venue, key):
            return None
        kept = mem.kept_trades(venue, key)
        if kept is None:
            return None
        period = iv.floor(now_ns // 1_000_000) * 1_000_000
        trades, since = kept
        return (trades, since, period) if since <= period else None

    # -- memory -----------------------------------------------------------------------

    def _fresh(self, venue: str, key: str) -> bool:
        mem = self.memory
        if mem is None or not mem.healthy(venue, key):
            return False
        stamp = mem.stamp(venue, key)
        return stamp is not None and (self.clock() - stamp[1]) // 1_000_000 <= self.routing.stale_ms

    def _memory(self, kind: str, venue: str, key: str, depth: int, max_age_ms: int | None) -> Any:
        """The memory's answer when it is fresh (and, asked for, young enough); else None."""
        mem = self.memory
        if mem is None:
            return None
        stamp = mem.stamp(venue, key)
        if stamp is None:
            return None
        now = self.clock()
        if (now - stamp[1]) // 1_000_000 > self.routing.stale_ms or not mem.healthy(venue, key):
            return None
        if kind == "ticker":
            ans = self._answers.get((venue, key, kind), stamp, now,
                                    lambda: ticker_of(mem.view(venue, key, 1), now))
        else:
            if depth > mem.depth(venue):
                return None
            ans = self._answers.get((venue, key, kind, depth), stamp, now,
                                    lambda: book_of(mem.view(venue, key, depth), depth, now))
        if ans is None or (max_age_ms is not None and ans.age_ms > max_age_ms):
            return None
        return ans

    def _asked(self, venue: str, key: str) -> None:
        """Count an ask; the ``subscribe_after``-th within the window subscribes the symbol."""
        r = self.routing
        mem = self.memory
        if r.subscribe_after <= 0 or mem is None or (venue, key) in self._wanted \
                or not mem.can_subscribe(venue):
            return
        now = time.monotonic()
        asks = self._asks.setdefault((venue, key), deque())
        asks.append(now)
        while asks and now - asks[0] > r.subscribe_window_s:
            asks.popleft()
        if len(asks) >= r.subscribe_after:
            self._want(venue, [key])

    def _want(self, venue: str, keys: Sequence[str]) -> asyncio.Task[Any] | None:
        mem = self.memory
        new = [k for k in keys if (venue, k) not in self._wanted]
        if mem is None or not new:
            return None
        self._wanted.update((venue, k) for k in new)

        async def go() -> None:
            try:
                await mem.want(venue, new)
            except Exception as exc:  # noqa: BLE001 (asks keep going to REST; a later ask retries)
                self._wanted.difference_update((venue, k) for k in new)
                self._note("subscribe_failed", venue=venue, symbols=list(new), error=str(exc))

        task = asyncio.get_running_loop().create_task(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def want(self, venue: str, symbols: Iterable[str]) -> None:
        """Subscribe ``symbols`` now (not after repeated asks); returns once asked."""
        keys = await self.universe.resolve_all(check_venue(venue), list(symbols))
        task = self._want(venue, keys)
        if task is not None:
            await task

    def snapshot(self, venues: Iterable[str] | None = None, *, depth: int | None = None) -> list[Snapshot]:
        """The latest memory state of every symbol served, in one call and without I/O (the
        arbitrage loop's read): each with its ticker, its book (None unless valid) and
        whether it is healthy. Empty without a memory."""
        mem = self.memory
        if mem is None:
            return []
        want = None if venues is None else set(venues)
        depth = self.routing.depth if depth is None else depth
        now = self.clock()
        out = []
        for venue, key in mem.keys():
            if want is not None and venue not in want:
                continue
            stamp = mem.stamp(venue, key)
            if stamp is None:
                continue
            t = self._answers.get((venue, key, "ticker"), stamp, now,
                                  lambda v=venue, k=key: ticker_of(mem.view(v, k, 1), now))
            d = min(depth, mem.depth(venue))
            b = self._answers.get((venue, key, "orderbook", d), stamp, now,
                                  lambda v=venue, k=key, d=d: book_of(mem.view(v, k, d), d, now))
            healthy = mem.healthy(venue, key) and (now - stamp[1]) // 1_000_000 <= self.routing.stale_ms
            norm = t.norm if t is not None else b.norm if b is not None else key
            out.append(Snapshot(venue=venue, symbol=key, norm=norm, ticker=t, orderbook=b,
                                healthy=healthy))
        return out

    # -- subscriptions ----------------------------------------------------------------

    async def subscribe(self, kind: str, venue: str, symbols: Sequence[str] | str) -> AsyncIterator[Any]:
        """Updates of ``kind`` (``ticker``, ``orderbook``, ``trades``) for ``symbols`` as they
        happen: each change of a symbol's state yields its new ``Ticker`` or ``OrderBook``, or
        each new ``Trade``. Served from memory (the symbols are subscribed at once); without a
        memory, REST is polled every ``poll_s``."""
        if kind not in KINDS:
            raise UnknownNameError(f"unknown kind {kind!r}", KINDS)
        keys = await self.universe.resolve_all(check_venue(venue), symbols)
        mem = self.memory
        if mem is not None and mem.can_subscribe(venue):
            await self.want(venue, keys)
        seen: dict[str, Any] = {}
        while True:
            changed = False
            for key in keys:
                async for item in self._updates(kind, venue, key, seen):
                    changed = True
                    yield item
            if mem is not None and all(mem.stamp(venue, k) is not None for k in keys):
                await mem.changed(self.routing.poll_s)
            elif not changed:
                await asyncio.sleep(self.routing.poll_s if mem is None else min(0.05, self.routing.poll_s))

    async def _updates(self, kind: str, venue: str, key: str, seen: dict[str, Any]) -> AsyncIterator[Any]:
        mem = self.memory
        if kind == "trades":
            fresh = mem.trades(venue, key, MAX_TRADES) if mem is not None else None
            if fresh is None:
                fresh = await self.trades(venue, key, 100)
            last = seen.get(key)
            for t in fresh:
                if last is None or (t.exch_ts_ns, t.trade_id) > last:
                    seen[key] = (t.exch_ts_ns, t.trade_id)
                    yield t
            return
        if kind == "ticker":
            ans = self._memory("ticker", venue, key, 0, None)
            if ans is None and (mem is None or mem.stamp(venue, key) is None):
                ans = await self.ticker(venue, key)
        else:
            ans = self._memory("orderbook", venue, key, self.routing.depth, None)
            if ans is None and (mem is None or mem.stamp(venue, key) is None):
                ans = await self.orderbook(venue, key)
        if ans is None:
            return
        mark = (ans.exch_ts_ns, ans.recv_ts_ns, ans.source)
        if seen.get(key) != mark:
            seen[key] = mark
            yield ans

    # -- REST plumbing ----------------------------------------------------------------

    async def _once(self, key: tuple, kind: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()``'s result, shared by identical requests in flight and kept ``ttl_ms``."""
        loop = asyncio.get_running_loop()
        ttl = self.routing.ttl_ms.get(kind, 0) / 1000
        kept = self._ttl.get(key)
        if kept is not None and loop.time() - kept[0] < ttl:
            return _reaged(kept[1], self.clock())
        fut = self._inflight.get(key)
        if fut is not None:
            return _reaged(await asyncio.shield(fut), self.clock())
        fut = self._inflight[key] = loop.create_future()
        try:
            value = await call()
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a lone caller's error is not "never retrieved"
            raise
        else:
            fut.set_result(value)
            if ttl > 0:
                now = loop.time()
                self._ttl[key] = (now, value)
                if len(self._ttl) > 4096:  # forget the expired
                    self._ttl = {k: v for k, v in self._ttl.items() if now - v[0] < 60}
            return value
        finally:
            self._inflight.pop(key, None)

    def _aged(self, ans: Any, venue: str, key: str, max_age_ms: int | None) -> Any:
        if max_age_ms is not None and ans.age_ms > max_age_ms:
            raise StaleDataError(venue, key, ans.age_ms, max_age_ms)
        return ans

    def _journal_reply(self, reply: Reply) -> None:
        if self.memory is not None and self._started:
            self.memory.journal(reply)
            self.journaled += 1

    def _breaker_changed(self, venue: str, group: str, old: str, new: str, reason: str) -> None:
        self._note("circuit", venue=venue, group=group, old=old, new=new, reason=reason)

    def _note(self, text: str, **fields: Any) -> None:
        self.marks.append({"mark": text, **fields})
        del self.marks[:-1000]
        if self.memory is not None and self._started:
            self.memory.mark(text, **fields)


def _reaged(value: Any, now: int) -> Any:
    """A kept answer (or list of answers) with ``age_ms`` as of ``now``."""
    if isinstance(value, list):
        return [_reaged(v, now) for v in value]
    age = age_ms(now, value.exch_ts_ns, value.recv_ts_ns)
    return value if age == value.age_ms else msgspec.structs.replace(value, age_ms=age)


def _default_memory(*, attach: str | None, data_dir: str | None, live: bool,
                    rest_urls: Mapping[str, str] | None, ws_urls: Mapping[str, str] | None) -> Source | None:
    if attach is not None:
        from .attached import AttachedSource

        return AttachedSource(attach)
    if not live:
        return None
    from .inprocess import InProcess

    return InProcess(data_dir=data_dir, ws_urls=ws_urls or {}, rest_urls=rest_urls or {})
