"""OKX v5 public WebSocket (``/ws/v5/public``): subscribe/unsubscribe ops, acks, text ping.

Like the real OKX: text frames; ``{"op":"subscribe","args":[{"channel","instId"}..]}`` is
answered per arg by ``{"event":"subscribe","arg":{..},"connId":".."}`` (an ``id`` we were
given is echoed first) or ``{"event":"error","code":"60018","msg":"Wrong URL or
channel:..,instId:.. doesn't exist",..}``; a request that is no op at all gets 60012. The
text ``ping`` is answered with ``pong``. A ``books`` subscription starts with a snapshot
(``prevSeqId`` -1) and continues with updates chained by ``prevSeqId``/``seqId``, each
with the checksum of the book after it; ``books5`` and ``bbo-tbt`` are pushed on each book
change. A connection silent both ways for ``okx_idle_timeout_s`` is closed (4004: the
code is the simulator's choice; OKX's is not confirmed).

Faults (``Simulator.fault``): ``gap`` (``venue="okx"``) withholds the next ``count``
updates of a book from every subscriber, so the next one's ``prevSeqId`` breaks the chain;
``checksum`` sends the next ``count`` updates of a book with a wrong ``checksum``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson

from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .okx_market import OkxBook, OkxMarket
from .tape import Event
from .venue_base import SimVenue, idle_cut, read_messages

CHANNELS = ("books", "books5", "bbo-tbt", "trades", "tickers")
BOOK_VIEWS = ("books", "books5", "bbo-tbt")
IDLE_CLOSE = 4004


def _frame(channel: str, inst: str, data: dict, action: str | None = None) -> bytes:
    msg: dict[str, object] = {"arg": {"channel": channel, "instId": inst}}
    if action is not None:
        msg["action"] = action
    msg["data"] = [data]
    return orjson.dumps(msg)


def render_view(channel: str, inst: str, book: OkxBook, ts: str) -> bytes:
    """A ``books5`` (5 levels, instId inside) or ``bbo-tbt`` (1 level) push of ``book``."""
    n = 5 if channel == "books5" else 1
    bids, asks = book.top(n)
    data: dict[str, object] = {"asks": asks, "bids": bids}
    if channel == "books5":
        data["instId"] = inst
    data["ts"] = ts
    data["seqId"] = book.seq
    return _frame(channel, inst, data)


def render_snapshot(inst: str, book: OkxBook, ts: str) -> bytes:
    """The whole book as a ``books`` snapshot (400 levels a side at most)."""
    bids, asks = book.top(400)
    return _frame("books", inst, {"asks": asks, "bids": bids, "ts": ts, "checksum": book.checksum(),
                                  "prevSeqId": -1, "seqId": book.seq}, "snapshot")


def render_update(inst: str, delta: dict, prev: int, seq: int, checksum: int) -> bytes:
    return _frame("books", inst, {"asks": delta["asks"], "bids": delta["bids"], "ts": delta["ts"],
                                  "checksum": checksum, "prevSeqId": prev, "seqId": seq}, "update")


class OkxVenue(SimVenue):
    """The simulated OKX public venue."""

    name = "okx"
    paths = ("/ws/v5/public",)

    def __init__(self, market: OkxMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: OkxMarket = market
        self.config = config
        self.gaps: dict[str, int] = {}  # instId -> book updates still to withhold
        self.bad_checksums: dict[str, int] = {}  # instId -> updates still to send with a wrong checksum
        self.last_ts: dict[str, str] = {}  # instId -> ts of its latest book event

    def accepts(self, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == "/ws/v5/public"

    async def session(self, conn: SimConn) -> None:
        conn_id = f"{conn.rec.id:08x}"

        async def handle(raw: bytes) -> None:
            now = loop_time()
            if raw == b"ping":
                await conn.send_now(b"pong", now=now)
                return
            for reply in self._request(conn, raw, conn_id, now):
                conn.push(reply, now=now)
            conn.flush()
            self.sources_changed.set()

        timeout = self.config.okx_idle_timeout_s
        # OKX's 30 s cut: nothing sent or received for the timeout
        await read_messages(conn, handle, idle_cut(conn, timeout, code=IDLE_CLOSE, count_sent=True,
                                                   reason="No data received in 30s.") if timeout else None)

    def _request(self, conn: SimConn, raw: bytes, conn_id: str, now: float) -> list[bytes]:
        """The frames answering one client message, in order (acks, errors, snapshots)."""
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            req = None
        head: dict[str, object] = {}
        if isinstance(req, dict) and isinstance(req.get("id"), str):
            head["id"] = req["id"]
        op = req.get("op") if isinstance(req, dict) else None
        args = req.get("args") if isinstance(req, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            text = raw.decode("utf-8", "replace")
            code = "60019" if isinstance(op, str) and op not in ("subscribe", "unsubscribe") else "60012"
            msg = f"Invalid op: {op}" if code == "60019" else f"Invalid request: {text}"
            return [orjson.dumps({**head, "event": "error", "code": code, "msg": msg, "connId": conn_id})]
        out = []
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if channel not in CHANNELS or not isinstance(inst, str) or not self.market.activate(inst):
                out.append(orjson.dumps({**head, "event": "error", "code": "60018",
                                         "msg": f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. "
                                                "Please use the correct URL, channel and parameters "
                                                "referring to API document.", "connId": conn_id}))
                continue
            key = (inst, channel)
            out.append(orjson.dumps({**head, "event": op, "arg": {"channel": channel, "instId": inst},
                                     "connId": conn_id}))
            if op == "unsubscribe":
                self.unregister(key, conn)
                continue
            self.register(key, conn, None)
            book = self.market.books.get(inst)
            if channel in BOOK_VIEWS and book is not None and (book.bids or book.asks):
                ts = self.last_ts.get(inst, "0")
                out.append(render_snapshot(inst, book, ts) if channel == "books"
                           else render_view(channel, inst, book, ts))
        return out

    def deliver(self, ev: Event, now: float) -> None:
        inst = ev.symbol
        if ev.kind in ("trades", "tickers"):
            for conn, _ in (self.subs.get((inst, ev.kind)) or {}).values():
                conn.push(ev.data, now=now)
            return
        book = self.market.books[inst]
        delta = orjson.loads(ev.data)["data"][0]
        ts = self.last_ts[inst] = delta["ts"]
        prev, seq, checksum = ev.ids  # type: ignore[misc]
        books = self.subs.get((inst, "books"))
        if books:
            if ev.kind == "snapshot":
                frame = render_snapshot(inst, book, ts)
            elif self.gaps.get(inst):
                self.gaps[inst] -= 1
                frame = None
            else:
                if self.bad_checksums.get(inst):
                    self.bad_checksums[inst] -= 1
                    checksum = checksum + 1 if checksum < 2**31 - 1 else checksum - 1
                frame = render_update(inst, delta, prev, seq, checksum)
            if frame is not None:
                for conn, _ in books.values():
                    conn.push(frame, now=now)
        for channel in ("books5", "bbo-tbt"):
            subs = self.subs.get((inst, channel))
            if subs:
                frame = render_view(channel, inst, book, ts)
                for conn, _ in subs.values():
                    conn.push(frame, now=now)

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        return None  # the recorder calls no OKX REST endpoint (books resync on the WebSocket)
