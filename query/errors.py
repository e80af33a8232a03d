"""Errors of the archive and its queries (``query/``).

    QueryError                      base of everything query/ raises
    +-- ArchiveError                the archive does not match its manifest or the journal
    +-- ManifestError               the manifest is unreadable or of an unknown format
    +-- PruneError                  a journal day is not what the manifest says was archived
    +-- CompactionBusy              another compaction (or rebuild) holds the archive lock
    +-- InfluxTimeoutError          the InfluxDB sink did not drain in time (also a TimeoutError)
    +-- QueryUsageError             our own misuse of query's API (also a ValueError)
        +-- SettingsError           a setting out of range (``DeriveParams``, ``keep_days``)
        +-- UnknownTableError       a name that is not one of the derived tables
        +-- CheckpointFormatError   bytes that are no deriver checkpoint of this FORMAT
        +-- UsageError              bad input on the command line (``query`` exits 2)
    (+-- query.market.errors.MarketDataError: the market-data API's own tree, drawn there)

The first five are faults of the data, of another process or of the InfluxDB server, found
while working: the call that raised them changed nothing it had not finished and verified,
and running it again once the cause is fixed resumes (compaction and pruning are
re-runnable; an export sends its window again). A usage error is a bug of the caller, or
bad input, and the call did nothing.

What is not here: the journal's own errors (``recorder.journal.errors``) pass through
unchanged, and a malformed frame never raises (the projection quarantines it).
The usage errors subclass ``ValueError``, what query/ raised before this tree existed, so
an existing ``except ValueError`` keeps working. Each class is also importable from the
module that raises it (``query.manifest.ManifestError``, ``query.compact.CompactionBusy``...).
"""

from __future__ import annotations

from collections.abc import Iterable


class QueryError(Exception):
    """Base class of query/ errors."""


class ArchiveError(QueryError):
    """The archive does not match its manifest or the journal (or a day asked is not there)."""


class ManifestError(QueryError):
    """The manifest is unreadable or of an unknown format."""


class PruneError(QueryError):
    """A journal day does not match what the manifest says was archived: not deleted."""


class CompactionBusy(QueryError):
    """Another compaction (or rebuild) holds the archive lock."""


class InfluxTimeoutError(QueryError, TimeoutError):
    """The InfluxDB sink did not take more rows in time: the export stopped (see its stats)."""


class QueryUsageError(QueryError, ValueError):
    """query/ was called in a way it does not support (a bad argument, say)."""


class SettingsError(QueryUsageError):
    """A setting out of range; ``name`` is the keyword argument."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} {message}")
        self.name = name


class UnknownTableError(QueryUsageError):
    """Names that are not derived tables; ``unknown`` lists them, ``known`` the choices."""

    def __init__(self, unknown: Iterable[str], known: Iterable[str]) -> None:
        self.unknown = sorted(unknown)
        self.known = list(known)
        super().__init__(f"not derived tables: {', '.join(self.unknown)} "
                         f"(choose from {', '.join(self.known)})")


class CheckpointFormatError(QueryUsageError):
    """A blob given to ``Deriver.restore`` is not a deriver checkpoint of the current format.

    Compaction restores a checkpoint only when the manifest says the same projection
    version made it, so this is a damaged file or a bug; re-projecting from raw (``query
    rebuild``) does not need the checkpoint.
    """

    def __init__(self, expected: int, got: object) -> None:
        super().__init__(f"deriver checkpoint format {got!r}, expected {expected}")
        self.expected = expected
        self.got = got


class UsageError(QueryUsageError):
    """Bad input on the command line: ``query`` prints ``error: ...`` and exits 2."""
