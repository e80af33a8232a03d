"""The recorder's receive path: a picows client connection that hands each socket read's
messages to the recorder as one batch.

picows parses frames in C and calls ``on_ws_frame`` for each, telling which one is the last
complete frame of the read (``last_in_buffer``): that is where a batch ends. It is a frame
API, so what websockets did for the recorder is done here: fragmented messages are joined
(and held to ``max_size``), pings are answered, a close frame from the peer is answered with
its own code and the connection dropped, our close waits ``close_timeout`` for the peer's.
picows has no permessage-deflate either: with ``compression`` we offer it as websockets did
(``client_max_window_bits``) and inflate what the server compressed (``Inflater``); what we
send stays uncompressed, which RFC 7692 allows. A refused handshake is raised as websockets'
``InvalidStatus`` and a bad extension answer as its ``NegotiationError``, so each is
classified and journaled exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSInvalidStatusError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, NegotiationError
from websockets.http11 import Response

TEXT, BINARY, CONT, PING, CLOSE = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION,
                                   WSMsgType.PING, WSMsgType.CLOSE)
NO_STATUS = 1005  # a close frame without a code (RFC 6455 7.1.5), as websockets reports it
ABNORMAL = 1006  # closed without a close frame
PROTOCOL_ERROR, TOO_BIG = 1002, 1009
Sink = Callable[[list[bytes], bool], None]
# A read can hold tens of thousands of frames after a stall (the kernel queues up to
# tcp_rmem's maximum): they are handed over in batches of this many, so the first of them
# are journaled while picows still parses the rest.
MAX_BATCH = 256
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"  # what websockets offers
_TAIL = b"\x00\x00\xff\xff"  # the empty block RFC 7692 strips from each message


class Inflater:
    """permessage-deflate (RFC 7692) for the messages the server compressed.

    A window of 2^15 inflates any window the server may use, so ``server_max_window_bits``
    needs no handling; ``server_no_context_takeover`` starts each message afresh.
    """

    def __init__(self, *, no_context_takeover: bool) -> None:
        self.no_context_takeover = no_context_takeover
        self._d = zlib.decompressobj(wbits=-15)

    def message(self, data: bytes, max_size: int) -> bytes | None:
        """The inflated message; None when it is over ``max_size``. Raises ``zlib.error``."""
        if self.no_context_takeover:
            self._d = zlib.decompressobj(wbits=-15)
        out = self._d.decompress(data + _TAIL, max_size + 1)
        return None if len(out) > max_size or self._d.unconsumed_tail else out

    @classmethod
    def agreed(cls, headers: list[str]) -> Inflater | None:
        """The inflater the server's ``Sec-WebSocket-Extensions`` answer agreed to (None: none).

        Raises ``NegotiationError`` for anything we did not offer, as websockets did.
        """
        params = [p.strip() for h in headers for ext in h.split(",") for p in ext.split(";")]
        if not params or params == [""]:
            return None
        name, *rest = params
        if name != "permessage-deflate" or rest.count("permessage-deflate"):
            raise NegotiationError(f"unsupported extension: {', '.join(headers)}")
        keys = [p.split("=", 1)[0].strip() for p in rest]
        known = {"server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits", "client_max_window_bits"}
        if len(set(keys)) != len(keys) or not set(keys) <= known:
            raise NegotiationError(f"unsupported permessage-deflate parameters: {', '.join(headers)}")
        return cls(no_context_takeover="server_no_context_takeover" in keys)


class PicowsConnection(WSListener):
    """One connection's listener: batches of data messages to ``sink(payloads, binary)``.

    A batch is the complete messages of one socket read (at most ``MAX_BATCH``), in order,
    only text or only binary (a change hands over what came before). Also the link's socket: ``send_text``,
    ``close``, ``wait_closed``, ``closed``, ``close_frames``, ``close_code``.
    """

    def __init__(self, *, sink: Sink, on_open: Callable[[], None], max_size: int,
                 close_timeout: float, compression: bool) -> None:
        self.sink = sink
        self.on_open = on_open
        self.max_size = max_size
        self.close_timeout = close_timeout
        self.compression = compression  # we offered permessage-deflate
        self.transport: WSTransport | None = None
        self.inflater: Inflater | None = None
        self.refused: NegotiationError | None = None  # the extension answer we cannot take
        self._batch: list[bytes] = []
        self._batch_bin = False
        self._frags: list[bytes] | None = None
        self._frag_bin = False
        self._frag_size = 0
        self._frag_deflated = False

    # -- receiving (hot path: runs inside the transport's read) --------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        try:
            answer = transport.response.headers.getall("Sec-WebSocket-Extensions", [])
            if answer and not self.compression:
                raise NegotiationError(f"no extension was offered: {', '.join(answer)}")
            self.inflater = Inflater.agreed(answer)
        except NegotiationError as exc:
            self.refused = exc  # ``connect`` raises it; nothing of this connection is recorded
            transport.disconnect()
            return
        self.on_open()  # the ``open`` record comes before any frame

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t is TEXT or t is BINARY:
            binary = t is BINARY
            if frame.fin and (self.inflater is None or not frame.rsv1):
                if binary is not self._batch_bin:
                    self._kind(binary)
                self._batch.append(frame.get_payload_as_bytes())
            elif frame.fin:
                self._deflated(transport, frame.get_payload_as_bytes(), binary)
            else:
                self._frags = [frame.get_payload_as_bytes()]
                self._frag_bin = binary
                self._frag_size = frame.payload_size
                self._frag_deflated = self.inflater is not None and frame.rsv1
        elif t is CONT:
            self._continued(transport, frame)
        elif t is PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t is CLOSE:
            if self._batch:
                self._flush()  # what came before the close is journaled first
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        if frame.last_in_buffer:
            if self._batch:
                self._flush()
        elif len(self._batch) >= MAX_BATCH:
            self._flush()

    def _continued(self, transport: WSTransport, frame: WSFrame) -> None:
        if self._frags is None:
            return  # a continuation of nothing: websockets ignored it too
        self._frag_size += frame.payload_size
        if self._frag_size > self.max_size:
            self._frags = None
            self._fail(transport, TOO_BIG, b"message too big")
            return
        self._frags.append(frame.get_payload_as_bytes())
        if frame.fin:
            data, self._frags = b"".join(self._frags), None
            if self._frag_deflated:
                self._deflated(transport, data, self._frag_bin)
                return
            if self._frag_bin is not self._batch_bin:
                self._kind(self._frag_bin)
            self._batch.append(data)

    def _deflated(self, transport: WSTransport, data: bytes, binary: bool) -> None:
        """A message the server compressed: inflated, or the connection fails as websockets failed it."""
        assert self.inflater is not None
        try:
            out = self.inflater.message(data, self.max_size)
        except zlib.error:
            self._fail(transport, PROTOCOL_ERROR, b"decompression failed")
            return
        if out is None:
            self._fail(transport, TOO_BIG, b"message too big")
            return
        if binary is not self._batch_bin:
            self._kind(binary)
        self._batch.append(out)

    def _fail(self, transport: WSTransport, code: int, reason: bytes) -> None:
        if self._batch:
            self._flush()  # what came before is journaled
        transport.send_close(WSCloseCode(code), reason)
        transport.disconnect()

    def _kind(self, binary: bool) -> None:
        if self._batch:
            self._flush()
        self._batch_bin = binary

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if self.refused is None:
            self.sink(batch, self._batch_bin)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._batch:
            self._flush()

    # -- the link's socket -----------------------------------------------------------

    async def send_text(self, payload: bytes) -> None:
        t = self.transport
        if t is None or t.is_disconnected or t.is_close_frame_sent:
            raise ConnectionResetError("the connection is closing")
        t.send(TEXT, payload)

    async def close(self, code: int, reason: str) -> None:
        """Send our close frame and wait up to ``close_timeout`` for the peer to end it."""
        t = self.transport
        if t is None or t.is_disconnected:
            return
        t.send_close(WSCloseCode(code), reason.encode())
        try:
            await asyncio.wait_for(self.wait_closed(), self.close_timeout)
        except TimeoutError:
            t.disconnect(graceful=False)
            await self.wait_closed()

    async def wait_closed(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(Exception):  # how it ended is read from close_frames
                await self.transport.wait_disconnected()

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_disconnected

    def close_frames(self) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
        """``(received, sent)`` close frames as ``(code, reason)``, None where there was none."""
        hs = self.transport.close_handshake if self.transport is not None else None
        if hs is None:
            return None, None
        return _info(hs.recv), _info(hs.sent)

    @property
    def close_code(self) -> int | None:
        """None while open; then the peer's close code, 1006 when it sent none."""
        if not self.closed:
            return None
        rcvd, _ = self.close_frames()
        return ABNORMAL if rcvd is None else rcvd[0]


