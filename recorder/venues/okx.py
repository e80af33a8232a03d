"""OKX v5 public WebSocket rules, sans-I/O: endpoint, subscribe args, text ping, limits, resync.

What the daemon does with this module:

- ``plan_connections(symbols, channels)`` -> ``ConnectionPlan`` list. Every connection goes
  to ``/ws/v5/public``; its messages are ``{"op":"subscribe","args":[{"channel":..,
  "instId":..},..]}`` sent right after the handshake. ``plan.streams`` lists
  ``<channel>:<instId>``.
- OKX acks each arg: ``{"event":"subscribe","arg":{..},"connId":".."}``; a refusal is
  ``{"event":"error","code":"60018","msg":"..","connId":".."}`` (``parse_event``). A
  service upgrade is announced 30 s ahead by ``{"event":"notice","code":"64008",..}``.
- OKX cuts a connection with no subscription or no push for 30 s. We send the text
  ``ping`` after ``ping_interval_s`` (< 30 s) and OKX answers the text ``pong``
  (``is_pong``: a keep-alive answer, not data).
- ``books`` (400 levels) is a snapshot then updates chained by ``prevSeqId``/``seqId``,
  each carrying ``checksum``, the signed CRC32 of the top 25 levels. The check is
  ``state.sync`` rule ``okx`` (the compiled core). A break is repaired on the same
  connection: ``resubscribe_messages(instId)`` = unsubscribe then subscribe that one book;
  the fresh subscription starts with a snapshot (``prevSeqId`` -1). Other books and
  channels on the connection are untouched. No REST snapshot is needed.
- Live changes (``OkxAdapter.subscribe_messages``): subscribe/unsubscribe ops with an ``id``
  of ours, answered per arg by an ack or an error echoing it; a reconnect subscribes the
  current set. Known gaps: the first answer to an id settles the change, so an error for
  a later arg of the same request is journaled but does not revert it; and live changes
  (``control_limiter``) and book resyncs (``op_limiter``) each count 480 an hour on their
  own, so a connection doing many of both could pass OKX's shared 480.
- Limits: 3 connects/s per IP (``connect_limiter``); 480 subscribe/unsubscribe/login ops
  per connection per hour (``op_limiter``: a resubscribe spends two); subscribe args of one
  request at most 64 KB (we send at most ``args_per_message`` args, ~50 bytes each, well
  under even the older 4096-byte limit); "less than 30" 400/50-level book channels per
  connection (``max_books_per_connection``).

Facts relied on (``/work/shared/PROTOCOLS.md`` §5, from verbatim copies of
https://www.okx.com/docs-v5/en/, market data section updated 2026-01-15): the URLs, the
subscribe/ack/error shapes, the 30 s cut and ``ping``/``pong``, the connect and op limits,
the seqId rules and the checksum. Error codes (checked in OKX's WebSocket error-code table):
60012 invalid request, 60013 invalid args, 60014 requests too frequent, 60018 "Wrong URL or
channel:{0},instId:{1} doesn't exist", 60019 invalid op, 64008 upgrade notice.

Known limit: ``books`` together with ``books5``/``bbo-tbt`` is refused by
``plan_connections``: the decoder (``state/decode``, the compiled core) keys all three to
one book per instrument, so a 5- or 1-level push replaces the 400-level book and the next
``books`` checksum fails. Record them in separate ``[[venue]]`` runs until the core keeps
them apart.

Data frames are text JSON; journal them as they are. ``candle*`` and ``trades-all`` live on
``/ws/v5/business`` and are not offered here.
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
    chunked,
    classify,
    join_url,
    origin,
    parse_retry_after,
)
from .descriptor import Adapter, LiveChange, VenueDescriptor, VenueLimits, VenueOptions, VenueRules

VENUE = "okx"
# As OKX spells them. books: 400 levels, snapshot + updates (seqId, checksum); books5: 5-level
# snapshots; bbo-tbt: top of book; trades: aggregated per taker order; tickers: 24 h stats.
CHANNELS = ("books", "books5", "bbo-tbt", "trades", "tickers")
SHALLOW_BOOKS = frozenset({"books5", "bbo-tbt"})  # whole-book pushes without a checksum
DEEP_BOOKS = frozenset({"books", "books50-l2-tbt", "books-l2-tbt"})  # the "< 30 per connection" ones
PING = b"ping"
PONG = b"pong"


@dataclass(frozen=True, slots=True)
class OkxConfig:
    """Every URL, limit and interval of the venue; defaults are the documented values."""

    ws_url: str = "wss://ws.okx.com:8443"  # only scheme/host/port are used
    ws_path: str = "/ws/v5/public"
    rest_url: str = "https://www.okx.com"
    max_args_per_connection: int = 200  # no documented cap on args; keep one failure small
    max_books_per_connection: int = 29  # "each of less than 30 channels" (400/50-level books)
    args_per_message: int = 50  # ~50 bytes an arg: far under 64 KB (and the older 4096 bytes)
    idle_timeout_s: float = 30.0  # no subscription or no push for 30 s: OKX cuts
    ping_interval_s: float = 20.0  # "N seconds ... less than 30"
    stale_after_s: float = 60.0  # no data frame for this long: reconnect
    connect_per_s: int = 3  # WebSocket connects per second per IP
    ops_per_hour: int = 480  # subscribe/unsubscribe/login requests per connection per hour
    backoff: Backoff = field(default_factory=lambda: Backoff(rate_limit_s=1.0))

    def __post_init__(self) -> None:
        origin(self.ws_url)
        origin(self.rest_url)
        if min(self.max_args_per_connection, self.max_books_per_connection,
               self.args_per_message) < 1:
            raise RecorderUsageError("per-connection and per-message arg counts must be >= 1")
        if not 0 < self.ping_interval_s < self.idle_timeout_s:
            raise RecorderUsageError("ping_interval_s must be > 0 and under the 30 s idle cut")


DEFAULT = OkxConfig()


def ws_url(config: OkxConfig = DEFAULT) -> str:
    """The public endpoint, ``wss://ws.okx.com:8443/ws/v5/public`` by default."""
    return join_url(config.ws_url, config.ws_path)


