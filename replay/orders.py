"""Simulated orders, fills and rejections: plain records, exact Decimal quantities."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

BUY = "buy"
SELL = "sell"

# Order life: PENDING (travelling to the venue for ``latency``) -> OPEN (a resting limit)
# -> FILLED; or REJECTED at arrival, or CANCELLED (by the strategy, or the unfilled rest
# of a market order when the book runs out of liquidity).
PENDING = "pending"
OPEN = "open"
FILLED = "filled"
CANCELLED = "cancelled"
REJECTED = "rejected"

# Why an order was rejected (the keys of the summary's ``rejections``).
BOOK_INVALID = "book_invalid"  # the book is gapped / not synced: no stale-price fills
NO_BOOK = "no_book"  # the projection has no book for the symbol
NO_LIQUIDITY = "no_liquidity"  # a market order met an empty opposite side
UNKNOWN_SYMBOL = "unknown_symbol"
BAD_ORDER = "bad_order"  # qty <= 0, price <= 0


@dataclass
class Order:
    """One order; ``price`` None is a market order."""

    id: int
    venue: str
    symbol: str  # the projection's symbol key (native)
    norm: str
    side: str
    qty: Decimal
    price: Decimal | None
    submit_ns: int  # record time the strategy sent it
    active_ns: int  # submit_ns + latency: when it reaches the venue
    tag: str = ""
    status: str = PENDING
    filled: Decimal = Decimal(0)
    reason: str = ""
    done_ns: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_market(self) -> bool:
        return self.price is None


@dataclass(frozen=True)
class Fill:
    """One execution at one price (a market order walking 3 levels makes 3 fills)."""

    order_id: int
    seq: int  # the journal record whose book or trade it was matched against
    ts_ns: int
    venue: str
    symbol: str
    norm: str
    side: str
    price: Decimal
    qty: Decimal
    notional: Decimal  # price * qty, in the quote currency
    fee: Decimal  # notional * rate, in the quote currency
    currency: str  # the quote currency of notional and fee
    liquidity: str  # "taker" or "maker"
    tag: str = ""

