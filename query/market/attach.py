"""Attach to a ``recorder run`` on this machine: read its live table, ask it over its socket.

    att = Attached("data/live")              # VenueUnavailableError: no recorder runs there
    row = att.row("binance-usdm", "BTCUSDT")  # state.live_row.LiveRow, or None (not recorded)
    att.alive(time.time_ns())                # its pid lives and its heartbeat is recent
    added, already = await att.subscribe("upbit", ["KRW-XRP"])   # live where the venue can
    removed, absent = await att.unsubscribe("upbit", ["KRW-XRP"])
    seq = await att.journal("upbit", url, 200, body, recv_ns)    # a REST answer, journaled
    seq = await att.mark("upbit", "circuit", {"old": "closed", "new": "open"})  # a mark
    att.close()

The recorder (``recorder.daemon.publish``) writes ``DATA/live/attach.json`` naming its
table (a ``ticktape_core.LiveTable``, in /dev/shm where it exists) and its control socket.
``row`` maps nothing per call and opens no socket: one seqlock read of the row (the copy
is retried while the recorder rewrites it, its CRC-32 checked) and one msgpack decode.
Rows carry the venue's symbol key (``state.symbols``); the row's ``ts_ns`` is the receive
time of the last record folded, so the caller computes the age itself.

After calling: check ``alive`` before trusting a row; when it turns False (the recorder
stopped or was restarted with a new table), close and attach again. Errors are the
``query.market.errors`` tree: ``VenueUnavailableError`` (venue ``"recorder"``) when
nothing runs there or the socket does not answer in time, ``UnknownVenueError`` /
``UnknownSymbolError`` for names the recorder refuses, ``BadResponseError`` for a table
row or a reply that cannot be read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import ticktape_core as _core

from state.live_row import LiveRow, RowFormatError, decode_row, row_key

from .errors import (
    BadResponseError,
    MarketDataError,
    UnknownSymbolError,
    UnknownVenueError,
    VenueUnavailableError,
)

ATTACH_FILE = Path("live") / "attach.json"  # under the data dir (recorder.daemon.publish)
RECORDER = "recorder"  # the "venue" VenueUnavailableError names when the recorder is missing
STALE_AFTER_S = 3.0  # a heartbeat older than this: the recorder is gone (it beats every 0.25 s)
TIMEOUT_S = 5.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except (OverflowError, ValueError):
        return False
    return True


class Attached:
    """A running recorder's live table and control socket; see the module docstring."""

    def __init__(self, data_dir: str | os.PathLike[str], *, timeout_s: float = TIMEOUT_S,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self.data_dir = Path(data_dir)
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        path = self.data_dir / ATTACH_FILE
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise VenueUnavailableError(
                RECORDER, f"no recorder runs at {self.data_dir} (no {ATTACH_FILE})") from None
        except (OSError, ValueError) as exc:
            raise VenueUnavailableError(RECORDER, f"{path} unreadable: {exc}") from None
        if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
            raise VenueUnavailableError(RECORDER, f"{path}: not a recorder's attach file")
        self.info: dict[str, Any] = info
        self.pid: int = info["pid"]
        if not _pid_alive(self.pid):
            raise VenueUnavailableError(
                RECORDER, f"the recorder of {self.data_dir} (pid {self.pid}) is not running")
        self.control_path: str | None = info.get("control")
        self.table: Any = None
        if info.get("table"):
            try:
                self.table = _core.LiveTable.open(info["table"])
            except (OSError, _core.LiveTableError) as exc:
                raise VenueUnavailableError(
                    RECORDER, f"live table {info['table']}: {exc}") from None
        self._rows: dict[tuple[str, str], int] = {}

    # -- the table -------------------------------------------------------------------

    def row(self, venue: str, symbol: str) -> LiveRow | None:
        """The published state of (venue, symbol key), or None when the recorder has none
        (not recorded, or no record of it yet; without a projection there is no table)."""
        table = self.table
        if table is None:
            return None
        r = self._rows.get((venue, symbol))
        if r is None:
            r = table.find(row_key(venue, symbol))
            if r is None:
                return None
            self._rows[(venue, symbol)] = r
        try:
            payload = table.get(r)
        except _core.LiveTableError as exc:
            raise BadResponseError("live table row", row_key(venue, symbol), str(exc)) from None
        if payload is None:
            return None
        try:
            return decode_row(payload)
        except RowFormatError as exc:
            raise BadResponseError("live table row", row_key(venue, symbol), str(exc)) from None

    def symbols(self) -> list[tuple[str, str]]:
        """Every (venue, symbol key) with a row, sorted."""
        if self.table is None:
            return []
        out = []
        for key, _ in self.table.rows():
            venue, _, symbol = key.partition("/")
            out.append((venue, symbol))
        return sorted(out)

    def heartbeat_ns(self) -> int:
        """The recorder's last heartbeat (its wall clock, ns); 0 without a table."""
        return self.table.heartbeat_ns if self.table is not None else 0

    def alive(self, now_ns: int | None = None) -> bool:
        """The recorder's process lives and (with a table) beat within ``stale_after_s``
        of ``now_ns`` (default: now)."""
        if not _pid_alive(self.pid):
            return False
        if self.table is None:
            return True
        now = time.time_ns() if now_ns is None else now_ns
        return now - self.table.heartbeat_ns <= self.stale_after_s * 1e9

    def stats(self) -> dict[str, int]:
        """Read counters: retries (the row was being rewritten), busy, damaged."""
        t = self.table
        if t is None:
            return {"retries": 0, "busy": 0, "damaged": 0}
        return {"retries": t.retries, "busy": t.busy, "damaged": t.damaged}

    def close(self) -> None:
        self.table = None
        self._rows.clear()

    def __enter__(self) -> Attached:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the control socket ----------------------------------------------------------

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request over the control socket; its reply (``ok`` true) or the error it
        names raised (see the module docstring)."""
        if not self.control_path:
            raise VenueUnavailableError(RECORDER, f"the recorder of {self.data_dir} has no control socket")
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_unix_connection(self.control_path,
                                                                    limit=1 << 20)
                try:
                    # default=str: a Decimal or datetime in a mark's fields goes as its text
                    writer.write(json.dumps(request, default=str).encode() + b"\n")
                    await writer.drain()
                    line = await reader.readline()
                finally:
                    writer.close()
        except TimeoutError:
            raise VenueUnavailableError(
                RECORDER, f"control socket {self.control_path}: no answer in {self.timeout_s} s") from None
        except OSError as exc:
            raise VenueUnavailableError(RECORDER, f"control socket {self.control_path}: {exc}") from None
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise BadResponseError("recorder control reply", "", repr(line[:200]))
        if reply.get("ok") is True:
            return reply
        error = str(reply.get("error", "refused"))
        code = reply.get("code")
        choices = [str(c) for c in reply.get("choices") or ()]
        venue = str(request.get("venue", ""))
        if code == "unknown_venue":
            raise UnknownVenueError(venue, choices)
        if code == "unknown_symbol":
            err = UnknownSymbolError(venue, ",".join(request.get("symbols") or ()), choices)
            err.args = (f"{err}: {error}",)
            raise err
        if code == "stopping":
            raise VenueUnavailableError(RECORDER, error)
        raise MarketDataError(f"recorder refused {request.get('op')!r}: {error}")

    async def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Ask the recorder to record ``symbols`` of ``venue`` too; ``(added, already)``.
        Added ones get rows once their first records are folded."""
        reply = await self.ask({"op": "subscribe", "venue": venue, "symbols": list(symbols)})
        return list(reply.get("added", ())), list(reply.get("already", ()))

    async def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        """Ask the recorder to stop recording ``symbols`` of ``venue``; ``(removed, absent)``.
        Their rows stay as last published (no longer updated)."""
        reply = await self.ask({"op": "unsubscribe", "venue": venue, "symbols": list(symbols)})
        return list(reply.get("removed", ())), list(reply.get("absent", ()))

    async def journal(self, venue: str, url: str, status: int, body: bytes,
                      recv_ns: int | None = None) -> int:
        """Have the recorder journal a REST answer this process fetched; the record's seq."""
        req: dict[str, Any] = {"op": "journal", "venue": venue, "url": url, "status": status,
                               "body_b64": base64.b64encode(body).decode("ascii")}
        if recv_ns is not None:
            req["recv_ns"] = recv_ns
        reply = await self.ask(req)
        return int(reply["seq"])

    async def mark(self, venue: str, text: str, fields: dict[str, Any] | None = None) -> int:
        """Have the recorder journal a ``mark`` (``{"mark": text, **fields}``) on the venue's
        API stream (``venue=""``: the recorder's own); the record's seq. ``fields`` must be
        JSON values (others are sent as their ``str``)."""
        reply = await self.ask({"op": "mark", "venue": venue, "text": text,
                                "fields": dict(fields or {})})
        return int(reply["seq"])

    async def status(self) -> dict[str, Any]:
        """The recorder's venues and symbols served, last seq, table stats."""
        return await self.ask({"op": "status"})
