"""``BlockingMarketData``: the API for scripts and notebooks, without ``await``.

    with BlockingMarketData(attach="data") as md:
        print(md.ticker("upbit", "KRW-BTC").last)
        for t in md.subscribe("ticker", "upbit", ["KRW-BTC"]):
            ...

It runs one ``MarketData`` on an event loop in a background thread and waits for each call,
so it works from plain scripts and from Jupyter (whose own loop is already running).
Arguments and results are ``MarketData``'s.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from .api import MarketData, Snapshot

_DONE = object()


class BlockingMarketData:
    """``MarketData`` with plain methods; see the module docstring. Close it (or use
    ``with``) to stop its thread and connections."""

    def __init__(self, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="market-data", daemon=True)
        self._thread.start()
        self._md: MarketData = self._call(self._make(kwargs))

    async def _make(self, kwargs: dict[str, Any]) -> MarketData:
        return await MarketData(**kwargs).start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def api(self) -> MarketData:
        """The ``MarketData`` behind it (its loop is not the caller's: do not await it)."""
        return self._md

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._md.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> BlockingMarketData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def symbols(self, venue: str) -> tuple[str, ...]:
        return self._call(self._md.symbols(venue))

    def ticker(self, venue: str, symbol: str, **kw: Any) -> Any:
        return self._call(self._md.ticker(venue, symbol, **kw))

    def tickers(self, venue: str, symbols: Any = "all", **kw: Any) -> Any:
        return self._call(self._md.tickers(venue, symbols, **kw))

    def orderbook(self, venue: str, symbol: str, depth: int | None = None, **kw: Any) -> Any:
        return self._call(self._md.orderbook(venue, symbol, depth, **kw))

    def trades(self, venue: str, symbol: str, limit: int = 100, **kw: Any) -> Any:
        return self._call(self._md.trades(venue, symbol, limit, **kw))

    def candles(self, venue: str, symbol: str, interval: str, **kw: Any) -> Any:
        return self._call(self._md.candles(venue, symbol, interval, **kw))

    def want(self, venue: str, symbols: Any) -> None:
        self._call(self._md.want(venue, symbols))

    def snapshot(self, venues: Any = None, **kw: Any) -> list[Snapshot]:
        async def read() -> list[Snapshot]:  # on the loop's thread: no race with the fold
            return self._md.snapshot(venues, **kw)

        return self._call(read())

    def subscribe(self, kind: str, venue: str, symbols: Any, *, maxsize: int = 10_000) -> Iterator[Any]:
        """A generator of updates; stop it with ``close()`` on it (or by leaving the loop).
        Updates beyond ``maxsize`` unread wait (the subscription is paced by the reader)."""
        q: queue.Queue[Any] = queue.Queue(maxsize)

        async def pump() -> None:
            try:
                async for item in self._md.subscribe(kind, venue, symbols):
                    while True:
                        try:
                            q.put_nowait(item)
                            break
                        except queue.Full:
                            await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 (handed to the reader)
                q.put(exc)
            q.put(_DONE)

        fut: Future[None] = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            fut.cancel()
