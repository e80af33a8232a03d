"""Phemex market-data protocol rules, sans-I/O: endpoint, JSON-RPC subscribes, keep-alive, limits.

What the daemon does with this module:

- ``plan_connections(symbols, channels)`` -> ``ConnectionPlan`` list; each plan's messages
  are JSON-RPC requests, one per (channel, symbol): ``{"id":1,"method":
  "orderbook.subscribe","params":["BTCUSD"]}`` (``kline.subscribe`` also takes the
  interval: ``["BTCUSD",60]``). A request is acked ``{"error":null,"id":1,"result":
  {"status":"success"}}``; a refused one carries ``"error":{"code":..,"message":..}``.
- The client keeps the connection alive: ``server.ping`` (``ping_message``) every
  ``ping_interval_s`` (5-30 s); Phemex answers ``{"error":null,"id":0,"result":"pong"}``
  and drops a connection that sent no heartbeat for 30 s.
- Books: the first message after ``orderbook.subscribe`` is ``type`` ``snapshot``, then
  ``incremental`` (30 levels); the continuity rule (``state.sync.RULES["phemex"]``,
  "increasing": each message's ``sequence`` must grow) lives in the compiled core. A
  break is healed by the next snapshot: Phemex sends one on every (re)subscribe (a
  reconnect resyncs) and publishes one every 60 s "for client self-verification", so a
  broken book is whole again within a minute without us asking. There is no REST
  snapshot to fetch (``DESCRIPTOR.snapshots`` is False), and the recorder does not yet
  resubscribe a broken book (``orderbook.unsubscribe`` drops every book of the connection).
- Live changes (``PhemexAdapter.subscribe_messages``): a ``<channel>.subscribe`` per
  stream with an id of ours (from ``LIVE_FIRST_ID``), acked like the plan's. Removing a
  book while other books stay on the connection is None (the daemon reconnects it on
  what remains): ``orderbook.unsubscribe`` cannot name one symbol.
- On ``trade.subscribe`` Phemex first sends its last 200 trades (``type`` snapshot): after
  a reconnect these repeat trades already journaled.
- Prices and sizes are scaled integers (``priceEp``: 10^4 contracts, 10^8 spot); the
  decoder (``state.decode.phemex``) unscales them. The journal keeps the frames as sent.

Symbols: contracts are upper case (``BTCUSD``), spot symbols start with a lower-case
``s`` (``sBTCUSDT``). The recorder's configuration upper-cases every symbol, so
``native_symbol`` maps ``SBTCUSDT`` back to ``sBTCUSDT``: a symbol starting with S and
ending in a spot quote (USDT, USDC) is spot. USDT-M perpetuals (``trade_p``, ``BTCUSDT``
with no prefix) and the lower-case-prefixed legacy contracts (``uBTCUSD``, ``cETHUSD``)
are therefore not recordable through this module.

What this relies on: Phemex's official docs, ``phemex/phemex-api-docs`` @ 2f54a92
(2024-06-17), ``Public-Contract-API-en.md`` and ``Public-Spot-API-en.md`` (read for this
module): heartbeat "with interval less than 30 seconds, otherwise DataGW will drop the
connection" (WS ping frames or ``server.ping``; 5 s recommended), "concurrent connection
limit to 5", "subscription limit to 20" and "throttle limit to 20 request/s" per
connection, the 60 s book snapshots, the 200 history trades, the unsubscribe forms and
``kline.subscribe`` ``[symbol, interval]``. Those docs name ``wss://phemex.com/ws`` (the
2021 capture connected there too); the endpoint used here, ``wss://ws.phemex.com`` with
no path, is the lead's brief and was not found in that docs snapshot
(``PhemexConfig.ws_path`` names a path where one is wanted). Not re-verified against the
live site. The ack, book, trade and kline shapes are the ones in the real 2021 capture
(``data/captures/cryptofeed/PHEMEX.jsonl.zst``). The error reply for an unknown symbol
(``{"code":6001,"message":"invalid argument"}``) is taken from third-party clients, not
confirmed in Phemex's docs. The ``tick`` channel (``tick.subscribe``) takes an index
symbol, not a trading one: Phemex names the price index of a base currency ``.<BASE>``
("index symbol follows a pattern .<BASECURRENCY>", ``Public-Contract-API-en.md``), so a
configured symbol's ``tick`` subscribes its base's index (``BTCUSD`` and ``sBTCUSDT`` ->
``.BTC``; ``index_symbol``). Its frames, ``{"tick":{"last":..,"scale":4,"symbol":".BTC",
"timestamp":..}}``, are decoded as tickers of ``.BTC`` (``state.decode.phemex``). Two
symbols of one base both subscribe that index; the mark (``.M<BASE>``) and funding-rate
series are not offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
    chunked,
    classify,
    join_url,
    origin,
    parse_retry_after,
)
from .descriptor import Adapter, LiveChange, VenueDescriptor, VenueLimits, VenueOptions, VenueRules

VENUE = "phemex"
# channel -> the JSON-RPC method that subscribes it (and the extra params after the symbol)
CHANNELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "orderbook": ("orderbook", ()),
    "trade": ("trade", ()),
    "kline": ("kline", (60,)),  # 1-minute bars, what the capture recorded
    "tick": ("tick", ()),  # the symbol's base index (.BTC): see index_symbol
}
BY_INDEX = frozenset({"tick"})  # channels whose param is the symbol's index, not the symbol
SPOT_QUOTES = ("USDT", "USDC")
PING_ID = 0  # the id of every server.ping (subscribes count from 1)
LIVE_FIRST_ID = 1000  # live changes count from here: never a plan's 1..20 nor a ping's 0


@dataclass(frozen=True, slots=True)
class PhemexConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://ws.phemex.com"  # only scheme/host/port are used
    ws_path: str = ""  # the endpoint is the bare host (the 2021 docs: phemex.com/ws)
    rest_url: str = "https://api.phemex.com"
    max_subscriptions_per_connection: int = 20  # documented per-connection limit
    max_connections: int = 5  # concurrent connections per client
    requests_per_s: int = 20  # per connection
    idle_timeout_s: float = 30.0  # no heartbeat this long: Phemex drops the connection
    ping_interval_s: float = 15.0  # documented 5-30 s; well inside the cut
    stale_after_s: float = 60.0  # no frame at all this long: reconnect
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if not 1 <= self.max_subscriptions_per_connection:
            raise RecorderUsageError("max_subscriptions_per_connection must be >= 1")
        if not 0 < self.ping_interval_s < self.idle_timeout_s:
            raise RecorderUsageError("ping_interval_s must be > 0 and under the idle cut")


DEFAULT = PhemexConfig()


def ws_url(config: PhemexConfig = DEFAULT) -> str:
    """The market-data endpoint, ``wss://ws.phemex.com`` by default (an override keeps the path)."""
    return join_url(config.ws_url, config.ws_path)


