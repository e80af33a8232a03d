"""The simulated KuCoin spot market: the looped capture plus synthetic symbols, and its books.

The capture (``cryptofeed/KUCOIN.jsonl.zst``, 2021-04-25, nine symbols with level2,
match and ticker) is replayed byte for byte on its first pass. Each later pass shifts a
symbol's sequences by its span (``last sequenceEnd - first sequenceStart + 1``, so the
level2 chain stays gapless across the loop) and times by whole minutes; those payloads
are re-encoded (compact JSON, key order kept). Any other symbol asked for is seeded
random sizes on a fixed price grid (a book that never crosses): an ``l2update`` every
200 ms, a match every fifth step, a ticker after each.

The market keeps each symbol's book and sequence as the tape passes (KuCoin's rule: a
change applies when its own sequence is past the book's), so a REST snapshot
(``snapshot_body``) is always consistent with the diffs around it.
"""

from __future__ import annotations

import random
import zlib
from collections import deque

import orjson

from .book import Book
from .captures import RawCapture
from .tape import Event, GeneratedSource, Source, Tape, minute_ceil_ms
from .universe import Universe

KINDS = {"trade.l2update": "level2", "trade.l3match": "match", "trade.ticker": "ticker"}
LOOP_GAP_S = 0.1


class KucoinCapture:
    """The capture's data messages prepared for looping, and its REST snapshots."""

    def __init__(self, raw: RawCapture) -> None:
        self.frames: list[tuple[float, str, str, bytes]] = []  # (t, symbol, kind, payload)
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        lo = hi = None
        for t, payload in raw.frames:
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            kind = KINDS.get(msg.get("subject", ""))
            if kind is None:
                continue
            sym = msg["topic"].rsplit(":", 1)[1]
            self.frames.append((t, sym, kind, payload))
            d = msg["data"]
            if kind == "level2":
                first.setdefault(sym, d["sequenceStart"])
                last[sym] = d["sequenceEnd"]
            ms = int(d["time"]) // 1_000_000 if kind == "match" else d.get("time")
            if ms:
                lo, hi = (ms if lo is None else min(lo, ms)), (ms if hi is None else max(hi, ms))
        t0 = self.frames[0][0] if self.frames else 0.0
        self.frames = [(t - t0, s, k, p) for t, s, k, p in self.frames]
        self.loop_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        self.time_delta_ms = minute_ceil_ms((hi or 0) - (lo or 0))
        self.seq_delta = {s: last[s] - first[s] + 1 for s in first}
        self.symbols = sorted({s for _, s, _, _ in self.frames})
        self.snapshots: dict[str, dict] = {}
        for _, url, body in raw.rest:
            if url and "/orderbook/level2" in url and "symbol=" in url:
                self.snapshots[url.rsplit("symbol=", 1)[1]] = orjson.loads(body)["data"]


def shift(msg: dict, kind: str, seq: int, ms: int) -> bytes:
    """A data message with its sequences moved by ``seq`` and its times by ``ms``."""
    d = msg["data"]
    if kind == "level2":
        d["sequenceStart"] += seq
        d["sequenceEnd"] += seq
        for side in ("asks", "bids"):
            d["changes"][side] = [[p, q, str(int(s) + seq)] for p, q, s in d["changes"][side]]
        if "time" in d:
            d["time"] += ms
    elif kind == "match":
        d["sequence"] = str(int(d["sequence"]) + seq)
        d["time"] = str(int(d["time"]) + ms * 1_000_000)
    else:
        d["sequence"] = str(int(d["sequence"]) + seq)
        d["time"] += ms
    return orjson.dumps(msg)


class KucoinCaptureSource(Source):
    """A ``KucoinCapture`` played in an endless loop with shifted sequences and times."""

    def __init__(self, cap: KucoinCapture) -> None:
        self.cap = cap
        self.i = 0
        self.loop = 0

    def peek_t(self) -> float:
        return self.loop * self.cap.loop_s + self.cap.frames[self.i][0]

    def pop(self) -> Event:
        t, sym, kind, data = self.cap.frames[self.i]
        if self.loop:
            data = shift(orjson.loads(data), kind, self.loop * self.cap.seq_delta.get(sym, 0),
                         self.loop * self.cap.time_delta_ms)
        ev = Event(self.loop * self.cap.loop_s + t, sym, kind, data)
        self.i += 1
        if self.i == len(self.cap.frames):
            self.i = 0
            self.loop += 1
        return ev


