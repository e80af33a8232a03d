"""Binance spot protocol rules, sans-I/O: URLs, plans, subscribe, limits, resync.

Spot is USD-M (``binance_usdm``) with these differences; everything that is the same
(SUBSCRIBE/UNSUBSCRIBE bodies, acks and error replies, the ``lastUpdateId`` of a depth
body, ``X-MBX-USED-WEIGHT-1M``, the error markers) is imported from there, not copied.
Facts from PROTOCOLS.md §2 (binance-spot-api-docs ``web-socket-streams.md`` and
``rest-api.md`` @ a5e0bc3, 2026-07-21):

- One endpoint, no routes: ``wss://stream.binance.com:9443`` (or ``:443``, or the
  market-data-only ``wss://data-stream.binance.vision``), ``/ws/<s1>/<s2>`` (raw) or
  ``/stream?streams=s1/s2`` (combined ``{"stream":..,"data":..}``). Plans always use the
  combined form: a raw partial-depth frame (``{"lastUpdateId":..,"bids":..,"asks":..}``)
  and a raw book ticker name no event type, so only the stream name says what they are.
- At most 1024 streams per connection; 5 incoming messages per second per connection,
  and pings and pongs count as messages. Our control messages are therefore held to 4/s
  (``rate + burst``), leaving one a second for the pong we owe the server.
- The server pings every 20 s and cuts a connection that has not ponged within a minute
  (since 2025-01-28; before, 3 min / 10 min). Unsolicited pongs do not keep it alive, so
  we never ping; the WebSocket library answers pings.
- Connections are valid for 24 h, like USD-M: rotate at ``rotate_after_s``. The venue also
  announces maintenance with a ``serverShutdown`` event (``!serverShutdown`` when
  combined): it is recorded as data; the cut that follows is an ordinary reconnect.
- Diff depth ``<s>@depth@100ms`` has no ``pu``/``T``; books follow spot's rule in
  ``state.sync`` (``binance-spot``: ``next_range``, each ``U`` is the previous ``u + 1``).
  Resync by ``GET /api/v3/depth`` (limit 1..5000, weight 5/25/50/250 by limit band);
  ``snapshot_limit`` defaults to 1000 (weight 50 of the 6000/min spot budget).
- The ``[[venue]]`` keys ``snapshot_limit``, ``weight_limit_per_min``, ``rotate_after_s``
  and ``subscribe`` are USD-M's own options (one default and check per key): a config
  takes USD-M's depth limits (5..1000, all valid on spot) and, unless told otherwise, its
  2400/min weight budget (below spot's 6000: safe). ``max_streams_per_connection`` is
  the config's 200 unless set (spot allows 1024).
- ``depth20`` beside ``depth`` on one symbol: the core (``ticktape::book``, ``on_snapshot``)
  lets a partial picture that arrives before the first REST snapshot seed the book in
  partial mode, so the diffs meanwhile are applied, not buffered; the REST snapshot that
  follows is older and the next diff is a Gap, resynced by another snapshot (one extra
  snapshot per start/reconnect). USD-M's ``depth20`` is a ``depthUpdate`` and unaffected.
  Recording ``depth`` without ``depth20`` syncs with no Gap.
- Stream ids may be a 64-bit int, a <=36-char alphanumeric string or null; we send ints.
- ``@ticker`` (the 24 h rolling ticker) is still listed in the current stream docs.

Spot's acks and error replies are USD-M's JSON (``{"result":null,"id":N}``,
``{"code":2,"msg":..,"id":N}``): the compiled core's ``binance-spot`` frame rules are
USD-M's code under spot's name (``ticktape::inspect::Rules::BinanceSpot``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlencode

from recorder.errors import RecorderUsageError, VenueReplyError

from .base import (
    Backoff,
    ConnectionPlan,
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
from .binance_usdm import DESCRIPTOR as USDM_DESCRIPTOR
from .binance_usdm import (
    MARKERS,
    STATUS_CLASSES,
    Ack,
    BinanceUsdmAdapter,
    DepthSnapshots,
    PendingAcks,
    ack_error,
    adapter_config,
    is_book_frame,
    list_subscriptions_message,
    parse_ack,
    snapshot_last_update_id,
    subscribe_message,
    unsubscribe_message,
    used_weight,
)
from .descriptor import VenueDescriptor, VenueLimits, VenueRules

VENUE = "binance-spot"
FRAME_RULES = VENUE  # the core's spot rules: USD-M's ack/error JSON under spot's name

# channel name (ours, as Binance spells the stream) -> stream suffix after "<symbol>@"
CHANNELS: dict[str, str] = {
    "depth": "depth@100ms",  # diff depth (U/u, no pu): the one a local book is built from
    "depth20": "depth20@100ms",  # top 20, a bare {"lastUpdateId","bids","asks"} snapshot
    "trade": "trade",
    "aggTrade": "aggTrade",
    "bookTicker": "bookTicker",  # no e/E/T on spot: {"u","s","b","B","a","A"}
    "kline_1m": "kline_1m",
    "ticker": "ticker",  # 24hrTicker, 1000 ms
}
H24 = 24 * 3600.0
SNAPSHOT_MAX = 5000


def _depth_limit(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= SNAPSHOT_MAX
    return None if ok else f"an integer 1..{SNAPSHOT_MAX}"


@dataclass(frozen=True, slots=True)
class BinanceSpotConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://stream.binance.com:9443"  # only scheme/host/port are used
    rest_url: str = "https://api.binance.com"
    max_streams_per_connection: int = 1024
    # 5 incoming messages/s, pongs included: 2/s + 2 banked keeps any second at <= 4 of ours.
    control_rate_per_s: float = 2.0
    control_burst: int = 2
    params_per_subscribe: int = 200  # streams per SUBSCRIBE message
    weight_limit_per_min: int = 6000
    weight_safety: float = 0.9
    server_ping_interval_s: float = 20.0
    pong_deadline_s: float = 60.0
    stale_after_s: float = 60.0  # no data frame for this long: reconnect
    rotate_after_s: float = H24 - 10 * 60  # open the replacement at 23h50m
    ack_timeout_s: float = 10.0
    snapshot_limit: int = 1000
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if self.max_streams_per_connection < 1 or self.params_per_subscribe < 1:
            raise RecorderUsageError("stream counts must be >= 1")
        if not 0 < self.rotate_after_s <= H24:
            raise RecorderUsageError("rotate_after_s must be within the venue's 24 h")
        if _depth_limit(self.snapshot_limit) is not None:
            raise RecorderUsageError(f"snapshot_limit must be 1..{SNAPSHOT_MAX}")


DEFAULT = BinanceSpotConfig()


# ---------------------------------------------------------------------------- streams and plans


def stream_name(symbol: str, channel: str) -> str:
    """``btcusdt@depth@100ms`` for (``BTCUSDT``, ``depth``); raw suffixes pass through."""
    return f"{symbol.lower()}@{CHANNELS.get(channel, channel)}"


def ws_url(streams: Sequence[str] = (), *, combined: bool = True,
           config: BinanceSpotConfig = DEFAULT) -> str:
    """``/stream?streams=a/b`` (combined) or ``/ws/a/b``; no streams: the bare endpoint."""
    if combined:
        return join_url(config.ws_url, "/stream", "streams=" + "/".join(streams) if streams else "")
    return join_url(config.ws_url, "/ws" + "".join("/" + s for s in streams))


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     config: BinanceSpotConfig = DEFAULT, subscribe: bool = False,
                     first_id: int = 1) -> list[ConnectionPlan]:
    """Split symbols x channels over connections of at most ``max_streams_per_connection``.

    Streams stay in symbol-major order. ``subscribe=False`` names them in the URL;
    ``subscribe=True`` connects to the bare ``/stream`` and puts SUBSCRIBE messages (ids
    from ``first_id``) in ``plan.messages``: send them through ``control_limiter()``.
    """
    chans = list(dict.fromkeys(channels))
    names = [stream_name(s, ch) for s in dict.fromkeys(x.lower() for x in symbols) for ch in chans]
    plans: list[ConnectionPlan] = []
    next_id = first_id
    for group in chunked(names, config.max_streams_per_connection):
        if not subscribe:
            plans.append(ConnectionPlan(VENUE, ws_url(group, config=config), "", group))
            continue
        msgs = []
        for part in chunked(group, config.params_per_subscribe):
            msgs.append(subscribe_message(part, next_id))
            next_id += 1
        plans.append(ConnectionPlan(VENUE, ws_url(config=config), "", group, tuple(msgs)))
    return plans


def control_limiter(config: BinanceSpotConfig = DEFAULT, *, now: float = 0.0) -> TokenBucket:
    """Per-connection limiter for our control messages (4/s: one left for a pong)."""
    return TokenBucket(config.control_rate_per_s, config.control_burst, now=now)


def heartbeat(config: BinanceSpotConfig = DEFAULT) -> Heartbeat:
    """Binance spot pings every 20 s and cuts us after 60 s without a pong; we never ping."""
    return Heartbeat(stale_after_s=config.stale_after_s,
                     server_ping_interval_s=config.server_ping_interval_s,
                     pong_deadline_s=config.pong_deadline_s)


# ---------------------------------------------------------------------------- REST


def depth_weight(limit: int) -> int:
    """Request weight of ``/api/v3/depth`` at ``limit`` (1..5000)."""
    if _depth_limit(limit) is not None:
        raise RecorderUsageError(f"depth limit must be 1..{SNAPSHOT_MAX}")
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def snapshot_request(symbol: str, config: BinanceSpotConfig = DEFAULT,
                     limit: int | None = None) -> RestRequest:
    """``GET /api/v3/depth?symbol=X&limit=1000``: the book snapshot a diff stream syncs to."""
    limit = config.snapshot_limit if limit is None else limit
    path = "/api/v3/depth"
    query = urlencode({"symbol": symbol.upper(), "limit": limit})
    return RestRequest("GET", join_url(config.rest_url, path, query), path, depth_weight(limit))


def exchange_info_request(config: BinanceSpotConfig = DEFAULT) -> RestRequest:
    """``GET /api/v3/exchangeInfo`` (symbols, filters, rate limits), weight 20."""
    path = "/api/v3/exchangeInfo"
    return RestRequest("GET", join_url(config.rest_url, path), path, 20)


def weight_budget(config: BinanceSpotConfig = DEFAULT) -> WeightBudget:
    """The per-IP request-weight budget (6000/min less the safety margin)."""
    return WeightBudget(int(config.weight_limit_per_min * config.weight_safety), 60.0)


# ---------------------------------------------------------------------------- errors


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: BinanceSpotConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` for a Binance spot failure: USD-M's markers and statuses (same API)."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS, status_classes=STATUS_CLASSES)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


class SpotDepthSnapshots(DepthSnapshots):
    """The snapshot capability: ``/api/v3/depth`` within the spot weight budget."""

    def __init__(self, config: BinanceSpotConfig = DEFAULT) -> None:
        self.config = config  # type: ignore[assignment]

    def request(self, symbol: str) -> RestRequest:
        return snapshot_request(symbol, self.config)  # type: ignore[arg-type]

    def budget(self) -> WeightBudget:
        return weight_budget(self.config)  # type: ignore[arg-type]

    def last_update_id(self, body: bytes) -> int:
        """``lastUpdateId`` of a depth response; ``VenueReplyError`` (naming spot) otherwise."""
        try:
            return super().last_update_id(body)
        except VenueReplyError as exc:
            raise VenueReplyError(VENUE, "depth snapshot", exc.reason) from None


class BinanceSpotAdapter(BinanceUsdmAdapter):
    """Spot as the supervisor sees it: USD-M's adapter (24 h rotation, depth snapshots, live
    SUBSCRIBE/UNSUBSCRIBE) with spot's config, plans, limits and one route."""

    venue = VENUE
    frame_rules = FRAME_RULES  # error replies (ack_error); Binance pings us
    rules = VenueRules(partial(adapter_config, config=BinanceSpotConfig), plan_connections,
                       heartbeat, classify_error, error=ack_error, control=control_limiter,
                       snapshots=SpotDepthSnapshots, snapshot_channel="depth")

    def _route_of(self, stream: str) -> str:
        return ""  # one endpoint: every stream on every connection

    def _stream_url(self, route: str, streams: Sequence[str]) -> str:
        return ws_url(streams, config=self.vc)


