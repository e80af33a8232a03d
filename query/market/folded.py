"""A memory over a ``state.projector.Projector`` in this process: its folded symbols as
``View``s, and the trades it folded since a symbol was subscribed.

``InProcess`` (connections this process runs) is this over its recorder's live projection;
a replay or a benchmark can use it over any projector. Health is the caller's: ``healthy``
answers ``is_up(venue, symbol)``, which defaults to "always".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from state.events import Event
from state.events import Trade as TradeEvent
from state.projector import Projector

from .errors import VenueUnavailableError
from .memory import View
from .types import Trade, age_ms

KEEP_TRADES = 1000  # trades kept per symbol for trades()


def _dec(s: str | None) -> Decimal | None:
    return None if s in (None, "") else Decimal(s)


def trade_of(ev: Any, now_ns: int) -> Trade:
    """A folded trade (``state.events.Trade``) as the API's ``Trade``."""
    return Trade(venue=ev.venue, symbol=ev.symbol, norm=ev.norm, price=Decimal(ev.price),
                 size=Decimal(ev.size), side=ev.side, trade_id=ev.trade_id, exch_ts_ns=ev.exch_ts_ns,
                 recv_ts_ns=ev.recv_ts_ns, source="memory",
                 age_ms=age_ms(now_ns, ev.exch_ts_ns, ev.recv_ts_ns))


class FoldedMemory:
    """Views of a projector's symbols; see the module docstring. ``on_events`` takes the
    events each fold produced (to keep trades)."""

    name = "in-process"

    def __init__(self, projector: Projector, *,
                 is_up: Callable[[str, str], bool] = lambda venue, symbol: True) -> None:
        self.projector = projector
        self.is_up = is_up
        self._trades: dict[tuple[str, str], deque[Any]] = {}
        # When a symbol's kept trades start to be complete: its first trade's time; later, once
        # the deque has dropped its oldest, the oldest kept one's.
        self._since: dict[tuple[str, str], int] = {}
        self.replies: list[Any] = []  # REST replies and marks handed to it (InProcess journals them)
        self.marks: list[dict[str, Any]] = []
        self._changed: asyncio.Event | None = None

    async def start(self) -> None:
        self._changed = asyncio.Event()

    async def close(self) -> None:
        pass

    def set_projector(self, projector: Projector) -> None:
        """Read another projector from now on (a recovered one)."""
        self.projector = projector

    # -- reading ----------------------------------------------------------------------

    def stamp(self, venue: str, symbol: str) -> tuple[int, int] | None:
        st = self.projector.folded(venue, symbol)
        return None if st is None else (st.seq, st.ts_ns)

    def view(self, venue: str, symbol: str, depth: int) -> View | None:
        st = self.projector.folded(venue, symbol)
        if st is None:
            return None
        book = st.book
        bids: list = []
        asks: list = []
        if book is not None:
            valid = book.valid
            if valid and depth > 0:
                bids, asks = book.top_bids(depth), book.top_asks(depth)
        else:
            valid = st.quote is not None
        q = st.quote
        lt = st.last_trade
        return View(venue=venue, symbol=symbol, norm=st.norm, seq=st.seq, ts_ns=st.ts_ns, valid=valid,
                    bids=bids, asks=asks, ticker=st.ticker, last_price=_dec(lt.price) if lt else None,
                    quote_bid=_dec(q.bid_px) if q is not None and book is None else None,
                    quote_ask=_dec(q.ask_px) if q is not None and book is None else None)

    def depth(self, venue: str) -> int:
        return self.projector.depth_levels

    def healthy(self, venue: str, symbol: str) -> bool:
        return self.is_up(venue, symbol)

    def keys(self) -> list[tuple[str, str]]:
        return self.projector.symbols()

    def kept_trades(self, venue: str, symbol: str) -> tuple[list[Any], int] | None:
        """The folded trades kept of a symbol (``state.events.Trade``, in fold order) and the
        time from which they are complete (its first kept trade's: the stream was open then);
        None before the first."""
        kept = self._trades.get((venue, symbol))
        if not kept:
            return None
        first = kept[0]
        since = self._since.get((venue, symbol), first.exch_ts_ns or first.recv_ts_ns)
        return list(kept), since

    def trades(self, venue: str, symbol: str, limit: int) -> list[Trade] | None:
        kept = self._trades.get((venue, symbol))
        if kept is None:
            return None
        now = self.projector.ts_ns
        return [trade_of(ev, now) for ev in list(kept)[-limit:]]

    # -- feeding ----------------------------------------------------------------------

    def can_subscribe(self, venue: str) -> bool:
        return False

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        raise VenueUnavailableError(venue, "this memory runs no connections")

    async def changed(self, timeout_s: float) -> None:
        ev = self._changed
        if ev is None:
            await asyncio.sleep(timeout_s)
            return
        ev.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout_s)

    def journal(self, reply: Any) -> None:
        self.replies.append(reply)
        del self.replies[:-1000]

    def mark(self, text: str, **fields: Any) -> None:
        self.marks.append({"mark": text, **fields})
        del self.marks[:-1000]

    def keep_trades(self, venue: str, symbols: Iterable[str]) -> None:
        """Keep the trades of ``symbols`` from now on."""
        for s in symbols:
            self._trades.setdefault((venue, s), deque(maxlen=KEEP_TRADES))

    def on_events(self, events: Iterable[Event]) -> None:
        """After each fold: wake ``changed`` waiters, keep the trades of kept symbols."""
        if self._changed is not None:
            self._changed.set()
        kept = self._trades
        if not kept:
            return
        for ev in events:
            if type(ev) is TradeEvent:
                dq = kept.get((ev.venue, ev.symbol))
                if dq is not None:
                    if len(dq) == dq.maxlen:  # the oldest goes: complete only from the next one
                        nxt = dq[1]
                        self._since[(ev.venue, ev.symbol)] = nxt.exch_ts_ns or nxt.recv_ts_ns
                    dq.append(ev)