class KucoinSynthetic(GeneratedSource):
    """Seeded random sizes on a fixed price grid for one symbol: level2 diffs, matches, tickers."""

    STEP_S = 0.2
    LEVELS = 10

    def __init__(self, symbol: str, *, seed: int, t0: float, base_ms: int) -> None:
        self.symbol = symbol
        h = zlib.crc32(symbol.encode())
        self.rng = random.Random(seed ^ h)
        self.t0, self.base_ms, self.step = t0, base_ms, 0
        self.tick = 0.01
        self.mid = 100 + h % 50_000
        self.seq = 1_000_000_000 + h % 1_000_000
        self.queue: deque[Event] = deque()
        bids = [[self._px(-i), self._qty()] for i in range(1, self.LEVELS + 1)]
        asks = [[self._px(i), self._qty()] for i in range(1, self.LEVELS + 1)]
        self.initial = (bids, asks, self.seq)
        self._generate()

    def _px(self, ticks: int) -> str:
        return f"{self.mid + ticks * self.tick:.2f}"

    def _qty(self) -> str:
        return f"{self.rng.uniform(0.01, 5):.8f}"

    def _msg(self, kind: str, subject: str, data: dict) -> bytes:
        return orjson.dumps({"type": "message", "topic": f"/market/{kind}:{self.symbol}",
                             "subject": subject, "data": data})

    def _generate(self) -> None:
        self.step += 1
        t = self.t0 + self.step * self.STEP_S
        ms = self.base_ms + int(t * 1000)
        self.seq += 1
        side = self.rng.choice(("asks", "bids"))
        off = self.rng.randint(1, self.LEVELS)
        price = self._px(off if side == "asks" else -off)
        qty = "0" if self.rng.random() < 0.2 else self._qty()
        changes = {"asks": [], "bids": []}
        changes[side] = [[price, qty, str(self.seq)]]
        self.queue.append(Event(t, self.symbol, "level2", self._msg("level2", "trade.l2update", {
            "sequenceStart": self.seq, "symbol": self.symbol, "changes": changes,
            "sequenceEnd": self.seq, "time": ms})))
        if self.step % 5 == 0:  # the book's grid stays around a fixed mid: it never crosses
            px = self._px(0)
            self.queue.append(Event(t, self.symbol, "match", self._msg("match", "trade.l3match", {
                "symbol": self.symbol, "sequence": str(self.seq), "side": self.rng.choice(("buy", "sell")),
                "size": self._qty(), "price": px, "takerOrderId": f"t{self.step}", "time": str(ms * 1_000_000),
                "type": "match", "makerOrderId": f"m{self.step}", "tradeId": f"{self.symbol}-{self.step}"})))
        self.queue.append(Event(t, self.symbol, "ticker", self._msg("ticker", "trade.ticker", {
            "sequence": str(self.seq), "bestAsk": self._px(1), "size": "0.1", "bestBidSize": "1",
            "price": self._px(0), "time": ms, "bestAskSize": "1", "bestBid": self._px(-1)})))


class SymbolBook:
    """One symbol's book and sequence as the tape passed (KuCoin's per-change rule)."""

    def __init__(self, bids: list, asks: list, sequence: int) -> None:
        self.book = Book.from_levels(bids, asks)
        self.sequence = sequence

    def apply(self, data: dict) -> None:
        for side in ("bids", "asks"):
            levels = [[p, q] for p, q, s in data["changes"][side] if p != "0" and int(s) > self.sequence]
            self.book.apply(levels if side == "bids" else [], levels if side == "asks" else [])
        self.sequence = max(self.sequence, data["sequenceEnd"])


class KucoinMarket:
    """Every KuCoin symbol the simulator serves: the looped capture plus synthetic ones."""

    universe: Universe | None = None  # synthetic symbols (``tools.simulator.universe``)

    def __init__(self, raws: list[RawCapture], *, seed: int, base_ms: int,
                 symbols: tuple[str, ...] | None = None) -> None:
        self.seed, self.base_ms = seed, base_ms
        self.allowed = None if symbols is None else {s.upper() for s in symbols}
        self.tape = Tape()
        self.books: dict[str, SymbolBook] = {}
        self.captured: set[str] = set()
        self.active: set[str] = set()
        for raw in raws:
            cap = KucoinCapture(raw)
            self.captured.update(cap.symbols)
            for sym, snap in cap.snapshots.items():
                self.books[sym] = SymbolBook(snap["bids"], snap["asks"], int(snap["sequence"]))
            if cap.frames:
                self.tape.add(KucoinCaptureSource(cap))
        self.symbols = sorted(self.captured)

    def activate(self, symbol: str) -> bool:
        """True when ``symbol`` is served (a synthetic one starts on first ask)."""
        symbol = symbol.upper()
        if symbol in self.captured or symbol in self.active:
            return True
        if self.universe is not None and self.universe.activate(symbol, self.tape):
            self.active.add(symbol)
            self.symbols.append(symbol)
            return True
        if self.allowed is not None and symbol not in self.allowed:
            return False
        src = KucoinSynthetic(symbol, seed=self.seed, t0=self.tape.t, base_ms=self.base_ms)
        bids, asks, seq = src.initial
        self.books[symbol] = SymbolBook(bids, asks, seq)
        self.active.add(symbol)
        self.symbols.append(symbol)
        self.tape.add(src)
        return True

    def next(self) -> Event:
        ev = self.tape.next()
        if ev.kind == "level2":
            data = orjson.loads(ev.data)["data"]
            sb = self.books.get(ev.symbol)
            if sb is None:  # a captured symbol without a captured snapshot: start empty
                sb = self.books[ev.symbol] = SymbolBook([], [], data["sequenceStart"] - 1)
            sb.apply(data)
        return ev

    def snapshot_body(self, symbol: str, depth: int, now_ms: int) -> bytes | None:
        """``GET /api/v1/market/orderbook/level2_{depth}``'s body, None for an unknown symbol."""
        if not self.activate(symbol):
            return None
        sb = self.books.get(symbol.upper())
        if sb is None:
            sb = self.books[symbol.upper()] = SymbolBook([], [], 0)
        bids, asks = sb.book.top(depth)
        return orjson.dumps({"code": "200000", "data": {
            "time": now_ms, "sequence": str(sb.sequence), "bids": bids, "asks": asks}})
