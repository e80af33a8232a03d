"""Nightly compaction inside ``recorder run``: APScheduler on a worker thread (``query.schedule``).

    nightly = Nightly(app, config.compaction)
    nightly.start()      # once the journal has a record of the current UTC day
    ...
    nightly.stop()       # no new runs; a run in progress finishes on its own thread

A day is compacted once a newer day has a record, so the catch-up run at start waits
for the daemon's first committed record (a daemon down over midnight then makes up
the night at once). The job never touches the receive loop: it runs on the
scheduler's single worker thread, and whatever it raises is logged and counted
(``ticktape_compaction_runs_total{result="error"}``), never propagated.

The trigger, catch-up and overlap rules and the job itself are ``query.schedule``'s;
the daemon only hears each run's outcome (``on_outcome``) to log and count it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

from .logs import fields

if TYPE_CHECKING:
    from .app import Recorder
    from .config import CompactionConfig

START_AFTER_S = 60.0  # start anyway when no record arrives (the catch-up may then find nothing)


class Nightly:
    """Owns the daemon's compaction scheduler; see the module docstring."""

    def __init__(self, app: Recorder, cfg: CompactionConfig) -> None:
        self.app = app
        self.cfg = cfg
        self.scheduler: Any = None
        self.runs: dict[str, int] = {"ok": 0, "skipped": 0, "error": 0}
        self.days_compacted = 0
        self.days_pruned = 0
        self.last_ok_unix = 0.0
        self.last_error = ""
        self.compacted: list[str] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._created = time.monotonic()
        self._first_seq = app.writer.committed_seq

    # -- lifecycle (event-loop thread) ----------------------------------------------

    def ready(self) -> bool:
        """True once the journal holds a record written by this run (or the wait is over)."""
        return (self.app.writer.committed_seq > self._first_seq
                or time.monotonic() - self._created >= START_AFTER_S)

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        from query.schedule import add_nightly_job

        c = self.cfg
        sched = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(1)})
        job = add_nightly_job(sched, self.app.config.data, hour=c.hour, minute=c.minute,
                              catch_up=c.catch_up, keep_days=c.keep_days,
                              before_delete=self._release, derived=c.derived,
                              on_outcome=self._outcome)
        sched.add_listener(self._on_error, EVENT_JOB_ERROR)
        sched.start()
        with self._lock:
            if self._stopped:  # the daemon stopped while this thread was starting it
                sched.shutdown(wait=False)
                return
            self.scheduler = sched
        self.app.log.info("compaction_scheduled", extra=fields(
            at=f"{c.hour:02d}:{c.minute:02d} UTC", catch_up=c.catch_up, keep_days=c.keep_days,
            next_run=str(job.next_run_time)))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sched, self.scheduler = self.scheduler, None
        if sched is not None:
            sched.shutdown(wait=False)

    # -- worker thread ----------------------------------------------------------------

    def _release(self, day: str) -> None:
        """Before a journal day is deleted: the writer closes that segment if it has it open."""
        self.app.writer.release_segment(day)

    def _outcome(self, outcome: str, value: Any) -> None:
        """One run's result (``query.schedule.run_compaction``): logged and counted."""
        log = self.app.log
        if outcome == "skipped":
            with self._lock:
                self.runs["skipped"] += 1
            log.warning("compaction_skipped", extra=fields(reason=str(value)))
        elif outcome == "error":
            self._failed(value)
        else:
            res = value
            with self._lock:
                self.runs["ok"] += 1
                self.days_compacted += len(res.compacted)
                self.days_pruned += len(res.pruned)
                self.compacted.extend(res.compacted)
                self.last_ok_unix = time.time()
            log.info("compaction", extra=fields(compacted=res.compacted, records=res.records,
                                                pruned=res.pruned, already=len(res.already)))

    def _failed(self, exc: BaseException) -> None:
        err = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.runs["error"] += 1
            self.last_error = err
        self.app.log.error("compaction_failed", extra=fields(error=err))

    def _on_error(self, event: Any) -> None:
        """Anything escaping the job (it should not) is still counted, never raised."""
        self._failed(event.exception)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"runs": dict(self.runs), "days_compacted": self.days_compacted,
                    "days_pruned": self.days_pruned, "last_ok_unix": self.last_ok_unix,
                    "last_error": self.last_error}
