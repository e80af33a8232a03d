"""Journal errors.

    JournalError                  base of everything the journal raises
    +-- NotAJournalError          the directory holds no journal (or another format)
    +-- JournalLockedError        another writer holds the journal
    +-- CorruptValueError         a stored value is not the record of its key (carries seq; a ValueError)
    |   +-- CorruptRecordError    ... found reading a segment (carries segment too)
    +-- JournalWriteError         the writer stopped; nothing after ``committed_seq`` is stored
    |   +-- JournalFullError      the segment reached its LMDB ``map_size``
    |   +-- DiskFullError         the file system refused the write (ENOSPC, EFBIG)
    +-- JournalUsageError         our own misuse of the journal API (also a ValueError), e.g. a bad checkpoint seq
        +-- UnknownStreamError    an append to a stream id that was never registered
        +-- UnknownKindError      a record kind not in ``KINDS``
        +-- RecordOrderError      records handed over out of seq order, or time going back
        +-- UnknownSegmentError   a day the reader holds no segment of (also a KeyError)

After a ``JournalWriteError`` the writer refuses further appends; every record up to
``committed_seq`` stays readable. Fix the cause and open a new writer: seq continues.

A usage error is a bug of the caller and changes nothing stored: the call that raised
it did nothing. The usage errors (and ``CorruptValueError``) also subclass
``ValueError`` (``UnknownSegmentError`` ``KeyError``), what the journal raised before
this tree had them, so an existing ``except ValueError`` keeps working.
"""

from __future__ import annotations


class JournalError(Exception):
    """Base class of journal errors."""


class NotAJournalError(JournalError):
    """The directory is not a ticktape journal."""


class JournalLockedError(JournalError):
    """Another writer (this or another process) holds the journal."""


class CorruptValueError(JournalError, ValueError):
    """A stored value does not decode, or holds another seq than its key ``seq``."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


class CorruptRecordError(CorruptValueError):
    """A stored record of segment ``segment`` cannot be decoded."""

    def __init__(self, segment: str, seq: int, reason: str) -> None:
        super().__init__(seq, reason)
        self.args = (f"segment {segment} seq {seq}: {reason}",)
        self.segment = segment


class JournalWriteError(JournalError):
    """The writer failed and stopped; ``committed_seq`` is the last durable record."""

    def __init__(self, message: str, committed_seq: int) -> None:
        super().__init__(f"{message} (last committed seq {committed_seq}; writer stopped)")
        self.reason = message
        self.committed_seq = committed_seq


class JournalFullError(JournalWriteError):
    """The segment's LMDB map is full and may not grow further."""


class DiskFullError(JournalWriteError):
    """The file system is full (or the process hit its file-size limit)."""


class JournalUsageError(JournalError, ValueError):
    """The journal was called in a way it does not support (a bad argument, say)."""


class UnknownStreamError(JournalUsageError):
    """``stream`` is not in the streams table: register it first (``register_stream``)."""

    def __init__(self, stream: int) -> None:
        super().__init__(f"stream {stream} is not registered")
        self.stream = stream


class UnknownKindError(JournalUsageError):
    """``kind`` is not one of the record kinds (``recorder.journal.KINDS``)."""

    def __init__(self, kind: object) -> None:
        super().__init__(f"unknown record kind {kind!r}")
        self.kind = kind


class RecordOrderError(JournalUsageError):
    """Record ``seq`` came after ``after`` (seq must rise), or its time before the previous one's."""

    def __init__(self, seq: int, after: int, reason: str) -> None:
        super().__init__(f"record seq {seq} after seq {after}: {reason}")
        self.seq = seq
        self.after = after


class UnknownSegmentError(JournalUsageError, KeyError):
    """The reader holds no segment of ``day`` (``refresh()`` picks up new ones)."""

    def __init__(self, day: str, have: list[str]) -> None:
        super().__init__(f"no journal day {day!r} (have {', '.join(have) or 'none'})")
        self.day = day

    def __str__(self) -> str:  # KeyError's would quote the whole message
        return str(self.args[0])
