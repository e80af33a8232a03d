"""The memory of connections this process runs: an embedded recorder (``recorder.daemon``)
that starts with no symbol and subscribes each one the API asks for: on an open connection
with room where the venue can subscribe live, else on a connection of its own; the others
are left open.

It is the recorder, not a second copy of it: every frame is journaled (under ``data_dir``,
or a temporary directory removed on close), folded by the live projection, resynced by the
venue's rule after a gap, reconnected after a drop; REST replies the API fetched and its
circuit-breaker changes are journaled as ``rest``/``error`` records and ``mark``s on each
venue's API stream. So what the API answered can be replayed from that journal.

A symbol is healthy while every connection that carries it is up; its state's freshness
(``ts_ns``) is judged by ``MarketData``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recorder.daemon.app import Recorder
from recorder.daemon.config import (
    CompactionConfig,
    ProjectionConfig,
    PublishConfig,
    RecorderConfig,
    VenueConfig,
)
from recorder.daemon.control import ControlError
from recorder.daemon.logs import event_logger
from state.events import Event

from .errors import UnknownSymbolError, VenueUnavailableError
from .folded import FoldedMemory
from .rest import Reply

# What the API records of each venue it can stream: books, trades, tickers.
CHANNELS: dict[str, tuple[str, ...]] = {
    "upbit": ("orderbook", "trade", "ticker"),
    "binance-usdm": ("depth", "aggTrade", "bookTicker", "ticker"),
}
DEPTH = 20  # levels a side the projection keeps (orderbook(depth=N > 20) goes to REST)


class InProcess(FoldedMemory):
    """An embedded recorder as ``MarketData``'s memory; see the module docstring."""

    name = "in-process"

    def __init__(self, *, data_dir: str | None, ws_urls: Mapping[str, str], rest_urls: Mapping[str, str],
                 channels: Mapping[str, tuple[str, ...]] | None = None, log: logging.Logger | None = None,
                 durability: str = "periodic") -> None:
        super().__init__(projector=None)  # type: ignore[arg-type]  # the recorder's, once started
        self.is_up = self._is_up
        self.channels = dict(channels or CHANNELS)
        self._tmp = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ticktape-market-")
        venues = tuple(VenueConfig(venue=v, symbols=(), channels=ch, ws_url=ws_urls.get(v, ""),
                                   rest_url=rest_urls.get(v, "")) for v, ch in self.channels.items())
        self.config = RecorderConfig(
            data=self.data_dir, venues=venues, durability=durability, committer="thread",
            log_file=str(Path(self.data_dir) / "logs" / "market.jsonl"), log_level="warning",
            projection=ProjectionConfig(enabled=True, depth_levels=DEPTH),
            compaction=CompactionConfig(enabled=False), publish=PublishConfig(enabled=False))
        Path(self.data_dir, "logs").mkdir(parents=True, exist_ok=True)
        self.recorder = Recorder(self.config, log=log or event_logger(
            level=self.config.log_level, path=self.config.log_file), metrics=False, hooks={})
        self._task: asyncio.Task[int] | None = None
        self._carriers: dict[tuple[str, str], list[Any]] = {}
        self._sups_seen: tuple[int, int] = (-1, -1)

    # -- life -------------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        rec = self.recorder
        self._task = asyncio.get_running_loop().create_task(rec.run(), name="market-recorder")
        started = asyncio.ensure_future(rec.started.wait())
        done, _ = await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            started.cancel()
            raise VenueUnavailableError("in-process", f"the embedded recorder stopped: {rec.failure}")
        proj = rec.projection
        if proj is None or proj.failed is not None:
            raise VenueUnavailableError("in-process", "the embedded recorder has no projection")
        self.set_projector(proj.projector)
        fold = proj.projector.apply

        def folded(record: Any) -> list[Event]:
            events = fold(record)
            self.on_events(events)
            return events

        proj.set_fold(folded)

    async def close(self) -> None:
        if self._task is not None:
            self.recorder.request_stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 30)
            self._task = None
        if self._tmp:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- the Source protocol ------------------------------------------------------------

    def can_subscribe(self, venue: str) -> bool:
        return venue in self.channels and self._task is not None

    async def want(self, venue: str, symbols: Sequence[str]) -> None:
        if not self.can_subscribe(venue):
            raise VenueUnavailableError(venue, "no live connections for this venue in this process")
        try:
            added, _ = self.recorder.subscribe(venue, list(symbols))
        except ControlError as exc:
            if exc.code == "unknown_symbol":
                raise UnknownSymbolError(venue, ", ".join(symbols), exc.choices) from None
            raise VenueUnavailableError(venue, str(exc)) from None
        self.keep_trades(venue, added)

    def _is_up(self, venue: str, symbol: str) -> bool:
        sups = self.recorder.supervisors
        seen = (len(sups), self.recorder.plan_changes)
        if seen != self._sups_seen:  # new connections, or live changes: who carries what
            self._sups_seen = seen
            self._carriers = {}
            for s in sups:
                for stream in s.plan.streams:
                    key = stream.partition(":")[2] if s.venue == "upbit" else stream.partition("@")[0].upper()
                    self._carriers.setdefault((s.venue, key), []).append(s)
        carriers = self._carriers.get((venue, symbol))
        return bool(carriers) and all(s.up for s in carriers)

    def journal(self, reply: Reply) -> None:
        with contextlib.suppress(Exception):  # a failing journal stops the recorder; the answer stands
            self.recorder.journal_rest(reply.venue, reply.url, reply.status, reply.body, reply.recv_ns,
                                       via="api")

    def mark(self, text: str, **fields: Any) -> None:
        with contextlib.suppress(Exception):  # as journal(): the recorder reports its own failure
            self.recorder.journal_mark(str(fields.get("venue", "")), text, fields)
