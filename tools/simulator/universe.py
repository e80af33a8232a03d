"""A synthetic universe: many listed long-tail symbols per venue, each trading and moving its
top of book at a rate measured on the real captures.

``SimConfig.universe`` (per venue) adds that many instruments to the venue's instrument list
(``SYN1USDT`` on Binance spot and Bybit, ``SYN1-USDT`` on OKX and KuCoin, ``SYN1_USDT`` on
Gate, ``sSYN1USDT`` on Phemex spot; no simulated Upbit KRW market has such a base). A
subscribed one streams two channels in the venue's own shapes: trades, and its top of book
(Binance ``bookTicker``, Bybit ``orderbook.1``, OKX ``bbo-tbt`` from a one-level book, Gate
``spot.book_ticker``, KuCoin ``/market/ticker``, Phemex ``orderbook``). A symbol that is
listed but never subscribed costs nothing.

Rates: symbol ``n`` takes ``PROFILES[n % len(PROFILES)]``, the per-symbol rates of one
long-tail symbol of the real captures (top of book, trades, per second), times
``universe_rate_scale``; events come as a seeded Poisson process of each rate, so the
universe's mean is the captures' mean (about 1.59 top-of-book changes and 0.09 trades per
symbol per second). A symbol that traded nothing in its capture trades at ``MIN_RATE``.

Hooks: a venue's market keeps ``universe`` (None: none); its ``activate`` asks
``universe.activate(symbol, tape)`` first, and its venue's REST asks ``listing_reply``
for the instrument list (``recorder.venues.instruments`` parses every shape given here).
"""

from __future__ import annotations

import random
import zlib
from collections import deque
from dataclasses import dataclass

import orjson

from .httpserver import Request, Response
from .tape import Event, GeneratedSource, Tape

VENUES = ("binance-spot", "bybit", "okx", "gate", "kucoin", "phemex")
QUOTE = "USDT"
BASE = "SYN"
MIN_RATE = 0.01  # events/s of a channel its capture symbol never used in the window

# (capture, symbol, top-of-book changes/s, trades/s) of the long-tail symbols of the real
# captures (majors left out: BTC, ETH, SOL, DOGE); counted over each whole recording:
# Binance spot bookTicker/aggTrade (cryptofeed BINANCE, 30 s), OKX tickers/trades (OKX, the
# 11 s with data), Gate spot tickers/trades (GATEIO, 30 s; it has no book_ticker),
# KuCoin /market/ticker and /market/match (KUCOIN, 30 s).
PROFILES: tuple[tuple[str, str, float, float], ...] = (
    ("binance-spot", "BLZETH", 0.03, 0.0),
    ("binance-spot", "LRCBTC", 0.30, 0.03),
    ("binance-spot", "NKNUSDT", 2.47, 0.03),
    ("okx", "UNI-USD-SWAP", 0.37, 0.28),
    ("okx", "BTC-USD-220527", 0.46, 0.55),
    ("gate", "DIS_USDT", 0.10, 0.03),
    ("gate", "FAST_USDT", 0.07, 0.03),
    ("gate", "NANO_USDT", 0.03, 0.03),
    ("gate", "NEO_BTC", 0.30, 0.17),
    ("gate", "OMG_USDT", 0.17, 0.0),
    ("gate", "ZKS_ETH", 0.07, 0.03),
    ("kucoin", "ANKR-BTC", 2.64, 0.0),
    ("kucoin", "BCHSV-USDT", 9.22, 0.17),
    ("kucoin", "CAPP-BTC", 1.69, 0.0),
    ("kucoin", "COV-BTC", 1.02, 0.0),
    ("kucoin", "DAPPT-BTC", 1.82, 0.40),
    ("kucoin", "EQZ-BTC", 0.89, 0.0),
    ("kucoin", "FET-BTC", 3.67, 0.03),
    ("kucoin", "NRG-BTC", 1.22, 0.0),
    ("kucoin", "SNX-BTC", 5.25, 0.0),
)


