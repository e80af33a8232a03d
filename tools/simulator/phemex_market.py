"""The simulated Phemex market: the looped 2021 capture plus synthetic symbols.

Events are keyed ``(symbol, channel)`` with the recorder's channel names (``orderbook``,
``trade``, ``kline``). Loop 0 sends the capture's bytes as they are; loop ``n`` shifts every
``sequence`` by ``n`` times the capture's whole sequence span (so each symbol's sequence
keeps growing: the "increasing" book rule sees no break at the seam) and every time by
``n`` whole-minute spans (book ``timestamp`` and trade times in ns, kline opens in s).

The market keeps each symbol's book (scaled integers, as sent), its last 200 trades and
klines, so a new subscriber gets what Phemex sends first: a book ``snapshot``, the recent
trades (``type`` snapshot, newest first) and klines. The capture's own trade and kline
snapshots (what cryptofeed got at subscribe time) only seed that history.
"""

from __future__ import annotations

import random
import zlib
from collections import deque
from collections.abc import Iterable

import orjson

from .captures import RawCapture
from .tape import Event, GeneratedSource, Source, Tape, minute_ceil_ms
from .universe import Universe

LOOP_GAP_S = 0.1
HISTORY = 200  # trades Phemex sends on subscribe
DEPTH = 30
SNAPSHOT = "snapshot"  # suffix of a kind that seeds history but reaches no subscriber


def _kind(msg: dict) -> str | None:
    for key, kind in (("book", "orderbook"), ("trades", "trade"), ("kline", "kline")):
        if key in msg:
            return kind
    return None


