"""The API's REST client: every call through the limiter, behind a circuit breaker, journaled.

For one GET:

1. the endpoint group's breaker (``breaker``) fails fast while the venue is known dead;
2. the limiter (``limits.Limiter``) waits the request into the venue's budget by priority;
3. the request goes out on a pooled keep-alive connection (httpx) with a timeout;
4. the reply goes to ``sink`` (the API journals it as a ``rest`` record) *before* anything
   reads it, and to the limiter (``Remaining-Req``, used weight, 429, 418);
5. 2xx is returned as a ``Reply``; a 429 waits as the reply says and asks again (once per
   ``retries``); a 418 raises ``Banned``; a timeout, a refused connection or a 5xx counts
   against the breaker and raises ``VenueUnavailableError``; any other status raises
   ``BadResponseError`` carrying it.

Base URLs: the venues' own, or overrides (``--rest-url``) of which only scheme, host and port
are used, as in ``recorder run``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

from .breaker import Breakers
from .errors import BadResponseError, RateLimitedError, UnknownVenueError, VenueUnavailableError
from .limits import Limiter, Priority, request_weight
from .limits.venues import VENUE_LIMITS

REST_URLS: dict[str, str] = {
    "upbit": "https://api.upbit.com",
    "binance-usdm": "https://fapi.binance.com",
    "binance-spot": "https://api.binance.com",
}
WS_URLS: dict[str, str] = {
    "upbit": "wss://api.upbit.com",
    "binance-usdm": "wss://fstream.binance.com",
    "binance-spot": "wss://stream.binance.com:9443",
}
VENUES: tuple[str, ...] = tuple(REST_URLS)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``; ValueError when either is missing."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def check_venue(venue: str) -> str:
    if venue not in REST_URLS:
        raise UnknownVenueError(venue, VENUES)
    return venue


@dataclass(frozen=True, slots=True)
class Reply:
    """One REST reply as received (``body`` unchanged), with when it was sent and received."""

    venue: str
    path: str
    url: str  # the full URL asked, query included
    status: int
    headers: Mapping[str, str]
    body: bytes
    sent_ns: int
    recv_ns: int


Sink = Callable[[Reply], None]


class RestClient:
    """GETs to the venues; see the module docstring. Use as an async context manager or
    call ``aclose``.

    ``urls`` overrides base URLs per venue (scheme/host/port only); ``clock`` is the epoch
    clock in ns stamped on replies; ``transport`` replaces the network (tests).
    """

    def __init__(self, *, urls: Mapping[str, str] | None = None, limiter: Limiter | None = None,
                 breakers: Breakers | None = None, timeout_s: float = 5.0, retries: int = 2,
                 sink: Sink | None = None, clock: Callable[[], int] = time.time_ns,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = dict(REST_URLS)
        for venue, url in (urls or {}).items():
            check_venue(venue)
            self.urls[venue] = origin(url)
        self.limiter = limiter or Limiter()
        self.breakers = breakers or Breakers()
        self.timeout_s = timeout_s
        self.retries = retries
        self.sink = sink
        self.clock = clock
        self.requests = 0  # sent, all venues (a figure for the CLI and benchmarks)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), transport=transport,
            headers={"Accept": "application/json", "User-Agent": "ticktape-market"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, venue: str, path: str, params: Mapping[str, object] | None = None) -> str:
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return self.urls[check_venue(venue)] + path + (f"?{query}" if query else "")

    async def get(self, venue: str, path: str, params: Mapping[str, object] | None = None, *,
                  priority: Priority = Priority.NORMAL, max_wait: float | None = None) -> Reply:
        """The 2xx reply to ``GET path?params`` on ``venue``; see the module docstring for
        what raises. ``max_wait``: the longest wait for the rate limit (None: the limiter's)."""
        url = self.url(venue, path, params)
        group = VENUE_LIMITS[venue].group_of(path)
        breaker = self.breakers.get(venue, group)
        weight = request_weight(venue, path, params or {})
        for attempt in range(self.retries + 1):
            loop = asyncio.get_running_loop()
            breaker.before(loop.time())
            try:
                if max_wait is None:
                    await self.limiter.acquire(venue, path, weight, priority)
                else:
                    await self.limiter.acquire(venue, path, weight, priority, max_wait=max_wait)
                sent = self.clock()
                self.requests += 1
                resp = await self._http.get(url)
                body = await resp.aread()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                reason = f"{type(exc).__name__} on {path}" + (f": {exc}" if str(exc) else "")
                breaker.failure(loop.time(), reason)
                raise VenueUnavailableError(venue, reason) from None
            except BaseException:
                breaker.release()
                raise
            reply = Reply(venue, path, url, resp.status_code, dict(resp.headers.items()), body,
                          sent, self.clock())
            if self.sink is not None:
                self.sink(reply)
            self.limiter.observe(venue, path, reply.status, reply.headers, body)
            if 200 <= reply.status < 300:
                breaker.success()
                return reply
            if reply.status >= 500:
                breaker.failure(loop.time(), f"HTTP {reply.status} on {path}")
                raise VenueUnavailableError(venue, f"HTTP {reply.status} on {path}: {_snippet(body)}")
            breaker.release()
            if reply.status in (429, 418) and attempt < self.retries:
                continue  # acquire again: it waits out the 429 (or raises Banned for a 418)
            if reply.status in (429, 418):
                until = self.limiter.blocked_until(venue, path)
                until_ns = int(until.timestamp() * 1e9) if until is not None else self.clock()
                raise RateLimitedError(venue, group, until_ns, banned=reply.status == 418,
                                       reason=f"HTTP {reply.status} after {attempt + 1} tries")
            raise HttpStatusError(venue, path, reply)
        raise AssertionError("unreachable")  # the loop returns or raises


class HttpStatusError(BadResponseError):
    """A 4xx other than 429/418 (e.g. Upbit's 404 "Code not found"): ``reply`` holds it."""

    def __init__(self, venue: str, path: str, reply: Reply) -> None:
        super().__init__(f"{venue} {path}", "", f"HTTP {reply.status}: {_snippet(reply.body)}")
        self.status = reply.status
        self.reply = reply


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return (text[:160] + "...") if len(text) > 160 else (text or "no body")
