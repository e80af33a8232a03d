"""The archive read by Spark (local mode) gives DuckDB's answers to the worked queries, from
the same files: the captures' archive, the synthetic one (a known premium and a gap), and
both as two shards of one root. Every column is read with its documented type.

One Spark session for the module (its JVM takes seconds to start)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import SparkSession

from query import spark as qspark
from query.catalog import connect, examples
from query.compact import compact
from query.derive import BY_VENUE
from query.errors import ManifestError, QueryUsageError
from query.layout import ARCHIVE_DIR
from tests.query.conftest import SYN_DAYS, USDT_KRW

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
JARS = Path(__file__).resolve().parents[2] / ".tools" / "spark-jars"  # tools/ci/spark-s3-jars.sh
REL = 1e-9  # summation order differs between the engines: floats agree to ~1e-15 relative
AFTER_ALL = 2_000_000_000 * 10**9  # a wall clock past every test day: the newest one is over too


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if shutil.which("java") is None:  # tools/ci/system-deps.sh installs a Java 17 runtime
        pytest.fail("Spark needs a Java runtime: run tools/ci/system-deps.sh", pytrace=False)
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    jars = sorted(str(p) for p in JARS.glob("*.jar"))  # s3a:// (test_spark_reads_the_archive_on_s3)
    session = (SparkSession.builder.master("local[1]").appName("ticktape-test-spark")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.default.parallelism", "1")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.local.dir", str(warehouse))
               .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={warehouse}")
               .config("spark.jars", ",".join(jars))
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _archived(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    compact(dest, keep_days=0, now_ns=AFTER_ALL)
    return dest


@pytest.fixture(scope="module")
def captures(multi_day_source, tmp_path_factory) -> Path:
    """UPBIT, BINANCE_FUTURES, OKX and BYBIT, every day archived."""
    return _archived(multi_day_source, tmp_path_factory.mktemp("spark-caps") / "data")


@pytest.fixture(scope="module")
def synthetic_archive(synthetic_source, tmp_path_factory) -> Path:
    """Both synthetic days (and the last record's) archived: the premium and the gap."""
    return _archived(synthetic_source, tmp_path_factory.mktemp("spark-syn") / "data")


@pytest.fixture(scope="module")
def two_shards(captures, synthetic_archive, tmp_path_factory) -> Path:
    """A root of two shards' archives, as compaction lays them out: ROOT/shard=NAME/."""
    root = tmp_path_factory.mktemp("spark-shards") / "archive"
    for name, data in (("caps", captures), ("syn", synthetic_archive)):
        shutil.copytree(data / ARCHIVE_DIR, root / f"shard={name}")
    return root


# --- comparing answers ---------------------------------------------------------------------


def _key(row: tuple) -> tuple:
    """Order rows by their exact values, floats to 9 significant digits (the engines' floats
    differ in the last bits)."""
    return tuple((v is None, f"{v:.9g}" if isinstance(v, float) else repr(v)) for v in row)


def assert_same_rows(got: list[tuple], want: list[tuple], what: str) -> None:
    assert len(got) == len(want), f"{what}: Spark {len(got)} rows, DuckDB {len(want)}"
    for g, w in zip(sorted(got, key=_key), sorted(want, key=_key), strict=True):
        assert len(g) == len(w), what
        for a, b in zip(g, w, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=REL), f"{what}: {g} != {w}"
            else:
                assert a == b, f"{what}: {g} != {w}"


def spark_rows(spark, sql: str) -> list[tuple]:
    return [tuple(r) for r in spark.sql(sql).collect()]


def duck_rows(con, name: str) -> list[tuple]:
    rel = None
    for stmt in examples()[name]:
        rel = con.sql(stmt)
    return rel.fetchall()


def duck_over_shards(root: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB views over every shard under ``root`` with a ``shard`` column, as the catalog
    builds them for one archive: the reference Spark's merged views are held to. (DuckDB's
    hive partitioning takes ``shard`` from a ``shard=NAME`` directory of the path.)"""
    con = duckdb.connect()
    for table in qspark.ALL_TABLES:
        parts = []
        for name, archive in qspark.shards(root).items():
            files = qspark._files(archive, qspark.load_manifest(archive), table)
            if files:
                hive = "{'date': DATE, 'venue': VARCHAR}" if table in BY_VENUE else "{'date': DATE}"
                listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
                shard = "" if name else ", '' AS shard"
                parts.append(f"SELECT *, make_timestamp(ts_ns // 1000) AS ts{shard} "
                             f"FROM read_parquet({listed}, hive_partitioning = true, hive_types = {hive})")
        if parts:
            con.execute(f"CREATE VIEW {table} AS " + " UNION ALL BY NAME ".join(parts))
    return con


# --- the worked queries ----------------------------------------------------------------------


def test_every_example_but_book_at_has_a_spark_version():
    assert set(qspark.EXAMPLES) == set(examples()) - {"book_at"}


@pytest.mark.parametrize("name", sorted(qspark.EXAMPLES))
@pytest.mark.parametrize("archive", ["captures", "synthetic_archive"])
def test_spark_answers_as_duckdb(spark, request, archive, name):
    data = request.getfixturevalue(archive)
    qspark.register(spark, data)
    con = connect(data, hot=False)
    got, want = spark_rows(spark, qspark.EXAMPLES[name]), duck_rows(con, name)
    assert_same_rows(got, want, f"{name} over {archive}")
    # The captures hold no gap, and no Upbit trade after a Binance USD-M quote (other days)
    empty = archive == "captures" and name in ("upbit_premium", "gaps_per_day")
    assert bool(want) != empty, f"{name} over {archive}: {len(want)} rows"


def test_the_known_answers_come_out_of_spark(spark, synthetic_archive):
    """Not only equal to DuckDB: right. 2% premium at 1380 KRW/USDT, one gap on day two."""
    qspark.register(spark, synthetic_archive)
    prem = spark_rows(spark, qspark.EXAMPLES["upbit_premium"])
    assert len(prem) > 100
    assert all(abs(r[-1] - 0.02) < 0.0005 and r[3] == USDT_KRW for r in prem)
    gaps = spark_rows(spark, qspark.EXAMPLES["gaps_per_day"])
    assert [(str(r[0]), r[1], r[2]) for r in gaps] == [(SYN_DAYS[1], "binance-usdm", 1)]
    assert spark_rows(spark, "SELECT DISTINCT kind FROM raw WHERE text IS NULL") == []  # all UTF-8 JSON
    minutes = spark_rows(spark, qspark.EXAMPLES["minute_vwap"])
    assert {str(r[2])[:10] for r in minutes} >= set(SYN_DAYS)


def test_the_asof_tie_rule_is_duckdbs(spark):
    """A Binance row at the very instant of an Upbit trade is "at or before" it; a trade
    before any row on one side has no answer; a NULL mid is an answer (NULL), not skipped;
    of two rows at one instant the one recorded last (highest seq) is the answer."""
    trades = [  # seq, ts_ns, venue, symbol, price
        (1, 100, "upbit", "KRW-USDT", 1000.0),
        (2, 150, "upbit", "KRW-BTC", 9_000_000.0),   # before any Binance row: no answer
        (4, 200, "upbit", "KRW-BTC", 9_100_000.0),   # the Binance row at 200 is its answer
        (6, 300, "upbit", "KRW-BTC", 9_200_000.0),   # the latest Binance row has no mid
        (7, 300, "upbit", "KRW-USDT", 1010.0),       # same instant on the fx side: counts
        (9, 400, "upbit", "KRW-BTC", 9_300_000.0),
        (13, 460, "upbit", "KRW-BTC", 9_400_000.0),  # two Binance rows at 450: the later seq
    ]
    quotes = [  # seq, ts_ns, venue, symbol, source, bid_px, ask_px
        (3, 200, "binance-usdm", "BTCUSDT", "bbo", 8999.0, 9001.0),
        (5, 250, "binance-usdm", "BTCUSDT", "bbo", None, 9002.0),
        (8, 350, "binance-usdm", "BTCUSDT", "bbo", 9099.0, 9101.0),
        (10, 390, "binance-usdm", "BTCUSDT", "depth", 1.0, 3.0),  # not bbo: never used
        (12, 450, "binance-usdm", "BTCUSDT", "bbo", 9299.0, 9301.0),
        (11, 450, "binance-usdm", "BTCUSDT", "bbo", 9199.0, 9201.0),  # same instant, recorded first
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE trades (seq BIGINT, ts_ns BIGINT, venue VARCHAR, symbol VARCHAR, price DOUBLE)")
    con.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?)", trades)
    con.execute("CREATE TABLE quotes (seq BIGINT, ts_ns BIGINT, venue VARCHAR, symbol VARCHAR, "
                "source VARCHAR, bid_px DOUBLE, ask_px DOUBLE)")
    con.executemany("INSERT INTO quotes VALUES (?, ?, ?, ?, ?, ?, ?)", quotes)
    for t in ("trades", "quotes"):
        con.execute(f"ALTER TABLE {t} ADD COLUMN ts TIMESTAMP")
        con.execute(f"UPDATE {t} SET ts = make_timestamp(ts_ns // 1000)")
    ts = f"{qspark.TS_SQL} AS ts"
    spark.createDataFrame(trades, "seq bigint, ts_ns bigint, venue string, symbol string, price double") \
        .selectExpr("*", ts).createOrReplaceTempView("trades")
    spark.createDataFrame(quotes, "seq bigint, ts_ns bigint, venue string, symbol string, source string, "
                          "bid_px double, ask_px double").selectExpr("*", ts).createOrReplaceTempView("quotes")
    want = duck_rows(con, "upbit_premium")
    got = spark_rows(spark, qspark.EXAMPLES["upbit_premium"])
    assert_same_rows(got, want, "upbit_premium over the tie cases")
    assert [(r[1], r[2], r[3]) for r in got] == [
        (9_100_000.0, 9000.0, 1000.0), (9_200_000.0, None, 1010.0), (9_300_000.0, 9100.0, 1010.0),
        (9_400_000.0, 9300.0, 1010.0)]


# --- shards ----------------------------------------------------------------------------------


def test_two_shards_read_as_one_table_with_a_shard_column(spark, two_shards, captures, synthetic_archive):
    views = qspark.register(spark, two_shards)
    assert all(views[t].columns[-1] == "shard" for t in qspark.VIEWS)
    duck = duck_over_shards(two_shards)
    for name in sorted(qspark.EXAMPLES):
        assert_same_rows(spark_rows(spark, qspark.EXAMPLES[name]), duck_rows(duck, name),
                         f"{name} over two shards")
    # every row once, under its own shard's name
    per_shard = dict(spark_rows(spark, "SELECT shard, count(*) FROM raw GROUP BY shard"))
    for shard, data in (("caps", captures), ("syn", synthetic_archive)):
        assert per_shard[shard] == connect(data, hot=False).sql("SELECT count(*) FROM raw").fetchall()[0][0]
    # the streams of both, under their shard's name
    streams = dict(spark_rows(spark, "SELECT shard, count(*) FROM streams GROUP BY shard"))
    for shard, data in (("caps", captures), ("syn", synthetic_archive)):
        assert streams[shard] == connect(data, hot=False).sql("SELECT count(*) FROM streams").fetchall()[0][0]


def test_spark_reads_the_archive_on_s3_as_duckdb_does(spark, synthetic, s3):
    """The archive compacted to the S3 server, read there by Spark (Hadoop's s3a connector)
    and by DuckDB (httpfs): the same answers, and the same as the local archive's."""
    if not any(JARS.glob("hadoop-aws-*.jar")):
        pytest.fail(f"no s3a jars in {JARS}: run tools/ci/spark-s3-jars.sh (make test does)", pytrace=False)
    url = "s3://arch/spark"
    compact(synthetic, archive=url, now_ns=AFTER_ALL)
    assert not list((synthetic / "archive").glob("*/date=*"))  # nothing local: only S3 has it
    views = qspark.register(spark, url)
    assert "s3a://arch/spark/" in views["raw"].inputFiles()[0]
    duck = connect(None, archive=url)
    for name in sorted(qspark.EXAMPLES):
        want = duck_rows(duck, name)
        assert_same_rows(spark_rows(spark, qspark.EXAMPLES[name]), want, f"{name} over S3")
        if name in ("minute_vwap", "upbit_premium", "gaps_per_day"):
            assert want, f"{name} over S3: no rows"
    assert qspark.check_types(spark, url)["raw"]["payload"] == "binary"


# --- types -----------------------------------------------------------------------------------


def documented_types() -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) -> (Parquet type, Spark type) from docs/archive-types.md's tables."""
    out = {}
    for line in (ROOT / "docs" / "archive-types.md").read_text().splitlines():
        m = re.match(r"^\| `(\w+)`\.`(\w+)` \| ([^|]+) \| `([^`]+)` \|", line)
        if m:
            out[(m[1], m[2])] = (m[3].strip(), m[4])
    return out


def test_every_column_is_read_by_spark_with_its_documented_type(spark, captures, synthetic_archive):
    read = {}
    for data in (captures, synthetic_archive):
        for table, cols in qspark.check_types(spark, data).items():
            read.setdefault(table, {}).update(cols)
    doc = documented_types()
    for table in qspark.VIEWS:
        schema = qspark.schema_of(table)
        for col in qspark.file_columns(table):
            parquet, spark_type = qspark.SPARK_TYPES[schema.field(col).type]
            assert doc.get((table, col)) == (parquet, spark_type), f"{table}.{col} undocumented or wrong"
            if table in read:  # a table with files in these archives: Spark read it so
                assert read[table][col] == spark_type, f"{table}.{col}"
    assert set(read) >= {"raw", "trades", "quotes", "book_levels", "klines", "features", "gaps", "streams"}
    assert {k for k in doc} == {(t, c) for t in qspark.VIEWS for c in qspark.file_columns(t)}


# --- bad input -------------------------------------------------------------------------------


def test_no_archive_and_a_bad_manifest_are_clear_errors(spark, tmp_path):
    with pytest.raises(QueryUsageError, match="no archive here"):
        qspark.register(spark, tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99, "days": {}}))
    with pytest.raises(ManifestError, match="unknown manifest format 99"):
        qspark.register(spark, tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not JSON"):
        qspark.register(spark, tmp_path)
