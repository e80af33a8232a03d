"""Bybit v5 public streams (spot and linear), sans-I/O: endpoints, topics, subscribe, ping, limits.

What the daemon does with this module:

- ``plan_connections(symbols, channels, market=...)`` -> ``ConnectionPlan`` list. One
  market per recorder venue table (option ``market``: ``spot`` or ``linear``); its path is
  ``/v5/public/spot`` or ``/v5/public/linear`` under whatever origin ``ws_url`` names (a
  ``--ws-url`` override replaces only scheme, host and port). Topics are
  ``<channel>.<SYMBOL>`` (``orderbook.50.BTCUSDT``, ``publicTrade.BTCUSDT``,
  ``tickers.BTCUSDT``); each plan's messages are ``{"req_id":..,"op":"subscribe","args":[..]}``
  requests of at most ``args_per_request`` topics (spot: 10, documented), sent in order
  right after the handshake.
- Bybit answers each request with an ack, ``{"success":true,"ret_msg":"subscribe",
  "conn_id":..,"op":"subscribe"}`` (spot) or with ``"ret_msg":""`` and ``"req_id"``
  (linear); a refusal has ``"success":false`` and the reason in ``ret_msg``
  (``parse_reply``, ``frame_error``).
- We must ping: text ``{"op":"ping"}`` every 20 s (Bybit's recommendation; a ``[[venue]]``
  ``ping_interval_s`` below 20 s shortens it); the answer is
  ``{"success":true,"ret_msg":"pong",..,"op":"ping"}`` (``is_pong``). Bybit cuts a connection
  with neither ping-pong nor data for 10 minutes.
- Books are synced by the venue itself: every ``orderbook.N`` subscription starts with a
  ``snapshot`` and continues with ``delta``s whose ``u`` grows by one; a message with
  ``u == 1`` is a fresh snapshot after a service restart (the rule is ``state.sync``'s
  ``bybit`` row, in the core). No REST snapshot exists for these depths, so a broken book
  is resynced by a new subscription: on a ``Gap`` the daemon's ``Resubscriber`` sends
  ``BybitAdapter.resync_messages(symbol)`` (unsubscribe, then subscribe, of that book's
  topics) on the connection carrying it (``book_symbols``); a reconnect resyncs every book
  the same way. Bybit documents no limit on subscribe requests per connection.
- Live changes (``BybitAdapter.subscribe_messages``): subscribe/unsubscribe requests of at
  most ``args_per_request`` topics, each with a ``req_id`` of ours that the ack or refusal
  echoes (``answer``); a reconnect subscribes the current set.
- Symbol keys: spot keeps the bare name, linear is ``linear:BTCUSDT`` (``state.symbols``):
  one ``[[venue]]`` table records one market, and ``Adapter.market`` writes it into each
  stream's table row, which is what the decoder keys by.

Facts relied on (PROTOCOLS.md §4, from bybit-exchange/docs @ 072c197): URLs and paths, the
spot limit of 10 args per request, the 21,000-character args limit per connection (no args
limit for linear), the 20 s ping and its pong shapes, the 10-minute cut, 500 connections
per 5 minutes per domain, depths 1/50/200/1000 for spot and linear, ``u == 1`` resets.
Not confirmed by the documentation: the shape of a refusal. We assume the ack's shape with
``"success":false`` and the reason in ``ret_msg`` (community clients show
``"Invalid symbol :[topic]"`` for an unknown symbol and ``"error:handler not found"``
for an unknown topic); ``classify`` reads those texts. The brief named depth 500; the
documentation lists 1000, so ``orderbook.1000`` is offered instead.

Frame inspection: the compiled core reads every frame by the rules here
(``ticktape::inspect::bybit``, ``BybitAdapter.frame_rules``): a pong is a keep-alive
answer, not data for the stale watchdog, and a refusal is journaled as an ``error`` and
classified. ``is_pong``/``frame_error`` stay the documented reference the core matches
(``tests/recorder/venues/test_frame_rules.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from recorder.errors import RecorderUsageError

from .base import (
    Backoff,
    ConnectionPlan,
    ErrorClass,
    Heartbeat,
    Verdict,
    WindowLimit,
    classify,
    join_url,
    origin,
    parse_retry_after,
)
from .descriptor import Adapter, LiveChange, VenueDescriptor, VenueLimits, VenueOptions, VenueRules

VENUE = "bybit"
MARKETS = ("spot", "linear")
PATHS: dict[str, str] = {"spot": "/v5/public/spot", "linear": "/v5/public/linear"}
DEPTHS = (1, 50, 200, 1000)  # spot and linear orderbook depths (push 10/20/100/200 ms)
# Channel names as Bybit spells the topic before ".<SYMBOL>" (``recorder run --channels``).
VENUE_CHANNELS: tuple[str, ...] = (*(f"orderbook.{d}" for d in DEPTHS), "publicTrade", "tickers",
                                   "kline.1")
BOOK_CHANNELS = frozenset(f"orderbook.{d}" for d in DEPTHS)
PING = b'{"op":"ping"}'


@dataclass(frozen=True, slots=True)
class BybitConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://stream.bybit.com"  # only scheme/host/port are used
    rest_url: str = "https://api.bybit.com"
    market: str = "spot"
    # Topics one connection carries: Bybit documents no count, only 21,000 characters of args.
    max_topics_per_connection: int = 200
    max_args_chars: int = 21_000  # length of the "args" array per public connection
    spot_args_per_request: int = 10  # documented for spot
    linear_args_per_request: int = 100  # "no args limit" for futures: keep requests modest
    ping_interval_s: float = 20.0  # Bybit's recommendation
    idle_timeout_s: float = 600.0  # no ping-pong and no data for 10 minutes: cut
    stale_after_s: float = 60.0
    connects_per_5min: int = 500  # per WebSocket domain and IP
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if self.market not in MARKETS:
            raise RecorderUsageError(f"market must be one of {MARKETS}")
        if self.max_topics_per_connection < 1:
            raise RecorderUsageError("max_topics_per_connection must be >= 1")
        if self.ping_interval_s >= self.idle_timeout_s:
            raise RecorderUsageError("ping_interval_s must be shorter than idle_timeout_s")

    @property
    def args_per_request(self) -> int:
        return self.spot_args_per_request if self.market == "spot" else self.linear_args_per_request


DEFAULT = BybitConfig()


def ws_url(config: BybitConfig = DEFAULT) -> str:
    """``wss://stream.bybit.com/v5/public/<market>`` (the path survives an override)."""
    return join_url(config.ws_url, PATHS[config.market])


