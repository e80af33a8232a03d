"""The daemon's implementations of the ``Journal`` and ``Lifecycle`` ports (``ports``).

    life = Stopper(); life.begin()                     # inside the running event loop
    journal = JournalAccess(writer, config_hash=h, on_stream=..., on_failure=...)
    sid = journal.register("upbit", url=..., conn="upbit.ws.0", channels=(...))
    journal.append(sid, "open", url.encode())          # never raises; see on_failure
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from recorder.journal import JournalWriteError, Record, StreamInfo
from recorder.journal.writer import JournalWriter
from recorder.venues import VENUES


class Stopper:
    """``Lifecycle``: one stop future, created by ``begin`` in the running loop."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def begin(self) -> None:
        self._future = asyncio.get_running_loop().create_future()

    @property
    def stop_future(self) -> asyncio.Future[None]:
        assert self._future is not None, "begin() first"
        return self._future

    @property
    def stopping(self) -> bool:
        return self._future is not None and self._future.done()

    def request_stop(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait_stop(self, seconds: float) -> bool:
        if seconds > 0 and not self.stopping:
            await asyncio.wait((self.stop_future,), timeout=seconds)
        return self.stopping


class JournalAccess:
    """``Journal`` over one ``JournalWriter``: streams named and counted for the metrics.

    ``on_stream(info)`` hears every stream registered (the projections fold by stream);
    ``on_failure(exc)`` every journal failure (the daemon stops). ``counts`` holds the
    records and bytes appended through ``append`` per (stream, kind); frames are counted
    by their connections.
    """

    def __init__(self, writer: JournalWriter, *, config_hash: str,
                 on_stream: Callable[[StreamInfo], None],
                 on_failure: Callable[[JournalWriteError], None]) -> None:
        self.writer = writer
        self.config_hash = config_hash
        self.on_stream = on_stream
        self.on_failure = on_failure
        self.append_frame: Callable[..., Record] = writer.append
        self.counts: dict[tuple[int, str], tuple[int, int]] = {}  # (sid, kind) -> (records, bytes)
        self.stream_names: dict[int, tuple[str, str]] = {}  # sid -> (venue, conn)

    def register(self, venue: str, *, url: str, conn: str, channels: tuple[str, ...],
                 market: str | None = None) -> int:
        desc = VENUES.get(venue)
        market = market or (desc.market if desc else "")
        sid = self.writer.register_stream(venue, market=market, url=url,
                                          conn=conn, channels=channels,
                                          config_hash=self.config_hash)
        self.stream_names[sid] = (venue, conn)
        self.on_stream(self.writer.streams[sid])
        return sid

    def append(self, sid: int, kind: str, payload: bytes, meta: dict[str, Any] | None = None) -> None:
        try:
            self.writer.append(sid, kind, payload, meta=meta)
        except JournalWriteError as exc:
            self.on_failure(exc)
            return
        n, b = self.counts.get((sid, kind), (0, 0))
        self.counts[(sid, kind)] = (n + 1, b + len(payload))

    def mark(self, sid: int, text: str, **fields: Any) -> None:
        self.append(sid, "mark", json.dumps({"mark": text, **fields}, sort_keys=True).encode())

    def failed(self, exc: JournalWriteError) -> None:
        self.on_failure(exc)
