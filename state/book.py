"""One symbol's order book on one venue, kept in sync by the venue's rule: opaque.

The book is the compiled core's (``ticktape::book``, bound as ``ticktape_core.Book``); this
module hands the core the Python classes it makes values of (``Gap``, ``Decimal``) and is
where the rest of the project finds it. A ``Book`` changes only by folding events, each
through the venue's sync rule (``state.sync``, the one table of rules), and by
``Book.from_state`` (a checkpoint):

- ``apply_snapshot(snapshot, out, report) -> int``: a full (or top-N) book; REST-synced
  venues then replay the deltas buffered while waiting for it. A top-N picture (Binance
  ``@depth20``, ``depth`` set) is the book only while no delta has come: a diff stream
  beside it owns the book from its first delta on (``mode`` "diff"), synced by its own
  snapshot, and later pictures are ignored;
- ``apply_delta(delta, out, report) -> int``: changed levels, applied when the rule says
  they follow on, buffered or dropped otherwise;
- ``apply_ticker(ticker, out, report) -> None``: a book ticker carrying the depth stream's
  update id (Binance ``u``) is compared with the book at that id, now or when the book
  gets there (up to ``PENDING_TICKERS`` wait).

Each appends the ``Gap`` events it derives to ``out`` and returns how many it appended
(0 almost always: the caller counts them without scanning ``out``). Validation findings
go to ``report(event, kind, detail, out)`` (``kind`` one of ``state.validation.KINDS``;
the projector turns them into counted ``Anomaly`` events), after the Gaps, in this
order: rejected levels (``unparseable``), Upbit totals (``total_mismatch``, summed exactly),
the book becoming crossed (``crossed_book``), book tickers it disagrees with
(``ticker_mismatch``). Where an input breaks the fold (an update id the rule needs is None,
a KuCoin level id that is no integer, an Upbit size ``Decimal`` refuses) the call raises
what Python's ``int`` / ``Decimal`` / comparison would, after the findings made before it.

After a Gap the book is invalid until a snapshot re-syncs it: ``needs_snapshot`` is
True, and the live recorder fetches one (``rest_synced`` venues) or resubscribes.

A sync-only book (``Book(..., sync_only=True)``, the sync-only projection's) keeps no
levels when its rule decides on update ids alone (``state.sync.ids_suffice``: all but
OKX's checksum): the same rule folds the same events to the same Gaps, validity, ids and
buffer, but reads see an empty book, and no level is rejected or found crossed.

Everything else is a read: the read-only properties (``valid``, ``last_id``, ``gaps``,
...; assigning one raises ``AttributeError``), best prices, top N, raw levels, the OKX
checksum, and ``state()`` for checkpoints. Prices and sizes are exact (``Decimal``, or
the strings as sent); two spellings of one price are one level, the newest string kept.
"""

from __future__ import annotations

from decimal import Decimal

import ticktape_core

from .events import Gap

ticktape_core.book_types(Gap, Decimal)

Book = ticktape_core.Book
PENDING_TICKERS: int = ticktape_core.PENDING_TICKERS  # book tickers waiting for the depth stream

__all__ = ["Book", "PENDING_TICKERS"]