def topic(channel: str, symbol: str) -> str:
    """``orderbook.50.BTCUSDT``: the channel as Bybit spells it, then the upper-case symbol."""
    if channel not in VENUE_CHANNELS:
        raise RecorderUsageError(f"unknown Bybit channel {channel!r} (one of {VENUE_CHANNELS})")
    return f"{channel}.{symbol.upper()}"


def symbol_of(topic_: str) -> str:
    """The symbol a topic names (after its last dot)."""
    return topic_.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------- requests


def _request(op: str, args: Sequence[str], req_id: str | None) -> bytes:
    msg: dict[str, object] = {}
    if req_id is not None:
        msg["req_id"] = req_id
    msg["op"] = op
    msg["args"] = list(args)
    return msgspec.json.encode(msg)


def subscribe_message(args: Sequence[str], req_id: str | None = None) -> bytes:
    """``{"req_id":..,"op":"subscribe","args":[topics]}`` (req_id is echoed in the ack)."""
    if not args:
        raise RecorderUsageError("a subscribe request needs at least one topic")
    return _request("subscribe", args, req_id)


def unsubscribe_message(args: Sequence[str], req_id: str | None = None) -> bytes:
    """``{"req_id":..,"op":"unsubscribe","args":[topics]}``."""
    if not args:
        raise RecorderUsageError("an unsubscribe request needs at least one topic")
    return _request("unsubscribe", args, req_id)


def resubscribe_messages(symbols: Iterable[str], channels: Iterable[str], *,
                         req_id: str | None = None, config: BybitConfig = DEFAULT) -> list[bytes]:
    """Unsubscribe then subscribe the book topics of ``symbols``: Bybit starts each new
    subscription with a snapshot, which resyncs a broken book without a reconnect."""
    books = [topic(ch, s) for s in symbols for ch in channels if ch in BOOK_CHANNELS]
    out: list[bytes] = []
    for n, i in enumerate(range(0, len(books), config.args_per_request)):
        part = books[i:i + config.args_per_request]
        rid = None if req_id is None else f"{req_id}-{n}"
        out += [unsubscribe_message(part, rid), subscribe_message(part, rid)]
    return out