# ---------------------------------------------------------------------------- requests


def stream_name(channel: str, inst_id: str) -> str:
    """``<channel>:<instId>``, the bookkeeping name of one subscription arg."""
    return f"{channel}:{inst_id}"


def split_stream(stream: str) -> tuple[str, str]:
    """``(channel, instId)`` of a ``stream_name``."""
    channel, _, inst = stream.partition(":")
    return channel, inst


def _op_message(op: str, args: Sequence[tuple[str, str]], request_id: str | None) -> bytes:
    msg: dict[str, object] = {}
    if request_id is not None:
        if not (request_id.isalnum() and len(request_id) <= 32):
            raise RecorderUsageError("an OKX request id is 1..32 alphanumerics")
        msg["id"] = request_id
    msg["op"] = op
    msg["args"] = [{"channel": ch, "instId": inst} for ch, inst in args]
    return msgspec.json.encode(msg)


def subscribe_message(args: Sequence[tuple[str, str]], request_id: str | None = None) -> bytes:
    """``{"op":"subscribe","args":[{"channel":..,"instId":..},..]}`` (optional ``id`` echoed back)."""
    return _op_message("subscribe", args, request_id)


def unsubscribe_message(args: Sequence[tuple[str, str]], request_id: str | None = None) -> bytes:
    """``{"op":"unsubscribe","args":[..]}``; OKX acks with ``"event":"unsubscribe"``."""
    return _op_message("unsubscribe", args, request_id)


