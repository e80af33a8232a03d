"""A sliding window of units spent: at most ``limit`` in any ``window_s`` seconds.

Sans-I/O: every call takes ``now``. A sliding log is stricter than a fixed window, so it is
safe whichever way the venue counts and wherever its window boundaries fall on our clock.
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """Units spent and when; each unit is held for ``hold_s`` (the window plus a margin)."""

    __slots__ = ("limit", "hold_s", "_log", "_used")

    def __init__(self, limit: int, hold_s: float) -> None:
        if limit < 1 or hold_s <= 0:
            raise ValueError("limit must be >= 1 and hold_s > 0")
        self.limit = limit
        self.hold_s = hold_s
        self._log: deque[tuple[float, int]] = deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        log = self._log
        while log and log[0][0] + self.hold_s <= now:
            self._used -= log.popleft()[1]

    def used(self, now: float) -> int:
        """Units still held at ``now``."""
        self._expire(now)
        return self._used

    def delay(self, now: float, n: int) -> float:
        """Seconds from ``now`` until ``n`` more units fit (0.0: now). Ask again after waiting."""
        self._expire(now)
        excess = self._used + n - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, units in self._log:
            freed += units
            if freed >= excess:
                return at + self.hold_s - now
        # Only when n alone exceeds the limit, which the limiter refuses before asking.
        raise ValueError(f"{n} units can never fit a limit of {self.limit}")

    def take(self, now: float, n: int) -> None:
        """Record ``n`` units spent at ``now`` (even beyond the limit: they were spent)."""
        self._expire(now)
        self._log.append((now, n))
        self._used += n

    def fill_to(self, now: float, used: int) -> None:
        """Raise the count held at ``now`` to ``used`` (the venue's own count, which includes
        other programs on this IP); a lower count than ours changes nothing."""
        mine = self.used(now)
        if used > mine:
            self.take(now, used - mine)
