"""The simulated Binance USD-M market: looped captures, synthetic symbols, books, REST bodies.

Captures loop forever. Loop ``n`` shifts every time by ``n`` times a whole number of
minutes (enough that each loop starts in a minute after the previous loop's last, so no
kline minute spans two loops) and every id family by ``n`` spans, and a *bridge* diff
between loops turns the end-of-loop book back into the loop-start book, so the
``U``/``u``/``pu`` chain stays continuous and a client's book stays equal to ours across
loops; trade and aggregate ids go on from the last loop's without a hole. A depth snapshot carries a ``lastUpdateId`` inside
the next diff still to be sent for that symbol, so that diff brackets it (``U <= id <= u``).
Streams a capture lacks are derived from the ones it has (``binance_derived``). The 24 h
ticker (``<symbol>@ticker``) is made once a second of tape time from the same kept trades
and klines ``/ticker/24hr`` answers from (``ticker_payload``), so stream and REST agree.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import deque
from collections.abc import Iterable
from decimal import Decimal

import msgspec
import orjson

from .binance_derived import derive
from .binance_history import history_klines, klines_page
from .binance_live import LiveTrades
from .binance_synthetic import SyntheticSymbol
from .book import Book
from .captures import RawCapture
from .tape import Event, Source, Tape, shifter
from .universe import Universe

# which integer fields of each event kind belong to which id family
FAMILIES: dict[str, dict[bytes, str]] = {
    "depth": {b"E": "time", b"T": "time", b"U": "book", b"u": "book", b"pu": "book"},
    "bookTicker": {b"E": "time", b"T": "time", b"u": "book"},
    "trade": {b"E": "time", b"T": "time", b"t": "tid"},
    "aggTrade": {b"E": "time", b"T": "time", b"a": "agg", b"f": "tid", b"l": "tid"},
    "kline_1m": {b"E": "time", b"t": "time", b"T": "time", b"f": "tid", b"L": "tid"},
    "markPrice": {b"E": "time", b"T": "time"},
}
SHIFT = {kind: shifter(fams) for kind, fams in FAMILIES.items()}
LOOP_GAP_S = 0.1  # pause between the end of a capture and its next loop
# kinds made from the market's state when sent, never read from a capture
GENERATED = ("ticker",)
TICKER_EVERY_S = 1.0  # Binance pushes <symbol>@ticker about once a second

# Listed by exchangeInfo when any symbol is allowed: a recorder checking its symbols against
# the list (recorder.daemon.universe) finds the usual ones before anything streams them.
LISTED_TOO = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT")


def stream_kind(stream: str) -> str:
    """Event kind of a stream name: every diff-depth speed is ``depth``, ``depthN`` partial."""
    suffix = stream.partition("@")[2]
    if suffix.startswith("depth"):
        levels = suffix[5:].partition("@")[0]
        return f"depth{levels}" if levels.isdigit() else "depth"
    if suffix.startswith("markPrice"):
        return "markPrice"
    return suffix


# ---------------------------------------------------------------------------- capture source


class _Ids(msgspec.Struct):
    E: int = 0  # noqa: N815
    U: int = 0  # noqa: N815
    u: int = 0
    pu: int = 0


class _TradeIds(msgspec.Struct):
    E: int = 0  # noqa: N815
    t: int = -1


class _AggIds(msgspec.Struct):
    E: int = 0  # noqa: N815
    a: int = -1
    f: int = -1
    l: int = -1  # noqa: E741


class _K(msgspec.Struct):
    t: int = -1
    f: int = -1
    L: int = -1  # noqa: N815


class _KlineIds(msgspec.Struct):
    E: int = 0  # noqa: N815
    k: _K | None = None


_DECODERS = {
    "depth": msgspec.json.Decoder(_Ids), "bookTicker": msgspec.json.Decoder(_Ids),
    "trade": msgspec.json.Decoder(_TradeIds), "aggTrade": msgspec.json.Decoder(_AggIds),
    "kline_1m": msgspec.json.Decoder(_KlineIds), "markPrice": msgspec.json.Decoder(_Ids),
}


class _Span:
    __slots__ = ("lo", "hi")

    def __init__(self) -> None:
        self.lo: int | None = None
        self.hi: int | None = None

    def add(self, *values: int) -> None:
        for v in values:
            if v >= 0:
                self.lo = v if self.lo is None or v < self.lo else self.lo
                self.hi = v if self.hi is None or v > self.hi else self.hi

    def width(self) -> int:
        return 0 if self.lo is None else self.hi - self.lo + 1  # type: ignore[operator]


class CaptureSymbol:
    """One symbol of a looped capture: its book (applied lazily) and loop arithmetic."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.start_book: Book | None = None  # the snapshot book, also every loop's start
        self.book: Book | None = None
        self.pending: list[Event] = []  # depth events sent but not yet applied to book
        self.depth_pos: list[int] = []  # frame indices of this symbol's depth events
        self.depth_ids: list[tuple[int, int, int]] = []  # (U, u, pu) per depth_pos entry
        self.deltas: dict[str, int] = {}  # per-loop shift of each id family
        self.bridge_levels: tuple[list[list[str]], list[list[str]]] | None = None

    @property
    def has_book(self) -> bool:
        return self.start_book is not None and bool(self.depth_pos)

    def on_depth(self, ev: Event) -> None:
        self.pending.append(ev)
        if len(self.pending) >= 4096:  # bound memory when nobody asks for snapshots
            self.catch_up()

    def catch_up(self) -> Book:
        """The book after every depth event sent so far."""
        assert self.book is not None
        for ev in self.pending:
            d = orjson.loads(ev.data)
            self.book.apply(d["b"], d["a"])
        self.pending.clear()
        return self.book

    def bridge_ids(self, loop: int) -> tuple[int, int, int]:
        """``(U, u, pu)`` of the bridge diff ending loop ``loop``."""
        last_u = self.depth_ids[-1][1] + loop * self.deltas["book"]
        first_pu = self.depth_ids[0][2] + (loop + 1) * self.deltas["book"]
        return last_u + 1, first_pu, last_u


