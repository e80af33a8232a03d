"""Upbit REST candles: a seeded minute history before the stream, live minutes after it.

Each code has ``history_minutes`` one-minute bars that end just before its first streamed
minute and close at the price the stream starts from, so REST history and the live stream
join without a jump. Minutes after that are built from the trades the stream has sent.
About one minute in ten of the history has no trades and no candle, as on Upbit.
Larger units (minutes 3..240, days, weeks, months) are folded from the minute bars;
days, weeks and months begin at 00:00 KST (Monday for weeks, the 1st for months).

``page`` applies Upbit's paging: newest first, ``to`` exclusive (candles that open before
it), at most 200. A client pages backwards by passing the oldest ``candle_date_time_utc``
of one page as the next page's ``to``.
"""

from __future__ import annotations

import math
import random
import zlib
from datetime import UTC, datetime, timedelta, timezone

MINUTE_MS = 60_000
DAY_MS = 86_400_000
KST_MS = 9 * 3_600_000
KST = timezone(timedelta(hours=9))
MINUTE_UNITS = (1, 3, 5, 10, 15, 30, 60, 240)
PERIODS = ("days", "weeks", "months")
MAX_COUNT = 200
GAP_CHANCE = 0.1


class CandleRequestError(ValueError):
    """A candle request Upbit would refuse with 400 ``invalid_parameter_error``."""


def _iso(ms: int, tz: timezone = UTC) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=tz).strftime("%Y-%m-%dT%H:%M:%S")


