"""The market tape: events from several sources merged in time order.

A source is a capture looped forever or one synthetic symbol. Each yields ``Event``s
with a pacing time ``t`` (seconds since the tape started); the feed sends an event when
its time comes (scaled by the speed) or at once in ``max`` mode.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections import deque
from collections.abc import Callable


class Event:
    """One market message: pacing time, symbol, kind (``depth``, ``trade``...), payload.

    ``data`` is the venue payload (Binance: the object inside the combined wrapper; Upbit:
    the SIMPLE-format JSON). ``ids`` carries ``(U, u, pu)`` for Binance depth events.
    A looped capture's payload is shifted only when first read: most events of a busy
    tape reach no subscriber, and shifting is the costly part.
    """

    __slots__ = ("t", "symbol", "kind", "_data", "ids", "_shift", "_deltas")

    def __init__(self, t: float, symbol: str, kind: str, data: bytes,
                 ids: tuple[int, int, int] | None = None,
                 shift: Callable[[bytes, dict[str, int]], bytes] | None = None,
                 deltas: dict[str, int] | None = None) -> None:
        self.t = t
        self.symbol = symbol
        self.kind = kind
        self._data = data
        self.ids = ids
        self._shift = shift
        self._deltas = deltas

    @property
    def data(self) -> bytes:
        if self._shift is not None:
            self._data = self._shift(self._data, self._deltas)  # type: ignore[arg-type]
            self._shift = self._deltas = None
        return self._data

    def __repr__(self) -> str:
        return f"Event(t={self.t:.3f}, {self.symbol}, {self.kind}, {len(self.data)}B)"


class Source:
    """A time-ordered, endless event source: ``peek_t`` then ``pop``."""

    def peek_t(self) -> float:
        raise NotImplementedError

    def pop(self) -> Event:
        raise NotImplementedError


class GeneratedSource(Source):
    """A source that makes its events in steps: ``_generate`` refills ``self.queue``."""

    queue: deque[Event]

    def _generate(self) -> None:
        raise NotImplementedError

    def peek_t(self) -> float:
        return self.queue[0].t

    def pop(self) -> Event:
        ev = self.queue.popleft()
        if not self.queue:
            self._generate()
        return ev


class Tape:
    """Merges sources by pacing time; sources can join while it runs."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Source]] = []
        self._order = itertools.count()
        self.t = 0.0  # pacing time of the last event popped
        # (wall time in s, pacing time, speed) when the feed started pacing: what pacing
        # time a wall time is (``at``); None until then, or when not paced
        self.clock: tuple[float, float, float] | None = None

    def at(self, wall_s: float) -> float | None:
        """The pacing time of wall time ``wall_s`` (seconds since the epoch); None if unpaced."""
        if self.clock is None:
            return None
        wall0, t0, speed = self.clock
        return t0 + (wall_s - wall0) * speed

    def add(self, source: Source) -> None:
        """Start merging ``source`` (its times should not precede ``self.t``)."""
        heapq.heappush(self._heap, (source.peek_t(), next(self._order), source))

    def reschedule(self, source: Source) -> None:
        """``source``'s next time changed (earlier or later): merge it where it now belongs."""
        for i, (_, order, src) in enumerate(self._heap):
            if src is source:
                self._heap[i] = (source.peek_t(), order, src)
                heapq.heapify(self._heap)
                return

    def __bool__(self) -> bool:
        return bool(self._heap)

    def peek_t(self) -> float:
        """Pacing time of the next event (the tape must not be empty)."""
        return self._heap[0][0]

    def next(self) -> Event:
        """The earliest pending event of all sources."""
        heap = self._heap
        _, order, src = heap[0]
        ev = src.pop()
        heapq.heapreplace(heap, (src.peek_t(), order, src))
        self.t = ev.t
        return ev


# ---------------------------------------------------------------------------- looping captures

_NUM = re.compile(rb'"([A-Za-z]{1,4})":(-?\d+)')


def shifter(families: dict[bytes, str]) -> Callable[[bytes, dict[str, int]], bytes]:
    """A function shifting integer fields of a JSON payload by family (``time``, ``id``...).

    ``families`` maps a field name to its family; ``shift(data, deltas)`` adds
    ``deltas[family]`` to each such field, keeping every other byte. Negative values
    (Binance's ``-1`` for "no trade") are left alone.
    """

    def shift(data: bytes, deltas: dict[str, int]) -> bytes:
        def rep(m: re.Match[bytes]) -> bytes:
            fam = families.get(m.group(1))
            if fam is None or m.group(2).startswith(b"-"):
                return m.group(0)
            return b'"%s":%d' % (m.group(1), int(m.group(2)) + deltas.get(fam, 0))

        return _NUM.sub(rep, data)

    return shift


def minute_ceil_ms(span_ms: int) -> int:
    """Smallest whole number of minutes (in ms) longer than ``span_ms``.

    Loop time shifts are whole minutes so kline open times stay on minute boundaries.
    """
    return (span_ms // 60_000 + 1) * 60_000
