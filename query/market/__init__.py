"""The market-data API's read side (issue 17), being built.

Built so far: one set of types for ticker, order book, trades and candles whatever the
source (``types``), their error tree (``errors``), the pure normalizers from each venue's
REST and WebSocket shapes and from the projection's state (``normalize``), and the venues'
REST limits with a priority limiter (``limits``), the REST client (``rest``) and paged
candles over it (``candles.fetch_candles``). ``MarketData`` (routing between memory, the
journal and REST; subscriptions; attach to a running recorder; the ``query market``
command) is not built yet: see the README's Status.
"""

from .errors import (
    BadRequestError,
    BadResponseError,
    MarketDataError,
    RateLimitedError,
    StaleDataError,
    UnknownIntervalError,
    UnknownNameError,
    UnknownSymbolError,
    UnknownVenueError,
    VenueUnavailableError,
)
from .types import Candle, OrderBook, Ticker, Trade

__all__ = [
    "BadRequestError", "BadResponseError", "Candle", "MarketDataError", "OrderBook", "RateLimitedError",
    "StaleDataError", "Ticker", "Trade", "UnknownIntervalError", "UnknownNameError",
    "UnknownSymbolError", "UnknownVenueError", "VenueUnavailableError",
]
