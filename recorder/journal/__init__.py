"""The append-only journal: every record, gapless, durable, readable while written.

    from recorder.journal import JournalWriter, JournalReader, Record
"""

from .errors import (
    CorruptRecordError,
    DiskFullError,
    JournalError,
    JournalFullError,
    JournalLockedError,
    JournalWriteError,
    NotAJournalError,
)
from .reader import JournalReader, SegmentInfo
from .record import CLOSE, ERROR, FRAME, KINDS, MARK, OPEN, REST, SENT, Record, StreamInfo
from .segments import set_seq_floor
from .writer import DURABILITY, JournalWriter

__all__ = [
    "CLOSE", "DURABILITY", "ERROR", "FRAME", "KINDS", "MARK", "OPEN", "REST", "SENT",
    "CorruptRecordError", "DiskFullError", "JournalError", "JournalFullError",
    "JournalLockedError", "JournalReader", "JournalWriteError", "JournalWriter",
    "NotAJournalError", "Record", "SegmentInfo", "StreamInfo", "set_seq_floor",
]
