"""Gate v4 protocol rules (spot and USDT futures), sans-I/O: endpoints, subscribe, ping, resync.

What the daemon does with this module:

- One ``[[venue]]`` table records one market, ``market = "spot"`` (default) or
  ``"futures"`` (USDT-settled perpetuals). Channels are Gate's own names and must belong to
  that market: spot ``spot.order_book_update``, ``spot.trades``, ``spot.book_ticker``;
  futures ``futures.order_book_update``, ``futures.trades``, ``futures.book_ticker``.
- ``plan_connections(symbols, channels, market=..., time_s=...)`` -> plans; each plan's
  messages are the subscribe requests, one per channel (``payload`` = the symbols), except
  ``order_book_update`` whose payload names one symbol and its interval, so one request
  per symbol (``["BTC_USDT", "100ms"]``; futures adds the level, ``"100"``).
- Gate expects an application ping: send ``ping_message(market)`` every
  ``ping_interval_s``; it answers ``{"channel":"spot.pong",...}`` (``is_pong``).
- ``order_book_update`` diffs carry ``U``/``u``; the book syncs to the REST snapshot
  ``/api/v4/spot/order_book?currency_pair=X&limit=100&with_id=true`` (futures:
  ``/api/v4/futures/usdt/order_book?contract=X...``) by the ``gate`` rule of ``state.sync``.
  ``depth_symbols`` are native (unprefixed) names; the decoder keys futures books
  ``futures:BTC_USDT`` and the resync strips the prefix (``state.symbols.split_key``).

Facts relied on (PROTOCOLS.md §6, gateio/gatews ``client.py``, Gate's 2021-03-12 futures
order-book announcement): request ``{"time", "channel", "event", "payload"}``; success
ack ``"result":{"status":"success"}``; failure ``"error":{"code":2,"message":"unknown
currency pair ..."}`` (so ``error`` non-null is an error reply); ping
``{"time":..,"channel":"spot.ping"}`` -> ``spot.pong``; the official SDK pings every 5 s;
server upgrade notice ``{"type":"upgrade",...}`` precedes a cut. The futures
``order_book_update`` payload is ``[contract, interval, level]``.

Live changes (``GateAdapter.subscribe_messages``): subscribe/unsubscribe requests per
channel (a book request per symbol) carrying an ``id`` of ours, which Gate's request table
says the server sends back in its answer (the ``id`` is not in PROTOCOLS.md's copies; the
simulator echoes it). A reconnect subscribes the current set.

Limits: a Gate maintainer answered (gateio/gatews issue #25, 2022) that there is no limit
on subscriptions per connection nor on messages sent, no connection limit but at most 100
connections per host recommended, and that the server closes a connection whose client
does not consume its updates in time. So streams per connection are capped by our own
``max_streams_per_connection`` (200 by default) to keep each connection's load modest, and
no message limiter is needed.

NOT confirmed (PROTOCOLS.md §9.13): the server's idle timeout (we ping every 10 s, as
often as the SDK's 5 s would be needless), whether the request ``time`` is checked for
public channels (we send the current time, from the adapter's injectable ``clock``), the
REST limit (we assume Gate's public 200 requests per 10 s per endpoint), the futures
``order_book_update`` level ``"100"``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

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
    chunked,
    classify,
    join_url,
    origin,
    parse_retry_after,
)
from .descriptor import Adapter, LiveChange, VenueDescriptor, VenueLimits, VenueOptions, VenueRules

VENUE = "gate"
SPOT = "spot"
FUTURES = "futures"
MARKETS = (SPOT, FUTURES)
BOOK = "order_book_update"
# The channels as Gate spells them, per market.
CHANNELS: dict[str, tuple[str, ...]] = {
    SPOT: ("spot.order_book_update", "spot.trades", "spot.book_ticker"),
    FUTURES: ("futures.order_book_update", "futures.trades", "futures.book_ticker"),
}
VENUE_CHANNELS: tuple[str, ...] = CHANNELS[SPOT] + CHANNELS[FUTURES]
SPOT_WS = "wss://api.gateio.ws"
FUTURES_WS = "wss://fx-ws.gateio.ws"
WS_PATHS = {SPOT: "/ws/v4/", FUTURES: "/v4/ws/usdt"}
REST_URL = "https://api.gateio.ws"
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100)


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Every URL, limit and interval of one Gate market; defaults are the documented values."""

    market: str = SPOT
    ws_url: str = ""  # "" = the market's own host; only scheme/host/port are used
    rest_url: str = REST_URL
    interval: str = "100ms"  # order_book_update cadence (100ms or 1000ms)
    futures_level: str = "100"  # futures order_book_update depth level
    max_streams_per_connection: int = 200  # unconfirmed limit: see the module docstring
    ping_interval_s: float = 10.0
    stale_after_s: float = 60.0
    snapshot_limit: int = 100
    rest_per_10s: int = 200  # public endpoints, per IP, per 10 s (unconfirmed)
    rest_safety: float = 0.9
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.market not in MARKETS:
            raise RecorderUsageError(f"market must be one of {MARKETS}")
        origin(self.ws)
        origin(self.rest_url)
        if self.max_streams_per_connection < 1:
            raise RecorderUsageError("max_streams_per_connection must be >= 1")
        if self.snapshot_limit not in SNAPSHOT_LIMITS:
            raise RecorderUsageError(f"snapshot_limit must be one of {SNAPSHOT_LIMITS}")

    @property
    def ws(self) -> str:
        """The WebSocket origin: the override, else the market's host."""
        return self.ws_url or (FUTURES_WS if self.market == FUTURES else SPOT_WS)


