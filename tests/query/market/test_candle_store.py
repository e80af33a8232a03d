"""The candle cache: exact round trips, coverage as the only proof of completeness,
idempotent and concurrent puts, damaged files as misses, the archive's other tables untouched."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from query.errors import QueryUsageError
from query.market.candles.store import (
    CandleStore,
    MemoryCandleStore,
    add_range,
    covers,
    cut_range,
    partition_of,
    partition_span,
    partitions_between,
)
from query.market.types import Candle

MIN = 60 * 10**9
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
NOW = T0 + 3 * 86_400 * 10**9


def candle(t: int, *, symbol: str = "KRW-BTC", venue: str = "upbit", interval: str = "1m",
           price: str = "100", closed: bool = True, fill: bool = False) -> Candle:
    p = Decimal(price)
    return Candle(venue=venue, symbol=symbol, norm=symbol, interval=interval, open_time_ns=t,
                  open=p, high=p + 1, low=p - 1, close=p, volume=Decimal("1.5"),
                  quote_volume=p * Decimal("1.5"), closed=closed, exch_ts_ns=t + MIN - 10**6,
                  recv_ts_ns=t + MIN, source="rest", age_ms=0, fill=fill)


def minutes(n: int, start: int = T0, **kw) -> list[Candle]:
    return [candle(start + i * MIN, price=str(100 + i), **kw) for i in range(n)]


def stored_rows(data: Path) -> list[tuple]:
    files = [str(p) for p in (data / "archive" / "candles").rglob("part-*.parquet")]
    if not files:
        return []
    return duckdb.sql(f"SELECT venue, interval, symbol, open_time_ns FROM read_parquet({files!r}, "
                      "hive_partitioning = true) ORDER BY ALL").fetchall()


@pytest.fixture(params=["disk", "s3", "memory"])
def store(request, tmp_path):
    """Each contract test runs against the Parquet store (on disk, on S3) and its in-memory twin."""
    if request.param == "s3":
        server = request.getfixturevalue("s3")  # a real S3 server (tests/query/conftest.py)
        # The server's files, where the tests look for the disk store's: DATA/archive.
        (server.root / "arch" / "desk").mkdir()
        (tmp_path / "archive").symlink_to(server.root / "arch" / "desk")
        st = CandleStore("s3://arch/desk")
    else:
        st = CandleStore(tmp_path) if request.param == "disk" else MemoryCandleStore()
    yield st
    st.close()


def test_odd_prices_round_trip_exactly(tmp_path):
    odd = ["0.00001234", "123456789", "8629000.0", "1.50000000", "0.000000001", "99999999999.99999999",
           "1.234E-5"]
    cs = []
    for i, s in enumerate(odd):
        c = candle(T0 + i * MIN, price="1")
        cs.append(Candle(**{**{f: getattr(c, f) for f in c.__struct_fields__}, "open": Decimal(s),
                            "high": Decimal(s), "low": Decimal(s), "close": Decimal(s),
                            "volume": Decimal(s), "quote_volume": Decimal(s)}))
    with CandleStore(tmp_path) as st:
        st.put(cs, covered=(T0, T0 + len(cs) * MIN))
        got = st.get("upbit", "KRW-BTC", "1m", T0, T0 + len(cs) * MIN, now_ns=NOW)
    assert got is not None and len(got) == len(odd)
    for c, s in zip(got, odd, strict=True):
        for f in ("open", "high", "low", "close", "volume", "quote_volume"):
            v = getattr(c, f)
            assert v == Decimal(s) and v.as_tuple() == Decimal(s).as_tuple()  # same digits, zeros too
    # stored as the exact strings, one table for every symbol (no per-symbol directory)
    files = list((tmp_path / "archive" / "candles").rglob("*.parquet"))
    assert [f.parent.relative_to(tmp_path / "archive") for f in files] == [
        Path("candles/venue=upbit/interval=1m/date=2026-01-01")]
    assert duckdb.sql(f"SELECT open FROM '{files[0]}' ORDER BY open_time_ns").fetchall()[:5] == [
        ("0.00001234",), ("123456789",), ("8629000.0",), ("1.50000000",), ("0.000000001",)]


def test_get_answers_only_covered_ranges_and_marks_the_answer(store):
    st = store
    cs = minutes(10)
    del cs[4]  # a minute without trades: absent, as Upbit sends it
    assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW) is None
    st.put(cs, covered=(T0, T0 + 10 * MIN))
    got = st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW)
    assert got is not None
    assert [c.open_time_ns for c in got] == [c.open_time_ns for c in cs]
    assert all(c.source == "archive" and c.closed for c in got)
    assert got[0].age_ms == (NOW - got[0].exch_ts_ns) // 10**6
    assert [c.close for c in got] == [c.close for c in cs]
    # inside the coverage: answered; reaching out of it on either side: a miss
    assert [c.open_time_ns for c in st.get("upbit", "KRW-BTC", "1m", T0 + 3 * MIN, T0 + 6 * MIN,
                                           now_ns=NOW)] == [T0 + 3 * MIN, T0 + 5 * MIN]
    assert st.get("upbit", "KRW-BTC", "1m", T0 - MIN, T0 + 5 * MIN, now_ns=NOW) is None
    assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 11 * MIN, now_ns=NOW) is None
    # a covered minute with no trade is an empty answer, not a miss
    assert st.get("upbit", "KRW-BTC", "1m", T0 + 4 * MIN, T0 + 5 * MIN, now_ns=NOW) == []
    # other symbols, venues, intervals know nothing
    assert st.get("upbit", "KRW-ETH", "1m", T0, T0 + MIN, now_ns=NOW) is None
    assert st.get("upbit", "KRW-BTC", "3m", T0, T0 + 3 * MIN, now_ns=NOW) is None
    assert st.get("binance-usdm", "KRW-BTC", "1m", T0, T0 + MIN, now_ns=NOW) is None


def test_adjacent_puts_join_and_an_empty_period_is_recorded(store, tmp_path):
    st = store
    st.put(minutes(5), covered=(T0, T0 + 5 * MIN))
    st.put([], covered=(T0 + 5 * MIN, T0 + 8 * MIN), venue="upbit", symbol="KRW-BTC", interval="1m")
    st.put(minutes(2, T0 + 8 * MIN), covered=(T0 + 8 * MIN, T0 + 10 * MIN))
    got = st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW)
    assert got is not None and len(got) == 7
    assert st.get("upbit", "KRW-BTC", "1m", T0 + 5 * MIN, T0 + 8 * MIN, now_ns=NOW) == []
    if isinstance(st, MemoryCandleStore):
        return
    cov = json.loads((tmp_path / "archive/candles/venue=upbit/interval=1m/coverage.json").read_text())
    assert cov["symbols"] == {"KRW-BTC": [[T0, T0 + 10 * MIN]]}


def test_repeated_and_overlapping_puts_store_each_candle_once(store, tmp_path):
    st = store
    assert st.put(minutes(10), covered=(T0, T0 + 10 * MIN)) == 10
    if isinstance(st, MemoryCandleStore):
        assert st.put(minutes(10), covered=(T0, T0 + 10 * MIN)) == 0
        assert st.put(minutes(10, T0 + 5 * MIN), covered=(T0 + 5 * MIN, T0 + 15 * MIN)) == 5
        assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 15 * MIN, now_ns=NOW)) == 15
        return
    before = sorted(p.name for p in (tmp_path / "archive/candles").rglob("*.parquet"))
    assert st.put(minutes(10), covered=(T0, T0 + 10 * MIN)) == 0
    assert sorted(p.name for p in (tmp_path / "archive/candles").rglob("*.parquet")) == before
    assert st.put(minutes(10, T0 + 5 * MIN), covered=(T0 + 5 * MIN, T0 + 15 * MIN)) == 5
    rows = stored_rows(tmp_path)
    assert len(rows) == len(set(rows)) == 15
    assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 15 * MIN, now_ns=NOW)) == 15


def test_days_are_partitions_and_many_small_parts_are_compacted(tmp_path):
    st = CandleStore(tmp_path, compact_after=4)
    start = T0 + 86_400 * 10**9 - 200 * MIN  # 400 minutes across midnight
    for i in range(0, 400, 20):  # 20 puts, as a pager might make them
        for sym in ("KRW-BTC", "KRW-ETH"):
            st.put(minutes(20, start + i * MIN, symbol=sym), covered=(start + i * MIN, start + (i + 20) * MIN))
    base = tmp_path / "archive/candles/venue=upbit/interval=1m"
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == ["date=2026-01-01", "date=2026-01-02"]
    for d in base.iterdir():
        if d.is_dir():
            assert len(list(d.glob("part-*.parquet"))) <= 5
    rows = stored_rows(tmp_path)
    assert len(rows) == len(set(rows)) == 800
    for sym in ("KRW-BTC", "KRW-ETH"):
        got = st.get("upbit", sym, "1m", start, start + 400 * MIN, now_ns=NOW)
        assert [c.open_time_ns for c in got] == [start + i * MIN for i in range(400)]
        assert {c.symbol for c in got} == {sym}


def test_hour_and_day_candles_are_partitioned_by_month_and_year(tmp_path):
    st = CandleStore(tmp_path)
    hour, day = 60 * MIN, 24 * 60 * MIN
    hours = [candle(T0 - 24 * hour + i * hour, interval="1h") for i in range(400)]
    days = [candle(T0 - 200 * day + i * day, interval="1d") for i in range(400)]
    st.put(hours, covered=(T0 - 24 * hour, T0 + 376 * hour))
    st.put(days, covered=(T0 - 200 * day, T0 + 200 * day))
    base = tmp_path / "archive/candles/venue=upbit"
    assert sorted(p.name for p in (base / "interval=1h").iterdir() if p.is_dir()) == [
        "date=2025-12-01", "date=2026-01-01"]
    assert sorted(p.name for p in (base / "interval=1d").iterdir() if p.is_dir()) == [
        "date=2025-01-01", "date=2026-01-01"]
    assert st.get("upbit", "KRW-BTC", "1h", T0 - 24 * hour, T0 + 376 * hour, now_ns=NOW) == [
        Candle(**{**{f: getattr(c, f) for f in c.__struct_fields__}, "source": "archive",
                  "age_ms": max(0, (NOW - c.exch_ts_ns) // 10**6)}) for c in hours]
    assert len(st.get("upbit", "KRW-BTC", "1d", T0 - 200 * day, T0 + 200 * day, now_ns=NOW)) == 400


def test_fill_candles_are_not_stored_and_open_or_stray_candles_are_refused(store):
    st = store
    assert st.put([candle(T0), candle(T0 + MIN, fill=True)], covered=(T0, T0 + 2 * MIN)) == 1
    assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 2 * MIN, now_ns=NOW)) == 1
    with pytest.raises(QueryUsageError, match="not closed"):
        st.put([candle(T0 + 2 * MIN, closed=False)], covered=(T0 + 2 * MIN, T0 + 3 * MIN))
    with pytest.raises(QueryUsageError, match="outside"):
        st.put([candle(T0 + 5 * MIN)], covered=(T0, T0 + 5 * MIN))
    with pytest.raises(QueryUsageError, match="one venue"):
        st.put([candle(T0), candle(T0, symbol="KRW-ETH")], covered=(T0, T0 + MIN))
    with pytest.raises(QueryUsageError, match="needs venue"):
        st.put([], covered=(T0, T0 + MIN))
    if isinstance(st, CandleStore):  # names become directories there
        with pytest.raises(QueryUsageError, match="not a venue"):
            st.get("../x", "KRW-BTC", "1m", T0, T0 + MIN, now_ns=NOW)


def test_a_damaged_part_is_a_miss_then_set_aside_with_its_days_coverage(tmp_path, caplog):
    st = CandleStore(tmp_path)
    st.put(minutes(10), covered=(T0, T0 + 10 * MIN))
    st.put(minutes(10, symbol="KRW-ETH"), covered=(T0, T0 + 10 * MIN))
    part = sorted((tmp_path / "archive/candles").rglob("part-*.parquet"))[0]
    part.write_bytes(b"PAR1 not really parquet")
    with caplog.at_level(logging.WARNING, logger="query.market.candles.store"):
        assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW) is None
    assert "treated as a miss" in caplog.text
    # the next put of that day sets the file aside and forgets what it held, for every symbol
    with caplog.at_level(logging.WARNING, logger="query.market.candles.store"):
        st.put(minutes(10), covered=(T0, T0 + 10 * MIN))
    assert "set aside" in caplog.text
    assert (part.parent / f".corrupt-{part.name}").exists()
    assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW)) == 10
    eth = st.get("upbit", "KRW-ETH", "1m", T0, T0 + 10 * MIN, now_ns=NOW)
    assert eth is None or len(eth) == 10  # never an answer missing the damaged file's rows


def test_a_damaged_coverage_file_is_a_miss(tmp_path, caplog):
    st = CandleStore(tmp_path)
    st.put(minutes(3), covered=(T0, T0 + 3 * MIN))
    (tmp_path / "archive/candles/venue=upbit/interval=1m/coverage.json").write_text("{nope")
    with caplog.at_level(logging.WARNING, logger="query.market.candles.store"):
        assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 3 * MIN, now_ns=NOW) is None
    assert "coverage" in caplog.text
    st.put(minutes(3), covered=(T0, T0 + 3 * MIN))  # rewritten whole
    assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 3 * MIN, now_ns=NOW)) == 3


def test_the_archives_other_tables_are_untouched(tmp_path):
    other = {"archive/manifest.json": b'{"days": {}}', "archive/trades/date=2026-01-01/venue=upbit/part-1-2.parquet": b"x",
             "archive/klines/date=2026-01-01/venue=upbit/part-1-2.parquet": b"y"}
    for rel, data in other.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    st = CandleStore(tmp_path, compact_after=1)
    for i in range(3):
        st.put(minutes(5, T0 + i * 5 * MIN), covered=(T0 + i * 5 * MIN, T0 + (i + 1) * 5 * MIN))
    outside = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*")
               if p.is_file() and "candles" not in p.parts}
    assert outside == other


def test_concurrent_writers_store_each_candle_once(tmp_path):
    errors = []

    def writer(k: int) -> None:
        st = CandleStore(tmp_path, compact_after=3)  # a store each: their flocks are separate
        try:
            for i in range(0, 60, 6):
                lo = T0 + (i + k) * MIN  # overlapping ranges of the same symbol
                st.put(minutes(8, lo), covered=(lo, lo + 8 * MIN))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            st.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = stored_rows(tmp_path)
    assert len(rows) == len(set(rows)) == 3 + 54 + 8
    got = CandleStore(tmp_path).get("upbit", "KRW-BTC", "1m", T0, T0 + 65 * MIN, now_ns=NOW)
    assert got is not None and len(got) == 65


def test_400_cached_minutes_are_fast(tmp_path):
    """The bench's figure is ``tools``' (p99 < 10 ms); here only a loose guard against a regression."""
    st = CandleStore(tmp_path)
    start = T0 + 86_400 * 10**9 - 200 * MIN
    for sym in ("KRW-BTC", "KRW-ETH", "KRW-XRP"):
        st.put(minutes(1440, T0, symbol=sym), covered=(T0, T0 + 1440 * MIN))
        st.put(minutes(1440, T0 + 1440 * MIN, symbol=sym), covered=(T0 + 1440 * MIN, T0 + 2880 * MIN))
    st.get("upbit", "KRW-BTC", "1m", start, start + 400 * MIN, now_ns=NOW)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        got = st.get("upbit", "KRW-BTC", "1m", start, start + 400 * MIN, now_ns=NOW)
        times.append(time.perf_counter() - t)
    assert len(got) == 400
    assert sorted(times)[len(times) // 2] < 0.05


def test_range_helpers():
    assert add_range([[0, 5], [10, 15]], 5, 10) == [[0, 15]]
    assert add_range([[0, 5]], 7, 9) == [[0, 5], [7, 9]]
    assert cut_range([[0, 15]], 5, 10) == [[0, 5], [10, 15]]
    assert cut_range([[6, 8]], 5, 10) == []
    assert covers([[0, 5], [7, 9]], 7, 9) and not covers([[0, 5], [7, 9]], 4, 8)
    day = 86_400 * 10**9
    assert partitions_between(T0 - 1, T0 + 1, "1m") == ["2025-12-31", "2026-01-01"]
    assert partitions_between(T0, T0 + day, "1m") == ["2026-01-01"]
    assert partitions_between(T0 - 1, T0 + 40 * day, "1h") == ["2025-12-01", "2026-01-01", "2026-02-01"]
    assert partitions_between(T0 - day, T0 + 400 * day, "1d") == ["2025-01-01", "2026-01-01", "2027-01-01"]
    assert partition_of(T0 + 45 * day, "4h") == "2026-02-01" and partition_of(T0 + 45 * day, "1w") == "2026-01-01"
    assert partition_span("2025-12-01", "1h") == (T0 - 31 * day, T0)
    assert partition_span("2026-01-01", "1M") == (T0, T0 + 365 * day)
    assert os.sep not in "".join(partitions_between(T0, T0 + 1, "1s"))


def test_a_part_damaged_only_in_its_price_pages_is_found_by_the_next_put(tmp_path, caplog):
    """The put's own read (symbol, open time) would pass: the failed get marks the day for a whole check."""
    import pyarrow.parquet as pq

    st = CandleStore(tmp_path)
    st.put(minutes(30), covered=(T0, T0 + 30 * MIN))
    [part] = (tmp_path / "archive/candles").rglob("part-*.parquet")
    col = pq.ParquetFile(part).metadata.row_group(0).column(6)  # close
    data = bytearray(part.read_bytes())
    start = col.data_page_offset
    data[start:start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
    part.write_bytes(bytes(data))
    rel = part.relative_to(tmp_path / "archive/candles").as_posix()
    assert st._stored([rel], "KRW-BTC", minutes(30))  # the columns put reads are whole
    with caplog.at_level(logging.WARNING, logger="query.market.candles.store"):
        assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 30 * MIN, now_ns=NOW) is None
        assert st.put(minutes(30), covered=(T0, T0 + 30 * MIN)) == 30
    assert "set aside" in caplog.text
    got = st.get("upbit", "KRW-BTC", "1m", T0, T0 + 30 * MIN, now_ns=NOW)
    assert [c.close for c in got] == [c.close for c in minutes(30)]


