"""Binance spot over WebSocket and REST: one endpoint, spot payload shapes, spot snapshots.

Paths: ``/ws/<s1>/<s2>`` (raw payloads) and ``/stream?streams=s1/s2`` (combined
``{"stream":..,"data":..}``), no routes; every stream is delivered on every connection.
Control messages (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY) and their
acks and errors are USD-M's (``binance_server.BinanceSession``). The server pings every
``binance_spot_ping_interval_s`` (20 s) and cuts a connection that has not ponged within
``binance_spot_pong_timeout_s`` (60 s); more than ``binance_spot_max_incoming_per_s`` (5)
client messages in a second closes it with 1008. ``server_shutdown`` announces maintenance
the spot way (a ``serverShutdown`` event, then the cut).

The market is a ``BinanceMarket`` of its own, fed by the spot capture (cryptofeed
``BINANCE``, 2021: NKNUSDT, BLZETH, LRCBTC, RUNEEUR) plus synthetic symbols. Its events
are USD-M shaped; ``spot_payload`` turns each into spot's shape when it is sent: diff
depth without ``pu``/``T`` (its ``U`` the previous ``u + 1``), book ticker without ``e``/``E``/``T``, trades with ``M``,
partial depth (``depthN``) a bare ``{"lastUpdateId","bids","asks"}``. The capture's diffs
get a ``pu`` (``U - 1``), its book tickers an event time, before the market reads them, so its loop bridges chain as spot
does (each ``U`` the previous ``u + 1``). A spot snapshot's ``lastUpdateId`` is the
update just before the next diff, and its book the one that diff applies to.

Spot shares the unrouted paths and ``/api/v3`` with the USD-M simulator's legacy paths and
its spot REST view: when ``binance-usdm`` runs in the same simulator it keeps them (its one
world, as before) and this venue serves nothing; run the simulator with
``venues=("binance-spot", ...)`` without ``binance-usdm`` to get the spot capture.
"""

from __future__ import annotations

import orjson

from .binance_market import BinanceMarket
from .binance_rest import SPOT, BinanceRest, WeightLimits
from .binance_server import BinanceSession, BinanceVenue, parse_path
from .book import Book
from .captures import RawCapture
from .config import SimConfig
from .conn import SimConn, loop_time
from .httpserver import Request, Response
from .tape import Event

NAME = "binance-spot"
_DROP = {"depth": ("pu", "T"), "bookTicker": ("e", "E", "T")}


def spot_payload(kind: str, data: bytes) -> bytes:
    """A USD-M shaped event's payload in spot's shape (unchanged when they agree)."""
    drop = _DROP.get(kind)
    if drop is None and kind not in ("trade", "aggTrade"):
        return data
    obj = orjson.loads(data)
    if kind == "depth" and "pu" in obj:
        # USD-M diffs may skip ids (U > pu + 1); a spot chain never does. Levels are
        # absolute, so widening the range changes no book.
        obj["U"] = obj["pu"] + 1
    for key in drop or ():
        obj.pop(key, None)
    if kind in ("trade", "aggTrade"):
        if "M" in obj:
            return data
        obj["M"] = True  # "Ignore" on spot, always true in the captures
    return orjson.dumps(obj)


def with_pu(raw: RawCapture) -> RawCapture:
    """``raw`` with the USD-M fields the market reads and spot frames lack: ``"pu": U - 1``
    in each diff, and ``E``/``T`` (the last event time seen) in each book ticker. Both are
    dropped again when sent (``spot_payload``)."""
    frames = []
    last_e = 0
    for t, payload in raw.frames:
        is_diff = b'"e":"depthUpdate"' in payload and b'"pu":' not in payload
        is_ticker = b'@bookTicker"' in payload and b'"E":' not in payload
        if is_diff or is_ticker:
            obj = orjson.loads(payload)
            data = obj["data"]
            if is_diff:
                data["pu"] = data["U"] - 1
            else:
                obj["data"] = data = {"e": "bookTicker", "E": last_e, "T": last_e, **data}
            payload = orjson.dumps(obj)
        at = payload.find(b'"E":')
        if at >= 0:
            end = at + 4
            while payload[end:end + 1].isdigit():
                end += 1
            last_e = int(payload[at + 4:end] or 0) or last_e
        frames.append((t, payload))
    return RawCapture(raw.name, tuple(frames), raw.rest)