def _info(info: object) -> tuple[int, str] | None:
    if info is None:
        return None
    code = int(info.code)  # type: ignore[attr-defined]
    return (code or NO_STATUS), info.reason  # type: ignore[attr-defined]


async def connect(url: str, *, sink: Sink, on_open: Callable[[], None], open_timeout: float,
                  close_timeout: float, max_size: int, compression: bool,
                  ping_interval: float | None) -> PicowsConnection:
    """Open a connection to ``url``, offering permessage-deflate when ``compression``.

    Raises what the handshake raised (a refusal as websockets' ``InvalidStatus``, an
    extension answer we cannot take as its ``NegotiationError``), ``TimeoutError`` after
    ``open_timeout``.
    """

    def factory() -> PicowsConnection:
        return PicowsConnection(sink=sink, on_open=on_open, max_size=max_size,
                                close_timeout=close_timeout, compression=compression)

    pinging = ping_interval is not None
    try:
        _, listener = await asyncio.wait_for(ws_connect(
            factory, url, websocket_handshake_timeout=open_timeout, max_frame_size=max_size,
            enable_auto_pong=False,  # answered in on_ws_frame, so every frame ends a read there
            enable_auto_ping=pinging, auto_ping_idle_timeout=ping_interval or 10.0,
            auto_ping_reply_timeout=ping_interval or 10.0,
            auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY,
            extra_headers={"Sec-WebSocket-Extensions": DEFLATE_OFFER} if compression else None),
            open_timeout)
    except WSInvalidStatusError as exc:
        resp = exc.response
        if resp is None:
            raise
        headers = Headers((k, v) for k, v in resp.headers.items())
        # picows keeps what followed the headers in the same read: the body, or its start
        body = resp.body or exc.raw_body or b""
        length = headers.get("Content-Length", "")
        if length.isdigit():
            body = body[:int(length)]
        raise InvalidStatus(Response(int(resp.status), resp.status.phrase, headers, body)) from None
    assert isinstance(listener, PicowsConnection)
    if listener.refused is not None:
        await listener.wait_closed()
        raise listener.refused
    return listener
