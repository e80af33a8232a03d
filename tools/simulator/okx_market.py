"""The OKX market: the real capture looped (books, trades, tickers) plus synthetic instruments.

Books are kept here, one per instrument, as OKX keeps them: the capture's snapshot resets a
book, its updates are merged (size "0" deletes a price), and every change gets the next
``seqId`` and the signed CRC32 of the top 25 levels (``checksum``), computed from this book.
The venue (``okx_server``) renders each change per channel (``books`` update, ``books5``,
``bbo-tbt``) and each subscription's snapshot from the same book, so every checksum a
client sees is one its own merge reproduces. Trades and tickers are the capture's payloads,
their ``ts`` and ``tradeId`` shifted on each loop so time and ids keep increasing.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import deque
from collections.abc import Iterable

import orjson

from .captures import RawCapture
from .tape import Event, GeneratedSource, Source, Tape, minute_ceil_ms
from .universe import Universe

LOOP_GAP_S = 1.0
TOP = 25  # levels per side in the checksum
Level = list[str]  # [price, size, "0", order count], as OKX sends them
_TS = re.compile(rb'"ts":"(\d+)"')
_TRADE_ID = re.compile(rb'"tradeId":"(\d+)"')


def signed_crc32(text: bytes) -> int:
    """CRC32 as OKX states it: a signed 32-bit integer."""
    v = zlib.crc32(text)
    return v - (1 << 32) if v >= 1 << 31 else v


class OkxBook:
    """One instrument's book: price string -> level, bids and asks; the seqId it reached."""

    def __init__(self) -> None:
        self.bids: dict[str, Level] = {}
        self.asks: dict[str, Level] = {}
        self.seq = 0

    def reset(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.bids = {lv[0]: list(lv) for lv in bids}
        self.asks = {lv[0]: list(lv) for lv in asks}

    def merge(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for lv in levels:
                if float(lv[1]) == 0.0:
                    side.pop(lv[0], None)
                else:
                    side[lv[0]] = list(lv)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` bids (descending) and asks (ascending)."""
        bids = sorted(self.bids.values(), key=lambda lv: -float(lv[0]))[:n]
        asks = sorted(self.asks.values(), key=lambda lv: float(lv[0]))[:n]
        return bids, asks

    def checksum(self) -> int:
        """``bid:ask`` interleaved over the top 25 (a missing side's levels skipped), CRC32."""
        bids, asks = self.top(TOP)
        parts: list[str] = []
        for i in range(max(len(bids), len(asks))):
            if i < len(bids):
                parts += bids[i][:2]
            if i < len(asks):
                parts += asks[i][:2]
        return signed_crc32(":".join(parts).encode())


def _shift(data: bytes, deltas: dict[str, int]) -> bytes:
    data = _TS.sub(lambda m: b'"ts":"%d"' % (int(m.group(1)) + deltas["time"]), data)
    if deltas.get("id"):
        data = _TRADE_ID.sub(lambda m: b'"tradeId":"%d"' % (int(m.group(1)) + deltas["id"]), data)
    return data


class OkxCapture:
    """A cryptofeed OKX capture prepared for looping: (t, instId, kind, payload)."""

    def __init__(self, raw: RawCapture) -> None:
        self.frames: list[tuple[float, str, str, bytes]] = []
        lo = hi = None
        id_lo = id_hi = None
        for t, payload in raw.frames:
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            arg = msg.get("arg") if isinstance(msg, dict) else None
            if not arg or "data" not in msg or msg.get("event"):
                continue  # the recording's own acks
            channel, inst = arg.get("channel"), arg.get("instId")
            if channel == "books":
                kind = "snapshot" if msg.get("action", "snapshot") == "snapshot" else "update"
            elif channel in ("trades", "tickers"):
                kind = channel
            else:
                continue
            self.frames.append((t, inst, kind, payload))
            for d in msg["data"]:
                ts = int(d["ts"])
                lo, hi = (ts if lo is None else min(lo, ts)), (ts if hi is None else max(hi, ts))
                if kind == "trades" and d["tradeId"].isdigit():
                    tid = int(d["tradeId"])
                    id_lo = tid if id_lo is None else min(id_lo, tid)
                    id_hi = tid if id_hi is None else max(id_hi, tid)
        t0 = self.frames[0][0] if self.frames else 0.0
        self.frames = [(t - t0, i, k, d) for t, i, k, d in self.frames]
        self.loop_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        self.time_delta_ms = minute_ceil_ms((hi or 0) - (lo or 0))
        self.id_delta = (id_hi or 0) - (id_lo or 0) + 1
        self.insts = sorted({i for _, i, _, _ in self.frames})


class OkxCaptureSource(Source):
    """An ``OkxCapture`` played in an endless loop with shifted times and trade ids."""

    def __init__(self, cap: OkxCapture) -> None:
        self.cap = cap
        self.i = 0
        self.loop = 0

    def peek_t(self) -> float:
        return self.loop * self.cap.loop_s + self.cap.frames[self.i][0]

    def pop(self) -> Event:
        t, inst, kind, data = self.cap.frames[self.i]
        t += self.loop * self.cap.loop_s
        if self.loop:
            ev = Event(t, inst, kind, data, None, _shift,
                       {"time": self.loop * self.cap.time_delta_ms, "id": self.loop * self.cap.id_delta})
        else:
            ev = Event(t, inst, kind, data)
        self.i += 1
        if self.i == len(self.cap.frames):
            self.i, self.loop = 0, self.loop + 1
        return ev


class OkxSynthetic(GeneratedSource):
    """A random-walk instrument: a 30-level snapshot, then book updates every 100 ms, trades
    and a ticker after each trade (seeded, reproducible)."""

    STEP_S = 0.1
    DEPTH = 30

    def __init__(self, inst: str, *, seed: int, t0: float, base_ms: int) -> None:
        self.inst = inst
        h = zlib.crc32(inst.encode())
        self.rng = random.Random(seed ^ h)
        self.t0, self.base_ms, self.step = t0, base_ms, 0
        self.tick = 0.1
        self.mid = 1000 + h % 50_000
        self.trade_id = h % 1_000_000 * 1000
        self.queue: deque[Event] = deque()
        ms = self._ms(t0)
        bids = [self._lv(self.mid - k - 1) for k in range(self.DEPTH)]
        asks = [self._lv(self.mid + k + 1) for k in range(self.DEPTH)]
        self.queue.append(Event(t0, inst, "snapshot", self._book("snapshot", bids, asks, ms)))
        self._generate()

    def _ms(self, t: float) -> int:
        return self.base_ms + int(round(t * 1000))

    def _px(self, ticks: int) -> str:
        return f"{ticks * self.tick:.1f}"

    def _lv(self, ticks: int, size: str | None = None) -> Level:
        sz = size if size is not None else f"{self.rng.uniform(0.001, 5.0):.4f}"
        return [self._px(ticks), sz, "0", str(self.rng.randint(1, 9))]

    def _book(self, action: str, bids: list[Level], asks: list[Level], ms: int) -> bytes:
        return orjson.dumps({"arg": {"channel": "books", "instId": self.inst}, "action": action,
                             "data": [{"asks": asks, "bids": bids, "ts": str(ms)}]})

    def _generate(self) -> None:
        rng = self.rng
        self.step += 1
        t = self.t0 + self.step * self.STEP_S
        ms = self._ms(t)
        k = rng.randint(1, self.DEPTH)
        bids, asks = [self._lv(self.mid - k)], [self._lv(self.mid + k)]
        if rng.random() < 0.2:  # a level empties and comes back later
            bids.append([self._px(self.mid - rng.randint(2, self.DEPTH)), "0", "0", "0"])
        self.queue.append(Event(t, self.inst, "update", self._book("update", bids, asks, ms)))
        if rng.random() < 0.3:
            self.trade_id += 1
            side = rng.choice(("buy", "sell"))
            px = self._px(self.mid + (1 if side == "buy" else -1))
            sz = f"{rng.uniform(0.0001, 1.0):.4f}"
            self.queue.append(Event(t, self.inst, "trades", orjson.dumps({
                "arg": {"channel": "trades", "instId": self.inst},
                "data": [{"instId": self.inst, "tradeId": str(self.trade_id), "px": px, "sz": sz,
                          "side": side, "ts": str(ms), "count": "1", "source": "0"}]})))
            self.queue.append(Event(t, self.inst, "tickers", orjson.dumps({
                "arg": {"channel": "tickers", "instId": self.inst},
                "data": [{"instType": "SPOT", "instId": self.inst, "last": px, "lastSz": sz,
                          "askPx": self._px(self.mid + 1), "askSz": "1", "bidPx": self._px(self.mid - 1),
                          "bidSz": "1", "open24h": px, "high24h": px, "low24h": px,
                          "volCcy24h": "0", "vol24h": "0", "ts": str(ms)}]})))


class OkxMarket:
    """Every OKX source merged into one tape, and the books they move."""

    universe: Universe | None = None  # synthetic SPOT instruments (``tools.simulator.universe``)

    def __init__(self, captures: Iterable[RawCapture] = (), *, seed: int = 0, base_ms: int = 0,
                 symbols: Iterable[str] | None = None) -> None:
        self.tape = Tape()
        self.seed, self.base_ms = seed, base_ms
        self.allowed = None if symbols is None else {s.upper() for s in symbols}
        self._capture: set[str] = set()
        self._synthetic: dict[str, OkxSynthetic] = {}
        self.books: dict[str, OkxBook] = {}
        self.last: dict[tuple[str, str], Event] = {}  # (instId, trades|tickers) -> latest
        for raw in captures:
            cap = OkxCapture(raw)
            if cap.frames:
                self.tape.add(OkxCaptureSource(cap))
                self._capture.update(cap.insts)

    @property
    def symbols(self) -> list[str]:
        return sorted(self._capture | set(self._synthetic))

    def activate(self, inst: str) -> bool:
        """Make sure ``inst`` produces events; False for an instrument OKX would not know."""
        if inst in self._capture or inst in self._synthetic:
            return True
        if self.universe is not None and self.universe.activate(inst, self.tape):
            return True
        parts = inst.split("-")
        if (self.allowed is not None and inst not in self.allowed) or not 2 <= len(parts) <= 5 \
                or not all(p.isalnum() and p.isupper() for p in parts if not p.isdigit()):
            return False
        src = OkxSynthetic(inst, seed=self.seed, t0=self.tape.t, base_ms=self.base_ms)
        self._synthetic[inst] = src
        self.tape.add(src)
        return True

    def next(self) -> Event:
        """The next event; a book event is merged into its book first (``ev.ids`` =
        ``(prevSeqId, seqId, checksum)`` after it)."""
        ev = self.tape.next()
        if ev.kind in ("snapshot", "update"):
            book = self.books.get(ev.symbol)
            if book is None:
                book = self.books[ev.symbol] = OkxBook()
            msg = orjson.loads(ev.data)
            d = msg["data"][0]
            if ev.kind == "snapshot":
                book.reset(d["bids"], d["asks"])
            else:
                book.merge(d["bids"], d["asks"])
            prev = book.seq
            book.seq += 1
            ev.ids = (prev, book.seq, book.checksum())
        else:
            self.last[(ev.symbol, ev.kind)] = ev
        return ev
