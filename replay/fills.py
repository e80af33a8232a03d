"""The fill model: walking a projected book, trade-through fills, fee schedules.

Assumptions (the README's "fill model" section says the same):

- Market orders take liquidity: they walk the opposite side of the projected book,
  best level first, at each level's price, up to the level's size; whatever the
  book cannot fill is cancelled. Our own fills do not remove liquidity from the
  projected book (the book is the venue's; a later order may hit the same levels).
- A limit order that crosses the book when it arrives takes liquidity like a market
  order, but only at levels at or better than its price; the rest rests.
- A resting limit order is filled (maker) only when a public trade prints strictly
  through its price: a buy at P fills when a trade prints below P, a sell at P when
  one prints above P, for at most that trade's size, at P. A trade *at* P never
  fills it: we assume we are last in the queue at P, and a print through P proves
  the whole level was consumed. This is conservative (it under-fills).
- Fees are ``notional * rate`` in the quote currency, maker or taker, per venue.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .errors import FeeFileError
from .orders import BUY


@dataclass(frozen=True)
class FeeRate:
    maker: Decimal
    taker: Decimal


# Regular (no-VIP, no-discount) public rates; pass ``--fees FILE`` for your own tier.
DEFAULT_FEES: dict[str, FeeRate] = {
    "binance-usdm": FeeRate(Decimal("0.0002"), Decimal("0.0005")),
    "binance-spot": FeeRate(Decimal("0.001"), Decimal("0.001")),
    "upbit": FeeRate(Decimal("0.0005"), Decimal("0.0005")),
    "bybit": FeeRate(Decimal("0.0002"), Decimal("0.00055")),
    "okx": FeeRate(Decimal("0.0002"), Decimal("0.0005")),
    "gate": FeeRate(Decimal("0.002"), Decimal("0.002")),
    "kucoin": FeeRate(Decimal("0.001"), Decimal("0.001")),
    "phemex": FeeRate(Decimal("0.0001"), Decimal("0.0006")),
}
FALLBACK_FEE = FeeRate(Decimal("0.001"), Decimal("0.001"))


class FeeSchedule:
    """Maker/taker rates per venue; venues not listed use ``default``."""

    def __init__(self, rates: dict[str, FeeRate] | None = None,
                 default: FeeRate = FALLBACK_FEE) -> None:
        self.rates = dict(DEFAULT_FEES if rates is None else rates)
        self.default = default

    def rate(self, venue: str, liquidity: str) -> Decimal:
        r = self.rates.get(venue, self.default)
        return r.taker if liquidity == "taker" else r.maker

    def to_json(self) -> dict[str, dict[str, str]]:
        out = {v: {"maker": str(r.maker), "taker": str(r.taker)} for v, r in sorted(self.rates.items())}
        out["default"] = {"maker": str(self.default.maker), "taker": str(self.default.taker)}
        return out


def _dec(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FeeFileError(f"{where}: expected a number, got {value!r}")
    try:
        d = Decimal(str(value))  # str() of a float is its shortest repr: 0.0004, not 0.000399...
    except InvalidOperation:
        raise FeeFileError(f"{where}: expected a number, got {value!r}") from None
    if not d.is_finite() or d < 0:
        raise FeeFileError(f"{where}: expected a rate >= 0, got {value!r}")
    return d


def load_fees(path: str | os.PathLike[str]) -> FeeSchedule:
    """Read a fee file (TOML or JSON) over the defaults.

    Format: one table per venue, rates as fractions (``0.0004`` = 4 bp), e.g. TOML::

        [binance-usdm]
        maker = 0.0002
        taker = 0.0004
        [default]            # venues not listed (optional)
        maker = 0.001
        taker = 0.001

    Raises ``FeeFileError`` for a file that does not parse or is not of that form, and
    ``OSError`` for one that cannot be read.
    """
    p = Path(path)
    text = p.read_text()
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError both are
        raise FeeFileError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise FeeFileError(f"{p}: expected a table of venues")
    rates = dict(DEFAULT_FEES)
    default = FALLBACK_FEE
    for venue, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"maker", "taker"}:
            raise FeeFileError(f"{p}: [{venue}] must hold only maker and taker")
        base = rates.get(venue, default)
        rate = FeeRate(_dec(entry.get("maker", base.maker), f"{p} {venue}.maker"),
                       _dec(entry.get("taker", base.taker), f"{p} {venue}.taker"))
        if venue == "default":
            default = rate
        else:
            rates[venue] = rate
    return FeeSchedule(rates, default)


Levels = list[tuple[Decimal, Decimal]]


def walk(levels_of: Callable[[int], Levels], side: str, qty: Decimal,
         limit: Decimal | None = None) -> list[tuple[Decimal, Decimal]]:
    """Take ``qty`` from the opposite side, best level first: [(price, qty), ...].

    ``levels_of(n)`` returns the best ``n`` levels of the side to take from (asks for
    a buy). Stops at ``limit`` (a buy takes asks <= limit, a sell bids >= limit).
    """
    out: list[tuple[Decimal, Decimal]] = []
    left = qty
    n = 20
    while True:
        levels = levels_of(n)
        for price, size in levels[len(out):]:
            if limit is not None and (price > limit if side == BUY else price < limit):
                return out
            take = size if size < left else left
            out.append((price, take))
            left -= take
            if left <= 0:
                return out
        if len(levels) < n:
            return out  # the whole side is consumed
        n *= 4


def through(side: str, limit: Decimal, trade_price: Decimal) -> bool:
    """Does a trade at ``trade_price`` print strictly through a resting ``side`` order at ``limit``?"""
    return trade_price < limit if side == BUY else trade_price > limit
