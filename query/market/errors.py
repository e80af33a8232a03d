"""Errors of the market-data API (``query.market``), the same for REST and WebSocket answers.

    MarketDataError               base of everything query.market raises (a QueryError)
    +-- UnknownNameError          the caller named something that does not exist (a ValueError)
    |   +-- UnknownVenueError     no such venue; names the venues served
    |   +-- UnknownSymbolError    no such symbol on that venue; names some of its symbols
    |   +-- UnknownIntervalError  no such candle interval on that venue; names the valid ones
    +-- BadRequestError           an argument out of its documented range (a ValueError): a
    |                             count, depth or limit of 0, negative or over its cap; a range
    |                             that ends before it starts
    +-- RateLimitedError          the venue's limit is used up until ``until_ns``
    +-- VenueUnavailableError     the venue is down, unreachable, or its circuit is open
    +-- StaleDataError            the freshest data is older than the caller's ``max_age_ms``
    +-- BadResponseError          a venue's answer has a shape we cannot read

``MarketDataError`` is a ``query.errors.QueryError``, as everything query/ raises; the
limiter's ``Throttled`` and ``Banned`` (``query.market.limits``) are ``RateLimitedError``s.

What the caller does next: an ``UnknownNameError`` is the caller's own mistake (fix the name;
the message lists the valid ones, the CLI prints it and exits 2), and so is a
``BadRequestError`` (fix the argument it names). ``RateLimitedError`` says
when to retry. ``VenueUnavailableError`` and ``StaleDataError`` are worth retrying later or
on another source. ``BadResponseError`` is the venue's (or our decoder's) fault: it names the
field that was wrong, and the body is worth keeping for a bug report.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from query.errors import QueryError

# How many valid choices a message lists before it says "and N more" (Upbit has ~250 markets).
_SHOWN = 12


def _choices(choices: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(choices)))


def _listed(choices: tuple[str, ...]) -> str:
    head = ", ".join(choices[:_SHOWN])
    more = len(choices) - _SHOWN
    return f"{head} and {more} more" if more > 0 else head or "none"


class MarketDataError(QueryError):
    """Base class of query.market errors (a ``QueryError``, as everything query/ raises)."""


class UnknownNameError(MarketDataError, ValueError):
    """A venue, symbol or interval that does not exist; ``choices`` are the valid ones."""

    def __init__(self, message: str, choices: Iterable[str]) -> None:
        self.choices = _choices(choices)
        super().__init__(f"{message}; valid: {_listed(self.choices)}")


class UnknownVenueError(UnknownNameError):
    """No venue of that name is served."""

    def __init__(self, venue: str, choices: Iterable[str]) -> None:
        super().__init__(f"unknown venue {venue!r}", choices)
        self.venue = venue


class UnknownSymbolError(UnknownNameError):
    """No symbol of that name (native or normalized) on that venue."""

    def __init__(self, venue: str, symbol: str, choices: Iterable[str]) -> None:
        super().__init__(f"unknown symbol {symbol!r} on {venue}", choices)
        self.venue = venue
        self.symbol = symbol


class UnknownIntervalError(UnknownNameError):
    """No candle interval of that name on that venue."""

    def __init__(self, venue: str, interval: str, choices: Iterable[str]) -> None:
        super().__init__(f"unknown interval {interval!r} on {venue}", choices)
        self.venue = venue
        self.interval = interval


class BadRequestError(MarketDataError, ValueError):
    """Arguments no request can be made of: a count, depth or limit of 0, negative or over
    its cap; a range that ends before it starts. The message says what is allowed; the
    caller's mistake."""


class RateLimitedError(MarketDataError):
    """The venue's limit (``group``: Upbit's per-second group, or Binance's weight) is used up.

    Retry at ``until_ns`` (epoch ns) or later; ``banned`` is true for a 418 (Upbit stops
    the whole group until then, and asking earlier extends the ban). The limiter raises its
    subclasses (``query.market.limits``: ``Throttled``, ``Banned``), which add how long the
    wait was and why.
    """

    def __init__(self, venue: str, group: str, until_ns: int, *, banned: bool = False,
                 reason: str = "") -> None:
        what = "banned (418)" if banned else "rate limited"
        until = datetime.fromtimestamp(until_ns / 1e9, UTC).isoformat(timespec="seconds")
        super().__init__(f"{venue} {group}: {what} until {until}" + (f": {reason}" if reason else ""))
        self.venue = venue
        self.group = group
        self.until_ns = until_ns
        self.banned = banned
        self.reason = reason


class VenueUnavailableError(MarketDataError):
    """The venue cannot be asked now: down, timed out, or its circuit breaker is open."""

    def __init__(self, venue: str, reason: str) -> None:
        super().__init__(f"{venue} unavailable: {reason}")
        self.venue = venue
        self.reason = reason


class StaleDataError(MarketDataError):
    """Every source's data is older than the caller allowed (``max_age_ms``)."""

    def __init__(self, venue: str, symbol: str, age_ms: int, max_age_ms: int) -> None:
        super().__init__(f"{venue} {symbol}: data is {age_ms} ms old, asked for at most {max_age_ms} ms")
        self.venue = venue
        self.symbol = symbol
        self.age_ms = age_ms
        self.max_age_ms = max_age_ms


class BadResponseError(MarketDataError):
    """A venue's answer (REST body or WebSocket frame) we cannot read.

    ``what`` names the shape being read (``"upbit ticker"``), ``field`` the key or position
    that was missing or wrong ("" when the whole body was, e.g. not JSON).
    """

    def __init__(self, what: str, field: str, detail: str) -> None:
        where = f"{what} {field}" if field else what
        super().__init__(f"bad {where}: {detail}")
        self.what = what
        self.field = field
        self.detail = detail
