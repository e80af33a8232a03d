"""Binance USD-M futures protocol rules, sans-I/O: routes, plans, subscribe, limits, resync.

What the daemon does with this module:

- ``plan_connections(symbols, channels)`` -> one ``ConnectionPlan`` per connection. A plan
  holds streams of one route only (``/public`` or ``/market``): on the wrong route Binance
  acks and then delivers nothing, so mixing is never allowed.
- Rotate each connection at ``rotation_due`` (Binance cuts at 24 h): open the replacement
  first, close the old one once the new one delivers.
- Feed every depth frame to a ``DepthWatcher``; it answers ``NeedSnapshot(symbol)`` on a new
  connection, after a ``pu`` chain break, or when a snapshot is too old. Fetch
  ``snapshot_request(symbol)`` once ``budget.delay(now, weight) == 0``, journal the body, and
  tell the watcher ``on_snapshot(symbol, snapshot_last_update_id(body))``.
- Send control messages (SUBSCRIBE...) only through ``control_limiter()``: Binance counts
  10 incoming messages/s per connection and disconnects beyond that.

Route of ``@trade`` is unconfirmed (PROTOCOLS.md §9.1: ccxt says ``/market``, one report says
``/public``). We default to ``/market`` and expose ``trade_route``; the stale-feed check
catches a wrong guess because the route then delivers nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlencode

import msgspec

from .base import (
    Backoff,
    ConnectionPlan,
    ErrorClass,
    Heartbeat,
    RestRequest,
    TokenBucket,
    Verdict,
    WeightBudget,
    chunked,
    classify,
    join_url,
    origin,
    parse_retry_after,
)

VENUE = "binance-usdm"
PUBLIC = "public"
MARKET = "market"

# channel name (ours) -> stream suffix after "<symbol>@"
CHANNELS: dict[str, str] = {
    "depth": "depth@100ms",  # diff depth, the one a local book is built from
    "depth20": "depth20@100ms",  # top 20, a depthUpdate carrying U/u/pu too
    "aggTrade": "aggTrade",
    "trade": "trade",
    "kline_1m": "kline_1m",
    "bookTicker": "bookTicker",
    "markPrice": "markPrice@1s",
}

# Depth weight by limit (PROTOCOLS.md §1.6); limits outside the table are refused.
DEPTH_WEIGHTS: dict[int, int] = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
H24 = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class BinanceUsdmConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://fstream.binance.com"  # only scheme/host/port are used
    rest_url: str = "https://fapi.binance.com"
    trade_route: str = MARKET  # unconfirmed, see the module docstring
    max_streams_per_connection: int = 200  # 1024 on the current page, 200 on the older one
    # Binance: 10 incoming messages/s per connection. rate + capacity = 10 keeps any 1 s
    # window at or under 10 (see TokenBucket).
    control_rate_per_s: float = 5.0
    control_burst: int = 5
    params_per_subscribe: int = 50  # streams per SUBSCRIBE message
    weight_limit_per_min: int = 2400
    weight_safety: float = 0.9  # leave room for other processes and clock skew
    server_ping_interval_s: float = 180.0
    pong_deadline_s: float = 600.0
    stale_after_s: float = 60.0  # no data frame for this long: reconnect
    rotate_after_s: float = H24 - 10 * 60  # open the replacement at 23h50m
    ack_timeout_s: float = 10.0
    snapshot_limit: int = 1000
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if self.trade_route not in (PUBLIC, MARKET):
            raise ValueError("trade_route is 'public' or 'market'")
        if self.max_streams_per_connection < 1 or self.params_per_subscribe < 1:
            raise ValueError("stream counts must be >= 1")
        if not 0 < self.rotate_after_s <= H24:
            raise ValueError("rotate_after_s must be within the venue's 24 h")
        if self.snapshot_limit not in DEPTH_WEIGHTS:
            raise ValueError(f"snapshot_limit must be one of {sorted(DEPTH_WEIGHTS)}")


DEFAULT = BinanceUsdmConfig()


# ---------------------------------------------------------------------------- streams and routes


def stream_name(symbol: str, channel: str) -> str:
    """``btcusdt@depth@100ms`` for (``BTCUSDT``, ``depth``); raw suffixes pass through."""
    suffix = CHANNELS.get(channel, channel)
    return f"{symbol.lower()}@{suffix}"


def route_for_stream(stream: str, config: BinanceUsdmConfig = DEFAULT) -> str:
    """``public`` or ``market``: the routed base URL that delivers ``stream``."""
    suffix = stream.partition("@")[2] if not stream.startswith("!") else stream[1:]
    if suffix.startswith(("depth", "bookTicker", "rpiDepth")):
        return PUBLIC
    if suffix == "trade":
        return config.trade_route
    return MARKET


def ws_url(route: str, streams: Sequence[str] = (), *, combined: bool = True,
           config: BinanceUsdmConfig = DEFAULT) -> str:
    """The connection URL: ``/<route>/stream?streams=a/b`` (combined) or ``/<route>/ws/a/b``.

    With no streams, the bare endpoint to SUBSCRIBE on after connecting.
    """
    if combined:
        query = "streams=" + "/".join(streams) if streams else ""
        return join_url(config.ws_url, f"/{route}/stream", query)
    return join_url(config.ws_url, f"/{route}/ws" + "".join("/" + s for s in streams))


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     config: BinanceUsdmConfig = DEFAULT, subscribe: bool = False,
                     first_id: int = 1) -> list[ConnectionPlan]:
    """Split symbols x channels over connections: one route each, <= the stream limit.

    Streams stay in symbol-major order, so one symbol's streams of a route share a
    connection when the limit allows. ``subscribe=False`` names the streams in the URL
    (no control messages at all); ``subscribe=True`` connects to the bare endpoint and puts
    SUBSCRIBE messages, ids from ``first_id`` up, in ``plan.messages``.
    """
    chans = list(dict.fromkeys(channels))
    by_route: dict[str, list[str]] = {PUBLIC: [], MARKET: []}
    for sym in dict.fromkeys(s.lower() for s in symbols):
        for ch in chans:
            name = stream_name(sym, ch)
            by_route[route_for_stream(name, config)].append(name)
    plans: list[ConnectionPlan] = []
    next_id = first_id
    for route in (PUBLIC, MARKET):
        for group in chunked(by_route[route], config.max_streams_per_connection):
            if not subscribe:
                plans.append(ConnectionPlan(VENUE, ws_url(route, group, config=config), route, group))
                continue
            msgs = []
            for part in chunked(group, config.params_per_subscribe):
                msgs.append(subscribe_message(part, next_id))
                next_id += 1
            plans.append(ConnectionPlan(VENUE, ws_url(route, config=config), route, group, tuple(msgs)))
    return plans


# ---------------------------------------------------------------------------- control messages


def subscribe_message(streams: Sequence[str], request_id: int) -> bytes:
    """``{"method":"SUBSCRIBE","params":[...],"id":N}`` (id: an unsigned int we choose)."""
    return msgspec.json.encode({"method": "SUBSCRIBE", "params": list(streams), "id": request_id})


def unsubscribe_message(streams: Sequence[str], request_id: int) -> bytes:
    """``{"method":"UNSUBSCRIBE","params":[...],"id":N}``."""
    return msgspec.json.encode({"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id})


def list_subscriptions_message(request_id: int) -> bytes:
    """``{"method":"LIST_SUBSCRIPTIONS","id":N}``; the answer's ``result`` is the list."""
    return msgspec.json.encode({"method": "LIST_SUBSCRIPTIONS", "id": request_id})


