"""The limiter's errors: a request that would have to wait longer than its caller allows.

They sit under ``query.market.errors.RateLimitedError`` (so under ``MarketDataError``).

Every one is a ``RateLimited`` carrying ``venue``, ``group`` and ``until`` (the UTC time the
group may be asked again), so a caller can print it, schedule a retry, or fall back to
another source. ``Banned`` is a venue's block (HTTP 418); ``Throttled`` is an ordinary wait
(the budget, or a 429's cool-down) longer than the caller's ``max_wait``.
"""

from __future__ import annotations

from datetime import datetime

from query.market.errors import RateLimitedError


class RateLimited(RateLimitedError):
    """A venue's limit keeps this request back until ``until``: retry then, or give up.

    ``until`` is that time as a UTC datetime (``until_ns`` the same in epoch ns), ``wait_s``
    how long it was from the moment the error was raised. A ``MarketDataError``.
    """

    def __init__(self, venue: str, group: str, until: datetime, wait_s: float, reason: str) -> None:
        super().__init__(venue, group, int(until.timestamp() * 1e9), banned=isinstance(self, Banned),
                         reason=f"{reason} (in {wait_s:.1f} s)")
        self.until = until
        self.wait_s = wait_s
        self.reason = reason


class Throttled(RateLimited):
    """The budget or a 429's cool-down frees this request later than the caller would wait."""


class Banned(RateLimited):
    """The venue blocked this group (HTTP 418) until ``until``; nothing goes before then."""
