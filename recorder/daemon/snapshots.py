"""Order-book snapshots into the journal: one REST fetch per symbol that needs one.

For a venue with the snapshot capability (``Adapter.snapshots``, a ``SnapshotSource``).
Requests coalesce per symbol (a symbol asked for twice before its fetch starts is
fetched once), go out one at a time within the venue's REST weight budget, and stop
for the whole venue during a 429/418 cool-down (``Retry-After`` honoured). Bodies are
journaled as ``rest`` records (meta ``url``, ``status``); refusals as ``error`` records
carrying the body, so no response is lost and none is mistaken for a snapshot.

A journaled snapshot needs no further word: the projection folds the ``rest`` record
like any other and resyncs the book by the venue's rule.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from recorder.errors import RecorderUsageError, VenueReplyError
from recorder.venues.base import ErrorClass, Verdict
from recorder.venues.descriptor import Adapter, SnapshotSource

from .logs import fields
from .ports import Counters, Journal


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(url: str, timeout: float) -> Response:
    """A blocking GET (run it in a thread); HTTP errors are responses, not exceptions."""
    return http_call("GET", url, timeout)


def http_call(method: str, url: str, timeout: float) -> Response:
    """A blocking call with no body (run it in a thread); HTTP errors are responses."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                 headers={"Accept-Encoding": "identity",
                                          "User-Agent": "ticktape-recorder"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (configured URL)
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        body = err.read() if err.fp is not None else b""
        return Response(err.code, dict(err.headers.items()) if err.headers else {}, body)


class SnapshotFetcher:
    """Fetches one venue's book snapshots (the ``SnapshotQueue`` port); call ``run`` as a task.

    ``request`` and ``pending`` from anywhere on the event loop.
    """

    def __init__(self, adapter: Adapter, *, journal: Journal, log: logging.Logger,
                 rest_timeout_s: float, rng: random.Random, counters: Counters | None = None,
                 get: Callable[[str, float], Response] = http_get) -> None:
        if adapter.snapshots is None:
            raise RecorderUsageError(f"venue {adapter.venue} has no snapshot capability")
        self.source: SnapshotSource = adapter.snapshots
        self.adapter = adapter
        self.venue = adapter.venue
        self.journal = journal
        self.log = log
        self.counters = counters
        self.rest_timeout_s = rest_timeout_s
        self.budget = self.source.budget()
        self.rng = rng
        self.get = get
        self.queue: dict[str, str] = {}  # symbol -> reason, in request order
        self.inflight: str | None = None  # the symbol being fetched, until its body is journaled
        self.cooldown_until = 0.0  # monotonic; no request before this
        self.attempt = 0  # consecutive failures, for the backoff
        self.calls = 0  # HTTP requests made
        self.fetched: dict[str, int] = {}  # symbol -> snapshots journaled
        self.sid: int | None = None  # the venue's REST stream, registered on first use
        self._wake = asyncio.Event()

    def request(self, symbol: str, reason: str) -> None:
        """Ask for a snapshot of ``symbol`` (coalesced with a pending request)."""
        symbol = symbol.upper()
        if symbol not in self.queue:
            self.queue[symbol] = reason
            self.log.debug("snapshot_requested", extra=fields(venue=self.venue, symbol=symbol,
                                                              reason=reason))
        self._wake.set()

    def pending(self, symbol: str) -> bool:
        """True from ``request`` until its body is about to be journaled, or it is given up."""
        symbol = symbol.upper()
        return symbol in self.queue or symbol == self.inflight

    async def run(self) -> None:
        """Serve requests until cancelled."""
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            symbol = next(iter(self.queue))
            req = self.source.request(symbol)
            now = time.monotonic()
            wait = max(self.cooldown_until - now, self.budget.delay(now, req.weight))
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                continue
            reason = self.queue.pop(symbol)
            self.inflight = symbol
            self.budget.take(now, req.weight)
            try:
                await self._fetch(symbol, reason, req.url, req.path, req.weight)
            finally:
                self.inflight = None

    def _stream(self) -> int:
        if self.sid is None:
            self.sid = self.journal.register(self.venue, url=self.adapter.options.rest_base,
                                             conn=f"{self.venue}.rest", channels=("rest",))
        return self.sid

    async def _fetch(self, symbol: str, reason: str, url: str, path: str, weight: int) -> None:
        self.calls += 1
        counters = self.counters
        sid = self._stream()
        try:
            resp = await asyncio.to_thread(self.get, url, self.rest_timeout_s)
        except Exception as exc:  # noqa: BLE001 (network failure: classify, back off, retry)
            verdict = self.adapter.classify(exc=type(exc).__name__)
            self.journal.append(sid, "error", str(exc).encode(),
                                meta={"class": verdict.error_class.value, "url": url,
                                      "exc": type(exc).__name__})
            if counters is not None:
                counters.rest(self.venue, path, "exception")
            self._retry_later(symbol, reason, verdict)
            return
        if counters is not None:
            counters.rest(self.venue, path, str(resp.status))
        used = self.source.used_weight(resp.headers)
        if used is not None:
            self.budget.observe_used(time.monotonic(), used)
        if resp.status != 200:
            retry_after = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            verdict = self.adapter.classify(status=resp.status, message=resp.body,
                                            retry_after=retry_after)
            self.journal.append(sid, "error", resp.body,
                                meta={"class": verdict.error_class.value, "url": url,
                                      "status": resp.status, "retry_after": retry_after})
            self._retry_later(symbol, reason, verdict)
            return
        # Settled before the append: the projection folds the body inside it, and a break
        # it finds there (a snapshot too old for the buffered diffs) must ask again.
        self.inflight = None
        self.journal.append(sid, "rest", resp.body, meta={"url": url, "status": 200, "weight": weight})
        try:
            last_id = self.source.last_update_id(resp.body)
        except VenueReplyError as exc:  # the body is journaled; fetch again
            self.log.warning("snapshot_malformed", extra=fields(venue=self.venue, symbol=symbol,
                                                                error=str(exc)))
            self._retry_later(symbol, reason, Verdict(ErrorClass.NETWORK, True, 0.0, "malformed body"))
            return
        self.attempt = 0
        self.fetched[symbol] = self.fetched.get(symbol, 0) + 1
        self.log.info("snapshot", extra=fields(venue=self.venue, symbol=symbol, reason=reason,
                                               last_update_id=last_id, bytes=len(resp.body)))

    def _retry_later(self, symbol: str, reason: str, verdict: Verdict) -> None:
        delay = self.adapter.backoff.delay(verdict, self.attempt, self.rng)
        if delay is None:
            self.log.error("snapshot_refused", extra=fields(
                venue=self.venue, symbol=symbol, error_class=verdict.error_class.value,
                reason=verdict.reason))
            return
        self.attempt += 1
        self.cooldown_until = max(self.cooldown_until, time.monotonic() + delay)
        self.queue = {symbol: reason, **self.queue}  # first in line once the cool-down ends
        self.log.warning("snapshot_retry", extra=fields(
            venue=self.venue, symbol=symbol, error_class=verdict.error_class.value,
            delay_s=round(delay, 3), attempt=self.attempt))
