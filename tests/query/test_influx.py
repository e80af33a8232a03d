"""InfluxSink: a real InfluxDB v2 write endpoint (VictoriaMetrics on 127.0.0.1), retries, drops."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from types import SimpleNamespace

import orjson
import pytest

from query.catalog import connect, to_arrow
from query.compact import compact
from query.influx import BAR_FIELDS, FEATURE_FIELDS, InfluxFeed, InfluxSink, export, line
from recorder.journal import Record, StreamInfo
from state.events import Gap
from state.projector import Projector
from tests import vm


@pytest.fixture
def victoria(tmp_path):
    """A VictoriaMetrics server on a free loopback port: its base URL (stopped after the test)."""
    if not vm.available():
        pytest.skip("victoria-metrics is not installed (make test installs it: tools/ci/system-deps.sh)")
    with vm.victoria(tmp_path) as url:
        yield url


read_back = vm.read_back


def expected_points(table, measurement: str, fields) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in table.to_pylist():
        for f in fields:
            v = r.get(f)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            out[(f"{measurement}_{f}", r["venue"], r["symbol"])][r["ts_ns"] // 10**6] = float(v)
    return dict(out)


def assert_same_points(got, want):
    assert set(got) == set(want)
    for k, series in want.items():
        assert got[k].keys() == series.keys(), k
        for ts, v in series.items():
            assert got[k][ts] == pytest.approx(v, rel=1e-12), (k, ts)


def test_features_and_bars_reach_a_real_server(victoria, synthetic):
    compact(synthetic)
    con = connect(synthetic, hot=False)
    features = to_arrow(con.sql("SELECT * FROM features ORDER BY ts_ns, venue, symbol"))
    bars = to_arrow(con.sql("SELECT * FROM klines ORDER BY ts_ns, venue, symbol"))
    assert features.num_rows > 100 and bars.num_rows > 5
    sink = InfluxSink(victoria, "token", "ticktape", "ticktape_raw", bars_bucket="ticktape_1m",
                      batch_size=250, flush_interval=0.2)
    # As the daemon does: small pieces, each enqueued without waiting.
    for i in range(0, features.num_rows, 100):
        assert sink.write_features(features.slice(i, 100)) == min(100, features.num_rows - i)
    assert sink.write_bars(bars.to_pylist()) == bars.num_rows
    assert sink.flush(60)
    sink.close()
    st = sink.stats()
    assert (st["dropped"], st["failed"], st["pending"]) == (0, 0, 0), st
    assert st["written"] == features.num_rows + bars.num_rows  # every row has a usable field
    want = {**expected_points(features, "features", FEATURE_FIELDS),
            **expected_points(bars, "bars_1m", BAR_FIELDS)}
    got = read_back(victoria, "features_.*|bars_1m_.*", sum(len(v) for v in want.values()))
    assert_same_points(got, want)
    # Spot check one value against the archive by hand.
    k = ("bars_1m_trades", bars.column("venue")[0].as_py(), bars.column("symbol")[0].as_py())
    assert got[k][bars.column("ts_ns")[0].as_py() // 10**6] == bars.column("trades")[0].as_py()


def test_export_sends_a_time_window(victoria, synthetic):
    compact(synthetic)
    lo, hi = 1_735_776_000 * 10**9, 1_735_776_060 * 10**9  # 2025-01-02T00:00:00Z, + 1 min
    sink = InfluxSink(victoria, "t", "o", "ticktape_raw", bars_bucket="ticktape_1m")
    try:
        counts = export(str(synthetic), sink, from_ns=lo, to_ns=hi)
    finally:
        sink.close(timeout=60)
    con = connect(synthetic)
    features = to_arrow(con.sql(f"SELECT * FROM features WHERE ts_ns >= {lo} AND ts_ns < {hi}"))
    bars = to_arrow(con.sql(f"SELECT * FROM klines WHERE ts_ns >= {lo} AND ts_ns < {hi}"))
    assert counts == {"features": features.num_rows, "klines": bars.num_rows}
    assert features.num_rows > 0 and bars.num_rows > 0
    st = sink.stats()
    assert (st["failed"], st["dropped"]) == (0, 0)
    want = {**expected_points(features, "features", FEATURE_FIELDS),
            **expected_points(bars, "bars_1m", BAR_FIELDS)}
    got = read_back(victoria, "features_.*|bars_1m_.*", sum(len(v) for v in want.values()))
    assert_same_points(got, want)


# --- the sink's behaviour, with a stand-in write function --------------------------------


class Status(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"ts_ns": (start + i) * 10**9, "venue": "upbit", "symbol": "KRW-BTC", "norm": "BTC-KRW",
             "mid": 100.0 + i, "close": 200.0 + i} for i in range(n)]


def test_a_full_queue_drops_and_counts_without_blocking():
    gate = threading.Event()
    calls: list[tuple[str, list[str]]] = []

    def write(bucket, lines):
        gate.wait(30)
        calls.append((bucket, list(lines)))

    sink = InfluxSink("", "", "o", "feat", bars_bucket="bars", max_pending=10, batch_size=4, write=write)
    try:
        assert sink.write_features(rows(6)) == 6
        assert sink.write_bars(rows(4, 100)) == 4
        # The writer is stuck and the queue is full: the caller is told at once, rows are counted.
        done = []
        t = threading.Thread(target=lambda: done.append(sink.write_features(rows(1, 50))))
        t.start()
        t.join(5)
        assert done == [0]
        assert sink.stats()["dropped"] == 1
        assert not sink.flush(0.2)
        gate.set()
        assert sink.flush(10)
    finally:
        sink.close()
    st = sink.stats()
    assert (st["written"], st["dropped"], st["failed"], st["pending"]) == (10, 1, 0, 0)
    assert all(len(lines) <= 4 for _, lines in calls)
    by_bucket = defaultdict(list)
    for bucket, lines in calls:
        by_bucket[bucket].extend(lines)
    assert [ln.split()[-1] for ln in by_bucket["feat"]] == [str(i * 10**9) for i in range(6)]
    assert len(by_bucket["bars"]) == 4 and by_bucket["bars"][0].startswith("bars_1m,")


def test_retries_server_errors_not_client_errors():
    script = [Status(503), ConnectionError("refused"), Status(429), None, Status(400)]
    seen = []

    def write(bucket, lines):
        seen.append(len(lines))
        step = script.pop(0)
        if step is not None:
            raise step

    sink = InfluxSink("", "", "o", "b", retry_base=0.01, write=write, batch_size=100)
    try:
        sink.write_features(rows(3))
        assert sink.flush(10)
        sink.write_features(rows(2, 10))  # 400: rejected, not retried
        assert sink.flush(10)
    finally:
        sink.close()
    st = sink.stats()
    assert (st["written"], st["failed"], st["retries"]) == (3, 2, 3)
    assert "400" in st["last_error"]
    assert seen == [3, 3, 3, 3, 2] and script == []


def test_gives_up_after_max_retries():
    n = [0]

    def write(bucket, lines):
        n[0] += 1
        raise ConnectionError("down")

    sink = InfluxSink("", "", "o", "b", retry_base=0.001, max_retries=3, write=write)
    sink.write_bars(rows(5))
    assert sink.flush(10)
    sink.close()
    assert n[0] == 4
    assert (sink.stats()["failed"], sink.stats()["written"]) == (5, 0)


def test_rows_of_the_wrong_shape_are_counted_not_fatal():
    got = []
    sink = InfluxSink("", "", "o", "b", write=lambda b, lines: got.extend(lines))
    sink.write_features([{"venue": "x", "mid": 1.0}])  # no ts_ns
    sink.write_features(rows(2))
    assert sink.flush(10)
    sink.close()
    assert (sink.stats()["failed"], sink.stats()["written"]) == (1, 2)
    assert len(got) == 2


def test_export_waits_for_room_instead_of_dropping(synthetic):
    compact(synthetic)
    got = []
    sink = InfluxSink("", "", "o", "b", max_pending=50, batch_size=20,
                      write=lambda b, lines: (time.sleep(0.001), got.extend(lines)))
    counts = export(str(synthetic), sink, hot=False)
    sink.close()
    assert sink.stats()["dropped"] == 0
    assert len(got) == counts["features"] + counts["klines"] > 100


def test_line_protocol():
    r = {"ts_ns": 5, "venue": "up bit", "symbol": "A,B=C", "norm": None, "mid": 1.5,
         "valid": True, "trades_60s": 3, "spread": float("nan"), "bid_depth": None}
    assert line("features", r, ("mid", "valid", "trades_60s", "spread", "bid_depth")) == (
        r"features,venue=up\ bit,symbol=A\,B\=C mid=1.5,valid=true,trades_60s=3i 5")
    assert line("features", {"ts_ns": 1, "mid": None}, ("mid",)) is None
    assert line("bars_1m", {"ts_ns": 1, "close": 2.0}, ("close",)) == "bars_1m close=2.0 1"


def test_the_live_feed_folds_through_the_deriver_and_hands_back_the_projections_gaps():
    """``InfluxFeed.fold`` returns the events a bare projection gives for the same records,
    its ``Gap`` among them (they drive the recorder's snapshot fetches)."""
    streams = {1: StreamInfo(1, "binance-usdm", "usdm", "wss://x/public/stream"),
               2: StreamInfo(2, "binance-usdm", "usdm", "https://x")}

    def diff(first: int, last: int, prev: int, t: int) -> bytes:
        return orjson.dumps({"stream": "btcusdt@depth", "data": {
            "e": "depthUpdate", "E": t, "T": t, "s": "BTCUSDT", "U": first, "u": last, "pu": prev,
            "b": [["100.0", "1"]], "a": [["101.0", "1"]]}})

    snap = orjson.dumps({"lastUpdateId": 100, "E": 1, "T": 1, "bids": [["100.0", "2"]],
                         "asks": [["101.0", "2"]]})
    recs = [Record(1, 1_000, 2, "rest", snap, {"url": "https://x/fapi/v1/depth?symbol=BTCUSDT",
                                               "status": 200}),
            Record(2, 2_000, 1, "frame", diff(99, 105, 98, 2)),
            Record(3, 3_000, 1, "frame", diff(300, 305, 299, 3))]  # pu 299 after u 105: broken
    folds = []
    projection = SimpleNamespace(depth_levels=20, projector=Projector(streams),
                                 set_fold=folds.append)
    feed = InfluxFeed(projection, SimpleNamespace(feature_interval_ms=1000), sink=object())
    assert folds == [feed.fold]
    bare = Projector(streams)
    got = [feed.fold(r) for r in recs]
    assert got == [bare.apply(r) for r in recs]
    assert [type(e) for e in got[2] if type(e) is Gap] == [Gap]
    assert projection.projector.books_needing_snapshot() == [("binance-usdm", "BTCUSDT")]