class BinanceCapture:
    """A capture prepared for looping: frames by symbol/kind, start books, id spans."""

    def __init__(self, raw: RawCapture) -> None:
        self.name = raw.name
        frames: list[tuple[float, str, str, bytes]] = []
        for t, payload in raw.frames:
            head, sep, rest = payload.partition(b'","data":')
            if not sep or not head.startswith(b'{"stream":"') or not rest.endswith(b"}"):
                continue  # not a combined-stream data frame (an ack): nothing to replay
            stream = head[11:].decode()
            kind = stream_kind(stream)
            if kind not in FAMILIES:
                continue
            frames.append((t, stream.partition("@")[0].upper(), kind, rest[:-1]))
        frames, self.derived = derive(frames)  # {(symbol, kind)} made from other streams
        snapshots: dict[str, bytes] = {}
        depth_symbols = {s for _, s, k, _ in frames if k == "depth"}
        for _, url, body in raw.rest:
            if not body.startswith(b'{"lastUpdateId"'):
                continue
            if url is not None and "symbol=" in url:
                sym = url.split("symbol=")[1].split("&")[0].upper()
            elif len(depth_symbols) == 1:
                sym = next(iter(depth_symbols))  # hftbacktest: the file's only symbol
            else:
                continue
            snapshots.setdefault(sym, body)
        self.symbols: dict[str, CaptureSymbol] = {}
        spans: dict[tuple[str, str], _Span] = {}
        times = _Span()  # exchange times (E), and kline minute starts (k.t)
        kept: list[tuple[float, str, str, bytes, tuple[int, int, int] | None]] = []
        lids = {s: orjson.loads(b)["lastUpdateId"] for s, b in snapshots.items()}
        for t, sym, kind, data in frames:
            cs = self.symbols.get(sym) or self.symbols.setdefault(sym, CaptureSymbol(sym))
            ids = _DECODERS[kind].decode(data)
            times.add(ids.E)
            ev_ids = None
            if kind == "depth":
                # Only diffs from the snapshot's bracket on can be replayed against a book.
                if sym not in lids or ids.u < lids[sym]:
                    continue
                ev_ids = (ids.U, ids.u, ids.pu)
                cs.depth_pos.append(len(kept))
                cs.depth_ids.append(ev_ids)
                spans.setdefault((sym, "book"), _Span()).add(ids.pu, ids.u)
            elif kind == "bookTicker":
                spans.setdefault((sym, "book"), _Span()).add(ids.u)
            elif kind == "trade":
                spans.setdefault((sym, "tid"), _Span()).add(ids.t)
            elif kind == "aggTrade":
                spans.setdefault((sym, "agg"), _Span()).add(ids.a)
                spans.setdefault((sym, "tid"), _Span()).add(ids.f, ids.l)
            elif kind == "kline_1m" and ids.k is not None:
                spans.setdefault((sym, "tid"), _Span()).add(ids.k.f, ids.k.L)
                times.add(ids.k.t)
            kept.append((t, sym, kind, data, ev_ids))
        t0 = kept[0][0] if kept else 0.0
        self.frames = [(t - t0, s, k, d, i) for t, s, k, d, i in kept]
        self.loop_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        # whole minutes, and the next loop's first minute comes after this loop's last one
        self.time_delta_ms = ((times.hi // 60_000 - times.lo // 60_000 + 1) * 60_000
                              if times.lo is not None else 60_000)
        for sym, cs in self.symbols.items():
            cs.deltas = {"time": self.time_delta_ms}
            for fam in ("book", "tid", "agg"):
                # book +1: the bridge diff between loops takes one update id of its own;
                # trade and aggregate ids go on from the last one (no id left out)
                extra = 1 if fam == "book" else 0
                cs.deltas[fam] = spans[(sym, fam)].width() + extra if (sym, fam) in spans else 0
            if sym in snapshots and cs.depth_pos:
                body = orjson.loads(snapshots[sym])
                cs.start_book = Book.from_levels(body["bids"], body["asks"])
                cs.book = cs.start_book.copy()
        self.last_e = times.hi or 0

    def clone(self) -> BinanceCapture:
        """A copy with fresh books and loop state; the prepared frames are shared."""
        twin = object.__new__(BinanceCapture)
        twin.__dict__.update(self.__dict__)
        twin.symbols = {}
        for sym, cs in self.symbols.items():
            new = CaptureSymbol(sym)
            new.start_book, new.depth_pos, new.depth_ids = cs.start_book, cs.depth_pos, cs.depth_ids
            new.deltas, new.bridge_levels = cs.deltas, cs.bridge_levels
            new.book = cs.start_book.copy() if cs.start_book is not None else None
            twin.symbols[sym] = new
        return twin


@functools.lru_cache(maxsize=8)
def prepared(raw: RawCapture) -> BinanceCapture:
    """``BinanceCapture(raw)`` computed once per capture; callers must ``clone()`` it."""
    return BinanceCapture(raw)


class CaptureSource(Source):
    """A ``BinanceCapture`` played in an endless loop with shifted ids and times."""

    def __init__(self, cap: BinanceCapture) -> None:
        self.cap = cap
        self.i = 0
        self.loop = 0
        self._bridges: deque[Event] = deque()

    def peek_t(self) -> float:
        if self._bridges:
            return self._bridges[0].t
        return self.loop * self.cap.loop_s + self.cap.frames[self.i][0]

    def pop(self) -> Event:
        if self._bridges:
            return self._bridges.popleft()
        cap = self.cap
        t, sym, kind, data, ids = cap.frames[self.i]
        cs = cap.symbols[sym]
        if self.loop:
            deltas = {f: d * self.loop for f, d in cs.deltas.items()}
            if ids is not None:
                b = deltas["book"]
                ids = (ids[0] + b, ids[1] + b, ids[2] + b)
            ev = Event(self.loop * cap.loop_s + t, sym, kind, data, ids, SHIFT[kind], deltas)
        else:
            ev = Event(t, sym, kind, data, ids)
        if kind == "depth":
            cs.on_depth(ev)
        self.i += 1
        if self.i == len(cap.frames):
            self._end_loop(ev.t)
        return ev

    def _end_loop(self, t: float) -> None:
        for cs in self.cap.symbols.values():
            if not cs.has_book:
                continue
            if cs.bridge_levels is None:
                cs.bridge_levels = cs.catch_up().diff_to(cs.start_book)  # type: ignore[arg-type]
            first, last, prev = cs.bridge_ids(self.loop)
            e_ms = self.cap.last_e + self.loop * self.cap.time_delta_ms + 1
            data = orjson.dumps({"e": "depthUpdate", "E": e_ms, "T": e_ms, "s": cs.symbol,
                                 "U": first, "u": last, "pu": prev,
                                 "b": cs.bridge_levels[0], "a": cs.bridge_levels[1]})
            self._bridges.append(Event(t, cs.symbol, "depth", data, (first, last, prev)))
            cs.book = cs.start_book.copy()  # type: ignore[union-attr]
            cs.pending.clear()
        self.i = 0
        self.loop += 1

    def next_depth_ids(self, symbol: str) -> tuple[int, int, int]:
        """``(U, u, pu)`` of the next depth event of ``symbol`` not yet sent."""
        for ev in self._bridges:
            if ev.symbol == symbol:
                return ev.ids  # type: ignore[return-value]
        cs = self.cap.symbols[symbol]
        k = bisect.bisect_left(cs.depth_pos, self.i)
        if k == len(cs.depth_pos):
            return cs.bridge_ids(self.loop)
        shift = self.loop * cs.deltas["book"]
        first, last, prev = cs.depth_ids[k]
        return first + shift, last + shift, prev + shift

    def snapshot(self, symbol: str) -> tuple[int, Book]:
        """A ``lastUpdateId`` inside the next diff, and the book it describes."""
        first, last, _ = self.next_depth_ids(symbol)
        book = self.cap.symbols[symbol].catch_up()
        return first + (last - first) // 2, book


class TickerClock(Source):
    """One symbol's ``ticker`` events, each whole second of tape time; the payload is made
    by ``BinanceMarket.ticker_payload`` when first read (delivered), not when popped."""

    def __init__(self, market: BinanceMarket, symbol: str, t0: float) -> None:
        self.market = market
        self.symbol = symbol
        self.next_t = math.floor(t0 / TICKER_EVERY_S + 1) * TICKER_EVERY_S

    def peek_t(self) -> float:
        return self.next_t

    def pop(self) -> Event:
        t = self.next_t
        self.next_t = t + TICKER_EVERY_S
        return Event(t, self.symbol, "ticker", b"", None,
                     functools.partial(self.market.ticker_payload, self.symbol, t), {})


# ---------------------------------------------------------------------------- the market


class BinanceMarket:
    """Every Binance source merged into one tape, plus the REST views of its state."""

    universe: Universe | None = None  # synthetic long-tail symbols (``tools.simulator.universe``)

    def __init__(self, captures: Iterable[RawCapture] = (), *, seed: int = 0, base_ms: int = 0,
                 symbols: Iterable[str] | None = None, history_minutes: int = 0) -> None:
        self.tape = Tape()
        self.seed = seed
        self.base_ms = base_ms
        self.history_minutes = history_minutes
        self._anchors: dict[str, tuple[int, Decimal]] = {}  # symbol -> (stream start ms, price)
        self._history: dict[str, list[list]] = {}
        self.allowed = None if symbols is None else {s.upper() for s in symbols}
        self._capture: dict[str, CaptureSource] = {}
        self._synthetic: dict[str, SyntheticSymbol] = {}
        self._live: dict[str, LiveTrades] = {}
        self.trades: dict[str, deque[Event]] = {}  # each symbol's LiveTrades.events
        self._ticker_e: dict[str, int] = {}  # symbol -> E of its last ticker event
        for raw in captures:
            src = CaptureSource(prepared(raw).clone())
            if not src.cap.frames:
                continue
            self.tape.add(src)
            for sym in src.cap.symbols:
                if sym not in self._capture:
                    self._capture[sym] = src
                    self.tape.add(TickerClock(self, sym, 0.0))
            for _, sym, kind, data, _ in src.cap.frames:
                if kind in ("trade", "aggTrade") and sym not in self._anchors:
                    tr = orjson.loads(data)
                    self._anchors[sym] = (tr["T"], Decimal(tr["p"]))
        if self.allowed:
            for sym in sorted(self.allowed):
                self.activate(sym)

    @property
    def symbols(self) -> list[str]:
        return sorted({*self._capture, *self._synthetic})

    def known(self, symbol: str) -> bool:
        """True if ``symbol`` trades here (capture, active synthetic, or allowed)."""
        symbol = symbol.upper()
        if symbol in self._capture or symbol in self._synthetic:
            return True
        if self.universe is not None and symbol in self.universe:
            return True
        return self.allowed is None or symbol in self.allowed

    def activate(self, symbol: str) -> bool:
        """Make sure ``symbol`` produces events; False when it is not a valid symbol."""
        symbol = symbol.upper()
        if symbol in self._capture or symbol in self._synthetic:
            return True
        if self.universe is not None and self.universe.activate(symbol, self.tape):
            return True
        if not self.known(symbol) or not symbol.isalnum():
            return False
        src = SyntheticSymbol(symbol, seed=self.seed, t0=self.tape.t, base_ms=self.base_ms)
        self._synthetic[symbol] = src
        self._anchors[symbol] = (self.base_ms + int(round(src.t0 * 1000)), Decimal(src.start_mid) / 10)
        self.tape.add(src)
        self.tape.add(TickerClock(self, symbol, src.t0))
        return True

    def next(self) -> Event:
        """The next event of the merged tape (the caller paces and delivers it)."""
        ev = self.tape.next()
        if ev.kind == "trade" or ev.kind == "aggTrade":
            live = self._live.get(ev.symbol)
            if live is None:
                live = self._live[ev.symbol] = LiveTrades()
                self.trades[ev.symbol] = live.events
            live.add(ev)
        return ev

    def has_book(self, symbol: str) -> bool:
        src = self._capture.get(symbol)
        return symbol in self._synthetic or (src is not None and src.cap.symbols[symbol].has_book)

    def snapshot(self, symbol: str) -> tuple[int, Book] | None:
        """``(lastUpdateId, book)`` bracketing the next diff, or None without a book."""
        symbol = symbol.upper()
        if symbol in self._synthetic:
            return self._synthetic[symbol].snapshot()
        src = self._capture.get(symbol)
        if src is None or not src.cap.symbols[symbol].has_book:
            return None
        return src.snapshot(symbol)

    def top(self, symbol: str, n: int) -> tuple[list[list[str]], list[list[str]]]:
        """Best ``n`` levels now (for partial-depth streams)."""
        if symbol in self._synthetic:
            return self._synthetic[symbol].book().top(n)
        return self._capture[symbol].cap.symbols[symbol].catch_up().top(n)

    def depth_body(self, symbol: str, limit: int, now_ms: int) -> bytes | None:
        """A ``/fapi/v1/depth`` response body, or None for a symbol without a book."""
        snap = self.snapshot(symbol)
        if snap is None:
            return None
        lid, book = snap
        bids, asks = book.top(limit)
        return orjson.dumps({"lastUpdateId": lid, "E": now_ms, "T": now_ms, "bids": bids,
                             "asks": asks})

    def kline_rows(self, symbol: str) -> list[list]:
        """Every 1m kline of ``symbol``, oldest first: the seeded history (one a minute,
        ending where the stream starts, at its first price), then the streamed minutes."""
        symbol = symbol.upper()
        hist = self._history.get(symbol)
        if hist is None:
            anchor = self._anchors.get(symbol)
            hist = [] if anchor is None or not self.history_minutes else history_klines(
                symbol, seed=self.seed, end_ms=anchor[0], price=anchor[1], minutes=self.history_minutes)
            self._history[symbol] = hist
        live = self._live_rows(symbol)
        if hist and live:
            live = [r for r in live if r[0] > hist[-1][0]]
        return hist + live

    def _live_rows(self, symbol: str) -> list[list]:
        live = self._live.get(symbol)
        return [] if live is None else live.rows()

    def klines_body(self, symbol: str, limit: int = 500, start_ms: int | None = None,
                    end_ms: int | None = None) -> bytes:
        """``/klines`` as Binance pages it: open times within [start, end]; from ``start_ms``
        the oldest ``limit``, else the newest ``limit``; oldest first."""
        return orjson.dumps(klines_page(self.kline_rows(symbol), limit, start_ms, end_ms))

    def _trade_dicts(self, symbol: str) -> list[dict]:
        dq = self.trades.get(symbol, ())
        use = "trade" if any(ev.kind == "trade" for ev in dq) else "aggTrade"
        return [orjson.loads(ev.data) for ev in dq if ev.kind == use]

    def recent_trades(self, symbol: str, limit: int, *, spot: bool = False) -> list[dict]:
        """``/trades``: the newest ``limit`` streamed trades, oldest first."""
        out = []
        for tr in self._trade_dicts(symbol.upper())[-limit:]:
            px, qty = Decimal(tr["p"]), Decimal(tr["q"])
            row = {"id": tr.get("t", tr.get("a")), "price": tr["p"], "qty": tr["q"],
                   "quoteQty": str(px * qty), "time": tr["T"], "isBuyerMaker": tr["m"]}
            if spot:
                row["isBestMatch"] = True
            out.append(row)
        return out

    def ticker_24h(self, symbol: str, *, spot: bool = False) -> dict:
        """``/ticker/24hr`` of ``symbol`` over the last 1440 klines (stream time, not the
        wall clock): last price is the last streamed trade's."""
        symbol = symbol.upper()
        rows = self.kline_rows(symbol)[-1440:]
        live = self._live.get(symbol)
        ends = None if live is None else live.ends()
        trades = [] if ends is None else list(ends)  # the oldest and the newest kept trade
        if not rows:
            zero = "0"
            return {"symbol": symbol, "priceChange": zero, "priceChangePercent": zero,
                    "weightedAvgPrice": zero, "lastPrice": zero, "lastQty": zero, "openPrice": zero,
                    "highPrice": zero, "lowPrice": zero, "volume": zero, "quoteVolume": zero,
                    "openTime": 0, "closeTime": 0, "firstId": -1, "lastId": -1, "count": 0}
        open_, last = Decimal(rows[0][1]), Decimal(rows[-1][4])
        vol = sum((Decimal(r[5]) for r in rows), Decimal(0))
        quote = sum((Decimal(r[7]) for r in rows), Decimal(0))
        change = last - open_
        out = {"symbol": symbol, "priceChange": str(change),
               "priceChangePercent": str((change * 100 / open_).quantize(Decimal("0.001"))),
               "weightedAvgPrice": str((quote / vol).quantize(Decimal("0.00001")) if vol else last),
               "lastPrice": str(last), "lastQty": trades[-1]["q"] if trades else "0",
               "openPrice": str(open_), "highPrice": str(max(Decimal(r[2]) for r in rows)),
               "lowPrice": str(min(Decimal(r[3]) for r in rows)), "volume": str(vol),
               "quoteVolume": str(quote), "openTime": rows[0][0],
               "closeTime": trades[-1]["T"] if trades else rows[-1][6],
               "firstId": trades[0].get("t", -1) if trades else -1,
               "lastId": trades[-1].get("t", -1) if trades else -1,
               "count": sum(r[8] for r in rows)}
        if spot:
            bids, asks = self.top(symbol, 1) if self.has_book(symbol) else ([], [])
            out.update({"prevClosePrice": str(open_),
                        "bidPrice": bids[0][0] if bids else "0", "bidQty": bids[0][1] if bids else "0",
                        "askPrice": asks[0][0] if asks else "0", "askQty": asks[0][1] if asks else "0"})
        return out

    def ticker_payload(self, symbol: str, t: float, _data: bytes = b"", _deltas: object = None) -> bytes:
        """The ``24hrTicker`` event of ``symbol`` at tape time ``t``: ``ticker_24h``'s
        numbers under the stream's keys (so it equals ``/ticker/24hr`` at that instant);
        ``E`` is the newest trade's time plus the tape time since it, kept increasing.
        Empty (nothing is sent) before the symbol's first trade."""
        live = self._live.get(symbol)
        last = None if live is None else live.last_event()
        if last is None:
            return b""
        tk = self.ticker_24h(symbol)
        e_ms = max(int(tk["closeTime"]) + int(round((t - last.t) * 1000)),
                   self._ticker_e.get(symbol, 0) + 1)
        self._ticker_e[symbol] = e_ms
        return orjson.dumps({
            "e": "24hrTicker", "E": e_ms, "s": symbol, "p": tk["priceChange"],
            "P": tk["priceChangePercent"], "w": tk["weightedAvgPrice"], "c": tk["lastPrice"],
            "Q": tk["lastQty"], "o": tk["openPrice"], "h": tk["highPrice"], "l": tk["lowPrice"],
            "v": tk["volume"], "q": tk["quoteVolume"], "O": tk["openTime"], "C": tk["closeTime"],
            "F": tk["firstId"], "L": tk["lastId"], "n": tk["count"]})

    def exchange_info_body(self, now_ms: int) -> bytes:
        """A ``/fapi/v1/exchangeInfo`` body listing the simulated symbols (with any symbol
        allowed, the big perpetuals too, streamed or not yet, as the real list has them)."""
        syms = []
        listed = sorted({*self.symbols, *(LISTED_TOO if self.allowed is None else ())})
        listed += self.universe.names if self.universe is not None else []
        for s in listed:
            base = s[:-4] if s.endswith("USDT") else s[:-3]
            syms.append({
                "symbol": s, "pair": s, "contractType": "PERPETUAL", "status": "TRADING",
                "baseAsset": base, "quoteAsset": s[len(base):], "marginAsset": "USDT",
                "pricePrecision": 2, "quantityPrecision": 3,
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                            {"filterType": "LOT_SIZE", "stepSize": "0.001"}],
            })
        return orjson.dumps({
            "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}],
            "exchangeFilters": [], "symbols": syms})
