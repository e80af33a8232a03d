"""The equity and position chart: one self-contained HTML page of inline SVG.

No plotting library and no script: the page is a pure function of the run, so it
is byte-identical on re-run and opens anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import RunResult

WIDTH = 960
PLOT_H = 240
POS_H = 120
LEFT = 90
RIGHT = 20
MAX_POINTS = 2000
MAX_POSITION_PANELS = 8
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most MAX_POINTS points, evenly strided, keeping the last (deterministic)."""
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // MAX_POINTS)
    out = points[::step]
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def _num(v: float) -> str:
    return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


def _panel(title: str, points: list[tuple[int, float]], t0: int, t1: int, top: int, height: int,
           color: str, step: bool) -> list[str]:
    """One framed plot of ``points`` (time, value) at vertical offset ``top``."""
    w = WIDTH - LEFT - RIGHT
    out = [f'<g transform="translate({LEFT},{top})">',
           f'<rect x="0" y="0" width="{w}" height="{height}" fill="#fafafa" stroke="#ccc"/>',
           f'<text x="0" y="-6" font-size="13" font-weight="bold">{escape(title)}</text>']
    pts = _thin(points)
    if pts:
        lo = min(v for _, v in pts)
        hi = max(v for _, v in pts)
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        span_t = max(t1 - t0, 1)

        def xy(t: int, v: float) -> tuple[float, float]:
            return (t - t0) / span_t * w, height - (v - lo) / (hi - lo) * height

        coords: list[str] = []
        prev_y = None
        for t, v in pts:
            x, y = xy(t, v)
            if step and prev_y is not None:
                coords.append(f"{x:.1f},{prev_y:.1f}")
            coords.append(f"{x:.1f},{y:.1f}")
            prev_y = y
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(coords)}"/>')
        if lo < 0 < hi:
            _, zy = xy(t0, 0.0)
            out.append(f'<line x1="0" x2="{w}" y1="{zy:.1f}" y2="{zy:.1f}" stroke="#999" stroke-dasharray="4 3"/>')
        out.append(f'<text x="-6" y="10" font-size="11" text-anchor="end">{_num(hi)}</text>')
        out.append(f'<text x="-6" y="{height}" font-size="11" text-anchor="end">{_num(lo)}</text>')
    out.append(f'<text x="0" y="{height + 14}" font-size="11">{_utc(t0)} UTC</text>')
    out.append(f'<text x="{w}" y="{height + 14}" font-size="11" text-anchor="end">{_utc(t1)} UTC</text>')
    out.append("</g>")
    return out


def render_chart(r: RunResult, summary: dict[str, Any]) -> str:
    """The HTML page: equity on top, then one position panel per instrument traded."""
    samples = r.samples
    t0 = samples[0].ts_ns if samples else r.first_ts_ns
    t1 = samples[-1].ts_ns if samples else r.last_ts_ns
    keys = sorted({k for s in samples for k in s.positions})[:MAX_POSITION_PANELS]
    height = 40 + PLOT_H + 50 + len(keys) * (POS_H + 50)
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'font-family="sans-serif">']
    eq = [(s.ts_ns, float(s.equity)) for s in samples]
    body += _panel(f"Equity ({summary['config']['currency']})", eq, t0, t1, 30, PLOT_H, COLORS[0], False)
    top = 30 + PLOT_H + 50
    for i, k in enumerate(keys):
        pts = [(s.ts_ns, float(s.positions[k][0]) if k in s.positions else 0.0) for s in samples]
        body += _panel(f"Position {k[0]} {k[1]} (base units)", pts, t0, t1, top, POS_H,
                       COLORS[(i + 1) % len(COLORS)], True)
        top += POS_H + 50
    body.append("</svg>")
    facts = [("strategy", summary["strategy"]["name"]), ("pnl", summary["pnl"]),
             ("return", f"{summary['return']:.6%}" if summary["return"] is not None else "-"),
             ("max drawdown", summary["max_drawdown"]), ("sharpe", f"{summary['sharpe']} (annualized, {summary['sharpe_period']} returns)"),
             ("trades", str(summary["trades"])), ("fees", summary["fees"]),
             ("rejected orders", str(summary["rejected_orders"]))]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    title = escape(f"ticktape replay: {summary['strategy']['name']}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{title}</title>"
            "<style>body{font-family:sans-serif;margin:20px}th{text-align:left;padding-right:12px}"
            "</style></head><body>"
            f"<h2>{title}</h2><table>{table}</table>\n" + "\n".join(body) + "\n</body></html>\n")