# ---------------------------------------------------------------------------- symbols


def native_symbol(symbol: str) -> str:
    """Phemex's spelling of ``symbol`` as a configuration gives it (upper-cased).

    ``SBTCUSDT`` -> ``sBTCUSDT`` (spot); ``BTCUSD`` stays (contract).
    """
    if symbol[:1] in ("s", "S") and symbol.upper().endswith(SPOT_QUOTES) and len(symbol) > 5:
        return "s" + symbol[1:].upper()
    return symbol.upper()


def is_spot(symbol: str) -> bool:
    """True for a spot symbol (``sBTCUSDT``)."""
    return native_symbol(symbol).startswith("s")


def index_symbol(symbol: str) -> str:
    """The price index of a symbol's base currency, what ``tick.subscribe`` takes.

    ``BTCUSD`` -> ``.BTC`` (a contract quoted in USD), ``sBTCUSDT`` -> ``.BTC`` (spot).
    """
    native = native_symbol(symbol)
    pair, quotes = (native[1:], SPOT_QUOTES) if native.startswith("s") else (native, ("USD",))
    for quote in quotes:
        if pair.endswith(quote) and len(pair) > len(quote):
            return "." + pair[:-len(quote)]
    raise RecorderUsageError(f"{symbol!r} names no Phemex index: not <BASE>USD nor s<BASE>USDT/USDC")


def _param(channel: str, symbol: str) -> str:
    """The symbol a channel's requests name: the index for ``tick``, else the symbol."""
    return index_symbol(symbol) if channel in BY_INDEX else native_symbol(symbol)


# ---------------------------------------------------------------------------- requests


def request(method: str, params: Iterable[object], req_id: int) -> bytes:
    """One JSON-RPC request: ``{"id":N,"method":"...","params":[...]}``."""
    return msgspec.json.encode({"id": req_id, "method": method, "params": list(params)})


def subscribe_message(channel: str, symbol: str, req_id: int = 1) -> bytes:
    """``<channel>.subscribe`` for one symbol (Phemex takes one symbol a request)."""
    method, extra = _channel(channel)
    return request(f"{method}.subscribe", (_param(channel, symbol), *extra), req_id)


