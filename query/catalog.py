"""DuckDB over the archive (and the hot journal): one view per table.

    con = query.catalog.connect("data")          # hot=True: up to the last record
    con.sql("SELECT venue, count(*) FROM trades GROUP BY 1").show()
    con.sql("SELECT * FROM quotes").arrow()       # Arrow / .df() pandas / .pl() polars

Views: ``raw``, ``trades``, ``quotes``, ``book_levels``, ``klines``, ``features``,
``gaps``, ``anomalies``, ``streams``, and the Upbit listings the recorder detected with
their capture windows, ``listings`` and ``listing_windows`` (``query.listings``). Every table view has ``ts`` (a UTC ``TIMESTAMP``
of ``ts_ns`` at µs precision, for time_bucket and ASOF joins) and ``date``. ``raw``
also has ``text`` (the payload as UTF-8 text, NULL when binary) and ``meta`` as JSON
text. Archived files are read only as the manifest lists them, so a day being
compacted is invisible until it is committed; hot rows start after the archive's
last seq, so a day kept in the journal after compaction is not counted twice.
See ``query/examples.sql`` for worked queries.

The archive root is ``DATA/archive`` or ``connect(..., archive=URL)`` (``s3://bucket/prefix``,
read through DuckDB's httpfs: ``query.store``). A root holding shards (``ROOT/shard=NAME/``,
each with its own manifest) gives one view per table over all of them, with a ``shard``
column (``''`` for an unsharded archive at the root); ``streams`` too. Without a named
shard anywhere the views have no ``shard`` column, as before shards existed.

These views are the only objects in the database: ``SHOW TABLES`` and
``information_schema.tables`` list exactly ``VIEWS``. What is not archived (the hot
journal rows, the streams table, an empty table's schema) is written as Parquet into a
private scratch directory (``ticktape-query-*`` under the system temp directory) and read
with ``read_parquet`` like the archive, rather than registered as a DuckDB object a user
would see beside the views; the directory is deleted when the connection is garbage
collected (a relation made from it keeps it alive) or the process exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recorder.journal import NotAJournalError, StreamInfo
from recorder.journal.reader import JournalReader

from . import manifest as _manifest
from .archive import RAW_SCHEMA, check_disjoint_streams, read_streams, streams_table
from .derive import BY_VENUE, SCHEMAS, TABLES, DeriveParams
from .errors import QueryUsageError
from .hot import hot_tables
from .listings import LISTINGS_SCHEMA, WINDOW_SCHEMA, listings_table, windows_table
from .store import ArchiveStore, data_shard, root_store

ALL_TABLES = ("raw", *TABLES)
VIEWS = (*ALL_TABLES, "streams", "listings", "listing_windows")


def schema_of(table: str) -> pa.Schema:
    return RAW_SCHEMA if table == "raw" else SCHEMAS[table]


def _columns(table: str, sharded: bool = False) -> list[str]:
    cols = [f.name for f in schema_of(table)]
    if table == "raw":
        cols = [("meta::JSON AS meta" if c == "meta" else c) for c in cols]
        cols.append("try(decode(payload)) AS text")
    return [*cols, "make_timestamp(ts_ns // 1000) AS ts", "date", *(["shard"] if sharded else [])]


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_list(paths: Iterable[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def all_streams(data_dir: str | os.PathLike[str] | None,
                archive: str | os.PathLike[str] | ArchiveStore | None = None) -> dict[int, StreamInfo]:
    """Streams of the archive (every shard of it) and of the journal's catalog (the journal wins on an id)."""
    return {i: info for by_id in _streams_by_shard(data_dir, archive).values() for i, info in by_id.items()}


def _streams_by_shard(data_dir: str | os.PathLike[str] | None,
                      archive: str | os.PathLike[str] | ArchiveStore | None,
                      shards: Iterable[str] | None = None) -> dict[str, dict[int, StreamInfo]]:
    """Streams by shard name; ``shards``: the root's shards when already listed."""
    root = root_store(data_dir or ".", archive) if data_dir is not None or archive is not None else None
    out: dict[str, dict[int, StreamInfo]] = {}
    if root is not None:
        for shard in root.shards() if shards is None else shards:
            out[shard] = read_streams(root.shard(shard))
    if data_dir is not None:
        try:
            with JournalReader(data_dir) as r:
                out.setdefault(r.shard, {}).update(r.streams())
        except NotAJournalError:
            pass
    return out


