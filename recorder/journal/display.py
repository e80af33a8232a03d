"""How the journal's quantities read to a person: ISO times, byte sizes, rows of text.

Shared by the command lines of ``recorder`` and ``query`` (``query`` may take only the journal
from ``recorder``, so this lives here rather than in either CLI). No I/O but the console a
caller hands to ``render_rows``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

NS = 1_000_000_000


def parse_iso_ns(text: str) -> int:
    """An ISO time or date (UTC unless it says otherwise) -> ns; ``ValueError`` if it is neither."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.replace(microsecond=0).timestamp()) * NS + dt.microsecond * 1000


def iso_ns(ts_ns: int | None, *, digits: int = 9) -> str:
    """``2024-08-08T23:54:15.030000000Z`` (UTC, ``digits`` of the second); ``-`` for None."""
    if ts_ns is None:
        return "-"
    dt = datetime.fromtimestamp(ts_ns // NS, UTC)
    frac = f"{ts_ns % NS:09d}"[:digits]
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + "Z"


def human_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ... ``2.0 TiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def render_rows(names: list[str], cells: list[list[str]], console: Console, *,
                title: str | None = None, right: Iterable[str] = (), keyed: bool = False) -> None:
    """Rows of text for people, readable at any width (80 columns included).

    A table when every header and every value fits on one line at the console's width;
    otherwise one block per row, ``column  value``, values folded at the right edge (like
    psql's expanded display): no header is cut to an ellipsis, no column squeezed to a few
    characters. ``right``: columns aligned right in a table. ``keyed``: the first column names
    the row (its block is headed ``name value``; otherwise ``row N``).
    """
    right = set(right)
    widths = [max([cell_len(n), *(max((cell_len(x) for x in c[i].splitlines()), default=0)
                                  for c in cells)]) for i, n in enumerate(names)]
    # a rich table: a border before each column and after the last, a space either side of a cell
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(title=title)
        for name, w in zip(names, widths, strict=True):
            table.add_column(name, no_wrap=True, min_width=w,
                             justify="right" if name in right else "left")
        for c in cells:
            table.add_row(*c)
        console.print(table)
        return
    if title:
        console.print(title, highlight=False)
    key_w = max(cell_len(n) for n in names)
    skip = 1 if keyed else 0
    for i, c in enumerate(cells, 1):
        head = f"{names[0]} {c[0]}" if keyed else f"row {i}"
        console.print(Rule(head, align="left", characters="-"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=key_w, style="bold")
        grid.add_column(overflow="fold")
        for name, value in zip(names[skip:], c[skip:], strict=True):
            grid.add_row(name, value)
        console.print(grid)
    if not cells:
        console.print(f"(no rows; columns: {', '.join(names)})", highlight=False)
