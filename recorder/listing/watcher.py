"""The listing watcher at run time: polls, journals, detects, marks (the I/O around
``detector``).

Two pollers run side by side (``poll.Poller``: one request per interval at most,
conditional, backing off on 429/403/5xx and on no answer): Upbit's notice board
(``[listing] notice_url``) and its market list (``market_url``, the second signal). Every
answer, a ``304`` and an error page included, is journaled first as a ``rest`` (or
``error``) record on Upbit's API stream, ``via = "listing"``; only then is it read.

A body that cannot be read (not JSON, a changed shape, ``success: false``) is counted,
logged once per change of reason, and the next poll asks unconditionally; detection
resumes with the first good body. Nothing here stops the recorder.

The first good answer of each signal is history (``Detector``), unless the watcher resumes
a saved state (``DATA/listing/detector.json``): then a notice published while it was down
is found at the first poll. The state is saved only once the journal holds the marks it
covers (``committed``), with that seq; a restart adds the ``listing`` marks journaled after
it, so a listing is never marked twice.

A new KRW listing becomes a ``mark`` ``{"mark": "listing", "symbol", "name", "markets",
"notice_id", "title", "announced_at_ns", "detected_at_ns", "latency_ms", "signal"}`` and is
handed to ``on_listing`` (the capture windows); a BTC- or USDT-only addition becomes a
``market_added`` mark and a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from recorder.errors import NoticeBodyError, RecorderUsageError
from recorder.journal.reader import JournalReader
from recorder.venues.base import join_url

from .detector import Detector, Found, Listing
from .notices import parse_announcements, parse_markets
from .poll import Poller, Reply

UPBIT = "upbit"
STATE_FILE = "listing/detector.json"
SAVE_EVERY_S = 60.0  # the saved seq moves on at least this often, bounding a restart's scan
LISTING_MARK = "listing"


class Target(Protocol):
    """What the watcher asks of the daemon (``recorder.daemon.app.Recorder``)."""

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None, *, via: str = "control") -> int: ...

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int: ...

    def committed_seq(self) -> int: ...


def with_origin(url: str, new: str) -> str:
    """``url`` with the scheme, host and port of ``new`` (its path and query kept);
    ``RecorderUsageError`` when ``new`` is not an absolute URL."""
    if not new:
        return url
    u = urlsplit(url)
    return join_url(new, u.path, u.query)


def listing_fields(found: Listing) -> dict[str, Any]:
    return {"symbol": found.ticker, "name": found.name, "markets": list(found.markets),
            "notice_id": found.notice_id, "title": found.title,
            "announced_at_ns": found.announced_at_ns, "detected_at_ns": found.detected_at_ns,
            "latency_ms": round((found.detected_at_ns - found.announced_at_ns) / 1e6, 3),
            "signal": "notice" if found.notice_id is not None else "market"}


@dataclass
class WatcherStats:
    """What the metrics and ``status`` show."""

    polls: dict[tuple[str, str], int] = field(default_factory=dict)  # (signal, verdict) -> n
    unreadable: dict[str, int] = field(default_factory=dict)  # signal -> bodies not read
    listings: int = 0
    others: int = 0
    seeded: set[str] = field(default_factory=set)  # signals whose history is taken

    def count(self, signal: str, verdict: str) -> None:
        key = (signal, verdict)
        self.polls[key] = self.polls.get(key, 0) + 1


class Watcher:
    """One daemon's watcher; ``await run()`` as a task (it returns when ``stop`` is set)."""

    def __init__(self, *, notice_url: str, market_url: str, interval_s: float,
                 market_interval_s: float, timeout_s: float, max_backoff_s: float,
                 target: Target, data_dir: str | os.PathLike[str], log: logging.Logger,
                 on_listing: Callable[[dict[str, Any]], None] | None = None,
                 on_latency: Callable[[float], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.notice_url = notice_url
        self.market_url = market_url
        self.interval_s = interval_s
        self.market_interval_s = market_interval_s
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.target = target
        self.data_dir = Path(data_dir)
        self.log = log
        self.on_listing = on_listing
        self.on_latency = on_latency
        self.transport = transport
        self.clock = clock
        self.stats = WatcherStats()
        self.detector, self._resumed = self._load()
        self._unsaved_seq = 0  # the newest mark not yet covered by the saved state
        self._saved_at = time.monotonic()
        self._reasons: dict[str, str] = {}  # signal -> last unreadable reason logged

    # -- state ----------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def _load(self) -> tuple[Detector, bool]:
        """The saved detector plus the listing marks journaled after it; a fresh one if none."""
        try:
            doc = json.loads(self.state_path.read_bytes())
            det = Detector.from_json(json.dumps(doc["detector"]).encode())
            seq = int(doc["seq"])
        except FileNotFoundError:
            return Detector(), False
        except (ValueError, KeyError, TypeError, RecorderUsageError) as exc:
            self.log.warning("listing_state_unreadable", extra={"fields": {
                "path": str(self.state_path), "error": str(exc)}})
            return Detector(), False
        det.announced.update(self._journaled_since(seq))
        return det, True

    def _journaled_since(self, seq: int) -> set[tuple[str, str]]:
        """(coin, market) pairs of the ``listing`` marks after ``seq`` (a crash between a mark
        and the state that covers it)."""
        out: set[tuple[str, str]] = set()
        try:
            reader = JournalReader(self.data_dir)
        except Exception:  # noqa: BLE001 (no journal yet: nothing was marked)
            return out
        with reader:
            for rec in reader.read(from_seq=seq + 1):
                if rec.kind != "mark" or b'"listing"' not in rec.payload:
                    continue
                doc = json.loads(rec.payload)
                if doc.get("mark") == LISTING_MARK:
                    out.update((doc["symbol"], m) for m in doc.get("markets", ()))
        return out

    def _save(self, *, force: bool = False) -> None:
        """Write the state once the journal holds every mark it covers (atomic rename)."""
        committed = self.target.committed_seq()
        if self._unsaved_seq > committed:
            return  # not yet durable: a crash now must find the pairs unmarked
        if not force and self._unsaved_seq == 0 and time.monotonic() - self._saved_at < SAVE_EVERY_S:
            return
        doc = {"detector": json.loads(self.detector.to_json()), "seq": committed}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps(doc, sort_keys=True).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
        self._unsaved_seq, self._saved_at = 0, time.monotonic()

    # -- polling --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Future[None]) -> None:
        """Poll both signals until ``stop`` is done; saves the state on the way out."""
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=2)
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), limits=limits,
                                     transport=self.transport,
                                     headers={"User-Agent": "ticktape-recorder"}) as client:
            notices = Poller(self.notice_url, client=client, interval_s=self.interval_s,
                             max_backoff_s=self.max_backoff_s, clock=self.clock)
            markets = Poller(self.market_url, client=client, interval_s=self.market_interval_s,
                             max_backoff_s=self.max_backoff_s, clock=self.clock)
            try:
                await asyncio.gather(self._loop("notices", notices, stop),
                                     self._loop("markets", markets, stop))
            finally:
                self._save(force=True)

    async def _loop(self, signal: str, poller: Poller, stop: asyncio.Future[None]) -> None:
        while not stop.done():
            started = time.monotonic()
            reply = await poller.poll()
            self.handle(signal, reply, poller)
            self._save()
            wait = poller.delay(reply, spent_s=time.monotonic() - started)
            if reply.verdict not in ("ok", "unchanged"):
                self.log.warning("listing_poll", extra={"fields": {
                    "signal": signal, "status": reply.status, "verdict": reply.verdict,
                    "error": reply.error, "retry_in_s": round(wait, 3)}})
            if wait > 0:
                await asyncio.wait((stop,), timeout=wait)

    def handle(self, signal: str, reply: Reply, poller: Poller | None = None) -> Found:
        """Journal one answer, then read it; the listings it brought (already marked)."""
        self.target.journal_rest(UPBIT, reply.url, reply.status, reply.body, reply.recv_ns,
                                 via="listing")
        self.stats.count(signal, reply.verdict)
        if reply.verdict != "ok":
            return Found()
        try:
            if signal == "notices":
                page = parse_announcements(reply.body)
                found = self.detector.on_notices((*page.notices, *page.fixed),
                                                 recv_ts_ns=reply.recv_ns)
            else:
                found = self.detector.on_markets(parse_markets(reply.body),
                                                 recv_ts_ns=reply.recv_ns)
        except NoticeBodyError as exc:
            self.stats.unreadable[signal] = self.stats.unreadable.get(signal, 0) + 1
            if poller is not None:
                poller.forget_validators()  # the next answer must be a whole body
            if self._reasons.get(signal) != str(exc):
                self._reasons[signal] = str(exc)
                self.log.warning("listing_unreadable", extra={"fields": {
                    "signal": signal, "error": str(exc)}})
            return Found()
        self._reasons.pop(signal, None)
        if signal not in self.stats.seeded:
            self.stats.seeded.add(signal)
            if not self._resumed:  # what is there when the watcher starts is history
                self._unsaved_seq = max(self._unsaved_seq, 1)
                return Found()
        for got in found.krw:
            self._mark(LISTING_MARK, got)
        for got in found.other:
            self._mark("market_added", got)
        return found

    def _mark(self, text: str, got: Listing) -> None:
        doc = listing_fields(got)
        seq = self.target.journal_mark(UPBIT, text, doc)
        self._unsaved_seq = max(self._unsaved_seq, seq)
        if text != LISTING_MARK:
            self.stats.others += 1
            self.log.info("market_added", extra={"fields": doc})
            return
        self.stats.listings += 1
        latency = (got.detected_at_ns - got.announced_at_ns) / 1e9
        if self.on_latency is not None:
            self.on_latency(max(0.0, latency))
        self.log.warning("listing", extra={"fields": doc})
        if self.on_listing is not None:
            self.on_listing({**doc, "seq": seq})
