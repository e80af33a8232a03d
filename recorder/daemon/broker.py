"""Publishing every committed record to NATS JetStream, for followers on other hosts.

    [broker]
    url = "nats://10.0.0.2:4222"   # "" (the default): off
    queue = 64                     # record batches waiting for the broker at most
    batch_records = 1024           # records a batch (and a message) holds at most
    stream = ""                    # stream prefix: "" = TICKTAPE (TICKTAPE_<SHARD or MAIN>)
    max_age_h = 0                  # the stream's age limit when it is created here (0: keep all)

The recorder never waits on the broker. Each record the writer appends goes into an open
batch (``on_record``, on the appending thread: a list append); a full batch joins a bounded
queue of ``queue`` batches, and when the queue is full the batch is dropped and counted
(``ticktape_broker_dropped_total``, records). A publisher task sends what is committed
(``committed()``: nothing that could still be lost is ever published) in seq order, from the
queue, or from the journal (an LMDB reader in this process, on a worker thread) when the
queue lacks the next seq: after drops, after the broker was away, at start. So the broker's
stream is gapless and in seq order whatever was dropped.

Each message (the wire format is ``recorder.journal.remote``'s) is published with its
``Nats-Msg-Id`` (the server drops a repeat) and ``Nats-Expected-Last-Subject-Sequence`` (the
server refuses a message that does not follow the last one it holds), and its ack is awaited
before the next. Before the first record of a stream, that stream's ``StreamInfo`` goes on
the streams subject of the same JetStream stream. At start and after any error (a refused
or unacknowledged publish, a reconnect) the publisher asks the stream for its last message
and continues after its last seq (creating the stream on first use): a broker down at start,
restarted, or cut off for a while costs time, never a record. While it is away the client
reconnects forever and the publisher logs ``broker_down`` (the first failure of an outage,
then every tenth) and ``broker_synced`` when it continues.

``close(drain_s)`` publishes what is committed (up to ``drain_s``, and only while connected)
and disconnects: the daemon calls it after the writer's final flush, so a stopped recorder's
stream ends at its journal's last seq; what a broker that is away misses, the next start
publishes from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from recorder.journal import Record, StreamInfo
from recorder.journal.codec import encode_record
from recorder.journal.reader import JournalReader
from recorder.journal.remote import (
    PREFIX,
    batch_overhead,
    complete_last,
    encode_stream_info,
    encode_values,
    records_headers,
    said_url,
    stream_headers,
    stream_name,
    subjects,
)

from .config import BrokerConfig
from .logs import fields

EXPECT_LAST = "Nats-Expected-Last-Subject-Sequence"
HEADER_ROOM = 512  # bytes of a message kept for its headers
DUPLICATE_WINDOW_S = 120.0  # the stream's dedupe window (Nats-Msg-Id)
CONNECT_TIMEOUT_S = 2.0


class BrokerPublisher:
    """One recorder's publisher (module docstring).

    ``committed()``: the journal's durable seq; ``stream_of(id)``: a stream's ``StreamInfo``;
    ``data_dir``: the journal, read when the queue lacks records. Call ``on_record`` for each
    appended record (``JournalWriter.subscribe``), ``wake`` after each commit (any thread),
    ``start`` on the loop, ``close`` at the end.
    """

    def __init__(self, config: BrokerConfig, *, data_dir: str | os.PathLike[str], shard: str,
                 committed: Callable[[], int], stream_of: Callable[[int], StreamInfo | None],
                 log: logging.Logger | None = None, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.url = config.url
        self.shard = shard
        prefix = config.stream or PREFIX
        self.name = stream_name(shard, prefix)
        self.records_subject, self.streams_subject, self.subject = subjects(shard, prefix)
        self.data_dir = Path(data_dir)
        self.committed = committed
        self.stream_of = stream_of
        self.log = log or logging.getLogger("ticktape.broker")
        self._lock = threading.Lock()
        self._open: list[Record] = []
        self._queue: deque[list[Record]] = deque()
        self._next: int | None = None  # next seq to publish; None: ask the stream first
        self._subject_seq = 0  # JetStream seq of the last records message (expected by the next)
        self._sent_streams: set[int] = set()
        self._nc: Any = None
        self._js: Any = None
        self._reader: JournalReader | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._drain_until = 0.0
        self._failures = 0
        self.failed: str | None = None  # a stream this journal cannot continue: publishing stopped
        # figures (``stats``, and the metrics)
        self.published_records = 0
        self.published_batches = 0
        self.recovered_records = 0  # published from the journal, not from the queue
        self.dropped_records = 0
        self.dropped_batches = 0
        self.errors = 0
        self.syncs = 0
        self.published_seq = 0
        self.lag_s = 0.0  # receive time of a message's last record to its ack, the last one
        if registry is not None:
            registry.register(_Collector(self))

    # -- the appending side (never waits) ------------------------------------------------

    def on_record(self, rec: Record) -> None:
        """A record has its seq (``JournalWriter.subscribe``): into the open batch."""
        with self._lock:
            self._open.append(rec)
            if len(self._open) >= self.config.batch_records:
                self._push()

    def _push(self) -> None:
        """The open batch joins the queue, or is dropped (counted) when the queue is full."""
        batch, self._open = self._open, []
        q = self._queue
        nxt = self._next or 0
        while q and q[0][-1].seq < nxt:  # published already (from the journal)
            q.popleft()
        if len(q) >= self.config.queue:
            self.dropped_records += len(batch)
            self.dropped_batches += 1
            if self.dropped_batches == 1 or self.dropped_batches % 100 == 0:
                self.log.warning("broker_dropped", extra=fields(
                    batches=self.dropped_batches, records=self.dropped_records, first=batch[0].seq,
                    note="recovered from the journal before anything newer is published"))
            return
        q.append(batch)

    def wake(self) -> None:
        """Something was committed (any thread): the task looks now, not at its next poll."""
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)

    # -- the task ------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="broker")
        return self._task

    async def close(self, drain_s: float = 5.0) -> None:
        """Publish what is committed (for up to ``drain_s``), then disconnect."""
        self._stopping = True
        self._drain_until = time.monotonic() + drain_s
        self.wake()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain_s + 1.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)
            self._nc = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.log.info("broker_closed", extra=fields(**self.stats()))

    def _done(self) -> bool:
        if not self._stopping:
            return False
        if time.monotonic() >= self._drain_until or self.failed is not None:
            return True
        if self._nc is None or not self._nc.is_connected:
            return True  # the broker is away: the next start publishes the rest from the journal
        return self._next is not None and self._next > self.committed()

    async def _run(self) -> None:
        backoff = 0.1
        while not self._done():
            try:
                if self._js is None:
                    await self._connect()
                if not self._nc.is_connected:
                    await self._idle(0.05)
                    continue
                if self._next is None:
                    await self._sync()
                if self.failed is not None:
                    await self._idle(1.0)
                    continue
                if not await self._publish_some():
                    await self._idle(0.01)
                if self._failures:
                    self._failures = 0
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (the broker is away or refused: retry)
                self.errors += 1
                self._failures += 1
                self._next = None
                if self._failures == 1 or self._failures % 10 == 0:
                    self.log.warning("broker_down", extra=fields(
                        url=said_url(self.url), error=f"{type(exc).__name__}: {exc}", failures=self._failures,
                        retry_s=round(backoff, 2), committed_seq=self.committed(),
                        published_seq=self.published_seq))
                await self._idle(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _idle(self, seconds: float) -> None:
        ev = self._wake
        if ev is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), seconds)
        ev.clear()

    async def _connect(self) -> None:
        import nats

        async def reconnected() -> None:
            self._next = None  # ask the stream where it is before the next publish
            self.log.info("broker_reconnected", extra=fields(url=said_url(self.url)))

        async def quiet(exc: Exception) -> None:
            pass  # said by broker_down when a publish fails

        # Reconnecting forever makes the first connect wait forever too: bounded here, retried by _run.
        try:
            self._nc = await asyncio.wait_for(nats.connect(
                self.url, connect_timeout=2, allow_reconnect=True, max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, ping_interval=2, max_outstanding_pings=2,
                reconnected_cb=reconnected, error_cb=quiet,
                name=f"ticktape-recorder-{self.shard or 'main'}"), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionError(f"no NATS server answers at {said_url(self.url)} "
                                  f"(in {CONNECT_TIMEOUT_S} s)") from None
        self._js = self._nc.jetstream()
        self.log.info("broker_connected", extra=fields(url=said_url(self.url), stream=self.name))

    async def _sync(self) -> None:
        """Where the stream is: continue after its last seq (creating the stream on first use)."""
        from nats.js import api
        from nats.js.errors import NotFoundError

        js = self._js
        try:
            await js.stream_info(self.name)
        except NotFoundError:
            await js.add_stream(api.StreamConfig(
                name=self.name, subjects=[self.subject], storage=api.StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S, max_age=self.config.max_age_h * 3600 or None))
            self.log.info("broker_stream_created", extra=fields(stream=self.name, subjects=self.subject,
                                                                max_age_h=self.config.max_age_h))
        try:
            last = await js.get_last_msg(self.name, self.records_subject)
            subject_seq, broker_last = last.seq, complete_last(last.headers)
        except NotFoundError:
            subject_seq, broker_last = 0, 0
        committed = self.committed()
        if broker_last > committed:
            self.failed = (f"stream {self.name} holds seq {broker_last}, past this journal's "
                           f"{committed}: another journal publishes as shard "
                           f"{self.shard or 'main'}; publishing stopped")
            self.log.error("broker_stream_ahead", extra=fields(stream=self.name, error=self.failed))
            return
        first = await asyncio.to_thread(self._journal_first)
        self._subject_seq = subject_seq
        self._sent_streams = set()
        self._next = max(broker_last + 1, first, 1)
        self.published_seq = self._next - 1
        self.syncs += 1
        self.log.info("broker_synced", extra=fields(stream=self.name, stream_last_seq=broker_last,
                                                    from_seq=self._next, committed_seq=committed))

    def _journal(self) -> JournalReader:
        if self._reader is None:
            self._reader = JournalReader(self.data_dir)
        else:
            self._reader.refresh()
        return self._reader

    def _journal_first(self) -> int:
        return self._journal().first_seq

    def _take(self, nxt: int, committed: int) -> tuple[list[Record] | None, int]:
        """Records from ``nxt`` (at most a batch, none past ``committed``) from memory, or
        (None, the first seq memory holds after ``nxt``, 0 for none) when it lacks ``nxt``."""
        limit = self.config.batch_records
        with self._lock:
            q = self._queue
            while q and q[0][-1].seq < nxt:
                q.popleft()
            head = q[0] if q else self._open
            if not head or head[-1].seq < nxt:
                return None, 0
            if head[0].seq > nxt:
                return None, head[0].seq
            i = nxt - head[0].seq
            out = head[i:i + limit]
        n = 0
        for rec in out:  # committed ones only
            if rec.seq > committed:
                break
            n += 1
        return out[:n], 0

    def _from_journal(self, first: int, last: int) -> list[Record]:
        reader = self._journal()
        return list(reader.read(first, last))

    async def _publish_some(self) -> bool:
        """Publish the next batch that is committed; False when there is none."""
        nxt = self._next
        assert nxt is not None
        committed = self.committed()
        if nxt > committed:
            with self._lock:
                if self._open and not self._queue and self._open[-1].seq < nxt:
                    self._open = []  # all published
            return False
        batch, memory_from = self._take(nxt, committed)
        if batch is None:
            last = min(committed, nxt + self.config.batch_records - 1)
            if memory_from:
                last = min(last, memory_from - 1)
            batch = await asyncio.to_thread(self._from_journal, nxt, last)
            if not batch or batch[0].seq != nxt:
                raise RuntimeError(f"the journal lacks seq {nxt} (committed {committed})")
            self.recovered_records += len(batch)
        if not batch:
            return False
        await self._send(batch)
        return True

    async def _send(self, records: list[Record]) -> None:
        limit = max(1024, self._nc.max_payload - HEADER_ROOM)
        values = [encode_record(r) for r in records]
        for chunk, vals in _chunks(records, values, limit):
            await self._send_streams(chunk)
            if len(vals) == 1 and len(vals[0]) + batch_overhead(1) > limit:
                await self._send_parts(chunk[0], vals[0], limit)
            else:
                await self._publish(self.records_subject, encode_values(vals),
                                    records_headers(self.shard, chunk[0].seq, chunk[-1].seq))
            self._sent(chunk)

    async def _send_parts(self, rec: Record, value: bytes, limit: int) -> None:
        n = -(-len(value) // limit)
        for i in range(n):
            await self._publish(self.records_subject, value[i * limit:(i + 1) * limit],
                                records_headers(self.shard, rec.seq, rec.seq, (i + 1, n)))

    async def _send_streams(self, chunk: list[Record]) -> None:
        for sid in sorted({r.stream for r in chunk} - self._sent_streams):
            info = self.stream_of(sid)
            if info is None:
                raise RuntimeError(f"record of unknown stream {sid}")
            await self._js.publish(self.streams_subject, encode_stream_info(info), stream=self.name,
                                   timeout=self.config.ack_timeout_s, headers=stream_headers(self.shard, info))
            self._sent_streams.add(sid)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        headers[EXPECT_LAST] = str(self._subject_seq)
        ack = await self._js.publish(subject, payload, stream=self.name,
                                     timeout=self.config.ack_timeout_s, headers=headers)
        self._subject_seq = ack.seq
        self.published_batches += 1

    def _sent(self, chunk: list[Record]) -> None:
        self._next = chunk[-1].seq + 1
        self.published_seq = chunk[-1].seq
        self.published_records += len(chunk)
        self.lag_s = max(0.0, (time.time_ns() - chunk[-1].ts_ns) / 1e9)

    def stats(self) -> dict[str, Any]:
        return {"published_records": self.published_records, "published_batches": self.published_batches,
                "recovered_records": self.recovered_records, "dropped_records": self.dropped_records,
                "dropped_batches": self.dropped_batches, "errors": self.errors, "syncs": self.syncs,
                "published_seq": self.published_seq, "lag_s": round(self.lag_s, 6)}


def _chunks(records: list[Record], values: list[bytes], limit: int) -> Iterator[tuple[list[Record], list[bytes]]]:
    """Runs of consecutive values whose message stays under ``limit`` bytes (an oversized value alone)."""
    start, size = 0, batch_overhead(0)
    for i, v in enumerate(values):
        add = len(v) + 5
        if i > start and size + add > limit:
            yield records[start:i], values[start:i]
            start, size = i, batch_overhead(0)
        size += add
    if start < len(values):
        yield records[start:], values[start:]


class _Collector:
    """The publisher's figures for Prometheus (``ticktape_broker_*``)."""

    def __init__(self, pub: BrokerPublisher) -> None:
        self.pub = pub

    def collect(self) -> Iterator[Any]:
        p = self.pub
        for name, value, doc in (
                ("published_records", p.published_records, "records published to the broker"),
                ("published_batches", p.published_batches, "messages published to the broker"),
                ("recovered_records", p.recovered_records, "records published from the journal"),
                ("dropped", p.dropped_records, "records dropped from the full queue (recovered from the journal)"),
                ("dropped_batches", p.dropped_batches, "batches dropped from the full queue"),
                ("errors", p.errors, "publish errors (each followed by a resync)")):
            c = CounterMetricFamily(f"ticktape_broker_{name}", doc)
            c.add_metric([], value)
            yield c
        g = GaugeMetricFamily("ticktape_broker_publish_lag_seconds",
                              "receive time of the last published record to its ack")
        g.add_metric([], p.lag_s)
        yield g
        g = GaugeMetricFamily("ticktape_broker_published_seq", "last seq the broker acknowledged")
        g.add_metric([], p.published_seq)
        yield g
