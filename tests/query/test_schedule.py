"""The nightly job: catch-up at start, the trigger, no overlap, never raising; `query schedule`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from query import manifest
from query.compact import archive_lock
from query.schedule import JOB_ID, add_nightly_job, nightly_trigger, run_compaction
from recorder.journal.reader import JournalReader
from tests.query.conftest import CURRENT, FINISHED_SMALL

ROOT = Path(__file__).resolve().parents[2]
ALL_DAYS = [*FINISHED_SMALL, CURRENT]  # by today's clock every multi_day day is over


def wait_for(cond, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_trigger_is_daily_after_utc_midnight():
    t = nightly_trigger()
    first = t.get_next_fire_time(None, datetime(2025, 1, 1, 12, 0, tzinfo=UTC))
    assert first == datetime(2025, 1, 2, 0, 10, tzinfo=UTC)
    assert t.get_next_fire_time(first, first.replace(second=1)) == datetime(2025, 1, 3, 0, 10, tzinfo=UTC)
    assert nightly_trigger(3, 45).get_next_fire_time(None, first) == datetime(2025, 1, 2, 3, 45, tzinfo=UTC)


def test_the_clock_finishes_the_newest_day(multi_day):
    # At noon of the newest day only the older days are over; the next day they all are.
    res = run_compaction(multi_day, now_ns=int(datetime(2026, 8, 9, 12, tzinfo=UTC).timestamp()) * 10**9)
    assert res.compacted == list(FINISHED_SMALL)
    res = run_compaction(multi_day, now_ns=int(datetime(2026, 8, 10, 0, 10, tzinfo=UTC).timestamp()) * 10**9)
    assert res.compacted == [CURRENT] and res.pruned == [CURRENT]


def test_job_catches_up_at_start_in_a_background_scheduler(multi_day):
    released: list[str] = []
    sched = BackgroundScheduler(timezone=UTC)
    job = add_nightly_job(sched, multi_day, keep_days=1, before_delete=released.append)
    assert job.id == JOB_ID and job.max_instances == 1 and job.coalesce
    sched.start()
    try:
        assert wait_for(lambda: manifest.days(manifest.load(multi_day)) == ALL_DAYS)
        assert wait_for(lambda: released == ALL_DAYS[:-1])  # the prune ran in the job
        nxt = sched.get_job(JOB_ID).next_run_time
        assert (nxt.hour, nxt.minute, nxt.second) == (0, 10, 0) and nxt > datetime.now(UTC)
    finally:
        sched.shutdown(wait=True)
    with JournalReader(multi_day) as r:
        assert [s.day for s in r.segments()] == [CURRENT]
    # Added again (a daemon restart): replaced, not duplicated.
    sched = BackgroundScheduler(timezone=UTC)
    add_nightly_job(sched, multi_day, catch_up=False)
    add_nightly_job(sched, multi_day, catch_up=False, hour=1)
    sched.start(paused=True)  # pending jobs are added (and replaced) at start
    try:
        jobs = sched.get_jobs()
        assert len(jobs) == 1 and jobs[0].next_run_time.hour == 1
    finally:
        sched.shutdown()


def test_a_busy_archive_is_skipped_without_waiting(multi_day):
    held = threading.Event()
    release = threading.Event()

    def hold():
        with archive_lock(multi_day):
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    heard = []
    try:
        assert held.wait(10)
        assert run_compaction(multi_day, on_outcome=lambda *o: heard.append(o)) is None
        assert not (multi_day / "archive" / "manifest.json").exists()
    finally:
        release.set()
        t.join()
    res = run_compaction(multi_day, on_outcome=lambda *o: heard.append(o))
    assert res.compacted == ALL_DAYS
    assert [o for o, _ in heard] == ["skipped", "ok"] and heard[1][1] is res


def test_a_failing_run_is_logged_not_raised(multi_day, caplog):
    (multi_day / "archive").mkdir()
    (multi_day / "archive" / "manifest.json").write_text("{not json")
    heard = []
    assert run_compaction(multi_day, on_outcome=lambda *o: heard.append(o)) is None
    assert "failed" in caplog.text and "not JSON" in caplog.text
    assert [o for o, _ in heard] == ["error"] and "not JSON" in str(heard[0][1])


def test_query_schedule_catches_up_and_stops_on_sigterm(multi_day):
    p = subprocess.Popen([sys.executable, "-m", "query.cli", "schedule", "--data", str(multi_day),
                          "--at", "00:30", "--keep-days", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert wait_for(lambda: manifest.days(manifest.load(multi_day)) == ALL_DAYS
                        or p.poll() is not None), "no catch-up run"
        assert p.poll() is None, p.stderr.read()
        assert wait_for(lambda: _journal_days(multi_day) == ALL_DAYS[-2:])
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "00:30 UTC" in out and "catching up" in out
    assert "compacted" in err  # the job's log line
    # The archive it left is complete and consistent.
    m = manifest.load(multi_day)
    assert json.loads(json.dumps(m))["days"][CURRENT]["records"] > 0


def _journal_days(data: Path) -> list[str]:
    try:
        with JournalReader(data) as r:
            return [s.day for s in r.segments()]
    except Exception:
        return []
