"""The memory of a ``recorder run`` on this machine: its live table read as ``View``s, its
control socket asked to subscribe what it lacks and to journal what the API fetched.

``query.market.attach.Attached`` does the reading and the asking; this adapts it to what
``MarketData`` asks of a memory. A symbol is healthy while the recorder is alive (process
and heartbeat) and its row says the book is valid or it has a quote; reading a row is one
seqlock copy and one decode, so ``stamp`` keeps the decoded row for the ``view`` that
follows it.

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

    async def start(self) -> None:
        self.attached = Attached(self.data_dir)  # VenueUnavailableError when nothing runs there
        self._outbox = asyncio.Queue()
        self._sender = asyncio.get_running_loop().create_task(self._send(), name="attached-journal")

    async def close(self) -> None:
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
        now = time.monotonic()
        if now - self.alive_checked > 0.1:  # kill(pid, 0) and the heartbeat, ten times a second
            self.alive_checked = now
            self._alive = self.attached is not None and self.attached.alive()
        return self._alive

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

    # -- asking -----------------------------------------------------------------------

    def can_subscribe(self, venue: str) -> bool:
        att = self.attached
        return att is not None and att.control_path is not None

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        assert self.attached is not None
        await self.attached.subscribe(venue, list(symbols))

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
