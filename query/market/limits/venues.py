"""Each venue's published REST limits as data, and Binance's request weights by parameters.

Sources: ``PROTOCOLS.md`` §1.6 (Binance USD-M), §2 (Binance spot), §3.5-3.6 (Upbit); the
ticker, trades and ``aggTrades`` weights, which that sheet does not list, are from Binance's
own endpoint pages and are marked so. Every figure is a default: build a ``VenueLimits``
with other numbers (``dataclasses.replace``) when a venue changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Params = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class GroupLimit:
    """At most ``limit`` units (requests or weight) per ``window_s`` seconds, shared by every
    endpoint of the group."""

    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """One venue's REST limits: its groups, which path goes to which group, and how it replies.

    ``margin_s`` holds each unit a little beyond its window: a request we send at the end of
    one of our windows may reach the venue's counter inside its next one (network jitter).
    ``ban_s`` is the block assumed after a 418 whose reply names no duration.
    """

    venue: str
    groups: Mapping[str, GroupLimit]
    paths: tuple[tuple[str, str], ...]  # (path prefix, group), longest prefix wins
    default_group: str | None = None  # for a path no prefix matches; None refuses it
    margin_s: float = 0.05
    ban_s: float = 60.0
    weight: Callable[[str, Params], int] = field(default=lambda path, params: 1)

    def group_of(self, endpoint: str) -> str:
        """The group of ``endpoint`` (a group name or a request path); ValueError names the
        valid groups when it has none."""
        if endpoint in self.groups:
            return endpoint
        best = ""
        group = self.default_group
        for prefix, g in self.paths:
            if endpoint.startswith(prefix) and len(prefix) > len(best):
                best, group = prefix, g
        if group is None:
            raise ValueError(
                f"{self.venue}: no rate-limit group for {endpoint!r}; groups: {', '.join(self.groups)}"
            )
        return group


# ---------------------------------------------------------------------------- Upbit

UPBIT = VenueLimits(
    venue="upbit",
    # Per second, per IP for quotation; per account for the exchange groups (§3.5).
    groups={
        "market": GroupLimit(10, 1.0),
        "candle": GroupLimit(10, 1.0),
        "trade": GroupLimit(10, 1.0),
        "ticker": GroupLimit(10, 1.0),
        "orderbook": GroupLimit(10, 1.0),
        "default": GroupLimit(30, 1.0),
        "order": GroupLimit(8, 1.0),
        "order-cancel-all": GroupLimit(1, 2.0),
    },
    paths=(
        ("/v1/market/", "market"),
        ("/v1/candles/", "candle"),
        ("/v1/trades/", "trade"),
        ("/v1/ticker", "ticker"),
        ("/v1/orderbook", "orderbook"),
    ),
    margin_s=0.05,
    # Upbit documents a block "with the duration in the response" but not its format.
    ban_s=60.0,
)


# ---------------------------------------------------------------------------- Binance


def _limit(params: Params, default: int) -> int:
    value = params.get("limit", default)
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"limit must be an integer, not {value!r}") from None


def _symbols(params: Params) -> int | None:
    """How many symbols the request names (None: every symbol)."""
    if params.get("symbol"):
        return 1
    many = params.get("symbols")
    if many is None:
        return None
    if isinstance(many, str):  # the query-string form, '["BTCUSDT","ETHUSDT"]'
        return max(1, many.count(",") + 1)
    return len(many)  # type: ignore[arg-type]


USDM_DEPTH = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


def binance_usdm_weight(path: str, params: Params) -> int:
    """The request weight of a USD-M REST call by its path and parameters (§1.6)."""
    if path == "/fapi/v1/depth":
        limit = _limit(params, 500)
        if limit not in USDM_DEPTH:
            raise ValueError(f"depth limit must be one of {sorted(USDM_DEPTH)}, not {limit}")
        return USDM_DEPTH[limit]
    if path in ("/fapi/v1/klines", "/fapi/v1/continuousKlines", "/fapi/v1/markPriceKlines",
                "/fapi/v1/indexPriceKlines"):
        limit = _limit(params, 500)
        if not 1 <= limit <= 1500:
            raise ValueError(f"klines limit must be 1..1500, not {limit}")
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    # Binance's endpoint pages (not in PROTOCOLS.md): one symbol or all.
    if path == "/fapi/v1/ticker/24hr":
        return 1 if _symbols(params) else 40
    if path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"):
        return 1 if _symbols(params) else 2
    if path == "/fapi/v1/ticker/bookTicker":
        return 2 if _symbols(params) else 5
    if path == "/fapi/v1/trades":
        return 5
    if path == "/fapi/v1/aggTrades":
        return 20
    return 1  # exchangeInfo, premiumIndex, time, ping


def binance_spot_weight(path: str, params: Params) -> int:
    """The request weight of a spot REST call by its path and parameters (§2)."""
    if path == "/api/v3/depth":
        limit = _limit(params, 100)
        if not 1 <= limit:
            raise ValueError(f"depth limit must be >= 1, not {limit}")
        # Above 5000 Binance returns 5000 entries and charges as for 5000.
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path in ("/api/v3/klines", "/api/v3/uiKlines"):
        return 2
    if path == "/api/v3/exchangeInfo":
        return 20
    # Binance's endpoint pages (not in PROTOCOLS.md).
    if path == "/api/v3/ticker/24hr":
        n = _symbols(params)
        if n is None:
            return 80
        return 2 if n <= 20 else 40 if n <= 100 else 80
    if path in ("/api/v3/ticker/price", "/api/v3/ticker/bookTicker"):
        return 2 if _symbols(params) else 4
    if path == "/api/v3/trades":
        return 25
    if path == "/api/v3/aggTrades":
        return 4
    return 1 if path == "/api/v3/ping" else 2  # avgPrice, time: 1 or 2; 2 is the safe side


BINANCE_USDM = VenueLimits(
    venue="binance-usdm",
    # REQUEST_WEIGHT 2400 / 1 MINUTE, per IP (exchangeInfo's rateLimits).
    groups={"weight": GroupLimit(2400, 60.0)},
    paths=(),
    default_group="weight",
    margin_s=1.0,
    ban_s=120.0,
    weight=binance_usdm_weight,
)

BINANCE_SPOT = VenueLimits(
    venue="binance-spot",
    groups={"weight": GroupLimit(6000, 60.0)},
    paths=(),
    default_group="weight",
    margin_s=1.0,
    ban_s=120.0,
    weight=binance_spot_weight,
)

VENUE_LIMITS: dict[str, VenueLimits] = {v.venue: v for v in (UPBIT, BINANCE_USDM, BINANCE_SPOT)}


def request_weight(venue: str, path: str, params: Params | None = None) -> int:
    """What ``venue`` charges for ``path`` with ``params``: pass it as ``acquire``'s weight."""
    return _venue(VENUE_LIMITS, venue).weight(path, params or {})


def _venue(table: Mapping[str, VenueLimits], venue: str) -> VenueLimits:
    try:
        return table[venue]
    except KeyError:
        raise ValueError(f"no limits for venue {venue!r}; venues: {', '.join(table)}") from None
