"""A run's report: ``summary.json``, ``fills.parquet``, ``equity.parquet``, ``chart.html``.

Byte-identical on re-run: nothing of the run's own time or place is written (the
strategy is named by file name and content hash), JSON keys are sorted, Parquet
files carry only the schema (pyarrow's ``created_by`` names its version, which a
re-run with the same environment repeats).

Statistics (all in USDT, the valuation currency, see ``replay.portfolio``):

- ``pnl`` = final equity - capital; ``return`` = pnl / capital;
- ``max_drawdown``: the largest fall of equity from a running peak, over the
  equity samples (every ``sample_ns`` of record time plus the last record), in
  USDT and as a fraction of that peak;
- ``sharpe``: per-minute returns of equity (the last sample of each UTC minute
  against the previous minute's), mean / standard deviation (population) x
  sqrt(525600) (minutes in a 365-day year: crypto trades around the clock), no
  risk-free rate; null with fewer than two returns or zero deviation;
- ``turnover``: the sum of fill notionals converted to USDT at fill time;
  ``fees`` the same for fees;
- ``warm_start`` (a run that starts after the first record only): ``seq`` and ``digest``
  of the state it started from (the state after the record before its first),
  ``invalid_books`` there (``venue:symbol``, books waiting for a snapshot no record
  before the start holds), ``events_with_invalid_book`` (events handed to the strategy
  while their symbol's book was invalid) and ``orders_rejected_book_invalid``.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .chart import render_chart
from .engine import NS, RunResult
from .orders import BOOK_INVALID, FILLED, REJECTED
from .portfolio import USD_PEGGED, VALUATION

MINUTES_PER_YEAR = 525_600


def _s(d: Decimal | None) -> str | None:
    """An exact decimal string (plain notation, trailing zeros kept as computed)."""
    return None if d is None else format(d, "f")


def _sum(values: list[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


def drawdown(equity: list[Decimal]) -> tuple[Decimal, Decimal]:
    """(max drawdown in currency, as a fraction of its peak)."""
    peak = None
    worst = Decimal(0)
    worst_frac = Decimal(0)
    for e in equity:
        if peak is None or e > peak:
            peak = e
        dd = peak - e
        if dd > worst:
            worst = dd
            worst_frac = (dd / peak) if peak > 0 else Decimal(0)
    return worst, worst_frac


def minute_returns(samples: list[tuple[int, Decimal]]) -> list[float]:
    """Returns between the last equity sample of consecutive UTC minutes."""
    last_of: dict[int, Decimal] = {}
    for ts, e in samples:
        last_of[ts // (60 * NS)] = e
    values = [last_of[m] for m in sorted(last_of)]
    return [float(b / a - 1) for a, b in zip(values, values[1:], strict=False) if a > 0]


def sharpe(returns: list[float]) -> float | None:
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / len(returns)
    if var <= 0:
        return None
    return round(mean / math.sqrt(var) * math.sqrt(MINUTES_PER_YEAR), 6)


def summary(r: RunResult, strategy_file: str = "", strategy_sha256: str = "") -> dict[str, Any]:
    """The summary as JSON-ready builtins (decimals as strings)."""
    equity = [s.equity for s in r.samples]
    final = equity[-1] if equity else r.config.capital
    pnl = final - r.config.capital
    dd, dd_frac = drawdown(equity)
    rets = minute_returns([(s.ts_ns, s.equity) for s in r.samples])
    pf = r.portfolio
    by_venue: dict[str, dict[str, str | None]] = {}
    for (venue, cur), amount in sorted(pf.pnl_by_currency().items()):
        rate = Decimal(1) if cur in USD_PEGGED else pf.fx_last.get(cur) or pf.fx_fixed.get(cur)
        by_venue[f"{venue}:{cur}"] = {
            "venue": venue, "currency": cur, "pnl": _s(amount),
            "fees": _s(pf.fees.get((venue, cur), Decimal(0))),
            "turnover": _s(pf.turnover.get((venue, cur), Decimal(0))),
            f"pnl_{VALUATION.lower()}": _s((amount * rate).quantize(Decimal("1E-10"))) if rate else None,
        }
    statuses: dict[str, int] = defaultdict(int)
    for o in r.orders:
        statuses[o.status] += 1
    out = {
        "strategy": {"name": r.strategy, "file": strategy_file, "sha256": strategy_sha256,
                     "params": {k: _json_value(v) for k, v in sorted(r.params.items())}},
        "period": {"first_seq": r.first_seq, "last_seq": r.last_seq, "first_ts_ns": r.first_ts_ns,
                   "last_ts_ns": r.last_ts_ns, "records": r.records, "events": r.events},
        "config": {"latency_ns": r.config.latency_ns, "capital": _s(r.config.capital),
                   "currency": VALUATION, "sample_ns": r.config.sample_ns,
                   "symbols": sorted(r.config.symbols) if r.config.symbols else None,
                   "fees": r.config.fees.to_json(),
                   "fx_fixed": {k: _s(v) for k, v in sorted(r.config.fx_fixed.items())}},
        "final_equity": _s(final),
        "pnl": _s(pnl),
        "return": float(pnl / r.config.capital) if r.config.capital else None,
        "max_drawdown": _s(dd),
        "max_drawdown_pct": float(dd_frac),
        "sharpe": sharpe(rets),
        "sharpe_basis": "per-minute equity returns, mean/std x sqrt(525600), no risk-free rate",
        "sharpe_period": "1m",
        "sharpe_periods_per_year": MINUTES_PER_YEAR,
        "minute_returns": len(rets),
        "trades": len(r.fills),
        "orders": len(r.orders),
        "orders_filled": statuses.get(FILLED, 0),
        "orders_by_status": dict(sorted(statuses.items())),
        "rejected_orders": statuses.get(REJECTED, 0),
        "rejections": dict(sorted(r.rejections.items())),
        "turnover": _s(_sum(r.fills_usdt)),
        "fees": _s(_sum(r.fees_usdt)),
        "by_venue": by_venue,
        "positions": {f"{v}:{s}": _s(q) for (v, s), q in sorted(pf.positions.items())},
        "unpriced_currencies": sorted(pf.unpriced),
        "state_digest": r.digest,
    }
    if r.warm is not None:
        # Only a run that starts after the first record has it: a run from the first record
        # writes the files it always wrote. What the state came from (a checkpoint, the first
        # record) is not written: the same state, the same files.
        out["warm_start"] = {
            "seq": r.warm.through_seq, "digest": r.warm.digest,
            "invalid_books": [f"{v}:{k}" for v, k in r.warm.invalid_books],
            "events_with_invalid_book": r.invalid_book_events,
            "orders_rejected_book_invalid": r.rejections.get(BOOK_INVALID, 0),
        }
    return out


def _json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    return str(v)


def fills_table(r: RunResult) -> pa.Table:
    f = r.fills
    return pa.table({
        "order_id": pa.array([x.order_id for x in f], pa.int64()),
        "seq": pa.array([x.seq for x in f], pa.int64()),
        "ts_ns": pa.array([x.ts_ns for x in f], pa.int64()),
        "venue": pa.array([x.venue for x in f], pa.string()),
        "symbol": pa.array([x.symbol for x in f], pa.string()),
        "norm": pa.array([x.norm for x in f], pa.string()),
        "side": pa.array([x.side for x in f], pa.string()),
        "price": pa.array([_s(x.price) for x in f], pa.string()),
        "qty": pa.array([_s(x.qty) for x in f], pa.string()),
        "notional": pa.array([_s(x.notional) for x in f], pa.string()),
        "fee": pa.array([_s(x.fee) for x in f], pa.string()),
        "currency": pa.array([x.currency for x in f], pa.string()),
        "liquidity": pa.array([x.liquidity for x in f], pa.string()),
        "tag": pa.array([x.tag for x in f], pa.string()),
        "notional_usdt": pa.array([_s(v) for v in r.fills_usdt], pa.string()),
        "fee_usdt": pa.array([_s(v) for v in r.fees_usdt], pa.string()),
    })


def equity_table(r: RunResult) -> pa.Table:
    """One row per sample; one ``pos:<venue>:<symbol>`` column per instrument traded."""
    s = r.samples
    keys = sorted({k for x in s for k in x.positions})
    eq = [x.equity for x in s]
    peak: Decimal | None = None
    dds = []
    for e in eq:
        peak = e if peak is None or e > peak else peak
        dds.append(float(peak - e))
    cols: dict[str, pa.Array] = {
        "ts_ns": pa.array([x.ts_ns for x in s], pa.int64()),
        "seq": pa.array([x.seq for x in s], pa.int64()),
        "equity": pa.array([_s(e) for e in eq], pa.string()),
        "equity_f": pa.array([float(e) for e in eq], pa.float64()),
        "pnl_f": pa.array([float(e - r.config.capital) for e in eq], pa.float64()),
        "drawdown_f": pa.array(dds, pa.float64()),
    }
    for k in keys:
        cols[f"pos:{k[0]}:{k[1]}"] = pa.array(
            [_s(x.positions[k][0]) if k in x.positions else "0" for x in s], pa.string())
    return pa.table(cols)


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table.replace_schema_metadata(None), tmp, compression="zstd")
    os.replace(tmp, path)


def _write_text(text: str, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


CHART = "chart.html"


def write_report(r: RunResult, out_dir: str | os.PathLike[str], *, strategy_file: str = "",
                 strategy_sha256: str = "") -> dict[str, Any]:
    """Write the four files under ``out_dir`` (created); returns the summary.

    The chart is ``out_dir / CHART``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summ = summary(r, strategy_file, strategy_sha256)
    _write_text(json.dumps(summ, indent=2, sort_keys=True) + "\n", out / "summary.json")
    _write_parquet(fills_table(r), out / "fills.parquet")
    _write_parquet(equity_table(r), out / "equity.parquet")
    _write_text(render_chart(r, summ), out / CHART)
    return summ
