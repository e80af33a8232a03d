"""Rebuild: derived tables again from raw; new parameters change them, the defaults restore the bytes."""

from __future__ import annotations

import pytest

from query import manifest
from query.archive import ArchiveError
from query.catalog import connect
from query.compact import compact
from query.derive import TABLES, DeriveParams
from query.errors import UnknownTableError
from query.rebuild import rebuild
from tests.query.conftest import FINISHED_SMALL, tree_state


def archive_hashes(data) -> dict[str, str]:
    return {k: v[0] for k, v in tree_state(data / "archive").items()}


def test_new_parameters_change_one_table_then_the_defaults_restore_the_bytes(multi_day):
    compact(multi_day, through=FINISHED_SMALL[-1])
    before = archive_hashes(multi_day)
    m0 = manifest.load(multi_day)
    # Twice the book sampling rate: more book_levels rows, other tables untouched.
    res = rebuild(multi_day, ["book_levels"], params=DeriveParams(book_interval_ms=500))
    assert res.days == list(FINISHED_SMALL) and res.tables == ["book_levels"]
    old_rows = sum(m0["days"][d]["tables"]["book_levels"]["rows"] for d in FINISHED_SMALL)
    assert res.rows["book_levels"] > old_rows
    m1 = manifest.load(multi_day)
    for d in FINISHED_SMALL:
        assert m1["days"][d]["projection"]["partial"] == ["book_levels"]
        assert m1["days"][d]["tables"]["trades"] == m0["days"][d]["tables"]["trades"]
        assert m1["days"][d]["tables"]["raw"] == m0["days"][d]["tables"]["raw"]
    n = connect(multi_day, hot=False).sql("SELECT count(*) FROM book_levels").fetchall()[0][0]
    assert n == res.rows["book_levels"]
    # Every table again with the default parameters: the archive compaction made, to the byte.
    res = rebuild(multi_day)
    assert res.tables == list(TABLES) and res.rows["trades"] > 0
    assert archive_hashes(multi_day) == before
    assert manifest.load(multi_day) == m0


def test_one_day_restarts_from_the_previous_checkpoint(multi_day):
    compact(multi_day, through=FINISHED_SMALL[-1])
    before = archive_hashes(multi_day)
    res = rebuild(multi_day, from_day=FINISHED_SMALL[1], to_day=FINISHED_SMALL[1])
    assert res.days == [FINISHED_SMALL[1]] and res.replayed_days == 0
    assert archive_hashes(multi_day) == before


def test_unknown_tables_and_empty_ranges_are_refused(multi_day):
    compact(multi_day, through=FINISHED_SMALL[0])
    before = archive_hashes(multi_day)
    with pytest.raises(UnknownTableError) as exc:
        rebuild(multi_day, ["trades", "nope"])
    assert exc.value.unknown == ["nope"] and isinstance(exc.value, ValueError)
    with pytest.raises(ArchiveError, match="no archived days from 2030-01-01"):
        rebuild(multi_day, from_day="2030-01-01")
    assert archive_hashes(multi_day) == before