def unsubscribe_message(channel: str, symbol: str | None = None, req_id: int = 1) -> bytes:
    """``<channel>.unsubscribe`` (same ack shape as subscribe).

    Trades, klines and ticks take one symbol (a tick its index) or none (all of the
    connection's); the order book takes no symbol: ``orderbook.unsubscribe`` always drops
    every book of the connection.
    """
    method, _ = _channel(channel)
    params = () if symbol is None or channel == "orderbook" else (_param(channel, symbol),)
    return request(f"{method}.unsubscribe", params, req_id)


def _channel(channel: str) -> tuple[str, tuple[int, ...]]:
    try:
        return CHANNELS[channel]
    except KeyError:
        raise RecorderUsageError(f"unknown Phemex channel {channel!r}; one of {tuple(CHANNELS)}") from None


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     config: PhemexConfig = DEFAULT) -> list[ConnectionPlan]:
    """Split (channel, symbol) subscriptions over connections of at most 20 each.

    A symbol's channels stay on one connection where they fit. Each plan sends one
    request per subscription (ids 1..n); at most 20 of them, so the burst stays within
    20 requests/s. ``plan.streams`` lists ``<channel>:<symbol>``. More connections than
    the venue's 5 per client is a ``RecorderUsageError``.
    """
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        _channel(ch)
    if not chans:
        raise RecorderUsageError("at least one channel is required")
    ordered = list(dict.fromkeys(native_symbol(s) for s in symbols))
    per_conn = config.max_subscriptions_per_connection
    per_symbol = len(chans)
    streams = [f"{ch}:{s}" for s in ordered for ch in chans]
    size = per_conn - per_conn % per_symbol if per_symbol <= per_conn else per_conn
    groups = chunked(streams, size)
    if len(groups) > config.max_connections:
        raise RecorderUsageError(
            f"{len(streams)} subscriptions need {len(groups)} connections; Phemex allows "
            f"{config.max_connections} of {per_conn} each")
    url = ws_url(config)
    plans = []
    for group in groups:
        msgs = tuple(subscribe_message(*s.split(":", 1), req_id=i)
                     for i, s in enumerate(group, start=1))
        plans.append(ConnectionPlan(VENUE, url, "", group, msgs))
    return plans


# ---------------------------------------------------------------------------- replies


class _Err(msgspec.Struct, frozen=True):
    code: int = 0
    message: str = ""


class Reply(msgspec.Struct, frozen=True):
    """A JSON-RPC reply: ``id``, ``error`` (null when fine) and ``result``."""

    id: int | None = None
    error: _Err | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")

    @property
    def ok(self) -> bool:
        return self.error is None


_reply = msgspec.json.Decoder(Reply)


def parse_reply(payload: bytes) -> Reply | None:
    """The reply in ``payload``, or None for a data frame or anything else."""
    if b'"id"' not in payload or b'"result"' not in payload and b'"error"' not in payload:
        return None
    try:
        return _reply.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def frame_error(payload: bytes) -> str | None:
    """``"<code>: <message>"`` of an error reply, None for anything else."""
    rep = parse_reply(payload)
    if rep is None or rep.error is None:
        return None
    return f"{rep.error.code}: {rep.error.message}"


# ---------------------------------------------------------------------------- liveness


def ping_message(req_id: int = PING_ID) -> bytes:
    """``{"id":0,"method":"server.ping","params":[]}``; answered ``"result":"pong"``."""
    return request("server.ping", (), req_id)


def is_pong(payload: bytes) -> bool:
    """True for the keep-alive answer (not market data)."""
    rep = parse_reply(payload) if b'"pong"' in payload else None
    return rep is not None and rep.ok and bytes(rep.result) == b'"pong"'


def heartbeat(config: PhemexConfig = DEFAULT) -> Heartbeat:
    """We must send ``server.ping`` (text) before Phemex's 30 s cut."""
    return Heartbeat(stale_after_s=config.stale_after_s,
                     client_ping_interval_s=config.ping_interval_s,
                     client_ping=ping_message(), idle_timeout_s=config.idle_timeout_s)


