"""Retention by age for a journal kept for hours (a tier): its oldest segments go whole.

A tier journal (``JournalWriter(span="hour")``) holds what is worth keeping only if
something happens (the listing watcher's "not yet on Upbit" universe). ``expire`` deletes
its segments that ended before a cutoff, oldest first, and stops at the first it keeps,
so the journal stays one gapless run: it keeps a segment that overlaps a window someone
still needs (``keep``: a listing's capture window not yet copied out) and everything
after it, and it never deletes the newest segment (the writer's).

The order is compaction's (``query.prune``): the catalog's ``seq_floor`` is raised to the
segment's last seq, durably, before its directory is renamed away and removed; a crash in
between leaves a floor above a segment still present, which the next ``expire`` deletes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from .reader import JournalReader, SegmentInfo
from .segments import forget_env, journal_root, segment_bounds, set_seq_floor

Window = tuple[int, int]  # [start_ns, end_ns)


def fsync_dir(path: Path) -> None:
    """Make a rename or a delete inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_segment(path: Path) -> None:
    """Remove one segment directory: renamed first (atomic), so a reader sees it whole or
    not at all; a crash after the rename leaves a ``.pruned-*`` directory to finish."""
    forget_env(path)
    gone = path.with_name(f".pruned-{path.name}")
    shutil.rmtree(gone, ignore_errors=True)
    os.rename(path, gone)
    fsync_dir(path.parent)
    shutil.rmtree(gone)


def remove_leftovers(data_dir: str | os.PathLike[str]) -> None:
    """Finish deletes a crash interrupted (``journal/.pruned-*`` directories)."""
    root = journal_root(data_dir)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(".pruned-"):
            shutil.rmtree(root / name, ignore_errors=True)


def _overlaps(bounds: Window, windows: list[Window]) -> bool:
    start, end = bounds
    return any(w_start < end and start < w_end for w_start, w_end in windows)


def expire(data_dir: str | os.PathLike[str], *, before_ns: int, keep: Iterable[Window] = (),
           before_delete: Callable[[str], None] | None = None) -> list[str]:
    """Delete the segments that ended at or before ``before_ns``, oldest first, stopping at
    the first that overlaps a ``keep`` window; returns the names deleted.

    ``before_delete(name)`` lets a writer in this process close the segment first
    (``JournalWriter.release_segment``). Raises ``NotAJournalError`` for a directory that
    holds no journal.
    """
    windows = list(keep)
    remove_leftovers(data_dir)
    deleted: list[str] = []
    with JournalReader(data_dir) as reader:
        segs = reader.segments()
        for seg in segs[:-1]:  # the newest is the writer's
            bounds = segment_bounds(seg.day)
            if bounds[1] > before_ns or _overlaps(bounds, windows):
                break  # keep the journal one run: nothing after a kept segment goes
            drop_oldest(data_dir, reader, seg, seg.last_seq if seg.records else 0, before_delete)
            deleted.append(seg.day)
    return deleted


def drop_oldest(data_dir: str | os.PathLike[str], reader: JournalReader, seg: SegmentInfo,
                floor: int, before_delete: Callable[[str], None] | None) -> None:
    """Delete the journal's oldest segment ``seg``: the floor raised to ``floor`` first
    (durably; 0 leaves it), then the writer (``before_delete``) and ``reader`` let go of it,
    then its directory goes (``delete_segment``)."""
    if floor:
        set_seq_floor(data_dir, floor)
    if before_delete is not None:
        before_delete(seg.day)
    reader.drop_segment(seg.day)
    delete_segment(seg.path)
