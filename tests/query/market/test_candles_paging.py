"""Candle intervals and page planning (``query.market.candles.intervals``, ``.paging``): pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from query.market.candles import MAX_COUNT, check_count, interval, intervals
from query.market.candles.intervals import DAY_MS, KST_MS, MINUTE_MS
from query.market.candles.paging import (
    MS,
    Page,
    Span,
    covered_from,
    fill,
    merge,
    plan_back,
    plan_range,
    plan_wave,
    span_of,
)
from query.market.errors import BadRequestError, UnknownIntervalError, UnknownVenueError
from query.market.types import Candle


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_each_venue_names_its_own_intervals():
    assert intervals("upbit") == ("1m", "3m", "5m", "10m", "15m", "30m", "1h", "4h", "1d", "1w", "1M")
    assert "1s" in intervals("binance-spot") and "1s" not in intervals("binance-usdm")
    assert "10m" not in intervals("binance-usdm") and "3d" in intervals("binance-usdm")
    assert interval("upbit", "4h").path == "/v1/candles/minutes/240"
    assert interval("upbit", "1w").path == "/v1/candles/weeks"
    assert interval("binance-spot", "1h").path == "/api/v3/klines"
    assert interval("binance-usdm", "1M").param == "1M"


def test_an_unknown_interval_names_the_valid_ones():
    with pytest.raises(UnknownIntervalError) as e:
        interval("upbit", "2m")
    assert isinstance(e.value, ValueError) and "1m" in str(e.value) and "4h" in str(e.value)
    assert "10m" in e.value.choices and "2h" not in e.value.choices
    with pytest.raises(UnknownIntervalError, match="1s"):
        interval("binance-usdm", "1s")
    with pytest.raises(UnknownVenueError):
        interval("kraken", "1m")


@pytest.mark.parametrize("bad", [0, -1, MAX_COUNT + 1, 1.5, "10", True, None])
def test_counts_outside_one_to_the_cap_are_refused(bad):
    with pytest.raises(BadRequestError) as e:
        check_count(bad)
    assert isinstance(e.value, ValueError) and str(MAX_COUNT) in str(e.value)


def test_period_grids_minutes_utc_days_weeks_months_kst():
    t = _ms(2023, 11, 14, 22, 13, 20)  # 2023-11-15 07:13:20 KST, a Wednesday
    m = interval("upbit", "1m")
    assert m.floor(t) == _ms(2023, 11, 14, 22, 13) and m.ceil(t) == _ms(2023, 11, 14, 22, 14)
    assert m.ceil(m.floor(t)) == m.floor(t) and m.shift(m.floor(t), -200) == m.floor(t) - 200 * MINUTE_MS
    assert interval("upbit", "4h").floor(t) == _ms(2023, 11, 14, 20)
    day = interval("upbit", "1d")
    assert day.floor(t) == _ms(2023, 11, 14, 15)  # 00:00 KST
    assert (day.floor(t) + KST_MS) % DAY_MS == 0
    assert interval("binance-usdm", "1d").floor(t) == _ms(2023, 11, 14)
    assert interval("upbit", "1w").floor(t) == _ms(2023, 11, 12, 15)  # Monday 00:00 KST
    assert interval("binance-usdm", "1w").floor(t) == _ms(2023, 11, 13)  # Monday 00:00 UTC
    month = interval("upbit", "1M")
    assert month.floor(t) == _ms(2023, 10, 31, 15)  # 1 November 00:00 KST
    assert month.shift(month.floor(t), 2) == _ms(2023, 12, 31, 15)
    assert month.shift(month.floor(t), -11) == _ms(2022, 11, 30, 15)
    assert month.periods(month.shift(month.floor(t), -14), month.floor(t)) == 14
    bm = interval("binance-spot", "1M")
    assert bm.floor(t) == _ms(2023, 11, 1) and bm.ceil(_ms(2023, 11, 1)) == _ms(2023, 11, 1)


def test_plan_back_tiles_the_periods_before_the_anchor_newest_first():
    m = interval("upbit", "1m")
    end = _ms(2023, 11, 14, 22, 14)
    pages = plan_back(m, end, 1201, 200)
    assert [p.count for p in pages] == [200] * 6 + [1]
    assert pages[0].end_ms == end
    for a, b in zip(pages, pages[1:], strict=False):
        assert b.end_ms == a.end_ms - a.count * MINUTE_MS  # each starts where the last one's slot ends
    assert all(p.start_ms is None for p in pages)
    assert plan_back(m, end, 0, 200) == []


def test_plan_range_bounds_every_page_by_its_slot():
    m = interval("binance-usdm", "1m")
    lo, hi = _ms(2023, 11, 1), _ms(2023, 11, 3)  # 2880 minutes
    pages = plan_range(m, lo, hi, 1500)
    assert [(p.start_ms, p.end_ms, p.count) for p in pages] == [
        (hi - 1500 * MINUTE_MS, hi, 1500), (lo, hi - 1500 * MINUTE_MS, 1380)]
    lead = plan_range(m, lo, hi, 1500, lead=1)
    # one period more, the oldest page unbounded: it reaches the close before the range
    assert lead == [pages[0], Page(hi - 1500 * MINUTE_MS, 1381)]


def test_a_page_proves_its_span_and_spans_join_back_from_the_anchor():
    p = Page(1000, 3)
    assert span_of(p, [700, 800, 900]) == Span(700, 1000)
    assert span_of(p, [800, 900]) == Span(None, 1000)  # fewer than asked: history starts inside
    assert span_of(Page(1000, 3, 700), [900]) == Span(700, 1000)
    # overlapping (gaps made a page reach past its slot) and touching spans join
    assert covered_from(1000, [Span(600, 800), Span(750, 1000), Span(100, 300)]) == 600
    assert covered_from(1000, [Span(300, 600), Span(600, 1000)]) == 300
    assert covered_from(1000, [Span(None, 700), Span(500, 1000)]) is None
    assert covered_from(1000, [Span(100, 900)]) == 1000  # a hole below the anchor: nothing known


def _candle(open_ms: int, close: str, *, tick: int = 0, recv: int = 0, closed: bool = True) -> Candle:
    px = Decimal(close)
    return Candle(venue="upbit", symbol="KRW-BTC", norm="BTC-KRW", interval="1m",
                  open_time_ns=open_ms * MS, open=px, high=px, low=px, close=px, volume=Decimal(1),
                  quote_volume=px, closed=closed, exch_ts_ns=tick, recv_ts_ns=recv, source="rest",
                  age_ms=0)


def test_merge_keeps_one_copy_per_period_and_never_an_older_one():
    known: dict[int, Candle] = {}
    fresh = _candle(60_000, "2", tick=5, recv=10)
    merge(known, [_candle(0, "1", tick=1, recv=1), fresh])
    merge(known, [_candle(60_000, "9", tick=4, recv=20)])  # an older last tick, received later
    assert known[60_000 * MS] is fresh and len(known) == 2
    same = _candle(60_000, "2", tick=5, recv=30)
    merge(known, [same])
    assert known[60_000 * MS] is same


def test_fill_inserts_missing_periods_at_the_previous_close():
    m = interval("upbit", "1m")
    rows = [_candle(2 * MINUTE_MS, "10"), _candle(5 * MINUTE_MS, "12")]
    prev = _candle(0, "9")
    out = fill(rows, m, MINUTE_MS, 7 * MINUTE_MS, prev=prev, now_ns=6 * MINUTE_MS * MS + 1)
    assert [c.open_time_ns // MS // MINUTE_MS for c in out] == [1, 2, 3, 4, 5, 6]
    assert [c.fill for c in out] == [True, False, True, True, False, True]
    assert [c.close for c in out] == [Decimal(x) for x in ("9", "10", "10", "10", "12", "12")]
    f = out[2]
    assert f.open == f.high == f.low == f.close == Decimal(10) and f.volume == f.quote_volume == 0
    assert out[-1].closed is False and f.closed is True  # minute 6 is still forming at now
    # with no close before the first candle, the periods before it stay absent
    assert [c.fill for c in fill(rows, m, 0, 3 * MINUTE_MS, prev=None, now_ns=0)] == [False]


def test_later_waves_space_their_pages_by_the_share_of_periods_with_a_candle():
    m = interval("upbit", "1m")
    end = _ms(2023, 11, 14, 22)
    dense = plan_wave(m, end, 450, 200, 1.0)
    assert [(p.end_ms, p.count) for p in dense] == [(end, 200), (end - 200 * MINUTE_MS, 200),
                                                    (end - 400 * MINUTE_MS, 50)]
    thin = plan_wave(m, end, 450, 200, 0.25)  # a page of 200 reaches ~800 minutes back
    assert [(end - p.end_ms) // MINUTE_MS for p in thin] == [0, 720, 1440]
    assert [p.count for p in thin] == [200, 200, 50] and plan_wave(m, end, 0, 200, 0.5) == []
