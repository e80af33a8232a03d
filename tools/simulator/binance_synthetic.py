"""A synthetic Binance USD-M symbol: a seeded random walk with a correct update-id chain.

Every 100 ms step changes a few levels near the mid and emits one diff (``U``/``u``/``pu``
continuous), a bookTicker, 0-3 trades (each as ``trade`` and ``aggTrade``), a ``kline_1m``
every 500 ms (the previous minute's closed kline first when a minute ends) and a mark
price every second. The same seed gives the same bytes.
"""

from __future__ import annotations

import random
import zlib
from collections import deque
from decimal import Decimal

import orjson

from .book import Book
from .tape import Event, GeneratedSource


def _px(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


def _qty(lots: int) -> str:
    return f"{lots // 1000}.{lots % 1000:03d}"


def kline_open(start_ms: int, price: Decimal) -> dict:
    """A minute's kline before its first trade (``n`` 0): open/high/low/close ``price``."""
    return {"t": start_ms, "o": price, "h": price, "l": price, "c": price, "v": Decimal(0),
            "q": Decimal(0), "V": Decimal(0), "Q": Decimal(0), "n": 0, "f": -1, "L": -1}


def kline_add(k: dict, px: Decimal, qty: Decimal, tid: int, *, taker_buy: bool) -> None:
    """Trade ``tid`` at ``px`` folded into the kline ``k`` (the first one opens it)."""
    if not k["n"]:
        k["o"], k["h"], k["l"], k["f"] = px, px, px, tid
    else:
        k["h"], k["l"] = max(k["h"], px), min(k["l"], px)
    k["c"], k["L"] = px, tid
    k["n"] += 1
    k["v"] += qty
    k["q"] += qty * px
    if taker_buy:
        k["V"] += qty
        k["Q"] += qty * px


def kline_payload(symbol: str, e_ms: int, k: dict, *, closed: bool) -> bytes:
    """The ``kline_1m`` stream event of ``k`` as Binance sends it."""
    return orjson.dumps({"e": "kline", "E": e_ms, "s": symbol, "k": {
        "t": k["t"], "T": k["t"] + 59_999, "s": symbol, "i": "1m", "f": k["f"], "L": k["L"],
        "o": str(k["o"]), "c": str(k["c"]), "h": str(k["h"]), "l": str(k["l"]), "v": str(k["v"]),
        "n": k["n"], "x": closed, "q": str(k["q"]), "V": str(k["V"]), "Q": str(k["Q"]), "B": "0"}})


class SyntheticSymbol(GeneratedSource):
    """A random-walk market for one symbol: 100 ms steps of depth, bookTicker, trades,
    aggTrades, a kline every 500 ms and a mark price every second (seeded, reproducible)."""

    STEP_S = 0.1

    def __init__(self, symbol: str, *, seed: int, t0: float, base_ms: int) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed ^ zlib.crc32(symbol.encode()))
        self.t0 = t0
        self.base_ms = base_ms
        self.step = 0
        self.mid = 1000 + zlib.crc32(symbol.encode()) % 90000  # price in 0.1 ticks
        self.start_mid = self.mid
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        for k in range(1, 51):
            self.bids[self.mid - k] = self.rng.randint(1, 5000)
            self.asks[self.mid + k] = self.rng.randint(1, 5000)
        self.last_u = self.rng.randint(10**9, 10**10)
        self.tid = self.rng.randint(10**6, 10**7)
        self.agg = self.rng.randint(10**6, 10**7)
        self.queue: deque[Event] = deque()
        self.kline: dict[str, object] | None = None
        self._generate()

    # -- REST views
    def snapshot(self) -> tuple[int, Book]:
        """A ``lastUpdateId`` inside the next diff; the book already includes that diff.

        Levels are absolute, so applying the bracketing diff on top changes nothing: this
        is how a real snapshot taken mid-event behaves.
        """
        nxt = next((ev.ids for ev in self.queue if ev.kind == "depth"), None)
        if nxt is None:
            self._generate()
            nxt = next(ev.ids for ev in self.queue if ev.kind == "depth")
        first, last, _ = nxt  # type: ignore[misc]
        return first + (last - first) // 2, self.book()

    def book(self) -> Book:
        bids = [[_px(p), _qty(q)] for p, q in self.bids.items()]
        asks = [[_px(p), _qty(q)] for p, q in self.asks.items()]
        return Book.from_levels(bids, asks)

    # -- generation
    def _generate(self) -> None:
        rng, sym = self.rng, self.symbol
        t = self.t0 + self.step * self.STEP_S
        e_ms = self.base_ms + int(round(t * 1000))
        r = rng.random()
        self.mid += 1 if r < 0.15 else -1 if r < 0.3 else 0
        bids_ch: dict[int, int] = {p: 0 for p in self.bids if p >= self.mid or p < self.mid - 60}
        asks_ch: dict[int, int] = {p: 0 for p in self.asks if p <= self.mid or p > self.mid + 60}
        for _ in range(rng.randint(1, 3)):
            bids_ch[self.mid - rng.randint(1, 25)] = rng.choice((0, rng.randint(1, 5000)))
            asks_ch[self.mid + rng.randint(1, 25)] = rng.choice((0, rng.randint(1, 5000)))
        # keep the touch populated so best bid/ask exist
        bids_ch.setdefault(self.mid - 1, self.bids.get(self.mid - 1) or rng.randint(1, 5000))
        asks_ch.setdefault(self.mid + 1, self.asks.get(self.mid + 1) or rng.randint(1, 5000))
        if bids_ch[self.mid - 1] == 0:
            bids_ch[self.mid - 1] = rng.randint(1, 5000)
        if asks_ch[self.mid + 1] == 0:
            asks_ch[self.mid + 1] = rng.randint(1, 5000)
        for side, ch in ((self.bids, bids_ch), (self.asks, asks_ch)):
            for p, q in ch.items():
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        first = self.last_u + 1
        last = first + rng.randint(0, 4)
        prev, self.last_u = self.last_u, last
        depth = orjson.dumps({
            "e": "depthUpdate", "E": e_ms, "T": e_ms, "s": sym, "U": first, "u": last, "pu": prev,
            "b": [[_px(p), _qty(q)] for p, q in sorted(bids_ch.items(), reverse=True)],
            "a": [[_px(p), _qty(q)] for p, q in sorted(asks_ch.items())],
        })
        q = self.queue
        q.append(Event(t, sym, "depth", depth, (first, last, prev)))
        bb, ba = self.mid - 1, self.mid + 1
        q.append(Event(t, sym, "bookTicker", orjson.dumps({
            "e": "bookTicker", "u": last, "s": sym, "b": _px(bb), "B": _qty(self.bids[bb]),
            "a": _px(ba), "A": _qty(self.asks[ba]), "T": e_ms, "E": e_ms})))
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            self._trade(t, e_ms, buy=rng.random() < 0.5)
        if self.step % 5 == 4:
            k = self._kline_at(t, e_ms)
            q.append(self._kline_event(t, e_ms, k, closed=False))
        if self.step % 10 == 9:
            funding = (e_ms // 28_800_000 + 1) * 28_800_000
            q.append(Event(t, sym, "markPrice", orjson.dumps({
                "e": "markPriceUpdate", "E": e_ms, "s": sym, "p": _px(self.mid) + "0000",
                "i": _px(self.mid) + "0000", "P": _px(self.mid) + "0000", "r": "0.00010000",
                "T": funding})))
        self.step += 1

    def _trade(self, t: float, e_ms: int, *, buy: bool) -> None:
        rng = self.rng
        price = self.mid + 1 if buy else self.mid - 1
        lots = rng.randint(1, 500)
        self.tid += 1
        self.agg += 1
        p, qv = _px(price), _qty(lots)
        k = self._kline_at(t, e_ms)  # may close the previous minute's kline first
        self.queue.append(Event(t, self.symbol, "trade", orjson.dumps({
            "e": "trade", "E": e_ms, "T": e_ms, "s": self.symbol, "t": self.tid, "p": p, "q": qv,
            "X": "MARKET", "m": not buy})))
        self.queue.append(Event(t, self.symbol, "aggTrade", orjson.dumps({
            "e": "aggTrade", "E": e_ms, "a": self.agg, "s": self.symbol, "p": p, "q": qv,
            "f": self.tid, "l": self.tid, "T": e_ms, "m": not buy})))
        kline_add(k, Decimal(p), Decimal(qv), self.tid, taker_buy=buy)

    def _kline_at(self, t: float, e_ms: int) -> dict:
        """The kline of ``e_ms``'s minute; entering a new minute first sends the old one closed."""
        start = e_ms // 60_000 * 60_000
        if self.kline is None or self.kline["t"] != start:
            if self.kline is not None:
                self.queue.append(self._kline_event(t, e_ms, self.kline, closed=True))
            self.kline = kline_open(start, Decimal(_px(self.mid)))
        return self.kline

    def _kline_event(self, t: float, e_ms: int, k: dict, *, closed: bool) -> Event:
        return Event(t, self.symbol, "kline_1m", kline_payload(self.symbol, e_ms, k, closed=closed))
