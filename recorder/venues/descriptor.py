"""What the rest of ticktape knows of a venue: its ``VenueDescriptor`` and its ``Adapter``.

A venue is one protocol module in this package (its rules, an ``Adapter`` subclass and
a ``DESCRIPTOR``), one decoder in ``state/decode`` and one entry in
``recorder.venues.VENUES``. The daemon, its configuration and the CLI read every
per-venue fact from the descriptor, never from a table of their own:

    d = recorder.venues.descriptor_for("binance-usdm")
    d.channels, d.ws_url, d.symbol_pattern.match("BTCUSDT"), d.snapshots, d.sync_rule
    adapter = d.adapter(venue_config, backoff=..., stale_after_s=60.0, new_id=...)

Sans-I/O like the protocol modules: an adapter opens no socket, reads no clock and
draws no random number (a fresh request id comes from ``new_id``, which the daemon
supplies). It only answers the supervisor's questions from the venue's rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .base import Backoff, ConnectionPlan, Heartbeat, RestRequest, Verdict, WindowLimit


class VenueOptions(Protocol):
    """What an adapter reads of one ``[[venue]]`` table (``recorder.daemon.config.VenueConfig``)."""

    venue: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    snapshots: bool
    snapshot_limit: int
    weight_limit_per_min: int
    rotate_after_s: float
    subscribe: bool
    format: str
    ping_interval_s: float
    max_streams_per_connection: int
    market: str  # the venue's market where it has several; "" = its first

    @property
    def ws_base(self) -> str: ...

    @property
    def rest_base(self) -> str: ...


class WeightLimiter(Protocol):
    """A REST budget: ``delay`` before a call, ``take`` when it goes, the venue's own count."""

    def delay(self, now: float, n: int = 1) -> float: ...

    def take(self, now: float, n: int = 1) -> None: ...

    def observe_used(self, now: float, used: int) -> None: ...


class SnapshotSource(Protocol):
    """The snapshot capability: how to fetch a REST book snapshot that resyncs a diff book.

    The daemon asks ``request(symbol)``, waits until ``budget().delay(now, req.weight)``
    is 0, journals the body as it came, then reads ``last_update_id(body)`` (which raises
    ``recorder.errors.VenueReplyError`` for a body that is no snapshot).
    """

    def request(self, symbol: str) -> RestRequest: ...

    def budget(self) -> WeightLimiter: ...

    def used_weight(self, headers: Mapping[str, str]) -> int | None: ...

    def last_update_id(self, body: bytes) -> int: ...


@dataclass(frozen=True, slots=True)
class VenueRules:
    """A venue module's rules, as its adapter declares them (``Adapter.rules``).

    configure  ``(options, *, backoff, stale_after_s)``: the venue's config from a
               ``[[venue]]`` table; ``RecorderUsageError`` for a value it refuses
    plan       ``(symbols, channels, *, config, **Adapter.plan_options())``: the plans
    heartbeat  ``(config)``: the ``Heartbeat``
    classify   ``(*, config, status=, close_code=, exc=, message=, retry_after=)``: a ``Verdict``
    keepalive  ``(payload)``: True for a keep-alive answer (None: the venue sends none)
    error      ``(payload)``: the venue's error text of an error reply, else None (None:
               the venue sends no error replies we read)
    connect    ``(config)``: the per-IP connect limit (None: no limit)
    control    ``(config)``: a fresh per-connection limiter of live changes (None: no limit)
    snapshots  ``(config)``: the ``SnapshotSource`` resyncing ``snapshot_channel``'s books,
               used when the configuration records that channel with snapshots on
    """

    configure: Callable[..., Any]
    plan: Callable[..., list[ConnectionPlan]]
    heartbeat: Callable[[Any], Heartbeat]
    classify: Callable[..., Verdict]
    keepalive: Callable[[bytes], bool] | None = None
    error: Callable[[bytes], str | None] | None = None
    connect: Callable[[Any], WindowLimit] | None = None
    control: Callable[[Any], ControlLimiter] | None = None
    snapshots: Callable[[Any], SnapshotSource] | None = None
    snapshot_channel: str = ""


