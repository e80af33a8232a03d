"""The picows receive path does what websockets did for the recorder: fragments joined and
held to ``max_size``, pings answered, close codes both ways, permessage-deflate inflated, a
refused handshake raised as websockets' ``InvalidStatus`` and a bad extension answer as its
``NegotiationError`` (so each is classified and journaled as before)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from recorder.daemon import picows_connection as pc

pytestmark = pytest.mark.timeout(30)


@contextlib.asynccontextmanager
async def server(handler, **kw):
    kw.setdefault("compression", None)
    async with serve(handler, "127.0.0.1", 0, **kw) as srv:
        port = srv.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/x"


async def open_conn(url, got, *, max_size=1 << 20, compression=False):
    opened = []
    conn = await pc.connect(url, sink=lambda batch, binary: got.append((list(batch), binary)),
                            on_open=lambda: opened.append(True), open_timeout=3.0,
                            close_timeout=1.0, max_size=max_size, compression=compression,
                            ping_interval=None)
    assert opened == [True]
    return conn


async def test_messages_in_order_fragments_joined_pings_answered():
    pong = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.send("a")
        await ws.send(["b", "c", "d"])  # one message in three frames
        await ws.send(b"\x00\xff")
        waiter = await ws.ping(b"hi")
        await waiter
        pong.set_result(True)
        await ws.send("e")
        await ws.wait_closed()

    got: list = []
    async with server(handler) as url:
        conn = await open_conn(url, got)
        assert await asyncio.wait_for(pong, 5)
        for _ in range(100):
            if sum(len(b) for b, _ in got) == 4:
                break
            await asyncio.sleep(0.01)
        await conn.close(1000, "done")
    flat = [(m, binary) for batch, binary in got for m in batch]
    assert flat == [(b"a", False), (b"bcd", False), (b"\x00\xff", True), (b"e", False)]
    assert all(type(m) is bytes for m, _ in flat)
    assert conn.closed and conn.close_frames()[1] == (1000, "done")


async def test_a_peer_close_is_answered_with_its_code():
    async def handler(ws):
        await ws.send("x")
        await ws.close(4001, "bye")

    got: list = []
    async with server(handler) as url:
        conn = await open_conn(url, got)
        await asyncio.wait_for(conn.wait_closed(), 5)
    rcvd, sent = conn.close_frames()
    assert rcvd == (4001, "bye") and sent == (4001, "bye")
    assert conn.close_code == 4001
    assert [m for batch, _ in got for m in batch] == [b"x"]
    with pytest.raises(ConnectionResetError):
        await conn.send_text(b"late")


async def test_our_close_code_reaches_the_peer():
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.wait_closed()
        seen.set_result((ws.close_code, ws.close_reason))

    async with server(handler) as url:
        conn = await open_conn(url, [])
        await conn.send_text(b'{"method":"SUBSCRIBE"}')
        await conn.close(4000, "stale")
        assert await asyncio.wait_for(seen, 5) == (4000, "stale")


async def test_a_message_over_max_size_closes_with_1009():
    async def handler(ws):
        await ws.send(["x" * 600, "y" * 600])
        await ws.wait_closed()

    got: list = []
    async with server(handler) as url:
        conn = await open_conn(url, got, max_size=1024)
        await asyncio.wait_for(conn.wait_closed(), 5)
    assert got == [] and conn.close_frames()[1] == (1009, "message too big")


async def test_a_refused_handshake_is_websockets_invalid_status():
    def refuse(connection, request):
        return Response(429, "Too Many Requests", Headers({"Retry-After": "3"}),
                        b'{"error":{"name":"TOO_MANY_REQUESTS"}}')

    async def handler(ws):
        await ws.wait_closed()

    async with server(handler, process_request=refuse) as url:
        with pytest.raises(InvalidStatus) as info:
            await open_conn(url, [])
    resp = info.value.response
    assert resp.status_code == 429 and resp.headers.get("Retry-After") == "3"
    assert resp.body == b'{"error":{"name":"TOO_MANY_REQUESTS"}}'


async def test_nothing_listening_is_an_os_error():
    async with server(lambda ws: ws.wait_closed()) as url:
        pass  # closed again: the port refuses
    with pytest.raises(OSError):
        await open_conn(url, [])


async def raw_server(payload: bytes):
    """A server that completes the handshake, then writes ``payload`` in one write."""

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
                   if ln.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(payload)  # one write: one read on loopback
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_a_big_read_is_handed_over_in_bounded_batches():
    n = 1000
    srv = await raw_server(b"".join(b"\x81\x03%03d" % i for i in range(n)) + b"\x88\x02\x03\xe8")
    got: list = []
    try:
        conn = await open_conn(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/", got)
        await asyncio.wait_for(conn.wait_closed(), 5)
    finally:
        srv.close()
    assert [m for batch, _ in got for m in batch] == [b"%03d" % i for i in range(n)]
    assert max(len(batch) for batch, _ in got) == pc.MAX_BATCH and len(got) >= n // pc.MAX_BATCH


@pytest.mark.parametrize(("tail", "code"), [
    (b"\x88\x02\x03\xe7", 1002),  # a close frame with code 999
    (b"\x81\x7e\x08\x00" + b"x" * 2048, 1009),  # over max_size
    (b"\x8b\x00", 1002),  # an unknown opcode
])
async def test_frames_before_a_protocol_error_in_the_same_read_are_delivered(tail, code):
    srv = await raw_server(b"\x81\x01a\x81\x01b" + tail)
    port = srv.sockets[0].getsockname()[1]
    got: list = []
    try:
        conn = await open_conn(f"ws://127.0.0.1:{port}/", got, max_size=1024)
        await asyncio.wait_for(conn.wait_closed(), 5)
    finally:
        srv.close()
    assert [m for batch, _ in got for m in batch] == [b"a", b"b"]
    assert conn.close_frames()[1][0] == code and conn.close_code == 1006


def deflate_server(no_context_takeover=False, max_window_bits=None):
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    return [ServerPerMessageDeflateFactory(server_no_context_takeover=no_context_takeover,
                                           server_max_window_bits=max_window_bits,
                                           compress_settings={"memLevel": 5})]


@pytest.mark.parametrize(("no_context_takeover", "bits"), [(False, None), (True, None), (False, 9)])
async def test_compressed_messages_are_inflated(no_context_takeover, bits):
    text = '{"stream":"btcusdt@depth@100ms","data":{"b":[["1.0","2"]]}}' * 40
    sent = [text, text + "x", b"\x00\x01" * 3000, ["ab" * 800, "cd" * 800, "ef"], "short"]

    async def handler(ws):
        for m in sent:
            await ws.send(m)
        await ws.wait_closed()

    got: list = []
    async with server(handler, compression=None,
                      extensions=deflate_server(no_context_takeover, bits)) as url:
        conn = await open_conn(url, got, compression=True)
        assert conn.inflater is not None and conn.inflater.no_context_takeover == no_context_takeover
        for _ in range(200):
            if sum(len(b) for b, _ in got) == len(sent):
                break
            await asyncio.sleep(0.01)
        await conn.close(1000, "done")
    flat = [m for batch, _ in got for m in batch]
    assert flat == [text.encode(), (text + "x").encode(), b"\x00\x01" * 3000,
                    ("ab" * 800 + "cd" * 800 + "ef").encode(), b"short"]


async def test_an_inflated_message_over_max_size_closes_with_1009():
    async def handler(ws):
        await ws.send("ok")
        await ws.send("z" * 100_000)  # compresses to a few hundred bytes
        await ws.wait_closed()

    got: list = []
    async with server(handler, compression=None, extensions=deflate_server()) as url:
        conn = await open_conn(url, got, max_size=4096, compression=True)
        await asyncio.wait_for(conn.wait_closed(), 5)
    assert [m for batch, _ in got for m in batch] == [b"ok"]
    assert conn.close_frames()[1] == (1009, "message too big")


async def test_compression_offered_but_declined_is_plain():
    async def handler(ws):
        await ws.send("plain")
        await ws.wait_closed()

    got: list = []
    async with server(handler) as url:
        conn = await open_conn(url, got, compression=True)
        assert conn.inflater is None
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        await conn.close(1000, "")
    assert got == [([b"plain"], False)]


@pytest.mark.parametrize(("offer", "answer"), [
    (False, "permessage-deflate"),  # nothing was offered
    (True, "x-webkit-deflate-frame"),
    (True, "permessage-deflate; mystery=1"),
])
async def test_an_extension_answer_we_cannot_take_is_negotiation_error(offer, answer):
    from websockets.exceptions import NegotiationError

    def add_header(connection, request, response):
        response.headers["Sec-WebSocket-Extensions"] = answer
        return response

    async def handler(ws):
        await ws.send("never recorded")
        await ws.wait_closed()

    got: list = []
    async with server(handler, process_response=add_header) as url:
        with pytest.raises(NegotiationError):
            await open_conn(url, got, compression=offer)
    assert got == []
