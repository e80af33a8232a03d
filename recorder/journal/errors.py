"""Journal errors.

    JournalError                  base of everything the journal raises
    +-- NotAJournalError          the directory holds no journal (or another format)
    +-- JournalLockedError        another writer holds the journal
    +-- CorruptRecordError        a stored value does not decode (carries segment and seq)
    +-- JournalWriteError         the writer stopped; nothing after ``committed_seq`` is stored
        +-- JournalFullError      the segment reached its LMDB ``map_size``
        +-- DiskFullError         the file system refused the write (ENOSPC, EFBIG)

After a ``JournalWriteError`` the writer refuses further appends; every record up to
``committed_seq`` stays readable. Fix the cause and open a new writer: seq continues.
"""

from __future__ import annotations


class JournalError(Exception):
    """Base class of journal errors."""


class NotAJournalError(JournalError):
    """The directory is not a ticktape journal."""


class JournalLockedError(JournalError):
    """Another writer (this or another process) holds the journal."""


class CorruptRecordError(JournalError):
    """A stored record cannot be decoded."""

    def __init__(self, segment: str, seq: int, reason: str) -> None:
        super().__init__(f"segment {segment} seq {seq}: {reason}")
        self.segment = segment
        self.seq = seq
        self.reason = reason


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
