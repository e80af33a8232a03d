"""Candles (issue 17, item 5): a count or a range from a venue's REST API in concurrent pages.

``fetch_candles`` (``fetch``) is the call; ``intervals`` names each venue's intervals and
walks their period boundaries; ``paging`` plans pages and merges them (pure). The disk
cache (``store``) and the forming candle from live trades (``forming``) live beside them.
"""

from .fetch import CandleCache, CandleResult, fetch_candles
from .intervals import MAX_COUNT, PAGE, Interval, check_count, interval, intervals

__all__ = [
    "MAX_COUNT", "PAGE", "CandleCache", "CandleResult", "Interval", "check_count", "fetch_candles",
    "interval", "intervals",
]
