"""Binance USD-M futures protocol rules, sans-I/O: routes, plans, subscribe, limits, resync.

What the daemon does with this module:

- ``plan_connections(symbols, channels)`` -> one ``ConnectionPlan`` per connection. A plan
  holds streams of one route only (``/public`` or ``/market``): on the wrong route Binance
  acks and then delivers nothing, so mixing is never allowed.
- Rotate each connection at ``rotation_due`` (Binance cuts at 24 h): open the replacement
  first, close the old one once the new one delivers.
- Diff-depth books follow the U/u/pu rule of ``state.sync`` (the one copy of it): the
  daemon's projection says when a book broke. This module says how to resync it: fetch
  ``snapshot_request(symbol)`` once ``weight_budget().delay(now, weight) == 0``, journal the
  body, read ``snapshot_last_update_id(body)``. A new connection's diffs never continue the
  old chain: fetch a snapshot of every depth symbol it carries (``Adapter.depth_symbols``).
- Send control messages (SUBSCRIBE...) only through ``control_limiter()``: Binance counts
  10 incoming messages/s per connection and disconnects beyond that.

Route of ``@trade`` is unconfirmed (PROTOCOLS.md §9.1: ccxt says ``/market``, one report says
``/public``). We default to ``/market`` and expose ``trade_route``; the stale-feed check
catches a wrong guess because the route then delivers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msgspec
from ticktape_core import binance_ack

from recorder.errors import RecorderUsageError, VenueReplyError

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
from .descriptor import (
    Adapter,
    LiveChange,
    VenueDescriptor,
    VenueLimits,
    VenueOption,
    VenueOptions,
    VenueRules,
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
    "ticker": "ticker",  # 24hrTicker, ~1 s; tickers are /market streams (PROTOCOLS.md §1.1)
}

# Depth weight by limit (PROTOCOLS.md §1.6); limits outside the table are refused.
DEPTH_WEIGHTS: dict[int, int] = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
H24 = 24 * 3600.0
LIVE_FIRST_ID = 1_000_000  # ids of live SUBSCRIBE/UNSUBSCRIBE; a plan's own start at 1


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
            raise RecorderUsageError("trade_route is 'public' or 'market'")
        if self.max_streams_per_connection < 1 or self.params_per_subscribe < 1:
            raise RecorderUsageError("stream counts must be >= 1")
        if not 0 < self.rotate_after_s <= H24:
            raise RecorderUsageError("rotate_after_s must be within the venue's 24 h")
        if self.snapshot_limit not in DEPTH_WEIGHTS:
            raise RecorderUsageError(f"snapshot_limit must be one of {sorted(DEPTH_WEIGHTS)}")


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
    """The ``Ack`` in a frame, or None for a data frame or anything that is no reply.

    Read by the compiled core (``ticktape::inspect::binance``): a frame whose first key is
    not ``result``/``id``/``error``/``code`` is data and is not parsed further.
    """
    got = binance_ack(payload)
    return None if got is None else Ack(*got)


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
    """Request weight of ``/fapi/v1/depth`` at ``limit``; ``RecorderUsageError`` for invalid limits."""
    try:
        return DEPTH_WEIGHTS[limit]
    except KeyError:
        raise RecorderUsageError(f"depth limit must be one of {sorted(DEPTH_WEIGHTS)}") from None


def klines_weight(limit: int) -> int:
    """Request weight of ``/fapi/v1/klines`` at ``limit`` (1..1500)."""
    if not 1 <= limit <= 1500:
        raise RecorderUsageError("klines limit must be 1..1500")
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


def used_weight(headers: Mapping[str, str]) -> int | None:
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


# ---------------------------------------------------------------------------- the daemon's view


class DepthSnapshots:
    """The snapshot capability (``SnapshotSource``): ``/fapi/v1/depth`` within the weight budget."""

    def __init__(self, config: BinanceUsdmConfig = DEFAULT) -> None:
        self.config = config

    def request(self, symbol: str) -> RestRequest:
        return snapshot_request(symbol, self.config)

    def budget(self) -> WeightBudget:
        return weight_budget(self.config)

    def used_weight(self, headers: Mapping[str, str]) -> int | None:
        return used_weight(headers)

    def last_update_id(self, body: bytes) -> int:
        """``lastUpdateId`` of a depth response; ``VenueReplyError`` for any other body."""
        try:
            return snapshot_last_update_id(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # ValidationError is a DecodeError
            raise VenueReplyError(VENUE, "depth snapshot", str(exc)) from None


def ack_error(payload: bytes) -> str | None:
    """Binance's error text when ``payload`` is an error reply, else None."""
    ack = parse_ack(payload)
    return None if ack is None or ack.ok else ack.error


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float,
                   config: type[BinanceUsdmConfig] = BinanceUsdmConfig) -> BinanceUsdmConfig:
    """The ``config`` class (spot passes its own: the same fields) from a ``[[venue]]`` table."""
    return config(ws_url=options.ws_base, rest_url=options.rest_base,
                  max_streams_per_connection=options.max_streams_per_connection,
                  weight_limit_per_min=options.weight_limit_per_min, stale_after_s=stale_after_s,
                  rotate_after_s=options.rotate_after_s, snapshot_limit=options.snapshot_limit,
                  backoff=backoff)


