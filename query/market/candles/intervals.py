"""Candle intervals per venue, as each venue's API names them, and where their periods begin.

    upbit         1m 3m 5m 10m 15m 30m 1h 4h (``/v1/candles/minutes/{unit}``), 1d (``days``),
                  1w (``weeks``), 1M (``months``); days, weeks and months open at 00:00 KST
                  (weeks on Monday, months on the 1st); minutes on UTC's grid
    binance-usdm  1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M (``/fapi/v1/klines``)
    binance-spot  the same and 1s (``/api/v3/klines``); all on UTC's grid, weeks on Monday

``interval(venue, name)`` answers an ``Interval`` (``UnknownIntervalError`` naming the valid
ones otherwise), whose ``floor``/``shift`` walk its period boundaries in epoch ms: pages are
planned on them. ``PAGE`` is each venue's page cap, ``MAX_COUNT`` the API's own cap on
candles (or periods) per call; ``check_count`` refuses anything outside 1..``MAX_COUNT``.
Binance's 3d periods are taken to start every third day from the epoch (not checked against
the live venue; the simulator serves 1m only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from query.market.errors import BadRequestError, UnknownIntervalError, UnknownVenueError

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
KST_MS = 9 * HOUR_MS
MONDAY_MS = 4 * DAY_MS  # 1970-01-05, the first Monday after the epoch (a Thursday)

# Candles per request: Upbit's count, Binance's limit.
PAGE: dict[str, int] = {"upbit": 200, "binance-usdm": 1500, "binance-spot": 1000}
# The most candles (or periods of a range) one call fetches: 500 Upbit pages, about a minute
# of Upbit's candle budget at 10 requests a second.
MAX_COUNT = 100_000


@dataclass(frozen=True, slots=True)
class Interval:
    """One venue's interval: the request it makes and its grid of period starts.

    ``span_ms`` is the period's length (0 for months, whose length varies); ``origin_ms`` a
    period start the grid passes through (months: the venue's clock's offset from UTC, +9 h
    for Upbit's KST, whose months begin on the local 1st). ``path`` is the REST path; ``param`` Binance's ``interval`` value (None
    for Upbit, whose path says it).
    """

    venue: str
    name: str
    path: str
    param: str | None
    span_ms: int
    origin_ms: int = 0

    def floor(self, ms: int) -> int:
        """The start of the period holding ``ms``."""
        if self.span_ms:
            return (ms - self.origin_ms) // self.span_ms * self.span_ms + self.origin_ms
        d = datetime.fromtimestamp((ms + self.origin_ms) // 1000, UTC)
        return _month_ms(d.year * 12 + d.month - 1) - self.origin_ms

    def ceil(self, ms: int) -> int:
        """The first period start at or after ``ms``."""
        f = self.floor(ms)
        return f if f == ms else self.shift(f, 1)

    def shift(self, start: int, n: int) -> int:
        """The period start ``n`` periods after (``n`` < 0: before) period start ``start``."""
        if self.span_ms:
            return start + n * self.span_ms
        d = datetime.fromtimestamp((start + self.origin_ms) // 1000, UTC)
        return _month_ms(d.year * 12 + d.month - 1 + n) - self.origin_ms

    def periods(self, start: int, end: int) -> int:
        """How many periods open in ``[start, end)``, both period starts."""
        if end <= start:
            return 0
        if self.span_ms:
            return (end - start) // self.span_ms
        a = datetime.fromtimestamp((start + self.origin_ms) // 1000, UTC)
        b = datetime.fromtimestamp((end + self.origin_ms) // 1000, UTC)
        return (b.year - a.year) * 12 + b.month - a.month


def _month_ms(months: int) -> int:
    """Epoch ms of 00:00 UTC on the 1st of month ``months`` (counted from year 0)."""
    year, month = divmod(months, 12)
    return int(datetime(year, month + 1, 1, tzinfo=UTC).timestamp()) * 1000


def _upbit() -> dict[str, Interval]:
    out = {}
    for name, unit in (("1m", 1), ("3m", 3), ("5m", 5), ("10m", 10), ("15m", 15), ("30m", 30),
                       ("1h", 60), ("4h", 240)):
        out[name] = Interval("upbit", name, f"/v1/candles/minutes/{unit}", None, unit * MINUTE_MS)
    out["1d"] = Interval("upbit", "1d", "/v1/candles/days", None, DAY_MS, -KST_MS)
    out["1w"] = Interval("upbit", "1w", "/v1/candles/weeks", None, 7 * DAY_MS, MONDAY_MS - KST_MS)
    out["1M"] = Interval("upbit", "1M", "/v1/candles/months", None, 0, KST_MS)
    return out


_BINANCE_SPANS = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS,
    "1M": 0,
}


def _binance(venue: str, path: str, extra: dict[str, int]) -> dict[str, Interval]:
    spans = {**extra, **_BINANCE_SPANS}
    return {name: Interval(venue, name, path, name, span, MONDAY_MS if name == "1w" else 0)
            for name, span in spans.items()}


INTERVALS: dict[str, dict[str, Interval]] = {
    "upbit": _upbit(),
    "binance-usdm": _binance("binance-usdm", "/fapi/v1/klines", {}),
    "binance-spot": _binance("binance-spot", "/api/v3/klines", {"1s": 1000}),
}


def intervals(venue: str) -> tuple[str, ...]:
    """The interval names ``venue`` serves, shortest first."""
    return tuple(_table(venue))


def interval(venue: str, name: str) -> Interval:
    """``venue``'s interval ``name``; ``UnknownIntervalError`` lists the valid ones."""
    table = _table(venue)
    try:
        return table[name]
    except KeyError:
        raise UnknownIntervalError(venue, name, table) from None


def _table(venue: str) -> dict[str, Interval]:
    try:
        return INTERVALS[venue]
    except KeyError:
        raise UnknownVenueError(venue, INTERVALS) from None


def check_count(count: object, what: str = "count") -> int:
    """``count`` when it is an int in 1..``MAX_COUNT``; ``BadRequestError`` saying so otherwise."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise BadRequestError(f"{what} must be an integer 1..{MAX_COUNT}, not {count!r}")
    if not 1 <= count <= MAX_COUNT:
        raise BadRequestError(f"{what} must be 1..{MAX_COUNT}, not {count}")
    return count
