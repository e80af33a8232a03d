"""Each venue's book sync rule: the table, as the compiled core (``ticktape::sync``) holds it.

A rule answers, for a delta and the book's position, apply, stale (older than the book:
drop quietly) or gap (continuity broken). ``RULES`` is the table, one row per venue: the
name of its check and how the venue differs (resync by REST snapshot, book tickers with the
depth update id, levels with their own ids, full snapshots only, a checksum of the levels).
The checks and the driver that runs them for every venue the same way live in the core
(``ticktape::sync`` and ``ticktape::book``), behind ``state.book.Book``:

- REST-synced venues (Binance, Gate, KuCoin) buffer deltas (up to ``BUFFER_LIMIT``) until a
  snapshot arrives, then replay the buffer through the rule; a snapshot older than the
  buffered stream is a ``stale_snapshot`` Gap and the book keeps waiting.
- WebSocket-snapshot venues (Bybit, OKX, Phemex) drop deltas until their snapshot.
- Upbit sends full snapshots only.

A Gap clears the book, marks it invalid and (REST-synced) starts buffering again.

Every check but OKX's checksum decides on update ids alone (``ids_suffice``): a sync-only
projection decodes those venues' book events without their levels and keeps none
(``Book(..., sync_only=True)``), through these same rules.

This module is the table's Python face: the facts other modules ask of a venue's rule.
"""

from __future__ import annotations

from typing import NamedTuple

import ticktape_core


class Rule(NamedTuple):
    """One venue's row of ``RULES``."""

    check: str | None  # the name of its continuity check in the core; None: deltas not applied
    rest_synced: bool = False  # resynced by a REST snapshot (deltas buffered until it comes)
    ticker_update_id: bool = False  # its book ticker carries the depth update id (Binance u)
    level_ids: bool = False  # each level carries its own update id (KuCoin)
    snapshots_only: bool = False  # the venue sends full books, never deltas (Upbit)
    checksum: bool = False  # its books carry a checksum of their top levels (OKX): sync reads levels


RULES: dict[str, Rule] = {name: Rule(*row) for name, *row in ticktape_core.sync_rules()}
_NO_RULE = Rule(None)  # a venue without a rule: its deltas are not applied

BUFFER_LIMIT: int = ticktape_core.BUFFER_LIMIT  # deltas kept per book while waiting for a snapshot


def rule_of(rule: str) -> Rule:
    """The row of ``rule`` (a venue without one: nothing applied, nothing buffered)."""
    return RULES.get(rule, _NO_RULE)


def rest_synced(rule: str) -> bool:
    return rule_of(rule).rest_synced


def ids_suffice(rule: str) -> bool:
    """The rule decides on update ids alone (every venue but a checksummed one): a sync-only
    projection may leave the levels undecoded and unkept, with the same Gaps and validity."""
    return not rule_of(rule).checksum