def mean_rates(scale: float = 1.0) -> tuple[float, float]:
    """(top-of-book, trade) events per symbol per second, averaged over ``PROFILES``."""
    n = len(PROFILES)
    return (sum(max(p[2], MIN_RATE) for p in PROFILES) * scale / n,
            sum(max(p[3], MIN_RATE) for p in PROFILES) * scale / n)


def name(venue: str, n: int) -> str:
    """The ``n``-th synthetic symbol as ``venue`` spells it (``n`` from 1)."""
    base = f"{BASE}{n}"
    if venue in ("okx", "kucoin"):
        return f"{base}-{QUOTE}"
    if venue == "gate":
        return f"{base}_{QUOTE}"
    if venue == "phemex":
        return f"s{base}{QUOTE}"
    if venue in ("binance-spot", "bybit"):
        return f"{base}{QUOTE}"
    raise ValueError(f"no synthetic universe for {venue!r}; choose from {VENUES}")


def parse_counts(text: str) -> tuple[tuple[str, int], ...]:
    """``"800"`` (every venue) or ``"okx=800,phemex=45"`` -> ``((venue, count), ...)``."""
    text = text.strip()
    if text.isdigit():
        return tuple((v, int(text)) for v in VENUES)
    out = []
    for part in text.split(","):
        venue, sep, count = part.strip().partition("=")
        if not sep or not count.strip().isdigit() or venue.strip() not in VENUES:
            raise ValueError(f"universe {part!r}: give N or venue=N with a venue of {VENUES}")
        out.append((venue.strip(), int(count)))
    return tuple(out)


# ---------------------------------------------------------------------------- the symbols


class Top:
    """One symbol's touch in integer ticks and the ids its frames carry: ``seq`` grows with
    every event (a cross sequence), ``book_id`` with each book change only (Bybit's ``u``,
    which a client checks for +1)."""

    __slots__ = ("bid", "ask", "bid_qty", "ask_qty", "seq", "book_id", "trade_id")

    def __init__(self, rng: random.Random, h: int) -> None:
        mid = 1_000 + h % 90_000
        self.bid, self.ask = mid - 1, mid + 1
        self.bid_qty, self.ask_qty = rng.randint(1, 5000), rng.randint(1, 5000)
        self.seq = 1_000_000 + h % 1_000_000
        self.book_id = 1
        self.trade_id = h % 1_000_000 * 1000


def _px(ticks: int) -> str:
    return f"{ticks / 100:.2f}"


def _qty(lots: int) -> str:
    return f"{lots / 1000:.3f}"


