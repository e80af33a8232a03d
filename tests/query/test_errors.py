"""query/'s errors: one tree, drawn in the docstring of query/errors.py, and every class in it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

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


def drawn_tree() -> dict[str, str | None]:
    """{class name: parent name} as the docstring draws it."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in errors.__doc__.splitlines():
        m = re.match(r"^(\s+)(?:[| ]*\+-- )?([A-Z]\w+)\s{2,}", line)
        if not m:
            continue
        col = line.index(m[2])
        while stack and stack[-1][0] >= col:
            stack.pop()
        parents[m[2]] = stack[-1][1] if stack else None
        stack.append((col, m[2]))
    return parents


def test_the_docstring_draws_every_class_with_its_parent():
    tree = drawn_tree()
    defined = {name: cls for name, cls in vars(errors).items()
               if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == errors.__name__}
    assert set(tree) == set(defined)
    assert tree["QueryError"] is None and tree["UsageError"] == "QueryUsageError"
    for name, parent in tree.items():
        if parent is not None:
            assert defined[parent] in defined[name].__bases__, name


def test_every_exception_query_defines_is_in_the_tree():
    """A module of query/ raises the tree's classes (or its own subclasses of them)."""
    outside = []
    for info in pkgutil.iter_modules(query.__path__):
        mod = importlib.import_module(f"query.{info.name}")
        for name, cls in vars(mod).items():
            if (inspect.isclass(cls) and issubclass(cls, Exception)
                    and cls.__module__.startswith("query") and not issubclass(cls, QueryError)):
                outside.append(f"{cls.__module__}.{name}")
    assert sorted(set(outside)) == []


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
