"""query/'s errors: one tree, drawn in the docstring of query/errors.py, and every class in it."""

from __future__ import annotations

import pytest

import query
from query import errors
from query.errors import (
    CheckpointFormatError,
    QueryError,
    QueryUsageError,
    SettingsError,
    UnknownTableError,
)
from tests.errtree import assert_drawn_is_defined, outside_root


def test_the_docstring_draws_every_class_with_its_parent():
    tree = assert_drawn_is_defined(errors)
    assert tree["QueryError"] is None and tree["UsageError"] == "QueryUsageError"


def test_every_exception_query_defines_is_in_the_tree():
    """A module of query/ raises the tree's classes (or its own subclasses of them)."""
    assert outside_root(query, QueryError) == []


def test_usage_errors_are_value_errors_with_their_context():
    e = SettingsError("keep_days", "must be >= 0")
    assert isinstance(e, ValueError) and e.name == "keep_days" and str(e) == "keep_days must be >= 0"
    e = UnknownTableError({"nope", "also"}, ("trades", "quotes"))
    assert isinstance(e, QueryUsageError) and isinstance(e, ValueError)
    assert (e.unknown, e.known) == (["also", "nope"], ["trades", "quotes"])
    assert str(e) == "not derived tables: also, nope (choose from trades, quotes)"
    e = CheckpointFormatError(1, 7)
    assert (e.expected, e.got, str(e)) == (1, 7, "deriver checkpoint format 7, expected 1")
    with pytest.raises(QueryError):
        raise errors.UsageError("bad")


def test_the_classes_are_importable_where_they_are_raised():
    from query.cli import UsageError
    from query.compact import CompactionBusy
    from query.manifest import ManifestError
    from query.prune import PruneError

    assert (UsageError, CompactionBusy, ManifestError, PruneError) == (
        errors.UsageError, errors.CompactionBusy, errors.ManifestError, errors.PruneError)
    assert query.QueryError is QueryError and query.CompactionBusy is errors.CompactionBusy