def resubscribe_messages(inst_id: str, channel: str = "books") -> tuple[bytes, bytes]:
    """Unsubscribe then subscribe one book: what repairs a checksum or seqId break.

    Send both on the connection carrying that book (``op_limiter`` counts two ops); the
    next ``books`` frame for it is a snapshot (``prevSeqId`` -1) that restarts the book.
    """
    arg = [(channel, inst_id)]
    return unsubscribe_message(arg), subscribe_message(arg)


def plan_connections(symbols: Iterable[str], channels: Iterable[str], *,
                     config: OkxConfig = DEFAULT) -> list[ConnectionPlan]:
    """Split symbols x channels over connections, symbol-major (one instrument's channels
    share a connection when the limits allow): at most ``max_args_per_connection`` args
    and ``max_books_per_connection`` deep books each, ``args_per_message`` args a message."""
    chans = list(dict.fromkeys(channels))
    for ch in chans:
        if ch not in CHANNELS:
            raise RecorderUsageError(f"unknown OKX channel {ch!r}; choose from {CHANNELS}")
    if "books" in chans and not SHALLOW_BOOKS.isdisjoint(chans):
        raise RecorderUsageError(
            "OKX books cannot be recorded with books5/bbo-tbt of the same instruments yet: the "
            "projection folds all three into one book, so every books5/bbo-tbt push breaks the "
            "books checksum (and each break costs a resubscribe)")
    url = ws_url(config)
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    books = 0
    for inst in dict.fromkeys(s.upper() for s in symbols):
        args = [(ch, inst) for ch in chans]
        deep = sum(ch in DEEP_BOOKS for ch in chans)
        if current and (len(current) + len(args) > config.max_args_per_connection
                        or books + deep > config.max_books_per_connection):
            groups.append(current)
            current, books = [], 0
        current.extend(args)
        books += deep
    if current:
        groups.append(current)
    plans = []
    for group in groups:
        msgs = tuple(subscribe_message(part) for part in chunked(group, config.args_per_message))
        streams = tuple(stream_name(ch, inst) for ch, inst in group)
        plans.append(ConnectionPlan(VENUE, url, "", streams, msgs))
    return plans


# ---------------------------------------------------------------------------- replies


class _Arg(msgspec.Struct, frozen=True):
    channel: str = ""  # the channel as subscribed
    instId: str = ""  # noqa: N815 (venue field name)


class _Event(msgspec.Struct, frozen=True):
    event: str | None = None  # subscribe | unsubscribe | error | notice | login ...
    arg: _Arg | None = None  # the arg an ack answers
    code: str = ""  # error/notice code, a string ("60018")
    msg: str = ""  # its text
    id: str | None = None  # our request id, echoed
    connId: str = ""  # noqa: N815 (venue field name: the connection's id at OKX)


_event = msgspec.json.Decoder(_Event)


@dataclass(frozen=True, slots=True)
class Reply:
    """A control reply: an ack (``subscribe``/``unsubscribe``), an ``error`` or a ``notice``."""

    event: str
    channel: str
    inst_id: str
    code: str
    msg: str
    request_id: str | None

    @property
    def ok(self) -> bool:
        return self.event in ("subscribe", "unsubscribe")


def parse_event(payload: bytes) -> Reply | None:
    """The ``Reply`` in a frame, or None for data (``{"arg":..,"data":..}``), ``pong`` or garbage."""
    if not payload.startswith(b'{"event"') and b'"event"' not in payload[:64]:
        return None  # data frames start with "arg"; never parse them
    try:
        ev = _event.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if ev.event is None:
        return None
    arg = ev.arg or _Arg()
    return Reply(ev.event, arg.channel, arg.instId, ev.code, ev.msg, ev.id)


def frame_error(payload: bytes) -> str | None:
    """``"<code>: <msg>"`` for an error reply or a notice (64008: reconnect soon), else None."""
    reply = parse_event(payload)
    if reply is None or reply.event not in ("error", "notice"):
        return None
    return f"{reply.code}: {reply.msg}"


# ---------------------------------------------------------------------------- liveness


