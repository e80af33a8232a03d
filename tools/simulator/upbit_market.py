"""The simulated Upbit quotation market: the looped SIMPLE capture plus synthetic codes.

Payloads are kept in SIMPLE format (the capture's own bytes); ``to_default`` renames the
keys at byte level when a client asked for DEFAULT, so numbers keep their exact text.
Loop ``n`` shifts ``tms``/``ttms`` by ``n`` whole minutes-spans (rewriting ``td``/``ttm``)
and ``sid`` accordingly. The capture has no tickers: a ticker is derived after each
captured trade (marked in the simulator docs as synthetic).
"""

from __future__ import annotations

import random
import re
import zlib
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from .captures import RawCapture
from .tape import Event, GeneratedSource, Source, Tape, minute_ceil_ms, shifter
from .upbit_candles import fold, history_bars, live_bars, page

# SIMPLE key -> DEFAULT key (PROTOCOLS.md §3.3)
SIMPLE_TO_DEFAULT: dict[str, str] = {
    "ty": "type", "cd": "code", "op": "opening_price", "hp": "high_price", "lp": "low_price",
    "tp": "trade_price", "pcp": "prev_closing_price", "c": "change", "cp": "change_price",
    "scp": "signed_change_price", "cr": "change_rate", "scr": "signed_change_rate",
    "tv": "trade_volume", "atv": "acc_trade_volume", "atv24h": "acc_trade_volume_24h",
    "atp": "acc_trade_price", "atp24h": "acc_trade_price_24h", "tdt": "trade_date",
    "ttm": "trade_time", "ttms": "trade_timestamp", "ab": "ask_bid", "aav": "acc_ask_volume",
    "abv": "acc_bid_volume", "h52wp": "highest_52_week_price", "h52wdt": "highest_52_week_date",
    "l52wp": "lowest_52_week_price", "l52wdt": "lowest_52_week_date", "ms": "market_state",
    "its": "is_trading_suspended", "dd": "delisting_date", "mw": "market_warning",
    "tms": "timestamp", "st": "stream_type", "td": "trade_date", "sid": "sequential_id",
    "bap": "best_ask_price", "bas": "best_ask_size", "bbp": "best_bid_price",
    "bbs": "best_bid_size", "tas": "total_ask_size", "tbs": "total_bid_size",
    "obu": "orderbook_units", "ap": "ask_price", "bp": "bid_price", "as": "ask_size",
    "bs": "bid_size", "lv": "level", "ts": "trade_status", "msfi": "market_state_for_ios",
}
_KEY = re.compile(rb'"([a-z0-9]{1,6})":')
_B_TO_DEFAULT = {k.encode(): b'"%s":' % v.encode() for k, v in SIMPLE_TO_DEFAULT.items()}
_SHIFT = shifter({b"tms": "time", b"ttms": "time", b"sid": "sid"})
_TRADE_DT = re.compile(rb'"td":"[0-9-]{10}","ttm":"[0-9:]{8}"')
_TTMS = re.compile(rb'"ttms":(\d+)')
LOOP_GAP_S = 0.1


def to_default(simple: bytes) -> bytes:
    """The same message with DEFAULT key names (values untouched, byte for byte)."""
    return _KEY.sub(lambda m: _B_TO_DEFAULT.get(m.group(1), m.group(0)), simple)


def as_snapshot(frame: bytes) -> bytes:
    """The frame re-labelled ``stream_type`` SNAPSHOT (what a new subscriber gets first)."""
    return frame.replace(b'"st":"REALTIME"', b'"st":"SNAPSHOT"')


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _shift(data: bytes, deltas: dict[str, int]) -> bytes:
    return _SHIFT(data, deltas)


def _shift_trade(data: bytes, deltas: dict[str, int]) -> bytes:
    return _shift_trade_strings(_SHIFT(data, deltas))


