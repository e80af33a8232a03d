"""recorder/errors.py: the drawn tree is the class tree; misuse and config errors stay ValueErrors."""

from __future__ import annotations

import re

import recorder.errors as errors
from recorder.journal.errors import JournalError


def test_the_docstring_draws_the_class_tree():
    drawn = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.split("\n\n")[1].splitlines():
        m = re.match(r"^[\s|]*(?:\+-- )?([A-Z]\w+Error)\b", line)
        if not m:
            continue
        depth = line.index(m.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[m.group(1)] = stack[-1][1] if stack else None
        stack.append((depth, m.group(1)))
    for name, parent in drawn.items():
        cls = getattr(errors, name)
        if parent is not None:
            assert issubclass(cls, getattr(errors, parent)), (name, parent)
    assert drawn["RecorderError"] is None and drawn["ConfigError"] == "RecorderError"
    ours = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.RecorderError)}
    assert ours <= set(drawn)


def test_value_errors_and_context():
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.RecorderUsageError, ValueError)
    assert issubclass(errors.UnknownVenueError, KeyError)
    assert not issubclass(errors.VenueError, ValueError)
    e = errors.VenueReplyError("binance-usdm", "depth snapshot", "missing lastUpdateId")
    assert (str(e), e.venue, e.what) == ("binance-usdm: not a depth snapshot: missing lastUpdateId",
                                         "binance-usdm", "depth snapshot")
    assert str(errors.UnknownVenueError("okx", ("upbit",))) == "unknown venue 'okx' (known: upbit)"
    assert errors.JournalError is JournalError


def test_a_capture_error_is_a_recorder_error_raised_by_the_importer(tmp_path):
    import pytest

    from recorder.importer import import_files

    bad = tmp_path / "x.jsonl"
    bad.write_text('{"type": "recv", "not": "a capture"}\n')
    with pytest.raises(errors.CaptureError) as info:
        import_files(tmp_path / "data", [bad])
    assert isinstance(info.value, errors.RecorderError) and isinstance(info.value, ValueError)
    assert "x.jsonl" in str(info.value)