def parse_to(value: str) -> int:
    """Milliseconds of an Upbit ``to``: ISO 8601 with ``T`` or a space, offset or ``Z``;
    without an offset it is UTC. Raises ``CandleRequestError``."""
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise CandleRequestError(f"to is not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_count(value: str | None) -> int:
    """Upbit's ``count``: default 1, 1..200. Raises ``CandleRequestError``."""
    if value is None or value == "":
        return 1
    if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
        raise CandleRequestError(f"count must be 1..{MAX_COUNT}, got {value!r}")
    return int(value)


def _tick_for(price: float) -> float:
    """A plausible Upbit price step for ``price`` (coarse: enough for a random walk)."""
    for bound, tick in ((10, 0.001), (100, 0.01), (1_000, 0.1), (10_000, 1.0), (100_000, 10.0),
                        (1_000_000, 50.0), (10_000_000, 500.0)):
        if price < bound:
            return tick
    return 1000.0


def history_bars(code: str, *, seed: int, end_ms: int, price: float, minutes: int) -> list[dict]:
    """``minutes`` one-minute bars (some absent) ending before ``end_ms``'s minute, ascending;
    the newest closes at ``price``. The same arguments give the same bars."""
    rng = random.Random(seed ^ zlib.crc32(code.encode()) ^ 0x5EED)
    tick = _tick_for(price)
    digits = max(0, -round(math.log10(tick))) if tick < 1 else 0
    end_minute = end_ms // MINUTE_MS * MINUTE_MS
    bars = []
    close = price
    for i in range(1, minutes + 1):
        start = end_minute - i * MINUTE_MS
        steps = rng.choice((-2, -1, -1, 0, 0, 1, 1, 2))
        open_ = max(tick, round(close - steps * tick, digits))
        if rng.random() < GAP_CHANCE:
            close = open_  # no trades: the price carries over, no candle
            continue
        high = round(max(open_, close) + rng.randint(0, 2) * tick, digits)
        low = round(max(tick, min(open_, close) - rng.randint(0, 2) * tick), digits)
        volume = round(rng.uniform(0.001, 3.0), 8)
        bars.append(bar(code, start, open_, high, low, close,
                        start + rng.randint(0, MINUTE_MS - 1), volume, volume * (open_ + close) / 2))
        close = open_
    bars.reverse()
    return bars


def bar(code: str, start: int, open_: float, high: float, low: float, close: float,
        last_ms: int, volume: float, value: float) -> dict:
    """A one-minute bar in Upbit's REST field names (``timestamp`` is the last tick)."""
    return {"market": code, "start": start, "opening_price": open_, "high_price": high,
            "low_price": low, "trade_price": close, "timestamp": last_ms,
            "candle_acc_trade_price": value, "candle_acc_trade_volume": volume}


def live_bars(code: str, trades: list[dict]) -> list[dict]:
    """One-minute bars of streamed trades (dicts with ``ttms``, ``tp``, ``tv``), ascending."""
    bars: dict[int, dict] = {}
    for tr in trades:
        start = tr["ttms"] // MINUTE_MS * MINUTE_MS
        tp, tv = tr["tp"], tr["tv"]
        b = bars.get(start)
        if b is None:
            b = bars[start] = bar(code, start, tp, tp, tp, tp, tr["ttms"], 0.0, 0.0)
        b["high_price"], b["low_price"] = max(b["high_price"], tp), min(b["low_price"], tp)
        b["trade_price"], b["timestamp"] = tp, tr["ttms"]
        b["candle_acc_trade_price"] += tp * tv
        b["candle_acc_trade_volume"] += tv
    return [bars[k] for k in sorted(bars)]


def period_start(start: int, kind: str | int) -> int:
    """Where the candle holding minute ``start`` opens: a minute unit, or days/weeks/months."""
    if isinstance(kind, int):
        return start // (kind * MINUTE_MS) * (kind * MINUTE_MS)
    day = (start + KST_MS) // DAY_MS * DAY_MS - KST_MS
    if kind == "days":
        return day
    kst = datetime.fromtimestamp(day / 1000, tz=KST)
    if kind == "weeks":
        return day - kst.weekday() * DAY_MS
    return int(kst.replace(day=1).timestamp() * 1000)


def fold(bars: list[dict], kind: str | int) -> list[dict]:
    """Minute bars (ascending) folded into ``kind`` candles in Upbit's REST shape, ascending."""
    out: list[dict] = []
    for b in bars:
        start = period_start(b["start"], kind)
        if out and out[-1]["start"] == start:
            c = out[-1]
            c["high_price"] = max(c["high_price"], b["high_price"])
            c["low_price"] = min(c["low_price"], b["low_price"])
            c["trade_price"], c["timestamp"] = b["trade_price"], b["timestamp"]
            c["candle_acc_trade_price"] += b["candle_acc_trade_price"]
            c["candle_acc_trade_volume"] += b["candle_acc_trade_volume"]
        else:
            out.append({**b, "start": start})
    return out


def shape(c: dict, kind: str | int, prev_close: float | None) -> dict:
    """The REST object of folded candle ``c`` (``start`` becomes the two date-time fields)."""
    obj = {"market": c["market"], "candle_date_time_utc": _iso(c["start"]),
           "candle_date_time_kst": _iso(c["start"], KST),
           **{k: c[k] for k in ("opening_price", "high_price", "low_price", "trade_price",
                                "timestamp", "candle_acc_trade_price", "candle_acc_trade_volume")}}
    if isinstance(kind, int):
        obj["unit"] = kind
    elif kind == "days":
        prev = c["opening_price"] if prev_close is None else prev_close
        obj["prev_closing_price"] = prev
        obj["change_price"] = c["trade_price"] - prev
        obj["change_rate"] = (c["trade_price"] - prev) / prev if prev else 0.0
    else:
        obj["first_day_of_period"] = _iso(c["start"], KST)[:10]
    return obj


def page(candles: list[dict], kind: str | int, *, to_ms: int | None, count: int) -> list[dict]:
    """Upbit's answer from folded ``candles`` (ascending): the ``count`` newest that open
    before ``to_ms`` (all when None), newest first."""
    hi = len(candles)
    if to_ms is not None:
        lo, hi = 0, len(candles)
        while lo < hi:  # first candle opening at or after to_ms
            mid = (lo + hi) // 2
            if candles[mid]["start"] < to_ms:
                lo = mid + 1
            else:
                hi = mid
    picked = range(hi - 1, max(hi - count, 0) - 1, -1)
    return [shape(candles[i], kind, candles[i - 1]["trade_price"] if i else None) for i in picked]
