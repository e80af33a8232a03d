"""One simulated WebSocket connection: batched writes, the sent-frame log, fault flags."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.frames import Opcode
from websockets.protocol import State


@dataclass
class ConnRecord:
    """What the simulator knows about a connection, kept after it closes."""

    id: int
    venue: str
    path: str  # request target (path and query) as the client sent it
    opened_at: float  # loop time
    frames: list[tuple[bool, bytes]] = field(default_factory=list)  # (binary, payload)
    frame_count: int = 0
    bytes_sent: int = 0
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str = ""
    pings_sent: int = 0

    def as_json(self, *, offset: int = 0, with_frames: bool = True) -> dict:
        import base64

        out: dict = {"id": self.id, "venue": self.venue, "path": self.path,
                     "opened_at": self.opened_at, "closed_at": self.closed_at,
                     "close_code": self.close_code, "close_reason": self.close_reason,
                     "frame_count": self.frame_count, "bytes_sent": self.bytes_sent,
                     "pings_sent": self.pings_sent}
        if with_frames:
            out["offset"] = offset
            out["frames"] = [{"binary": b, "b64": base64.b64encode(p).decode()}
                             for b, p in self.frames[offset:]]
        return out


class ActivityConnection(ServerConnection):
    """``ServerConnection`` that notes when the peer last sent anything, pings included.

    Upbit's idle cut counts client ping frames as activity, and websockets answers pings
    inside the library, so the handler could not see them otherwise.
    """

    last_rx: float = 0.0

    def process_event(self, event) -> None:  # type: ignore[override]
        self.last_rx = self.loop.time()
        if getattr(event, "opcode", None) is Opcode.PING:
            self.pings_received = getattr(self, "pings_received", 0) + 1
        super().process_event(event)


class SimConn:
    """Writes frames to one connection in batches and logs every frame exactly.

    ``push`` serialises a frame into the protocol's buffer (the same bytes ``send`` would
    produce); ``flush`` hands everything buffered to the transport in one write. This keeps
    the feed loop tight at 100k+ frames/s; ``drain`` applies the socket's backpressure.
    """

    def __init__(self, rec: ConnRecord, ws: ServerConnection, *, binary: bool, record: bool) -> None:
        self.rec = rec
        self.ws = ws
        self.binary = binary
        self.record = record
        self.silent_until = 0.0  # loop time; frames are not sent before it
        self.dirty = False
        self.last_tx = rec.opened_at

    @property
    def open(self) -> bool:
        return self.ws.protocol.state is State.OPEN

    def push(self, payload: bytes, *, binary: bool | None = None, now: float = 0.0,
             force: bool = False) -> bool:
        """Queue one frame (text unless the venue is binary); False if not sent."""
        if not force and self.silent_until and now < self.silent_until:
            return False
        proto = self.ws.protocol
        if proto.state is not State.OPEN:
            return False
        b = self.binary if binary is None else binary
        if b:
            proto.send_binary(payload)
        else:
            proto.send_text(payload)
        rec = self.rec
        rec.frame_count += 1
        rec.bytes_sent += len(payload)
        if self.record:
            rec.frames.append((b, payload))
        self.dirty = True
        self.last_tx = now
        return True

    def flush(self) -> None:
        """Write everything pushed so far to the socket."""
        if self.dirty:
            self.dirty = False
            try:
                self.ws.send_data()
            except OSError:
                self.ws.transport.abort()

    async def drain(self) -> None:
        """Wait while the socket's write buffer is above its high-water mark."""
        if self.ws.paused:
            await self.ws.drain()

    async def send_now(self, payload: bytes, *, binary: bool | None = None, now: float = 0.0) -> None:
        """Push, flush and drain one frame (replies; suppressed while silent, like data)."""
        if self.push(payload, binary=binary, now=now):
            self.flush()
            await self.drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close frame (``code``), as a venue's scheduled cut does."""
        self.flush()
        await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the client sees 1006)."""
        self.ws.transport.abort()


def loop_time() -> float:
    """The running loop's clock (all simulator times use it)."""
    return asyncio.get_running_loop().time()
