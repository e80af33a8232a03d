"""Binance USD-M over WebSocket and REST: routed paths, combined wrapper, control messages.

Paths: ``/<route>/ws/<s1>/<s2>`` (raw payloads) and ``/<route>/stream?streams=s1/s2``
(``{"stream":..,"data":..}``), route in ``public``/``market``/``private``, or the unrouted
legacy ``/ws``, ``/stream`` (public streams only). A stream on the wrong route is accepted
and acked but never delivered, as Binance does. Every diff-depth speed
(``@depth``, ``@depth@100ms``, ``@depth@0ms``...) is served the same diff events.
``@ticker`` (``/market``) is a ``24hrTicker`` each second, equal to ``/ticker/24hr`` then.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import msgspec
import orjson

from recorder.venues.base import WindowLimit
from recorder.venues.binance_usdm import route_for_stream

from .binance_market import FAMILIES, GENERATED, BinanceMarket, stream_kind
from .binance_rest import SPOT, USDM, BinanceRest, WeightLimits
from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event
from .venue_base import SimVenue, read_messages, server_pings

ROUTES = ("public", "market", "private")
_PARTIAL = re.compile(r"^depth(5|10|20)$")


def parse_path(target: str) -> tuple[str, bool, list[str]] | None:
    """``(route, combined, streams)`` of a connection target, None if not a Binance path."""
    parts = urlsplit(target)
    segs = [s for s in parts.path.split("/") if s]
    route = "legacy"
    if segs and segs[0] in ROUTES:
        route = segs.pop(0)
    if not segs:
        return None
    if segs[0] == "ws":
        return route, False, segs[1:]
    if segs[0] == "stream" and len(segs) == 1:
        streams = parse_qs(parts.query).get("streams", [""])[0]
        return route, True, [s for s in streams.split("/") if s]
    return None


def deliverable(route: str, stream: str) -> bool:
    """True when ``route`` delivers ``stream`` (wrong route: silently nothing)."""
    if route == "private":
        return False
    want = route_for_stream(stream)
    return want == "public" if route == "legacy" else want == route


class _Control(msgspec.Struct):
    method: str = ""
    params: list[str | bool] = []
    id: int | str | None = None


_control = msgspec.json.Decoder(_Control)


class BinanceSession:
    """One connection's subscriptions and control-message handling."""

    def __init__(self, venue: BinanceVenue, conn: SimConn, route: str, combined: bool) -> None:
        self.venue = venue
        self.conn = conn
        self.route = route
        self.combined = combined
        self.streams: list[str] = []

    def _key(self, stream: str) -> tuple[str, str] | None:
        kind = stream_kind(stream)
        if kind not in FAMILIES and kind not in GENERATED and not _PARTIAL.match(kind):
            return None
        return stream.partition("@")[0].upper(), kind

    def delivers(self, stream: str) -> bool:
        """True when this connection's route delivers ``stream``."""
        return deliverable(self.route, stream)

    def subscribe(self, streams: list[str]) -> None:
        for s in streams:
            if s in self.streams:
                continue
            self.streams.append(s)
            key = self._key(s)
            if key is None or not self.delivers(s) or not self.venue.market.activate(key[0]):
                continue
            prefix = b'{"stream":"%s","data":' % s.encode() if self.combined else None
            self.venue.register(key, self.conn, prefix)
        self.venue.sources_changed.set()

    def unsubscribe(self, streams: list[str]) -> None:
        for s in streams:
            if s in self.streams:
                self.streams.remove(s)
                key = self._key(s)
                if key is not None:
                    self.venue.unregister(key, self.conn)

    async def on_message(self, msg: str | bytes) -> None:
        raw = msg.encode() if isinstance(msg, str) else msg
        try:
            req = _control.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            await self.reply({"code": 3, "msg": f"Invalid JSON: {exc}"})
            return
        params = [p for p in req.params if isinstance(p, str)]
        if req.method == "SUBSCRIBE":
            self.subscribe(params)
            await self.reply({"result": None, "id": req.id})
        elif req.method == "UNSUBSCRIBE":
            self.unsubscribe(params)
            await self.reply({"result": None, "id": req.id})
        elif req.method == "LIST_SUBSCRIPTIONS":
            await self.reply({"result": list(self.streams), "id": req.id})
        elif req.method == "SET_PROPERTY" and req.params[:1] == ["combined"] and len(req.params) == 2:
            streams, self.combined = list(self.streams), bool(req.params[1])
            self.unsubscribe(streams)
            self.subscribe(streams)
            await self.reply({"result": None, "id": req.id})
        elif req.method == "GET_PROPERTY" and req.params[:1] == ["combined"]:
            await self.reply({"result": self.combined, "id": req.id})
        else:
            await self.reply({"code": 2, "msg": f"Invalid request: unknown method {req.method!r}",
                              "id": req.id})

    async def reply(self, obj: dict) -> None:
        await self.conn.send_now(orjson.dumps(obj), now=loop_time())


