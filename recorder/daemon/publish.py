"""The live table: the projection's state published for other processes on this machine.

    pub = Publisher.create(config.publish, data_dir=..., projector=proj.projector, log=log,
                           schedule=loop.call_soon)
    proj.fold_listeners.append(pub)     # after each fold: the symbols it touched
    pub.beat()                          # from the watch loop: readers see the recorder alive
    pub.close()                         # at stop: the table file is removed

After each folded record, the symbols its events name are marked; ``flush``, scheduled
with the loop's ``call_soon`` when the first is marked, rewrites each marked symbol's row
once (``state.live_row.encode_row``, at most ``depth`` levels a side, encoded in the
compiled core) into a ``ticktape_core.LiveTable`` (a seqlock per row: readers in other
processes never see a torn row). So a socket read's batch of frames costs one row
encoding per symbol it touched, not one per frame, and a row lags its record by at most
that batch (the loop's next turn). Only touched symbols are encoded, never the table. A row too large for ``row_bytes`` is published with fewer levels (counted
in ``shrunk``). A failure never stops recording: it is logged once, counted in
``errors`` and that record's rows are skipped.

Where: ``table_path(data_dir)``, ``/dev/shm/ticktape-<hash of the data dir's real path>``
when /dev/shm exists (memory, never disk), else ``DATA/live/table``. ``DATA/live/attach.json``
(``write_attach``) names the table, the control socket and the recorder's pid for readers
(``query.market.attach``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ticktape_core as _core

from recorder.journal import Record
from state.events import Event
from state.live_row import ROW_FORMAT, encode_row, row_key

from .config import PublishConfig
from .logs import fields

LIVE_DIR = "live"  # DATA/live: attach.json, the control socket, the table without /dev/shm
ATTACH_FILE = "attach.json"
SHM = Path("/dev/shm")


def live_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / LIVE_DIR


def table_path(data_dir: str | os.PathLike[str], where: str = "") -> Path:
    """The table's file for ``data_dir``: see the module docstring (``where``: a directory
    instead of the default)."""
    digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:12]
    if where:
        return Path(where) / f"ticktape-{digest}"
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        return SHM / f"ticktape-{digest}"
    return live_dir(data_dir) / "table"


def write_attach(data_dir: str | os.PathLike[str], **info: Any) -> Path:
    """Write ``DATA/live/attach.json`` (temp file + rename): what a reader needs to attach."""
    d = live_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / ATTACH_FILE
    tmp = d / f".{ATTACH_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_attach(data_dir: str | os.PathLike[str]) -> None:
    """Remove ``attach.json`` if it is ours (a newer recorder's is left alone)."""
    path = live_dir(data_dir) / ATTACH_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


class Publisher:
    """Publishes touched symbols' rows after each fold; see the module docstring."""

    def __init__(self, table: Any, *, projector: Any, depth: int, log: logging.Logger,
                 schedule: Callable[[Callable[[], None]], object] | None = None) -> None:
        self.table = table
        self._schedule = schedule  # the loop's call_soon; None: flush after each record
        self.projector = projector
        self.depth = depth
        self.log = log
        self.rows: dict[tuple[str, str], int] = {}
        self._syms: dict[tuple[str, str], tuple[int, Any]] = {}  # key -> (row, live state)
        self._max = table.max_payload
        self.published = 0  # rows written
        self.records = 0  # records that touched at least one symbol
        self.flushes = 0  # bursts written (rows of a symbol touched twice in one: written once)
        self._dirty: dict[tuple[str, str], None] = {}  # touched since the last flush, in order
        self.closed = False
        self.cost_ns = 0  # time spent publishing, in total (cost per record: cost_ns / records)
        self.shrunk = 0  # rows published with fewer levels than ``depth`` to fit
        self.errors = 0
        self.full = False  # every row claimed: new symbols are not published (logged once)
        self._warned = False

    @classmethod
    def create(cls, cfg: PublishConfig, *, data_dir: str, projector: Any, log: logging.Logger,
               schedule: Callable[[Callable[[], None]], object] | None = None) -> Publisher:
        """A fresh table for ``data_dir`` (replacing a stale one) with every symbol the
        projector already holds (state recovered at start) published."""
        path = table_path(data_dir, cfg.dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = _core.LiveTable.create(str(path), cfg.rows, cfg.row_bytes, os.getpid())
        pub = cls(table, projector=projector, depth=cfg.depth, log=log, schedule=schedule)
        for venue, symbol in projector.symbols():
            pub.publish(venue, symbol)
        pub.beat()
        return pub

    @property
    def path(self) -> str:
        return str(self.table.path)

    def attach_info(self) -> dict[str, Any]:
        """This table's part of ``attach.json``."""
        return {"table": self.path, "row_format": ROW_FORMAT, "depth": self.depth,
                "rows": self.table.capacity, "row_bytes": self.table.row_bytes}

    def __call__(self, rec: Record, events: Iterable[Event]) -> None:
        """Fold listener (``LiveProjection.fold_listeners``): mark what ``rec`` touched; the
        rows are written by ``flush``, scheduled once per burst (see the module docstring)."""
        t0 = time.perf_counter_ns()
        dirty = self._dirty
        was_clean = not dirty
        for ev in events:
            dirty[(ev.venue, ev.symbol)] = None
        if not dirty:
            return
        self.records += 1
        if was_clean:
            if self._schedule is None:
                self.flush()
            else:
                self._schedule(self.flush)
        self.cost_ns += time.perf_counter_ns() - t0

    def flush(self) -> None:
        """Write the rows of every symbol touched since the last flush (each once)."""
        t0 = time.perf_counter_ns()
        dirty, self._dirty = self._dirty, {}
        if self.closed:
            return
        for venue, symbol in dirty:
            self.publish(venue, symbol)
        self.flushes += 1
        self.cost_ns += time.perf_counter_ns() - t0

    def publish(self, venue: str, symbol: str) -> None:
        """Write the row of (venue, symbol key) now; never raises (see the module docstring)."""
        if not symbol:
            return
        try:
            got = self._syms.get((venue, symbol))
            if got is None:
                got = self._claim(venue, symbol)
                if got is None:
                    return
            row, sym = got
            payload = encode_row(sym, self.depth)
            depth = self.depth
            while len(payload) > self._max and depth > 0:
                depth //= 2
                payload = encode_row(sym, depth)
            if depth < self.depth:
                self.shrunk += 1
            self.table.put(row, payload)
            self.published += 1
        except Exception as exc:  # noqa: BLE001 (publishing never stops recording)
            self.errors += 1
            if not self._warned:
                self._warned = True
                self.log.error("publish_failed", extra=fields(
                    venue=venue, symbol=symbol, error=f"{type(exc).__name__}: {exc}"))

    def _claim(self, venue: str, symbol: str) -> tuple[int, Any] | None:
        """A new symbol's row and its live state (the fold updates that object in place)."""
        try:
            sym = self.projector.symbol_state(venue, symbol)
        except KeyError:
            return None  # an event of no symbol state (a decode error's, an unknown stream's)
        if self.full:
            return None
        try:
            row = self.table.claim(row_key(venue, symbol))
        except _core.LiveTableError as exc:  # the table is full, or a key too long
            self.full = len(self.rows) >= self.table.capacity
            self.errors += 1
            self.log.warning("live_table_full" if self.full else "live_table_refused",
                             extra=fields(venue=venue, symbol=symbol, error=str(exc)))
            return None
        self.rows[(venue, symbol)] = row
        self._syms[(venue, symbol)] = row, sym
        return row, sym

    def beat(self) -> None:
        """Heartbeat: readers take a table whose beat is old as a recorder gone."""
        self.table.beat(time.time_ns())

    def stats(self) -> dict[str, Any]:
        per = self.cost_ns / self.records if self.records else 0.0
        return {"rows": len(self.rows), "published": self.published, "records": self.records,
                "flushes": self.flushes,
                "cost_ns_per_record": round(per, 1), "shrunk": self.shrunk, "errors": self.errors}

    def close(self) -> None:
        """Remove the table file (readers that have it mapped see its heartbeat stop)."""
        self.closed = True
        with contextlib.suppress(OSError):
            Path(self.path).unlink()
