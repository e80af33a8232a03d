"""Upbit quotation protocol rules, sans-I/O: endpoint, request arrays, keep-alive, limits.

What the daemon does with this module:

- ``plan_connections(codes, channels, ticket=...)`` -> ``ConnectionPlan`` list; each plan's
  single message is the request array to send after connecting. Tickets must be unique:
  the caller generates one per planning (a UUID) and each plan gets ``<ticket>-<n>``.
  Re-plan with a fresh ticket on reconnect.
- Upbit sends data as binary frames carrying UTF-8 JSON: journal them as they are.
- Upbit cuts a connection idle for 120 s: send ``ping_message()`` (text ``PING``) every
  ``ping_interval_s``; it answers ``{"status":"UP"}`` (``is_status_up``).
- Before opening a connection ask ``connect_limiter``; before sending any request on a
  connection ask that connection's ``message_limiter`` (5/s and 100/min per connection).
- REST: one ``UpbitRestLimits`` per IP; feed it every ``Remaining-Req`` header.

Every quotation message is a full state (orderbooks are whole snapshots), so there is no
sequence to resync: a reconnect simply resubscribes.

Live changes: Upbit has no per-code subscribe or unsubscribe. A new request array on an
open connection *replaces* that connection's whole subscription, so adding or removing a
code sends the full list of the codes it keeps, under a fresh ticket
(``UpbitAdapter.subscribe_messages``). Upbit answers a request with data (a snapshot of
each code, then the stream), never with an acknowledgement; a refused one with an error
frame. Codes no longer listed simply stop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlencode

import msgspec
from ticktape_core import is_keepalive, upbit_error, upbit_status_up

from recorder.errors import RecorderUsageError

from .base import (
    Backoff,
    ConnectionPlan,
    ErrorClass,
    Heartbeat,
    Limits,
    RestRequest,
    Verdict,
    WindowLimit,
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

VENUE = "upbit"
CHANNELS = ("orderbook", "trade", "ticker")
FORMATS = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
REST_GROUPS = ("market", "candle", "trade", "ticker", "orderbook")
STATUS_UP = b'{"status":"UP"}'


@dataclass(frozen=True, slots=True)
class UpbitConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://api.upbit.com"  # only scheme/host/port are used
    ws_path: str = "/websocket/v1"
    rest_url: str = "https://api.upbit.com"
    format: str = "SIMPLE"  # smaller frames; DEFAULT spells field names out
    # No documented per-connection code limit; keep requests modest so one failure costs little.
    max_codes_per_connection: int = 100
    idle_timeout_s: float = 120.0  # Upbit's idle cut
    ping_interval_s: float = 60.0  # well inside the idle cut
    ping_frame: bool = False  # True: WebSocket ping frames instead of the text PING
    stale_after_s: float = 60.0  # no data frame for this long: reconnect
    connect_per_s: int = 5  # WebSocket connects per second per IP
    messages_per_s: int = 5  # requests per second per connection
    messages_per_min: int = 100  # requests per minute per connection
    rest_per_s: int = 10  # per group, per IP
    backoff: Backoff = field(default_factory=lambda: Backoff(rate_limit_s=1.0))

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if self.format not in FORMATS:
            raise RecorderUsageError(f"format must be one of {FORMATS}")
        if self.max_codes_per_connection < 1:
            raise RecorderUsageError("max_codes_per_connection must be >= 1")
        if self.ping_interval_s >= self.idle_timeout_s:
            raise RecorderUsageError("ping_interval_s must be shorter than idle_timeout_s")


DEFAULT = UpbitConfig()


def ws_url(config: UpbitConfig = DEFAULT) -> str:
    """The quotation endpoint, ``wss://api.upbit.com/websocket/v1`` by default."""
    return join_url(config.ws_url, config.ws_path)


# ---------------------------------------------------------------------------- requests


