"""``MarketData(follow="nats://HOST:4222")``: the memory over a journal a recorder on another
host publishes to NATS JetStream (its ``[broker]``; ``recorder.journal.remote``).

A ``FoldedMemory`` whose projector folds every record the follower hands out, from the
stream's first on, as the recorder's own projection does: the same records, so the same
views and digest as a local reader. It runs no connections (``want`` refuses); a symbol is
healthy while the follower is (the task runs and its connection is up).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from recorder.journal import JournalError
from recorder.journal.remote import RemoteSource, said_url
from state.projector import Projector

from .errors import VenueUnavailableError
from .folded import FoldedMemory
from .inprocess import DEPTH

FOLLOWED = "followed"  # the "venue" VenueUnavailableError names when the broker is missing


class FollowedSource(FoldedMemory):
    """``MarketData``'s memory over a followed journal; see the module docstring.

    ``folded_seq``: the last seq folded. ``start`` raises ``VenueUnavailableError`` when
    the broker does not answer or holds no stream of ``shard``.
    """

    name = FOLLOWED

    def __init__(self, url: str, shard: str = "", *, depth_levels: int = DEPTH) -> None:
        super().__init__(Projector(depth_levels=depth_levels), is_up=self._up)
        self.url = url
        self.shard = shard
        self.remote: RemoteSource | None = None
        self.folded_seq = 0
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        try:
            self.remote = await asyncio.to_thread(RemoteSource, self.url, self.shard)
        except (JournalError, ValueError) as exc:
            raise VenueUnavailableError(FOLLOWED, str(exc)) from None
        self.projector.streams.update(self.remote.streams())
        self._task = asyncio.get_running_loop().create_task(self._fold(), name="market-follow")

    async def _fold(self) -> None:
        remote = self.remote
        assert remote is not None
        p = self.projector
        try:
            async for batch in remote.afollow(1):
                for rec in batch:
                    if rec.stream not in p.streams:
                        info = remote.streams().get(rec.stream)  # came before its first record
                        if info is not None:
                            p.add_stream(info)
                    self.on_events(p.apply(rec))
                self.folded_seq = batch[-1].seq
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (a gap or damage: said by healthy() and error)
            self.error = exc

    async def caught_up(self, timeout: float) -> None:
        """Wait until what the stream held when this was called is folded (``query market
        --follow``'s one answer); ``VenueUnavailableError`` when the follower failed or
        ``timeout`` seconds pass first."""
        assert self.remote is not None, "start() first"
        target = await asyncio.to_thread(lambda: self.remote.last_seq)  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.folded_seq < target:
            if self.error is not None:
                raise VenueUnavailableError(FOLLOWED, f"following {said_url(self.url)}: {self.error}")
            if loop.time() > deadline:
                raise VenueUnavailableError(FOLLOWED, f"{said_url(self.url)}: folded {self.folded_seq} of "
                                            f"{target} records in {timeout:g} s")
            await asyncio.sleep(0.02)

    def _up(self, venue: str, symbol: str) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.remote is not None:
            await asyncio.to_thread(self.remote.close)
            self.remote = None

    def stats(self) -> dict[str, Any]:
        return {"folded_seq": self.folded_seq, "error": repr(self.error) if self.error else None}