def test_view_sql_shows_every_symbol_once_per_minute(tmp_path):
    from query.market.candles.store import view_sql

    assert view_sql(tmp_path) is None
    st = CandleStore(tmp_path)
    st.put(minutes(3), covered=(T0, T0 + 3 * MIN))
    st.put(minutes(2, symbol="KRW-ETH"), covered=(T0, T0 + 2 * MIN))
    st.put(minutes(2, venue="binance-usdm", interval="1h"), covered=(T0, T0 + 2 * MIN))
    con = duckdb.connect()
    con.execute(f"CREATE VIEW candles AS {view_sql(tmp_path)}")
    got = con.sql("SELECT venue, interval, symbol, count(*), min(date)::VARCHAR FROM candles "
                  "GROUP BY ALL ORDER BY ALL").fetchall()
    assert got == [("binance-usdm", "1h", "KRW-BTC", 2, "2026-01-01"), ("upbit", "1m", "KRW-BTC", 3, "2026-01-01"),
                   ("upbit", "1m", "KRW-ETH", 2, "2026-01-01")]
    assert con.sql("SELECT open FROM candles WHERE symbol = 'KRW-ETH' ORDER BY open_time_ns").fetchall() == [
        ("100",), ("101",)]


def test_the_twins_answer_alike():
    """The same puts give the same answers, field for field, from disk and from memory."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        disk, mem = CandleStore(d), MemoryCandleStore()
        cs = minutes(30)
        del cs[7:9]
        puts = [(cs[:8], (T0, T0 + 10 * MIN)), (cs[5:], (T0 + 5 * MIN, T0 + 30 * MIN)),
                (minutes(5, symbol="KRW-ETH"), (T0, T0 + 5 * MIN))]
        for rows, cov in puts:
            assert disk.put(rows, covered=cov) == mem.put(rows, covered=cov)
        for sym in ("KRW-BTC", "KRW-ETH"):
            for lo, hi in ((T0, T0 + 30 * MIN), (T0 + 3 * MIN, T0 + 9 * MIN), (T0, T0 + 31 * MIN)):
                assert disk.get("upbit", sym, "1m", lo, hi, now_ns=NOW) == mem.get("upbit", sym, "1m", lo, hi,
                                                                                   now_ns=NOW)
        disk.close()


def test_a_crash_leaves_extra_rows_never_a_wrong_answer(tmp_path):
    """Files are written before the coverage naming them; a merge writes before it deletes."""
    st = CandleStore(tmp_path)
    st.put(minutes(10), covered=(T0, T0 + 10 * MIN))
    [part] = (tmp_path / "archive/candles").rglob("part-*.parquet")
    # a merge interrupted after writing the merged file, before deleting its inputs
    (part.parent / part.name.replace("part-", "part-0")).write_bytes(part.read_bytes())
    got = st.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN, now_ns=NOW)
    assert [c.open_time_ns for c in got] == [T0 + i * MIN for i in range(10)]
    # a put interrupted after its files, before its coverage: still a miss, and the retry
    # writes nothing twice
    cov = tmp_path / "archive/candles/venue=upbit/interval=1m/coverage.json"
    before = cov.read_bytes()
    st.put(minutes(5, T0 + 10 * MIN), covered=(T0 + 10 * MIN, T0 + 15 * MIN))
    cov.write_bytes(before)
    assert st.get("upbit", "KRW-BTC", "1m", T0, T0 + 15 * MIN, now_ns=NOW) is None
    assert st.put(minutes(5, T0 + 10 * MIN), covered=(T0 + 10 * MIN, T0 + 15 * MIN)) == 0
    assert len(st.get("upbit", "KRW-BTC", "1m", T0, T0 + 15 * MIN, now_ns=NOW)) == 15


def test_an_s3_cache_holds_what_a_disk_cache_holds(tmp_path, s3):
    """Same puts: same files (names are digests of the rows), coverage written last, read by a new store."""
    disk, remote = CandleStore(tmp_path, compact_after=2), CandleStore("s3://arch/desk", compact_after=2)
    cs = minutes(30)
    puts = [(cs[:8], (T0, T0 + 8 * MIN)), (cs[5:20], (T0 + 5 * MIN, T0 + 20 * MIN)),
            (cs[18:], (T0 + 18 * MIN, T0 + 30 * MIN)), (minutes(5, symbol="KRW-ETH"), (T0, T0 + 5 * MIN))]
    for rows, cov in puts:
        assert disk.put(rows, covered=cov) == remote.put(rows, covered=cov)
    base = "candles/venue=upbit/interval=1m"
    here = sorted(p.relative_to(tmp_path / "archive").as_posix()
                  for p in (tmp_path / "archive" / base).rglob("*") if p.is_file())
    there = sorted(p.relative_to(s3.root / "arch" / "desk").as_posix()
                   for p in (s3.root / "arch" / "desk" / base).rglob("*") if p.is_file())
    assert here == there and any("/part-" in p for p in there)
    assert (s3.root / "arch/desk" / base / "coverage.json").read_bytes() == \
        (tmp_path / "archive" / base / "coverage.json").read_bytes()
    again = CandleStore("s3://arch/desk")
    for sym in ("KRW-BTC", "KRW-ETH"):
        got = again.get("upbit", sym, "1m", T0, T0 + 5 * MIN, now_ns=NOW)
        assert got == disk.get("upbit", sym, "1m", T0, T0 + 5 * MIN, now_ns=NOW) and len(got) == 5
    assert again.get("upbit", "KRW-BTC", "1m", T0, T0 + 31 * MIN, now_ns=NOW) is None
    for st in (disk, remote, again):
        st.close()


def test_an_s3_cache_out_of_reach_is_a_miss_and_a_put_is_logged(s3, caplog):
    from query.market.candles.cache import StoreCache

    st = CandleStore("s3://arch/desk")
    cache = StoreCache(st, lambda: NOW)
    cache.put(minutes(5), covered=(T0, T0 + 5 * MIN))
    assert len(cache.get("upbit", "KRW-BTC", "1m", T0, T0 + 5 * MIN)) == 5
    s3.stop()
    try:
        with caplog.at_level(logging.WARNING):
            fresh = StoreCache(CandleStore("s3://arch/desk"), lambda: NOW)
            assert fresh.get("upbit", "KRW-BTC", "1m", T0, T0 + 5 * MIN) is None
            fresh.put(minutes(5, T0 + 5 * MIN), covered=(T0 + 5 * MIN, T0 + 10 * MIN))
        assert "not written" in caplog.text and s3.secret_key not in caplog.text
    finally:
        s3.start()
    assert cache.get("upbit", "KRW-BTC", "1m", T0, T0 + 10 * MIN) is None  # the failed put claimed nothing
    st.close()
