"""Crash recovery, journaled: the run marker and the ``recovered`` mark.

    marker = RunMarker(data_dir, config_hash=h, log=log)
    previous = marker.claim()          # once the journal's writer lock is ours
    if previous is not None:           # the last daemon died without stopping in order
        journal_recovery(journal, previous, last_seq=..., projection=proj, reprojected=n, log=log)
    ...
    marker.release()                   # stopped in order: the next start is no recovery

While it runs, the daemon keeps ``DATA/recorder.running`` (its pid, start time and config
hash), written once the journal's writer lock is its own and removed when ``run`` has
stopped in order (also after a journal failure). A daemon that finds the file at start
knows the previous one died without stopping (SIGKILL, power loss, a crash): after
restoring state it journals, as its first record, a ``mark`` ``{"mark": "recovered",
"last_committed_seq": ..., "checkpoint_seq": ..., "reprojected": ..., "previous": {...}}``
(the journal's last seq when it opened, the checkpoint the projection restored, null for
none, and how many records it re-projected after it) on a stream of its own (venue
``recorder``, conn ``recorder``), and logs ``recovered``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from .logs import fields
from .ports import Journal
from .projection import LiveProjection

RUN_MARKER = "recorder.running"  # DATA/recorder.running while a daemon runs (module docstring)


class RunMarker:
    """``DATA/recorder.running`` of one daemon run; see the module docstring."""

    def __init__(self, data_dir: str | Path, *, config_hash: str, log: logging.Logger) -> None:
        self.path = Path(data_dir) / RUN_MARKER
        self.config_hash = config_hash
        self.log = log
        self.held = False  # ours, once written

    def claim(self) -> dict[str, Any] | None:
        """Write our run marker (the writer lock is ours); the previous run's if it left one.

        A marker left behind means its daemon died without stopping in order. None: the
        previous run stopped cleanly, or there was none.
        """
        path = self.path
        previous: dict[str, Any] | None = None
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(previous, dict):
                previous = {"unreadable": repr(previous)[:200]}
        except FileNotFoundError:
            previous = None
        except (OSError, ValueError) as exc:
            previous = {"unreadable": str(exc)[:200]}
        tmp = path.with_name(f".{RUN_MARKER}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"pid": os.getpid(), "started_ns": time.time_ns(),
                                       "config_hash": self.config_hash}), encoding="utf-8")
            os.replace(tmp, path)
            self.held = True
        except OSError as exc:  # the journal still works; only crash detection is lost
            self.log.warning("run_marker_failed", extra=fields(path=str(path), error=str(exc)))
        return previous

    def release(self) -> None:
        """Remove our marker (a run that stopped in order); nothing when it is not ours."""
        if self.held:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.held = False


def journal_recovery(journal: Journal, previous: dict[str, Any], *, last_seq: int,
                     projection: LiveProjection | None, reprojected: int,
                     log: logging.Logger) -> None:
    """The ``recovered`` mark: what the journal held and how the state was rebuilt."""
    proj = projection
    info = {"last_committed_seq": last_seq,
            "checkpoint_seq": (proj.checkpoint_seq or None) if proj is not None else None,
            "reprojected": reprojected if proj is not None else None,
            "previous": previous}
    sid = journal.register("recorder", url="", conn="recorder", channels=())
    journal.mark(sid, "recovered", **info)
    log.warning("recovered", extra=fields(stream=sid, **info))
