"""The exchange simulator: one WebSocket server and one HTTP server for every venue.

Usage from tests::

    async with Simulator(speed=20, venues=("binance-usdm",)) as sim:
        urls = sim.urls            # SimUrls(ws="ws://127.0.0.1:P", rest="http://127.0.0.1:Q")
        ...connect to urls.ws + "/public/stream?streams=btcusdt@depth@100ms"...
        sim.fault("gap", symbol="BTCUSDT")
        frames = sim.sent(conn_id)  # exact payloads, in order

Control over HTTP on the REST port: ``POST /_sim/fault`` (JSON ``{"kind": ..., ...}``),
``POST /_sim/clear``, ``GET /_sim/sent?conn=ID&offset=N``, ``GET /_sim/stats`` (its
``rate_limits`` counts REST requests per client address, group and second for Upbit, and
weight per address and minute for Binance; send ``X-Forwarded-For`` to act as another address).

REST: Upbit ``/v1/...`` (``upbit_server``, candles in ``upbit_candles``, limits in
``upbit_limits``), Binance USD-M ``/fapi/v1/...`` and spot ``/api/v3/...`` (``binance_rest``).
Candles and klines have ``history_minutes`` of seeded history before each stream starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import random
import time
from collections import Counter
from dataclasses import dataclass

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request as WsRequest

from recorder.listing.titles import parse_title

from .binance_market import BinanceMarket
from .binance_server import BinanceVenue
from .binance_spot_server import BinanceSpotVenue, SpotMarket, with_pu
from .bybit_market import BybitMarket, parse_symbols, read_bybit
from .bybit_server import BybitVenue
from .captures import read_cryptofeed, read_hftbacktest
from .config import SimConfig
from .conn import ActivityConnection, ConnRecord, SimConn
from .gate_market import GateMarket
from .gate_server import GateVenue
from .httpserver import Request, Response, serve_http
from .kucoin_market import KucoinMarket
from .kucoin_server import KucoinVenue
from .notices import NoticeBoard
from .okx_market import OkxMarket
from .okx_server import OkxVenue
from .phemex_market import PhemexMarket
from .phemex_server import PhemexVenue
from .universe import attach as attach_universe
from .upbit_market import UpbitMarket
from .upbit_server import UpbitVenue
from .venue_base import SimVenue, rest_error_body

FAULTS = ("drop", "gap", "checksum", "silence", "rest_error", "malformed", "rotate", "clear")
MALFORMED = ("invalid_json", "garbage", "oversized", "invalid_utf8")


@dataclass(frozen=True, slots=True)
class SimUrls:
    """Base URLs to give a client as its ``ws_url`` / ``rest_url`` overrides."""

    ws: str
    rest: str


@dataclass(slots=True)
class RestCall:
    """One REST exchange as the simulator answered it."""

    method: str
    target: str
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class _RestFault:
    status: int
    times: int
    retry_after: float | None
    path: str | None
    venue: str | None


def _load_raw(path: str):
    return read_hftbacktest(path) if path.endswith(".gz") else read_cryptofeed(path)


class Simulator:
    """A local exchange speaking Binance USD-M and Upbit; see the module docstring."""

    def __init__(self, config: SimConfig | None = None, **overrides) -> None:
        self.config = dataclasses.replace(config or SimConfig(), **overrides)
        self.venues: dict[str, SimVenue] = {}
        self.records: dict[int, ConnRecord] = {}
        self.rest_counts: Counter[str] = Counter()
        self.rest_log: list[RestCall] = []
        self.urls: SimUrls | None = None
        self._ids = itertools.count(1)
        self._ws: Server | None = None
        self._http: asyncio.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._rest_faults: list[_RestFault] = []
        self._rotate: dict[str | None, tuple[float, int]] = {}
        self._rotate_changed = asyncio.Event()
        self._rng = random.Random(self.config.seed)
        self.notices: NoticeBoard | None = None  # Upbit's notice board, built with the venues

    # ------------------------------------------------------------------ lifecycle

    def _build(self) -> None:
        cfg = self.config
        base_ms = cfg.start_ms if cfg.start_ms is not None else int(time.time() * 1000)
        capture = cfg.source == "capture"
        if "binance-spot" in cfg.venues:
            raws = [with_pu(_load_raw(p)) for p in cfg.binance_spot_captures] if capture else []
            market = SpotMarket(raws, seed=cfg.seed, base_ms=base_ms, symbols=cfg.binance_spot_symbols,
                                history_minutes=cfg.history_minutes)
            self.venues["binance-spot"] = BinanceSpotVenue(market, cfg)
        if "binance-usdm" in cfg.venues:
            raws = [_load_raw(p) for p in cfg.binance_captures] if capture else []
            market = BinanceMarket(raws, seed=cfg.seed, base_ms=base_ms, symbols=cfg.binance_symbols,
                                   history_minutes=cfg.history_minutes)
            self.venues["binance-usdm"] = BinanceVenue(market, cfg)
        if "bybit" in cfg.venues:
            market = BybitMarket([read_bybit(p) for p in cfg.bybit_captures] if capture else [],
                                 seed=cfg.seed, base_ms=base_ms, symbols=parse_symbols(cfg.bybit_symbols))
            self.venues["bybit"] = BybitVenue(market, cfg)
        if "gate" in cfg.venues:
            raws = ({"spot": [_load_raw(p) for p in cfg.gate_captures],
                     "futures": [_load_raw(p) for p in cfg.gate_futures_captures]} if capture else {})
            self.venues["gate"] = GateVenue(GateMarket(raws, seed=cfg.seed, base_ms=base_ms,
                                                       symbols=cfg.gate_symbols), cfg)
        if "kucoin" in cfg.venues:
            raws = [_load_raw(p) for p in cfg.kucoin_captures] if capture else []
            market = KucoinMarket(raws, seed=cfg.seed, base_ms=base_ms, symbols=cfg.kucoin_symbols)
            self.venues["kucoin"] = KucoinVenue(market, cfg)
        if "okx" in cfg.venues:
            raws = [_load_raw(p) for p in cfg.okx_captures] if capture else []
            market = OkxMarket(raws, seed=cfg.seed, base_ms=base_ms, symbols=cfg.okx_symbols)
            self.venues["okx"] = OkxVenue(market, cfg)
        if "phemex" in cfg.venues:
            raws = [_load_raw(p) for p in cfg.phemex_captures] if capture else []
            market = PhemexMarket(raws, seed=cfg.seed, base_ms=base_ms, symbols=cfg.phemex_symbols)
            self.venues["phemex"] = PhemexVenue(market, cfg)
        if "upbit" in cfg.venues:
            raws = [_load_raw(p) for p in cfg.upbit_captures] if capture else []
            market = UpbitMarket(raws, seed=cfg.seed, base_ms=base_ms, codes=cfg.upbit_codes,
                                  history_minutes=cfg.history_minutes)
            self.venues["upbit"] = UpbitVenue(market, cfg)
        if cfg.rotate_after_s is not None:
            self._rotate[None] = (cfg.rotate_after_s, cfg.rotate_code)
        for name, venue in self.venues.items():  # the synthetic universe, where asked for
            attach_universe(venue.market, name, cfg, base_ms)
        self.notices = NoticeBoard(start_ms=base_ms)

    async def start(self) -> SimUrls:
        """Bind both servers and start the market feeds; returns the base URLs."""
        self._build()
        cfg = self.config
        self._ws = await serve(
            self._ws_handler, cfg.host, cfg.ws_port, process_request=self._process_request,
            create_connection=ActivityConnection, ping_interval=None, compression=None,
            max_size=cfg.max_message_size, write_limit=2**20)
        self._http = await serve_http(self._rest_handler, cfg.host, cfg.rest_port)
        ws_port = self._ws.sockets[0].getsockname()[1]
        rest_port = self._http.sockets[0].getsockname()[1]
        for venue in self.venues.values():
            self._tasks.append(asyncio.create_task(self._feed(venue), name=f"feed-{venue.name}"))
        self._tasks.append(asyncio.create_task(self._rotator(), name="rotator"))
        self.urls = SimUrls(f"ws://{cfg.host}:{ws_port}", f"http://{cfg.host}:{rest_port}")
        return self.urls

    async def stop(self) -> None:
        """Stop the feeds, close every connection (1001 going away) and both servers."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._ws is not None:
            self._ws.close(close_connections=True)
            await self._ws.wait_closed()
        if self._http is not None:
            self._http.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http.wait_closed(), 2.0)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what was sent

    @property
    def connections(self) -> list[ConnRecord]:
        """Every connection so far (open and closed), oldest first."""
        return list(self.records.values())

    def sent(self, conn_id: int) -> list[bytes]:
        """Payloads of every frame sent on ``conn_id``, in order (``record_sent`` only)."""
        return [p for _, p in self.records[conn_id].frames]

    def venue(self, name: str) -> SimVenue:
        return self.venues[name]

    # ------------------------------------------------------------------ WebSocket

    def _venue_for(self, path: str) -> SimVenue | None:
        bare = path.split("?", 1)[0].rstrip("/")
        owner = next((v for v in self.venues.values() if bare in v.paths), None)
        return owner or next((v for v in self.venues.values() if v.accepts(path)), None)

    def _process_request(self, connection: ServerConnection, request: WsRequest):
        if self._venue_for(request.path) is None:
            return connection.respond(404, "Not Found\n")
        return None

    async def _ws_handler(self, ws: ServerConnection) -> None:
        venue = self._venue_for(ws.request.path)  # type: ignore[union-attr]
        assert venue is not None
        rec = ConnRecord(next(self._ids), venue.name, ws.request.path,  # type: ignore[union-attr]
                         asyncio.get_running_loop().time())
        self.records[rec.id] = rec
        conn = SimConn(rec, ws, binary=venue.binary, record=self.config.record_sent)
        venue.conns[rec.id] = conn
        try:
            await venue.session(conn)
        finally:
            venue.drop_conn(conn)
            conn.flush()
            rec.closed_at = asyncio.get_running_loop().time()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 2.0)
            rec.close_code = ws.close_code
            rec.close_reason = ws.close_reason or ""

    # ------------------------------------------------------------------ the feed

    async def _feed(self, venue: SimVenue) -> None:
        """Pace the venue's tape and deliver each event to its subscribers."""
        cfg = self.config
        market = venue.market
        loop = asyncio.get_running_loop()
        batch, rate = cfg.batch, cfg.rate
        speed = None if cfg.max_mode or rate else float(cfg.speed)
        base_wall: float | None = None
        base_t = 0.0
        sent = 0
        n = 0
        while True:
            if not market.tape:
                venue.sources_changed.clear()
                await venue.sources_changed.wait()
                continue
            if speed is None and rate is None:
                if not venue.subscribed.is_set():  # max mode: nobody listens, nothing to rush
                    venue.flush_all()
                    await venue.subscribed.wait()
                now = loop.time()
            else:
                now = loop.time()
                if base_wall is None:
                    base_wall, base_t = now, market.tape.peek_t()
                    if speed is not None:  # so a wall time can be told in pacing time
                        market.tape.clock = (time.time(), base_t, speed)
                if rate:
                    due = base_wall + sent / rate
                else:
                    due = base_wall + (market.tape.peek_t() - base_t) / speed  # type: ignore[operator]
                if due > now:
                    venue.flush_all()
                    await venue.drain_all()
                    await asyncio.sleep(due - now)
                    now = loop.time()
                    n = 0
            venue.deliver(market.next(), now)
            sent += 1
            n += 1
            if n >= batch:
                n = 0
                venue.flush_all()
                await venue.drain_all()
                await asyncio.sleep(0)

    # ------------------------------------------------------------------ faults

    def _select(self, venue: str | None, conn: int | list[int] | None,
                path: str | None = None) -> list[SimConn]:
        ids = {conn} if isinstance(conn, int) else set(conn) if conn else None
        out = []
        for v in self.venues.values():
            if venue is not None and v.name != venue:
                continue
            for c in v.conns.values():
                if ids is not None and c.rec.id not in ids:
                    continue
                if path is not None and not c.rec.path.startswith(path):
                    continue
                if c.open:
                    out.append(c)
        return out

    def fault(self, kind: str, **params) -> dict:
        """Inject a fault now; returns what was affected. Kinds and parameters:

        - ``drop``: venue, conn, path; ``code`` (None: abort TCP, client sees 1006).
        - ``gap``: ``symbol``, ``count`` diff events never sent (U/u/pu break); ``venue``
          ``binance-usdm`` (default), ``binance-spot``, ``gate`` (``BTC_USDT`` or
          ``futures:BTC_USDT``), ``kucoin`` or ``bybit``; with ``venue="okx"``, ``count`` book
          updates never sent (prevSeqId/seqId break); with ``venue="phemex"``, ``count`` book
          messages sent twice (a sequence that does not grow: the only break Phemex's
          "increasing" rule can see).
        - ``checksum``: ``symbol`` (OKX), ``count`` book updates sent with a wrong checksum.
        - ``silence``: venue, conn, path; ``seconds`` (None: until cleared). The socket
          stays open and answers pings; no data or replies are sent.
        - ``rest_error``: ``status`` (429/418), ``times``, ``retry_after`` s, ``path``
          prefix, ``venue``.
        - ``malformed``: venue, conn, path; ``mode`` in invalid_json, garbage (binary),
          oversized (``size`` bytes, default 2 MiB), invalid_utf8.
        - ``rotate``: ``after_s``, ``code`` (1000 or 1001), ``venue``: close connections
          that reach that age, like Binance's 24 h cut.
        - ``clear``: remove pending REST errors, silences, gaps and rotation.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {FAULTS}")
        return getattr(self, f"_fault_{kind}")(**params)

    def _fault_drop(self, venue: str | None = None, conn: int | list[int] | None = None,
                    path: str | None = None, code: int | None = None) -> dict:
        conns = self._select(venue, conn, path)
        for c in conns:
            if code is None:
                c.abort()
            else:
                asyncio.ensure_future(c.close(code, "simulated drop"))
        return {"kind": "drop", "conns": [c.rec.id for c in conns]}

    def _fault_gap(self, symbol: str, count: int = 1, venue: str | None = None) -> dict:
        if venue == "okx":
            return self._okx_fault("gaps", "gap", symbol, count)
        # Binance by default: USD-M, else spot when it runs alone.
        name = venue or ("binance-usdm" if "binance-usdm" in self.venues else "binance-spot")
        target = self.venues.get(name)
        if target is None or not hasattr(target, "gaps"):
            raise ValueError(f"gap needs a venue that can skip diffs ({name} is not one running here)")
        if count < 1:
            raise ValueError("count must be >= 1")
        gaps = target.gaps  # type: ignore[attr-defined]
        key = symbol if name == "phemex" else symbol.upper()  # Phemex spot symbols are sBTCUSDT
        gaps[key] = gaps.get(key, 0) + count
        return {"kind": "gap", "symbol": key, "pending": gaps[key]}

    def _fault_checksum(self, symbol: str, count: int = 1) -> dict:
        return self._okx_fault("bad_checksums", "checksum", symbol, count)

    def _okx_fault(self, table: str, kind: str, symbol: str, count: int) -> dict:
        okx = self.venues.get("okx")
        if okx is None:
            raise ValueError(f"{kind} needs the okx venue")
        if count < 1:
            raise ValueError("count must be >= 1")
        pending = getattr(okx, table)
        pending[symbol] = pending.get(symbol, 0) + count
        return {"kind": kind, "symbol": symbol, "pending": pending[symbol]}

    def _fault_silence(self, venue: str | None = None, conn: int | list[int] | None = None,
                       path: str | None = None, seconds: float | None = None) -> dict:
        conns = self._select(venue, conn, path)
        now = asyncio.get_running_loop().time()
        until = math.inf if seconds is None else now + seconds
        for c in conns:
            c.flush()
            c.silent_until = until
        return {"kind": "silence", "conns": [c.rec.id for c in conns], "seconds": seconds}

    def _fault_rest_error(self, status: int = 429, times: int = 1, retry_after: float | None = 1,
                          path: str | None = None, venue: str | None = None) -> dict:
        if status not in (418, 429, 403, 500, 502, 503, 504):
            raise ValueError("status must be one of 418, 429, 403, 5xx")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._rest_faults.append(_RestFault(status, times, retry_after, path, venue))
        return {"kind": "rest_error", "status": status, "times": times}

    def _fault_malformed(self, venue: str | None = None, conn: int | list[int] | None = None,
                         path: str | None = None, mode: str = "invalid_json",
                         size: int = 2 * 2**20) -> dict:
        if mode not in MALFORMED:
            raise ValueError(f"mode must be one of {MALFORMED}")
        conns = self._select(venue, conn, path)
        now = asyncio.get_running_loop().time()
        for c in conns:
            binary = None
            if mode == "invalid_json":
                payload = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":'
            elif mode == "garbage":
                payload, binary = self._rng.randbytes(64), True
            elif mode == "invalid_utf8":
                payload, binary = b'{"e":"\xff\xfe bad utf-8"}', False
            else:
                head = b'{"e":"oversized","pad":"'
                payload = head + b"x" * max(0, size - len(head) - 2) + b'"}'
            c.push(payload, binary=binary, now=now, force=True)
            c.flush()
        return {"kind": "malformed", "mode": mode, "conns": [c.rec.id for c in conns]}

    def _fault_rotate(self, after_s: float, code: int = 1001, venue: str | None = None) -> dict:
        if after_s <= 0 or code not in (1000, 1001):
            raise ValueError("after_s must be > 0 and code 1000 or 1001")
        self._rotate[venue] = (after_s, code)
        self._rotate_changed.set()
        return {"kind": "rotate", "after_s": after_s, "code": code, "venue": venue}

    def _fault_clear(self) -> dict:
        self._rest_faults.clear()
        self._rotate.clear()
        for v in self.venues.values():
            for c in v.conns.values():
                c.silent_until = 0.0
            for pending in ("gaps", "bad_checksums"):  # whichever faults the venue can inject
                if hasattr(v, pending):
                    getattr(v, pending).clear()
        return {"kind": "clear"}

    async def _rotator(self) -> None:
        """Close connections that reached their rotation age (Binance's 24 h, compressed)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._rotate:
                self._rotate_changed.clear()
                await self._rotate_changed.wait()
                continue
            now = loop.time()
            tick = min(0.05, min(a for a, _ in self._rotate.values()) / 10)
            for v in self.venues.values():
                rule = self._rotate.get(v.name) or self._rotate.get(None)
                if rule is None:
                    continue
                after, code = rule
                for c in list(v.conns.values()):
                    if c.open and now - c.rec.opened_at >= after and not getattr(c, "rotating", False):
                        c.rotating = True  # type: ignore[attr-defined]
                        asyncio.ensure_future(c.close(code, "connection lifetime reached"))
            await asyncio.sleep(tick)

    # ------------------------------------------------------------------ REST and control

    def notice(self, *, title: str = "", in_s: float = 0.0, category: str = "거래",
               edit: int | None = None, repost: int | None = None, fault: str | None = None,
               times: int = 1, market: str | None = None, market_after_s: float = 0.0,
               move: float = 0.3) -> dict:
        """Script the notice board: publish ``title`` ``in_s`` from now (listing ``market``
        on Upbit ``market_after_s`` after it), ``edit``/``repost`` a notice, or a ``fault``.

        A published notice's coins of the synthetic universe (``SYN3``) move on every venue
        listing them: their price jumps by ``move`` (0.3: +30 %) at the notice's time and
        they trade ten times as often (``tools.simulator.universe``)."""
        board = self.notices
        if board is None:
            raise ValueError("the simulator is not started")
        now_ms = int(time.time() * 1000)
        if fault is not None:
            return board.fault(fault, times)
        at_ms = now_ms + int(in_s * 1000)
        if edit is not None:
            n = board.edit(edit, at_ms, title=title or None)
        elif repost is not None:
            n = board.repost(repost, at_ms)
        elif title:
            n = board.publish(title, at_ms, category=category)
        else:
            raise ValueError("give a title, edit, repost or fault")
        if market is not None:
            upbit = self.venues.get("upbit")
            if upbit is None:
                raise ValueError("market= needs the upbit venue")
            upbit.market.list_at(market, n.first_ms + int(market_after_s * 1000))
        coins = [c.ticker for c in parse_title(n.title).coins]  # as the watcher reads it
        moved = sorted({v for coin in coins for v, venue in self.venues.items()
                        if getattr(venue.market, "universe", None) is not None
                        and venue.market.universe.shock(coin, n.first_ms, 1 + move)})
        return {"id": n.id, "first_ms": n.first_ms, "listed_ms": n.listed_ms, "title": n.title,
                "moved": moved}

    def _rest_venue_for(self, path: str) -> SimVenue | None:
        """The venue answering a REST ``path`` (asked in the order ``_rest_handler`` asks)."""
        return next((v for v in self.venues.values() if v.serves_rest(path)), None)

    def _rest_fault_for(self, path: str) -> Response | None:
        owner = self._rest_venue_for(path)
        for f in self._rest_faults:
            if f.path is not None and not path.startswith(f.path):
                continue
            if f.venue is not None and (owner is None or f.venue != owner.name):
                continue
            f.times -= 1
            if f.times <= 0:
                self._rest_faults.remove(f)
            body = owner.rest_error_body(f.status) if owner else rest_error_body(f.status)
            headers = [] if f.retry_after is None else [("Retry-After", f"{f.retry_after:g}")]
            return Response(f.status, body, headers)
        return None

    async def _rest_handler(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return await self._control(req)
        self.rest_counts[req.path] += 1
        if self.config.rest_latency_s > 0:  # the network's round trip to a real venue
            await asyncio.sleep(self.config.rest_latency_s)
        now_ms = int(time.time() * 1000)
        resp = self._rest_fault_for(req.path)
        if resp is None and self.notices is not None:
            resp = await self.notices.rest(req, now_ms)
        if resp is None:
            for venue in self.venues.values():
                resp = await venue.rest(req, now_ms)
                if resp is not None:
                    break
            else:
                resp = Response(404, b'{"error":"unknown path"}')
        self.rest_log.append(RestCall(req.method, req.target, resp.status, resp.body, dict(resp.headers)))
        return resp

    async def _control(self, req: Request) -> Response:
        try:
            if req.path == "/_sim/fault" and req.method == "POST":
                params = orjson.loads(req.body or b"{}")
                kind = params.pop("kind", None)
                return Response(200, orjson.dumps(self.fault(kind, **params)))
            if req.path == "/_sim/notice" and req.method == "POST":
                return Response(200, orjson.dumps(self.notice(**orjson.loads(req.body or b"{}"))))
            if req.path == "/_sim/clear" and req.method == "POST":
                return Response(200, orjson.dumps(self.fault("clear")))
            if req.path == "/_sim/sent":
                conn = req.query.get("conn")
                offset = int(req.query.get("offset", "0"))
                recs = [self.records[int(conn)]] if conn else self.connections
                return Response(200, orjson.dumps({"connections": [r.as_json(offset=offset) for r in recs]}))
            if req.path == "/_sim/stats":
                return Response(200, orjson.dumps({
                    "connections": [r.as_json(with_frames=False) for r in self.connections],
                    "rest_counts": dict(self.rest_counts),
                    "rate_limits": {n: v.limit_stats() for n, v in self.venues.items()},
                    "symbols": {n: getattr(v.market, "symbols", None) or getattr(v.market, "codes", [])
                                for n, v in self.venues.items()}}))
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
            return Response(400, orjson.dumps({"error": str(exc)}))
        return Response(404, b'{"error":"unknown control path"}')
