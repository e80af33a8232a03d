"""The REST limiter: waits each request into its venue's budget, by priority, and learns from
every reply. Sans-I/O but async: the clock and the sleep are injected, nothing else waits.

The REST client does, for each call:

1. ``await limiter.acquire(venue, path, weight=request_weight(venue, path, params),
   priority=...)``; on ``RateLimited`` give up or fall back (the error says until when);
2. send the request;
3. ``limiter.observe(venue, path, status, headers, body)`` with the reply, every reply,
   so the venue's own counts (other programs on this IP), 429s and 418s reach the budget;
4. after a 429, call ``acquire`` again before retrying: it waits as long as the reply said.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import IntEnum

from recorder.venues.base import WeightBudget

from .errors import Banned, RateLimited, Throttled
from .replies import block_from_body, header, parse_remaining_req, retry_after_s
from .venues import VENUE_LIMITS, VenueLimits, _venue


class Priority(IntEnum):
    """Who goes first when the budget is short: lower value first, FIFO within a class."""

    CRITICAL = 0  # a live bot's ticker or book
    HIGH = 1
    NORMAL = 2
    LOW = 3  # backfills


class _Default:
    """The type of ``DEFAULT``: "the limiter's own max_wait" (None already means no cap)."""


DEFAULT = _Default()


class _Waiter:
    __slots__ = ("priority", "weight", "deadline", "wake")

    def __init__(self, priority: Priority, weight: int, deadline: float | None) -> None:
        self.priority = priority
        self.weight = weight
        self.deadline = deadline
        self.wake: asyncio.Future[None] | None = None


class _Group:
    """One (venue, group): its window, any block, and the queues of waiting requests."""

    __slots__ = ("venue", "name", "window", "blocked_until", "banned", "reason", "queues")

    def __init__(self, venue: str, name: str, window: WeightBudget) -> None:
        self.venue = venue
        self.name = name
        self.window = window
        self.blocked_until = 0.0
        self.banned = False  # the block is a 418's, not a 429's
        self.reason = ""
        self.queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Priority)

    def head(self) -> _Waiter | None:
        for q in self.queues:
            if q:
                return q[0]
        return None

    def delay(self, now: float, weight: int) -> float:
        return max(self.blocked_until - now, self.window.delay(now, weight), 0.0)

    def remove(self, w: _Waiter) -> None:
        q = self.queues[w.priority]
        if w in q:
            q.remove(w)

    def wake_head(self) -> None:
        w = self.head()
        if w is not None and w.wake is not None and not w.wake.done():
            w.wake.set_result(None)

    def wake_all(self) -> None:
        for q in self.queues:
            for w in q:
                if w.wake is not None and not w.wake.done():
                    w.wake.set_result(None)


class Limiter:
    """Every venue's REST budget in this process. One per process per IP: two limiters on one
    IP each believe they own the whole budget (only the venue's headers would tell them).

    ``now`` and ``sleep`` are the clock (seconds, monotonic) and its sleep; ``wall`` is the
    UTC epoch clock used only to say until when in errors and to read a 418's "until" time.
    ``max_wait`` is the default longest wait of ``acquire`` (None: as long as it takes).
    """

    def __init__(
        self,
        venues: Mapping[str, VenueLimits] = VENUE_LIMITS,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
        max_wait: float | None = 60.0,
    ) -> None:
        self._venues = dict(venues)
        self._now = now
        self._sleep = sleep
        self._wall = wall
        self._max_wait = max_wait
        self._groups: dict[tuple[str, str], _Group] = {}

    # ------------------------------------------------------------------ state

    def _group(self, venue: str, endpoint: str) -> _Group:
        spec = _venue(self._venues, venue)
        name = spec.group_of(endpoint)
        key = (venue, name)
        g = self._groups.get(key)
        if g is None:
            lim = spec.groups[name]
            g = self._groups[key] = _Group(venue, name, WeightBudget(lim.limit, lim.window_s + spec.margin_s))
        return g

    def used(self, venue: str, endpoint: str) -> int:
        """Units the limiter counts as spent in ``endpoint``'s group now (ours and the venue's)."""
        return self._group(venue, endpoint).window.used(self._now())

    def blocked_until(self, venue: str, endpoint: str) -> datetime | None:
        """When a 429 or 418 block on ``endpoint``'s group ends (UTC); None when there is none."""
        g = self._group(venue, endpoint)
        now = self._now()
        return self._utc(g.blocked_until, now) if g.blocked_until > now else None

    def _utc(self, at: float, now: float) -> datetime:
        return datetime.fromtimestamp(self._wall() + (at - now), UTC)

    def _error(self, g: _Group, at: float, now: float, reason: str) -> RateLimited:
        cls = Banned if g.banned and g.blocked_until >= at else Throttled
        return cls(g.venue, g.name, self._utc(at, now), at - now, reason)

    # ------------------------------------------------------------------ acquire

    async def acquire(
        self,
        venue: str,
        endpoint: str,
        weight: int = 1,
        priority: Priority = Priority.NORMAL,
        *,
        max_wait: float | None | _Default = DEFAULT,
    ) -> float:
        """Wait until a request of ``weight`` to ``endpoint`` (a path or a group name) fits
        ``venue``'s budget, count it as sent, and return the seconds waited: send it now.

        Raises ``Banned`` (a 418 block) or ``Throttled`` when the request could not go within
        ``max_wait`` seconds (default: the limiter's); ``ValueError`` for an unknown venue or
        endpoint, or a weight that can never fit.
        """
        g = self._group(venue, endpoint)
        limit = g.window.limit
        if not 1 <= weight <= limit:
            raise ValueError(f"{venue} {g.name}: weight must be 1..{limit}, not {weight}")
        wait_cap = self._max_wait if isinstance(max_wait, _Default) else max_wait
        start = self._now()
        deadline = None if wait_cap is None else start + wait_cap
        w = _Waiter(Priority(priority), weight, deadline)
        g.queues[w.priority].append(w)
        try:
            while True:
                now = self._now()
                # A block longer than the caller will wait fails at once, queued or not.
                if g.blocked_until > now and deadline is not None and g.blocked_until > deadline:
                    raise self._error(g, g.blocked_until, now, g.reason)
                if g.head() is not w:
                    # Only the head of the queue sleeps on the clock; the rest wait their turn.
                    w.wake = asyncio.get_running_loop().create_future()
                    await w.wake
                    continue
                wait = g.delay(now, weight)
                if wait <= 0.0:
                    g.window.take(now, weight)
                    return now - start
                if deadline is not None and now + wait > deadline:
                    raise self._error(g, now + wait, now, g.reason or "budget spent")
                await self._sleep(wait)
        finally:
            g.remove(w)
            g.wake_head()

    # ------------------------------------------------------------------ observe

    def observe(
        self,
        venue: str,
        endpoint: str,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """Fold a reply to a request on ``endpoint`` into the budget. Call it for every reply.

        - Upbit ``Remaining-Req``: the venue's count this second (other programs included);
        - Binance ``X-MBX-USED-WEIGHT-1M``: the weight used this minute;
        - 429: the group waits ``Retry-After``, or a whole window when the reply names none
          (Upbit's 429 is plain text); acquire again before retrying;
        - 418: the group is blocked until the time the reply names (``Retry-After``, "until
          <epoch ms>" or a duration in the body; else the venue's ``ban_s``).
        """
        headers = headers or {}
        spec = _venue(self._venues, venue)
        g = self._group(venue, endpoint)
        now = self._now()

        rem_value = header(headers, "Remaining-Req")
        rem = parse_remaining_req(rem_value) if rem_value is not None else None
        if rem is not None:
            target = self._group(venue, rem.group) if rem.group in spec.groups else g
            target.window.observe_used(now, target.window.limit - max(0, rem.sec))
        used = header(headers, "X-MBX-USED-WEIGHT-1M")
        if used is not None and used.strip().isdigit():
            g.window.observe_used(now, int(used))

        if status == 429:
            wait = retry_after_s(headers)
            if wait is None:
                # No duration given: the venue says this window is spent, so wait one out.
                wait = g.window.window_s
            g.window.observe_used(now, g.window.limit)
            self._block(g, now + wait, banned=False, reason=f"HTTP 429 ({_snippet(body)})")
        elif status == 418:
            wait = retry_after_s(headers)
            if wait is None:
                wait = block_from_body(body, self._wall())
            if wait is None:
                wait = spec.ban_s
            self._block(g, now + wait, banned=True, reason=f"HTTP 418 ({_snippet(body)})")

    def _block(self, g: _Group, until: float, *, banned: bool, reason: str) -> None:
        if until > g.blocked_until:
            g.blocked_until = until
            g.banned = banned
            g.reason = reason
        # Queued callers re-check: those who cannot wait that long fail now, not later.
        g.wake_all()


def _snippet(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return (text[:120] + "...") if len(text) > 120 else (text or "no body")
