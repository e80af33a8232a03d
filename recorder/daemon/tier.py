"""The short tier: a second journal (``DATA/tier``) for the venues with ``tier = "short"``.

The listing watcher needs the minutes *before* an announcement on every overseas market
Upbit has not listed: thousands of topics nobody wants to keep for good. They are
journaled here, exactly as the main journal would (same writer, same records), in hour
segments; ``run`` deletes each hour once ``retention_hours`` old (``expire``), never one a
capture window still needs (``keep``), so the tier stays one gapless run.

Its stream ids start above ``STREAM_BASE`` within the recorder's shard's block of ids: a
connection's id is unique across both journals, so the daemon's tables keyed by stream
never mix them up, and across shards, so an archive of several never does either. The
layout (``recorder.journal.writer``), for shard number ``k`` (0: unsharded):

    main journal   (k << 25) + 1  ..  (k << 25) + 2**24
    tier           (k << 25) + 2**24 + 1  ..  ((k + 1) << 25) - 1

The tier is not projected live (no book is kept for it): its venues should record trades
and top of book.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from recorder.journal import JournalWriteError
from recorder.journal.retention import Window, expire
from recorder.journal.writer import JournalWriter, shard_stream_base

from .config import RecorderConfig
from .logs import fields
from .runtime import JournalAccess

TIER_DIR = "tier"
STREAM_BASE = 1 << 24  # within a shard's block, tier stream ids are above the main journal's


def tier_dir(data: str | Path) -> Path:
    return Path(data) / TIER_DIR


class Tier:
    """The tier's writer and its ``JournalAccess``; ``close`` after the daemon stops."""

    def __init__(self, config: RecorderConfig, *, access_of_main: JournalAccess,
                 on_failure: Callable[[JournalWriteError], None], log: logging.Logger) -> None:
        c = config
        self.path = tier_dir(c.data)
        self.retention_ns = int(c.tier.retention_hours * 3600 * 1e9)
        self.check_every_s = c.tier.check_every_s
        self.log = log
        self.writer = JournalWriter(self.path, durability=c.durability, committer=c.committer,
                                    lock_wait_s=30.0, commit_interval_ms=c.commit_interval_ms,
                                    commit_max_records=c.commit_max_records,
                                    max_pending=c.max_pending, span="hour",
                                    shard=c.shard.name, shard_number=c.shard.number,
                                    stream_base=shard_stream_base(c.shard.number) + STREAM_BASE)
        self.access = JournalAccess(self.writer, config_hash=c.config_hash,
                                    on_stream=lambda info: None, on_failure=on_failure)
        # one table of counts and names for the metrics: the ids never collide
        self.access.counts = access_of_main.counts
        self.access.stream_names = access_of_main.stream_names
        self.expired: list[str] = []

    def expire_now(self, keep: Iterable[Window], now_ns: int | None = None) -> list[str]:
        """Delete the hours older than the retention that no window in ``keep`` needs."""
        now = time.time_ns() if now_ns is None else now_ns
        gone = expire(self.path, before_ns=now - self.retention_ns, keep=keep,
                      before_delete=self.writer.release_segment)
        if gone:
            self.expired += gone
            self.log.info("tier_expired", extra=fields(segments=gone))
        return gone

    async def run(self, stop: asyncio.Future[None], keep: Callable[[], list[Window]]) -> None:
        """Expire every ``check_every_s`` until ``stop``; a failure is logged, never fatal
        (the tier then keeps more than its retention, and says so each time)."""
        while not stop.done():
            try:
                self.expire_now(keep())
            except Exception as exc:  # noqa: BLE001 (a full disk must not stop the recording)
                self.log.error("tier_expire_failed", extra=fields(error=repr(exc)))
            await asyncio.wait((stop,), timeout=self.check_every_s)

    def close(self) -> None:
        self.writer.close()
