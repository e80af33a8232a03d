"""Polling one URL at a steady pace: conditional requests, typed outcomes, backoff.

``Poller.poll`` sends one GET (``If-None-Match``/``If-Modified-Since`` from the last 200, so
an unchanged page costs the server a ``304``) and returns the ``Reply`` with its verdict;
``Poller.delay`` says how long to wait before the next one. The pace is the limit: one
request per ``interval_s`` at most, however fast the server answers.

Verdicts (``classify``, pure):

    ok           200: the body is to be read
    unchanged    304: nothing new
    limited      429: wait Retry-After, else back off
    blocked      403: a block (Cloudflare refuses some addresses): back off long
    server       5xx: back off
    refused      another status: back off; a configuration error if it lasts
    unreachable  no answer (connect, timeout, reset): back off

Back-off after ``n`` failures in a row: ``interval_s * 2**n`` (``blocked``: from
``blocked_s``), capped at ``max_backoff_s``, and never shorter than a ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

VERDICTS = ("ok", "unchanged", "limited", "blocked", "server", "refused", "unreachable")


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer (``status`` 0: none came; ``body`` then holds the error text)."""

    url: str
    status: int
    body: bytes
    recv_ns: int
    verdict: str
    retry_after_s: float | None = None
    error: str = ""


def retry_after(headers: httpx.Headers | dict[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None if absent or a date."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def classify(status: int) -> str:
    if status == 200:
        return "ok"
    if status == 304:
        return "unchanged"
    if status == 429:
        return "limited"
    if status == 403:
        return "blocked"
    if status == 0:
        return "unreachable"
    if status >= 500:
        return "server"
    return "refused"


class Poller:
    """One URL polled; call ``poll`` then sleep ``delay(reply)``, in a loop."""

    def __init__(self, url: str, *, client: httpx.AsyncClient, interval_s: float,
                 max_backoff_s: float = 300.0, blocked_s: float = 60.0,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.url = url
        self.client = client
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.blocked_s = blocked_s
        self.clock = clock
        self.failures = 0  # in a row
        self._etag: str | None = None
        self._modified: str | None = None

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self._etag:
            h["If-None-Match"] = self._etag
        if self._modified:
            h["If-Modified-Since"] = self._modified
        return h

    async def poll(self) -> Reply:
        """One request; never raises for what the network or the server does."""
        try:
            resp = await self.client.get(self.url, headers=self._headers())
            body = resp.content
        except httpx.HTTPError as exc:
            return self._note(Reply(self.url, 0, f"{type(exc).__name__}: {exc}".encode(),
                                    self.clock(), "unreachable", error=type(exc).__name__))
        recv_ns = self.clock()
        verdict = classify(resp.status_code)
        if verdict == "ok":
            self._etag = resp.headers.get("etag")
            self._modified = resp.headers.get("last-modified")
        return self._note(Reply(self.url, resp.status_code, body, recv_ns, verdict,
                                retry_after(resp.headers)))

    def _note(self, reply: Reply) -> Reply:
        self.failures = 0 if reply.verdict in ("ok", "unchanged") else self.failures + 1
        return reply

    def forget_validators(self) -> None:
        """Ask unconditionally next time (after a body that could not be read)."""
        self._etag = self._modified = None

    def delay(self, reply: Reply, *, spent_s: float = 0.0) -> float:
        """Seconds to wait before the next request (``spent_s``: this one's round trip)."""
        if self.failures == 0:
            return max(0.0, self.interval_s - spent_s)
        base = self.blocked_s if reply.verdict == "blocked" else self.interval_s
        wait = min(self.max_backoff_s, base * 2 ** (self.failures - 1 if reply.verdict == "blocked"
                                                     else self.failures))
        if reply.retry_after_s is not None:
            wait = max(wait, min(reply.retry_after_s, self.max_backoff_s))
        return wait
