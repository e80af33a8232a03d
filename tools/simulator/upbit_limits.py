"""Upbit's quotation rate limits, per client address and group, as the venue enforces them.

Each group (``market``, ``candle``, ``trade``, ``ticker``, ``orderbook``) allows
``per_s`` requests in any one-second window per address. An answer inside the limit says
what is left in ``Remaining-Req: group=G; min=1800; sec=N``. One over the limit gets 429
with a plain-text body. ``ban_after`` 429s within ``strike_window_s`` block the address
(every group) for ``ban_s`` seconds, doubling with each new block: 418, with how long in
the body. The clock is ``clock`` (monotonic seconds): tests may replace it.

``counts`` keeps how many requests each address made per group and per whole second of
the clock (accepted and refused apart), so a test can check a client never went over.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.venues.base import WindowLimit

from .httpserver import Response

MIN_FIELD = 1800  # Upbit's deprecated fixed ``min`` value


@dataclass(slots=True)
class ClientCounts:
    """One address's requests: ``accepted[group][second]``, ``refused[group][second]``."""

    accepted: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    refused: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def as_json(self) -> dict:
        return {kind: {g: {str(s): n for s, n in sorted(c.items())} for g, c in d.items()}
                for kind, d in (("accepted", self.accepted), ("refused", self.refused))}


class QuotationLimits:
    """Admit or refuse Upbit quotation requests; see the module docstring."""

    def __init__(self, per_s: int, *, ban_after: int = 5, strike_window_s: float = 10.0,
                 ban_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s, self.ban_after, self.strike_window_s, self.ban_s = per_s, ban_after, strike_window_s, ban_s
        self.clock = clock
        self._windows: dict[tuple[str, str], WindowLimit] = {}
        self._strikes: dict[str, deque[float]] = defaultdict(deque)
        self._banned_until: dict[str, float] = {}
        self._bans: Counter[str] = Counter()
        self.counts: dict[str, ClientCounts] = defaultdict(ClientCounts)

    def header(self, group: str, remaining: int) -> tuple[str, str]:
        return ("Remaining-Req", f"group={group}; min={MIN_FIELD}; sec={remaining}")

    def admit(self, client: str, group: str) -> tuple[Response | None, tuple[str, str]]:
        """``(refusal, header)``: refusal is None when the request may be answered; the
        caller adds ``header`` to whichever response it sends."""
        now = self.clock()
        second = math.floor(now)
        until = self._banned_until.get(client)
        if until is not None and now < until:
            self.counts[client].refused[group][second] += 1
            return self._blocked(until - now), self.header(group, 0)
        win = self._windows.get((client, group))
        if win is None:
            win = self._windows[(client, group)] = WindowLimit(self.per_s, 1.0)
        if not win.try_take(now):
            self.counts[client].refused[group][second] += 1
            strikes = self._strikes[client]
            strikes.append(now)
            while strikes and strikes[0] <= now - self.strike_window_s:
                strikes.popleft()
            if len(strikes) > self.ban_after:
                ban = self.ban_s * 2 ** self._bans[client]
                self._bans[client] += 1
                self._banned_until[client] = now + ban
                strikes.clear()
                return self._blocked(ban), self.header(group, 0)
            return Response(429, b"Too many API requests.", content_type="text/plain;charset=UTF-8"), \
                self.header(group, 0)
        self.counts[client].accepted[group][second] += 1
        return None, self.header(group, self.per_s - win.used(now))

    @staticmethod
    def _blocked(seconds: float) -> Response:
        secs = math.ceil(seconds)
        return Response(418, f"Too many API requests after 429; this address is blocked for {secs} "
                        "seconds.".encode(), [("Retry-After", str(secs))],
                        content_type="text/plain;charset=UTF-8")

    def max_per_second(self, client: str, group: str) -> int:
        """The most requests ``client`` had accepted in ``group`` within one clock second."""
        return max(self.counts[client].accepted[group].values(), default=0)

    def stats(self) -> dict:
        return {client: c.as_json() for client, c in self.counts.items()}
