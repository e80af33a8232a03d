"""Answers from memory: a live projection's state of one symbol as ``Ticker`` and
``OrderBook``, cached until the symbol's state changes.

Two memories hold that state: the projection of connections this process runs itself
(``query.market.inprocess``) and the shared-memory table of a ``recorder run`` on this
machine (``query.market.attached``). Both describe a symbol as a ``View``; ``Answers`` turns
a view into the API's types and keeps each answer until the symbol's ``seq`` moves on, so
a repeated read costs a dictionary lookup and a copy with the new ``age_ms``.

A view is *fresh* when its state was received within ``stale_ms`` of now; an order book
is served only while the book is valid (synced, no gap pending).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from .normalize import book_from_levels, from_market_state
from .types import OrderBook, Ticker, Trade, age_ms


@dataclass(slots=True)
class View:
    """One symbol's live state as a memory holds it (prices exact, as Decimals).

    ``bids``/``asks`` are the top levels, best first (empty when the book is not valid or
    the memory keeps none); ``ts_ns`` is the receive time of the last record that changed
    the symbol; ``seq`` that record's journal seq (a change of state changes it)."""

    venue: str
    symbol: str
    norm: str
    seq: int
    ts_ns: int
    valid: bool
    bids: Sequence[tuple[Decimal, Decimal]] = ()
    asks: Sequence[tuple[Decimal, Decimal]] = ()
    ticker: dict[str, str] = field(default_factory=dict)
    last_price: Decimal | None = None
    last_trade: Trade | None = None
    quote_bid: Decimal | None = None  # a book ticker's best bid when there is no book
    quote_ask: Decimal | None = None

    # what from_market_state reads of a MarketState
    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else self.quote_bid

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else self.quote_ask


def ticker_of(v: View, now_ns: int) -> Ticker | None:
    """The view's ticker; None until the venue's ticker stream has sent its 24 h statistics
    (a ticker from trades alone would lack fields a REST one has: REST answers instead)."""
    if not v.ticker.get("volume"):
        return None
    t, _ = from_market_state(v, None, now_ns=now_ns)
    return t


def book_of(v: View, depth: int, now_ns: int) -> OrderBook | None:
    """The view's top ``depth`` levels (None unless the book is valid and has levels)."""
    if not v.valid or not (v.bids or v.asks):
        return None
    return book_from_levels(v.venue, v.symbol, v.norm, v.bids[:depth], v.asks[:depth], v.ts_ns,
                            now_ns, "memory")


class Answers:
    """Answers built from views, kept per (venue, symbol, kind) until the view's seq changes."""

    def __init__(self) -> None:
        self._kept: dict[tuple, tuple[int, int, object]] = {}  # key -> (seq, ts, answer)

    def get(self, key: tuple, stamp: tuple[int, int], now_ns: int, build: Callable[[], Any]) -> Any:
        """The answer kept for ``key`` while the symbol's ``stamp`` (seq, ts_ns) is unchanged,
        with its ``age_ms`` as of ``now_ns``; else ``build()``'s, kept."""
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp[0] and kept[1] == stamp[1]:
            ans = kept[2]
            if ans is None:
                return None
            age = age_ms(now_ns, ans.exch_ts_ns, ans.recv_ts_ns)  # type: ignore[attr-defined]
            return ans if age == ans.age_ms else msgspec.structs.replace(ans, age_ms=age)  # type: ignore[attr-defined]
        ans = build()
        self._kept[key] = (stamp[0], stamp[1], ans)
        return ans

    def forget(self, venue: str, symbol: str) -> None:
        for key in [k for k in self._kept if k[0] == venue and k[1] == symbol]:
            del self._kept[key]


class Source(Protocol):
    """What ``MarketData`` asks of a memory (``inprocess.InProcess``, ``attached.AttachedSource``).

    None of it blocks the event loop for long.
    """

    name: str  # "in-process" or "attached"

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def stamp(self, venue: str, symbol: str) -> tuple[int, int] | None:
        """The symbol's (seq, ts_ns) now, cheaply: a change of state changes it. None when
        this memory has no state of the symbol."""
        ...

    def view(self, venue: str, symbol: str, depth: int) -> View | None:
        """The symbol's state now, with its top ``depth`` levels (None: no state)."""
        ...

    def depth(self, venue: str) -> int:
        """How many levels a side this memory keeps for ``venue``'s books."""
        ...

    def trades(self, venue: str, symbol: str, limit: int) -> list[Trade] | None:
        """The last ``limit`` trades received since the symbol was subscribed, oldest first
        (None: this memory keeps no trades of it)."""
        ...

    def healthy(self, venue: str, symbol: str) -> bool:
        """The connection serving the symbol is up (its data may still be old: see ts_ns)."""
        ...

    def keys(self) -> list[tuple[str, str]]:
        """Every (venue, symbol) this memory holds state of."""
        ...

    def kept_trades(self, venue: str, symbol: str) -> tuple[list[Any], int] | None:
        """Every trade of the symbol received since it was subscribed, in fold order, and
        the time from which they are complete (for the forming candle); None: none kept."""
        ...

    def can_subscribe(self, venue: str) -> bool:
        """Whether ``want`` can add symbols of ``venue``."""
        ...

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        """Subscribe ``symbols`` it lacks, without touching the others' connections."""
        ...

    async def changed(self, timeout_s: float) -> None:
        """Return when some symbol's state may have changed, or after ``timeout_s``."""
        ...

    def journal(self, reply: Any) -> None:
        """Append a REST reply the API fetched (a ``rest.Reply``) to the journal."""
        ...

    def mark(self, text: str, **fields: Any) -> None:
        """Append a ``mark`` record (a circuit breaker's change)."""
        ...