def is_pong(payload: bytes) -> bool:
    """True for the keep-alive answer, the text ``pong``."""
    return payload.strip() == PONG


def heartbeat(config: OkxConfig = DEFAULT) -> Heartbeat:
    """We must send the text ``ping`` well inside OKX's 30 s cut; it answers ``pong``."""
    return Heartbeat(
        stale_after_s=config.stale_after_s,
        client_ping_interval_s=config.ping_interval_s,
        client_ping=PING,
        idle_timeout_s=config.idle_timeout_s,
    )


def connect_limiter(config: OkxConfig = DEFAULT) -> WindowLimit:
    """Per-IP WebSocket connect limit (3/s)."""
    return WindowLimit(config.connect_per_s, 1.0)


def op_limiter(config: OkxConfig = DEFAULT) -> WindowLimit:
    """Per-connection subscribe/unsubscribe/login ops: 480 an hour."""
    return WindowLimit(config.ops_per_hour, 3600.0)


# ---------------------------------------------------------------------------- errors

MARKERS: tuple[tuple[str, ErrorClass], ...] = (
    ("60018", ErrorClass.UNKNOWN_SYMBOL),  # Wrong URL or channel:..,instId:.. doesn't exist
    ("doesn't exist", ErrorClass.UNKNOWN_SYMBOL),
    ("60014", ErrorClass.RATE_LIMIT),  # Requests too frequent
    ("too frequent", ErrorClass.RATE_LIMIT),
    ("64008", ErrorClass.NETWORK),  # service upgrade: reconnect
    ("60012", ErrorClass.FATAL),  # Invalid request: a message we built wrong
    ("60013", ErrorClass.FATAL),  # Invalid args
    ("60019", ErrorClass.FATAL),  # Invalid op
    ("60011", ErrorClass.AUTH),  # Please log in (a channel that needs login)
    ("60009", ErrorClass.AUTH),  # Login failure
)


def classify_error(*, status: int | None = None, close_code: int | None = None,
                   exc: str | None = None, message: str | bytes | None = None,
                   retry_after: str | bytes | float | None = None,
                   config: OkxConfig = DEFAULT) -> Verdict:
    """The ``Verdict`` (class, retry?, minimum wait) for an OKX failure; pure."""
    cls = classify(status=status, close_code=close_code, exc=exc, message=message,
                   markers=MARKERS)
    reason = " ".join(f"{k}={v}" for k, v in (("status", status), ("close", close_code),
                                               ("exc", exc)) if v is not None)
    return config.backoff.verdict(cls, retry_after=parse_retry_after(retry_after),
                                  close_code=close_code, reason=reason)


# ---------------------------------------------------------------------------- the daemon's view


def adapter_config(options: VenueOptions, *, backoff: Backoff, stale_after_s: float) -> OkxConfig:
    """The venue's config from a ``[[venue]]`` table (``RecorderUsageError`` if refused)."""
    return OkxConfig(
        ws_url=options.ws_base, rest_url=options.rest_base,
        max_args_per_connection=options.max_streams_per_connection,
        # the shared ping_interval_s key defaults to Upbit's 60 s: never past OKX's cut
        ping_interval_s=min(options.ping_interval_s, DEFAULT.ping_interval_s),
        stale_after_s=stale_after_s, backoff=backoff)