DEFAULT = GateConfig()


def ws_url(config: GateConfig = DEFAULT) -> str:
    """``wss://api.gateio.ws/ws/v4/`` (spot) or ``wss://fx-ws.gateio.ws/v4/ws/usdt``."""
    return join_url(config.ws, WS_PATHS[config.market])


def check_channels(channels: Iterable[str], market: str) -> list[str]:
    """The channels, deduplicated; ``RecorderUsageError`` for one of another market."""
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        if ch not in CHANNELS[market]:
            raise RecorderUsageError(f"{ch!r} is not a Gate {market} channel "
                                     f"(one of {', '.join(CHANNELS[market])})")
    return chans


# ---------------------------------------------------------------------------- requests


def request_message(channel: str, event: str, payload: Sequence[str], time_s: int,
                    request_id: int | None = None) -> bytes:
    """``{"time":T,"channel":C,"event":"subscribe","payload":[...]}`` (with ``"id"`` when
    given: Gate sends it back in the answer)."""
    msg: dict[str, object] = {"time": time_s}
    if request_id is not None:
        msg["id"] = request_id
    msg.update(channel=channel, event=event, payload=list(payload))
    return msgspec.json.encode(msg)


def subscribe_payloads(channel: str, symbols: Sequence[str],
                       config: GateConfig = DEFAULT) -> list[list[str]]:
    """The payload of each subscribe request ``channel`` needs for ``symbols``.

    ``order_book_update`` takes one symbol a request (with its interval, futures its
    level too); the other channels take every symbol in one request.
    """
    if channel.endswith("." + BOOK):
        extra = [config.interval] + ([config.futures_level] if channel.startswith(FUTURES) else [])
        return [[s, *extra] for s in symbols]
    return [list(symbols)]


def subscribe_messages(channel: str, symbols: Sequence[str], time_s: int,
                       config: GateConfig = DEFAULT) -> list[bytes]:
    return [request_message(channel, "subscribe", p, time_s)
            for p in subscribe_payloads(channel, symbols, config)]


