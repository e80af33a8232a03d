"""A live terminal view of the daemon (``recorder run --dashboard``), drawn with rich.

It reads the ``Status`` port only (``recorder.daemon.ports``).
"""

from __future__ import annotations

import asyncio
import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from .ports import Status

REFRESH_S = 0.5


def render(status: Status, now: float | None = None) -> Group:
    """The dashboard's current picture: journal, connections, snapshots, validation."""
    now = time.monotonic() if now is None else now
    w = status.journal
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold]seq[/bold] {w.last_seq}", f"committed {w.committed_seq}",
                 f"pending {w.pending}/{w.max_pending}", f"commits {w.commits}",
                 f"config {status.config_hash}")
    conns = Table(title="connections", expand=True)
    for col in ("conn", "stream", "state", "frames", "bytes", "reconnects", "rotations", "stale"):
        conns.add_column(col, justify="left" if col in ("conn", "state") else "right")
    for c in status.connections(now):
        if c.failed is not None:
            state = f"[red]failed: {c.failed}[/red]"
        elif c.up:
            state = "[green]up[/green]" if c.links == 1 else "[yellow]rotating[/yellow]"
        else:
            state = f"[red]down {c.down_s:.1f}s[/red]"
        conns.add_row(c.name, str(c.stream) if c.stream is not None else "-", state, str(c.frames),
                      str(c.bytes), str(c.reconnects), str(c.rotations), str(c.stale))
    parts: list = [head, conns]
    snapshots = status.snapshots()
    if snapshots:
        snaps = Table(title="snapshots")
        for col in ("venue", "symbol", "fetched", "queued", "REST calls"):
            snaps.add_column(col)
        for s in snapshots:
            snaps.add_row(s.venue, s.symbol, str(s.fetched), "yes" if s.queued else "", str(s.calls))
        parts.append(snaps)
    proj = status.projection()
    if proj is not None:
        line = ", ".join(f"{k} {v}" for k, v in sorted(proj.findings.items())) or "none"
        parts.append(f"projection: {proj.state}; frames folded {proj.frames}; findings: {line}")
    return Group(*parts)


async def run_dashboard(status: Status, console: Console | None = None) -> None:
    """Redraw until cancelled (logs keep going to their own stream)."""
    with Live(render(status), console=console or Console(stderr=False), auto_refresh=False) as live:
        while True:
            await asyncio.sleep(REFRESH_S)
            live.update(render(status), refresh=True)
