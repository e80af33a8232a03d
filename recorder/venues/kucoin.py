"""KuCoin spot (classic API) protocol rules, sans-I/O: token, topics, ping, limits, resync.

What the daemon does with this module:

- Before every connection (``Adapter.pre_connect``) ``POST /api/v1/bullet-public`` (no
  auth): the reply carries a one-use ``token``, the ``instanceServers`` (``endpoint``,
  ``pingInterval``, ``pingTimeout`` in ms). The daemon journals the reply as a ``rest``
  record on the connection's stream, then ``connect_plan(plan, body)`` turns it into the
  URL ``<endpoint>?token=..&connectId=..``. A fresh token is fetched on every reconnect.
- KuCoin greets a new connection with ``{"id":..,"type":"welcome"}``; "only when the
  welcome message is received will the connection be available" (``Adapter.greeting``):
  the subscribe messages go after it.
- Subscribe: ``{"id":..,"type":"subscribe","topic":"/market/level2:BTC-USDT,ETH-USDT",
  "privateChannel":false,"response":true}``, at most 100 symbols a topic; KuCoin answers
  ``{"id":..,"type":"ack"}``, or ``{"id":..,"type":"error","code":..,"data":".."}``.
- Keep-alive: we ping ``{"id":..,"type":"ping"}`` every ``pingInterval`` (18 s in the
  docs); KuCoin answers ``{"id":..,"type":"pong"}`` and treats a client silent past
  ``pingInterval + pingTimeout`` as gone.
- ``/market/level2`` diffs carry ``sequenceStart``/``sequenceEnd`` and a sequence per
  change: the book is synced from ``GET /api/v1/market/orderbook/level2_100?symbol=X``
  (no auth; ``level2_20`` too) by the rule in ``state.sync`` (``kucoin``).

Sources: PROTOCOLS.md §7 (KuCoin's legacy docs repo ``Kucoin/kucoin-api-docs`` @ 7f01bbe,
2023-06-09): token reply, welcome, ping/pong, subscribe/ack, match payload, limits
(connections 30/min, 100 uplink messages per 10 s, 100 topics a batch subscribe, 300
topics a connection). Checked against KuCoin's current pages (kucoin.com/docs-new, read
late 2026 through the search index): the spot level2 page still names
``wss://ws-api-spot.kucoin.com``, topic ``/market/level2:{symbol},{symbol}``, the same
subscribe shape (``privateChannel`` optional), ``sequenceStart``/``sequenceEnd``, the
per-change sequence and a ``time`` in ms in newer frames; the rate-limit page gives REST
quotas per 30 s resource pool (Public 2000/30 s at VIP0) and, over it, HTTP 429 with
code ``429000``. The WebSocket limits above were NOT re-confirmed there (PROTOCOLS.md
§9.14): each is a ``KucoinConfig`` field. The error frame's shape (``type`` ``error`` with
``code`` and ``data``) and its codes (404 topic not found, 509 over the limit, 401 token)
are from the legacy page only.

Live changes (``KucoinAdapter.subscribe_messages``): ``subscribe``/``unsubscribe`` with
our ``id`` and ``response: true`` on the open connection, answered ``ack`` or ``error``
with that id; a reconnect asks for the slot's current set.

Frame inspection: the compiled core reads every frame by the rules here
(``ticktape::inspect::kucoin``, ``KucoinAdapter.frame_rules``): ``welcome``, ``ack`` and
``pong`` are keep-alive answers, not data for the stale watchdog, and an ``error`` reply
is journaled as an ``error`` and classified. ``is_keepalive``/``error_text`` stay the
documented reference the core matches (``tests/recorder/venues/test_frame_rules.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import msgspec

from recorder.errors import RecorderUsageError, VenueReplyError

from .base import (
    Backoff,
    ConnectionPlan,
    ErrorClass,
    Heartbeat,
    RestRequest,
    Verdict,
    WeightBudget,
    WindowLimit,
    chunked,
    classify,
    join_url,
    origin,
    parse_retry_after,
)
from .descriptor import Adapter, LiveChange, VenueDescriptor, VenueLimits, VenueOptions, VenueRules

VENUE = "kucoin"
# channel name (ours, the venue's topic without its /market/ prefix) -> topic prefix
CHANNELS: dict[str, str] = {
    "level2": "/market/level2",  # diffs with sequence numbers, synced by REST snapshots
    "match": "/market/match",  # trades
    "ticker": "/market/ticker",  # best bid/ask and last trade
}
VENUE_CHANNELS = tuple(CHANNELS)
BULLET_PATH = "/api/v1/bullet-public"
SNAPSHOT_DEPTHS = (20, 100)  # level2_20 / level2_100: the two snapshots that need no auth


@dataclass(frozen=True, slots=True)
class KucoinConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://ws-api-spot.kucoin.com"  # the token reply names the real endpoint
    ws_override: bool = False  # True: ws_url's origin replaces the endpoint's (a simulator)
    rest_url: str = "https://api.kucoin.com"
    symbols_per_topic: int = 100  # symbols one subscribe message's topic may name
    max_streams_per_connection: int = 300  # topics (channel x symbol) per connection
    ping_interval_s: float = 18.0  # the docs' pingInterval; the token reply's value wins
    ping_timeout_s: float = 10.0  # the docs' pingTimeout
    stale_after_s: float = 60.0
    connects_per_min: int = 30  # connections per minute (per user/IP)
    messages_per_10s: int = 100  # uplink messages per connection per 10 s
    rest_per_10s: int = 30  # public REST calls we allow ourselves per 10 s (a modest default)
    snapshot_depth: int = 100  # level2_100 (or level2_20)
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if not 1 <= self.symbols_per_topic <= 100:
            raise RecorderUsageError("symbols_per_topic must be 1..100")
        if self.max_streams_per_connection < 1:
            raise RecorderUsageError("max_streams_per_connection must be >= 1")
        if self.snapshot_depth not in SNAPSHOT_DEPTHS:
            raise RecorderUsageError(f"snapshot_depth must be one of {SNAPSHOT_DEPTHS}")
        if self.ping_interval_s <= 0:
            raise RecorderUsageError("ping_interval_s must be > 0")


DEFAULT = KucoinConfig()


# ---------------------------------------------------------------------------- token


def bullet_request(config: KucoinConfig = DEFAULT) -> RestRequest:
    """``POST /api/v1/bullet-public``: the token and instance servers of one connection."""
    return RestRequest("POST", join_url(config.rest_url, BULLET_PATH), BULLET_PATH, 1, "public")


class InstanceServer(msgspec.Struct, frozen=True):
    endpoint: str  # wss://ws-api-spot.kucoin.com/ ("may change": use the one given)
    pingInterval: int = 18000  # noqa: N815 (venue field name) ms
    pingTimeout: int = 10000  # noqa: N815 ms
    protocol: str = "websocket"
    encrypt: bool = True


class BulletData(msgspec.Struct, frozen=True):
    token: str
    instanceServers: tuple[InstanceServer, ...]  # noqa: N815


class Bullet(msgspec.Struct, frozen=True):
    code: str  # "200000" is success
    data: BulletData


_bullet = msgspec.json.Decoder(Bullet)


def parse_bullet(body: bytes) -> Bullet:
    """The token reply; ``VenueReplyError`` for a body that is none (or has no server)."""
    try:
        b = _bullet.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise VenueReplyError(VENUE, "bullet-public", str(exc)) from None
    if b.code != "200000" or not b.data.instanceServers or not b.data.token:
        raise VenueReplyError(VENUE, "bullet-public", f"code {b.code}, no token or server")
    return b


def ws_url(endpoint: str, token: str, connect_id: str, config: KucoinConfig = DEFAULT) -> str:
    """``<endpoint>?token=..&connectId=..``; an overridden ``ws_url`` keeps the endpoint's
    path and replaces only its scheme, host and port."""
    path = urlsplit(endpoint).path or "/"
    base = config.ws_url if config.ws_override else endpoint
    return join_url(base, path, urlencode({"token": token, "connectId": connect_id}))


# ---------------------------------------------------------------------------- subscribe


def topic(channel: str, symbols: Sequence[str]) -> str:
    """``/market/level2:BTC-USDT,ETH-USDT``."""
    try:
        prefix = CHANNELS[channel]
    except KeyError:
        raise RecorderUsageError(f"unknown KuCoin channel {channel!r}") from None
    return f"{prefix}:{','.join(s.upper() for s in symbols)}"


def subscribe_message(topic_: str, request_id: str, *, unsubscribe: bool = False) -> bytes:
    """A subscribe (or unsubscribe) request for ``topic_`` asking for an ack."""
    return msgspec.json.encode({"id": request_id,
                                "type": "unsubscribe" if unsubscribe else "subscribe",
                                "topic": topic_, "privateChannel": False, "response": True})


def ping_message(request_id: str = "ping") -> bytes:
    """``{"id":..,"type":"ping"}``; KuCoin answers ``{"id":..,"type":"pong"}``."""
    return msgspec.json.encode({"id": request_id, "type": "ping"})


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     new_id: Callable[[], str], config: KucoinConfig = DEFAULT) -> list[ConnectionPlan]:
    """Split symbols over connections of at most ``max_streams_per_connection`` topics.

    Every connection carries every channel for its symbols, one subscribe message per
    channel and ``symbols_per_topic`` symbols. ``plan.url`` is the endpoint before the
    token (``connect_plan`` finishes it); ``plan.streams`` lists ``<channel>:<symbol>``.
    """
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        topic(ch, ())  # refuses an unknown channel
    if not chans:
        raise RecorderUsageError("at least one channel is required")
    ordered = list(dict.fromkeys(s.upper() for s in symbols))
    per_conn = max(1, config.max_streams_per_connection // len(chans))
    url = join_url(config.ws_url, "/")
    plans = []
    for group in chunked(ordered, per_conn):
        msgs = tuple(subscribe_message(topic(ch, part), new_id())
                     for ch in chans for part in chunked(group, config.symbols_per_topic))
        streams = tuple(f"{ch}:{s}" for s in group for ch in chans)
        plans.append(ConnectionPlan(VENUE, url, "", streams, msgs))
    return plans


# ---------------------------------------------------------------------------- replies


class Reply(msgspec.Struct, frozen=True):
    type: str  # welcome | ack | pong | error | message
    id: str | int | None = None
    code: int | str | None = None
    data: msgspec.Raw = msgspec.Raw(b"")


_reply = msgspec.json.Decoder(Reply)


def parse_reply(payload: bytes) -> Reply | None:
    """The envelope of a control frame (welcome, ack, pong, error); None for a message
    (market data) or a frame that is no JSON object."""
    if b'"type":"message"' in payload:
        return None
    try:
        r = _reply.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return None if r.type == "message" else r


def is_keepalive(payload: bytes) -> bool:
    """True for ``pong``, ``welcome`` and ``ack``: answers that prove no data flows."""
    r = parse_reply(payload)
    return r is not None and r.type in ("pong", "welcome", "ack")


def error_text(payload: bytes) -> str | None:
    """``"<code>: <data>"`` of an error frame, None for anything else."""
    r = parse_reply(payload)
    if r is None or r.type != "error":
        return None
    data = bytes(r.data)
    text = data.decode("utf-8", "replace").strip('"') if data else ""
    return f"{r.code}: {text}"


# ---------------------------------------------------------------------------- liveness


def heartbeat(config: KucoinConfig = DEFAULT, *, stale_after_s: float | None = None) -> Heartbeat:
    """We ping every ``ping_interval_s``; KuCoin cuts a client silent past interval + timeout."""
    return Heartbeat(
        stale_after_s=config.stale_after_s if stale_after_s is None else stale_after_s,
        client_ping_interval_s=config.ping_interval_s,
        client_ping=ping_message(),
        idle_timeout_s=config.ping_interval_s + config.ping_timeout_s,
    )


def connect_limiter(config: KucoinConfig = DEFAULT) -> WindowLimit:
    """Connections per minute (30)."""
    return WindowLimit(config.connects_per_min, 60.0)


def message_limiter(config: KucoinConfig = DEFAULT) -> WindowLimit:
    """Uplink messages per connection: 100 per 10 s."""
    return WindowLimit(config.messages_per_10s, 10.0)


# ---------------------------------------------------------------------------- snapshots


def snapshot_request(symbol: str, config: KucoinConfig = DEFAULT) -> RestRequest:
    """``GET /api/v1/market/orderbook/level2_100?symbol=X`` (no auth)."""
    path = f"/api/v1/market/orderbook/level2_{config.snapshot_depth}"
    query = urlencode({"symbol": symbol.upper()})
    return RestRequest("GET", join_url(config.rest_url, path, query), path, 1, "public")


class _SnapshotSeq(msgspec.Struct):
    sequence: str


class _SnapshotBody(msgspec.Struct):
    code: str
    data: _SnapshotSeq


_snapshot = msgspec.json.Decoder(_SnapshotBody)


def snapshot_sequence(body: bytes) -> int:
    """``data.sequence`` of a level2 snapshot; ``VenueReplyError`` for any other body."""
    try:
        return int(_snapshot.decode(body).data.sequence)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise VenueReplyError(VENUE, "level2 snapshot", str(exc)) from None


class Level2Snapshots:
    """The snapshot capability (``SnapshotSource``): ``level2_100`` within a call budget."""

    def __init__(self, config: KucoinConfig = DEFAULT) -> None:
        self.config = config

    def request(self, symbol: str) -> RestRequest:
        return snapshot_request(symbol, self.config)

    def budget(self) -> WeightBudget:
        return WeightBudget(self.config.rest_per_10s, 10.0)

    def used_weight(self, headers: Mapping[str, str]) -> int | None:
        return None  # KuCoin reports no used weight on public calls

    def last_update_id(self, body: bytes) -> int:
        return snapshot_sequence(body)


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("topic", ErrorClass.UNKNOWN_SYMBOL),  # 404: "topic /market/ticker:XX-YY is not found"
    ("not found", ErrorClass.UNKNOWN_SYMBOL),
    ("509", ErrorClass.RATE_LIMIT),  # exceeded the limit of messages
    ("exceed", ErrorClass.RATE_LIMIT),
    ("too many", ErrorClass.RATE_LIMIT),
    ("429000", ErrorClass.RATE_LIMIT),  # REST: too many requests
    ("token", ErrorClass.NETWORK),  # an expired/invalid token: fetch a new one and reconnect
    ("400", ErrorClass.FATAL),  # a request we built wrong
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: KucoinConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for a KuCoin failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> KucoinConfig:
    """The venue's config from a ``[[venue]]`` table (``RecorderUsageError`` if refused)."""
    return KucoinConfig(
        ws_url=options.ws_base, ws_override=bool(getattr(options, "ws_url", "")),
        rest_url=options.rest_base,
        max_streams_per_connection=min(options.max_streams_per_connection,
                                       DEFAULT.max_streams_per_connection),
        ping_interval_s=min(options.ping_interval_s, DEFAULT.ping_interval_s),
        stale_after_s=stale_after_s, backoff=backoff)