def unsubscribe_messages(channel: str, symbols: Sequence[str], time_s: int,
                         config: GateConfig = DEFAULT) -> list[bytes]:
    return [request_message(channel, "unsubscribe", p, time_s)
            for p in subscribe_payloads(channel, symbols, config)]


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *, time_s: int,
                     config: GateConfig = DEFAULT) -> list[ConnectionPlan]:
    """Split symbols x channels over connections of at most ``max_streams_per_connection``.

    Symbols are cut so each connection carries all channels of its symbols; ``streams``
    are ``<channel>:<symbol>``.
    """
    chans = check_channels(channels, config.market)
    ordered = list(dict.fromkeys(s.upper() for s in symbols))
    per_conn = max(1, config.max_streams_per_connection // max(1, len(chans)))
    url = ws_url(config)
    plans = []
    for group in chunked(ordered, per_conn) if ordered else []:
        msgs = [m for ch in chans for m in subscribe_messages(ch, group, time_s, config)]
        streams = tuple(f"{ch}:{s}" for s in group for ch in chans)
        plans.append(ConnectionPlan(VENUE, url, config.market, streams, tuple(msgs)))
    return plans


class _Reply(msgspec.Struct):
    channel: str = ""
    event: str = ""
    # our request id, sent back; read raw so a reply whose id is not ours (not an int) is
    # still read for its error, as the compiled core's rules read it
    id: msgspec.Raw = msgspec.Raw(b"null")
    error: msgspec.Raw = msgspec.Raw(b"null")  # null, or {"code":..,"message":..}


class _Error(msgspec.Struct):
    code: int | None = None
    message: str = ""


_reply = msgspec.json.Decoder(_Reply)
_error = msgspec.json.Decoder(_Error)


@dataclass(frozen=True, slots=True)
class Ack:
    """A reply to a subscribe/unsubscribe: ``ok`` unless Gate sent an ``error``."""

    channel: str
    event: str
    error: str | None = None
    request_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _our_id(raw: msgspec.Raw) -> int | None:
    """The reply's ``id`` when it is an integer (ours are), else None."""
    text = bytes(raw)
    return int(text) if text.isdigit() else None


def parse_reply(payload: bytes) -> Ack | None:
    """The ``Ack`` in a frame (a subscribe/unsubscribe answer, or any frame with a non-null
    ``error``), None for data, pongs and anything unreadable."""
    try:
        m = _reply.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    err = None
    if bytes(m.error) != b"null":
        try:
            e = _error.decode(m.error)
            err = f"{e.code}: {e.message}"
        except msgspec.DecodeError:
            err = bytes(m.error).decode("utf-8", "replace")
    if err is None and m.event not in ("subscribe", "unsubscribe"):
        return None
    return Ack(m.channel, m.event, err, _our_id(m.id))


# ---------------------------------------------------------------------------- liveness


def ping_message(market: str = SPOT) -> bytes:
    """``{"channel":"spot.ping"}`` (``futures.ping``); Gate answers ``<market>.pong``.

    No ``time``: the heartbeat's keep-alive is a fixed message, and Gate's pong echoes
    only its own clock (the SDK's ``time`` is not needed to be answered).
    """
    return msgspec.json.encode({"channel": f"{market}.ping"})


def is_pong(payload: bytes) -> bool:
    """True for Gate's keep-alive answer (``"channel":"spot.pong"`` / ``futures.pong``)."""
    return b'.pong"' in payload[:80] and (b'"spot.pong"' in payload or b'"futures.pong"' in payload)


def heartbeat(config: GateConfig = DEFAULT) -> Heartbeat:
    """We ping (application ``<market>.ping``) every ``ping_interval_s``."""
    return Heartbeat(stale_after_s=config.stale_after_s,
                     client_ping_interval_s=config.ping_interval_s,
                     client_ping=ping_message(config.market))


# ---------------------------------------------------------------------------- REST


def snapshot_request(symbol: str, config: GateConfig = DEFAULT) -> RestRequest:
    """``GET /api/v4/spot/order_book?currency_pair=X&limit=100&with_id=true`` (futures:
    ``/api/v4/futures/usdt/order_book?contract=X&...``)."""
    if config.market == FUTURES:
        path, key = "/api/v4/futures/usdt/order_book", "contract"
    else:
        path, key = "/api/v4/spot/order_book", "currency_pair"
    query = urlencode({key: symbol.upper(), "limit": config.snapshot_limit, "with_id": "true"})
    return RestRequest("GET", join_url(config.rest_url, path, query), path, 1)


def rest_budget(config: GateConfig = DEFAULT) -> WeightBudget:
    """Public REST requests per 10 s (less the safety margin), one unit a request."""
    return WeightBudget(max(1, int(config.rest_per_10s * config.rest_safety)), 10.0)


class _SnapshotId(msgspec.Struct):
    id: int  # the book's update id (with_id=true)


_snapshot_decoder = msgspec.json.Decoder(_SnapshotId)


def snapshot_last_update_id(body: bytes) -> int:
    """``id`` of an ``order_book?with_id=true`` body (raises on a malformed one)."""
    return _snapshot_decoder.decode(body).id


class BookSnapshots:
    """The snapshot capability (``SnapshotSource``): ``order_book?with_id=true``."""

    def __init__(self, config: GateConfig = DEFAULT) -> None:
        self.config = config

    def request(self, symbol: str) -> RestRequest:
        return snapshot_request(symbol, self.config)

    def budget(self) -> WeightBudget:
        return rest_budget(self.config)

    def used_weight(self, headers: Mapping[str, str]) -> int | None:
        return None  # Gate reports what remains, per endpoint; we keep our own count

    def last_update_id(self, body: bytes) -> int:
        """``id`` of an order-book body; ``VenueReplyError`` for any other body."""
        try:
            return snapshot_last_update_id(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise VenueReplyError(VENUE, "order_book snapshot", str(exc)) from None


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("unknown currency pair", ErrorClass.UNKNOWN_SYMBOL),
    ("unknown contract", ErrorClass.UNKNOWN_SYMBOL),
    ("invalid_currency_pair", ErrorClass.UNKNOWN_SYMBOL),  # REST label
    ("contract_not_found", ErrorClass.UNKNOWN_SYMBOL),
    ("too_many_requests", ErrorClass.RATE_LIMIT),
    ("too many", ErrorClass.RATE_LIMIT),
    ("invalid_key", ErrorClass.AUTH),
    ("invalid_signature", ErrorClass.AUTH),
    ("invalid request", ErrorClass.FATAL),
    ("invalid argument", ErrorClass.FATAL),
    ("unknown channel", ErrorClass.FATAL),
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: GateConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for a Gate failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def reply_error(payload: bytes) -> str | None:
    """Gate's error text when ``payload`` is an error reply, else None."""
    ack = parse_reply(payload)
    return None if ack is None or ack.ok else ack.error


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> GateConfig:
    """The config of the table's market (spot unless it says futures) from a ``[[venue]]`` table."""
    market = getattr(options, "market", "") or SPOT
    ws = options.ws_base
    if ws.rstrip("/") == SPOT_WS and market == FUTURES:
        ws = ""  # the descriptor's default origin is spot's: use the market's own
    limit = options.snapshot_limit if options.snapshot_limit in SNAPSHOT_LIMITS else 100
    return GateConfig(market=market, ws_url=ws, rest_url=options.rest_base,
                      max_streams_per_connection=options.max_streams_per_connection,
                      # the shared ping_interval_s key (60 s by default, Upbit's), never
                      # above Gate's 10 s: its idle cut is undocumented
                      ping_interval_s=min(options.ping_interval_s, DEFAULT.ping_interval_s),
                      stale_after_s=stale_after_s, snapshot_limit=limit, backoff=backoff)


class GateAdapter(Adapter):
    """Gate as the supervisor sees it: subscribe requests, app ping, REST-synced books.

    The subscribe requests carry ``time`` (unix seconds): ``clock`` gives it, the wall
    clock unless a test injects one. This is the one clock read, at planning time.
    """

    venue = VENUE
    frame_rules = VENUE  # pongs (is_pong) and error replies (parse_reply), read by the core
    # snapshots: the book channel is the market's own, so __init__ sets them
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=is_pong, error=reply_error)
    picks_market = True

    def __init__(self, options: VenueOptions, *, backoff: Backoff, stale_after_s: float,
                 new_id: Callable[[], str], clock: Callable[[], float] = time.time) -> None:
        super().__init__(options, backoff=backoff, stale_after_s=stale_after_s, new_id=new_id)
        self.clock = clock
        check_channels(options.channels, self.vc.market)
        if options.snapshots and f"{self.vc.market}.{BOOK}" in options.channels:
            self.snapshots = BookSnapshots(self.vc)

    def plan_options(self) -> dict[str, object]:
        return {"time_s": int(self.clock())}

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        # the same symbols, with requests stamped now
        symbols = dict.fromkeys(s.split(":", 1)[1] for s in plan.streams)
        fresh = self.plans_for(symbols)
        return fresh[0] if len(fresh) == 1 else plan

    def depth_symbols(self, plan: ConnectionPlan) -> list[str]:
        if self.snapshots is None:
            return []
        prefix = f"{self.vc.market}.{BOOK}:"
        return [s[len(prefix):] for s in plan.streams if s.startswith(prefix)]

    # Live changes: subscribe/unsubscribe requests per channel on the open connection (a
    # book request names one symbol), each with an ``id`` of ours that the answer carries.

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        if plan.route != self.vc.market or not all(
                s.partition(":")[0] in self.options.channels for s in new):
            return None
        if len(plan.streams) + len(new) > self.vc.max_streams_per_connection:
            return None
        return self._change(plan, (*plan.streams, *new), new, "subscribe", added=new)

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left: the daemon closes the connection
        return self._change(plan, keep, gone, "unsubscribe", removed=gone)

    def _change(self, plan: ConnectionPlan, streams: tuple[str, ...], changed: list[str],
                event: str, *, added: Sequence[str] = (), removed: Sequence[str] = ()) -> LiveChange:
        by_channel: dict[str, list[str]] = {}
        for s in changed:
            ch, _, sym = s.partition(":")
            by_channel.setdefault(ch, []).append(sym)
        now = int(self.clock())
        msgs, ids = [], []
        for ch, syms in by_channel.items():
            for payload in subscribe_payloads(ch, syms, self.vc):
                ids.append(self.next_live_id())
                msgs.append(request_message(ch, event, payload, now, ids[-1]))
        # a reconnect subscribes the current set, channel by channel as plan_connections does
        chans = list(dict.fromkeys(s.partition(":")[0] for s in streams))
        resub = [m for ch in chans for m in subscribe_messages(
            ch, [s.partition(":")[2] for s in streams if s.partition(":")[0] == ch], now, self.vc)]
        new_plan = ConnectionPlan(VENUE, plan.url, plan.route, streams, tuple(resub))
        return LiveChange(new_plan, tuple(msgs), tuple(ids), tuple(added), tuple(removed))

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        ack = parse_reply(payload)
        if ack is None or ack.request_id is None:
            return None
        return ack.request_id, ack.error


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data: one substring test."""
    return b'order_book_update"' in payload


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market=SPOT,  # the stream table's market; a futures table's frames say futures themselves
    channels=VENUE_CHANNELS,
    ws_url=SPOT_WS,
    rest_url=REST_URL,
    symbol_pattern=re.compile(r"^[A-Z0-9]{1,20}_[A-Z0-9]{2,10}$"),
    symbol_example="BTC_USDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_streams_per_connection,
                       rest_per_s=DEFAULT.rest_per_10s // 10),
    snapshots=True,
    sync_rule=VENUE,
    adapter=GateAdapter,
    # ``market`` (spot or futures) is every venue's config field, checked against the markets
    # of its instrument list (recorder.venues.instruments), not an option Gate owns.
    book_frame=is_book_frame,
)
