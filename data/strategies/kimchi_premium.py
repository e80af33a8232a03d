"""Kimchi premium mean reversion: Upbit KRW market against a USDT twin elsewhere.

premium = Upbit KRW price / (twin USDT price x KRW per USDT) - 1, with KRW per USDT
from Upbit's own ``KRW-USDT`` market as recorded (``ctx.fx("KRW")``), or the
``usdt_krw`` parameter when the journal has no KRW-USDT market. Prices are mids of
the projected books. The signal is ``log(1 + premium)``, the log of the price
ratio, so a threshold means the same relative move whatever the premium's level
(at a 2% premium it is the premium itself to within 2%). An exponential mean of
it over record time (half-life ``halflife_s``) is the fair level; when the signal
is ``entry`` below it, buy ``qty`` on Upbit and sell ``qty`` of the twin (the
premium is cheap); when ``entry`` above it and ``short_upbit`` is on, the
reverse. Close both legs when the signal is back within ``exit`` of the mean.
The mean needs ``warmup_s`` of data before the first trade.

Upbit is spot: selling it short means selling inventory you hold; the simulator
does not model inventory, so ``short_upbit`` is off by default.

    replay --data DIR --strategy data/strategies/kimchi_premium.py \
        --param upbit_symbol=KRW-BTC --param twin_venue=binance-usdm --param twin_symbol=BTCUSDT
"""

from __future__ import annotations

import math
from decimal import Decimal

from replay.strategy import Strategy

NS = 1_000_000_000


class KimchiPremium(Strategy):
    params = {
        "upbit_symbol": "KRW-BTC",
        "twin_venue": "binance-usdm",
        "twin_symbol": "BTCUSDT",
        "qty": Decimal("0.01"),  # base units per leg
        "entry": 0.004,  # signal distance from its mean that opens (0.4%)
        "exit": 0.001,  # distance that closes
        "halflife_s": 60.0,
        "warmup_s": 30,
        "eval_ms": 500,
        "usdt_krw": Decimal(0),  # KRW per USDT when Upbit KRW-USDT is not recorded (0: none)
        "short_upbit": False,
    }

    def on_start(self, ctx) -> None:
        self.mean = None
        self.last_ns = 0
        self.started_ns = ctx.now_ns
        self.next_eval = 0
        self.side = 0  # +1 long Upbit / short twin, -1 the reverse, 0 flat
        self.premiums = 0  # how many premiums were computed (visible in tests)

    def premium(self, ctx) -> float | None:
        p = ctx.params
        up = ctx.market("upbit", p["upbit_symbol"])
        twin = ctx.market(p["twin_venue"], p["twin_symbol"])
        if up is None or twin is None or not up.valid or not twin.valid or not up.mid or not twin.mid:
            return None
        usdt_per_krw = ctx.fx("KRW")
        if usdt_per_krw is None and p["usdt_krw"] > 0:
            usdt_per_krw = 1 / p["usdt_krw"]
        if not usdt_per_krw:
            return None
        return float(up.mid * usdt_per_krw / twin.mid - 1)

    def on_event(self, ctx, event, market) -> None:
        if ctx.now_ns < self.next_eval or event.venue not in ("upbit", ctx.params["twin_venue"]):
            return
        self.next_eval = ctx.now_ns + ctx.params["eval_ms"] * 1_000_000
        prem = self.premium(ctx)
        if prem is None or prem <= -1:
            return
        self.premiums += 1
        p = ctx.params
        signal = math.log1p(prem)
        if self.mean is None:
            self.mean = signal
        else:
            dt = (ctx.now_ns - self.last_ns) / NS
            a = 1 - math.exp(-dt * math.log(2) / p["halflife_s"])
            self.mean += a * (signal - self.mean)
        self.last_ns = ctx.now_ns
        if ctx.now_ns - self.started_ns < p["warmup_s"] * NS or ctx.open_orders:
            return
        dev = signal - self.mean
        if self.side == 0:
            if dev <= -p["entry"]:
                self.trade(ctx, +1)
            elif dev >= p["entry"] and p["short_upbit"]:
                self.trade(ctx, -1)
        elif abs(dev) <= p["exit"]:
            self.trade(ctx, -self.side)

    def trade(self, ctx, direction: int) -> None:
        """+1: buy Upbit, sell the twin; -1: the reverse (both at market)."""
        p = ctx.params
        q = p["qty"]
        if direction > 0:
            ctx.buy("upbit", p["upbit_symbol"], q)
            ctx.sell(p["twin_venue"], p["twin_symbol"], q)
        else:
            ctx.sell("upbit", p["upbit_symbol"], q)
            ctx.buy(p["twin_venue"], p["twin_symbol"], q)
        self.side += direction