class Adapter:
    """What the daemon's supervisor asks of a venue; one instance per ``[[venue]]``.

    Subclasses (one per venue module) fill in the venue's answers. Capabilities are
    attributes, None when the venue (or its configuration) has none:

    - ``connect_limit``: a per-IP connect limit; ask ``delay(now)`` and ``take(now)``
      before each connect.
    - ``snapshots``: a ``SnapshotSource``; its diff books (``depth_symbols``) are resynced
      by REST snapshots.
    - ``rotate_after_s``: open a replacement connection this long after each open.
    - ``ping_interval``: send WebSocket ping frames this often (None: the venue pings us).
    - ``market``: the stream table's market when the configuration picks it (Gate's
      ``spot``/``futures``: the projection keys futures symbols by it); None: the
      descriptor's ``market``.
    - ``frame_rules``: the name of the compiled core's frame rules for its connections
      (``ticktape_core.inspect_frames``: keep-alive answers and error replies, a batch of
      frames a call); None: every frame is data and none is an error reply.
      ``keepalive`` and ``frame_error`` answer the same for one frame.
    - ``greeting``: the venue greets each new connection with a message before it takes
      requests (KuCoin's ``welcome``): the plan's messages wait for the first frame.

    A REST call before connecting (KuCoin's token): ``pre_connect(plan)`` returns the
    ``RestRequest`` (None: connect at once, the default). The daemon makes the call on
    every connection attempt, journals the reply as a ``rest`` record on that
    connection's stream before it opens, then connects to ``connect_plan(plan, body)``
    (the reply turned into the plan's URL; ``VenueReplyError`` for a body it cannot use).
    A refused call is classified and retried like a refused handshake.

    Live subscription changes (a symbol added or removed while a connection is open):

    - ``subscribe_messages(plan, streams)`` / ``unsubscribe_messages(plan, streams)``: the
      ``LiveChange`` that adds (removes) ``streams`` (as ``plans_for`` names them) on the
      open connection of ``plan``, or None when this connection cannot: another route, no
      room within the venue's per-connection limit, or a venue that can only subscribe
      when connecting (the daemon then opens a new connection, or reconnects that one).
      The change's ``plan`` is what a reconnect of that slot opens from then on (the
      current set of streams), its ``messages`` the bytes to send now, in order, and its
      ``ids`` the request ids whose answers ``answer`` recognises (empty: the venue sends
      no acknowledgement, only an error frame when it refuses).
    - ``control_limiter()``: a fresh per-connection limiter (``delay(now)``,
      ``try_take(now)``) every message of a live change passes; None: no limit.
    - ``answer(payload)``: ``(request_id, error or None)`` when ``payload`` answers one of
      our requests, else None. Called only while a change awaits its answers.

    A venue declares its module's rules in ``rules`` (a ``VenueRules``); the base calls
    them with the venue's config (``vc``, from ``rules.configure``), so an adapter holds no
    wrapper of its own around them. ``plan_options()`` gives the venue's own keywords of
    ``rules.plan`` for one planning (a fresh ticket...). ``picks_market``: the config's
    ``market`` is the stream table's (``market``). Live request ids of ours come from
    ``next_live_id()``, counting up from ``live_first_id`` per adapter.
    """

    venue: ClassVar[str] = ""
    frame_rules: ClassVar[str | None] = None
    market: str | None = None
    rotate_after_s: float | None = None
    ping_interval: float | None = None
    connect_limit: WindowLimit | None = None
    snapshots: SnapshotSource | None = None
    greeting: bool = False
    vc: Any  # the venue's config, from ``rules.configure``
    rules: ClassVar[VenueRules]
    picks_market: ClassVar[bool] = False
    live_first_id: ClassVar[int] = 1

    def __init__(self, options: VenueOptions, *, backoff: Backoff, stale_after_s: float,
                 new_id: Callable[[], str]) -> None:
        self.options = options
        self.backoff = backoff
        self.stale_after_s = stale_after_s
        self.new_id = new_id
        rules = self.rules
        self.vc = rules.configure(options, backoff=backoff, stale_after_s=stale_after_s)
        self._live_id = self.live_first_id - 1
        if self.picks_market:
            self.market = self.vc.market
        if rules.connect is not None:
            self.connect_limit = rules.connect(self.vc)
        if rules.snapshots is not None and options.snapshots and rules.snapshot_channel in options.channels:
            self.snapshots = rules.snapshots(self.vc)

    def next_live_id(self) -> int:
        """A fresh id for a live request of ours (per adapter, counting up)."""
        self._live_id += 1
        return self._live_id

    def plans(self) -> list[ConnectionPlan]:
        """The connections to open, one supervisor slot each."""
        return self.plans_for(self.options.symbols)

    def plans_for(self, symbols: Iterable[str]) -> list[ConnectionPlan]:
        """The connections that would carry ``symbols`` (on the configured channels), by
        the venue's plan rules: what a symbol added while running is recorded on, beside
        the connections already open."""
        return self.rules.plan(symbols, self.options.channels, config=self.vc, **self.plan_options())

    def plan_options(self) -> dict[str, Any]:
        """The venue's own keywords of ``rules.plan`` for one planning (a fresh ticket...)."""
        return {}

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        """The plan for the next connection of slot ``index`` (fresh request ids etc.)."""
        return plan

    def pre_connect(self, plan: ConnectionPlan) -> RestRequest | None:
        """The REST call to make before connecting ``plan`` (None: none)."""
        return None

    def connect_plan(self, plan: ConnectionPlan, body: bytes) -> ConnectionPlan:
        """``plan`` with the URL (and anything else) the ``pre_connect`` reply ``body`` gives."""
        return plan

    def heartbeat(self) -> Heartbeat:
        """Keep-alive rules; asked again after each ``connect_plan`` (a reply may set them)."""
        return self.rules.heartbeat(self.vc)

    def classify(self, **kw: Any) -> Verdict:
        """The ``Verdict`` for a failure (``status``, ``close_code``, ``exc``, ``message``...)."""
        return self.rules.classify(config=self.vc, **kw)

    def keepalive(self) -> Callable[[bytes], bool] | None:
        """A test for keep-alive answers (they do not prove the feed alive), or None."""
        return self.rules.keepalive

    def frame_error(self, payload: bytes) -> str | None:
        """The venue's error text when ``payload`` is an error reply, else None."""
        return None if self.rules.error is None else self.rules.error(payload)

    def depth_symbols(self, plan: ConnectionPlan) -> list[str]:
        """Symbols whose diff-depth stream ``plan`` carries (synced by ``snapshots``)."""
        return []

    def subscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        """Add ``streams`` to the open connection of ``plan``; None: it needs a new connection."""
        return None

    def unsubscribe_messages(self, plan: ConnectionPlan, streams: Sequence[str]) -> LiveChange | None:
        """Remove ``streams`` from the open connection of ``plan``; None: reconnect it instead."""
        return None

    def control_limiter(self) -> ControlLimiter | None:
        """A new per-connection limiter for the messages of live changes; None: no limit."""
        return None if self.rules.control is None else self.rules.control(self.vc)

    def answer(self, payload: bytes) -> tuple[int | str, str | None] | None:
        """``(request_id, error text or None)`` when ``payload`` answers a request of ours."""
        return None


