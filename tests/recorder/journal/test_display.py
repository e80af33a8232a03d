"""recorder/journal/display.py: ISO times both ways, byte sizes, rows at any width."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from recorder.journal.display import human_bytes, iso_ns, parse_iso_ns, render_rows


@pytest.mark.parametrize(("text", "ns"), [
    ("2024-08-08", 1723075200 * 10**9),
    ("2024-08-08T23:54:15.030Z", 1723161255_030_000_000),
    ("2024-08-09T08:54:15.030+09:00", 1723161255_030_000_000),
    ("1969-12-31T23:59:59.5", -500_000_000),  # before the epoch: whole seconds floor, then the fraction
])
def test_parse_iso_ns(text, ns):
    assert parse_iso_ns(text) == ns


def test_parse_iso_ns_refuses_what_is_no_time():
    with pytest.raises(ValueError, match="not an ISO time: 'yesterday'"):
        parse_iso_ns("yesterday")


def test_iso_ns_round_trips_and_cuts_digits():
    ns = 1723161255_030_000_123
    assert iso_ns(ns) == "2024-08-08T23:54:15.030000123Z" and parse_iso_ns(iso_ns(ns)[:-4] + "Z") == ns - 123
    assert iso_ns(ns, digits=3) == "2024-08-08T23:54:15.030Z"
    assert iso_ns(None) == "-"


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 1536, 3 * 2**30, 2**41)] == ["512 B", "1.5 KiB", "3.0 GiB", "2.0 TiB"]


def _render(width, **kw):
    out = io.StringIO()
    render_rows(["day", "a rather long column name", "records"],
                [["2021-04-17", "x" * 40, "452"], ["2024-08-08", "y", "93954"]],
                Console(file=out, width=width, color_system=None), **kw)
    return out.getvalue()


def test_rows_are_a_table_when_they_fit_and_blocks_with_whole_headers_when_not():
    wide = _render(200)
    assert "a rather long column name" in wide and "┃" in wide and "row 1" not in wide
    narrow = _render(50)
    assert "row 1" in narrow and "row 2" in narrow and narrow.count("a rather long column name") == 2
    assert "x" * 40 in "".join(line.strip() for line in narrow.splitlines())  # folded, never cut
    keyed = _render(50, keyed=True)
    assert "day 2021-04-17" in keyed and "day 2024-08-08" in keyed and "row 1" not in keyed
