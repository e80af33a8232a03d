"""Positions, cash and PnL per venue, exact; equity converted to one currency.

Each fill moves the base position of (venue, symbol) and the cash of (venue, quote
currency): a buy of q at p pays ``p*q + fee``, a sell receives ``p*q - fee``. Cash
starts at zero and may go negative (no margin model: a position is valued, not
financed). PnL in a quote currency = cash + position x mark. Equity, in ``USDT``,
= capital + the sum of every venue's PnL converted at the current FX rate:

- USD-pegged quotes (USDT, USD, USDC, BUSD, FDUSD, TUSD, USDP, DAI) count 1:1;
- KRW at the recorded Upbit ``KRW-USDT`` mid (normalized ``USDT-KRW``);
- any other quote X at the mid of ``X-USDT`` (or the inverse of ``USDT-X``), Upbit
  first for KRW, the same venue first otherwise, then any venue;
- failing all that, a fixed rate given with ``--fx X=RATE``; else the currency is
  reported ``unpriced`` and left out of equity.

Marks and FX rates are the last valid mid seen, so a gapped book keeps the last good
price instead of dropping a position's value.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .orders import BUY, Fill

VALUATION = "USDT"
USD_PEGGED = frozenset({"USDT", "USD", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI"})
# Converted amounts (derived, not booked) are kept to 1e-10 of the valuation currency.
CENTS = Decimal("1E-10")

# (venue, normalized symbol) -> last valid mid, or None
MidOf = Callable[[str, str], Decimal | None]


def quote_of(norm: str) -> str:
    parts = norm.split("-")
    return parts[1] if len(parts) > 1 else ""


class Portfolio:
    """Positions and cash, folded from fills; valued on demand."""

    def __init__(self, capital: Decimal = Decimal(10_000), fx_fixed: dict[str, Decimal] | None = None) -> None:
        self.capital = capital
        self.fx_fixed = dict(fx_fixed or {})
        self.positions: dict[tuple[str, str], Decimal] = {}  # (venue, symbol) -> base qty
        self.norms: dict[tuple[str, str], str] = {}
        self.cash: dict[tuple[str, str], Decimal] = {}  # (venue, currency) -> quote amount
        self.fees: dict[tuple[str, str], Decimal] = {}
        self.turnover: dict[tuple[str, str], Decimal] = {}
        self.marks: dict[tuple[str, str], Decimal] = {}  # (venue, symbol) -> last valid mid
        self.fx_last: dict[str, Decimal] = {}
        self.unpriced: set[str] = set()

    def apply(self, f: Fill) -> None:
        key = (f.venue, f.symbol)
        ck = (f.venue, f.currency)
        signed = f.qty if f.side == BUY else -f.qty
        self.positions[key] = self.positions.get(key, Decimal(0)) + signed
        self.norms[key] = f.norm
        flow = -f.notional if f.side == BUY else f.notional
        self.cash[ck] = self.cash.get(ck, Decimal(0)) + flow - f.fee
        self.fees[ck] = self.fees.get(ck, Decimal(0)) + f.fee
        self.turnover[ck] = self.turnover.get(ck, Decimal(0)) + f.notional
        self.marks.setdefault(key, f.price)

    def position(self, venue: str, symbol: str) -> Decimal:
        return self.positions.get((venue, symbol), Decimal(0))

    # -- valuation ---------------------------------------------------------------------

    def update_marks(self, mid_of_symbol: Callable[[str, str], Decimal | None]) -> None:
        """Refresh the mark of every held instrument from ``mid_of_symbol(venue, symbol)``."""
        for key in self.positions:
            m = mid_of_symbol(*key)
            if m is not None:
                self.marks[key] = m

    def fx(self, currency: str, mid_of: MidOf, venue: str = "") -> Decimal | None:
        """USDT per unit of ``currency`` (see the module docstring), or None."""
        if currency in USD_PEGGED:
            return Decimal(1)
        venues = ["upbit"] if currency == "KRW" else []
        if venue and venue not in venues:
            venues.append(venue)
        for v in venues + [""]:
            m = mid_of(v, f"{currency}-{VALUATION}")
            if m:
                self.fx_last[currency] = m
                return m
            m = mid_of(v, f"{VALUATION}-{currency}")
            if m:
                rate = (Decimal(1) / m).quantize(Decimal("1E-18"))
                self.fx_last[currency] = rate
                return rate
        if currency in self.fx_last:
            return self.fx_last[currency]
        return self.fx_fixed.get(currency)

    def pnl_by_currency(self) -> dict[tuple[str, str], Decimal]:
        """(venue, quote currency) -> cash + position x mark, exact."""
        out = dict(self.cash)
        for key, qty in self.positions.items():
            mark = self.marks.get(key)
            if qty and mark is not None:
                ck = (key[0], quote_of(self.norms[key]))
                out[ck] = out.get(ck, Decimal(0)) + qty * mark
        return out

    def equity(self, mid_of: MidOf) -> Decimal:
        """Capital + every venue's PnL in USDT (unpriced currencies left out and noted)."""
        total = self.capital
        for (venue, cur), amount in sorted(self.pnl_by_currency().items()):
            if not amount:
                continue
            rate = self.fx(cur, mid_of, venue)
            if rate is None:
                self.unpriced.add(cur)
                continue
            total += amount * rate
        return total.quantize(CENTS)

    def value_usdt(self, amount: Decimal, currency: str, mid_of: MidOf, venue: str = "") -> Decimal | None:
        rate = self.fx(currency, mid_of, venue)
        return None if rate is None else (amount * rate).quantize(CENTS)
