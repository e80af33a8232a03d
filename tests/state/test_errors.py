"""The error tree of state/ (``state.errors``): one root, misuse typed and compatible with
the ValueError / KeyError callers caught before, a venue's fault never raised."""

from __future__ import annotations

import pytest

import state
from recorder.journal.record import FRAME, Record, StreamInfo
from state import errors
from state.errors import (
    RecordOrderError,
    SettingsError,
    SnapshotFormatError,
    StateError,
    UnknownSymbolError,
)
from state.events import DecodeError
from state.projector import Projector
from tests.errtree import assert_drawn_is_defined, outside_root


def test_the_tree_is_the_one_the_docstring_draws():
    tree = assert_drawn_is_defined(errors)
    assert tree["StateError"] is None and tree["UnknownSymbolError"] == "StateError"
    assert [c.__name__ for c in RecordOrderError.__mro__[:4]] == [
        "RecordOrderError", "StateUsageError", "StateError", "ValueError"]
    assert UnknownSymbolError.__bases__ == (StateError, KeyError)


def test_every_exception_state_defines_is_in_the_tree():
    assert outside_root(state, StateError) == []


def test_errors_carry_their_context():
    e = RecordOrderError(3, 9)
    assert (e.seq, e.last_seq, str(e)) == (3, 9, "record seq 3 after 9: records must be in order")
    e = SnapshotFormatError(2, 1)
    assert (e.expected, e.got, str(e)) == (2, 1, "not a projector snapshot of format 2 (format 1)")
    assert str(SettingsError("windows", "must grow")) == "windows: must grow"
    e = UnknownSymbolError("okx", "NOPE")
    assert str(e) == "no symbol 'NOPE' on 'okx'" and e.args[0] == str(e)


def test_a_malformed_frame_is_an_event_never_an_error():
    p = Projector({1: StreamInfo(1, "okx", "", "wss://ws.okx.com:8443/ws/v5/public")})
    [ev] = p.apply(Record(1, 1, 1, FRAME, b"\xff not json", None))
    assert type(ev) is DecodeError and ev.seq == 1 and ev.excerpt == b"\xff not json"
    with pytest.raises(StateError):  # while misuse is one
        p.apply(Record(1, 1, 1, FRAME, b"{}", None))
