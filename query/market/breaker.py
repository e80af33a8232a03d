"""Circuit breakers, one per venue endpoint group: a dead venue fails fast, never hangs.

    closed     requests go; ``failures`` consecutive failures (timeouts, refused connections,
               5xx) open it
    open       requests fail at once with ``VenueUnavailableError`` for ``open_s`` seconds
    half-open  after that, one probe request goes; its success closes the breaker, its
               failure opens it again for ``open_s``

Sans-I/O: the clock is passed in. Every change of state is reported to ``on_change`` (the
API journals it as a ``mark`` record), so a replay shows when and why a venue was cut off.
A rate limit (429/418) is no failure: the limiter owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import VenueUnavailableError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

Change = Callable[[str, str, str, str, str], None]  # (venue, group, old, new, reason)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens (``failures`` in a row) and how long it stays open (``open_s``)."""

    failures: int = 3
    open_s: float = 10.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.open_s <= 0:
            raise ValueError("a breaker needs failures >= 1 and open_s > 0")


class Breaker:
    """One venue endpoint group's breaker; see the module docstring."""

    __slots__ = ("venue", "group", "policy", "state", "failures", "opened_at", "probing",
                 "reason", "_on_change")

    def __init__(self, venue: str, group: str, policy: BreakerPolicy, on_change: Change | None) -> None:
        self.venue = venue
        self.group = group
        self.policy = policy
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False
        self.reason = ""
        self._on_change = on_change

    def _to(self, new: str, reason: str) -> None:
        old, self.state = self.state, new
        if old != new and self._on_change is not None:
            self._on_change(self.venue, self.group, old, new, reason)

    def before(self, now: float) -> None:
        """Call before sending: raises ``VenueUnavailableError`` while open (or while the
        half-open probe is out); moves open -> half-open once ``open_s`` has passed."""
        if self.state == OPEN:
            if now - self.opened_at < self.policy.open_s:
                left = self.policy.open_s - (now - self.opened_at)
                raise VenueUnavailableError(
                    self.venue, f"circuit open for {self.group} ({self.reason}); next try in {left:.1f} s")
            self._to(HALF_OPEN, "probe")
            self.probing = False
        if self.state == HALF_OPEN:
            if self.probing:
                raise VenueUnavailableError(self.venue, f"circuit half-open for {self.group}: a probe is out")
            self.probing = True

    def success(self) -> None:
        self.failures = 0
        self.probing = False
        if self.state != CLOSED:
            self._to(CLOSED, "a request succeeded")

    def failure(self, now: float, reason: str) -> None:
        self.failures += 1
        self.probing = False
        self.reason = reason
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.policy.failures):
            self.opened_at = now
            self._to(OPEN, reason)

    def release(self) -> None:
        """The request ended neither way (cancelled, rate limited): let another probe go."""
        self.probing = False


class Breakers:
    """Every breaker of one API instance, made on first use."""

    def __init__(self, policy: BreakerPolicy | None = None, on_change: Change | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self.on_change = on_change
        self._all: dict[tuple[str, str], Breaker] = {}

    def get(self, venue: str, group: str) -> Breaker:
        b = self._all.get((venue, group))
        if b is None:
            b = self._all[(venue, group)] = Breaker(venue, group, self.policy, self.on_change)
        return b

    def states(self) -> dict[str, str]:
        """``{"venue/group": state}`` of every breaker made so far."""
        return {f"{v}/{g}": b.state for (v, g), b in sorted(self._all.items())}
