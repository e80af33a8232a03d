"""Shared sans-I/O types for venue modules: plans, requests, rate limits, errors, backoff.

Nothing here opens a socket or reads a clock. Every time is a float of seconds passed in
by the caller (the daemon uses ``time.monotonic()``); every random draw comes from a
``random.Random`` the caller owns, so a test can replay the exact sequence.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from recorder.errors import RecorderUsageError

# ---------------------------------------------------------------------------- URLs


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``; raises ``RecorderUsageError`` (a ``ValueError``) when either is missing."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise RecorderUsageError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def join_url(base: str, path: str, query: str = "") -> str:
    """The venue's ``path`` (and query) under ``base``, keeping only base's scheme/host/port.

    An override such as ``ws://127.0.0.1:9001`` therefore redirects a connection to a local
    simulator while the venue's own routes (``/public/stream``...) stay as they are.
    """
    url = origin(base) + path
    return f"{url}?{query}" if query else url


# ---------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """One WebSocket connection to open: where, which streams, what to send once open.

    ``messages`` are sent in order right after the handshake (subscribe requests);
    they are empty when the streams are named in the URL. ``route`` is the venue's routed
    path family (Binance ``public``/``market``; ``""`` where the venue has one endpoint).
    """

    venue: str
    url: str
    route: str
    streams: tuple[str, ...]
    messages: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One REST call: method, full URL, the cost the venue charges, its rate-limit group."""

    method: str
    url: str
    path: str  # the path without host or query, for counting and logging
    weight: int = 1
    group: str = ""