def _shift_trade_strings(data: bytes) -> bytes:
    m = _TTMS.search(data)
    if m is None:
        return data
    dt = _utc(int(m.group(1)))
    new = b'"td":"%s","ttm":"%s"' % (dt.strftime("%Y-%m-%d").encode(), dt.strftime("%H:%M:%S").encode())
    return _TRADE_DT.sub(new, data, count=1)


class _Ticker:
    """Running ticker state of one code, built from its trades (SIMPLE keys)."""

    def __init__(self, first_price: float, prev_close: float) -> None:
        self.op = first_price
        self.hp = self.lp = first_price
        self.pcp = prev_close
        self.atv = self.atp = self.aav = self.abv = 0.0

    def on_trade(self, code: str, tp: float, tv: float, ab: str, ttms: int, tms: int) -> bytes:
        self.hp, self.lp = max(self.hp, tp), min(self.lp, tp)
        self.atv += tv
        self.atp += tv * tp
        if ab == "ASK":
            self.aav += tv
        else:
            self.abv += tv
        change = tp - self.pcp
        dt = _utc(ttms)
        return orjson.dumps({
            "ty": "ticker", "cd": code, "op": self.op, "hp": self.hp, "lp": self.lp, "tp": tp,
            "pcp": self.pcp, "c": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
            "cp": abs(change), "scp": change, "cr": abs(change) / self.pcp if self.pcp else 0.0,
            "scr": change / self.pcp if self.pcp else 0.0, "tv": tv, "atv": self.atv,
            "atv24h": self.atv, "atp": self.atp, "atp24h": self.atp,
            "tdt": dt.strftime("%Y%m%d"), "ttm": dt.strftime("%H%M%S"), "ttms": ttms, "ab": ab,
            "aav": self.aav, "abv": self.abv, "ms": "ACTIVE", "tms": tms, "st": "REALTIME"})


class UpbitCapture:
    """The SIMPLE-format capture prepared for looping, with derived tickers."""

    def __init__(self, raw: RawCapture) -> None:
        self.frames: list[tuple[float, str, str, bytes]] = []
        tickers: dict[str, _Ticker] = {}
        lo = hi = None
        sid_lo = sid_hi = None
        for t, payload in raw.frames:
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            kind, code = msg.get("ty"), msg.get("cd")
            if kind not in ("trade", "orderbook") or not code:
                continue
            self.frames.append((t, code, kind, payload))
            tms = msg["tms"]
            lo, hi = (tms if lo is None else min(lo, tms)), (tms if hi is None else max(hi, tms))
            if kind == "trade":
                sid = msg["sid"]
                sid_lo = sid if sid_lo is None else min(sid_lo, sid)
                sid_hi = sid if sid_hi is None else max(sid_hi, sid)
                tk = tickers.get(code) or tickers.setdefault(code, _Ticker(msg["tp"], msg["pcp"]))
                self.frames.append((t, code, "ticker", tk.on_trade(
                    code, msg["tp"], msg["tv"], msg["ab"], msg["ttms"], tms)))
        t0 = self.frames[0][0] if self.frames else 0.0
        self.frames = [(t - t0, c, k, d) for t, c, k, d in self.frames]
        self.loop_s = (self.frames[-1][0] if self.frames else 0.0) + LOOP_GAP_S
        self.time_delta_ms = minute_ceil_ms((hi or 0) - (lo or 0))
        # sids look like ttms * 1000 + n: shifting them with time keeps that shape and order
        self.sid_delta = max(self.time_delta_ms * 1000, (sid_hi or 0) - (sid_lo or 0) + 1)
        self.codes = sorted({c for _, c, _, _ in self.frames})
        # where each code's REST history ends: its first trade's time and price
        self.first_trade: dict[str, tuple[int, float]] = {}
        for _, code, kind, data in self.frames:
            if kind == "trade" and code not in self.first_trade:
                msg = orjson.loads(data)
                self.first_trade[code] = (msg["ttms"], msg["tp"])
        self.market_all: bytes | None = next(
            (body for _, url, body in raw.rest if url and url.endswith("/v1/market/all")), None)


