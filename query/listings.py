"""Detected Upbit listings and their capture windows, as tables (DuckDB views ``listings``
and ``listing_windows``).

The recorder's watcher cuts each listing's window into ``DATA/listings/<NAME>/``, a
journal holding the listing's ``mark`` among the window's frames; a window booked but not yet cut
(``DATA/listing/windows.json``) is listed too, with no rows in ``listing_windows`` yet.

``listings``: one row per listing: ``symbol``, ``markets``, ``notice_id``, ``title``,
``announced_at``, ``detected_at`` (UTC timestamps, µs), ``latency_ms``, ``signal``
(``notice`` or ``market``), ``window_name`` (its directory, NULL until cut).

``listing_windows``: every trade and quote of every window: ``window_name``, ``symbol``,
``venue``, ``norm``, ``kind`` (``trade``/``quote``), ``seq`` (in the window's journal), ``ts``
and ``ts_ns`` (receive time), ``rel_ms`` (from the announcement), ``price``/``size``/``side``
of a trade, ``bid_px``/``bid_sz``/``ask_px``/``ask_sz`` of a quote. Derived by the same code
as the archive's ``trades`` and ``quotes`` (``query.derive``), from the window's journal.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from recorder.journal import NotAJournalError
from recorder.journal.reader import JournalReader

from .hot import hot_tables

LISTINGS_DIR = "listings"
BOOKINGS = "listing/windows.json"
_TS = pa.timestamp("us", tz="UTC")
LISTINGS_SCHEMA = pa.schema([
    ("symbol", pa.string()), ("markets", pa.list_(pa.string())), ("notice_id", pa.int64()),
    ("title", pa.string()), ("announced_at", _TS), ("detected_at", _TS),
    ("latency_ms", pa.float64()), ("signal", pa.string()), ("window_name", pa.string()),
    ("announced_at_ns", pa.int64()),
])
WINDOW_SCHEMA = pa.schema([
    ("window_name", pa.string()), ("symbol", pa.string()), ("venue", pa.string()),
    ("norm", pa.string()), ("kind", pa.string()), ("seq", pa.int64()), ("ts_ns", pa.int64()),
    ("ts", _TS), ("rel_ms", pa.float64()), ("price", pa.float64()), ("size", pa.float64()),
    ("side", pa.string()), ("bid_px", pa.float64()), ("bid_sz", pa.float64()),
    ("ask_px", pa.float64()), ("ask_sz", pa.float64()),
])


def window_dirs(data_dir: str | os.PathLike[str]) -> list[Path]:
    """The cut windows, by name (names start with the notice id: oldest notices first)."""
    root = Path(data_dir) / LISTINGS_DIR
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return []


def _first_mark(window: Path) -> dict[str, Any]:
    """The listing mark of a window (among its frames, at its detection time)."""
    return _read_window(window)[0]


def _read_window(window: Path) -> tuple[dict[str, Any], set[int]]:
    """A window's listing mark, and the seqs of its context frames (those that only rebuild
    a book before the window), in one pass."""
    mark: dict[str, Any] | None = None
    context: set[int] = set()
    with JournalReader(window) as r:
        for rec in r.read():
            if rec.kind == "mark" and mark is None and b'"listing"' in rec.payload:
                doc = json.loads(rec.payload)
                if doc.get("mark") == "listing":
                    mark = doc
            elif (rec.meta or {}).get("context"):
                context.add(rec.seq)
    if mark is None:
        raise NotAJournalError(f"{window}: a capture window holds its listing's mark")
    return mark, context


def listing_docs(data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every listing's mark fields plus ``window`` (None while booked), oldest first."""
    out = [{**_first_mark(w), "window": w.name} for w in window_dirs(data_dir)]
    cut = {(d["symbol"], d["announced_at_ns"]) for d in out}
    try:
        booked = json.loads((Path(data_dir) / BOOKINGS).read_bytes())
    except FileNotFoundError:
        booked = []
    for b in booked:
        doc = b["listing"]
        if (doc["symbol"], doc["announced_at_ns"]) not in cut:
            out.append({**doc, "window": None})
    return sorted(out, key=lambda d: (d["announced_at_ns"], d["symbol"]))


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)


def listings_table(data_dir: str | os.PathLike[str]) -> pa.Table:
    rows = [{"symbol": d["symbol"], "markets": list(d.get("markets", [])),
             "notice_id": d.get("notice_id"), "title": d.get("title", ""),
             "announced_at": _ts(d["announced_at_ns"]), "detected_at": _ts(d["detected_at_ns"]),
             "latency_ms": float(d["latency_ms"]), "signal": d.get("signal", ""),
             "window_name": d["window"], "announced_at_ns": d["announced_at_ns"]}
            for d in listing_docs(data_dir)]
    return pa.Table.from_pylist(rows, schema=LISTINGS_SCHEMA)


def window_table(window: Path) -> pa.Table:
    """The trades and quotes of one cut window (see the module docstring)."""
    doc, context = _read_window(window)
    t0 = int(doc["announced_at_ns"])
    got = hot_tables(window, tables=("trades", "quotes"))
    rows: list[dict[str, Any]] = []
    for kind, table in (("trade", got.get("trades")), ("quote", got.get("quotes"))):
        if table is None:
            continue
        for r in table.to_pylist():
            if r["seq"] in context:
                continue
            row = {"window_name": window.name, "symbol": doc["symbol"], "venue": r["venue"],
                   "norm": r["norm"], "kind": kind, "seq": r["seq"], "ts_ns": r["ts_ns"],
                   "ts": _ts(r["ts_ns"]), "rel_ms": (r["ts_ns"] - t0) / 1e6}
            if kind == "trade":
                row.update(price=r["price"], size=r["size"], side=r["side"])
            else:
                row.update(bid_px=r["bid_px"], bid_sz=r["bid_sz"], ask_px=r["ask_px"],
                           ask_sz=r["ask_sz"])
            rows.append(row)
    rows.sort(key=lambda r: (r["seq"], r["kind"]))
    return pa.Table.from_pylist(rows, schema=WINDOW_SCHEMA)


def windows_table(data_dir: str | os.PathLike[str]) -> pa.Table:
    parts = [window_table(w) for w in window_dirs(data_dir)]
    return pa.concat_tables(parts) if parts else WINDOW_SCHEMA.empty_table()


def listings_json(data_dir: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """``{"listings": [...]}`` as ``query listings --json`` prints it (times ISO-8601)."""
    def iso(ns: int) -> str:
        return _ts(ns).isoformat().replace("+00:00", "Z")

    return {"listings": [
        {"symbol": d["symbol"], "markets": list(d.get("markets", [])),
         "notice_id": d.get("notice_id"), "title": d.get("title", ""),
         "announced_at": iso(d["announced_at_ns"]), "detected_at": iso(d["detected_at_ns"]),
         "latency_ms": d["latency_ms"], "window": d["window"]}
        for d in listing_docs(data_dir)]}