class OkxAdapter(Adapter):
    """OKX as the supervisor sees it: subscribe args per connection, text ping, 3 connects/s.

    ``frame_rules``: the compiled core reads every frame by this module's rules
    (``ticktape::inspect::okx``): ``pong`` is a keep-alive answer, not data, and an
    ``error``/``notice`` is an error reply; ``keepalive``/``frame_error`` are the
    reference it matches. Books resync by ``resync_messages`` on their own connection.
    """

    venue = VENUE
    frame_rules = VENUE
    # control: 480 ops an hour per connection (a book resync's two ops have their own budget)
    rules = VenueRules(adapter_config, plan_connections, heartbeat, classify_error,
                       keepalive=is_pong, error=frame_error, connect=connect_limiter,
                       control=op_limiter)

    def book_symbols(self, plan: ConnectionPlan) -> list[str]:
        """Instruments whose ``books`` (checksummed, seqId-chained) ``plan`` carries."""
        return [inst for ch, inst in map(split_stream, plan.streams) if ch == "books"]

    def resync_messages(self, inst_id: str) -> tuple[bytes, bytes]:
        """What to send on the connection carrying ``inst_id``'s book after a Gap."""
        return resubscribe_messages(inst_id)

    def op_limiter(self) -> WindowLimit:
        """A fresh per-connection op budget (480 subscribe/unsubscribe an hour)."""
        return op_limiter(self.vc)

    # Live changes: subscribe/unsubscribe ops on the open connection, each with an ``id``
    # from our own counter (OKX echoes it in every ack and error of the request). OKX acks
    # per arg; the first answer to an id settles it.

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        new = [s for s in dict.fromkeys(streams) if s not in plan.streams]
        current = (*plan.streams, *new)
        if len(current) > self.vc.max_args_per_connection:
            return None
        if sum(split_stream(s)[0] in DEEP_BOOKS for s in current) > self.vc.max_books_per_connection:
            return None
        return self._change(plan, current, new, subscribe_message, added=new)

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        gone = [s for s in dict.fromkeys(streams) if s in plan.streams]
        keep = tuple(s for s in plan.streams if s not in gone)
        if not keep:
            return None  # nothing left: OKX cuts a connection without subscriptions anyway
        return self._change(plan, keep, gone, unsubscribe_message, removed=gone)

    def _change(self, plan: ConnectionPlan, streams: tuple[str, ...], changed: list[str],
                message: Callable[[Sequence[tuple[str, str]], str | None], bytes], *,
                added: Sequence[str] = (), removed: Sequence[str] = ()) -> LiveChange:
        args = [split_stream(s) for s in changed]
        parts = chunked(args, self.vc.args_per_message) if args else []
        ids = [f"live{self.next_live_id()}" for _ in parts]
        msgs = tuple(message(p, i) for p, i in zip(parts, ids, strict=True))
        resub = tuple(subscribe_message(p) for p in chunked([split_stream(s) for s in streams],
                                                            self.vc.args_per_message))
        new_plan = ConnectionPlan(VENUE, plan.url, plan.route, streams, resub)
        return LiveChange(new_plan, msgs, tuple(ids), tuple(added), tuple(removed))

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        reply = parse_event(payload)
        if reply is None or reply.request_id is None:
            return None
        if reply.ok:
            return reply.request_id, None
        if reply.event == "error":
            return reply.request_id, f"{reply.code}: {reply.msg}"
        return None


def is_book_frame(payload: bytes) -> bool:
    """True for a frame that may carry book data (books, books5, bbo-tbt): one substring test."""
    return b'"channel":"books' in payload[:64] or b'"channel":"bbo-tbt"' in payload[:64]


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    market="spot",  # instIds name their own kind: BTC-USDT, BTC-USDT-SWAP, BTC-USD-220527
    channels=CHANNELS,
    ws_url=DEFAULT.ws_url,
    rest_url=DEFAULT.rest_url,
    symbol_pattern=re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-[A-Z0-9]{1,20}){0,3}$"),
    symbol_example="BTC-USDT",
    limits=VenueLimits(streams_per_connection=DEFAULT.max_args_per_connection,
                       connects_per_s=DEFAULT.connect_per_s,
                       messages_per_s=DEFAULT.ops_per_hour / 3600.0,
                       idle_timeout_s=DEFAULT.idle_timeout_s),
    snapshots=False,  # books resync by resubscribing on the WebSocket, not by REST
    sync_rule="okx",
    adapter=OkxAdapter,
    book_frame=is_book_frame,
)
