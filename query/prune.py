"""Remove archived days from the journal, keeping seq gapless (``seq_floor``).

The catalog's ``meta["seq_floor"]`` is the last seq no longer in the journal; the
writer continues from it and ``recorder verify`` expects the journal to start at
``seq_floor + 1``. So a day is pruned oldest first, and the floor is raised to the
day's last seq (durably) *before* the day's directory goes away. A crash between
the two leaves a floor above a day still present; the next run finishes the delete.
The catalog is owned by ``recorder.journal``, which provides ``set_seq_floor``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from recorder.journal.reader import JournalReader
from recorder.journal.retention import drop_oldest, remove_leftovers

from .errors import PruneError, SettingsError


def prune(data_dir: str | os.PathLike[str], archived: dict[str, dict], *, keep_days: int = 0,
          before_delete: Callable[[str], None] | None = None) -> list[str]:
    """Delete journal days that are archived, oldest first, keeping the newest ``keep_days`` of them.

    ``archived`` maps day -> manifest entry (first_seq, last_seq, records). A day is
    deleted only if its segment holds exactly that range and every older journal day
    is deleted too (the journal stays one gapless run). ``before_delete(day)`` lets an
    in-process writer close the segment first (``JournalWriter.release_segment``).
    Returns the days deleted; raises ``PruneError`` on a mismatch.
    """
    if keep_days < 0:
        raise SettingsError("keep_days", "must be >= 0")
    remove_leftovers(data_dir)
    with JournalReader(data_dir) as reader:
        segs = reader.segments()
        journal_days = [s.day for s in segs]
        in_archive = [d for d in journal_days if d in archived]
        doomed = set(in_archive[:max(len(in_archive) - keep_days, 0)])
        deleted = []
        for seg in segs:
            if seg.day not in doomed:
                break  # keep the journal one run: never delete past a kept day
            entry = archived[seg.day]
            if seg.records and (seg.first_seq, seg.last_seq, seg.records) != (
                    entry["first_seq"], entry["last_seq"], entry["records"]):
                raise PruneError(
                    f"journal day {seg.day} holds seq {seg.first_seq}..{seg.last_seq} "
                    f"({seg.records} records) but the archive has {entry['first_seq']}.."
                    f"{entry['last_seq']} ({entry['records']}): not deleting it")
            drop_oldest(data_dir, reader, seg, entry["last_seq"], before_delete)
            deleted.append(seg.day)
    return deleted

