"""The I/O edge: one WebSocket connection lifetime whose every message goes to the journal.

``Link`` is one connection lifetime (one stream id): it journals ``open``, ``sent``, every
``frame`` (binary ones with ``meta["bin"]``) and ``close``, and counts what it moved. Its
connection (``picows_connection.PicowsConnection``) hands the complete data messages of
each socket read to ``Link.on_frames`` as one batch, from inside the read: no per-message
queue or await, so a frame has its seq microseconds after the socket read. What the link
inspects in the frames (keep-alive answers, the venue's error replies) the compiled core
reads, one call per batch (``ticktape_core.inspect_frames``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from ticktape_core import inspect_frames

from recorder.journal import JournalWriteError, Record
from recorder.venues.base import Verdict

from . import picows_connection
from .logs import fields
from .ports import Journal

BIN = {"bin": True}  # shared: records never mutate their meta
OnError = Callable[["Link", str], None]


class Link:
    """One connection lifetime: stream ``sid``, its socket and its counters.

    After ``await link.open()`` the connection records by itself; call ``send`` for
    anything we say, ``close`` to end it, and ``await link.wait_closed()`` until it ended
    (``close_code`` says how).
    """

    def __init__(self, journal: Journal, *, sid: int, venue: str, conn: str, url: str,
                 log: logging.Logger, rules: str | None = None,
                 on_error: OnError | None = None,
                 latency: Callable[[Record], None] | None = None) -> None:
        self.journal = journal
        self.log = log
        self.sid = sid
        self.venue = venue
        self.conn = conn
        self.url = url
        self.ws: picows_connection.PicowsConnection | None = None
        self.frames = 0  # data messages journaled
        self.bytes = 0
        self.data_frames = 0  # frames that prove the feed alive (not keep-alive answers)
        self.inspect_errors = 0  # batches whose inspection raised (a bug: logged, never fatal)
        self.opened_at = 0.0  # monotonic
        self.is_open = False
        self.closed_by_us = False
        self.close_recorded = False
        self.verdict: Verdict | None = None  # why we closed it, when a venue reply said so
        self.first_data = asyncio.get_running_loop().create_future()
        self.first_frame = asyncio.get_running_loop().create_future()  # any frame (a greeting)
        self._rules = rules  # the venue's frame rules (Adapter.frame_rules); None: all data
        self._on_error = on_error
        self._append = journal.append_frame
        self._latency = latency
        # Set while a live subscription change awaits its answers: sees every frame
        # after it is journaled (None the rest of the time: the hot path pays nothing).
        self.watch: Callable[[bytes], None] | None = None

    # -- receiving (hot path: runs inside the socket read) --------------------------

    def on_frames(self, frames: list[bytes], binary: bool) -> None:
        """Journal one read's data messages in order; count and inspect them (one core call).

        An error reply is handed to ``on_error(link, text)`` right after its own frame is
        journaled, before the frames behind it.
        """
        data_frames, nbytes, errors = len(frames), -1, ()
        if self._rules is not None:
            try:
                data_frames, nbytes, errors = inspect_frames(self._rules, frames)
            except Exception as exc:  # noqa: BLE001 (the frames are journaled all the same)
                self._inspect_failed(exc)
        append, sid, meta = self._append, self.sid, BIN if binary else None
        rec = None
        it = iter(frames)
        try:
            if errors:
                rec = self._append_replies(it, meta, errors)
            else:
                for data in it:
                    rec = append(sid, "frame", data, meta=meta)
        except JournalWriteError as exc:
            done = len(frames) - sum(1 for _ in it) - 1
            self.frames += done
            self.bytes += sum(map(len, frames[:done]))
            self.data_frames += min(done, data_frames)
            self.journal.failed(exc)
            return
        self.frames += len(frames)
        if not self.first_frame.done():
            self.first_frame.set_result(None)
        self.bytes += nbytes if nbytes >= 0 else sum(map(len, frames))
        if data_frames:
            self.data_frames += data_frames
            if not self.first_data.done():
                self.first_data.set_result(None)
        if self.watch is not None:
            self._watch_frames(frames)
        if self._latency is not None and rec is not None:
            self._latency(rec)  # a sample a read: the sampler keeps about one a millisecond

    def _watch_frames(self, frames: list[bytes]) -> None:
        for data in frames:
            watch = self.watch
            if watch is None:
                return
            try:
                watch(data)
            except Exception as exc:  # noqa: BLE001 (the frame is journaled: never lose the connection over it)
                self._inspect_failed(exc)

    def _append_replies(self, it: Iterator[bytes], meta: dict[str, Any] | None,
                        errors: list[tuple[int, str]]) -> Record | None:
        """``on_frames``'s loop for a batch holding error replies (rare)."""
        append, sid, rec = self._append, self.sid, None
        pos = 0
        for i, text in errors:
            for data in islice(it, i + 1 - pos):
                rec = append(sid, "frame", data, meta=meta)
            pos = i + 1
            if self._on_error is not None:
                try:
                    self._on_error(self, text)
                except Exception as exc:  # noqa: BLE001 (the frame is journaled: never lose the connection over it)
                    self._inspect_failed(exc, seq=rec.seq if rec is not None else None)
        for data in it:
            rec = append(sid, "frame", data, meta=meta)
        return rec

    def _inspect_failed(self, exc: Exception, seq: int | None = None) -> None:
        self.inspect_errors += 1
        if self.inspect_errors == 1 or self.inspect_errors % 1000 == 0:
            self.log.error("inspect_failed", extra=fields(
                venue=self.venue, conn=self.conn, stream=self.sid, seq=seq,
                count=self.inspect_errors, error=f"{type(exc).__name__}: {exc}"))

    def _record_open(self) -> None:
        if self.is_open:
            return
        self.is_open = True
        self.opened_at = time.monotonic()
        self.journal.append(self.sid, "open", self.url.encode(), meta={"conn": self.conn})

    # -- lifecycle ------------------------------------------------------------------

    async def open(self, *, open_timeout: float, close_timeout: float, max_size: int,
                   compression: bool, ping_interval: float | None) -> None:
        """Handshake; raises what the client and asyncio raise (the caller classifies it)."""
        self.ws = await picows_connection.connect(
            self.url, sink=self.on_frames, on_open=self._record_open, open_timeout=open_timeout,
            close_timeout=close_timeout, max_size=max_size, compression=compression,
            ping_interval=ping_interval)
        self._record_open()

    async def send(self, payload: bytes) -> None:
        """Journal ``payload`` as ``sent`` and send it as a text message."""
        self.journal.append(self.sid, "sent", payload)
        assert self.ws is not None
        await self.ws.send_text(payload)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from our side (idempotent) and journal how it closed."""
        if self.ws is None:
            return
        self.closed_by_us = True
        try:
            await self.ws.close(code, reason)
        except Exception:  # noqa: BLE001 (already broken: the close record says how)
            pass
        self.record_close()

    async def wait_closed(self) -> None:
        assert self.ws is not None
        await self.ws.wait_closed()

    @property
    def closed(self) -> bool:
        """True once the connection is over (both close frames, or the socket gone)."""
        return self.ws is not None and self.ws.closed

    def record_close(self) -> None:
        """Journal the ``close`` once, with the code and reason the protocol settled on."""
        if self.close_recorded or self.ws is None:
            return
        self.close_recorded = True
        self.is_open = False
        rcvd, sent = self.ws.close_frames()
        frame = rcvd if rcvd is not None and not self.closed_by_us else sent or rcvd
        code, reason = frame if frame is not None else (1006, "")
        self.journal.append(self.sid, "close", reason.encode(),
                        meta={"code": code, "reason": reason,
                              "by": "us" if self.closed_by_us else "peer"})

    @property
    def close_code(self) -> int | None:
        return None if self.ws is None else self.ws.close_code
