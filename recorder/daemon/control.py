"""The control socket: other processes on this machine ask the running recorder for things.

A Unix socket (``DATA/live/control.sock``, or a short path under /tmp when that one is too
long for a socket address; ``attach.json`` names it), one JSON object a line each way:

    {"op": "subscribe", "venue": "upbit", "symbols": ["KRW-XRP"]}
        -> {"ok": true, "added": ["KRW-XRP"], "already": [],
            "live": ["upbit.ws.0"], "new": [], "closed": []}
    {"op": "unsubscribe", "venue": "upbit", "symbols": ["KRW-XRP"]}
        -> {"ok": true, "removed": ["KRW-XRP"], "absent": [],
            "live": ["upbit.ws.0"], "new": [], "closed": []}
    {"op": "journal", "venue": "upbit", "url": "https://...", "status": 200,
     "body_b64": "...", "recv_ns": 1700000000000000000}
        -> {"ok": true, "seq": 1234}
    {"op": "mark", "venue": "upbit", "text": "circuit", "fields": {"old": "closed"}}
        -> {"ok": true, "seq": 1235}
    {"op": "status"}
        -> {"ok": true, "pid": ..., "venues": {"upbit": ["KRW-BTC", ...]}, ...}
    anything else -> {"ok": false, "error": "...", "code": "...", "choices": [...]}
                     (the connection stays usable; ``code`` says which kind of refusal)

``subscribe`` adds the symbols the recorder lacks: onto an open connection with room
when the venue can subscribe live (``live`` names the connections changed), else on new
connections of their own (``new``); no open connection reconnects. ``unsubscribe`` stops
recording symbols: their streams are removed from the open connections in place
(``live``), a connection left with nothing is closed (``closed``). ``journal`` appends a REST answer a separate process fetched
as a ``rest`` record (an ``error`` record for a status outside 2xx) on that venue's API
stream, so what the API served is in the journal too; ``mark`` appends a ``mark`` record
(``{"mark": text, **fields}``) there (venue ``""``: on a stream of the recorder's own), so
what the API decided (a circuit opened) is too. What the ops do is the
``ControlTarget``'s (the ``Recorder``); this module parses, checks and answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from recorder.errors import ControlError

from .logs import fields

__all__ = ["ControlError", "ControlServer", "ControlTarget", "handle", "socket_path"]

SOCKET_NAME = "control.sock"
MAX_LINE = 32 << 20  # a journaled body travels base64 in one line
MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; keep a margin


class ControlTarget(Protocol):
    """What the control socket asks of the recorder."""

    def venues(self) -> dict[str, list[str]]:
        """Venue -> symbols served."""
        ...

    last_change: dict[str, list[str]]  # what the last (un)subscribe did: live/new/closed

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Record ``symbols`` of ``venue`` too; ``(added, already)``. ``ControlError`` if not."""
        ...

    def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Stop recording ``symbols`` of ``venue``; ``(removed, absent)``. ``ControlError`` if not."""
        ...

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None) -> int:
        """Append a REST answer; its seq. ``ControlError`` if not."""
        ...

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int:
        """Append a mark; its seq. ``ControlError`` if not."""
        ...

    def control_status(self) -> dict[str, Any]:
        """What ``status`` answers: pid, venues and symbols served, last seq, the table."""
        ...


def socket_path(live_dir: Path) -> Path:
    """``live_dir/control.sock``, or ``/tmp/ticktape-<hash>.sock`` when that is too long."""
    path = live_dir / SOCKET_NAME
    if len(os.fsencode(path)) <= MAX_SUN_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(os.path.realpath(live_dir))).hexdigest()[:12]
    return Path("/tmp") / f"ticktape-{digest}.sock"


def _str(req: dict[str, Any], key: str) -> str:
    v = req.get(key)
    if not isinstance(v, str) or not v:
        raise ControlError(f"{key!r}: a non-empty string is required", code="bad_request")
    return v


def handle(target: ControlTarget, line: bytes) -> dict[str, Any]:
    """The reply to one request line (never raises)."""
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return {"ok": False, "error": f"not a JSON line: {exc}", "code": "bad_request"}
    if not isinstance(req, dict):
        return {"ok": False, "error": "a request is a JSON object with an \"op\"",
                "code": "bad_request"}
    op = req.get("op")
    try:
        if op in ("subscribe", "unsubscribe"):
            venue = _str(req, "venue")
            symbols = req.get("symbols")
            if (not isinstance(symbols, list) or not symbols
                    or not all(isinstance(s, str) and s for s in symbols)):
                raise ControlError("'symbols': a non-empty list of strings is required", code="bad_request")
            if op == "subscribe":
                added, already = target.subscribe(venue, symbols)
                out: dict[str, Any] = {"ok": True, "added": added, "already": already}
            else:
                removed, absent = target.unsubscribe(venue, symbols)
                out = {"ok": True, "removed": removed, "absent": absent}
            return {**out, **getattr(target, "last_change", {})}
        if op == "journal":
            venue = _str(req, "venue")
            url = _str(req, "url")
            status = req.get("status")
            if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
                raise ControlError("'status': an HTTP status code (100..599) is required", code="bad_request")
            b64 = req.get("body_b64")
            if not isinstance(b64, str):
                raise ControlError("'body_b64': the body, base64, is required", code="bad_request")
            try:
                body = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ControlError(f"'body_b64': not base64: {exc}", code="bad_request") from None
            recv_ns = req.get("recv_ns")
            if recv_ns is not None and (not isinstance(recv_ns, int) or isinstance(recv_ns, bool)
                                        or recv_ns < 0):
                raise ControlError("'recv_ns': integer ns, or absent", code="bad_request")
            seq = target.journal_rest(venue, url, status, body, recv_ns)
            return {"ok": True, "seq": seq}
        if op == "mark":
            venue = req.get("venue", "")
            if not isinstance(venue, str):
                raise ControlError("'venue': a string (\"\" for none) is required", code="bad_request")
            text = _str(req, "text")
            fields = req.get("fields", {})
            if not isinstance(fields, dict):
                raise ControlError("'fields': a JSON object is required", code="bad_request")
            return {"ok": True, "seq": target.journal_mark(venue, text, fields)}
        if op == "status":
            return {"ok": True, **target.control_status()}
        return {"ok": False, "error": f"unknown op {op!r} (subscribe, unsubscribe, journal, mark, status)",
                "code": "bad_request"}
    except ControlError as exc:
        return {"ok": False, "error": str(exc), "code": exc.code, "choices": list(exc.choices)}
    except Exception as exc:  # noqa: BLE001 (a bug here must not take the recorder down)
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}",
                "code": "internal"}


class ControlServer:
    """The asyncio Unix-socket server of the control channel; see the module docstring."""

    def __init__(self, target: ControlTarget, path: Path, *, log: logging.Logger) -> None:
        self.target = target
        self.path = path
        self.log = log
        self.requests = 0
        self.refused = 0
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a dead recorder's (the journal's lock is ours now)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                       limit=MAX_LINE)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial.strip():
                        return
                    line = exc.partial  # a last line without its newline
                except asyncio.LimitOverrunError:
                    writer.write(json.dumps({"ok": False, "error": f"line over {MAX_LINE} bytes"})
                                 .encode() + b"\n")
                    await writer.drain()
                    return
                if not line.strip():
                    continue
                self.requests += 1
                reply = handle(self.target, line)
                if not reply.get("ok"):
                    self.refused += 1
                    self.log.info("control_refused", extra=fields(error=reply.get("error")))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()
