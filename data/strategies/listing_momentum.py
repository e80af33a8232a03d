"""Upbit listing momentum: buy a coin on the overseas venues the moment Upbit announces its
KRW market, sell after ``hold_s``.

On a ``Listing`` event (the recorder's watcher detected a new KRW market; the event comes
at its detection time, so a backtest knows no more than the watcher did), buy
``notional`` quote units' worth of the coin on every venue where it trades against
``quote`` (spot ``X-USDT``; with ``perp`` on, ``X-USDT-PERP`` too), at market, priced at the
best ask seen so far. Each position is sold at market ``hold_s`` later, or at once if its
best bid falls ``stop`` below the entry. Markets the recording has not seen a quote of
before the listing are skipped (nothing to price the order with).

Run it over a listing's capture window (``DATA/listings/NAME``, cut by the recorder) or
over any recording holding ``listing`` marks:

    replay --data data/listings/5730-TSTC-1796595545 \\
        --strategy data/strategies/listing_momentum.py --param hold_s=20
"""

from __future__ import annotations

from decimal import Decimal

from replay.strategy import Strategy

NS = 1_000_000_000


class ListingMomentum(Strategy):
    params = {
        "quote": "USDT",
        "notional": Decimal("100"),  # quote units per venue
        "hold_s": 30.0,  # sell this long after buying
        "stop": 0.05,  # sell early when the bid falls this fraction below the entry
        "perp": False,  # also buy the perpetual swaps (X-USDT-PERP)
    }

    def on_start(self, ctx) -> None:
        self.markets: dict[str, set[tuple[str, str]]] = {}  # base -> {(venue, norm)} seen
        self.entries: dict[tuple[str, str], Decimal] = {}  # (venue, norm) -> entry price
        self.bought: set[str] = set()  # bases already traded (a listing is acted on once)

    def on_event(self, ctx, event, market) -> None:
        if type(event).__name__ == "Listing":
            if "KRW" in event.markets and event.symbol not in self.bought:
                self.bought.add(event.symbol)
                self._enter(ctx, event.symbol)
            return
        norm = event.norm
        if not norm:
            return
        base, _, rest = norm.partition("-")
        self.markets.setdefault(base, set()).add((event.venue, norm))
        key = (event.venue, norm)
        entry = self.entries.get(key)
        if entry is not None and market is not None:
            bid = market.best_bid
            if bid is not None and bid < entry * (1 - Decimal(str(ctx.params["stop"]))):
                self._exit(ctx, key, "stop")

    def _enter(self, ctx, base: str) -> None:
        p = ctx.params
        wanted = {f"{base}-{p['quote']}"} | ({f"{base}-{p['quote']}-PERP"} if p["perp"] else set())
        for venue, norm in sorted(self.markets.get(base, ())):
            if norm not in wanted:
                continue
            state = ctx.market(venue, norm)
            ask = state.best_ask if state is not None else None
            if ask is None or ask <= 0:
                continue
            qty = (Decimal(p["notional"]) / ask).quantize(Decimal("0.00000001"))
            ctx.buy(venue, norm, qty, tag="listing")
            self.entries[(venue, norm)] = ask
            ctx.schedule(int(p["hold_s"] * NS),
                         lambda c, key=(venue, norm): self._exit(c, key, "hold"))

    def _exit(self, ctx, key: tuple[str, str], why: str) -> None:
        if self.entries.pop(key, None) is None:
            return
        venue, norm = key
        held = ctx.position(venue, norm)
        if held > 0:
            ctx.sell(venue, norm, held, tag=why)