class KucoinAdapter(Adapter):
    """KuCoin as the supervisor sees it: a token before each connect, welcome, text ping."""

    venue = VENUE
    frame_rules = VENUE  # keep-alive answers (is_keepalive) and errors (error_text), by the core
    greeting = True  # the welcome message comes before any request
    # control: KuCoin's uplink limit, 100 messages per 10 s per connection (our pings, one
    # per ``pingInterval``, are not counted); heartbeat() narrows heartbeat's interval
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=is_keepalive, error=error_text, connect=connect_limiter,
                       control=message_limiter, snapshots=Level2Snapshots, snapshot_channel="level2")
    ping_s: float | None = None  # the last token reply's pingInterval (None: none yet)

    def plan_options(self) -> dict[str, object]:
        return {"new_id": self.new_id}

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        # fresh request ids for each connection; the symbols stay the slot's own
        symbols = dict.fromkeys(s.split(":", 1)[1] for s in plan.streams)
        return self.plans_for(symbols)[0]

    def pre_connect(self, plan: ConnectionPlan) -> RestRequest | None:
        return bullet_request(self.vc)

    def connect_plan(self, plan: ConnectionPlan, body: bytes) -> ConnectionPlan:
        b = parse_bullet(body)
        server = b.data.instanceServers[0]
        self.ping_s = min(self.vc.ping_interval_s, server.pingInterval / 1000)
        url = ws_url(server.endpoint, b.data.token, self.new_id(), self.vc)
        return ConnectionPlan(plan.venue, url, plan.route, plan.streams, plan.messages)

    def heartbeat(self) -> Heartbeat:
        """Ours, at the token reply's ``pingInterval`` when it is shorter than ours."""
        ping_s = self.vc.ping_interval_s if self.ping_s is None else self.ping_s
        return heartbeat(KucoinConfig(ws_url=self.vc.ws_url, rest_url=self.vc.rest_url,
                                      ping_interval_s=ping_s,
                                      ping_timeout_s=self.vc.ping_timeout_s),
                         stale_after_s=self.stale_after_s)

    def depth_symbols(self, plan: ConnectionPlan) -> list[str]:
        if self.snapshots is None:
            return []
        return [s.split(":", 1)[1] for s in plan.streams if s.startswith("level2:")]

    # Live changes: subscribe/unsubscribe requests per channel (``symbols_per_topic``
    # symbols a topic) on the open connection, ``response: true`` so KuCoin answers each
    # id with ``ack`` or ``error``.

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        if not all(s.partition(":")[0] in self.options.channels for s in new):
            return None
        if len(plan.streams) + len(new) > self.vc.max_streams_per_connection:
            return None
        return self._change(plan, (*plan.streams, *new), new, added=new)

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left: the daemon closes the connection
        return self._change(plan, keep, gone, removed=gone)

    def _change(self, plan: ConnectionPlan, streams: tuple[str, ...], changed: list[str], *,
                added: Sequence[str] = (), removed: Sequence[str] = ()) -> LiveChange:
        by_channel: dict[str, list[str]] = {}
        for s in changed:
            ch, _, sym = s.partition(":")
            by_channel.setdefault(ch, []).append(sym)
        msgs, ids = [], []
        for ch, syms in by_channel.items():
            for part in chunked(syms, self.vc.symbols_per_topic):
                rid = self.new_id()
                ids.append(rid)
                msgs.append(subscribe_message(topic(ch, part), rid, unsubscribe=bool(removed)))
        # a reconnect: replan() asks for the slot's symbols afresh (fresh ids, current set)
        chans = list(dict.fromkeys(s.partition(":")[0] for s in streams))
        resub = tuple(subscribe_message(topic(ch, part), self.new_id()) for ch in chans
                      for part in chunked([s.partition(":")[2] for s in streams
                                           if s.partition(":")[0] == ch], self.vc.symbols_per_topic))
        new_plan = ConnectionPlan(VENUE, plan.url, plan.route, streams, resub)
        return LiveChange(new_plan, tuple(msgs), tuple(ids), tuple(added), tuple(removed))

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        r = parse_reply(payload)
        if r is None or r.id is None or r.type not in ("ack", "error"):
            return None
        return r.id, None if r.type == "ack" else error_text(payload)


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data: one substring test."""
    return b'trade.l2update' in payload


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="spot",
    channels=VENUE_CHANNELS,
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$"),
    symbol_example="BTC-USDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_streams_per_connection,
                       messages_per_s=DEFAULT.messages_per_10s / 10,
                       rest_per_s=DEFAULT.rest_per_10s // 10,
                       idle_timeout_s=DEFAULT.ping_interval_s + DEFAULT.ping_timeout_s),
    snapshots=True,
    sync_rule="kucoin",
    adapter=KucoinAdapter,
    book_frame=is_book_frame,
)
