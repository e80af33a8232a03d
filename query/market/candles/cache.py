"""The fetcher's cache (``fetch.CandleCache``) over a ``store.CandleStore``.

The fetcher hands back the closed candles it knows without a hole, ascending, with the
``[from, to)`` they cover (periods in it without a candle had no trades). The store keeps
that coverage beside the rows; ``get`` answers only ranges it covers whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from query.errors import ArchiveError
from query.market.types import Candle

from .store import CandleStore

log = logging.getLogger(__name__)


class StoreCache:
    """``get``/``put`` as ``fetch_candles`` asks them; ``clock`` stamps the answers' age."""

    def __init__(self, store: CandleStore, clock: Callable[[], int]) -> None:
        self.store = store
        self.clock = clock

    def get(self, venue: str, symbol: str, interval: str, start_ns: int, end_ns: int) -> list[Candle] | None:
        return self.store.get(venue, symbol, interval, start_ns, end_ns, now_ns=self.clock())

    def put(self, candles: Sequence[Candle], *, covered: tuple[int, int]) -> None:
        """Keep what was fetched; a store out of reach (S3 down) is logged, the answer still goes out."""
        rows = [c for c in candles if c.closed and not c.fill]
        if rows:
            try:
                self.store.put(rows, covered=covered)
            except ArchiveError as e:
                log.warning("candle cache %s not written, the next request asks the venue again: %s",
                            self.store.root, e)

    def close(self) -> None:
        self.store.close()
