"""The deriver: checkpoints restore exactly; rows do not depend on where a run is cut."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from query.derive import SCHEMAS, TABLES, DeriveParams, Deriver, projection_version
from recorder.journal.reader import JournalReader
from state.market import market_state
from state.projector import Projector


def run(streams, records, cut=None, params=None):
    d = Deriver(streams, params)
    tables = {t: [] for t in TABLES}
    for i, rec in enumerate(records):
        if cut is not None and i == cut:
            for t, tab in d.take().items():
                tables[t].append(tab)
            d = Deriver.restore(d.snapshot(), streams, params)
        d.apply(rec)
    d.advance(records[-1].ts_ns + 3600 * 10**9)
    for t, tab in d.take().items():
        tables[t].append(tab)
    return {t: pa.concat_tables(v).to_pylist() for t, v in tables.items()}, d


def test_restore_anywhere_gives_the_same_rows_and_state(synthetic):
    with JournalReader(synthetic) as r:
        streams = r.streams()
        records = list(r.read())
    whole, d0 = run(streams, records)
    for cut in (1, 777, 1696, 2500):
        rows, d = run(streams, records, cut)
        assert rows == whole, cut
        assert d.snapshot() == d0.snapshot()
    assert all(whole[t] for t in ("trades", "quotes", "book_levels", "klines", "features", "gaps"))


def test_rows_match_their_schemas_and_quotes_only_change(synthetic):
    with JournalReader(synthetic) as r:
        records = list(r.read())
        d = Deriver(r.streams())
    d.apply_many(records)
    out = d.take()
    for t, tab in out.items():
        assert tab.schema == SCHEMAS[t]
    last = {}
    for q in out["quotes"].to_pylist():
        key = (q["venue"], q["symbol"], q["source"])
        state = (q["valid"], q["bid_px"], q["bid_sz"], q["ask_px"], q["ask_sz"])
        assert last.get(key) != state, "a quotes row must be a change"
        last[key] = state
    # The gap makes the synthetic book invalid until the snapshot: visible in quotes.
    assert [q["valid"] for q in out["quotes"].to_pylist() if q["source"] == "book"].count(False) == 1


def test_book_sampling_interval_is_a_parameter(synthetic):
    with JournalReader(synthetic) as r:
        records = list(r.read())
        streams = r.streams()
    fast = Deriver(streams, DeriveParams(book_interval_ms=250, book_depth=2))
    slow = Deriver(streams, DeriveParams(book_interval_ms=5000, book_depth=2))
    fast.apply_many(records)
    slow.apply_many(records)
    f, s = fast.take()["book_levels"], slow.take()["book_levels"]
    assert f.num_rows > 10 * s.num_rows > 0
    assert max(f.column("level").to_pylist()) == 1
    assert all(ts % 5_000_000_000 == 0 for ts in s.column("ts_ns").to_pylist())
    assert projection_version(DeriveParams()) != projection_version(DeriveParams(book_depth=2))


def test_sampled_rows_equal_the_projectors_own_reads(synthetic):
    """book_levels and features read each book once per boundary: the values of the book itself."""
    with JournalReader(synthetic) as r:
        records = list(r.read())
        streams = r.streams()
    for params in (DeriveParams(), DeriveParams(book_depth=3, depth_levels=2, book_interval_ms=500)):
        d = Deriver(streams, params)
        d.apply_many(records)
        d.advance(records[-1].ts_ns + 3600 * 10**9)
        out = {t: tab.to_pylist() for t, tab in d.take().items()}
        assert out["book_levels"] and out["features"]
        at = sorted({row["ts_ns"] for t in ("book_levels", "features") for row in out[t]})
        p = Projector(streams, depth_levels=params.depth_levels)
        i = 0
        checked = 0
        for b in at:
            while i < len(records) and records[i].ts_ns <= b:  # the state sampled at b
                p.apply(records[i])
                i += 1
            levels: dict[tuple, list] = {}
            for row in out["book_levels"]:
                if row["ts_ns"] == b:
                    levels.setdefault((row["venue"], row["symbol"], row["side"]), []).append(
                        (row["level"], row["price"], row["size"], row["valid"]))
            for (venue, symbol, side), got in levels.items():
                book = p.book(venue, symbol)
                top = book.top_bids(params.book_depth) if side == "bid" else book.top_asks(params.book_depth)
                assert got == [(n, float(px), float(sz), book.valid) for n, (px, sz) in enumerate(top)]
                checked += 1
            for row in out["features"]:
                if row["ts_ns"] != b:
                    continue
                m = market_state(p.symbol_state(row["venue"], row["symbol"]), b, p.depth_levels,
                                 p.windows, p.spike_ratio)
                want = {"valid": m.valid, "source": m.source, "best_bid": m.best_bid,
                        "best_ask": m.best_ask, "bid_depth": m.bid_depth, "ask_depth": m.ask_depth,
                        "imbalance": m.imbalance, "weighted_mid": m.weighted_mid}
                assert {k: row[k] for k in want} == {
                    k: float(v) if isinstance(v, Decimal) else v for k, v in want.items()}
                checked += 1
        assert checked > 20


def test_klines_match_trades(synthetic):
    """A closed minute's bar is its trades' open, high, low, close, volume and count (seq order)."""
    with JournalReader(synthetic) as r:
        d = Deriver(r.streams())
        d.apply_many(r.read())
    out = {t: tab.to_pylist() for t, tab in d.take().items()}
    minutes: dict[tuple, list[dict]] = {}
    for t in sorted(out["trades"], key=lambda t: t["seq"]):
        minutes.setdefault((t["venue"], t["symbol"], t["ts_ns"] // 60_000_000_000), []).append(t)
    bars = {(k["venue"], k["symbol"], k["ts_ns"] // 60_000_000_000): k for k in out["klines"]}
    assert len(bars) >= 10
    # Every minute with a trade has its bar (the journal's last record, a day later, closes them).
    assert set(bars) == set(minutes)
    for key, k in bars.items():
        ts = minutes[key]
        prices = [t["price"] for t in ts]
        assert (k["open"], k["high"], k["low"], k["close"], k["trades"]) == (
            prices[0], max(prices), min(prices), prices[-1], len(ts)), key
        assert k["volume"] == pytest.approx(sum(t["size"] for t in ts)), key
        assert k["first_seq"] == ts[0]["seq"]


def test_a_checkpoint_of_another_format_is_refused(synthetic):
    import msgspec

    from query.derive import FORMAT
    from query.errors import CheckpointFormatError

    with JournalReader(synthetic) as r:
        streams = r.streams()
        d = Deriver(streams)
        d.apply_many(r.read(1, 500))
    proj, state_blob = msgspec.msgpack.decode(d.snapshot())
    state = msgspec.msgpack.decode(state_blob)
    state[0] = FORMAT + 1
    blob = msgspec.msgpack.encode([proj, msgspec.msgpack.encode(state)])
    with pytest.raises(CheckpointFormatError) as exc:
        Deriver.restore(blob, streams)
    assert (exc.value.expected, exc.value.got) == (FORMAT, FORMAT + 1)
    assert Deriver.restore(d.snapshot(), streams).snapshot() == d.snapshot()


def test_parameters_out_of_range_name_themselves():
    from query.errors import SettingsError

    for name in ("depth_levels", "book_depth", "book_interval_ms", "feature_interval_ms",
                 "kline_seconds"):
        with pytest.raises(SettingsError, match=f"^{name} must be > 0$") as exc:
            DeriveParams(**{name: 0})
        assert exc.value.name == name and isinstance(exc.value, ValueError)
