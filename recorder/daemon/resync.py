"""Which books need a REST snapshot: gaps from the projection in, marks and fetches out.

There is one sync rule, ``state.sync``'s, and the recorder learns from the projection it
runs anyway (the live one, or a sync-only one with ``[projection] enabled = false``)
that a book broke: a ``Gap`` event, folded the moment its record was appended.
``Resync`` turns that into what the recorder does about it:

- a ``mark`` record under the stream that carried the break,
  ``{"mark": "gap" | "stale_snapshot" | <reason>, "venue", "symbol", "expected", "got",
  "source"}`` (``source``: the projection that saw it). It is appended right after the
  subscriber callback returns, since a writer subscriber may not append itself; the
  fetch that follows always lands after it.
- ``ticktape_gaps_total{venue,symbol}`` counted for a sequence gap, a ``depth_break`` log line,
- a snapshot request to the venue's fetcher, when the venue has the capability.

A break is not acted on while a snapshot of that book is already on its way (requested
and not yet journaled): that snapshot resyncs the book. Nor while the book is held:
a supervisor holds the books of a connection from its open until it delivers (its first
diffs cannot continue the old chain), and across a rotation's overlap (each diff then
arrives twice, once per connection). On release the books are fetched afresh
(``fresh``: the new connection delivers, the documented order: stream first, then the
snapshot), or else only those that broke meanwhile.

    resync = Resync(journal=..., fetchers={"binance-usdm": fetcher}, log=log,
                    source="projection", schedule=loop.call_soon)
    projection = LiveProjection(..., on_gap=resync.on_gap)
    resync.hold("binance-usdm", ["BTCUSDT"])                 # a link carrying its diffs opens
    resync.release("binance-usdm", ["BTCUSDT"], fresh=True)  # ... and delivers: fetch
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from state.events import Gap
from state.symbols import split_key

from .logs import fields
from .ports import Counters, Journal, SnapshotQueue

# The projection's Gap reason -> the mark's text (what the recorder always wrote).
MARK_TEXT = {"sequence": "gap"}


class Resync:
    """Gap in, mark and snapshot request out; see the module docstring (event-loop thread)."""

    def __init__(self, *, journal: Journal, fetchers: Mapping[str, SnapshotQueue],
                 log: logging.Logger, source: str,
                 schedule: Callable[[Callable[[], None]], Any],
                 counters: Counters | None = None) -> None:
        self.journal = journal
        self.fetchers = fetchers
        self.log = log
        self.source = source
        self.schedule = schedule
        self.counters = counters
        self.held: Counter[tuple[str, str]] = Counter()  # (venue, symbol) -> rotations overlapping
        self.unmarked: set[tuple[str, str]] = set()  # breaks not acted on during a hold
        self._marks: list[tuple[int, str, dict[str, Any]]] = []  # (sid, text, fields) to append

    # -- from the projection (inside the writer's subscriber) -------------------------

    def on_gap(self, gap: Gap, stream: int) -> None:
        """A ``Gap`` of the record just appended on ``stream``: mark, count, fetch.

        Runs inside the writer's subscriber: nothing is appended here, the mark is queued.
        """
        symbol = split_key(gap.symbol)[1]
        key = (gap.venue, symbol.upper())
        if self.held[key]:
            self.unmarked.add(key)
            return
        fetcher = self.fetchers.get(gap.venue)
        if fetcher is not None and fetcher.pending(symbol):
            return  # the snapshot on its way resyncs it
        text = MARK_TEXT.get(gap.reason, gap.reason)
        if not self._marks:
            self.schedule(self._flush)
        self._marks.append((stream, text, {"venue": gap.venue, "symbol": symbol,
                                           "expected": gap.expected, "got": gap.got,
                                           "source": self.source}))
        if self.counters is not None and text == "gap":
            self.counters.gap(gap.venue, symbol)
        self.log.warning("depth_break", extra=fields(venue=gap.venue, symbol=symbol, reason=text,
                                                     expected=gap.expected, got=gap.got,
                                                     stream=stream))
        if fetcher is not None:
            fetcher.request(symbol, text)

    def _flush(self) -> None:
        marks, self._marks = self._marks, []
        for sid, text, kw in marks:
            self.journal.mark(sid, text, **kw)

    # -- from the supervisors --------------------------------------------------------

    def hold(self, venue: str, symbols: Sequence[str]) -> None:
        """Breaks of these books are expected until ``release`` (a connection opening, a
        rotation overlapping): they are not acted on."""
        for s in symbols:
            self.held[(venue, s.upper())] += 1

    def release(self, venue: str, symbols: Sequence[str], *, fresh: bool) -> None:
        """End a ``hold``: fetch every book afresh (``fresh``: a new connection delivers
        them), else only those that broke meanwhile. Books still held by another are left."""
        fetcher = self.fetchers.get(venue)
        for s in symbols:
            key = (venue, s.upper())
            self.held[key] -= 1
            if self.held[key] > 0:
                continue
            del self.held[key]
            broke = key in self.unmarked
            self.unmarked.discard(key)
            if fetcher is not None and (fresh or broke):
                fetcher.request(key[1], "start" if fresh else "held")
