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
import pyarrow.parquet as pq

from recorder.journal import NotAJournalError, StreamInfo
from recorder.journal.reader import JournalReader

from . import manifest as _manifest
from .archive import RAW_SCHEMA, read_streams, streams_table
from .derive import BY_VENUE, SCHEMAS, TABLES, DeriveParams
from .hot import hot_tables
from .layout import archive_root
from .listings import listings_table, windows_table

ALL_TABLES = ("raw", *TABLES)
VIEWS = (*ALL_TABLES, "streams", "listings", "listing_windows")


def schema_of(table: str) -> pa.Schema:
    return RAW_SCHEMA if table == "raw" else SCHEMAS[table]


def _columns(table: str) -> list[str]:
    cols = [f.name for f in schema_of(table)]
    if table == "raw":
        cols = [("meta::JSON AS meta" if c == "meta" else c) for c in cols]
        cols.append("try(decode(payload)) AS text")
    return [*cols, "make_timestamp(ts_ns // 1000) AS ts", "date"]


def _sql_list(paths: Iterable[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def all_streams(data_dir: str | os.PathLike[str]) -> dict[int, StreamInfo]:
    """Streams of the archive and of the journal's catalog (the journal wins on an id)."""
    out = read_streams(data_dir)
    try:
        with JournalReader(data_dir) as r:
            out.update(r.streams())
    except NotAJournalError:
        pass
    return out


def connect(data_dir: str | os.PathLike[str], hot: bool = True, *,
            tables: Iterable[str] | None = None, params: DeriveParams | None = None,
            database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views registered (see the module docstring).

    ``hot`` adds the journal records not yet archived (derived in memory: costs one
    projection pass over them). ``tables`` limits which hot tables are built; views of
    the others then show the archive only.
    """
    con = duckdb.connect(database)
    scratch = Path(tempfile.mkdtemp(prefix="ticktape-query-"))
    weakref.finalize(con, shutil.rmtree, scratch, True)
    try:
        _create_views(con, data_dir, scratch, hot=hot, tables=tables, params=params)
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


def _create_views(con: duckdb.DuckDBPyConnection, data_dir: str | os.PathLike[str],
                  scratch: Path, *, hot: bool, tables: Iterable[str] | None,
                  params: DeriveParams | None) -> None:
    root = archive_root(data_dir)
    m = _manifest.load(data_dir)
    hot_t = hot_tables(data_dir, tables=tables, params=params) if hot else {}
    for t in ALL_TABLES:
        files = [str(root / p) for p in _manifest.table_files(m, t)]
        parts = []
        if files:
            hive = "{'date': DATE, 'venue': VARCHAR}" if t in BY_VENUE else "{'date': DATE}"
            parts.append(f"SELECT * FROM read_parquet({_sql_list(files)}, hive_partitioning = true, "
                         f"hive_types = {hive})")
        h = hot_t.pop(t, None)  # dropped once written: the Parquet copy is what is read
        if h is not None and h.num_rows:
            parts.append(_scratch_scan(scratch, f"hot_{t}", h))
        if not parts:  # the table's columns and no rows
            empty = schema_of(t).empty_table()
            empty = empty.append_column("date", pa.array([], pa.date32()))
            parts.append(_scratch_scan(scratch, f"empty_{t}", empty))
        body = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        con.execute(f"CREATE VIEW {t} AS SELECT {', '.join(_columns(t))} FROM ({body})")
    streams = _scratch_scan(scratch, "streams", streams_table(all_streams(data_dir)))
    con.execute(f"CREATE VIEW streams AS {streams}")
    listings = _scratch_scan(scratch, "listings", listings_table(data_dir))
    con.execute(f"CREATE VIEW listings AS {listings}")
    windows = _scratch_scan(scratch, "listing_windows", windows_table(data_dir))
    con.execute(f"CREATE VIEW listing_windows AS {windows}")


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