def is_spot_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data: a diff (``depthUpdate``) or a partial
    depth (``lastUpdateId``, spot's bare top-N snapshot)."""
    return is_book_frame(payload) or b'"lastUpdateId"' in payload


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="spot",
    channels=tuple(CHANNELS),
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z0-9]{2,30}$"),
    symbol_example="BTCUSDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_streams_per_connection,
                       messages_per_s=5,
                       rest_weight_per_min=DEFAULT.weight_limit_per_min,
                       max_connection_s=H24),
    snapshots=True,
    sync_rule=VENUE,
    adapter=BinanceSpotAdapter,
    # The same option objects as USD-M: the configuration keeps one default and one check
    # per key across venues, so spot must not declare a rival ``snapshot_limit`` check.
    options=USDM_DESCRIPTOR.options,
    book_frame=is_spot_book_frame,
)

__all__ = ["CHANNELS", "DEFAULT", "DESCRIPTOR", "VENUE", "Ack", "BinanceSpotAdapter",
           "BinanceSpotConfig", "PendingAcks", "SpotDepthSnapshots", "classify_error",
           "control_limiter", "depth_weight", "exchange_info_request", "heartbeat",
           "list_subscriptions_message", "parse_ack", "plan_connections", "snapshot_last_update_id",
           "snapshot_request", "stream_name", "subscribe_message", "unsubscribe_message",
           "used_weight", "weight_budget", "ws_url"]