class BinanceUsdmAdapter(Adapter):
    """USD-M as the supervisor sees it: routed plans, 24 h rotation, depth snapshots.

    Binance spot (``binance_spot.BinanceSpotAdapter``) is this adapter with spot's rules,
    its one route (``_route_of``) and its URLs (``_stream_url``): what differs is declared
    there, not repeated.

    Live SUBSCRIBE/UNSUBSCRIBE on an open connection, ids from ``next_live_id`` (from
    ``LIVE_FIRST_ID``, per adapter, so per connection), answered ``{"result":null,"id":N}``
    or an error; never a stream of another route on a connection.
    """

    venue = VENUE
    frame_rules = VENUE  # error replies (ack_error); no keep-alive answers: Binance pings us
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       error=ack_error, control=control_limiter, snapshots=DepthSnapshots,
                       snapshot_channel="depth")
    live_first_id = LIVE_FIRST_ID

    def __init__(self, options: VenueOptions, *, backoff: Backoff, stale_after_s: float,
                 new_id: Callable[[], str]) -> None:
        super().__init__(options, backoff=backoff, stale_after_s=stale_after_s, new_id=new_id)
        self.rotate_after_s = self.vc.rotate_after_s

    def plan_options(self) -> dict[str, Any]:
        return {"subscribe": self.options.subscribe}

    def depth_symbols(self, plan: ConnectionPlan) -> list[str]:
        if self.snapshots is None:
            return []
        suffix = "@" + CHANNELS["depth"]
        return [s.split("@", 1)[0].upper() for s in plan.streams if s.endswith(suffix)]

    def _route_of(self, stream: str) -> str:
        return route_for_stream(stream, self.vc)

    def _stream_url(self, route: str, streams: Sequence[str]) -> str:
        return ws_url(route, streams, config=self.vc)

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        if any(self._route_of(s) != plan.route for s in new):
            return None  # the wrong route acks and delivers nothing: never mix
        if len(plan.streams) + len(new) > self.vc.max_streams_per_connection:
            return None
        return self._change(plan, (*plan.streams, *new), new, subscribe_message, added=new)

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left on it: the daemon closes the connection
        return self._change(plan, keep, gone, unsubscribe_message, removed=gone)

    def _change(self, plan: ConnectionPlan, streams: tuple[str, ...], params: list[str],
                message: Callable[[Sequence[str], int], bytes], *, added: Sequence[str] = (),
                removed: Sequence[str] = ()) -> LiveChange:
        parts = chunked(params, self.vc.params_per_subscribe) if params else []
        ids = [self.next_live_id() for _ in parts]
        msgs = tuple(message(p, i) for p, i in zip(parts, ids, strict=True))
        if plan.messages:  # subscribe mode: a reconnect sends SUBSCRIBEs of the current set
            resub = [subscribe_message(p, i) for i, p in enumerate(
                chunked(streams, self.vc.params_per_subscribe), start=1)]
            new_plan = ConnectionPlan(self.venue, plan.url, plan.route, streams, tuple(resub))
        else:  # the streams are named in the URL: a reconnect names the current set
            new_plan = ConnectionPlan(self.venue, self._stream_url(plan.route, streams),
                                      plan.route, streams)
        return LiveChange(new_plan, msgs, tuple(ids), tuple(added), tuple(removed))

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        ack = parse_ack(payload)
        if ack is None or ack.request_id is None:
            return None
        return ack.request_id, ack.error


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data (diff or partial depth): one substring test."""
    return b'"depthUpdate"' in payload


def _depth_limit(value: object) -> str | None:
    return None if value in DEPTH_WEIGHTS else f"one of {sorted(DEPTH_WEIGHTS)}"


def _rotate_after(value: object) -> str | None:
    if isinstance(value, int | float) and not 0 < value <= H24:
        return "must be > 0 and within the venue's 24 h"
    return None


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="usdm",
    channels=tuple(CHANNELS),
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z0-9]{2,30}$"),
    symbol_example="BTCUSDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_streams_per_connection,
                       messages_per_s=DEFAULT.control_rate_per_s + DEFAULT.control_burst,
                       rest_weight_per_min=DEFAULT.weight_limit_per_min,
                       max_connection_s=H24),
    snapshots=True,
    sync_rule="binance-usdm",
    adapter=BinanceUsdmAdapter,
    options=(
        VenueOption("snapshot_limit", DEFAULT.snapshot_limit, _depth_limit),
        VenueOption("weight_limit_per_min", DEFAULT.weight_limit_per_min),
        VenueOption("rotate_after_s", DEFAULT.rotate_after_s, _rotate_after),
        VenueOption("subscribe", False),
    ),
    book_frame=is_book_frame,
)