def subscribe_message(ticket: str, subscriptions: Sequence[tuple[str, Sequence[str]]], *,
                      fmt: str = DEFAULT.format, only_realtime: bool = False,
                      only_snapshot: bool = False) -> bytes:
    """``[{"ticket":..},{"type":..,"codes":[..]},..,{"format":..}]`` for (type, codes) pairs.

    Codes are sent upper-case as Upbit requires. ``ticket`` must be unique per request.
    """
    if not ticket:
        raise RecorderUsageError("ticket must be a non-empty unique string")
    if fmt not in FORMATS:
        raise RecorderUsageError(f"format must be one of {FORMATS}")
    req: list[dict[str, object]] = [{"ticket": ticket}]
    for typ, codes in subscriptions:
        item: dict[str, object] = {"type": typ, "codes": [c.upper() for c in codes]}
        if only_realtime:
            item["is_only_realtime"] = True
        if only_snapshot:
            item["is_only_snapshot"] = True
        req.append(item)
    req.append({"format": fmt})
    return msgspec.json.encode(req)


def list_subscriptions_message(ticket: str) -> bytes:
    """``[{"method":"LIST_SUBSCRIPTIONS"},{"ticket":..}]`` (added 2024-08-07)."""
    return msgspec.json.encode([{"method": "LIST_SUBSCRIPTIONS"}, {"ticket": ticket}])


def plan_connections(codes: Iterable[str], channels: Iterable[str], *, ticket: str,
                     config: UpbitConfig = DEFAULT,
                     only_realtime: bool = False) -> list[ConnectionPlan]:
    """Split codes over connections of at most ``max_codes_per_connection`` codes each.

    Every connection carries all ``channels`` for its codes in one request (one message,
    well inside 5/s). ``plan.streams`` lists ``<channel>:<code>`` for bookkeeping.
    """
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        if ch not in CHANNELS and not ch.startswith("candle."):
            raise RecorderUsageError(f"unknown Upbit channel {ch!r}")
    ordered = list(dict.fromkeys(c.upper() for c in codes))
    url = ws_url(config)
    plans = []
    for n, group in enumerate(chunked(ordered, config.max_codes_per_connection)):
        msg = subscribe_message(f"{ticket}-{n}", [(ch, group) for ch in chans],
                                fmt=config.format, only_realtime=only_realtime)
        streams = tuple(f"{ch}:{code}" for code in group for ch in chans)
        plans.append(ConnectionPlan(VENUE, url, "", streams, (msg,)))
    return plans


def parse_error(payload: bytes) -> tuple[str, str] | None:
    """``(name, message)`` of an Upbit error frame/body, None for anything else.

    Read by the compiled core (``ticktape::inspect::upbit``); a missing name or message
    reads as "".
    """
    return upbit_error(payload)


# ---------------------------------------------------------------------------- liveness


def ping_message() -> bytes:
    """The text keep-alive; Upbit answers ``{"status":"UP"}`` (send as a *text* frame)."""
    return b"PING"


def is_status_up(payload: bytes) -> bool:
    """True for the keep-alive answer (a status frame, not market data), any whitespace around it."""
    return upbit_status_up(payload)


def heartbeat(config: UpbitConfig = DEFAULT) -> Heartbeat:
    """We must ping (text PING, or a ping frame) before Upbit's 120 s idle cut."""
    return Heartbeat(
        stale_after_s=config.stale_after_s,
        client_ping_interval_s=config.ping_interval_s,
        client_ping=None if config.ping_frame else ping_message(),
        idle_timeout_s=config.idle_timeout_s,
    )


def connect_limiter(config: UpbitConfig = DEFAULT) -> WindowLimit:
    """Per-IP WebSocket connect limit (5/s)."""
    return WindowLimit(config.connect_per_s, 1.0)


def message_limiter(config: UpbitConfig = DEFAULT) -> Limits:
    """Per-connection request limit: 5/s and 100/min, both must admit."""
    return Limits((WindowLimit(config.messages_per_s, 1.0),
                   WindowLimit(config.messages_per_min, 60.0)))


# ---------------------------------------------------------------------------- REST


def _rest(path: str, params: dict[str, object], group: str, config: UpbitConfig) -> RestRequest:
    query = urlencode(params, safe=",")
    return RestRequest("GET", join_url(config.rest_url, path, query), path, 1, group)


def market_all_request(*, details: bool = False, config: UpbitConfig = DEFAULT) -> RestRequest:
    """``GET /v1/market/all`` (group ``market``): every market code and its names."""
    return _rest("/v1/market/all", {"is_details": "true"} if details else {}, "market", config)