def connect(data_dir: str | os.PathLike[str] | None, hot: bool = True, *,
            tables: Iterable[str] | None = None, params: DeriveParams | None = None,
            database: str = ":memory:",
            archive: str | os.PathLike[str] | ArchiveStore | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views registered (see the module docstring).

    ``hot`` adds the journal records not yet archived (derived in memory: costs one
    projection pass over them). ``tables`` limits which hot tables are built; views of
    the others then show the archive only. ``archive``: the archive root when it is not
    ``DATA/archive`` (``s3://bucket/prefix`` or a directory); ``data_dir`` may then be
    None (the archive alone: no hot rows, no listings).
    """
    if data_dir is None and archive is None:
        raise QueryUsageError("connect needs a data directory or an archive")
    con = duckdb.connect(database)
    scratch = Path(tempfile.mkdtemp(prefix="ticktape-query-"))
    weakref.finalize(con, shutil.rmtree, scratch, True)
    try:
        _create_views(con, data_dir, scratch, hot=hot, tables=tables, params=params, archive=archive)
    except BaseException:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return con


def _scratch_scan(scratch: Path, name: str, table: pa.Table) -> str:
    """``table`` written to ``scratch`` as Parquet; the SQL that reads it back."""
    path = scratch / f"{name}.parquet"
    pq.write_table(table, path)
    return f"SELECT * FROM read_parquet({_sql_list([str(path)])}, hive_partitioning = false)"


def _create_views(con: duckdb.DuckDBPyConnection, data_dir: str | os.PathLike[str] | None,
                  scratch: Path, *, hot: bool, tables: Iterable[str] | None,
                  params: DeriveParams | None,
                  archive: str | os.PathLike[str] | ArchiveStore | None = None) -> None:
    root = root_store(data_dir or ".", archive)
    root.attach(con)
    names = root.shards()
    if not names and archive is not None:
        root.check_read()  # an empty archive is fine, a missing bucket is said
    shards = {s: _manifest.load(root.shard(s)) for s in names}
    hot_shard = data_shard(data_dir) if data_dir is not None else ""
    hot_t = hot_tables(data_dir, tables=tables, params=params, store=root.shard(hot_shard),
                       manifest=shards.get(hot_shard)) if hot and data_dir is not None else {}
    # One table per name over every shard: a shard column once any shard has a name.
    sharded = any(shards) or bool(hot_shard)
    for t in ALL_TABLES:
        parts = []
        for shard, m in shards.items():
            store = root.shard(shard)
            files = [store.uri(p) for p in _manifest.table_files(m, t)]
            if not files:
                continue
            hive = "{'date': DATE, 'venue': VARCHAR}" if t in BY_VENUE else "{'date': DATE}"
            # A named shard's path has shard=NAME, which hive partitioning reads (typed
            # by guess): replaced by the name as text.
            cols = "* EXCLUDE (shard)" if shard else "*"
            tag = f", {_sql_text(shard)} AS shard" if sharded else ""
            parts.append(f"SELECT {cols}{tag} FROM read_parquet({_sql_list(files)}, hive_partitioning = true, "
                         f"hive_types = {hive})")
        h = hot_t.pop(t, None)  # dropped once written: the Parquet copy is what is read
        if h is not None and h.num_rows:
            if sharded:
                h = h.append_column("shard", pa.array([hot_shard] * h.num_rows, pa.string()))
            parts.append(_scratch_scan(scratch, f"hot_{t}", h))
        if not parts:  # the table's columns and no rows
            empty = schema_of(t).empty_table()
            empty = empty.append_column("date", pa.array([], pa.date32()))
            if sharded:
                empty = empty.append_column("shard", pa.array([], pa.string()))
            parts.append(_scratch_scan(scratch, f"empty_{t}", empty))
        body = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        con.execute(f"CREATE VIEW {t} AS SELECT {', '.join(_columns(t, sharded))} FROM ({body})")
    by_shard = _streams_by_shard(data_dir, root, names)
    check_disjoint_streams(by_shard)
    if sharded:
        parts_s = [streams_table(v).append_column("shard", pa.array([k] * len(v), pa.string()))
                   for k, v in sorted(by_shard.items())]
        stable = pa.concat_tables(parts_s) if parts_s else streams_table({}).append_column(
            "shard", pa.array([], pa.string()))
        stable = stable.take(pc.sort_indices(stable, [("id", "ascending")]))
    else:
        stable = streams_table({i: v for by_id in by_shard.values() for i, v in by_id.items()})
    con.execute(f"CREATE VIEW streams AS {_scratch_scan(scratch, 'streams', stable)}")
    has_data = data_dir is not None and Path(data_dir).is_dir()
    listings = listings_table(data_dir) if has_data else LISTINGS_SCHEMA.empty_table()  # type: ignore[arg-type]
    con.execute(f"CREATE VIEW listings AS {_scratch_scan(scratch, 'listings', listings)}")
    windows = windows_table(data_dir) if has_data else WINDOW_SCHEMA.empty_table()  # type: ignore[arg-type]
    con.execute(f"CREATE VIEW listing_windows AS {_scratch_scan(scratch, 'listing_windows', windows)}")


EXAMPLES = os.path.join(os.path.dirname(__file__), "examples.sql")


def examples() -> dict[str, list[str]]:
    """The worked queries of ``examples.sql``: name -> its statements, in order."""
    out: dict[str, list[str]] = {}
    name = ""
    stmt: list[str] = []
    with open(EXAMPLES, encoding="utf-8") as f:
        for line in f:
            if line.startswith("-- name:"):
                name = line.split(":", 1)[1].strip()
                out[name] = []
                continue
            if line.startswith("--") or (not line.strip() and not stmt):
                continue
            stmt.append(line.rstrip())
            if line.rstrip().endswith(";") and name:
                out[name].append("\n".join(stmt))
                stmt = []
    return out


def to_arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation's whole result as an Arrow table (DuckDB 1.x and 2.x spell it differently)."""
    if hasattr(rel, "to_arrow_table"):
        return rel.to_arrow_table()
    got = rel.arrow()
    return got.read_all() if isinstance(got, pa.RecordBatchReader) else got
