"""The append-only journal: every record, gapless, durable, readable while written.

The bottom layer of ticktape. This package's own namespace holds only what every layer
may import without touching LMDB: the record type, the stream table entry, the one
codec of the stored value, and the error tree. The reader and the writer are imported
from their modules, so a pure projection (``state/``) never loads LMDB:

    from recorder.journal import Record, StreamInfo            # no I/O
    from recorder.journal.reader import JournalReader          # LMDB, read path
    from recorder.journal.writer import JournalWriter          # LMDB, the one writer
    from recorder.journal.checkpoints import LmdbCheckpointStore   # and its in-memory twin
    from recorder.journal.source import RecordSource           # what replay reads: the
    from recorder.journal.memory import MemorySource           # journal, the archive
                                                               # (query.archive), a list
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
from .record import CLOSE, ERROR, FRAME, KINDS, MARK, OPEN, REST, SENT, Record, StreamInfo

__all__ = [
    "CLOSE", "ERROR", "FRAME", "KINDS", "MARK", "OPEN", "REST", "SENT",
    "CorruptRecordError", "DiskFullError", "JournalError", "JournalFullError",
    "JournalLockedError", "JournalWriteError", "NotAJournalError", "Record", "StreamInfo",
]
