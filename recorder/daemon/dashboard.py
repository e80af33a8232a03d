"""A live terminal view of the daemon (``recorder run --dashboard``), drawn with rich."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from .app import Recorder

REFRESH_S = 0.5


def render(app: Recorder, now: float | None = None) -> Group:
    """The dashboard's current picture: journal, connections, snapshots, validation."""
    now = time.monotonic() if now is None else now
    w = app.writer
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold]seq[/bold] {w.last_seq}", f"committed {w.committed_seq}",
                 f"pending {w.pending}/{w.max_pending}", f"commits {w.commits}",
                 f"config {app.config_hash}")
    conns = Table(title="connections", expand=True)
    for col in ("conn", "stream", "state", "frames", "bytes", "reconnects", "rotations", "stale"):
        conns.add_column(col, justify="left" if col in ("conn", "state") else "right")
    for s in app.supervisors:
        link = s.links[-1] if s.links else None
        if s.failed is not None:
            state = f"[red]failed: {s.failed.error_class.value}[/red]"
        elif s.up:
            state = "[green]up[/green]" if len(s.links) == 1 else "[yellow]rotating[/yellow]"
        else:
            state = f"[red]down {now - s.down_since:.1f}s[/red]"
        frames = sum(lk.frames for lk in app.links.values() if lk.conn == s.name)
        nbytes = sum(lk.bytes for lk in app.links.values() if lk.conn == s.name)
        conns.add_row(s.name, str(link.sid) if link else "-", state, str(frames), str(nbytes),
                      str(s.reconnects), str(s.rotations), str(s.stale))
    parts: list = [head, conns]
    if app.fetchers:
        snaps = Table(title="snapshots")
        for col in ("venue", "symbol", "fetched", "queued", "REST calls"):
            snaps.add_column(col)
        for venue, f in app.fetchers.items():
            for sym in sorted(set(f.fetched) | set(f.queue)):
                snaps.add_row(venue, sym, str(f.fetched.get(sym, 0)), "yes" if sym in f.queue else "",
                              str(f.calls))
        parts.append(snaps)
    if app.projection is not None:
        val = app.projection.validation_counts()
        line = ", ".join(f"{k} {v}" for k, v in sorted(val.items())) or "none"
        status = app.projection.failed or "live"
        parts.append(f"projection: {status}; frames folded {app.projection.frames}; findings: {line}")
    return Group(*parts)


async def run_dashboard(app: Recorder, console: Console | None = None) -> None:
    """Redraw until cancelled (logs keep going to their own stream)."""
    with Live(render(app), console=console or Console(stderr=False), auto_refresh=False) as live:
        while True:
            await asyncio.sleep(REFRESH_S)
            live.update(render(app), refresh=True)
