"""query.market's types are frozen and exact, and its errors one drawn tree naming the choices."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

import query.market
from query.market import errors
from query.market.errors import (
    BadResponseError,
    MarketDataError,
    RateLimitedError,
    UnknownIntervalError,
    UnknownNameError,
    UnknownSymbolError,
    UnknownVenueError,
)
from query.market.types import Trade, age_ms
from tests.errtree import assert_drawn_is_defined, outside_root


def test_the_docstring_draws_every_class_with_its_parent():
    tree = assert_drawn_is_defined(errors)
    assert tree["MarketDataError"] is None
    assert tree["UnknownIntervalError"] == "UnknownNameError"
    assert tree["BadResponseError"] == "MarketDataError"


def test_every_exception_query_market_defines_is_in_the_tree():
    assert outside_root(query.market, MarketDataError) == []


def test_unknown_names_list_the_valid_choices_and_are_value_errors():
    e = UnknownVenueError("kraken", ["upbit", "binance-spot", "binance-usdm"])
    assert isinstance(e, ValueError) and isinstance(e, UnknownNameError)
    assert str(e) == "unknown venue 'kraken'; valid: binance-spot, binance-usdm, upbit"
    many = UnknownSymbolError("upbit", "KRW-NOPE", [f"KRW-C{i:03}" for i in range(20)])
    assert "KRW-C000" in str(many) and str(many).endswith("and 8 more") and len(many.choices) == 20
    assert "1m, 3m" in str(UnknownIntervalError("upbit", "2m", ["1m", "3m"]))


def test_rate_limited_says_until_when():
    e = RateLimitedError("upbit", "ticker", 1_700_000_000_000_000_000, banned=True)
    assert e.until_ns == 1_700_000_000_000_000_000 and "418" in str(e)
    b = BadResponseError("upbit ticker", "trade_price", "missing")
    assert str(b) == "bad upbit ticker trade_price: missing" and b.field == "trade_price"


def test_types_are_frozen_and_age_is_never_negative():
    t = Trade(venue="upbit", symbol="KRW-BTC", norm="BTC-KRW", price=Decimal("1.5"), size=Decimal(2),
              side="buy", trade_id="1", exch_ts_ns=5_000_000, recv_ts_ns=6_000_000, source="rest",
              age_ms=0)
    with pytest.raises(AttributeError):
        t.price = Decimal(3)  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(t), type=Trade) == t
    assert age_ms(10_000_000, 5_000_000, 6_000_000) == 5
    assert age_ms(10_000_000, 0, 6_000_000) == 4
    assert age_ms(1, 5_000_000, 0) == 0
