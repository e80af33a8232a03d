"""ticktape's archive: nightly compaction to Parquet, DuckDB SQL, InfluxDB export.

The Python entry points (imported lazily, so ``import query.archive`` stays light):

    import query
    con = query.connect("data")            # DuckDB connection, views registered (hot=True)
    con.sql("SELECT venue, count(*) FROM trades GROUP BY 1").show()
    tbl = query.to_arrow(con.sql("SELECT * FROM klines"))   # or .df() / .pl()

    query.compact("data", keep_days=0)     # archive finished days, verify, prune
    query.rebuild("data", ["trades"])      # derived tables again, from raw
    query.read_records("data", from_seq)   # archived records in seq order (replay)

    query.compact("data", archive="s3://bucket/desk")        # the archive in a bucket
    con = query.connect(None, archive="s3://bucket/desk")    # its views (every shard)
    store = query.open_store("s3://bucket/desk")             # the store seam (query.store)

    sink = query.InfluxSink(url, token, org, "ticktape_raw", bars_bucket="ticktape_1m")
    query.add_nightly_job(scheduler, "data")   # inside a daemon's APScheduler

Everything it raises on purpose is a ``query.QueryError`` (the tree: ``query.errors``).

The command line is ``query`` (``query.cli``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "connect": "catalog", "to_arrow": "catalog", "VIEWS": "catalog", "examples": "catalog",
    "compact": "compact", "CompactResult": "compact", "CompactionBusy": "compact",
    "rebuild": "rebuild", "RebuildResult": "rebuild",
    "read_records": "archive", "archived_range": "archive", "archived_days": "archive",
    "ArchiveError": "archive",
    "DeriveParams": "derive",
    "open_store": "store", "ArchiveStore": "store",
    "InfluxSink": "influx", "export_influx": "influx",
    "add_nightly_job": "schedule", "run_compaction": "schedule",
    "QueryError": "errors", "QueryUsageError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'query' has no attribute {name!r}")
    attr = "export" if name == "export_influx" else name
    value = getattr(import_module(f".{mod}", __name__), attr)
    globals()[name] = value
    return value