class UniverseSource(GeneratedSource):
    """One synthetic symbol: its first frame (a book snapshot where the channel has one),
    then top-of-book changes and trades as two seeded Poisson processes."""

    def __init__(self, fmt: Format, symbol: str, *, key: str, top_rate: float,
                 trade_rate: float, seed: int, t0: float, base_ms: int, base: str = "",
                 shocks: dict[str, tuple[float, float]] | None = None) -> None:
        h = zlib.crc32(symbol.encode())
        self.fmt, self.symbol, self.key = fmt, symbol, key
        self.base = base  # the coin (SYN3): a listing of it moves this symbol (``shocks``)
        self.shocks = shocks if shocks is not None else {}
        self.shocked = False
        self.stale: tuple[int, int] | None = None  # the touch before a shock, until re-quoted
        self.wake_t: float | None = None  # a quote due at a listing's time (``wake``)
        self.rng = random.Random(seed ^ h)
        self.base_ms = base_ms
        self.top = Top(self.rng, h)
        self.top_rate, self.trade_rate = top_rate, trade_rate
        self.next_top = t0 + self.rng.expovariate(top_rate)
        self.next_trade = t0 + self.rng.expovariate(trade_rate)
        self.queue: deque[Event] = deque()  # the first frame (a snapshot) only
        first = fmt.first(self, t0)
        if first is not None:
            self.queue.append(first)

    # Frames are made when popped, not one ahead: a listing's shock (``wake``) then changes
    # the next frame, and no frame already numbered is ever dropped.
    def peek_t(self) -> float:
        if self.queue:
            return self.queue[0].t
        t = min(self.next_top, self.next_trade)
        return t if self.wake_t is None else min(t, self.wake_t)

    def pop(self) -> Event:
        if not self.queue:
            self._generate()
        return self.queue.popleft()

    def wake(self, t: float) -> None:
        """Quote at ``t`` (a listing at ``t``: the shock shows in that quote)."""
        self.wake_t = t

    def ms(self, t: float) -> int:
        return self.base_ms + int(round(t * 1000))

    def event(self, t: float, kind: str, data: bytes) -> Event:
        return Event(t, self.key, kind, data)

    def _shock(self, t: float) -> None:
        """The coin was listed on Upbit at tape time ``shocks[base][0]``: from its first event
        at or after it, the price jumps by the factor and the symbol trades and quotes ten
        times as often (what the overseas markets of a coin do the minute Upbit lists it)."""
        shock = self.shocks.get(self.base)
        if shock is None or self.shocked or t < shock[0]:
            return
        self.shocked = True
        top, spread = self.top, self.top.ask - self.top.bid
        self.stale = (top.bid, top.ask)  # the touch the next book message must empty
        top.bid = max(1, round(top.bid * shock[1]))
        top.ask = top.bid + spread
        self.top_rate *= 10
        self.trade_rate *= 10

    def _generate(self) -> None:
        rng, top = self.rng, self.top
        wake = self.wake_t
        if wake is not None and wake <= min(self.next_top, self.next_trade):
            self.wake_t = None  # a quote at the listing's time, off the Poisson schedule
            self._shock(wake)
            self._quote(wake)
            return
        self._shock(min(self.next_top, self.next_trade))
        if self.next_top <= self.next_trade:
            t = self.next_top
            self.next_top = t + rng.expovariate(self.top_rate)
            self._quote(t)
        else:
            t = self.next_trade
            self.next_trade = t + rng.expovariate(self.trade_rate)
            top.trade_id += 1
            top.seq += 1
            buy = rng.random() < 0.5
            self.queue.append(self.fmt.trade(self, t, buy, rng.randint(1, 500)))

    def _quote(self, t: float) -> None:
        rng, top = self.rng, self.top
        old = self.stale or (top.bid, top.ask)
        self.stale = None
        r = rng.random()
        step = 1 if r < 0.2 else -1 if r < 0.4 else 0
        top.bid += step
        top.ask += step
        top.bid_qty, top.ask_qty = rng.randint(1, 5000), rng.randint(1, 5000)
        top.seq += 1
        top.book_id += 1
        self.queue.append(self.fmt.top(self, t, old))


class Format:
    """A venue's frames for one symbol's events (``kind`` as the venue's market keys it)."""

    def key(self, symbol: str) -> str:
        return symbol

    def first(self, src: UniverseSource, t: float) -> Event | None:
        return None

    def top(self, src: UniverseSource, t: float, old: tuple[int, int]) -> Event:
        raise NotImplementedError

    def trade(self, src: UniverseSource, t: float, buy: bool, lots: int) -> Event:
        raise NotImplementedError


class BinanceFormat(Format):
    """USD-M shaped ``bookTicker`` and ``trade`` (the spot venue reshapes them when sent)."""

    def top(self, src, t, old):
        s, ms = src.top, src.ms(t)
        return src.event(t, "bookTicker", orjson.dumps({
            "e": "bookTicker", "u": s.seq, "s": src.symbol, "b": _px(s.bid), "B": _qty(s.bid_qty),
            "a": _px(s.ask), "A": _qty(s.ask_qty), "T": ms, "E": ms}))

    def trade(self, src, t, buy, lots):
        s, ms = src.top, src.ms(t)
        return src.event(t, "trade", orjson.dumps({
            "e": "trade", "E": ms, "T": ms, "s": src.symbol, "t": s.trade_id,
            "p": _px(s.ask if buy else s.bid), "q": _qty(lots), "X": "MARKET", "m": not buy}))


