"""A memory for ``MarketData`` tests: views set by the test, every call recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from query.market.memory import View
from query.market.types import Trade


class FakeMemory:
    name = "fake"

    def __init__(self, *, subscribable: Sequence[str] = ("upbit", "binance-usdm"), depth: int = 20) -> None:
        self.views: dict[tuple[str, str], View] = {}
        self.up: dict[tuple[str, str], bool] = {}
        self.kept_trades_: dict[tuple[str, str], list[Trade]] = {}
        self.live_trades: dict[tuple[str, str], tuple[list[Any], int]] = {}  # (trades, since)
        self.wanted: list[tuple[str, list[str]]] = []
        self.journaled: list[Any] = []
        self.marked: list[tuple[str, dict]] = []
        self.subscribable = tuple(subscribable)
        self._depth = depth
        self.event = asyncio.Event()
        self.views_built = 0

    # what the test does
    def put(self, venue: str, symbol: str, *, seq: int, ts_ns: int, last: str = "100", valid: bool = True,
            bids=(("99", "1"), ("98", "2")), asks=(("101", "1"), ("102", "3")), up: bool = True,
            norm: str = "") -> None:
        self.views[(venue, symbol)] = View(
            venue=venue, symbol=symbol, norm=norm or symbol, seq=seq, ts_ns=ts_ns, valid=valid,
            bids=tuple((Decimal(p), Decimal(s)) for p, s in bids),
            asks=tuple((Decimal(p), Decimal(s)) for p, s in asks),
            ticker={"last": last, "high": "110", "low": "90", "volume": "5"})
        self.up[(venue, symbol)] = up
        self.event.set()

    # the Source protocol
    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def stamp(self, venue: str, symbol: str) -> tuple[int, int] | None:
        v = self.views.get((venue, symbol))
        return None if v is None else (v.seq, v.ts_ns)

    def view(self, venue: str, symbol: str, depth: int) -> View | None:
        self.views_built += 1
        return self.views.get((venue, symbol))

    def depth(self, venue: str) -> int:
        return self._depth

    def healthy(self, venue: str, symbol: str) -> bool:
        return self.up.get((venue, symbol), False)

    def keys(self) -> list[tuple[str, str]]:
        return list(self.views)

    def trades(self, venue: str, symbol: str, limit: int) -> list[Trade] | None:
        kept = self.kept_trades_.get((venue, symbol))
        return None if kept is None else kept[-limit:]

    def kept_trades(self, venue: str, symbol: str):
        return self.live_trades.get((venue, symbol))

    def can_subscribe(self, venue: str) -> bool:
        return venue in self.subscribable

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        self.wanted.append((venue, list(symbols)))

    async def changed(self, timeout_s: float) -> None:
        self.event.clear()
        try:
            await asyncio.wait_for(self.event.wait(), timeout_s)
        except TimeoutError:
            pass

    def journal(self, reply: Any) -> None:
        self.journaled.append(reply)

    def mark(self, text: str, **fields: Any) -> None:
        self.marked.append((text, fields))
