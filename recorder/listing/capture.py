"""The capture windows at run time: book on a listing, cut when the source has passed them.

The source is the tier (``DATA/tier``) when the daemon has one, else the journal itself
(overseas venues recorded for good need no tier). ``run`` looks every ``check_s`` for
windows whose end is ``grace_s`` behind the wall clock, makes the source's writer commit
what it holds (``flush``), cuts them in a worker thread and journals a ``window`` mark
``{"mark": "window", "name", "symbol", "start_ns", "end_ns", "frames": {venue: n}}``.
A cut that fails is logged and tried again at the next look; the booking stays, and so
do the tier hours it needs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .windows import Window, Windows, window_for


class Capture:
    """Windows of one daemon; ``book`` from the watcher's ``on_listing``, ``run`` as a task."""

    def __init__(self, *, data_dir: str | Path, source_dir: str | Path, before_s: float,
                 after_s: float, flush: Callable[[], Any],
                 journal_mark: Callable[[str, str, dict[str, Any]], int],
                 log: logging.Logger, grace_s: float = 1.0, check_s: float = 0.5,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.windows = Windows(data_dir)
        self.source_dir = Path(source_dir)
        self.before_s = before_s
        self.after_s = after_s
        self.flush = flush
        self.journal_mark = journal_mark
        self.log = log
        self.grace_ns = int(grace_s * 1e9)
        self.check_s = check_s
        self.clock = clock
        self.cut_count = 0
        self.failures = 0

    def book(self, listing: dict[str, Any]) -> Window:
        window = window_for(listing, before_s=self.before_s, after_s=self.after_s)
        self.windows.add(window)
        self.log.info("window_booked", extra={"fields": {
            "name": window.name, "start_ns": window.start_ns, "end_ns": window.end_ns}})
        return window

    def keep(self) -> list[tuple[int, int]]:
        return self.windows.keep()

    async def run(self, stop: asyncio.Future[None]) -> None:
        while not stop.done():
            await self.cut_due()
            await asyncio.wait((stop,), timeout=self.check_s)

    async def cut_due(self) -> list[Window]:
        """Cut every window the source has passed; the ones cut."""
        due = self.windows.due(self.clock() - self.grace_ns)
        if not due:
            return []
        self.flush()
        done = []
        for window in due:
            try:
                frames = await asyncio.to_thread(self.windows.cut, window, self.source_dir)
            except Exception as exc:  # noqa: BLE001 (kept booked: the next look tries again)
                self.failures += 1
                self.log.error("window_cut_failed", extra={"fields": {
                    "name": window.name, "error": repr(exc)}})
                continue
            self.journal_mark("upbit", "window", {
                "name": window.name, "symbol": window.symbol, "start_ns": window.start_ns,
                "end_ns": window.end_ns, "frames": frames})
            self.windows.done(window)
            self.cut_count += 1
            self.log.info("window_cut", extra={"fields": {"name": window.name, "frames": frames}})
            done.append(window)
        return done