class _AckError(msgspec.Struct):
    code: int | None = None
    msg: str = ""


class _Ack(msgspec.Struct):
    id: int | str | None = None  # our request id
    result: list[str] | bool | None = None  # null for SUBSCRIBE, a list for LIST_SUBSCRIPTIONS
    error: _AckError | None = None
    code: int | None = None  # some errors come flat: {"code": 2, "msg": ...}
    msg: str | None = None


_ack_decoder = msgspec.json.Decoder(_Ack)


@dataclass(frozen=True, slots=True)
class Ack:
    """A reply to one of our control messages: ``ok`` unless Binance sent an error."""

    request_id: int | str | None
    result: object
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_ack(payload: bytes) -> Ack | None:
    """The ``Ack`` in a frame, or None for a data frame (checked without a full decode)."""
    head = payload[:16].lstrip()
    # Data frames start with {"stream": (combined) or {"e": (raw); replies with result/id/error/code.
    if not head.startswith((b'{"result"', b'{"id"', b'{"error"', b'{"code"')):
        return None
    try:
        ack = _ack_decoder.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec's error for a string not UTF-8
        return None
    if ack.error is not None:
        return Ack(ack.id, None, f"{ack.error.code}: {ack.error.msg}")
    if ack.code is not None:
        return Ack(ack.id, None, f"{ack.code}: {ack.msg}")
    return Ack(ack.id, ack.result)