class ControlLimiter(Protocol):
    """A per-connection message limit (``base.TokenBucket``, ``base.Limits``)."""

    def delay(self, now: float, n: int = 1) -> float: ...

    def try_take(self, now: float, n: int = 1) -> bool: ...


@dataclass(frozen=True, slots=True)
class LiveChange:
    """A subscription change on an open connection (``Adapter.subscribe_messages``).

    plan      the slot's plan after the change: what a reconnect opens and subscribes
    messages  what to send now, in order (each journaled as ``sent``)
    ids       request ids of ``messages`` the venue answers (``Adapter.answer``)
    added     streams the change adds; ``removed`` those it removes
    """

    plan: ConnectionPlan
    messages: tuple[bytes, ...]
    ids: tuple[int | str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def _any(value: Any) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class VenueOption:
    """A ``[[venue]]`` key this venue owns: its default and what a value must be.

    ``check(value)`` returns what is wrong with a value ("one of [5, 10]") or None. The
    configuration applies it wherever the key is given, so a bad value is refused the
    same way for every venue table.
    """

    key: str
    default: Any
    check: Callable[[Any], str | None] = _any


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """The venue's documented limits (what its plans and budgets are built to)."""

    streams_per_connection: int  # streams (or codes) one connection may carry
    connects_per_s: int | None = None  # WebSocket connects per IP per second
    messages_per_s: float | None = None  # our messages per connection per second
    rest_weight_per_min: int | None = None  # REST request weight per IP per minute
    rest_per_s: int | None = None  # REST requests per second (per group) per IP
    idle_timeout_s: float | None = None  # the venue cuts a connection silent this long
    max_connection_s: float | None = None  # the venue cuts every connection this old


@dataclass(frozen=True, slots=True)
class VenueDescriptor:
    """Everything venue-specific the daemon, its configuration and the CLI need.

    name            the venue's name: config ``venue =``, the journal's stream venue,
                    the key of its decoder (``state.decode.DECODERS``)
    market          the ``market`` written into the stream table ("usdm", "spot")
    channels        channel names a configuration may ask for
    ws_url/rest_url default origins (a config's ``ws_url``/``rest_url`` replaces them)
    symbol_pattern  what a native symbol looks like; ``symbol_example`` shows one
    limits          documented limits
    snapshots       the snapshot capability: REST snapshots resync its diff books
    sync_rule       its book sync rule, a key of ``state.sync.RULES``
    adapter         the ``Adapter`` subclass the daemon drives it through
    options         the ``[[venue]]`` keys it owns (defaults and checks)
    book_frame      a cheap test that a frame may carry book data (None: any may); what
                    only follows the books (a sync-only projection) skips the others
    """

    name: str
    market: str
    channels: tuple[str, ...]
    ws_url: str
    rest_url: str
    symbol_pattern: re.Pattern[str]
    symbol_example: str
    limits: VenueLimits
    snapshots: bool
    sync_rule: str
    adapter: type[Adapter]
    options: tuple[VenueOption, ...] = ()
    book_frame: Callable[[bytes], bool] | None = None

    def is_symbol(self, symbol: str) -> bool:
        """True when ``symbol`` is spelled the way this venue spells its symbols."""
        return self.symbol_pattern.match(symbol) is not None