class BybitFormat(Format):
    """Spot ``orderbook`` messages of a one-level book (the venue relabels the depth) and
    ``publicTrade``."""

    def key(self, symbol):
        return f"spot:{symbol}"

    def _book(self, src, t, typ, bids, asks):
        ms = src.ms(t)
        data = {"s": src.symbol, "b": bids, "a": asks, "u": src.top.book_id, "seq": src.top.seq}
        msg = orjson.dumps({"topic": f"orderbook.200.{src.symbol}", "ts": ms, "type": typ,
                            "data": data, "cts": ms})
        return src.event(t, "orderbook", msg)

    def first(self, src, t):
        s = src.top
        return self._book(src, t, "snapshot", [[_px(s.bid), _qty(s.bid_qty)]],
                          [[_px(s.ask), _qty(s.ask_qty)]])

    def top(self, src, t, old):
        s = src.top
        bids, asks = [[_px(s.bid), _qty(s.bid_qty)]], [[_px(s.ask), _qty(s.ask_qty)]]
        if old[0] != s.bid:  # the old touch empties: the book keeps one level a side
            bids.append([_px(old[0]), "0"])
            asks.append([_px(old[1]), "0"])
        return self._book(src, t, "delta", bids, asks)

    def trade(self, src, t, buy, lots):
        s, ms = src.top, src.ms(t)
        row = {"T": ms, "s": src.symbol, "S": "Buy" if buy else "Sell", "v": _qty(lots),
               "p": _px(s.ask if buy else s.bid), "L": "ZeroPlusTick", "i": str(s.trade_id),
               "BT": False, "seq": s.seq}
        return src.event(t, "publicTrade", orjson.dumps({
            "topic": f"publicTrade.{src.symbol}", "ts": ms, "type": "snapshot", "data": [row]}))


class OkxFormat(Format):
    """``books`` snapshot and updates of a one-level book (the venue renders ``bbo-tbt``
    from it) and ``trades``."""

    def _book(self, src, t, action, bids, asks):
        return src.event(t, action, orjson.dumps({
            "arg": {"channel": "books", "instId": src.symbol}, "action": action,
            "data": [{"asks": asks, "bids": bids, "ts": str(src.ms(t))}]}))

    def first(self, src, t):
        s = src.top
        return self._book(src, t, "snapshot", [[_px(s.bid), _qty(s.bid_qty), "0", "1"]],
                          [[_px(s.ask), _qty(s.ask_qty), "0", "1"]])

    def top(self, src, t, old):
        s = src.top
        bids = [[_px(s.bid), _qty(s.bid_qty), "0", "1"]]
        asks = [[_px(s.ask), _qty(s.ask_qty), "0", "1"]]
        if old[0] != s.bid:
            bids.append([_px(old[0]), "0", "0", "0"])
            asks.append([_px(old[1]), "0", "0", "0"])
        return self._book(src, t, "update", bids, asks)

    def trade(self, src, t, buy, lots):
        s = src.top
        return src.event(t, "trades", orjson.dumps({
            "arg": {"channel": "trades", "instId": src.symbol},
            "data": [{"instId": src.symbol, "tradeId": str(s.trade_id),
                      "px": _px(s.ask if buy else s.bid), "sz": _qty(lots),
                      "side": "buy" if buy else "sell", "ts": str(src.ms(t)), "count": "1",
                      "source": "0"}]}))


class GateFormat(Format):
    """Spot ``book_ticker`` and ``trades``."""

    def key(self, symbol):
        return f"spot:{symbol}"

    def _frame(self, src, t, kind, result):
        ms = src.ms(t)
        return src.event(t, kind, orjson.dumps({
            "time": ms // 1000, "time_ms": ms, "channel": f"spot.{kind}", "event": "update",
            "result": result}))

    def top(self, src, t, old):
        s = src.top
        return self._frame(src, t, "book_ticker", {
            "t": src.ms(t), "u": s.seq, "s": src.symbol, "b": _px(s.bid), "B": _qty(s.bid_qty),
            "a": _px(s.ask), "A": _qty(s.ask_qty)})

    def trade(self, src, t, buy, lots):
        s, ms = src.top, src.ms(t)
        return self._frame(src, t, "trades", {
            "id": s.trade_id, "create_time": ms // 1000, "create_time_ms": f"{ms}.0",
            "side": "buy" if buy else "sell", "currency_pair": src.symbol, "amount": _qty(lots),
            "price": _px(s.ask if buy else s.bid)})


