"""Validation kinds and per-stream counters (``state.validation``)."""

from __future__ import annotations

import pytest

from state.validation import COUNTS, KINDS, Counters, classify, classify_size


@pytest.mark.parametrize(("value", "kind"), [("1.5", None), ("1e-400", None), ("0", "nonpositive_price"),
                                             ("-2", "nonpositive_price"), ("NaN", "nan"),
                                             ("inf", "nan"), ("x", "unparseable"), ("", "unparseable")])
def test_classify_a_price(value, kind):
    assert classify(value) == kind


def test_classify_a_size():
    assert classify_size("0", strict=False) is None and classify_size("0", strict=True) == "bad_size"
    assert classify_size("-1", strict=False) == "bad_size" and classify_size("nan", strict=True) == "nan"


def test_counters_by_stream_and_their_state():
    c = Counters()
    c.add(2, "gap")
    c.add(1, "nan", 3)
    c.add(2, "decode_error")
    c.add(2, "gap", 2)
    assert c.as_dict() == {1: {"nan": 3}, 2: {"decode_error": 1, "gap": 3}}
    assert (c.get(2, "gap"), c.get(3, "gap"), c.total("gap")) == (3, 0, 3)
    assert c.state() == [[1, [("nan", 3)]], [2, [("decode_error", 1), ("gap", 3)]]]  # sorted
    assert Counters.from_state(c.state()).as_dict() == c.as_dict()
    assert "gap" in COUNTS and "crossed_book" in KINDS and not set(COUNTS) & set(KINDS)