def request_limiter(config: PhemexConfig = DEFAULT) -> WindowLimit:
    """Per-connection request limit (20/s)."""
    return WindowLimit(config.requests_per_s, 1.0)


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("invalid argument", ErrorClass.UNKNOWN_SYMBOL),  # 6001: an unknown symbol (third-party reports)
    ("too many", ErrorClass.RATE_LIMIT),
    ("rate limit", ErrorClass.RATE_LIMIT),
    ("method not found", ErrorClass.FATAL),  # a request we built wrong
    ("unauthorized", ErrorClass.AUTH),
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: PhemexConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for a Phemex failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> PhemexConfig:
    """The venue's config from a ``[[venue]]`` table (``RecorderUsageError`` if refused)."""
    # ping_interval_s is a shared [[venue]] key (Upbit's default is 60 s): Phemex pings
    # at the shorter of it and 15 s, always inside the 30 s cut.
    return PhemexConfig(
        ws_url=options.ws_base, rest_url=options.rest_base,
        max_subscriptions_per_connection=min(options.max_streams_per_connection,
                                             DEFAULT.max_subscriptions_per_connection),
        ping_interval_s=min(options.ping_interval_s, DEFAULT.ping_interval_s),
        stale_after_s=stale_after_s, backoff=backoff)


class PhemexAdapter(Adapter):
    """Phemex as the supervisor sees it: JSON-RPC subscribes, 20 a connection, our server.ping.

    ``frame_rules``: the compiled core reads every frame by this module's rules
    (``ticktape::inspect::phemex``): a pong is a keep-alive answer, not data, and a refused
    request is an error reply; ``keepalive`` and ``frame_error`` are the reference it
    matches, one frame a call.
    """

    venue = VENUE
    frame_rules = VENUE
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=is_pong, error=frame_error, control=request_limiter)
    live_first_id = LIVE_FIRST_ID + 1  # ids 1001 on: above every plan id (1..20) and the ping's 0

    # Live changes: one ``<channel>.subscribe`` (``.unsubscribe``) per stream, ids from
    # our own counter. ``orderbook.unsubscribe`` takes no symbol and drops every book of
    # the connection, so removing one book while others stay cannot be done in place.

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        if not all(s.partition(":")[0] in self.options.channels for s in new):
            return None
        if len(plan.streams) + len(new) > self.vc.max_subscriptions_per_connection:
            return None
        msgs, ids = [], []
        for s in new:
            ids.append(self.next_live_id())
            msgs.append(subscribe_message(*s.split(":", 1), req_id=ids[-1]))
        return LiveChange(self._plan(plan, (*plan.streams, *new)), tuple(msgs), tuple(ids),
                          added=tuple(new))

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left: the daemon closes the connection
        books_gone = [s for s in gone if s.startswith("orderbook:")]
        if books_gone and any(s.startswith("orderbook:") for s in keep):
            return None  # orderbook.unsubscribe would drop the books that stay: reconnect
        msgs, ids = [], []
        if books_gone:
            ids.append(self.next_live_id())
            msgs.append(unsubscribe_message("orderbook", req_id=ids[-1]))
        for s in gone:
            if not s.startswith("orderbook:"):
                ids.append(self.next_live_id())
                msgs.append(unsubscribe_message(*s.split(":", 1), req_id=ids[-1]))
        return LiveChange(self._plan(plan, keep), tuple(msgs), tuple(ids), removed=tuple(gone))

    def _plan(self, plan: ConnectionPlan, streams: tuple[str, ...]) -> ConnectionPlan:
        """The plan a reconnect opens: a subscribe per stream, ids 1..n as planned ones."""
        msgs = tuple(subscribe_message(*s.split(":", 1), req_id=i)
                     for i, s in enumerate(streams, start=1))
        return ConnectionPlan(VENUE, plan.url, plan.route, streams, msgs)

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        rep = parse_reply(payload)
        if rep is None or rep.id is None or rep.id < LIVE_FIRST_ID:
            return None  # a ping's or a plan's answer
        return rep.id, None if rep.error is None else f"{rep.error.code}: {rep.error.message}"


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry a book (snapshot or incremental): one substring test."""
    return b'"book"' in payload


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="",  # contracts and spot on one endpoint; the symbol says which
    channels=tuple(CHANNELS),
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^(?:[sS][A-Z0-9]{2,20}(?:USDT|USDC)|[A-Z0-9]{2,20}USD)$"),
    symbol_example="BTCUSD",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_subscriptions_per_connection,
                       messages_per_s=DEFAULT.requests_per_s,
                       idle_timeout_s=DEFAULT.idle_timeout_s),
    snapshots=False,  # books come as a WebSocket snapshot on every subscribe
    sync_rule="phemex",
    adapter=PhemexAdapter,
    book_frame=is_book_frame,
)
