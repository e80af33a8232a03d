"""The journal's errors: one tree, drawn in the docstring of recorder/journal/errors.py, with context."""

from __future__ import annotations

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
from tests.errtree import assert_drawn_is_defined, outside_root


def test_the_docstring_draws_every_class_with_its_parent():
    tree = assert_drawn_is_defined(errors)
    assert tree["JournalError"] is None and tree["UnknownSegmentError"] == "JournalUsageError"


def test_every_exception_the_journal_defines_is_in_the_tree():
    assert outside_root(recorder.journal, JournalError) == []


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
