"""Resync by resubscribing: a broken book is unsubscribed and subscribed again on its own link.

For venues whose books restart from a WebSocket snapshot (OKX: a checksum or ``seqId``
break). The adapter says which books a plan carries (``book_symbols(plan)``) and what to
send (``resync_messages(symbol)``: unsubscribe, subscribe); this sends them on the open
link of the supervisor carrying that book, journaled as ``sent`` like every message. The
other subscriptions of that connection are untouched. It is the ``SnapshotQueue`` port of
``Resync`` for such a venue, in place of a REST ``SnapshotFetcher``:

    resub = Resubscriber(adapter, supervisors=lambda: app.supervisors, log=log)
    Resync(..., fetchers={"okx": resub})     # a Gap of okx BTC-USDT -> request("BTC-USDT", "checksum")

The venue's op budget per connection (OKX: 480 an hour) is the adapter's ``op_limiter``;
a request over it waits, coalesced with any other request for the same book.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from .logs import fields


class Resubscriber:
    """The ``SnapshotQueue`` of a resubscribing venue; ``request`` and ``pending`` on the loop."""

    def __init__(self, adapter: Any, *, supervisors: Callable[[], Sequence[Any]],
                 log: logging.Logger, op_limiter: Callable[[], Any] | None = None) -> None:
        self.adapter = adapter
        self.venue = adapter.venue
        self.supervisors = supervisors
        self.log = log
        self._op_limiter = op_limiter
        self._limits: dict[int, Any] = {}  # link sid -> its op budget
        self.inflight: dict[str, asyncio.Future[None]] = {}
        self.sent: dict[str, int] = {}  # symbol -> resubscribes sent

    def pending(self, symbol: str) -> bool:
        """True while a resubscribe of ``symbol`` is on its way out."""
        fut = self.inflight.get(symbol.upper())
        return fut is not None and not fut.done()

    def request(self, symbol: str, reason: str) -> None:
        """Resubscribe ``symbol``'s book on the link carrying it (coalesced while pending)."""
        symbol = symbol.upper()
        if self.pending(symbol):
            return
        self.inflight[symbol] = asyncio.ensure_future(self._resubscribe(symbol, reason))

    def _link_for(self, symbol: str) -> Any | None:
        for sv in self.supervisors():
            if sv.venue != self.venue or symbol not in self.adapter.book_symbols(sv.plan):
                continue
            for link in reversed(sv.links):
                if link.is_open:
                    return link
        return None

    async def _resubscribe(self, symbol: str, reason: str) -> None:
        link = self._link_for(symbol)
        if link is None:  # not connected: the reconnect's subscribe brings a snapshot anyway
            return
        msgs = self.adapter.resync_messages(symbol)
        limit = self._limits.get(link.sid)
        if limit is None and self._op_limiter is not None:
            limit = self._limits[link.sid] = self._op_limiter()
        if limit is not None:
            while (wait := limit.delay(time.monotonic(), len(msgs))) > 0:
                await asyncio.sleep(wait)
            limit.take(time.monotonic(), len(msgs))
        try:
            for msg in msgs:
                await link.send(msg)
        except Exception as exc:  # noqa: BLE001 (the link is going: its reconnect resubscribes)
            self.log.warning("resubscribe_failed", extra=fields(
                venue=self.venue, symbol=symbol, stream=link.sid, error=str(exc)))
            return
        self.sent[symbol] = self.sent.get(symbol, 0) + 1
        self.log.info("resubscribed", extra=fields(venue=self.venue, symbol=symbol,
                                                   stream=link.sid, reason=reason))
