"""Errors of replay: backtests, paper trading, ``replay state``.

    ReplayError                   base of everything replay/ raises of its own
    +-- ReplayUsageError          our own misuse: a request that cannot be run (also a ValueError)
    |   +-- BoundError            a ``--from``/``--to``/``--at`` that is no seq, date or time,
    |   |                         a range whose start is after its end, or bounds that select
    |   |                         no record (past the end, before the start, an empty journal)
    |   +-- StrategyLoadError     a strategy spec naming no file, a file that does not import,
    |   |                         or not exactly one ``Strategy`` subclass
    |   +-- ParamError            a ``--param`` that is malformed, unknown, or not of its default's type
    |   +-- FeeFileError          a fee file that is not venues with maker/taker rates >= 0
    |   +-- EngineConfigError     an ``EngineConfig`` value out of range (latency < 0, ...)
    |   +-- StrategyCallError     a strategy called its ``Context`` wrongly (a float quantity,
    |   |                         a timer given both a delay and a time); also a TypeError
    |   +-- UnknownMarketError    a venue or symbol no record has: ``--venues``, ``--symbols``,
    |                             ``replay state --venue/--symbol`` (also a KeyError)
    +-- RunError                  a run stopped by an exception of the strategy (``__cause__``)
                                  at a point of the records (``seq``, ``ts_ns``)

What is not here: errors reading the records pass through as they are (the journal's
``recorder.journal.JournalError``, the archive's ``query.archive.ArchiveError``), and
a venue's fault in a frame never raises (``state/`` makes it an event). A
``StrategyCallError`` raised inside a strategy callback reaches the caller of a run as
the ``__cause__`` of a ``RunError``, like any other exception of the strategy.

The usage errors also subclass ``ValueError`` (what replay raised before this tree), so
an existing ``except ValueError`` keeps working.
"""

from __future__ import annotations


class ReplayError(Exception):
    """Base class of replay errors."""


class ReplayUsageError(ReplayError, ValueError):
    """A request replay cannot run as given; nothing was run."""


class BoundError(ReplayUsageError):
    """A bound that is no seq, UTC date or ISO time, or a range that selects no record."""


class StrategyLoadError(ReplayUsageError):
    """The strategy spec (``path.py[:Class]``) does not lead to one ``Strategy`` subclass."""


class ParamError(ReplayUsageError):
    """A strategy parameter (``--param name=value``) that cannot be set."""


class FeeFileError(ReplayUsageError):
    """A fee file (TOML or JSON) that is not a table of venues with maker and taker rates."""


class EngineConfigError(ReplayUsageError):
    """An ``EngineConfig`` value out of range."""


class StrategyCallError(ReplayUsageError, TypeError):
    """A strategy called its ``Context`` with arguments it does not take."""


class UnknownMarketError(ReplayUsageError, KeyError):
    """No venue or symbol of that name in the records (the message names those there are)."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""


class RunError(ReplayError):
    """A run stopped by an exception of the strategy (or the engine) at a point in the records.

    ``seq`` is the last record applied; the original exception is ``__cause__``.
    """

    def __init__(self, seq: int, ts_ns: int, exc: BaseException) -> None:
        super().__init__(f"stopped at seq {seq} (ts_ns {ts_ns}): {type(exc).__name__}: {exc}")
        self.seq = seq
        self.ts_ns = ts_ns