def _push(subs: dict[int, tuple[SimConn, object]], data: bytes, now: float) -> None:
    """Queue ``data`` to each subscriber, wrapped in its combined-stream prefix if it has one."""
    for conn, prefix in subs.values():  # prefix names the subscriber's own stream
        conn.push(data if prefix is None else prefix + data + b"}", now=now)  # type: ignore[operator]


class BinanceVenue(SimVenue):
    """The simulated Binance USD-M venue (WebSocket sessions, delivery, REST)."""

    name = "binance-usdm"
    binary = False
    rest_prefixes = (USDM.prefix, SPOT.prefix)  # its own and the spot view (``binance_rest``)

    def __init__(self, market: BinanceMarket, config: SimConfig) -> None:
        super().__init__(market)
        self.market: BinanceMarket = market
        self.config = config
        self.gaps: dict[str, int] = {}  # symbol -> diff events still to skip (fault)
        self.sessions: dict[int, BinanceSession] = {}  # open connections by id
        def limits(budget: int | None) -> WeightLimits | None:
            return None if not budget else WeightLimits(budget, ban_after=config.binance_ban_after,
                                                        ban_s=config.binance_ban_s)

        self.rest_api = BinanceRest(market, {"usdm": limits(config.binance_weight_limit),
                                             "spot": limits(config.binance_spot_weight_limit)},
                                    self.sources_changed.set)

    def accepts(self, path: str) -> bool:
        return parse_path(path) is not None

    def heartbeat(self) -> tuple[float | None, float, int | None]:
        """Ping interval (None: no pings), pong timeout and client messages allowed a second
        (None: any number) of this venue's connections."""
        cfg = self.config
        return cfg.binance_ping_interval_s, cfg.binance_pong_timeout_s, cfg.binance_max_incoming_per_s

    def new_session(self, conn: SimConn, route: str, combined: bool) -> BinanceSession:
        return BinanceSession(self, conn, route, combined)

    async def session(self, conn: SimConn) -> None:
        route, combined, streams = parse_path(conn.rec.path)  # type: ignore[misc]
        sess = self.new_session(conn, route, combined)
        self.sessions[conn.rec.id] = sess
        sess.subscribe(streams)
        ping_s, pong_s, per_s = self.heartbeat()
        limit = WindowLimit(per_s, 1.0) if per_s else None

        async def handle(msg: bytes) -> None:
            if limit is not None and not limit.try_take(loop_time()):
                await conn.close(1008, "Too many requests")
            else:
                await sess.on_message(msg)

        try:
            await read_messages(conn, handle, server_pings(conn, ping_s, pong_s) if ping_s else None)
        finally:
            self.sessions.pop(conn.rec.id, None)

    def deliver(self, ev: Event, now: float) -> None:
        sym = ev.symbol
        if ev.kind == "depth":
            if self.gaps.get(sym):
                self.gaps[sym] -= 1  # the diff is lost on the way: the chain breaks
                return
            for n in (5, 10, 20):
                subs = self.subs.get((sym, f"depth{n}"))
                if subs:
                    _push(subs, self.partial_payload(ev, n), now)
        subs = self.subs.get((sym, ev.kind))
        if subs and ev.data:  # no data: a ticker before the symbol's first trade, nothing to say
            _push(subs, self.payload(ev.kind, ev.data), now)

    def payload(self, kind: str, data: bytes) -> bytes:
        """An event's payload as this venue sends it (the market's events are USD-M's)."""
        return data

    def partial_payload(self, ev: Event, n: int) -> bytes:
        """A partial-depth (``depthN``) event: the top ``n`` levels with this diff's ids."""
        bids, asks = self.market.top(ev.symbol, n)
        head = ev.data[:ev.data.find(b',"b":')]
        return head + b',"b":' + orjson.dumps(bids) + b',"a":' + orjson.dumps(asks) + b"}"

    # -- REST
    def limit_stats(self) -> dict:
        return self.rest_api.stats()

    def rest_error_body(self, status: int) -> bytes:
        msg = ("Way too many requests; IP banned." if status == 418
               else "Too many requests; current limit is 2400 request weight per 1 MINUTE.")
        return orjson.dumps({"code": -1003, "msg": msg})

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """USD-M (``/fapi/v1``) and spot (``/api/v3``) REST; see ``binance_rest``."""
        return self.rest_api.answer(req, now_ms)