def orderbook_request(markets: Sequence[str], *, count: int | None = None,
                      config: UpbitConfig = DEFAULT) -> RestRequest:
    """``GET /v1/orderbook?markets=A,B`` (group ``orderbook``)."""
    params: dict[str, object] = {"markets": ",".join(m.upper() for m in markets)}
    if count is not None:
        params["count"] = count
    return _rest("/v1/orderbook", params, "orderbook", config)


def ticker_request(markets: Sequence[str], *, config: UpbitConfig = DEFAULT) -> RestRequest:
    """``GET /v1/ticker?markets=A,B`` (group ``ticker``)."""
    return _rest("/v1/ticker", {"markets": ",".join(m.upper() for m in markets)}, "ticker", config)


def candles_request(market: str, *, unit: int = 1, count: int = 200, to: str | None = None,
                    config: UpbitConfig = DEFAULT) -> RestRequest:
    """``GET /v1/candles/minutes/{unit}?market=X&count=N[&to=ISO]`` (group ``candle``)."""
    if unit not in (1, 3, 5, 10, 15, 30, 60, 240):
        raise RecorderUsageError("unit must be one of 1, 3, 5, 10, 15, 30, 60, 240")
    if not 1 <= count <= 200:
        raise RecorderUsageError("count must be 1..200")
    params: dict[str, object] = {"market": market.upper(), "count": count}
    if to is not None:
        params["to"] = to
    return _rest(f"/v1/candles/minutes/{unit}", params, "candle", config)


@dataclass(frozen=True, slots=True)
class RemainingReq:
    """A parsed ``Remaining-Req`` header: the group and requests left this second."""

    group: str
    sec: int
    min: int | None = None  # deprecated by Upbit: a fixed value, ignore


def parse_remaining_req(value: str) -> RemainingReq | None:
    """Parse ``group=default; min=1800; sec=29``; None when the header is malformed."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        k, sep, v = part.partition("=")
        if sep:
            fields[k.strip().lower()] = v.strip()
    try:
        group, sec = fields["group"], int(fields["sec"])
        mins = int(fields["min"]) if "min" in fields else None
    except (KeyError, ValueError):
        return None
    return RemainingReq(group, sec, mins)


class UpbitRestLimits:
    """Per-group REST limits (10/s each), tightened by the ``Remaining-Req`` headers seen."""

    def __init__(self, config: UpbitConfig = DEFAULT) -> None:
        self._per_s = config.rest_per_s
        self._groups: dict[str, WindowLimit] = {}
        self._blocked_until: dict[str, float] = {}

    def _limit(self, group: str) -> WindowLimit:
        lim = self._groups.get(group)
        if lim is None:
            lim = self._groups[group] = WindowLimit(self._per_s, 1.0)
        return lim

    def delay(self, now: float, group: str) -> float:
        """Seconds until a request of ``group`` may go (0.0: now)."""
        blocked = self._blocked_until.get(group, 0.0) - now
        return max(blocked, self._limit(group).delay(now), 0.0)

    def take(self, now: float, group: str) -> None:
        """Record a request of ``group`` sent at ``now``."""
        self._limit(group).take(now)

    def observe(self, now: float, header: str) -> RemainingReq | None:
        """Fold in a ``Remaining-Req`` header: ``sec=0`` blocks the group for a second."""
        rem = parse_remaining_req(header)
        if rem is not None and rem.sec <= 0:
            # We cannot see Upbit's second boundary, so wait a whole second to be sure.
            self._blocked_until[rem.group] = now + 1.0
        return rem


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("code not found", ErrorClass.UNKNOWN_SYMBOL),  # 404 for an unknown market
    ("invalid_auth", ErrorClass.AUTH),
    ("jwt", ErrorClass.AUTH),
    ("too_many_requests", ErrorClass.RATE_LIMIT),
    ("too many", ErrorClass.RATE_LIMIT),
    ("wrong_format", ErrorClass.FATAL),  # request array we built wrong
    ("no_ticket", ErrorClass.FATAL),
    ("no_type", ErrorClass.FATAL),
    ("no_codes", ErrorClass.FATAL),
    ("invalid_param", ErrorClass.FATAL),
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: UpbitConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for an Upbit failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def error_text(payload: bytes) -> str | None:
    """``"<name>: <message>"`` of an error frame, None for anything else."""
    err = parse_error(payload)
    return None if err is None else f"{err[0]}: {err[1]}"


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> UpbitConfig:
    """The venue's config from a ``[[venue]]`` table (``RecorderUsageError`` if refused)."""
    return UpbitConfig(ws_url=options.ws_base, rest_url=options.rest_base, format=options.format,
                       max_codes_per_connection=options.max_streams_per_connection,
                       ping_interval_s=options.ping_interval_s, stale_after_s=stale_after_s,
                       backoff=backoff)