def _args_chars(topics: Sequence[str]) -> int:
    return len(msgspec.json.encode(list(topics)))


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     config: BybitConfig = DEFAULT, req_prefix: str = "ticktape") -> list[ConnectionPlan]:
    """Topics (channel-major per symbol) packed into connections, each within
    ``max_topics_per_connection`` topics and ``max_args_chars`` of args; each
    connection's subscribe requests carry at most ``args_per_request`` topics.

    Request ids are ``<req_prefix>-<connection>-<request>``; ``plan.streams`` are the topics.
    """
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        if ch not in VENUE_CHANNELS:
            raise RecorderUsageError(f"unknown Bybit channel {ch!r} (one of {VENUE_CHANNELS})")
    ordered = list(dict.fromkeys(s.upper() for s in symbols))
    groups: list[list[str]] = [[]]
    for sym in ordered:
        topics = [topic(ch, sym) for ch in chans]
        cur = groups[-1]
        if cur and (len(cur) + len(topics) > config.max_topics_per_connection
                    or _args_chars(cur + topics) > config.max_args_chars):
            groups.append(cur := [])
        cur += topics  # a symbol's topics stay together on one connection
    url = ws_url(config)
    per = config.args_per_request
    plans = []
    for n, group in enumerate(g for g in groups if g):
        msgs = tuple(subscribe_message(group[i:i + per], f"{req_prefix}-{n}-{k}")
                     for k, i in enumerate(range(0, len(group), per)))
        plans.append(ConnectionPlan(VENUE, url, config.market, tuple(group), msgs))
    return plans


# ---------------------------------------------------------------------------- replies


class Reply(msgspec.Struct, frozen=True):
    """An ack, a refusal or a pong: a frame with ``op`` and no ``topic``."""

    op: str  # subscribe | unsubscribe | ping (spot/linear pong) | pong (option)
    success: bool | None = None  # absent on the option pong
    ret_msg: str = ""  # "subscribe", "", "pong", or the reason of a refusal
    conn_id: str = ""
    req_id: str = ""


_reply = msgspec.json.Decoder(Reply)


def parse_reply(payload: bytes) -> Reply | None:
    """The ack/refusal/pong a frame is, or None for market data and anything unreadable."""
    head = payload[:40]
    if b'"topic"' in head or b'"op"' not in payload:
        return None
    try:
        return _reply.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def is_pong(payload: bytes) -> bool:
    """True for the answer to our ping (spot/linear ``ret_msg`` pong, option ``op`` pong)."""
    r = parse_reply(payload)
    return r is not None and (r.op == "pong" or (r.op == "ping" and r.ret_msg == "pong"))


def frame_error(payload: bytes) -> str | None:
    """``"<op>: <ret_msg>"`` for a refusal (``success`` false), None for anything else."""
    r = parse_reply(payload)
    if r is None or r.success is not False:
        return None
    return f"{r.op}: {r.ret_msg}"


# ---------------------------------------------------------------------------- liveness and limits


def heartbeat(config: BybitConfig = DEFAULT) -> Heartbeat:
    """We ping (text ``{"op":"ping"}``) every 20 s; Bybit cuts after 10 silent minutes."""
    return Heartbeat(stale_after_s=config.stale_after_s,
                     client_ping_interval_s=config.ping_interval_s, client_ping=PING,
                     idle_timeout_s=config.idle_timeout_s)


