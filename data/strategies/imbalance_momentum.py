"""Order-book imbalance momentum on one venue and symbol.

When the top-of-book depth leans hard to one side (imbalance = (bid depth - ask
depth) / (bid depth + ask depth) over the projector's top 20 levels beyond
``entry``), buy (bids heavy) or sell (asks heavy) ``qty`` at market, expecting the
price to follow the pressure. Exit at market after ``hold_s`` seconds of record
time, or earlier when the imbalance flips beyond ``exit`` the other way. Then wait
``cooldown_s`` before the next entry. The book is read at most every ``eval_ms``.

    replay --data DIR --strategy data/strategies/imbalance_momentum.py \
        --param venue=binance-usdm --param symbol=BTCUSDT --param entry=0.6
"""

from __future__ import annotations

from decimal import Decimal

from replay.strategy import Strategy

NS_PER_MS = 1_000_000


class ImbalanceMomentum(Strategy):
    params = {
        "venue": "binance-usdm",
        "symbol": "BTCUSDT",  # native or normalized
        "qty": Decimal("0.01"),  # base units per trade
        "entry": 0.6,  # |imbalance| that opens a position
        "exit": 0.2,  # imbalance against the position that closes it early
        "hold_s": 30,  # close after this long anyway
        "cooldown_s": 10,  # wait after closing
        "eval_ms": 250,  # read the book at most this often
    }

    def on_start(self, ctx) -> None:
        p = ctx.params
        self.eval_ns = p["eval_ms"] * NS_PER_MS
        self.next_eval = 0
        self.quiet_until = 0
        self.exit_timer = None
        self.key = None  # the projection's symbol key, once seen

    def on_event(self, ctx, event, market) -> None:
        p = ctx.params
        if event.venue != p["venue"] or ctx.now_ns < self.next_eval:
            return
        if self.key is None:
            if p["symbol"] not in (event.symbol, event.norm):
                return
            self.key = event.symbol
        elif event.symbol != self.key:
            return
        self.next_eval = ctx.now_ns + self.eval_ns
        imb = market.imbalance
        if not market.valid or imb is None:
            return
        pos = ctx.position(p["venue"], self.key)
        if pos == 0 and not ctx.open_orders and ctx.now_ns >= self.quiet_until:
            if imb >= p["entry"]:
                ctx.buy(p["venue"], self.key, p["qty"], tag="entry")
            elif imb <= -p["entry"]:
                ctx.sell(p["venue"], self.key, p["qty"], tag="entry")
            else:
                return
            self.exit_timer = ctx.schedule(p["hold_s"] * 1_000_000_000, self.close)
        elif (pos > 0 and imb <= -p["exit"]) or (pos < 0 and imb >= p["exit"]):
            self.close(ctx)

    def close(self, ctx) -> None:
        """Flatten at market (the hold timer, or an imbalance flip)."""
        p = ctx.params
        if self.exit_timer is not None:
            ctx.cancel_timer(self.exit_timer)
            self.exit_timer = None
        pos = ctx.position(p["venue"], self.key) if self.key else Decimal(0)
        if pos > 0:
            ctx.sell(p["venue"], self.key, pos, tag="exit")
        elif pos < 0:
            ctx.buy(p["venue"], self.key, -pos, tag="exit")
        self.quiet_until = ctx.now_ns + p["cooldown_s"] * 1_000_000_000

    def on_reject(self, ctx, order) -> None:
        # An entry refused on a gapped book: drop its exit timer, try again later.
        if order.tag == "entry" and self.exit_timer is not None:
            ctx.cancel_timer(self.exit_timer)
            self.exit_timer = None
