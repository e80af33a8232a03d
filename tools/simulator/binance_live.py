"""One simulated Binance symbol's streamed trades and the 1m bars made of them.

``BinanceMarket`` keeps a symbol's last ``MAX_TRADES`` trade and aggTrade events: REST
``/trades``, ``/klines`` and ``/ticker/24hr`` read them, and so does the ``@ticker`` stream,
once a second per symbol. Rebuilding the bars from every kept trade on each read cost a
JSON parse per trade per read, so the bars are kept instead: trades are folded in when
next read (the tape itself never parses a trade nobody asked about), and a bar whose oldest
trade fell off the bound is rebuilt from that minute's trades alone. ``rows()`` is exactly
the rebuild from scratch (``tests/tools/test_simulator_market.py`` holds it to that).
"""

from __future__ import annotations

import itertools
from collections import deque
from decimal import Decimal

import orjson

from .tape import Event

MAX_TRADES = 50_000
KINDS = ("trade", "aggTrade")


def _bar_add(bars: dict[int, list], start: int, kind: str, tr: dict) -> None:
    """Trade ``tr`` folded into its minute's bar: ``/klines`` row fields, Decimals."""
    px, qty = Decimal(tr["p"]), Decimal(tr["q"])
    n = 1 if kind == "trade" else tr["l"] - tr["f"] + 1
    bar = bars.get(start)
    if bar is None:
        bar = bars[start] = [start, px, px, px, px, qty, start + 59_999, qty * px, n,
                             Decimal(0), Decimal(0), "0"]
    else:
        bar[2], bar[3], bar[4] = max(bar[2], px), min(bar[3], px), px
        bar[5] += qty
        bar[7] += qty * px
        bar[8] += n
    if not tr["m"]:  # buyer is the taker
        bar[9] += qty
        bar[10] += qty * px


def rebuild_rows(events) -> list[list]:
    """The 1m rows of ``events`` from scratch: of ``trade`` events when there are any, else
    of ``aggTrade`` ones; oldest first, numbers as strings (the reference ``rows()`` keeps)."""
    events = list(events)
    use = "trade" if any(ev.kind == "trade" for ev in events) else "aggTrade"
    bars: dict[int, list] = {}
    for ev in events:
        if ev.kind == use:
            tr = orjson.loads(ev.data)
            _bar_add(bars, tr["T"] // 60_000 * 60_000, use, tr)
    return [[str(v) if isinstance(v, Decimal) else v for v in bars[k]] for k in sorted(bars)]


class LiveTrades:
    """A bounded deque of trade events (``events``) and, per kind, its minute bars."""

    __slots__ = ("events", "_folded", "_where", "_minutes", "_bars", "_dirty", "_count")

    def __init__(self, maxlen: int = MAX_TRADES) -> None:
        self.events: deque[Event] = deque(maxlen=maxlen)
        self._folded = 0  # the oldest events already in the bars (the rest are newer)
        self._where: deque[tuple[str, int]] = deque()  # (kind, minute) of each folded event
        self._minutes: dict[str, dict[int, deque[Event]]] = {k: {} for k in KINDS}
        self._bars: dict[str, dict[int, list]] = {k: {} for k in KINDS}
        self._dirty: set[tuple[str, int]] = set()  # bars to rebuild: lost their oldest trade
        self._count = dict.fromkeys(KINDS, 0)

    def add(self, ev: Event) -> None:
        """Keep ``ev`` (a trade or aggTrade), dropping the oldest beyond the bound."""
        events = self.events
        if len(events) == events.maxlen:
            old = events[0]
            self._count[old.kind] -= 1
            if self._folded:  # folded events are the oldest: this one is in a bar
                self._folded -= 1
                kind, start = self._where.popleft()
                same = self._minutes[kind][start]
                same.popleft()
                if same:
                    self._dirty.add((kind, start))
                else:
                    del self._minutes[kind][start], self._bars[kind][start]
                    self._dirty.discard((kind, start))
        events.append(ev)
        self._count[ev.kind] += 1

    def use(self) -> str:
        """The kind the bars are made of: ``trade`` when any is kept, else ``aggTrade``."""
        return "trade" if self._count["trade"] else "aggTrade"

    def rows(self) -> list[list]:
        """Every kept minute's row of ``use()`` trades, oldest first (``/klines`` fields)."""
        self._fold()
        use = self.use()
        bars = self._bars[use]
        for kind, start in [d for d in self._dirty if d[0] == use]:
            self._dirty.discard((kind, start))
            del bars[start]
            for ev in self._minutes[kind][start]:
                _bar_add(bars, start, kind, orjson.loads(ev.data))
        return [[str(v) if isinstance(v, Decimal) else v for v in bars[k]] for k in sorted(bars)]

    def ends(self) -> tuple[dict, dict] | None:
        """The oldest and the newest kept trade of ``use()`` kind, parsed; None if none."""
        use = self.use()
        first = next((ev for ev in self.events if ev.kind == use), None)
        if first is None:
            return None
        last = next(ev for ev in reversed(self.events) if ev.kind == use)
        return orjson.loads(first.data), orjson.loads(last.data)

    def last_event(self) -> Event | None:
        """The newest kept trade event of ``use()`` kind (its ``t`` is tape time)."""
        use = self.use()
        return next((ev for ev in reversed(self.events) if ev.kind == use), None)

    def _fold(self) -> None:
        """Fold the events added since the last read into their bars, oldest first."""
        new = len(self.events) - self._folded
        if not new:
            return
        pending = list(itertools.islice(reversed(self.events), new))
        pending.reverse()
        for ev in pending:
            kind = ev.kind
            tr = orjson.loads(ev.data)
            start = tr["T"] // 60_000 * 60_000
            self._minutes[kind].setdefault(start, deque()).append(ev)
            self._where.append((kind, start))
            if (kind, start) not in self._dirty:  # a dirty bar is rebuilt whole on read
                _bar_add(self._bars[kind], start, kind, tr)
        self._folded = len(self.events)
