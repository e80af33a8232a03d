"""Paper trading: the engine over the journal tail instead of the recorded past.

    stop = threading.Event()
    source = LiveSource(data_dir, stop=stop, start=Bound(seq=1))
    stop_on_signals(stop); stop_after(stop, seconds)     # the CLI's edge
    result = Engine(...).run(source, stream_of=source.stream)

A live run and a backtest over the same records produce the same fills and
summary: the records decide everything, not when they arrived.

The tail may also be a journal followed from another host (``RemoteSource`` of
``recorder.journal.remote``, ``replay --live --follow nats://...``): any source with a
``follow(from_seq, stop=..., poll_interval=...)`` like the journal's.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from recorder.journal import Record
from recorder.journal.source import RecordSource

from .source import Bound, HistoricalSource


@runtime_checkable
class Followed(Protocol):
    """A source that grows and can be followed: the journal, or one followed over the network."""

    def follow(self, from_seq: int = 1, *, poll_interval: float = 0.01, stop: threading.Event | None = None,
               idle_timeout: float | None = None) -> Iterator[Record]: ...


class LiveSource(HistoricalSource):
    """The journal tail, like ``tail -f``: records from ``start`` as they are committed.

    ``data``: a data directory (its archived days are read first: a paper run started
    far back catches up through them), a ``JournalReader`` to follow, or any other
    ``RecordSource``, which is read to its end (nothing follows it: it does not grow)
    unless it can be followed itself (``Followed``: a journal on another host).
    Ends when ``stop`` is set, or once the record at ``end`` (a seq or a time) has
    been read. Paper trading is the engine over this source instead of a
    ``HistoricalSource``; the records and so the results are the same.
    """

    def __init__(self, data: str | os.PathLike[str] | RecordSource, *, stop: threading.Event,
                 start: Bound | None = None, end: Bound | None = None,
                 venues: Iterable[str] | None = None, poll_interval: float = 0.005) -> None:
        super().__init__(data, start=start, end=end, venues=venues)
        self.stop = stop
        self.poll_interval = poll_interval
        self.tail: Any = self.reader  # what is followed after the history
        if self.reader is None and isinstance(data, Followed) and isinstance(data, RecordSource):
            self.history, self.tail = None, data  # it follows from any seq: no history first

    def wait_for_start(self) -> int | None:
        """Seq of the first record at or after ``start``, waiting (until ``stop``) for the
        journal to reach a start time it has not recorded yet; None when stopped first.
        ``start`` then is that seq. A seq past the end is not waited for: it is where the
        tail will be read from."""
        start = self.start_seq()
        if self.start.ts_ns is None or start <= self.source.last_seq or self.tail is None:
            self.start = Bound(seq=start)
            return start
        while not self.stop.is_set():
            if self.reader is not None:
                self.reader.refresh()
            at = self.source.seq_at_time(self.start.ts_ns)
            if at is not None:
                self.start = Bound(seq=at)
                return at
            self.stop.wait(self.poll_interval)
        return None

    def _records(self) -> Iterator[Record]:
        start = self.start
        from_seq = start.seq or 1
        end_seq = self.end.seq if self.end else None
        end_ts = self.end.ts_ns if self.end else None
        started = False  # a record at or after the start time has been read
        history = self.history
        if history is not None and from_seq <= history.last_seq:
            for rec in history.read(from_seq, end_seq, from_ts_ns=start.ts_ns, to_ts_ns=end_ts):
                if self.stop.is_set():
                    return
                started = True
                yield rec
                if end_seq is not None and rec.seq >= end_seq:
                    return
            from_seq = max(from_seq, history.last_seq + 1)
        reader = self.tail
        if reader is None:
            return
        if start.ts_ns is not None and not started:
            # Wait until the journal reaches the start time, then tail from there.
            at = self.wait_for_start()
            if at is None:  # stopped first
                return
            from_seq = max(from_seq, at)
        for rec in reader.follow(from_seq, stop=self.stop, poll_interval=self.poll_interval):
            if end_ts is not None and rec.ts_ns >= end_ts:
                return
            yield rec
            if end_seq is not None and rec.seq >= end_seq:
                return


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (the run then ends cleanly and writes its report)."""
    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def stop_after(stop: threading.Event, seconds: float) -> threading.Timer:
    """Set ``stop`` after ``seconds`` of wall time (``--duration``)."""
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return timer
