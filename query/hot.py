"""The not-yet-archived journal as in-memory Arrow tables, shaped like the archive.

Records after the archive's last seq are read through ``JournalReader``; derived
tables come from the same ``Deriver`` the compactor uses, started from the last
archived day's checkpoint, so ``archive + hot`` equals one continuous projection up
to the newest committed record. Sampled rows (book_levels, features, klines) exist
up to the last boundary passed: the current second's sample and the current
minute's bar appear once a later record closes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recorder.journal import NotAJournalError, Record
from recorder.journal.reader import JournalReader

from . import manifest as _manifest
from .archive import RAW_SCHEMA, add_to_columns, columns_table, read_streams
from .compact import start_deriver
from .derive import SCHEMAS, TABLES, DeriveParams, projection_version
from .store import ArchiveStore, as_store

CHUNK = 65_536


def with_date(t: pa.Table) -> pa.Table:
    """Add the ``date`` column the archive has as a hive partition (UTC day of ``ts_ns``)."""
    ts = pc.cast(t.column("ts_ns"), pa.timestamp("ns", tz="UTC"))
    return t.append_column("date", pc.cast(ts, pa.date32()))


def raw_table(records: Iterable[Record]) -> pa.Table:
    """Records as a table of the raw schema."""
    cols: tuple[list, ...] = ([], [], [], [], [], [])
    for rec in records:
        add_to_columns(cols, rec)
    return columns_table(cols)


def hot_tables(data_dir: str | os.PathLike[str], *, tables: Iterable[str] | None = None,
               params: DeriveParams | None = None, store: ArchiveStore | None = None,
               manifest: dict[str, Any] | None = None) -> dict[str, pa.Table]:
    """Tables (raw and derived, each with ``date``) of the journal records not archived.

    ``tables`` limits what is built (derived tables need a projection pass; raw does
    not). ``store``: where this journal's days are archived (default: its data
    directory's own archive, ``query.store.as_store``); ``manifest``: its manifest when the
    caller has read it already. Returns {} when there is no journal.
    """
    want = set(tables) if tables is not None else {"raw", *TABLES}
    if not want & {"raw", *TABLES}:
        return {}  # nothing asked for: do not read the journal at all
    params = params or DeriveParams()
    store = store if store is not None else as_store(data_dir)
    m = manifest if manifest is not None else _manifest.load(store)
    days = _manifest.days(m)
    start = m["days"][days[-1]]["last_seq"] + 1 if days else 1
    try:
        reader = JournalReader(data_dir)
    except NotAJournalError:
        return {}
    out: dict[str, pa.Table] = {}
    with reader:
        derived = want & set(TABLES)
        deriver = None
        if derived:
            streams = {**read_streams(store), **reader.streams()}
            deriver = start_deriver(store, m, "9999-12-31", streams, params,
                                    projection_version(params))
        raw_parts: list[pa.Table] = []
        parts: dict[str, list[pa.Table]] = {t: [] for t in derived}
        batch: list[Record] = []

        def flush() -> None:
            if "raw" in want:
                raw_parts.append(raw_table(batch))
            if deriver is not None:
                deriver.apply_many(batch)
                for t, tab in deriver.take().items():
                    if t in parts:
                        parts[t].append(tab)
            batch.clear()

        for rec in reader.read(start):
            batch.append(rec)
            if len(batch) >= CHUNK:
                flush()
        flush()
    if "raw" in want:
        out["raw"] = with_date(pa.concat_tables(raw_parts) if raw_parts else RAW_SCHEMA.empty_table())
    for t in derived:
        out[t] = with_date(pa.concat_tables(parts[t]) if parts[t] else SCHEMAS[t].empty_table())
    return out
