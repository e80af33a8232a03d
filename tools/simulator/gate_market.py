"""The simulated Gate market: the looped spot and futures captures plus synthetic symbols.

Events are keyed ``(market, symbol)`` with ``kind`` the channel's suffix
(``order_book_update``, ``trades``, ``book_ticker``) and carry the whole frame Gate sends.
A looped capture keeps its bytes but for the fields it must move on: times (``time``,
``time_ms``, ``t``, ``create_time``, ``create_time_ms``) shift to the simulator's clock,
trade ``id``s by the capture's span per loop, and each book's ``U``/``u`` continue its own
chain (the next update starts at the last ``u`` + 1), so a loop is gapless. The market
keeps every book (``books``) and its last ``u`` to answer the REST snapshot.
"""

from __future__ import annotations

import random
import re
from collections import deque

import orjson

from .book import Book
from .captures import RawCapture
from .tape import Event, GeneratedSource, Source, Tape

KINDS = ("order_book_update", "trades", "book_ticker")
MARKETS = ("spot", "futures")
LOOP_GAP_S = 0.1
_FIELD = re.compile(rb'"(time|time_ms|t|U|u|id|create_time|create_time_ms)":("?)(\d+)')
_SECONDS = {b"time", b"create_time"}
_MILLIS = {b"time_ms", b"t", b"create_time_ms"}


def _rewrite(data: bytes, *, dms: int, did: int, ids: tuple[int, int] | None) -> bytes:
    """``data`` with times moved by ``dms`` ms, trade ids by ``did`` and U/u set to ``ids``."""

    def rep(m: re.Match[bytes]) -> bytes:
        key, quote, num = m.group(1), m.group(2), int(m.group(3))
        if key in _SECONDS:
            num += dms // 1000
        elif key in _MILLIS:
            if num == 0:  # "time_ms":0 in old acks: nothing to move
                return m.group(0)
            num += dms
        elif key == b"id":
            num += did
        elif ids is not None:
            num = ids[0] if key == b"U" else ids[1]
        return b'"%s":%s%d' % (key, quote, num)

    return _FIELD.sub(rep, data)


def _symbol(channel: str, result: object) -> str | None:
    if isinstance(result, list):
        result = result[0] if result else {}
    if not isinstance(result, dict):
        return None
    return result.get("s") or result.get("currency_pair") or result.get("contract")


class CaptureSource(Source):
    """One capture looped forever (see the module docstring)."""

    def __init__(self, raw: RawCapture, market: str, base_ms: int, chains: dict) -> None:
        self.market = market
        self.chains = chains  # (market, symbol) -> last u sent, shared with the market
        items = []
        first_s = None
        trade_ids: list[int] = []
        for t, payload in raw.frames:
            msg = orjson.loads(payload)
            channel = msg.get("channel", "")
            if msg.get("event") != "update" or not channel.startswith(market + "."):
                continue
            kind = channel.split(".", 1)[1]
            if kind not in KINDS:
                continue
            sym = _symbol(channel, msg.get("result"))
            if sym is None:
                continue
            first_s = msg["time"] if first_s is None else first_s
            span = None
            if kind == "order_book_update":
                res = msg["result"]
                span = res["u"] - res["U"]
            if kind == "trades":
                res = msg["result"]
                for tr in res if isinstance(res, list) else [res]:
                    trade_ids.append(int(tr["id"]))
            items.append((t, sym, kind, payload, span))
        if not items:
            raise ValueError(f"{raw.name}: no {market} update frames")
        self.items = items
        self.symbols = sorted({i[1] for i in items})
        self.span_s = items[-1][0] + LOOP_GAP_S
        self.id_span = (max(trade_ids) - min(trade_ids) + 1) if trade_ids else 0
        self.dms0 = base_ms - first_s * 1000
        self.loop = 0
        self.i = 0
        for _, sym, kind, payload, _span in items:  # each chain starts where the capture's did
            if kind == "order_book_update" and (market, sym) not in chains:
                chains[(market, sym)] = orjson.loads(payload)["result"]["U"] - 1

    def peek_t(self) -> float:
        return self.items[self.i][0] + self.loop * self.span_s

    def pop(self) -> Event:
        t, sym, kind, payload, span = self.items[self.i]
        t += self.loop * self.span_s
        ids = None
        if span is not None:
            start = self.chains[(self.market, sym)] + 1
            ids = (start, start + span)
            self.chains[(self.market, sym)] = start + span
        dms = self.dms0 + int(self.loop * self.span_s * 1000)
        data = _rewrite(payload, dms=dms, did=self.loop * self.id_span, ids=ids)
        self.i += 1
        if self.i == len(self.items):
            self.i = 0
            self.loop += 1
        return Event(t, f"{self.market}:{sym}", kind, data, ids=None if ids is None else (*ids, 0))