class KucoinFormat(Format):
    """``/market/ticker`` and ``/market/match``."""

    def _msg(self, src, t, kind, subject, data):
        return src.event(t, kind, orjson.dumps({
            "type": "message", "topic": f"/market/{kind}:{src.symbol}", "subject": subject,
            "data": data}))

    def top(self, src, t, old):
        s = src.top
        return self._msg(src, t, "ticker", "trade.ticker", {
            "sequence": str(s.seq), "bestAsk": _px(s.ask), "size": "0.1",
            "bestBidSize": _qty(s.bid_qty), "price": _px(s.bid), "time": src.ms(t),
            "bestAskSize": _qty(s.ask_qty), "bestBid": _px(s.bid)})

    def trade(self, src, t, buy, lots):
        s = src.top
        return self._msg(src, t, "match", "trade.l3match", {
            "symbol": src.symbol, "sequence": str(s.seq), "side": "buy" if buy else "sell",
            "size": _qty(lots), "price": _px(s.ask if buy else s.bid),
            "takerOrderId": f"t{s.trade_id}", "time": str(src.ms(t) * 1_000_000),
            "type": "match", "makerOrderId": f"m{s.trade_id}", "tradeId": str(s.trade_id)})


class PhemexFormat(Format):
    """Spot ``orderbook`` (snapshot, then incremental) of a one-level book and ``trade``
    (scaled integers: prices and quantities times 10^8)."""

    SCALE = 10**6  # one tick (0.01) in price units of 10^-8

    def _book(self, src, t, typ, bids, asks):
        return src.event(t, "orderbook", orjson.dumps({
            "book": {"asks": asks, "bids": bids}, "depth": 30, "sequence": src.top.seq,
            "symbol": src.symbol, "timestamp": src.ms(t) * 1_000_000, "type": typ}))

    def first(self, src, t):
        s = src.top
        return self._book(src, t, "snapshot", [[s.bid * self.SCALE, s.bid_qty * 10**5]],
                          [[s.ask * self.SCALE, s.ask_qty * 10**5]])

    def top(self, src, t, old):
        s = src.top
        bids = [[s.bid * self.SCALE, s.bid_qty * 10**5]]
        asks = [[s.ask * self.SCALE, s.ask_qty * 10**5]]
        if old[0] != s.bid:
            bids.append([old[0] * self.SCALE, 0])
            asks.append([old[1] * self.SCALE, 0])
        return self._book(src, t, "incremental", bids, asks)

    def trade(self, src, t, buy, lots):
        s = src.top
        px = (s.ask if buy else s.bid) * self.SCALE
        return src.event(t, "trade", orjson.dumps({
            "sequence": s.seq, "symbol": src.symbol,
            "trades": [[src.ms(t) * 1_000_000, "Buy" if buy else "Sell", px, lots * 10**5]],
            "type": "incremental"}))


FORMATS: dict[str, Format] = {
    "binance-spot": BinanceFormat(), "bybit": BybitFormat(), "okx": OkxFormat(),
    "gate": GateFormat(), "kucoin": KucoinFormat(), "phemex": PhemexFormat(),
}


