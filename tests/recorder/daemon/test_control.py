"""recorder.daemon.control: each request line gets one reply, refusals are typed replies, a
bug in the target is an error reply (never an exception out of the server), and the socket
path stays within a Unix socket address."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

from recorder.daemon.control import MAX_SUN_PATH, ControlServer, handle, socket_path
from recorder.errors import ControlError


class Target:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def venues(self) -> dict[str, list[str]]:
        return {"upbit": ["KRW-BTC"]}

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        if venue != "upbit":
            raise ControlError("no", code="unknown_venue", choices=("upbit",))
        self.calls.append(("subscribe", (venue, symbols)))
        return [s for s in symbols if s != "KRW-BTC"], [s for s in symbols if s == "KRW-BTC"]

    def unsubscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]:
        self.calls.append(("unsubscribe", (venue, symbols)))
        self.last_change = {"live": ["upbit.ws.0"], "new": [], "closed": []}
        return [s for s in symbols if s == "KRW-BTC"], [s for s in symbols if s != "KRW-BTC"]

    def journal_rest(self, venue: str, url: str, status: int, body: bytes, recv_ns: int | None) -> int:
        self.calls.append(("rest", (venue, url, status, body, recv_ns)))
        return 7

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int:
        if text == "boom":
            raise RuntimeError("a bug")
        self.calls.append(("mark", (venue, text, fields)))
        return 8

    def control_status(self) -> dict[str, Any]:
        return {"venues": self.venues()}


def ask(t: Target, req: Any) -> dict[str, Any]:
    return handle(t, req if isinstance(req, bytes) else json.dumps(req).encode())


def test_ops_and_refusals():
    t = Target()
    assert ask(t, {"op": "subscribe", "venue": "upbit", "symbols": ["KRW-BTC", "KRW-XRP"]}) == {
        "ok": True, "added": ["KRW-XRP"], "already": ["KRW-BTC"]}
    assert ask(t, {"op": "subscribe", "venue": "okx", "symbols": ["X"]}) == {
        "ok": False, "error": "no", "code": "unknown_venue", "choices": ["upbit"]}
    body = b"\x00\xffbody"
    assert ask(t, {"op": "journal", "venue": "upbit", "url": "u", "status": 200,
                   "body_b64": base64.b64encode(body).decode()}) == {"ok": True, "seq": 7}
    assert t.calls[-1] == ("rest", ("upbit", "u", 200, body, None))
    assert ask(t, {"op": "mark", "venue": "", "text": "hi", "fields": {"a": 1}}) == {"ok": True, "seq": 8}
    assert ask(t, {"op": "status"}) == {"ok": True, "venues": {"upbit": ["KRW-BTC"]}}
    assert ask(t, {"op": "unsubscribe", "venue": "upbit", "symbols": ["KRW-BTC", "KRW-XRP"]}) == {
        "ok": True, "removed": ["KRW-BTC"], "absent": ["KRW-XRP"], "live": ["upbit.ws.0"],
        "new": [], "closed": []}
    assert ask(t, {"op": "unsubscribe", "venue": "upbit", "symbols": []})["code"] == "bad_request"
    for bad in ({"op": "journal", "venue": "upbit", "url": "u", "status": 99, "body_b64": ""},
                {"op": "journal", "venue": "upbit", "url": "u", "status": 200, "body_b64": "",
                 "recv_ns": -1},
                {"op": "mark", "venue": 3, "text": "x"}, {"op": "mark", "venue": "", "text": ""},
                {"op": "subscribe", "venue": "upbit", "symbols": []}, {"op": 1}, [], b"{", b"\xff"):
        reply = ask(t, bad)
        assert reply["ok"] is False and reply["error"] and reply["code"] == "bad_request", bad
    reply = ask(t, {"op": "mark", "venue": "", "text": "boom"})
    assert reply == {"ok": False, "error": "internal error: RuntimeError: a bug", "code": "internal"}


def test_socket_path_fits_an_address(tmp_path):
    assert socket_path(tmp_path) == tmp_path / "control.sock"
    deep = tmp_path / ("d" * 120)
    p = socket_path(deep)
    assert len(str(p)) <= MAX_SUN_PATH and p.parent == Path("/tmp") and p == socket_path(deep)


async def test_server_answers_line_by_line_and_survives_garbage(tmp_path):
    server = ControlServer(Target(), tmp_path / "c.sock", log=logging.getLogger("test"))
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(server.path))
        writer.write(b'garbage\n\n{"op":"status"}\n{"op":"status"}')  # the last without newline
        writer.write_eof()
        replies = [json.loads(line) for line in (await reader.read()).splitlines()]
        assert [r["ok"] for r in replies] == [False, True, True]
        writer.close()
        assert (server.requests, server.refused) == (3, 1)
    finally:
        await server.close()
    assert not (tmp_path / "c.sock").exists()