class UpbitAdapter(Adapter):
    """Upbit as the supervisor sees it: one request array per connection, text PING, 5 connects/s."""

    venue = VENUE
    frame_rules = VENUE  # error frames (parse_error) and the keep-alive answer (keepalive)
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=partial(is_keepalive, VENUE), error=error_text,
                       connect=connect_limiter, control=message_limiter)

    def plan_options(self) -> dict[str, object]:
        # Upbit wants a unique ticket per request: a fresh one each time we plan.
        return {"ticket": f"ticktape-{self.new_id()}"}

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        plans = self.plans()
        if index < len(plans) and plans[index].streams == plan.streams:
            return plans[index]
        # a slot added while running (plans_for): its own codes, a fresh ticket
        codes = dict.fromkeys(s.split(":", 1)[1] for s in plan.streams)
        return self.plans_for(codes)[0]

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        codes = _codes(plan.streams)
        new = [c for c in _codes(streams) if c not in codes]
        if len(codes) + len(new) > self.vc.max_codes_per_connection:
            return None
        change = self._replace(plan, [*codes, *new])
        return LiveChange(change.plan, change.messages,
                          added=tuple(s for s in change.plan.streams if s not in plan.streams))

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = set(_codes(streams))
        keep = [c for c in _codes(plan.streams) if c not in gone]
        if not keep:
            return None  # an empty request is refused (NO_CODES): the daemon closes it
        change = self._replace(plan, keep)
        return LiveChange(change.plan, change.messages,
                          removed=tuple(s for s in plan.streams if s not in change.plan.streams))

    def _replace(self, plan: ConnectionPlan, codes: list[str]) -> LiveChange:
        """The request array that makes ``codes`` the connection's whole subscription."""
        new_plan = self.plans_for(codes)[0]
        return LiveChange(new_plan, new_plan.messages)


def _codes(streams: Iterable[str]) -> list[str]:
    """The codes of ``<channel>:<code>`` streams (bare codes pass), in order, once each."""
    return list(dict.fromkeys(s.rpartition(":")[2].upper() for s in streams))


CONFIG_FORMATS = ("DEFAULT", "SIMPLE")  # the formats a configuration may choose


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry an orderbook (either format): one substring test."""
    return b'orderbook' in payload


def _format(value: object) -> str | None:
    return None if value in CONFIG_FORMATS else f"one of {', '.join(CONFIG_FORMATS)}"


def _ping_interval(value: object) -> str | None:
    if not isinstance(value, int | float):
        return None
    if value <= 0:
        return "must be > 0"
    if value >= DEFAULT.idle_timeout_s:
        return f"must be under Upbit's {DEFAULT.idle_timeout_s:.0f} s idle cut"
    return None


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="spot",
    channels=CHANNELS,
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$"),
    symbol_example="KRW-BTC",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_codes_per_connection,
                       connects_per_s=DEFAULT.connect_per_s, messages_per_s=DEFAULT.messages_per_s,
                       rest_per_s=DEFAULT.rest_per_s, idle_timeout_s=DEFAULT.idle_timeout_s),
    snapshots=False,  # every orderbook message is a whole book
    sync_rule="upbit",
    adapter=UpbitAdapter,
    options=(
        VenueOption("format", DEFAULT.format, _format),
        VenueOption("ping_interval_s", DEFAULT.ping_interval_s, _ping_interval),
    ),
    book_frame=is_book_frame,
)
