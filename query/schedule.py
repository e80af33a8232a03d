"""The nightly compaction job, for APScheduler (3.x): standalone or inside the daemon.

    # on any APScheduler 3 scheduler:
    from query.schedule import add_nightly_job
    add_nightly_job(scheduler, "data", hour=0, minute=10, keep_days=0,
                    before_delete=writer.release_segment)

    # standalone: `query schedule --data DIR` (a BlockingScheduler)
    # inside `recorder run`: the ``compaction`` recorder hook (``NightlyHook`` below)

The job runs at ``hour:minute`` UTC every day (default 00:10, after the day closed and
the first records of the new day arrived: a day is compacted only once a newer day
has a record). With ``catch_up`` (default) it also runs as soon as the scheduler
starts, so a night the process was down is made up at once: compaction takes every
finished day not yet in the manifest. Runs never overlap (``max_instances=1``; a
compaction started elsewhere makes the job skip, it does not wait), and a run missed
while the scheduler was busy is coalesced into one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from .compact import CompactionBusy, CompactResult, compact

JOB_ID = "ticktape-nightly-compaction"
log = logging.getLogger("query.schedule")


def run_compaction(data_dir: str | os.PathLike[str], *,
                   on_outcome: Callable[[str, Any], None] | None = None,
                   **opts: Any) -> CompactResult | None:
    """One scheduled run: compact every finished day, then prune.

    Days are finished by the journal or by the wall clock (``now_ns``, default the
    time of the run; see ``query.compact.finished_days``). Returns None, without
    waiting, if another compaction holds the archive; never raises: a failure (a
    journal day not matching its archive, a full disk) is logged and retried at the
    next run, since the job must not take the daemon down. ``on_outcome(outcome,
    value)`` hears how it went: ``("ok", CompactResult)``, ``("skipped", exc)`` or
    ``("error", exc)`` (the daemon counts them apart). Safe to call from any thread;
    concurrent calls exclude each other through the archive lock.
    """
    opts.setdefault("now_ns", time.time_ns())
    try:
        res = compact(data_dir, wait=False, **opts)
    except CompactionBusy as exc:
        log.warning("nightly compaction skipped: %s", exc)
        outcome: tuple[str, Any] = ("skipped", exc)
        res = None
    except Exception as exc:
        log.exception("nightly compaction of %s failed; retried at the next run", data_dir)
        outcome = ("error", exc)
        res = None
    else:
        log.info("nightly compaction of %s: compacted %s (%d records), pruned %s", data_dir,
                 res.compacted or "nothing", res.records, res.pruned or "nothing")
        outcome = ("ok", res)
    if on_outcome is not None:
        on_outcome(*outcome)
    return res


def nightly_trigger(hour: int = 0, minute: int = 10) -> CronTrigger:
    return CronTrigger(hour=hour, minute=minute, timezone=UTC)


def add_nightly_job(scheduler: Any, data_dir: str | os.PathLike[str], *, hour: int = 0,
                    minute: int = 10, catch_up: bool = True, keep_days: int = 0,
                    before_delete: Callable[[str], None] | None = None, job_id: str = JOB_ID,
                    **compact_opts: Any) -> Any:
    """Add (or replace) the nightly compaction job on an APScheduler 3 scheduler; returns the Job.

    Never blocks the caller: the job runs on the scheduler's executor (a thread pool
    for ``BackgroundScheduler``, the loop's default executor for ``AsyncIOScheduler``),
    so ``before_delete(day)`` is called from that thread. ``compact_opts`` go to
    ``run_compaction`` (``on_outcome``) and ``query.compact.compact`` (``params``,
    ``derived``...).
    """
    kwargs = {"keep_days": keep_days, "before_delete": before_delete, **compact_opts}
    extra = {"next_run_time": datetime.now(UTC)} if catch_up else {}
    return scheduler.add_job(
        run_compaction, nightly_trigger(hour, minute), args=[str(data_dir)], kwargs=kwargs,
        id=job_id, name="ticktape nightly compaction", replace_existing=True,
        max_instances=1, coalesce=True, misfire_grace_time=None, **extra)


def run_standalone(data_dir: str | os.PathLike[str], **opts: Any) -> None:
    """Block, compacting nightly (and at once, to catch up) until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=UTC)
    job = add_nightly_job(scheduler, data_dir, **opts)
    log.info("nightly compaction of %s scheduled: %s", data_dir, job.trigger)

    def stop(signum: int, frame: Any) -> None:
        # A run in progress still finishes: the interpreter joins the pool threads at exit.
        scheduler.shutdown(wait=False)

    old = signal.signal(signal.SIGTERM, stop)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
    finally:
        signal.signal(signal.SIGTERM, old)