class UpbitCaptureSource(Source):
    """An ``UpbitCapture`` played in an endless loop with shifted times and ids."""

    def __init__(self, cap: UpbitCapture) -> None:
        self.cap = cap
        self.i = 0
        self.loop = 0

    def peek_t(self) -> float:
        return self.loop * self.cap.loop_s + self.cap.frames[self.i][0]

    def pop(self) -> Event:
        t, code, kind, data = self.cap.frames[self.i]
        if self.loop:
            deltas = {"time": self.loop * self.cap.time_delta_ms, "sid": self.loop * self.cap.sid_delta}
            ev = Event(self.loop * self.cap.loop_s + t, code, kind, data, None,
                       _shift_trade if kind == "trade" else _shift, deltas)
        else:
            ev = Event(t, code, kind, data)
        self.i += 1
        if self.i == len(self.cap.frames):
            self.i = 0
            self.loop += 1
        return ev


# Where a synthetic code starts: near the real market, so a KRW premium over Binance
# (BTCUSDT ~61,800 in the looped 2024 capture, at ~1,385 KRW/USDT) comes out near +1 %.
REFERENCE_KRW = {"KRW-BTC": 86_450_000, "KRW-USDT": 1_385, "KRW-ETH": 3_700_000,
                 "KRW-XRP": 790, "KRW-SOL": 210_000}


class UpbitSynthetic(GeneratedSource):
    """A random-walk KRW market for one code: 15-level orderbook every 200 ms, trades and a
    ticker after each trade (seeded, reproducible)."""

    STEP_S = 0.2
    UNITS = 15

    def __init__(self, code: str, *, seed: int, t0: float, base_ms: int) -> None:
        self.code = code
        h = zlib.crc32(code.encode())
        self.rng = random.Random(seed ^ h)
        self.t0, self.base_ms, self.step = t0, base_ms, 0
        mid = REFERENCE_KRW.get(code) or 1000 + h % 5_000_000
        self.tick = 10 ** max(0, len(str(mid)) - 4)
        self.mid = mid // self.tick * self.tick
        self.sid = (base_ms + int(t0 * 1000)) * 1000
        self.ticker = _Ticker(float(self.mid), float(self.mid))
        self.queue: deque[Event] = deque()
        self._generate()


    def _generate(self) -> None:
        rng, tick = self.rng, self.tick
        t = self.t0 + self.step * self.STEP_S
        ms = self.base_ms + int(round(t * 1000))
        r = rng.random()
        self.mid += tick if r < 0.2 else -tick if r < 0.4 else 0
        self.mid = max(self.mid, tick * 20)
        units = [{"ap": float(self.mid + tick * (k + 1)), "bp": float(self.mid - tick * (k + 1)),
                  "as": round(rng.uniform(0.001, 50.0), 8), "bs": round(rng.uniform(0.001, 50.0), 8)}
                 for k in range(self.UNITS)]
        self.queue.append(Event(t, self.code, "orderbook", orjson.dumps({
            "ty": "orderbook", "cd": self.code, "tms": ms,
            "tas": round(sum(u["as"] for u in units), 8), "tbs": round(sum(u["bs"] for u in units), 8),
            "obu": units, "lv": 0, "st": "REALTIME"})))
        for _ in range(rng.choice((0, 0, 1, 2))):
            ask = rng.random() < 0.5
            tp = float(self.mid - tick) if ask else float(self.mid + tick)
            tv = round(rng.uniform(0.0001, 2.0), 8)
            self.sid += 1
            dt = _utc(ms)
            self.queue.append(Event(t, self.code, "trade", orjson.dumps({
                "ty": "trade", "cd": self.code, "tms": ms, "td": dt.strftime("%Y-%m-%d"),
                "ttm": dt.strftime("%H:%M:%S"), "ttms": ms, "tp": tp, "tv": tv,
                "ab": "ASK" if ask else "BID", "pcp": self.ticker.pcp, "c": "EVEN", "cp": 0.0,
                "sid": self.sid, "st": "REALTIME"})))
            self.queue.append(Event(t, self.code, "ticker", self.ticker.on_trade(
                self.code, tp, tv, "ASK" if ask else "BID", ms, ms)))
        self.step += 1