class PendingAcks:
    """Control messages sent and not yet answered, by id; says which ones timed out."""

    def __init__(self, timeout_s: float = DEFAULT.ack_timeout_s) -> None:
        self.timeout_s = timeout_s
        self._sent: dict[int | str, float] = {}

    def sent(self, request_id: int | str, now: float) -> None:
        """Note that the message with ``request_id`` went out at ``now``."""
        self._sent[request_id] = now

    def on_frame(self, payload: bytes) -> Ack | None:
        """The ``Ack`` answering one of ours (now settled), or None for anything else."""
        ack = parse_ack(payload)
        if ack is None or ack.request_id not in self._sent:
            return None
        del self._sent[ack.request_id]
        return ack

    def expired(self, now: float) -> list[int | str]:
        """Ids unanswered for ``timeout_s``; they are forgotten (the caller reconnects)."""
        late = [i for i, at in self._sent.items() if now - at >= self.timeout_s]
        for i in late:
            del self._sent[i]
        return late

    def __len__(self) -> int:
        return len(self._sent)


def control_limiter(config: BinanceUsdmConfig = DEFAULT, *, now: float = 0.0) -> TokenBucket:
    """Per-connection limiter for our outgoing control messages (SUBSCRIBE, pongs are free)."""
    return TokenBucket(config.control_rate_per_s, config.control_burst, now=now)


# ---------------------------------------------------------------------------- liveness, rotation


def heartbeat(config: BinanceUsdmConfig = DEFAULT) -> Heartbeat:
    """Binance pings every 3 min and cuts us after 10 min without a pong; we never ping."""
    return Heartbeat(
        stale_after_s=config.stale_after_s,
        server_ping_interval_s=config.server_ping_interval_s,
        pong_deadline_s=config.pong_deadline_s,
    )


def rotation_due(opened_at: float, now: float, config: BinanceUsdmConfig = DEFAULT) -> bool:
    """True once a connection opened at ``opened_at`` should get its replacement opened."""
    return now - opened_at >= config.rotate_after_s


def rotation_at(opened_at: float, config: BinanceUsdmConfig = DEFAULT) -> float:
    """When (same clock as ``opened_at``) to open the replacement connection."""
    return opened_at + config.rotate_after_s


# ---------------------------------------------------------------------------- REST


def depth_weight(limit: int) -> int:
    """Request weight of ``/fapi/v1/depth`` at ``limit``; ValueError for invalid limits."""
    try:
        return DEPTH_WEIGHTS[limit]
    except KeyError:
        raise ValueError(f"depth limit must be one of {sorted(DEPTH_WEIGHTS)}") from None


def klines_weight(limit: int) -> int:
    """Request weight of ``/fapi/v1/klines`` at ``limit`` (1..1500)."""
    if not 1 <= limit <= 1500:
        raise ValueError("klines limit must be 1..1500")
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def snapshot_request(symbol: str, config: BinanceUsdmConfig = DEFAULT,
                     limit: int | None = None) -> RestRequest:
    """``GET /fapi/v1/depth?symbol=X&limit=1000``: the book snapshot a diff stream syncs to."""
    limit = config.snapshot_limit if limit is None else limit
    path = "/fapi/v1/depth"
    query = urlencode({"symbol": symbol.upper(), "limit": limit})
    return RestRequest("GET", join_url(config.rest_url, path, query), path, depth_weight(limit))


def exchange_info_request(config: BinanceUsdmConfig = DEFAULT) -> RestRequest:
    """``GET /fapi/v1/exchangeInfo`` (symbols, filters, rate limits), weight 1."""
    path = "/fapi/v1/exchangeInfo"
    return RestRequest("GET", join_url(config.rest_url, path), path, 1)