class SpotMarket(BinanceMarket):
    """``BinanceMarket`` whose capture snapshots are spot-exact (``lastUpdateId = U - 1``)."""

    def snapshot(self, symbol: str) -> tuple[int, Book] | None:
        symbol = symbol.upper()
        src = self._capture.get(symbol)
        if symbol in self._synthetic or src is None or not src.cap.symbols[symbol].has_book:
            return super().snapshot(symbol)  # synthetic: its book already holds the next diff
        first, _, _ = src.next_depth_ids(symbol)
        return first - 1, src.cap.symbols[symbol].catch_up()


class SpotSession(BinanceSession):
    """One spot connection: like USD-M's, but every stream is deliverable (no routes)."""

    def delivers(self, stream: str) -> bool:
        return True


class BinanceSpotVenue(BinanceVenue):
    """The simulated Binance spot venue (WebSocket sessions, spot delivery, ``/api/v3``)."""

    name = NAME

    def __init__(self, market: SpotMarket, config: SimConfig) -> None:
        super().__init__(market, config)
        self.serving = "binance-usdm" not in config.venues  # see the module docstring
        lim = config.binance_spot_weight_limit
        self.rest_api = BinanceRest(market, {"spot": None if not lim else WeightLimits(
            lim, ban_after=config.binance_ban_after, ban_s=config.binance_ban_s)},
            self.sources_changed.set)

    def accepts(self, path: str) -> bool:
        parsed = parse_path(path)
        return self.serving and parsed is not None and parsed[0] == "legacy"

    def serves_rest(self, path: str) -> bool:
        return self.serving and path.startswith(SPOT.prefix)

    def heartbeat(self) -> tuple[float | None, float, int | None]:
        """The spot values of the config (by default a ping every 20 s, a minute to pong, 5
        client messages a second)."""
        cfg = self.config
        return (cfg.binance_spot_ping_interval_s, cfg.binance_spot_pong_timeout_s,
                cfg.binance_spot_max_incoming_per_s)

    def new_session(self, conn: SimConn, route: str, combined: bool) -> SpotSession:
        return SpotSession(self, conn, route, combined)

    async def server_shutdown(self, e_ms: int, code: int = 1001) -> list[int]:
        """Maintenance: send ``serverShutdown`` on every open connection, then close each
        with ``code``. Returns the connection ids."""
        data = orjson.dumps({"e": "serverShutdown", "E": e_ms})
        done = []
        for sess in list(self.sessions.values()):
            conn = sess.conn
            if not conn.open:
                continue
            wrapped = b'{"stream":"!serverShutdown","data":' + data + b"}"
            conn.push(wrapped if sess.combined else data, now=loop_time(), force=True)
            await conn.close(code, "server shutdown")
            done.append(conn.rec.id)
        return done

    def payload(self, kind: str, data: bytes) -> bytes:
        return spot_payload(kind, data)

    def partial_payload(self, ev: Event, n: int) -> bytes:
        """A spot partial depth: ``{"lastUpdateId": u, "bids": top n, "asks": top n}``."""
        bids, asks = self.market.top(ev.symbol, n)
        return orjson.dumps({"lastUpdateId": ev.ids[1] if ev.ids else orjson.loads(ev.data)["u"],
                             "bids": bids, "asks": asks})

    async def rest(self, req: Request, now_ms: int) -> Response | None:
        """Spot REST (``/api/v3``) from the spot market; see ``binance_rest``."""
        if not self.serves_rest(req.path):
            return None
        return self.rest_api.answer(req, now_ms)
