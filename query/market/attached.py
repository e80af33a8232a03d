"""The memory of a ``recorder run`` on this machine: its live table read as ``View``s, its
control socket asked to subscribe what it lacks and to journal what the API fetched.

``query.market.attach.Attached`` does the reading and the asking; this adapts it to what
``MarketData`` asks of a memory. A symbol is healthy while the recorder is alive (process
and heartbeat) and its row says the book is valid or it has a quote; reading a row is one
seqlock copy and one decode, so ``stamp`` keeps the decoded row for the ``view`` that
follows it.

Only symbols the recorder streams count: a row can also come from a REST reply it journaled
(the projection folds those too), which is no live stream. What it streams is asked over
the socket at start and every second.

Journaling goes over the socket without holding the answer up: each REST reply and mark is
sent by a task of its own (in order); one that fails is counted in ``journal_failures``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from state.live_row import LiveRow

from .attach import Attached
from .memory import View
from .rest import Reply
from .types import Trade, age_ms

SERVED_EVERY_S = 1.0


def _dec(s: str | None) -> Decimal | None:
    return None if s in (None, "") else Decimal(s)


class AttachedSource:
    """``MarketData``'s memory over a running recorder; see the module docstring."""

    name = "attached"

    def __init__(self, data_dir: str, *, poll_s: float = 0.005) -> None:
        self.data_dir = data_dir
        self.poll_s = poll_s  # how often changed() looks at the rows
        self.attached: Attached | None = None
        self._last: dict[tuple[str, str], LiveRow] = {}
        self._outbox: asyncio.Queue[tuple[str, Any]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self.journal_failures = 0
        self.alive_checked = 0.0
        self._alive = False
        # venue -> symbols the recorder streams (a row may also come from a REST reply it
        # journaled: that is no live stream). None: unknown (no control socket), rows only.
        self._served: dict[str, set[str]] | None = {}
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.attached = Attached(self.data_dir)  # VenueUnavailableError when nothing runs there
        self._outbox = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._sender = loop.create_task(self._send(), name="attached-journal")
        if self.attached.control_path:
            with contextlib.suppress(Exception):  # a recorder without a socket: rows only
                await self._refresh_served()
            self._watcher = loop.create_task(self._watch_served(), name="attached-served")
        else:
            self._served = None

    async def _refresh_served(self) -> None:
        assert self.attached is not None
        venues = (await self.attached.status()).get("venues") or {}
        self._served = {v: set(syms) for v, syms in venues.items()}

    async def _watch_served(self) -> None:
        """What the recorder streams, asked every ``SERVED_EVERY_S`` (another client may have
        subscribed more)."""
        while True:
            await asyncio.sleep(SERVED_EVERY_S)
            with contextlib.suppress(Exception):
                await self._refresh_served()

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._sender is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 5)  # type: ignore[union-attr]
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self.attached is not None:
            self.attached.close()

    # -- reading ----------------------------------------------------------------------

    def _row(self, venue: str, symbol: str) -> LiveRow | None:
        att = self.attached
        row = None if att is None else att.row(venue, symbol)
        if row is None:
            self._last.pop((venue, symbol), None)
        else:
            self._last[(venue, symbol)] = row
        return row

    def stamp(self, venue: str, symbol: str) -> tuple[int, int] | None:
        row = self._row(venue, symbol)
        return None if row is None else (row.seq, row.ts_ns)

    def view(self, venue: str, symbol: str, depth: int) -> View | None:
        row = self._last.get((venue, symbol)) or self._row(venue, symbol)
        if row is None:
            return None
        q = row.quote
        lt = row.last_trade
        valid = row.valid if row.has_book else q is not None
        return View(venue=venue, symbol=symbol, norm=row.norm, seq=row.seq, ts_ns=row.ts_ns, valid=valid,
                    bids=tuple((Decimal(p), Decimal(s)) for p, s in row.bids[:depth]) if valid else (),
                    asks=tuple((Decimal(p), Decimal(s)) for p, s in row.asks[:depth]) if valid else (),
                    ticker=dict(row.ticker), last_price=_dec(lt.price) if lt else None,
                    quote_bid=_dec(q.bid_px) if q is not None and not row.has_book else None,
                    quote_ask=_dec(q.ask_px) if q is not None and not row.has_book else None)

    def depth(self, venue: str) -> int:
        att = self.attached
        return int(att.info.get("depth", 10)) if att is not None else 0

    def healthy(self, venue: str, symbol: str) -> bool:
        """The recorder is alive and streams the symbol."""
        now = time.monotonic()
        if now - self.alive_checked > 0.1:  # kill(pid, 0) and the heartbeat, ten times a second
            self.alive_checked = now
            self._alive = self.attached is not None and self.attached.alive()
        served = self._served
        return self._alive and (served is None or symbol in served.get(venue, ()))

    def keys(self) -> list[tuple[str, str]]:
        return [] if self.attached is None else self.attached.symbols()

    def trades(self, venue: str, symbol: str, limit: int) -> list[Trade] | None:
        """Only the last trade is published: one when asked for one, else None (REST)."""
        row = self._last.get((venue, symbol)) or self._row(venue, symbol)
        if row is None or row.last_trade is None or limit != 1:
            return None
        t = row.last_trade
        return [Trade(venue=venue, symbol=symbol, norm=row.norm, price=Decimal(t.price),
                      size=Decimal(t.size), side=t.side, trade_id=t.trade_id, exch_ts_ns=t.exch_ts_ns,
                      recv_ts_ns=t.recv_ts_ns, source="memory",
                      age_ms=age_ms(time.time_ns(), t.exch_ts_ns, t.recv_ts_ns))]

    def kept_trades(self, venue: str, symbol: str) -> tuple[list[Any], int] | None:
        return None  # the table holds the last trade only

    # -- asking -----------------------------------------------------------------------

    def can_subscribe(self, venue: str) -> bool:
        att = self.attached
        return att is not None and att.control_path is not None

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        assert self.attached is not None
        added, already = await self.attached.subscribe(venue, list(symbols))
        if self._served is not None:
            self._served.setdefault(venue, set()).update(added + already)

    async def changed(self, timeout_s: float) -> None:
        await asyncio.sleep(min(self.poll_s, timeout_s))

    def journal(self, reply: Reply) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(("rest", reply))

    def mark(self, text: str, **fields: Any) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(("mark", (text, fields)))

    async def _send(self) -> None:
        assert self._outbox is not None and self.attached is not None
        while True:
            kind, item = await self._outbox.get()
            try:
                if kind == "rest":
                    await self.attached.journal(item.venue, item.url, item.status, item.body, item.recv_ns)
                else:
                    text, fields = item
                    await self.attached.mark(str(fields.get("venue", "")), text, fields)
            except Exception:  # noqa: BLE001 (the answer was given; the count says what was lost)
                self.journal_failures += 1
            finally:
                self._outbox.task_done()