def chunked(items: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """``items`` cut into consecutive tuples of at most ``size``."""
    if size < 1:
        raise RecorderUsageError("chunk size must be >= 1")
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------- rate limits


class TokenBucket:
    """Token bucket: ``rate`` tokens/s, at most ``capacity`` banked. Time is passed in.

    Any window of ``w`` seconds admits at most ``capacity + rate * w`` tokens, so a venue
    limit of L per second is met exactly by ``rate + capacity == L``.
    """

    __slots__ = ("rate", "capacity", "_tokens", "_at")

    def __init__(self, rate: float, capacity: float, *, now: float = 0.0) -> None:
        if rate <= 0 or capacity < 1:
            raise RecorderUsageError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._tokens = float(capacity)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def delay(self, now: float, n: float = 1) -> float:
        """Seconds from ``now`` until ``n`` tokens are available (0.0: now)."""
        if n > self.capacity:
            raise RecorderUsageError(f"{n} tokens can never fit a bucket of {self.capacity}")
        self._refill(now)
        missing = n - self._tokens
        return 0.0 if missing <= 1e-12 else missing / self.rate

    def try_take(self, now: float, n: float = 1) -> bool:
        """Take ``n`` tokens if available now; False (and nothing taken) otherwise."""
        if self.delay(now, n) > 0.0:
            return False
        self._tokens -= n
        return True


class WindowLimit:
    """At most ``limit`` units in any sliding window of ``window_s`` seconds (exact, a log).

    Stricter than a fixed window, so it is safe whichever way the venue counts and wherever
    its window boundaries fall on our clock. A unit is held ``window_s`` from when it was
    spent: pass the venue's window plus any margin for clock skew (``query.market``'s REST
    limiter does). One rate window for the recorder's venues and ``query.market``.
    """

    __slots__ = ("limit", "window_s", "_log", "_used")

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise RecorderUsageError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._log: deque[tuple[float, int]] = deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        log = self._log
        while log and log[0][0] <= now - self.window_s:
            self._used -= log.popleft()[1]

    def used(self, now: float) -> int:
        """Units spent within the window ending at ``now``."""
        self._expire(now)
        return self._used

    def delay(self, now: float, n: int = 1) -> float:
        """Seconds from ``now`` until ``n`` more units fit (0.0: now)."""
        if n > self.limit:
            raise RecorderUsageError(f"{n} units can never fit a limit of {self.limit}")
        self._expire(now)
        excess = self._used + n - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, units in self._log:
            freed += units
            if freed >= excess:
                return at + self.window_s - now
        raise AssertionError("unreachable: the log holds every used unit")

    def take(self, now: float, n: int = 1) -> None:
        """Record ``n`` units spent at ``now`` (even beyond the limit: it was spent)."""
        self._expire(now)
        self._log.append((now, n))
        self._used += n

    def try_take(self, now: float, n: int = 1) -> bool:
        """Spend ``n`` units if they fit now; False (nothing spent) otherwise."""
        if self.delay(now, n) > 0.0:
            return False
        self.take(now, n)
        return True


class Limits:
    """Several limits that must all admit a unit (e.g. Upbit's 5/s *and* 100/min)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[TokenBucket | WindowLimit]) -> None:
        self.parts = tuple(parts)

    def delay(self, now: float, n: int = 1) -> float:
        """Seconds until every part admits ``n`` (0.0: now). Re-ask after waiting."""
        return max((p.delay(now, n) for p in self.parts), default=0.0)

    def try_take(self, now: float, n: int = 1) -> bool:
        """Spend ``n`` in every part if all admit it now; False (nothing spent) otherwise."""
        if self.delay(now, n) > 0.0:
            return False
        for p in self.parts:
            if isinstance(p, WindowLimit):
                p.take(now, n)
            else:
                p.try_take(now, n)
        return True


class WeightBudget(WindowLimit):
    """REST budget over a sliding window: request weight (Binance ``REQUEST_WEIGHT``) or
    requests (Upbit's groups, each a weight of 1).

    ``delay(now, weight)`` says when a call of that weight may go; call ``take`` when it
    goes. ``observe_used`` folds in the venue's own count (``X-MBX-USED-WEIGHT-1M``,
    Upbit's ``Remaining-Req``) so what other processes on the same IP spent is respected too.
    """

    def observe_used(self, now: float, used: int) -> None:
        """Raise our count to the venue-reported ``used`` for the current window; a lower
        count than ours changes nothing."""
        mine = self.used(now)
        if used > mine:
            self.take(now, used - mine)


# ---------------------------------------------------------------------------- errors


class ErrorClass(StrEnum):
    """What kind of failure a status / close code / exception / venue message is."""

    NETWORK = "network"  # transient: reconnect with exponential backoff
    AUTH = "auth"  # credentials refused: retrying will not help
    RATE_LIMIT = "rate_limit"  # 429 and friends: wait (Retry-After or a cool-down), then retry
    IP_BAN = "ip_ban"  # 418: long cool-down honouring Retry-After
    UNKNOWN_SYMBOL = "unknown_symbol"  # drop that symbol from the plan; do not retry it
    FATAL = "fatal"  # our own misuse (bad request, bad config): stop and report


@dataclass(frozen=True, slots=True)
class Verdict:
    """An error's class plus what the caller should do: retry or not, and the minimum wait."""

    error_class: ErrorClass
    retry: bool
    min_delay_s: float = 0.0  # a floor from Retry-After or the class's cool-down
    reason: str = ""


# Exception class names (not types: the caller may get them from websockets, asyncio,
# ssl or socket, and this module must not import any of those).
_NETWORK_EXC = frozenset({
    "ConnectionClosed", "ConnectionClosedError", "ConnectionClosedOK", "ConnectionError",
    "ConnectionResetError", "ConnectionRefusedError", "ConnectionAbortedError",
    "BrokenPipeError", "TimeoutError", "CancelledError", "OSError", "gaierror",
    "SSLError", "SSLEOFError", "SSLZeroReturnError", "IncompleteReadError", "EOFError",
    "InvalidMessage", "ProtocolError", "ServerDisconnectedError", "ClientConnectorError",
    "ClientOSError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
})
_FATAL_EXC = frozenset({
    "InvalidURI", "InvalidProxy", "PayloadTooBig", "ValueError", "TypeError", "KeyError",
    "NegotiationError", "InvalidParameterName", "InvalidParameterValue", "DecodeError",
})
_AUTH_STATUS = frozenset({401})
_NETWORK_CLOSE = frozenset({1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015})


def parse_retry_after(value: str | bytes | float | int | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); None if absent or a date."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None  # HTTP-date form: turning it into a delay needs a wall clock


def classify(
    *,
    status: int | None = None,
    close_code: int | None = None,
    exc: str | None = None,
    message: str | bytes | None = None,
    retry_after: str | bytes | float | None = None,
    markers: Sequence[tuple[str, ErrorClass]] = (),
    status_classes: dict[int, ErrorClass] | None = None,
) -> ErrorClass:
    """Map whatever is known about a failure to an ``ErrorClass`` (pure, table driven).

    Precedence: HTTP status 418/429 (unambiguous), the venue's message ``markers``
    (substring -> class; they name the cause most precisely), the other statuses, the
    WebSocket close code, the exception class name. Anything unrecognised is NETWORK: a
    recorder keeps trying rather than stopping on a surprise.
    """
    del retry_after  # part of the signature so callers pass everything they have
    if status == 418:
        return ErrorClass.IP_BAN
    if status == 429:
        return ErrorClass.RATE_LIMIT
    if message:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        low = text.lower()
        for needle, cls in markers:
            if needle.lower() in low:
                return cls
    if status is not None:
        if status_classes and status in status_classes:
            return status_classes[status]
        if status in _AUTH_STATUS:
            return ErrorClass.AUTH
        if status >= 500 or status in (408, 409):
            return ErrorClass.NETWORK
        if 400 <= status < 500:
            return ErrorClass.FATAL
    if close_code is not None:
        if close_code in _NETWORK_CLOSE or 4000 <= close_code < 5000:
            return ErrorClass.NETWORK
        if close_code == 1008:  # policy violation: the venue's "too many messages" cut
            return ErrorClass.RATE_LIMIT
        return ErrorClass.FATAL  # 1002/1003/1007/1009/1010: we broke the protocol
    if exc is not None:
        if exc in _FATAL_EXC:
            return ErrorClass.FATAL
        return ErrorClass.NETWORK
    return ErrorClass.NETWORK


# ---------------------------------------------------------------------------- backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect/retry policy: exponential with jitter, plus per-class cool-down floors.

    ``delay(verdict, attempt, rng)`` -> seconds to wait before attempt ``attempt``
    (0-based count of consecutive failures), or None when the class must not be retried.
    Jitter shortens the exponential step by up to ``jitter`` of itself (so the cap holds).
    """

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5  # fraction of the step drawn at random, 0 = none
    rate_limit_s: float = 60.0  # floor after a 429 without Retry-After
    ip_ban_s: float = 300.0  # floor after a 418 without Retry-After
    policy_close_s: float = 5.0  # floor after close 1008 ("too many messages")

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.factor < 1 or self.max_s < self.initial_s:
            raise RecorderUsageError("need initial_s > 0, factor >= 1, max_s >= initial_s")
        if not 0.0 <= self.jitter <= 1.0:
            raise RecorderUsageError("jitter is a fraction in [0, 1]")

    def step(self, attempt: int, rng: random.Random) -> float:
        """The jittered exponential delay for ``attempt`` (capped at ``max_s``)."""
        base = min(self.max_s, self.initial_s * self.factor ** max(0, attempt))
        return base * (1.0 - self.jitter * rng.random())

    def verdict(self, error_class: ErrorClass, *, retry_after: float | None = None,
                close_code: int | None = None, reason: str = "") -> Verdict:
        """The ``Verdict`` for a class: whether to retry and the cool-down floor."""
        if error_class in (ErrorClass.AUTH, ErrorClass.UNKNOWN_SYMBOL, ErrorClass.FATAL):
            return Verdict(error_class, False, 0.0, reason)
        if error_class is ErrorClass.IP_BAN:
            floor = retry_after if retry_after is not None else self.ip_ban_s
        elif error_class is ErrorClass.RATE_LIMIT:
            if retry_after is not None:
                floor = retry_after
            elif close_code == 1008:
                floor = self.policy_close_s
            else:
                floor = self.rate_limit_s
        else:
            floor = retry_after or 0.0
        return Verdict(error_class, True, floor, reason)

    def delay(self, verdict: Verdict, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait before retrying, or None when ``verdict`` says never retry."""
        if not verdict.retry:
            return None
        return max(verdict.min_delay_s, self.step(attempt, rng))


# ---------------------------------------------------------------------------- liveness


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Keep-alive and staleness rules of one venue connection (seconds).

    - ``client_ping_interval_s``: send ``client_ping`` (a text message) or, when that is
      None, a WebSocket ping frame this often; None = we never need to ping.
    - ``server_ping_interval_s`` / ``pong_deadline_s``: the venue pings us; answer with a
      pong within the deadline (websockets does this by itself).
    - ``idle_timeout_s``: the venue cuts a connection silent in both directions this long.
    - ``stale_after_s``: no data frame for this long = treat the feed as dead, reconnect.
    """

    stale_after_s: float
    client_ping_interval_s: float | None = None
    client_ping: bytes | None = None
    server_ping_interval_s: float | None = None
    pong_deadline_s: float | None = None
    idle_timeout_s: float | None = None

    def ping_due(self, now: float, last_sent: float) -> bool:
        """True when a client keep-alive must go (nothing sent since ``last_sent``)."""
        return (self.client_ping_interval_s is not None
                and now - last_sent >= self.client_ping_interval_s)

    def is_stale(self, now: float, last_data: float) -> bool:
        """True when no data frame arrived since ``last_data`` for ``stale_after_s``."""
        return now - last_data >= self.stale_after_s