# ---------------------------------------------------------------------------- in the recorder daemon

START_AFTER_S = 60.0  # start anyway when no record arrives (the catch-up may then find nothing)


class NightlyHook:
    """The nightly compaction inside ``recorder run``: a recorder hook (``[compaction]``).

    The daemon builds it through the ``compaction`` entry point of
    ``ticktape.recorder_hooks`` (``recorder_hook``) and drives it as its ``Hook`` port
    says (``recorder.daemon.ports``): ``ready`` once the journal holds a record of this
    run (so the catch-up run sees today's day begun; a daemon down over midnight makes
    up the night at once) or after ``START_AFTER_S``; ``start`` on a worker thread puts
    the job on an APScheduler ``BackgroundScheduler`` with one worker; ``stop`` lets a run
    in progress finish on its own thread. Each run's outcome is logged and counted
    (``ticktape_compaction_runs_total{result}``), never raised: the job never touches
    the receive loop. Before a journal day is deleted the writer releases its segment.
    """

    name = "compaction"

    def __init__(self, context: Any) -> None:
        self.ctx = context
        self.cfg = context.settings
        self.log = context.log
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
        self._first_seq = context.journal.committed_seq

    # -- the hook's lifecycle -------------------------------------------------------------

    def ready(self) -> bool:
        return (self.ctx.journal.committed_seq > self._first_seq
                or time.monotonic() - self._created >= START_AFTER_S)

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        c = self.cfg
        sched = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(1)})
        job = add_nightly_job(sched, self.ctx.data_dir, hour=c.hour, minute=c.minute,
                              catch_up=c.catch_up, keep_days=c.keep_days,
                              before_delete=self.ctx.release_segment, derived=c.derived,
                              on_outcome=self._outcome,
                              archive=c.archive or None)  # "" = DATA/archive
        sched.add_listener(self._on_error, EVENT_JOB_ERROR)
        sched.start()
        with self._lock:
            if self._stopped:  # the daemon stopped while this thread was starting it
                sched.shutdown(wait=False)
                return
            self.scheduler = sched
        self._info("compaction_scheduled", at=f"{c.hour:02d}:{c.minute:02d} UTC",
                   catch_up=c.catch_up, keep_days=c.keep_days, next_run=str(job.next_run_time))

    def tick(self) -> None:
        pass

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sched, self.scheduler = self.scheduler, None
        if sched is not None:
            sched.shutdown(wait=False)

    def close(self) -> None:
        pass

    def samples(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        st = self.stats()
        out = [("ticktape_compaction_runs", "counter", "Nightly compaction runs by result",
                {"result": r}, n) for r, n in sorted(st["runs"].items())]
        out.append(("ticktape_compaction_days", "counter", "Journal days archived by this process",
                    {}, st["days_compacted"]))
        out.append(("ticktape_compaction_last_success_timestamp_seconds", "gauge",
                    "Unix time of the last successful compaction (0: none yet)", {},
                    st["last_ok_unix"]))
        return out

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"runs": dict(self.runs), "days_compacted": self.days_compacted,
                    "days_pruned": self.days_pruned, "last_ok_unix": self.last_ok_unix,
                    "last_error": self.last_error}

    # -- the scheduler's worker thread --------------------------------------------------

    def _outcome(self, outcome: str, value: Any) -> None:
        """One run's result (``run_compaction``): logged and counted."""
        if outcome == "skipped":
            with self._lock:
                self.runs["skipped"] += 1
            self.log.warning("compaction_skipped", extra={"fields": {"reason": str(value)}})
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
            self._info("compaction", compacted=res.compacted, records=res.records,
                       pruned=res.pruned, already=len(res.already))

    def _failed(self, exc: BaseException) -> None:
        err = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.runs["error"] += 1
            self.last_error = err
        self.log.error("compaction_failed", extra={"fields": {"error": err}})

    def _on_error(self, event: Any) -> None:
        """Anything escaping the job (it should not) is still counted, never raised."""
        self._failed(event.exception)

    def _info(self, event: str, **kw: Any) -> None:
        self.log.info(event, extra={"fields": kw})


def recorder_hook(context: Any) -> NightlyHook:
    """The ``compaction`` recorder hook (entry point ``ticktape.recorder_hooks``)."""
    return NightlyHook(context)
