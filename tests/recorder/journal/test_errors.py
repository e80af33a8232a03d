"""The journal's errors: one tree, drawn in the docstring of recorder/journal/errors.py, with context."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import recorder.journal
from recorder.journal import errors
from recorder.journal.errors import (
    CorruptRecordError,
    CorruptValueError,
    JournalError,
    JournalUsageError,
    RecordOrderError,
    UnknownSegmentError,
)


def drawn_tree() -> dict[str, str | None]:
    """{class name: parent name} as the docstring draws it."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
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
    assert tree["JournalError"] is None and tree["UnknownSegmentError"] == "JournalUsageError"
    for name, parent in tree.items():
        if parent is not None:
            assert defined[parent] in defined[name].__bases__, name


def test_every_exception_the_journal_defines_is_in_the_tree():
    outside = []
    for info in pkgutil.iter_modules(recorder.journal.__path__):
        mod = importlib.import_module(f"recorder.journal.{info.name}")
        for name, cls in vars(mod).items():
            if (inspect.isclass(cls) and issubclass(cls, Exception)
                    and cls.__module__.startswith("recorder.journal") and not issubclass(cls, JournalError)):
                outside.append(f"{cls.__module__}.{name}")
    assert outside == []


def test_errors_carry_their_context():
    e = CorruptRecordError("2025-01-01", 17, "value does not decode: truncated")
    assert (e.segment, e.seq, e.reason) == ("2025-01-01", 17, "value does not decode: truncated")
    assert str(e) == "segment 2025-01-01 seq 17: value does not decode: truncated"
    assert isinstance(e, CorruptValueError) and isinstance(e, ValueError)
    assert str(CorruptValueError(3, "value holds seq 4 under key 3")) == "value holds seq 4 under key 3"
    e = RecordOrderError(9, 7, "seq must rise by one")
    assert (e.seq, e.after, str(e)) == (9, 7, "record seq 9 after seq 7: seq must rise by one")
    e = UnknownSegmentError("2030-01-01", [])
    assert str(e) == "no journal day '2030-01-01' (have none)" and isinstance(e, KeyError)
    assert isinstance(e, JournalUsageError) and isinstance(e, ValueError)
