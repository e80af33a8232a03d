"""Regenerate derived tables from the archived raw records with the current projection code.

    rebuild(data_dir, tables=["trades"], from_day="2025-01-01", to_day="2025-01-31")

The projection state entering ``from_day`` comes from the previous day's checkpoint
when the current code made it (same ``projection_version``), otherwise from
re-projecting every archived record before ``from_day``. Each rebuilt day gets new
files for the chosen tables and a new checkpoint, published like compaction
(staged, renamed, then the manifest); raw files are never touched. Days after
``to_day`` keep their tables: rebuild through the last day to make them consistent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import islice

from recorder.journal.segments import day_bounds

from . import manifest as _manifest
from .archive import ArchiveError, read_records
from .catalog import all_streams
from .compact import CHUNK, TAKE_EVERY, _publish, _TableSink, archive_lock, start_deriver
from .derive import TABLES, DeriveParams, Deriver, projection_version
from .errors import UnknownTableError
from .layout import CHECKPOINTS, STAGING, archive_root, checkpoint_path, fsync_file
from .store import as_store


@dataclass
class RebuildResult:
    days: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    replayed_days: int = 0  # days projected only to reach from_day's state


def rebuild(data_dir: str | os.PathLike[str], tables: Iterable[str] | None = None, *,
            from_day: str | None = None, to_day: str | None = None,
            params: DeriveParams | None = None) -> RebuildResult:
    """Rewrite ``tables`` (default: every derived table) for archived days in ``[from_day, to_day]``."""
    chosen = list(TABLES) if tables is None else list(dict.fromkeys(tables))
    unknown = set(chosen) - set(TABLES)
    if unknown:
        raise UnknownTableError(unknown, TABLES)
    params = params or DeriveParams()
    version = projection_version(params)
    out = RebuildResult(tables=chosen, rows={t: 0 for t in chosen})
    root = archive_root(data_dir)
    store = as_store(data_dir)
    with archive_lock(data_dir):
        m = _manifest.load(store)
        days = [d for d in _manifest.days(m)
                if (from_day is None or d >= from_day) and (to_day is None or d <= to_day)]
        if not days:
            span = f" from {from_day}" if from_day else ""
            span += f" to {to_day}" if to_day else ""
            raise ArchiveError(f"no archived days{span} in {store.url}")
        streams = all_streams(data_dir)
        before = [d for d in _manifest.days(m) if d < days[0]]
        prev = m["days"][before[-1]] if before else None
        if prev is not None and not ((prev.get("projection") or {}).get("version") == version
                                     and prev.get("checkpoint")):
            out.replayed_days = len(before)
        deriver = start_deriver(store, m, days[0], streams, params, version)
        for day in days:
            e = m["days"][day]
            stage = root / STAGING / day
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            name = e["tables"]["raw"]["files"][0]["path"].rsplit("/", 1)[1]
            sinks = {t: _TableSink(stage, t, day, name) for t in chosen}
            n = taken = 0
            records = read_records(store, e["first_seq"], e["last_seq"])
            # The same batches and drain points as compaction: the same files, to the byte.
            while chunk := list(islice(records, CHUNK)):
                deriver.apply_many(chunk)
                n += len(chunk)
                taken += len(chunk)
                if taken >= TAKE_EVERY:
                    taken = 0
                    _drain(deriver, sinks)
            if n != e["records"]:
                raise ArchiveError(f"{day}: {n} archived records, the manifest says {e['records']}")
            deriver.advance(day_bounds(day)[1])
            _drain(deriver, sinks)
            for t, sink in sinks.items():
                e["tables"][t] = {**sink.close(), "version": version}
                out.rows[t] += e["tables"][t]["rows"]
            ck = checkpoint_path(day)
            (stage / ck).parent.mkdir(parents=True, exist_ok=True)
            (stage / ck).write_bytes(deriver.snapshot())
            fsync_file(stage / ck)
            e["checkpoint"] = _manifest.file_entry(stage, ck)
            if len(chosen) == len(TABLES):
                e["projection"] = {"version": version, **asdict(params)}
            else:
                # The checkpoint is current, the untouched tables may not be: keep them findable.
                e["projection"] = {"version": version, **asdict(params),
                                   "partial": sorted(chosen)}
            _publish(data_dir, store, day, e, m, streams, only=(*chosen, CHECKPOINTS))
            out.days.append(day)
        shutil.rmtree(root / STAGING, ignore_errors=True)
    return out


def _drain(deriver: Deriver, sinks: dict[str, _TableSink]) -> None:
    for t, tab in deriver.take().items():
        if t in sinks:
            sinks[t].add(tab)


__all__ = ["RebuildResult", "rebuild"]