def klines_request(symbol: str, interval: str = "1m", *, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 500,
                   config: BinanceUsdmConfig = DEFAULT) -> RestRequest:
    """``GET /fapi/v1/klines`` for backfilling bars after a gap."""
    params: dict[str, object] = {"symbol": symbol.upper(), "interval": interval}
    if start_ms is not None:
        params["startTime"] = start_ms
    if end_ms is not None:
        params["endTime"] = end_ms
    params["limit"] = limit
    path = "/fapi/v1/klines"
    return RestRequest("GET", join_url(config.rest_url, path, urlencode(params)), path,
                       klines_weight(limit))


def weight_budget(config: BinanceUsdmConfig = DEFAULT) -> WeightBudget:
    """The per-IP request-weight budget (2400/min less the safety margin)."""
    return WeightBudget(int(config.weight_limit_per_min * config.weight_safety), 60.0)


def used_weight(headers: dict[str, str]) -> int | None:
    """``X-MBX-USED-WEIGHT-1M`` from response headers (any case), for ``observe_used``."""
    for k, v in headers.items():
        if k.lower() == "x-mbx-used-weight-1m":
            try:
                return int(v)
            except ValueError:
                return None
    return None


class _SnapshotId(msgspec.Struct):
    lastUpdateId: int  # noqa: N815 (venue field name)


_snapshot_decoder = msgspec.json.Decoder(_SnapshotId)


def snapshot_last_update_id(body: bytes) -> int:
    """``lastUpdateId`` of a ``/fapi/v1/depth`` response body (raises on a malformed one)."""
    return _snapshot_decoder.decode(body).lastUpdateId


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("-1121", ErrorClass.UNKNOWN_SYMBOL),  # {"code":-1121,"msg":"Invalid symbol."}
    ("invalid symbol", ErrorClass.UNKNOWN_SYMBOL),
    ("-1003", ErrorClass.RATE_LIMIT),  # too many requests / way too many requests
    ("too many requests", ErrorClass.RATE_LIMIT),
    ("ip banned", ErrorClass.IP_BAN),
    ("-2014", ErrorClass.AUTH),  # API-key format invalid
    ("-2015", ErrorClass.AUTH),  # invalid API-key, IP, or permissions
    ("-1022", ErrorClass.AUTH),  # signature not valid
    ("invalid request", ErrorClass.FATAL),  # WS control message we got wrong
    ("invalid json", ErrorClass.FATAL),
    ("unknown property", ErrorClass.FATAL),
)
# 403 from Binance is its WAF limit, not credentials: back off like a rate limit.
STATUS_CLASSES = {403: ErrorClass.RATE_LIMIT}


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: BinanceUsdmConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for a Binance failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS, status_classes=STATUS_CLASSES)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- depth chain watcher


class _Ids(msgspec.Struct):
    e: str = ""
    s: str = ""
    U: int = 0  # noqa: N815 first update id in event
    u: int = 0  # final update id in event
    pu: int = 0  # final update id of the previous event


class _Frame(msgspec.Struct):
    stream: str | None = None
    data: _Ids | None = None
    e: str = ""
    s: str = ""
    U: int = 0  # noqa: N815
    u: int = 0
    pu: int = 0


_frame_decoder = msgspec.json.Decoder(_Frame)


def depth_ids(payload: bytes) -> tuple[str, int, int, int] | None:
    """``(symbol, U, u, pu)`` of a depthUpdate frame (raw or combined), else None.

    Cheap: a substring test rejects every other frame before any decoding.
    """
    if b'"depthUpdate"' not in payload:
        return None
    try:
        f = _frame_decoder.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec's error for a string not UTF-8
        return None
    d = f.data if f.data is not None else f
    if d.e != "depthUpdate" or not d.s:
        return None
    return d.s, d.U, d.u, d.pu


class SyncState(StrEnum):
    """Where one symbol's diff chain stands relative to its snapshot."""

    NEW = "new"  # no frame seen on this connection yet
    WAIT_SNAPSHOT = "wait_snapshot"  # snapshot requested, not yet given
    SYNCING = "syncing"  # snapshot newer than every diff seen: waiting for the bracket
    LIVE = "live"  # chain continuous from a bracketed snapshot


