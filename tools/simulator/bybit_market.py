"""The simulated Bybit v5 market: the looped real capture (spot and linear) plus synthetic symbols.

The capture (``cryptofeed/BYBIT``: linear BTC/ETH/SOL/DOGE and spot BTC/ETH, 42 s) is kept
byte for byte; each loop ``n`` shifts the times (``ts``, ``cts``, ``T``, ``start``, ``end``,
``timestamp``) by ``n`` whole-minute spans, every book's ``u`` and every symbol's trade ids
(``i``) by ``n`` times their span and the cross sequences (``seq``, ``cs``) likewise, so a loop's first book message (the capture's own
snapshot) follows its last delta's ``u`` by one. Symbols the capture lacks are synthetic: a
200-level book (snapshot, then a delta each 100 ms with ``u`` + 1), a trade each 500 ms and a
ticker each second.

The market follows every book and every linear ticker as the tape goes, so a new subscriber
gets what Bybit gives one: the book's snapshot (its top ``depth`` levels) at the current
``u``, and the linear ticker's full snapshot (later ticker messages are deltas).
Only depth 200 is captured: other depths get the same messages re-labelled (documented in
``bybit_server``).
"""

from __future__ import annotations

import functools
import random
import re
from collections import deque
from collections.abc import Iterable

import orjson
import zstandard

from .book import Book
from .tape import Event, GeneratedSource, Source, Tape, minute_ceil_ms

MARKETS = ("spot", "linear")
BOOK = "orderbook"
KINDS = (BOOK, "publicTrade", "tickers", "kline.1")
_NUM = re.compile(rb'"(ts|cts|T|start|end|timestamp|u|seq|cs)":(\d+)')
_TRADE_ID = re.compile(rb'"i":"(\d+)"')  # a trade's id, a string of digits
_FAMILY = {b"ts": "time", b"cts": "time", b"T": "time", b"start": "time", b"end": "time",
           b"timestamp": "time", b"u": "u", b"seq": "seq", b"cs": "seq"}
LOOP_GAP_S = 0.1


def kind_of(topic: str) -> str:
    """``orderbook`` for every depth, else the topic without its symbol (``kline.1``)."""
    head = topic.rsplit(".", 1)[0]
    return BOOK if head.startswith("orderbook.") else head


def _shift(data: bytes, deltas: dict[str, int]) -> bytes:
    def rep(m: re.Match[bytes]) -> bytes:
        d = deltas.get(_FAMILY[m.group(1)], 0)
        return m.group(0) if not d else b'"%s":%d' % (m.group(1), int(m.group(2)) + d)

    data = _NUM.sub(rep, data)
    if deltas.get("i"):  # each loop's trades come after the last loop's, as their ids say
        data = _TRADE_ID.sub(lambda m: b'"i":"%d"' % (int(m.group(1)) + deltas["i"]), data)
    return data


def parse_symbols(names: Iterable[str] | None) -> dict[str, tuple[str, ...]] | None:
    """``("spot:BTCUSDT", "ETHUSDT")`` -> valid symbols by market (a bare name: both)."""
    if names is None:
        return None
    out: dict[str, list[str]] = {m: [] for m in MARKETS}
    for n in names:
        m, sep, sym = n.partition(":")
        for market in (m,) if sep else MARKETS:
            out[market].append((sym if sep else n).upper())
    return {k: tuple(v) for k, v in out.items()}


