"""Venue REST limits and the limiter that keeps requests within them (issue 17, item 6).

``Limiter.acquire`` before each REST call, ``Limiter.observe`` with each reply;
``request_weight`` says what a Binance call costs. See ``limiter`` for the caller's steps.
"""

from .errors import Banned, RateLimited, Throttled
from .limiter import Limiter, Priority
from .replies import RemainingReq, parse_remaining_req
from .venues import (
    BINANCE_SPOT,
    BINANCE_USDM,
    UPBIT,
    VENUE_LIMITS,
    GroupLimit,
    VenueLimits,
    binance_spot_weight,
    binance_usdm_weight,
    request_weight,
)

__all__ = [
    "BINANCE_SPOT", "BINANCE_USDM", "UPBIT", "VENUE_LIMITS", "Banned", "GroupLimit", "Limiter",
    "Priority", "RateLimited", "RemainingReq", "Throttled", "VenueLimits", "binance_spot_weight",
    "binance_usdm_weight", "parse_remaining_req", "request_weight",
]