@dataclass
class Universe:
    """One venue's synthetic symbols: the listed names and the ones streaming."""

    venue: str
    count: int
    rate_scale: float = 1.0
    seed: int = 0
    base_ms: int = 0

    def __post_init__(self) -> None:
        if self.venue not in FORMATS:
            raise ValueError(f"no synthetic universe for {self.venue!r}; choose from {VENUES}")
        if self.count < 0 or self.rate_scale <= 0:
            raise ValueError("universe count must be >= 0 and its rate scale > 0")
        self.names = [name(self.venue, n) for n in range(1, self.count + 1)]
        self._index = {self._norm(s): n for n, s in enumerate(self.names)}
        self.active: dict[str, UniverseSource] = {}
        self.tape: Tape | None = None  # where the active symbols stream
        self.shocks: dict[str, tuple[float, float]] = {}  # coin -> (tape time, price factor)

    def shock(self, base: str, at_ms: int, factor: float) -> bool:
        """Move coin ``base`` (``SYN3``) by ``factor`` from wall time ``at_ms`` on (in pacing
        time by the feed's clock, ``Tape.at``); False when no symbol of it is listed here."""
        n = base.removeprefix(BASE)
        if n == base or not n.isdigit() or not 1 <= int(n) <= self.count:
            return False
        paced = self.tape.at(at_ms / 1000) if self.tape is not None else None
        t = paced if paced is not None else (at_ms - self.base_ms) / 1000
        self.shocks[base] = (t, factor)
        for src in self.active.values():
            if src.base == base:
                src.wake(max(t, self.tape.t) if self.tape is not None else t)
                if self.tape is not None:
                    self.tape.reschedule(src)
        return True

    def _norm(self, symbol: str) -> str:
        # Phemex's names are case-sensitive (spot "sSYN1USDT"); the others' are not
        return symbol if self.venue == "phemex" else symbol.upper()

    def __contains__(self, symbol: str) -> bool:
        return self._norm(symbol) in self._index

    def rates(self, symbol: str) -> tuple[float, float]:
        """(top-of-book, trade) events/s of ``symbol`` (module docstring)."""
        _, _, top, trade = PROFILES[self._index[self._norm(symbol)] % len(PROFILES)]
        return max(top, MIN_RATE) * self.rate_scale, max(trade, MIN_RATE) * self.rate_scale

    def activate(self, symbol: str, tape: Tape) -> bool:
        """Start ``symbol`` streaming on ``tape`` (once); False when it is not one of ours."""
        if symbol not in self:
            return False
        symbol = self.names[self._index[self._norm(symbol)]]
        if symbol not in self.active:
            fmt = FORMATS[self.venue]
            top, trade = self.rates(symbol)
            src = UniverseSource(fmt, symbol, key=fmt.key(symbol), top_rate=top, trade_rate=trade,
                                 seed=self.seed, t0=tape.t, base_ms=self.base_ms,
                                 base=f"{BASE}{self._index[self._norm(symbol)] + 1}",
                                 shocks=self.shocks)
            self.active[symbol] = src
            self.tape = tape
            tape.add(src)
        return True


def attach(market: object, venue: str, config: object, base_ms: int) -> None:
    """Give ``market`` its venue's universe from ``config`` (``SimConfig``), if it has one."""
    count = dict(getattr(config, "universe", ())).get(venue, 0)
    if venue in FORMATS and count:
        market.universe = Universe(venue, count, getattr(config, "universe_rate_scale", 1.0),  # type: ignore[attr-defined]
                                   getattr(config, "seed", 0), base_ms)


# ---------------------------------------------------------------------------- instrument lists


def _split(symbol: str, sep: str) -> tuple[str, str]:
    base, _, quote = symbol.partition(sep)
    return base, quote


# Listed too when a venue's simulator serves any symbol (``allowed`` None, as Binance's
# ``LISTED_TOO``): a recorder checking its symbols against the list finds the usual ones
# before anything streams them (any other symbol it asks for is synthetic).
LISTED_TOO = {
    "gate": ("BTC_USDT", "ETH_USDT", "SOL_USDT"),
    "kucoin": ("BTC-USDT", "ETH-USDT", "SOL-USDT"),
    "okx": ("BTC-USDT", "ETH-USDT", "SOL-USDT", "BTC-USDT-SWAP", "ETH-USDT-SWAP"),
    "phemex": ("sBTCUSDT", "sETHUSDT", "BTCUSD", "ETHUSD"),
}


def _names(market: object, venue: str = "") -> list[str]:
    u = getattr(market, "universe", None)
    too = LISTED_TOO.get(venue, ()) if getattr(market, "allowed", ()) is None else ()
    return [*too, *(u.names if u is not None else [])]