@functools.lru_cache(maxsize=8)
def read_bybit(path: str) -> tuple[list[tuple[float, str, bytes]], dict[str, bytes]]:
    """``(frames, rest)``: ``(t, market, payload)`` of every received frame (market from its
    connection's URL) and the REST bodies by ``category``."""
    with open(path, "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read()
    conn_market: dict[str, str] = {}
    frames: list[tuple[float, str, bytes]] = []
    rest: dict[str, bytes] = {}
    t0 = None
    for line in text.split(b"\n"):
        if not line:
            continue
        rec = orjson.loads(line)
        kind = rec.get("t")
        if kind == "connect":
            conn_market[rec["conn"]] = rec["addr"].rstrip("/").rsplit("/", 1)[-1]
        elif kind == "http":
            cat = re.search(r"category=(\w+)", rec["url"])
            if cat:
                rest[cat.group(1)] = rec["data"].encode()
        elif kind == "recv":
            ts = float(rec["ts"])
            t0 = ts if t0 is None else t0
            market = conn_market.get(rec["conn"], "")
            if market in MARKETS:
                frames.append((ts - t0, market, rec["data"].encode()))
    return frames, rest


class BybitCapture:
    """The capture's data frames (acks dropped) with the spans a loop shifts by."""

    def __init__(self, frames: list[tuple[float, str, bytes]]) -> None:
        self.frames: list[tuple[float, str, str, str, bytes]] = []  # t, market, symbol, kind, data
        u_lo: dict[str, int] = {}
        u_hi: dict[str, int] = {}
        ids: dict[str, list[int]] = {}  # key -> its trade ids
        seq_hi = seq_lo = t_lo = t_hi = None
        for t, market, payload in frames:
            msg = orjson.loads(payload)
            topic = msg.get("topic")
            if not topic:
                continue
            sym = topic.rsplit(".", 1)[1]
            key = f"{market}:{sym}"
            self.frames.append((t, market, sym, kind_of(topic), payload))
            for m in _NUM.finditer(payload):
                v, fam = int(m.group(2)), _FAMILY[m.group(1)]
                if fam == "time":
                    t_lo = v if t_lo is None else min(t_lo, v)
                    t_hi = v if t_hi is None else max(t_hi, v)
                elif fam == "seq":
                    seq_lo = v if seq_lo is None else min(seq_lo, v)
                    seq_hi = v if seq_hi is None else max(seq_hi, v)
                elif kind_of(topic) == BOOK:
                    u_lo[key] = min(u_lo.get(key, v), v)
                    u_hi[key] = max(u_hi.get(key, v), v)
            ids.setdefault(key, []).extend(int(m.group(1)) for m in _TRADE_ID.finditer(payload))
        self.symbols = {m: sorted({s for _, mk, s, _, _ in self.frames if mk == m}) for m in MARKETS}
        self.span_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        self.time_ms = minute_ceil_ms((t_hi or 0) - (t_lo or 0))
        self.seq_span = (seq_hi or 0) - (seq_lo or 0) + 1
        self.u_span = {k: u_hi[k] - u_lo[k] + 1 for k in u_lo}
        self.id_span = {k: max(v) - min(v) + 1 for k, v in ids.items() if v}
        self.t0_ms = t_lo or 0


class CaptureSource(GeneratedSource):
    """The capture of one market, looped forever, each loop shifted (module docstring)."""

    def __init__(self, capture: BybitCapture, market: str, *, t0: float = 0.0) -> None:
        self.capture = capture
        self.market = market
        self.frames = [f for f in capture.frames if f[1] == market]
        self.loop = 0
        self.t0 = t0
        self.queue: deque[Event] = deque()
        self._generate()

    def _generate(self) -> None:
        c, n = self.capture, self.loop
        base = self.t0 + n * c.span_s
        for t, market, sym, kind, data in self.frames:
            key = f"{market}:{sym}"
            deltas = {"time": n * c.time_ms, "seq": n * c.seq_span, "u": n * c.u_span.get(key, 0),
                      "i": n * c.id_span.get(key, 0)}
            self.queue.append(Event(base + t, key, kind, data, shift=_shift if n else None,
                                    deltas=deltas if n else None))
        self.loop += 1


def _fmt(x: float, tick: float) -> str:
    decimals = max(0, len(f"{tick:.10f}".rstrip("0").split(".")[1]))
    return f"{round(x / tick) * tick:.{decimals}f}"


def frame(market: str, topic: str, typ: str, ts: int, data: object, **extra: object) -> bytes:
    """A push in the market's key order: spot puts ``ts`` before ``type``, linear after."""
    head: dict[str, object] = {"topic": topic}
    if market == "spot":
        head.update(ts=ts, type=typ)
    else:
        head.update(type=typ, ts=ts)
    head["data"] = data
    head.update(extra)
    return orjson.dumps(head)


class SyntheticSource(GeneratedSource):
    """One made-up symbol: book snapshot then deltas, trades and tickers (module docstring)."""

    def __init__(self, market: str, symbol: str, *, seed: int, base_ms: int, t0: float) -> None:
        self.market, self.symbol, self.key = market, symbol, f"{market}:{symbol}"
        self.rng = random.Random(f"{seed}:{market}:{symbol}")
        self.base_ms = base_ms
        self.tick = 0.1
        self.mid = self.rng.uniform(10, 1000)
        self.u = 1000
        self.seq = 10_000
        self.t = t0
        self.step = 0
        self.trade_id = 1
        self.queue: deque[Event] = deque()
        self.book = Book()
        levels = 200
        bids = [[_fmt(self.mid - (i + 1) * self.tick, self.tick), self._qty()] for i in range(levels)]
        asks = [[_fmt(self.mid + (i + 1) * self.tick, self.tick), self._qty()] for i in range(levels)]
        self.book.apply(bids, asks)
        self._book("snapshot", bids, asks)

    def _qty(self) -> str:
        return f"{self.rng.uniform(0.001, 5):.3f}"

    def _ms(self) -> int:
        return self.base_ms + int(self.t * 1000)

    def _book(self, typ: str, bids: list[list[str]], asks: list[list[str]]) -> None:
        ts = self._ms()
        data = {"s": self.symbol, "b": bids, "a": asks, "u": self.u, "seq": self.seq}
        topic = f"orderbook.200.{self.symbol}"
        self.queue.append(Event(self.t, self.key, BOOK, frame(self.market, topic, typ, ts, data, cts=ts - 2)))

    def _generate(self) -> None:
        self.t += 0.1
        self.step += 1
        self.u += 1
        self.seq += self.rng.randint(1, 5)
        bids, asks = [], []
        side, out = (self.book.bids, bids) if self.rng.random() < 0.5 else (self.book.asks, asks)
        i = self.rng.randrange(min(20, len(side)))
        price = side.peekitem(-1 - i if out is bids else i)[1][0]
        out.append([price, self._qty()])
        self.book.apply(bids, asks)
        self._book("delta", bids, asks)
        ts = self._ms()
        if self.step % 5 == 0:
            bid = self.book.bids.peekitem(-1)[1][0]
            buy = self.rng.random() < 0.5
            trade = {"T": ts, "s": self.symbol, "S": "Buy" if buy else "Sell", "v": self._qty(),
                     "p": self.book.asks.peekitem(0)[1][0] if buy else bid,
                     "L": "ZeroPlusTick", "i": str(self.trade_id), "BT": False, "seq": self.seq}
            self.trade_id += 1
            self.queue.append(Event(self.t, self.key, "publicTrade",
                                    frame(self.market, f"publicTrade.{self.symbol}", "snapshot", ts, [trade])))
        if self.step % 10 == 0:
            tick = {"symbol": self.symbol, "lastPrice": self.book.bids.peekitem(-1)[1][0],
                    "bid1Price": self.book.bids.peekitem(-1)[1][0],
                    "ask1Price": self.book.asks.peekitem(0)[1][0], "volume24h": "1000",
                    "turnover24h": "100000"}
            typ = "snapshot" if self.market == "spot" or self.step == 10 else "delta"
            self.queue.append(Event(self.t, self.key, "tickers",
                                    frame(self.market, f"tickers.{self.symbol}", typ, ts, tick,
                                          cs=self.seq)))


class _BookState:
    __slots__ = ("book", "u", "seq", "ts", "cts")

    def __init__(self) -> None:
        self.book = Book()
        self.u = self.seq = self.ts = self.cts = 0


class BybitMarket:
    """The tape of every active symbol, the books and linear tickers it went through."""

    def __init__(self, raws: Iterable[tuple[list[tuple[float, str, bytes]], dict[str, bytes]]], *,
                 seed: int = 0, base_ms: int = 0,
                 symbols: dict[str, tuple[str, ...]] | None = None) -> None:
        self.tape = Tape()
        self.seed = seed
        self.base_ms = base_ms
        self.valid = symbols  # market -> valid symbols; None: any symbol (synthetic)
        self.rest: dict[str, bytes] = {}
        self.captured: dict[str, set[str]] = {m: set() for m in MARKETS}
        self.active: set[str] = set()
        self.books: dict[str, _BookState] = {}
        self.tickers: dict[str, dict] = {}  # linear: merged snapshot + deltas
        self._pending: list[Source] = []
        for frames, rest in raws:
            self.rest.update(rest)
            cap = BybitCapture(frames)
            for m in MARKETS:
                if cap.symbols[m]:
                    self.captured[m].update(cap.symbols[m])
                    self._pending.append(CaptureSource(cap, m))
        for src in self._pending:  # the capture plays from the start, like Binance/Upbit's
            self.tape.add(src)
        self.active.update(f"{m}:{s}" for m in MARKETS for s in self.captured[m])

    @property
    def symbols(self) -> dict[str, list[str]]:
        return {m: sorted({k.split(":", 1)[1] for k in self.active if k.startswith(m + ":")})
                for m in MARKETS}

    def known(self, market: str, symbol: str) -> bool:
        """True when ``symbol`` trades on ``market`` here (captured, listed, or any)."""
        if symbol in self.captured.get(market, ()):
            return True
        if self.valid is None:
            return bool(re.fullmatch(r"[A-Z0-9]{2,30}", symbol))
        return symbol in self.valid.get(market, ())

    def activate(self, market: str, symbol: str) -> bool:
        """Make ``symbol`` stream (a synthetic source for one not captured); False if unknown."""
        key = f"{market}:{symbol}"
        if key in self.active:
            return True
        if not self.known(market, symbol):
            return False
        self.active.add(key)
        self.tape.add(SyntheticSource(market, symbol, seed=self.seed, base_ms=self.base_ms,
                                      t0=self.tape.t))
        return True

    def next(self) -> Event:
        ev = self.tape.next()
        if ev.kind == BOOK:
            self._follow_book(ev)
        elif ev.kind == "tickers" and ev.symbol.startswith("linear:"):
            self._follow_ticker(ev)
        return ev

    def _follow_book(self, ev: Event) -> None:
        msg = orjson.loads(ev.data)
        d = msg["data"]
        st = self.books.get(ev.symbol)
        if st is None or msg["type"] == "snapshot" or d["u"] == 1:
            st = self.books[ev.symbol] = _BookState()
        st.book.apply(d["b"], d["a"])
        st.u, st.seq, st.ts, st.cts = d["u"], d.get("seq", 0), msg["ts"], msg.get("cts", msg["ts"])

    def _follow_ticker(self, ev: Event) -> None:
        msg = orjson.loads(ev.data)
        if msg["type"] == "snapshot":
            self.tickers[ev.symbol] = dict(msg["data"])
        else:
            self.tickers.setdefault(ev.symbol, {}).update(msg["data"])
        self.tickers[ev.symbol]["_"] = (msg["ts"], msg.get("cs", 0))

    def book_snapshot(self, market: str, symbol: str, depth: int) -> bytes | None:
        """The book's top ``depth`` levels as Bybit's first message of a subscription."""
        st = self.books.get(f"{market}:{symbol}")
        if st is None:
            return None  # the tape's own snapshot comes first
        bids, asks = st.book.top(depth)
        data = {"s": symbol, "b": bids, "a": asks, "u": st.u, "seq": st.seq}
        return frame(market, f"orderbook.{depth}.{symbol}", "snapshot", st.ts, data, cts=st.cts)

    def ticker_snapshot(self, symbol: str) -> bytes | None:
        """The linear ticker's full state as a ``snapshot`` (None before its first message)."""
        state = self.tickers.get(f"linear:{symbol}")
        if not state or "_" not in state:
            return None
        ts, cs = state["_"]
        data = {k: v for k, v in state.items() if k != "_"}
        return frame("linear", f"tickers.{symbol}", "snapshot", ts, data, cs=cs)
