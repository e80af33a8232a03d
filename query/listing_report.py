"""One listing's capture window as a self-contained HTML page: price per venue against the
time from the announcement (inline SVG, no script, no library), one panel per venue: the
quotes' mid as a line, each trade as a dot, the announcement as a vertical line at 0.

A pure function of the window's rows: the same window gives the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

WIDTH = 960
PANEL_H = 180
LEFT = 90
RIGHT = 20
GAP = 40
MAX_POINTS = 3000
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _num(v: float) -> str:
    return f"{v:,.6g}"


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // MAX_POINTS)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def _panel(venue: str, mids: list[tuple[float, float]], trades: list[tuple[float, float]],
           lo_t: float, hi_t: float, top: int, color: str) -> list[str]:
    w = WIDTH - LEFT - RIGHT
    out = [f'<g transform="translate({LEFT},{top})">',
           f'<rect x="0" y="0" width="{w}" height="{PANEL_H}" fill="#fafafa" stroke="#ccc"/>',
           f'<text x="0" y="-6" font-size="13" font-weight="bold">{escape(venue)}</text>']
    values = [v for _, v in mids] + [v for _, v in trades]
    if not values:
        out.append(f'<text x="{w / 2}" y="{PANEL_H / 2}" text-anchor="middle" font-size="12" '
                   'fill="#888">no trade or quote in the window</text></g>')
        return out
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo * 0.999 - 1e-12, hi * 1.001 + 1e-12
    span = max(hi_t - lo_t, 1e-9)

    def xy(t: float, v: float) -> tuple[float, float]:
        return (t - lo_t) / span * w, PANEL_H - (v - lo) / (hi - lo) * PANEL_H

    x0 = xy(0.0, lo)[0]
    out.append(f'<line x1="{x0:.1f}" y1="0" x2="{x0:.1f}" y2="{PANEL_H}" stroke="#000" '
               'stroke-dasharray="4,3"/>')
    if mids:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in _thin(mids)))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.2"/>')
    for t, v in _thin(trades):
        x, y = xy(t, v)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}" fill-opacity="0.6"/>')
    out += [f'<text x="-6" y="10" font-size="11" text-anchor="end">{_num(hi)}</text>',
            f'<text x="-6" y="{PANEL_H}" font-size="11" text-anchor="end">{_num(lo)}</text>',
            f'<text x="0" y="{PANEL_H + 14}" font-size="11">{lo_t:+.1f} s</text>',
            f'<text x="{w}" y="{PANEL_H + 14}" font-size="11" text-anchor="end">{hi_t:+.1f} s</text>',
            "</g>"]
    return out


def render(listing: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The page of one listing (``listings`` row as a dict) from its ``listing_windows`` rows."""
    mids: dict[str, list[tuple[float, float]]] = defaultdict(list)
    trades: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        key = f"{r['venue']} {r['norm']}"
        t = r["rel_ms"] / 1000
        if r["kind"] == "trade" and r["price"] is not None:
            trades[key].append((t, r["price"]))
        elif r["kind"] == "quote" and r["bid_px"] and r["ask_px"]:
            mids[key].append((t, (r["bid_px"] + r["ask_px"]) / 2))
    venues = sorted(set(mids) | set(trades))
    times = [t for v in venues for t, _ in (*mids[v], *trades[v])] or [0.0]
    lo_t, hi_t = min(min(times), 0.0), max(max(times), 0.0)
    height = 70 + len(venues) * (PANEL_H + GAP) + 10
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="sans-serif">']
    for i, v in enumerate(venues):
        svg += _panel(v, mids[v], trades[v], lo_t, hi_t, 60 + i * (PANEL_H + GAP),
                      COLORS[i % len(COLORS)])
    svg.append("</svg>")
    title = f"{listing['symbol']} listed on Upbit ({', '.join(listing['markets'])})"
    facts = (f"notice {listing['notice_id']}: {escape(listing['title'])}<br>"
             f"announced {listing['announced_at']}, detected {listing['detected_at']} "
             f"({listing['latency_ms']:.0f} ms later); {len(rows)} trades and quotes on "
             f"{len(venues)} markets; time is from the announcement")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{escape(title)}</title></head><body style=\"font-family:sans-serif\">"
            f"<h2>{escape(title)}</h2><p>{facts}</p>{''.join(svg)}</body></html>\n")