def listing_reply(venue: str, req: Request, market: object) -> Response | None:
    """The venue's instrument list (its captured or streaming symbols plus the synthetic
    universe) when ``req`` asks for it; None for any other request."""
    path = req.path
    if venue == "bybit" and path == "/v5/market/instruments-info":
        return _bybit(req, market)
    if venue == "okx" and path == "/api/v5/public/instruments":
        return _okx(req, market)
    if venue == "gate" and path == "/api/v4/spot/currency_pairs":
        pairs = [s.split(":", 1)[1] for s in market.symbols if s.startswith("spot:")]  # type: ignore[attr-defined]
        rows = [{"id": s, "base": _split(s, "_")[0], "quote": _split(s, "_")[1],
                 "trade_status": "tradable"} for s in dict.fromkeys([*pairs, *_names(market, venue)])]
        return Response(200, orjson.dumps(rows))
    if venue == "kucoin" and path == "/api/v2/symbols":
        syms = dict.fromkeys([*market.symbols, *_names(market, venue)])  # type: ignore[attr-defined]
        return Response(200, orjson.dumps({"code": "200000", "data": [
            {"symbol": s, "name": s, "baseCurrency": _split(s, "-")[0],
             "quoteCurrency": _split(s, "-")[-1], "enableTrading": True} for s in syms]}))
    if venue == "phemex" and path == "/public/products":
        return _phemex(market)
    return None


def _bybit(req: Request, market: object) -> Response | None:
    """Spot with a universe: the capture's own spot symbols' rows plus the universe (the
    other real rows have no data here); otherwise the captured reply (None: the venue's)."""
    names = _names(market)
    if req.query.get("category") != "spot" or not names:
        return None
    captured = market.captured.get("spot", set())  # type: ignore[attr-defined]
    body = market.rest.get("spot")  # type: ignore[attr-defined]
    rows = [r for r in orjson.loads(body)["result"]["list"] if r["symbol"] in captured] if body else []
    rows += [{"symbol": s, "baseCoin": s.removesuffix(QUOTE), "quoteCoin": QUOTE,
              "status": "Trading"} for s in names]
    return Response(200, orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {
        "category": "spot", "list": rows, "nextPageCursor": ""}, "retExtInfo": {}, "time": 0}))


def _okx(req: Request, market: object) -> Response:
    kind = req.query.get("instType", "")
    insts = [*market.symbols, *_names(market, "okx")]  # type: ignore[attr-defined]
    rows = []
    for inst in dict.fromkeys(insts):
        parts = inst.split("-")
        if kind == "SPOT" and len(parts) == 2:
            rows.append({"instType": "SPOT", "instId": inst, "baseCcy": parts[0], "quoteCcy": parts[1],
                         "state": "live"})
        elif kind == "SWAP" and inst.endswith("-SWAP"):
            rows.append({"instType": "SWAP", "instId": inst, "baseCcy": "", "quoteCcy": "",
                         "uly": "-".join(parts[:2]), "settleCcy": parts[1], "state": "live"})
    if kind not in ("SPOT", "SWAP"):
        return Response(200, orjson.dumps({"code": "51000", "msg": "Parameter instType error",
                                           "data": []}))
    return Response(200, orjson.dumps({"code": "0", "msg": "", "data": rows}))


def _phemex(market: object) -> Response:
    rows = []
    for s in dict.fromkeys([*sorted(market.captured), *_names(market, "phemex")]):  # type: ignore[attr-defined]
        if s.startswith("s"):
            quote = next((q for q in ("USDT", "USDC", "BTC") if s.endswith(q)), "USDT")
            rows.append({"symbol": s, "type": "Spot", "baseCurrency": s[1:-len(quote)],
                         "quoteCurrency": quote, "status": "Listed"})
        else:
            rows.append({"symbol": s, "type": "Perpetual", "quoteCurrency": "USD",
                         "contractUnderlyingAssets": s.removesuffix("USD"), "status": "Listed"})
    return Response(200, orjson.dumps({"code": 0, "msg": "", "data": {"products": rows,
                                                                      "perpProductsV2": []}}))