class UpbitMarket:
    """Every Upbit source merged into one tape, plus last messages and REST bodies."""

    def __init__(self, captures: Iterable[RawCapture] = (), *, seed: int = 0, base_ms: int = 0,
                 codes: Iterable[str] | None = None, history_minutes: int = 0) -> None:
        self.tape = Tape()
        self.seed, self.base_ms, self.history_minutes = seed, base_ms, history_minutes
        self._anchors: dict[str, tuple[int, float]] = {}  # code -> (stream start ms, price)
        self._history: dict[str, list[dict]] = {}
        self.allowed = None if codes is None else {c.upper() for c in codes}
        self._capture_codes: set[str] = set()
        self.opening: dict[str, int] = {}  # code -> ms it is listed from (``list_at``)
        self._synthetic: dict[str, UpbitSynthetic] = {}
        self.market_all: bytes | None = None
        self.last: dict[tuple[str, str], Event] = {}  # (code, kind) -> latest message
        self.trades: dict[str, deque[Event]] = {}
        for raw in captures:
            cap = UpbitCapture(raw)
            if not cap.frames:
                continue
            self.tape.add(UpbitCaptureSource(cap))
            self._capture_codes.update(cap.codes)
            for code, anchor in cap.first_trade.items():
                self._anchors.setdefault(code, anchor)
            self.market_all = self.market_all or cap.market_all
        if self.allowed:
            for code in sorted(self.allowed):
                self.activate(code)

    @property
    def codes(self) -> list[str]:
        return sorted(self._capture_codes | set(self._synthetic))

    def known(self, code: str) -> bool:
        code = code.upper()
        if code in self._capture_codes or code in self._synthetic:
            return True
        return self.allowed is None or code in self.allowed

    def activate(self, code: str) -> bool:
        """Make sure ``code`` produces events; False for an invalid code."""
        code = code.upper()
        if code in self._capture_codes or code in self._synthetic:
            return True
        quote, sep, base = code.partition("-")
        if not self.known(code) or not sep or not quote.isalnum() or not base.isalnum():
            return False
        src = UpbitSynthetic(code, seed=self.seed, t0=self.tape.t, base_ms=self.base_ms)
        self._synthetic[code] = src
        self._anchors[code] = (self.base_ms + int(round(src.t0 * 1000)), src.ticker.pcp)
        self.tape.add(src)
        return True

    def next(self) -> Event:
        ev = self.tape.next()
        self.last[(ev.symbol, ev.kind)] = ev
        if ev.kind == "trade":
            dq = self.trades.get(ev.symbol)
            if dq is None:
                dq = self.trades[ev.symbol] = deque(maxlen=50_000)
            dq.append(ev)
        return ev

    # -- REST bodies (DEFAULT names, as Upbit's REST API answers)
    def _rest_obj(self, code: str, kind: str) -> dict | None:
        ev = self.last.get((code.upper(), kind))
        if ev is None:
            return None
        obj = orjson.loads(to_default(ev.data))
        obj.pop("type", None)
        obj.pop("stream_type", None)
        return {"market": obj.pop("code"), **obj}

    def orderbook_body(self, markets: list[str]) -> bytes:
        return orjson.dumps([o for m in markets if (o := self._rest_obj(m, "orderbook"))])

    def ticker_body(self, markets: list[str]) -> bytes:
        return orjson.dumps([o for m in markets if (o := self._rest_obj(m, "ticker") or self._quiet_ticker(m))])

    def _quiet_ticker(self, code: str) -> dict | None:
        """The ticker of a code that has not traded since the stream started (Upbit answers
        every listed market): its anchor price, no volume, stamped at the anchor."""
        anchor = self._anchors.get(code.upper())
        if anchor is None:
            return None
        ms, price = anchor
        obj = orjson.loads(to_default(_Ticker(price, price).on_trade(code.upper(), price, 0.0, "BID", ms, ms)))
        for k in ("type", "stream_type"):
            obj.pop(k, None)
        return {"market": obj.pop("code"), **obj}

    def list_at(self, code: str, at_ms: int) -> None:
        """List ``code`` in ``/v1/market/all`` from ``at_ms`` on (a listing's market opening)."""
        self.opening[code.upper()] = at_ms

    def market_all_body(self, now_ms: int | None = None) -> bytes:
        rows = orjson.loads(self.market_all) if self.market_all else []
        if self.allowed is not None:  # only what it can quote: the allowed and traded codes
            rows = [r for r in rows if r["market"] in self.allowed or r["market"] in self._anchors]
        have = {r["market"] for r in rows}
        # with any code allowed, the reference markets too (listed before they stream)
        extra = sorted(REFERENCE_KRW) if self.allowed is None else []
        for code in [*self.codes, *extra]:
            if code not in have and (self.allowed is None or code in self._anchors):
                have.add(code)
                base = code.partition("-")[2]
                rows.append({"market": code, "korean_name": base, "english_name": base})
        for code, at_ms in sorted(self.opening.items()):
            if code not in have and now_ms is not None and now_ms >= at_ms:
                base = code.partition("-")[2]
                rows.append({"market": code, "korean_name": base, "english_name": base})
        return orjson.dumps(rows)

    def minute_bars(self, code: str) -> list[dict]:
        """Every one-minute bar of ``code``: the seeded history, then the streamed minutes."""
        code = code.upper()
        hist = self._history.get(code)
        if hist is None:
            anchor = self._anchors.get(code)
            hist = [] if anchor is None else history_bars(
                code, seed=self.seed, end_ms=anchor[0], price=anchor[1], minutes=self.history_minutes)
            self._history[code] = hist
        live = live_bars(code, [orjson.loads(ev.data) for ev in self.trades.get(code, ())])
        if live and hist and live[0]["start"] <= hist[-1]["start"]:
            live = [b for b in live if b["start"] > hist[-1]["start"]]
        return [dict(b) for b in hist] + live

    def candles(self, code: str, kind: int | str = 1) -> list[dict]:
        """The simulator's own candles of ``code`` (ascending, internal ``start`` ms kept):
        what paging through ``/v1/candles/...`` must return, candle for candle."""
        return fold(self.minute_bars(code), kind)

    def candles_body(self, market: str, unit: int | str = 1, count: int = 1) -> bytes:
        """The newest ``count`` candles, newest first, as ``/v1/candles/...`` answers them."""
        return orjson.dumps(page(self.candles(market, unit), unit, to_ms=None, count=count))

    def ticks(self, code: str) -> list[dict]:
        """Streamed trades of ``code`` in ``/v1/trades/ticks`` shape, oldest first."""
        out = []
        for ev in self.trades.get(code.upper(), ()):
            tr = orjson.loads(ev.data)
            dt = _utc(tr["ttms"])
            out.append({"market": tr["cd"], "trade_date_utc": dt.strftime("%Y-%m-%d"),
                        "trade_time_utc": dt.strftime("%H:%M:%S"), "timestamp": tr["ttms"],
                        "trade_price": tr["tp"], "trade_volume": tr["tv"],
                        "prev_closing_price": tr.get("pcp", 0.0), "change_price": tr.get("cp", 0.0),
                        "ask_bid": tr["ab"], "sequential_id": tr["sid"]})
        return out
