"""DuckDB views over archive + hot journal: complete up to the last record, never double."""

from __future__ import annotations

from collections import Counter

import pytest

from query.catalog import ALL_TABLES, VIEWS, connect, examples, schema_of
from query.compact import compact
from recorder.journal.reader import JournalReader
from tests.query.conftest import SYN_DAYS, USDT_KRW, count_trade_messages


def journal_totals(data):
    with JournalReader(data) as r:
        return sum(s.records for s in r.segments()), r.last_seq


@pytest.mark.parametrize("keep_days", [0, 1])
def test_views_cover_archive_and_hot_journal_once(multi_day, keep_days):
    records, last_seq = journal_totals(multi_day)
    with JournalReader(multi_day) as r:
        stream_ids = sorted(r.streams())
    trades = count_trade_messages(multi_day)
    compact(multi_day, keep_days=keep_days)
    con = connect(multi_day)
    assert con.sql("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM raw").fetchall()[0] == (
        records, records, 1, last_seq)
    got = Counter(dict(con.sql("SELECT venue, count(*) FROM trades GROUP BY 1").fetchall()))
    assert got == trades
    assert con.sql("SELECT count(*) FROM trades WHERE date = DATE '2026-08-09'").fetchall()[0][0] == trades["bybit"]
    # Every view has its table's columns, then text (raw only), ts and date.
    for t in ALL_TABLES:
        cols = [c[0] for c in con.sql(f"SELECT * FROM {t} LIMIT 0").description]
        assert cols == [*schema_of(t).names, *(["text"] if t == "raw" else []), "ts", "date"], t
    assert [r[0] for r in con.sql("SELECT id FROM streams ORDER BY id").fetchall()] == stream_ids
    assert set(VIEWS) == {*ALL_TABLES, "streams", "listings", "listing_windows"}


def test_only_the_views_are_listed(multi_day, tmp_path, monkeypatch):
    """No internal object (hot rows, empty tables, the streams table) beside the views:
    ``SHOW TABLES`` and ``information_schema`` list the views and nothing else, hot or not,
    archived or not; and the scratch files behind them go with the connection."""
    import gc
    import tempfile
    from pathlib import Path

    # a temp directory of this test's own: other runs on the machine make scratch dirs too
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def scratch() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("ticktape-query-*"))

    before = scratch()
    compact(multi_day, through="2021-04-17")  # one day archived, the rest hot
    for hot in (True, False):
        con = connect(multi_day, hot=hot)
        listed = con.sql("SELECT table_catalog, table_schema, table_name, table_type "
                         "FROM information_schema.tables ORDER BY table_name").fetchall()
        assert listed == [("memory", "main", v, "VIEW") for v in sorted(VIEWS)]
        assert sorted(r[0] for r in con.sql("SHOW TABLES").fetchall()) == sorted(VIEWS)
        assert sorted(r[2] for r in con.sql("SHOW ALL TABLES").fetchall()) == sorted(VIEWS)
        assert con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [
            (len(VIEWS),)]
        # ... and every view still reads (the empty ones have their columns)
        for t in ALL_TABLES:
            cols = [c[0] for c in con.sql(f"SELECT * FROM {t} LIMIT 0").description]
            assert cols[:len(schema_of(t))] == schema_of(t).names
        assert con.sql("SELECT count(*) FROM raw").fetchall()[0][0] > 0
        assert con.sql("SELECT count(*) FROM streams").fetchall()[0][0] > 0
        assert len(scratch() - before) == 1
        del con
        gc.collect()
        assert scratch() == before


def test_hot_false_shows_the_archive_only(multi_day):
    compact(multi_day)
    archived = connect(multi_day, hot=False).sql("SELECT count(*), max(date) FROM raw").fetchall()[0]
    with JournalReader(multi_day) as r:
        assert archived[0] == r.meta["seq_floor"]
    assert str(archived[1]) == "2022-05-13"


def test_only_the_journal_no_archive(multi_day):
    records, _ = journal_totals(multi_day)
    con = connect(multi_day)
    assert con.sql("SELECT count(*) FROM raw").fetchall()[0][0] == records
    assert con.sql("SELECT count(*) FROM klines").fetchall()[0][0] > 0


def test_raw_view_exposes_text_and_meta(multi_day):
    compact(multi_day)
    con = connect(multi_day)
    rows = con.sql("SELECT kind, meta->>'url', text FROM raw WHERE kind = 'rest' ORDER BY seq LIMIT 1").fetchall()
    assert rows[0][1].startswith("https://")
    assert rows[0][2]
    # Upbit frames are binary frames of UTF-8 JSON: meta says so, text decodes them.
    n = con.sql("SELECT count(*) FROM raw WHERE meta->>'bin' = 'true' AND text LIKE '{%'").fetchall()[0][0]
    assert n > 0


def test_examples_run_and_give_the_known_answers(synthetic):
    compact(synthetic)
    con = connect(synthetic)
    ex = examples()
    assert {"minute_vwap", "upbit_premium", "book_at", "gaps_per_day"} <= set(ex)
    results = {}
    for name, stmts in ex.items():
        for s in stmts:
            rel = con.sql(s)
        results[name] = rel.fetchall() if rel is not None else []
        assert results[name], f"example {name} returned nothing"
    # The synthetic Upbit trades are priced 2% over Binance's mid at KRW-USDT 1380.
    prem = [r[-1] for r in results["upbit_premium"]]
    assert all(abs(p - 0.02) < 0.0005 for p in prem), prem[:5]
    assert all(r[3] == USDT_KRW for r in results["upbit_premium"])
    # One forced gap, on the second synthetic day.
    assert [(str(r[0]), r[1], r[2]) for r in results["gaps_per_day"]] == [(SYN_DAYS[1], "binance-usdm", 1)]
    # The book at 00:01:00: the last sample at or before it, both sides, best first.
    book = results["book_at"]
    bids = [r for r in book if r[0] == "binance-usdm" and r[4] == "bid"]
    asks = [r for r in book if r[0] == "binance-usdm" and r[4] == "ask"]
    assert [r[5] for r in bids] == list(range(len(bids))) and len(bids) == 3
    assert bids[0][6] < asks[0][6] and bids[1][6] == 60000.0 and asks[1][6] == 70000.0
    # Minute VWAP equals the trades' own sum(p*q)/sum(q) per minute.
    for venue, symbol, minute, vwap, volume, n in results["minute_vwap"]:
        p = con.execute("SELECT sum(price*size)/sum(size) FROM trades WHERE venue=? AND symbol=? "
                        "AND time_bucket(INTERVAL 1 minute, ts) = ?", [venue, symbol, minute]).fetchall()[0][0]
        assert p == pytest.approx(vwap)