def connect_limiter(config: BybitConfig = DEFAULT) -> WindowLimit:
    """"Do not build over 500 connections in 5 minutes" per WebSocket domain."""
    return WindowLimit(config.connects_per_5min, 300.0)


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("invalid symbol", ErrorClass.UNKNOWN_SYMBOL),  # not confirmed, see the module docstring
    ("handler not found", ErrorClass.FATAL),  # a topic we spelled wrong
    ("args length", ErrorClass.FATAL),  # over the args limit: our plan is wrong
    ("too many", ErrorClass.RATE_LIMIT),
    ("rate limit", ErrorClass.RATE_LIMIT),
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: BybitConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` for a Bybit failure (handshake status, close, exception, refusal text)."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> BybitConfig:
    """The venue's config from a ``[[venue]]`` table (``RecorderUsageError`` if refused)."""
    return BybitConfig(
        ws_url=options.ws_base, rest_url=options.rest_base,
        market=getattr(options, "market", "") or DEFAULT.market,
        max_topics_per_connection=options.max_streams_per_connection,
        # the shared ping_interval_s (Upbit's, 60 s by default) only ever shortens ours
        ping_interval_s=min(options.ping_interval_s, DEFAULT.ping_interval_s),
        stale_after_s=stale_after_s, backoff=backoff)


class BybitAdapter(Adapter):
    """Bybit as the supervisor sees it: one market, subscribe requests, a JSON ping every 20 s."""

    venue = VENUE
    frame_rules = VENUE  # pongs (is_pong) and refusals (frame_error), read by the core
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=is_pong, error=frame_error, connect=connect_limiter)
    picks_market = True  # the stream table's market: linear books key linear:SYM

    def book_symbols(self, plan: ConnectionPlan) -> list[str]:
        """Symbols whose books (``orderbook.N``) ``plan`` carries: a Gap of one is resynced by
        ``resync_messages`` on that connection (``recorder.daemon.resubscribe``)."""
        return list(dict.fromkeys(symbol_of(t) for t in plan.streams
                                  if t.rsplit(".", 1)[0] in BOOK_CHANNELS))

    def resync_messages(self, symbol: str) -> list[bytes]:
        """Unsubscribe, then subscribe, the configured book topics of ``symbol``."""
        return resubscribe_messages([symbol], self.options.channels,
                                    req_id=f"resync-{self.new_id()}", config=self.vc)

    # Live changes: subscribe/unsubscribe requests on the open connection, at most
    # args_per_request topics each (spot: 10), a req_id of ours each, echoed in the ack
    # (``success`` true) or the refusal (false, the reason in ``ret_msg``).

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        current = (*plan.streams, *new)
        if plan.route != self.vc.market or len(current) > self.vc.max_topics_per_connection \
                or _args_chars(current) > self.vc.max_args_chars:
            return None
        return self._change(plan, current, new, subscribe_message, added=new)

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left: the daemon closes the connection
        return self._change(plan, keep, gone, unsubscribe_message, removed=gone)

    def _change(self, plan: ConnectionPlan, topics: tuple[str, ...], changed: list[str],
                message: Callable[[Sequence[str], str | None], bytes], *,
                added: Sequence[str] = (), removed: Sequence[str] = ()) -> LiveChange:
        per = self.vc.args_per_request
        parts = [changed[i:i + per] for i in range(0, len(changed), per)]
        ids = [f"live-{self.next_live_id()}" for _ in parts]
        msgs = tuple(message(p, i) for p, i in zip(parts, ids, strict=True))
        resub = tuple(subscribe_message(topics[i:i + per], f"ticktape-r-{k}")
                      for k, i in enumerate(range(0, len(topics), per)))
        new_plan = ConnectionPlan(VENUE, plan.url, plan.route, topics, resub)
        return LiveChange(new_plan, msgs, tuple(ids), tuple(added), tuple(removed))

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        r = parse_reply(payload)
        if r is None or r.op not in ("subscribe", "unsubscribe") or not r.req_id:
            return None
        return r.req_id, None if r.success else f"{r.op}: {r.ret_msg}"


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data: one substring test."""
    return b'"orderbook.' in payload


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="spot",  # the default table's; a linear table's streams say linear (Adapter.market)
    channels=VENUE_CHANNELS,
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z0-9]{2,30}(-[0-9]{2}[A-Z]{3}[0-9]{2})?$"),
    symbol_example="BTCUSDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_topics_per_connection,
                       idle_timeout_s=DEFAULT.idle_timeout_s),
    snapshots=False,  # the venue pushes the snapshot of every new subscription
    sync_rule="bybit",
    adapter=BybitAdapter,
    # ``market`` (spot or linear) is every venue's config field, checked against the markets
    # of its instrument list (recorder.venues.instruments), not an option Bybit owns.
    book_frame=is_book_frame,
)