@dataclass(frozen=True, slots=True)
class NeedSnapshot:
    """Fetch a depth snapshot for ``symbol``. ``reason``: start, gap, stale_snapshot."""

    symbol: str
    reason: str
    expected: int | None = None  # for a gap: the pu we expected (previous u)
    got: int | None = None  # for a gap: the pu that arrived


@dataclass(slots=True)
class _Chain:
    state: SyncState = SyncState.NEW
    last_u: int = 0
    snapshot_id: int = 0
    # (U, u) of the events since the chain (re)started, to check a late snapshot's bracket
    recent: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=4096))


class DepthWatcher:
    """Per-symbol ``U``/``u``/``pu`` continuity checker for diff-depth streams; sans-I/O.

    It keeps no book: it says when a snapshot is needed and when a snapshot is usable,
    following the documented futures rule (first applied event has ``U <= lastUpdateId <=
    u``; afterwards each ``pu`` equals the previous ``u``). One ``NeedSnapshot`` is issued
    per break; the caller must answer it with ``on_snapshot``.
    """

    def __init__(self, history: int = 4096) -> None:
        self._history = history
        self._chains: dict[str, _Chain] = {}

    def reset(self, symbols: Iterable[str] | None = None) -> None:
        """Forget symbols (all by default): call on every new connection carrying them."""
        if symbols is None:
            self._chains.clear()
        else:
            for s in symbols:
                self._chains.pop(s.upper(), None)

    def state(self, symbol: str) -> SyncState:
        """The sync state of ``symbol`` (NEW if never seen)."""
        chain = self._chains.get(symbol.upper())
        return chain.state if chain else SyncState.NEW

    def on_frame(self, payload: bytes) -> NeedSnapshot | None:
        """Feed any frame; non-depth frames cost one substring test."""
        ids = depth_ids(payload)
        return None if ids is None else self.on_depth(*ids)

    def on_depth(self, symbol: str, first_id: int, last_id: int, prev_id: int) -> NeedSnapshot | None:
        """Feed one depth event's ``U``, ``u``, ``pu``; a ``NeedSnapshot`` when one is due."""
        symbol = symbol.upper()
        chain = self._chains.get(symbol)
        if chain is None:
            chain = self._chains[symbol] = _Chain(recent=deque(maxlen=self._history))
        need = None
        if chain.state is SyncState.NEW:
            chain.state = SyncState.WAIT_SNAPSHOT
            need = NeedSnapshot(symbol, "start")
        elif prev_id != chain.last_u:
            if chain.state is SyncState.LIVE:
                chain.state = SyncState.WAIT_SNAPSHOT
                need = NeedSnapshot(symbol, "gap", chain.last_u, prev_id)
            # While SYNCING a break does not matter: the snapshot covers everything up to
            # its id, and the bracket test below decides.
            chain.recent.clear()  # bracket checks only make sense on a continuous chain
        chain.recent.append((first_id, last_id))
        chain.last_u = last_id
        if chain.state is SyncState.SYNCING and last_id >= chain.snapshot_id:
            if first_id <= chain.snapshot_id:
                chain.state = SyncState.LIVE
            else:
                chain.state = SyncState.WAIT_SNAPSHOT
                need = NeedSnapshot(symbol, "stale_snapshot", chain.snapshot_id, first_id)
        return need

    def on_snapshot(self, symbol: str, last_update_id: int) -> NeedSnapshot | None:
        """Give the snapshot's ``lastUpdateId``; returns another ``NeedSnapshot`` if unusable.

        Usable when an event of the current continuous chain brackets it (LIVE now) or when
        it is newer than every event seen (SYNCING: the next events must bracket it).
        """
        symbol = symbol.upper()
        chain = self._chains.setdefault(symbol, _Chain(recent=deque(maxlen=self._history)))
        chain.snapshot_id = last_update_id
        if chain.recent and last_update_id <= chain.last_u:
            if any(first <= last_update_id <= last for first, last in chain.recent):
                chain.state = SyncState.LIVE
                return None
            chain.state = SyncState.WAIT_SNAPSHOT
            return NeedSnapshot(symbol, "stale_snapshot", last_update_id, chain.recent[0][0])
        chain.state = SyncState.SYNCING
        return None
