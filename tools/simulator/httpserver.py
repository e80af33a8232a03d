"""A small asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) for REST and control."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request: method, raw target, path, query (last value wins), headers, body,
    and the client's address (``X-Forwarded-For`` when sent, so a test can act as several)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client: str = ""


@dataclass(slots=True)
class Response:
    """A response to write: status, body and extra headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json;charset=UTF-8"


Handler = Callable[[Request], Awaitable[Response]]


def _encode(resp: Response, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {resp.status} {reason}", f"Content-Type: {resp.content_type}",
             f"Content-Length: {len(resp.body)}",
             "Connection: keep-alive" if keep_alive else "Connection: close"]
    lines += [f"{k}: {v}" for k, v in resp.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body


async def _serve_one(handler: Handler, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                writer.write(_encode(Response(400, b"bad request line"), False))
                return
            headers = {}
            for line in lines[1:]:
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                writer.write(_encode(Response(413, b"body too large"), False))
                return
            body = await reader.readexactly(length) if length else b""
            parts = urlsplit(target)
            peer = writer.get_extra_info("peername")
            client = headers.get("x-forwarded-for", "").split(",")[0].strip() or (peer[0] if peer else "")
            req = Request(method.upper(), target, parts.path,
                          dict(parse_qsl(parts.query, keep_blank_values=True)), headers, body, client)
            keep = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            try:
                resp = await handler(req)
            except Exception as exc:  # a handler bug must not kill the server
                resp = Response(500, repr(exc).encode(), content_type="text/plain")
            writer.write(_encode(resp, keep))
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve_http(handler: Handler, host: str, port: int) -> asyncio.Server:
    """Start serving ``handler`` on host:port (0 = any free port); returns the server."""
    return await asyncio.start_server(lambda r, w: _serve_one(handler, r, w), host, port,
                                      limit=MAX_HEAD)
