"""Errors of the projections (``state/``).

    StateError                    base of everything state/ raises
    +-- StateUsageError           the caller used a projection wrongly (also a ValueError)
    |   +-- RecordOrderError      a record's seq is not above the last one folded
    |   +-- SnapshotFormatError   bytes that are no projector snapshot of this FORMAT
    |   +-- SettingsError         a setting out of range (e.g. windows not increasing)
    |   +-- RowFormatError        bytes that are no live-table row of this ROW_FORMAT
    +-- UnknownSymbolError        no symbol of that name on that venue (also a KeyError)

What is not here, on purpose: a venue's fault never raises. A malformed frame becomes
a ``state.events.DecodeError`` *event* (quarantined with its seq, counted per stream),
a break in a book's continuity a ``Gap`` event, a bad price an ``Anomaly`` event; the
fold goes on. Everything above is our own misuse, and stops the call that made it.

The usage errors also subclass ``ValueError`` (and ``UnknownSymbolError`` ``KeyError``),
what state/ raised before this tree existed, so existing ``except ValueError`` keeps working.
"""

from __future__ import annotations


class StateError(Exception):
    """Base class of state/ errors."""


class StateUsageError(StateError, ValueError):
    """A projection was called in a way it does not support."""


class RecordOrderError(StateUsageError):
    """A record came with a seq at or below the last folded one: records must be in order.

    Nothing of the record was folded; the projector is as it was before the call.
    """

    def __init__(self, seq: int, last_seq: int) -> None:
        super().__init__(f"record seq {seq} after {last_seq}: records must be in order")
        self.seq = seq
        self.last_seq = last_seq


class RowFormatError(StateUsageError):
    """A payload given to ``state.live_row.decode_row`` is no live row of this format
    (another ``ROW_FORMAT``, or not a row at all)."""


class SnapshotFormatError(StateUsageError):
    """A blob given to ``Projector.restore`` is not a snapshot of the current format.

    ``got`` is the format it carries (None when it is no snapshot at all). Recovery then
    projects from the first record (``state.checkpoint.restore_newest`` does so).
    """

    def __init__(self, expected: int, got: object = None, detail: str = "") -> None:
        why = f"format {got!r}" if got is not None else (detail or "no snapshot")
        super().__init__(f"not a projector snapshot of format {expected} ({why})")
        self.expected = expected
        self.got = got


class SettingsError(StateUsageError):
    """A projector setting out of range; ``name`` is the keyword argument."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class UnknownSymbolError(StateError, KeyError):
    """No symbol matches the name on that venue (``Projector.resolve_symbol``)."""

    def __init__(self, venue: str, name: str) -> None:
        super().__init__(f"no symbol {name!r} on {venue!r}")
        self.venue = venue
        self.name = name

    def __str__(self) -> str:  # KeyError's would quote the message again
        return str(self.args[0])