class SyntheticSource(GeneratedSource):
    """A made-up symbol: a book update every 100 ms, a book ticker after it, a trade every 0.5 s."""

    def __init__(self, market: str, symbol: str, *, start_t: float, base_ms: int, seed: int,
                 chains: dict) -> None:
        self.market, self.symbol, self.chains = market, symbol, chains
        self.rng = random.Random(f"{seed}:{market}:{symbol}")
        self.t = start_t
        self.base_ms = base_ms
        self.mid = 100 + self.rng.randrange(1000)
        self.trade_id = 1
        self.n = 0
        chains.setdefault((market, symbol), 1000)
        self.queue = deque()
        self._generate()

    def _frame(self, kind: str, result: object, ms: int) -> bytes:
        return orjson.dumps({"time": ms // 1000, "time_ms": ms, "channel": f"{self.market}.{kind}",
                             "event": "update", "result": result})

    def _level(self, price: float, qty: int) -> object:
        p = f"{price:.1f}"
        return {"p": p, "s": qty} if self.market == "futures" else [p, f"{qty}.0"]

    def _generate(self) -> None:
        rng, key = self.rng, (self.market, self.symbol)
        self.t += 0.1
        self.n += 1
        ms = self.base_ms + int(self.t * 1000)
        self.mid += rng.choice((-0.1, 0.0, 0.1))
        bids = [self._level(self.mid - 0.1 * (i + 1), rng.randrange(0, 5)) for i in range(3)]
        asks = [self._level(self.mid + 0.1 * (i + 1), rng.randrange(0, 5)) for i in range(3)]
        # the mid's level leaves both sides, so a level the walk passed never crosses the book
        bids.insert(0, self._level(self.mid, 0))
        asks.insert(0, self._level(self.mid, 0))
        start = self.chains[key] + 1
        self.chains[key] = start
        self.queue.append(Event(self.t, f"{self.market}:{self.symbol}", "order_book_update",
                                self._frame("order_book_update", {"t": ms, "s": self.symbol, "U": start,
                                                                  "u": start, "b": bids, "a": asks}, ms),
                                ids=(start, start, 0)))
        bid, ask = f"{self.mid - 0.1:.1f}", f"{self.mid + 0.1:.1f}"
        if self.market == "futures":
            bt = {"t": ms, "u": start, "s": self.symbol, "b": bid, "B": 3, "a": ask, "A": 2}
        else:
            bt = {"t": ms, "u": start, "s": self.symbol, "b": bid, "B": "3.0", "a": ask, "A": "2.0"}
        self.queue.append(Event(self.t, f"{self.market}:{self.symbol}", "book_ticker",
                                self._frame("book_ticker", bt, ms)))
        if self.n % 5 == 0:
            side = rng.choice((1, -1))
            if self.market == "futures":
                res: object = [{"size": side * rng.randrange(1, 9), "id": self.trade_id,
                                "create_time": ms // 1000, "create_time_ms": ms,
                                "price": f"{self.mid:.1f}", "contract": self.symbol}]
            else:
                res = {"id": self.trade_id, "create_time": ms // 1000, "create_time_ms": f"{ms}.0",
                       "side": "buy" if side > 0 else "sell", "currency_pair": self.symbol,
                       "amount": f"{rng.randrange(1, 9)}.0", "price": f"{self.mid:.1f}"}
            self.trade_id += 1
            self.queue.append(Event(self.t, f"{self.market}:{self.symbol}", "trades",
                                    self._frame("trades", res, ms)))


_VALID = re.compile(r"^[A-Z0-9]{1,20}_[A-Z0-9]{2,10}$")


class GateMarket:
    """Both Gate markets' tape, the books the simulator has sent, and who may be traded."""

    def __init__(self, raws: dict[str, list[RawCapture]], *, seed: int, base_ms: int,
                 symbols: tuple[str, ...] | None = None) -> None:
        self.tape = Tape()
        self.seed = seed
        self.base_ms = base_ms
        self.allowed = None if symbols is None else set(symbols)
        self.chains: dict[tuple[str, str], int] = {}  # (market, symbol) -> last u made
        self.books: dict[tuple[str, str], Book] = {}
        self.last_u: dict[tuple[str, str], int] = {}  # last u applied to ``books``
        self.active: set[tuple[str, str]] = set()
        for market, caps in raws.items():
            for raw in caps:
                src = CaptureSource(raw, market, base_ms, self.chains)
                self.tape.add(src)
                self.active.update((market, s) for s in src.symbols)

    @property
    def symbols(self) -> list[str]:
        return sorted(f"{m}:{s}" for m, s in self.active)

    def valid(self, symbol: str) -> bool:
        return _VALID.match(symbol) is not None and (self.allowed is None or symbol in self.allowed)

    def activate(self, market: str, symbol: str) -> bool:
        """True when ``symbol`` trades on ``market`` (a new synthetic one starts streaming)."""
        key = (market, symbol)
        if key in self.active:
            return True
        if not self.valid(symbol):
            return False
        self.active.add(key)
        self.tape.add(SyntheticSource(market, symbol, start_t=self.tape.t, base_ms=self.base_ms,
                                      seed=self.seed, chains=self.chains))
        return True

    def next(self) -> Event:
        ev = self.tape.next()
        if ev.kind == "order_book_update":
            self.apply(ev)
        return ev

    def apply(self, ev: Event) -> None:
        """Fold a book update into the simulator's copy of that book (what REST answers)."""
        market, sym = ev.symbol.split(":", 1)
        res = orjson.loads(ev.data)["result"]
        book = self.books.setdefault((market, sym), Book())
        if market == "futures":
            book.apply([[lv["p"], str(lv["s"])] for lv in res.get("b", ())],
                       [[lv["p"], str(lv["s"])] for lv in res.get("a", ())])
        else:
            book.apply(res.get("b", ()), res.get("a", ()))
        self.last_u[(market, sym)] = res["u"]

    def snapshot_body(self, market: str, symbol: str, limit: int, now_ms: int) -> bytes:
        """The ``order_book?with_id=true`` body of ``symbol``: its book as of its last ``u``."""
        key = (market, symbol)
        book = self.books.get(key) or Book()
        bids, asks = book.top(limit)
        book_id = self.last_u.get(key, self.chains.get(key, 0))
        if market == "futures":
            def lv(levels):
                return [{"p": p, "s": int(float(q))} for p, q in levels]
            return orjson.dumps({"id": book_id, "current": now_ms / 1000, "update": now_ms / 1000,
                                 "asks": lv(asks), "bids": lv(bids)})
        return orjson.dumps({"id": book_id, "current": now_ms, "update": now_ms,
                             "asks": asks, "bids": bids})
