"""The nightly compaction job, for APScheduler (3.x): standalone or inside the daemon.

    # in the daemon, on its own scheduler:
    from query.schedule import add_nightly_job
    add_nightly_job(scheduler, "data", hour=0, minute=10, keep_days=0,
                    before_delete=writer.release_segment)

    # standalone: `query schedule --data DIR` (a BlockingScheduler)

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
