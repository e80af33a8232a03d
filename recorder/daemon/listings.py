"""The listing watcher and its capture windows as the daemon runs them (``[listing]``).

    listings = Listings(config.listing, data_dir=data, target=recorder, tier=tier,
                        writer=writer, log=log, on_latency=histogram.observe)
    tasks = listings.start(life.stop_future)   # the capture, then the watcher
    tier.run(stop, listings.keep)               # the tier keeps the hours a window needs

The watcher (``recorder.listing.watcher``) journals its answers and marks through
``target`` (the ``Recorder``'s ``journal_rest``/``journal_mark``, on Upbit's API stream);
each listing it marks books a capture window (``recorder.listing.capture``), cut from the
tier when the daemon has one, else from the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from recorder.journal.writer import JournalWriter
from recorder.listing.capture import Capture
from recorder.listing.watcher import Target, Watcher

from .config import ListingConfig
from .tier import Tier


class Listings:
    """One daemon's watcher and capture windows; see the module docstring."""

    def __init__(self, config: ListingConfig, *, data_dir: str | Path, target: Target,
                 tier: Tier | None, writer: JournalWriter, log: logging.Logger,
                 on_latency: Callable[[float], None] | None = None) -> None:
        self.capture = Capture(data_dir=data_dir,
                               source_dir=tier.path if tier is not None else data_dir,
                               before_s=config.before_s, after_s=config.after_s,
                               flush=(tier.writer if tier is not None else writer).flush,
                               journal_mark=target.journal_mark, log=log)
        self.watcher = Watcher(notice_url=config.notice_url, market_url=config.market_url,
                               interval_s=config.interval_ms / 1000,
                               market_interval_s=config.market_interval_ms / 1000,
                               timeout_s=config.timeout_s, max_backoff_s=config.max_backoff_s,
                               target=target, data_dir=data_dir, log=log,
                               on_listing=self.capture.book, on_latency=on_latency)

    def start(self, stop: asyncio.Future[None]) -> list[asyncio.Task[None]]:
        """The capture's and the watcher's tasks, each until ``stop`` is done."""
        return [asyncio.create_task(self.capture.run(stop), name="capture"),
                asyncio.create_task(self.watcher.run(stop), name="listing")]

    def keep(self) -> list[tuple[int, int]]:
        """The tier's time ranges a capture window still needs (none are expired)."""
        return self.capture.keep()
