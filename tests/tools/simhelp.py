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
