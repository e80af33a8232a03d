"""A live terminal view of the daemon (``recorder run --dashboard``), drawn with rich.

It reads the ``Status`` port only (``recorder.daemon.ports``), plus what it measures
itself: rates (records, frames and bytes per second over the last ``RATE_WINDOW_S``)
and uptime (since the view started, which is when recording started).

The view owns the terminal while it runs, so no log line is drawn under it:

- the daemon's JSON log lines go to their file (``--log-file``, else
  ``DATA/logs/recorder.jsonl``: ``recorder.daemon.config.DASHBOARD_LOG``), named in
  the view's header;
- any log record that would still reach the terminal (a logger writing to
  stdout/stderr, or Python's last-resort handler for warnings of loggers without
  one) is held while the view runs and printed on stderr once it closes (at most
  ``HELD_MAX`` of them, the newest; the count of any dropped is printed too);
- the newest warnings and errors of the daemon's log are shown in the view itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .logs import LOGGER, destination
from .ports import Status

REFRESH_S = 0.5
RATE_WINDOW_S = 5.0  # rates are averaged over this much of the past
ALERTS = 3  # newest warnings/errors shown
HELD_MAX = 10_000  # terminal log records held while the view runs


@dataclass(slots=True)
class Rates:
    """Per-second rates from successive ``Status`` samples (``update`` each redraw)."""

    window_s: float = RATE_WINDOW_S
    records: float = 0.0
    conns: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (frames/s, bytes/s)
    _samples: deque = field(default_factory=deque)

    def update(self, status: Status, now: float) -> Rates:
        conns = {c.name: (c.frames, c.bytes) for c in status.connections(now)}
        self._samples.append((now, status.journal.last_seq, conns))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        t0, seq0, conns0 = self._samples[0]
        dt = now - t0
        if dt <= 0:
            return self
        self.records = (status.journal.last_seq - seq0) / dt
        self.conns = {name: ((f - conns0.get(name, (0, 0))[0]) / dt,
                             (b - conns0.get(name, (0, 0))[1]) / dt)
                      for name, (f, b) in conns.items()}
        return self


def duration(seconds: float) -> str:
    """``1d 02:03:04`` / ``02:03:04``."""
    s = int(seconds)
    days, s = divmod(s, 86_400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}d {text}" if days else text


def per_s(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def render(status: Status, now: float | None = None, *, rates: Rates | None = None,
           uptime_s: float | None = None, log: str | None = None,
           alerts: list[str] | None = None) -> Group:
    """The dashboard's current picture: journal, rates, connections, snapshots, validation."""
    now = time.monotonic() if now is None else now
    w = status.journal
    head = Table.grid(padding=(0, 2))
    cells = [f"[bold]seq[/bold] {w.last_seq}", f"committed {w.committed_seq}",
             f"pending {w.pending}/{w.max_pending}", f"commits {w.commits}"]
    if rates is not None:
        cells.append(f"records/s {per_s(rates.records)}")
    if uptime_s is not None:
        cells.append(f"up {duration(uptime_s)}")
    cells.append(f"config {status.config_hash}")
    head.add_row(*cells)
    conns = Table(title="connections", expand=True)
    for col in ("conn", "stream", "state", "frames", "bytes", "reconnects", "rotations", "stale",
                "frames/s", "KiB/s"):
        conns.add_column(col, justify="left" if col in ("conn", "state") else "right")
    for c in status.connections(now):
        if c.failed is not None:
            state = f"[red]failed: {c.failed}[/red]"
        elif c.up:
            state = "[green]up[/green]" if c.links == 1 else "[yellow]rotating[/yellow]"
        else:
            state = f"[red]down {c.down_s:.1f}s[/red]"
        fps, bps = rates.conns.get(c.name, (0.0, 0.0)) if rates is not None else (None, None)
        conns.add_row(c.name, str(c.stream) if c.stream is not None else "-", state, str(c.frames),
                      str(c.bytes), str(c.reconnects), str(c.rotations), str(c.stale),
                      "-" if fps is None else per_s(fps),
                      "-" if bps is None else per_s(bps / 1024))
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
    for a in alerts or ():
        parts.append(Text(a, style="yellow"))
    if log:
        parts.append(Text(f"log: {log}", style="dim"))
    return Group(*parts)


class _Alerts(logging.Handler):
    """The newest warnings and errors of the daemon's log, as one line each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: deque[str] = deque(maxlen=ALERTS)

    def emit(self, record: logging.LogRecord) -> None:
        t = time.strftime("%H:%M:%S", time.gmtime(record.created))
        extra = getattr(record, "fields", None) or {}
        detail = " ".join(f"{k}={v}" for k, v in extra.items())
        self.lines.append(f"{t}Z {record.levelname.lower()} {record.getMessage()} {detail}".rstrip())


class _Held(logging.Handler):
    """Holds the records a terminal handler would have written, for after the view."""

    def __init__(self, target: logging.Handler | None) -> None:
        super().__init__(logging.NOTSET if target is not None else logging.WARNING)
        self.target = target
        self.records: deque[logging.LogRecord] = deque(maxlen=HELD_MAX)
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1
        self.records.append(record)


def _to_terminal(h: logging.Handler) -> bool:
    stream = getattr(h, "stream", None)
    return (type(h) is logging.StreamHandler
            and stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__))


@contextlib.contextmanager
def logs_off_screen(name: str = LOGGER) -> Iterator[_Alerts]:
    """While inside: no log record reaches the terminal (see the module docstring).

    Yields the handler collecting the daemon's newest warnings and errors.
    """
    swapped: list[tuple[logging.Logger, logging.Handler, _Held]] = []
    loggers = [logging.getLogger(name), logging.getLogger()]
    for lg in loggers:
        for h in list(lg.handlers):
            if _to_terminal(h):
                held = _Held(h)
                held.setLevel(h.level)
                lg.removeHandler(h)
                lg.addHandler(held)
                swapped.append((lg, h, held))
    root = logging.getLogger()
    last_resort = None
    if not root.handlers:  # loggers without a handler would reach logging.lastResort
        last_resort = _Held(None)
        root.addHandler(last_resort)
    alerts = _Alerts()
    logging.getLogger(name).addHandler(alerts)
    try:
        yield alerts
    finally:
        logging.getLogger(name).removeHandler(alerts)
        for lg, h, held in swapped:
            lg.removeHandler(held)
            lg.addHandler(h)
        if last_resort is not None:
            root.removeHandler(last_resort)
        for held in [s[2] for s in swapped] + ([last_resort] if last_resort else []):
            dropped = held.seen - len(held.records)
            if dropped:
                print(f"({dropped} log lines dropped while the dashboard ran)", file=sys.stderr)
            for record in held.records:
                if held.target is not None:
                    held.target.handle(record)
                elif logging.lastResort is not None:
                    logging.lastResort.handle(record)


async def run_dashboard(status: Status, console: Console | None = None) -> None:
    """Redraw until cancelled; logs stay off the screen meanwhile (module docstring)."""
    started = time.monotonic()
    rates = Rates()
    log = destination()
    with logs_off_screen() as alerts:
        def picture() -> Group:
            now = time.monotonic()
            return render(status, now, rates=rates.update(status, now), uptime_s=now - started,
                          log=log if log != "stderr" else "held until the dashboard closes",
                          alerts=list(alerts.lines))

        with Live(picture(), console=console or Console(stderr=False), auto_refresh=False) as live:
            while True:
                await asyncio.sleep(REFRESH_S)
                live.update(picture(), refresh=True)
