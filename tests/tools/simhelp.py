"""Helpers for simulator tests: HTTP calls, receiving with a deadline."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import orjson
from websockets.asyncio.client import connect


def ws_connect(url: str, **kw):
    """A client that never stops reading (unbounded queue): closing it never waits behind
    unread frames, so tests can stop consuming a fast stream at any moment."""
    return connect(url, max_queue=None, close_timeout=2, **kw)


def _http(method: str, url: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


async def http(method: str, url: str, json: object | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, off the event loop."""
    body = None if json is None else orjson.dumps(json)
    return await asyncio.to_thread(_http, method, url, body)


async def recv_n(ws, n: int, timeout: float = 10.0) -> list:
    """The next ``n`` messages, failing if they take longer than ``timeout``."""
    async def go():
        return [await ws.recv() for _ in range(n)]

    return await asyncio.wait_for(go(), timeout)


async def recv_for(ws, seconds: float) -> list:
    """Every message that arrives within ``seconds``."""
    out = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            out.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return out


async def until(cond, timeout: float = 5.0, step: float = 0.01) -> None:
    """Wait for ``cond()`` to become true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


class DepthChains:
    """Binance USD-M depth continuity by the one sync rule (``state.sync``): a test oracle.

    Frames and snapshot ids go through a sync-only ``Projector`` as journal records would;
    each call returns the ``Gap`` events it produced (none while the chain holds).
    """

    def __init__(self) -> None:
        from recorder.journal import StreamInfo
        from state.projector import Projector

        self.p = Projector({1: StreamInfo(1, "binance-usdm", "usdm", "wss://x/public/stream"),
                            2: StreamInfo(2, "binance-usdm", "usdm", "https://x")}, sync_only=True)
        self.seq = 0

    def _apply(self, stream: int, kind: str, payload: bytes, meta: dict | None = None) -> list:
        from recorder.journal import Record
        from state.events import Gap

        self.seq += 1
        return [e for e in self.p.apply(Record(self.seq, self.seq, stream, kind, payload, meta))
                if type(e) is Gap]

    def frame(self, payload: bytes) -> list:
        """A depth frame (combined or bare); other frames are no book data."""
        return self._apply(1, "frame", payload)

    def snapshot(self, symbol: str, last_update_id: int) -> list:
        """A REST snapshot with ``last_update_id`` (levels do not matter to the chain)."""
        body = orjson.dumps({"lastUpdateId": last_update_id, "bids": [], "asks": []})
        return self._apply(2, "rest", body, {"url": f"https://x/fapi/v1/depth?symbol={symbol}",
                                             "status": 200})

    def live(self, symbol: str) -> bool:
        """True once ``symbol``'s book is synced from a snapshot and unbroken since."""
        return (("binance-usdm", symbol) in self.p.symbols()
                and ("binance-usdm", symbol) not in self.p.books_needing_snapshot())