def shift(data: bytes, deltas: dict[str, int]) -> bytes:
    """A capture payload with ``sequence`` and every time moved by ``deltas`` (``seq``, ``ns``)."""
    msg = orjson.loads(data)
    msg["sequence"] += deltas["seq"]
    ns = deltas["ns"]
    if "timestamp" in msg:
        msg["timestamp"] += ns
    if "trades" in msg:
        msg["trades"] = [[t[0] + ns, *t[1:]] for t in msg["trades"]]
    if "kline" in msg:
        msg["kline"] = [[k[0] + ns // 1_000_000_000, *k[1:]] for k in msg["kline"]]
    return orjson.dumps(msg)


class PhemexCapture:
    """The capture's data frames prepared for looping."""

    def __init__(self, raw: RawCapture) -> None:
        self.frames: list[tuple[float, str, str, bytes]] = []
        seqs: list[int] = []
        times: list[int] = []
        for t, payload in raw.frames:
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            kind = _kind(msg) if isinstance(msg, dict) else None
            if kind is None:
                continue  # acks and pongs
            if msg.get("type") == "snapshot" and kind != "orderbook":
                kind += ":" + SNAPSHOT
            self.frames.append((t, msg["symbol"], kind, payload))
            seqs.append(msg["sequence"])
            if "timestamp" in msg:
                times.append(msg["timestamp"])
        t0 = self.frames[0][0] if self.frames else 0.0
        self.frames = [(t - t0, s, k, d) for t, s, k, d in self.frames]
        self.loop_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        self.seq_delta = (max(seqs) - min(seqs) + 1) if seqs else 1
        span_ms = ((max(times) - min(times)) // 1_000_000) if times else 0
        self.ns_delta = minute_ceil_ms(span_ms) * 1_000_000
        self.symbols = sorted({s for _, s, _, _ in self.frames})


class PhemexCaptureSource(Source):
    """A ``PhemexCapture`` played in an endless loop with shifted sequences and times."""

    def __init__(self, cap: PhemexCapture) -> None:
        self.cap = cap
        self.i = 0
        self.loop = 0

    def peek_t(self) -> float:
        return self.loop * self.cap.loop_s + self.cap.frames[self.i][0]

    def pop(self) -> Event:
        t, sym, kind, data = self.cap.frames[self.i]
        t += self.loop * self.cap.loop_s
        if self.loop:
            deltas = {"seq": self.loop * self.cap.seq_delta, "ns": self.loop * self.cap.ns_delta}
            ev = Event(t, sym, kind, data, None, shift, deltas)
        else:
            ev = Event(t, sym, kind, data)
        self.i += 1
        if self.i == len(self.cap.frames):
            self.i = 0
            self.loop += 1
        return ev


class PhemexSynthetic(GeneratedSource):
    """A random-walk book for one symbol: a snapshot, then a level change every 200 ms and a
    trade now and then with its 1-minute kline (scaled integers like the real feed: 10^4
    contracts, 10^8 spot)."""

    STEP_S = 0.2

    def __init__(self, symbol: str, *, seed: int, t0: float, base_ms: int) -> None:
        self.symbol = symbol
        h = zlib.crc32(symbol.encode())
        self.rng = random.Random(seed ^ h)
        self.t0, self.step = t0, 0
        self.ns0 = (base_ms + int(t0 * 1000)) * 1_000_000
        spot = symbol.startswith("s")
        self.scale = 10**8 if spot else 10**4
        self.qty_scale = 10**8 if spot else 1
        self.tick = self.scale // 100
        self.mid = (100 + h % 50_000) * self.scale // self.tick * self.tick
        self.seq = 1_000_000 + h % 1_000_000
        self.bar: list[int] | None = None
        self.queue = deque()
        self._snapshot()

    def _ns(self, t: float) -> int:
        return self.ns0 + int((t - self.t0) * 1e9)

    def _qty(self) -> int:
        return self.rng.randint(1, 50) * self.qty_scale // (100 if self.qty_scale > 1 else 1)

    def _snapshot(self) -> None:
        t = self.t0
        asks = [[self.mid + (i + 1) * self.tick, self._qty()] for i in range(DEPTH)]
        bids = [[self.mid - (i + 1) * self.tick, self._qty()] for i in range(DEPTH)]
        self.seq += 1
        self.queue.append(Event(t, self.symbol, "orderbook", orjson.dumps({
            "book": {"asks": asks, "bids": bids}, "depth": DEPTH, "sequence": self.seq,
            "symbol": self.symbol, "timestamp": self._ns(t), "type": "snapshot"})))

    def _generate(self) -> None:
        self.step += 1
        t = self.t0 + self.step * self.STEP_S
        rng = self.rng
        side = rng.choice(("asks", "bids"))
        sign = 1 if side == "asks" else -1
        price = self.mid + sign * rng.randint(1, DEPTH) * self.tick
        self.seq += 1
        book = {"asks": [], "bids": []}
        book[side] = [[price, 0 if rng.random() < 0.2 else self._qty()]]
        self.queue.append(Event(t, self.symbol, "orderbook", orjson.dumps({
            "book": book, "depth": DEPTH, "sequence": self.seq, "symbol": self.symbol,
            "timestamp": self._ns(t), "type": "incremental"})))
        if rng.random() < 0.3:
            self.seq += 1
            buy = rng.random() < 0.5
            px = self.mid + (self.tick if buy else -self.tick)
            qty = self._qty()
            self.queue.append(Event(t, self.symbol, "trade", orjson.dumps({
                "sequence": self.seq, "symbol": self.symbol,
                "trades": [[self._ns(t), "Buy" if buy else "Sell", px, qty]],
                "type": "incremental"})))
            self.seq += 1
            self.queue.append(Event(t, self.symbol, "kline", orjson.dumps({
                "kline": [self._bar(t, px, qty)], "sequence": self.seq, "symbol": self.symbol,
                "type": "incremental"})))

    def _bar(self, t: float, px: int, qty: int) -> list[int]:
        """The 1-minute bar the trade falls in: [start s, 60, lastClose, open, high, low,
        close, volume, turnover] (Phemex's kline row)."""
        start = self._ns(t) // 60_000_000_000 * 60
        bar = self.bar
        if bar is None or bar[0] != start:
            last_close = bar[6] if bar is not None else px
            bar = self.bar = [start, 60, last_close, px, px, px, px, 0, 0]
        bar[4], bar[5], bar[6] = max(bar[4], px), min(bar[5], px), px
        bar[7] += qty
        bar[8] += px * qty // self.scale
        return list(bar)


class PhemexMarket:
    """Tape plus what a new subscriber is sent first, per symbol."""

    universe: Universe | None = None  # synthetic spot symbols (``tools.simulator.universe``)

    def __init__(self, raws: Iterable[RawCapture], *, seed: int, base_ms: int,
                 symbols: tuple[str, ...] | None = None) -> None:
        self.tape = Tape()
        self.seed, self.base_ms = seed, base_ms
        self.allowed = None if symbols is None else set(symbols)
        self.captured: set[str] = set()
        for raw in raws:
            cap = PhemexCapture(raw)
            if cap.frames:
                self.tape.add(PhemexCaptureSource(cap))
                self.captured.update(cap.symbols)
        self.symbols: list[str] = sorted(self.captured)
        self.books: dict[str, tuple[dict[int, int], dict[int, int], int, int]] = {}
        self.trades: dict[str, deque[list]] = {}
        self.klines: dict[str, dict[int, list]] = {}
        self.seqs: dict[str, int] = {}
        # The capture's trade and kline snapshots are history from before it started: a
        # subscriber at tape time 0 gets them as Phemex would (observing them again is a no-op).
        for raw in raws:
            for _, sym, kind, data in PhemexCapture(raw).frames:
                if kind.endswith(SNAPSHOT):
                    self._observe(Event(0.0, sym, kind, data))

    def valid(self, symbol: str) -> bool:
        """True for a symbol this market serves (captured, or allowed and well formed)."""
        if symbol in self.captured:
            return True
        if self.allowed is not None:
            return symbol in self.allowed
        return symbol.isalnum() and (symbol.startswith("s") or symbol[:1].isupper()) and len(symbol) >= 5

    def activate(self, symbol: str) -> bool:
        """Serve ``symbol`` (a synthetic source for one not captured); False if unknown."""
        if symbol not in self.symbols and self.universe is not None \
                and self.universe.activate(symbol, self.tape):
            self.symbols.append(symbol)
            return True
        if not self.valid(symbol):
            return False
        if symbol not in self.symbols:
            self.symbols.append(symbol)
            self.tape.add(PhemexSynthetic(symbol, seed=self.seed, t0=self.tape.t,
                                          base_ms=self.base_ms))
        return True

    def next(self) -> Event:
        ev = self.tape.next()
        self._observe(ev)
        return ev

    def _observe(self, ev: Event) -> None:
        msg = orjson.loads(ev.data)
        sym = ev.symbol
        self.seqs[sym] = max(self.seqs.get(sym, 0), msg["sequence"])
        if "book" in msg:
            if msg["type"] == "snapshot" or sym not in self.books:
                asks, bids = {}, {}
            else:
                asks, bids = self.books[sym][0], self.books[sym][1]
            for side, levels in ((asks, msg["book"]["asks"]), (bids, msg["book"]["bids"])):
                for px, qty in levels:
                    if qty:
                        side[px] = qty
                    else:
                        side.pop(px, None)
            self.books[sym] = (asks, bids, msg["sequence"], msg["timestamp"])
        elif "trades" in msg:
            rows = msg["trades"] if msg["type"] != "snapshot" else msg["trades"][::-1]
            kept = self.trades.setdefault(sym, deque(maxlen=HISTORY))
            newest = kept[-1][0] if kept else -1
            kept.extend(r for r in rows if r[0] > newest)
        elif "kline" in msg:
            bars = self.klines.setdefault(sym, {})
            for k in msg["kline"]:
                bars[k[0]] = k

    def first_frames(self, symbol: str, channel: str) -> list[bytes]:
        """What a ``<channel>.subscribe`` is answered with after its ack."""
        seq = self.seqs.get(symbol, 0)
        if channel == "orderbook":
            book = self.books.get(symbol)
            if book is None:
                return []
            asks, bids, bseq, ts = book
            return [orjson.dumps({
                "book": {"asks": [[p, asks[p]] for p in sorted(asks)[:DEPTH]],
                         "bids": [[p, bids[p]] for p in sorted(bids, reverse=True)[:DEPTH]]},
                "depth": DEPTH, "sequence": bseq, "symbol": symbol, "timestamp": ts,
                "type": "snapshot"})]
        if channel == "trade":
            rows = list(self.trades.get(symbol, ()))[::-1]
            return [orjson.dumps({"sequence": seq, "symbol": symbol, "trades": rows,
                                  "type": "snapshot"})]
        bars = self.klines.get(symbol)
        if not bars:
            return []
        rows = [bars[k] for k in sorted(bars, reverse=True)][:1000]
        return [orjson.dumps({"kline": rows, "sequence": seq, "symbol": symbol, "type": "snapshot"})]
