"""The market-data API (the read side): ``from query.market import MarketData``.

    api.MarketData           ticker, tickers, orderbook, trades, candles, snapshot, subscribe
    blocking.BlockingMarketData   the same without await (scripts, notebooks)
    types                    Ticker, OrderBook, Trade, Candle: one shape whatever the source
    errors                   MarketDataError and its tree
    normalize                every venue's REST and WebSocket shapes, and projections, to types
    rest, limits, breaker    the REST client: limiter by priority, circuit breakers, journal sink
    names, quotes            symbol lists and names; tickers, books and trades over REST
    memory                   answers from live state (Source, View); folded (a Projector),
                             inprocess (an embedded recorder), attached (a running recorder's
                             live table, read through attach.Attached)
    candles                  paged fetching, the disk cache (store), the forming candle
    cli                      ``query market ...``

See the README's "The market-data API".
"""

from .api import MarketData, Routing, Snapshot
from .blocking import BlockingMarketData
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
from .limits import Priority
from .types import Candle, OrderBook, Ticker, Trade

__all__ = [
    "BadRequestError", "BadResponseError", "BlockingMarketData", "Candle", "MarketData", "MarketDataError",
    "OrderBook", "Priority", "RateLimitedError", "Routing", "Snapshot", "StaleDataError", "Ticker", "Trade",
    "UnknownIntervalError", "UnknownNameError", "UnknownSymbolError", "UnknownVenueError",
    "VenueUnavailableError",
]
