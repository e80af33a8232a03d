"""The symbol universe, pure: which listed symbols a venue table records, and how they pool.

    sel = Selection(symbols=("all",), include=("*USDT",), exclude=("*DOWN*",),
                    not_on_upbit_krw=True)
    got = resolve("binance-usdm", listed, sel, upbit_krw=krw_bases(upbit_listed))
    got.symbols          # what to record, in listed order
    got.unknown          # named symbols the venue does not list: refuse them
    raise unknown_error("binance-usdm", got.unknown, listed)   # one line per symbol

Rules, in order: the named symbols (``"all"``: every listed one) plus the listed ones
matching an ``include`` glob; minus those matching an ``exclude`` glob; with
``not_on_upbit_krw``, minus those whose base asset Upbit lists as a KRW market (what is
left: coins Upbit has not listed, watched on the overseas market; ``1000SHIB`` counts as
SHIB). Globs and names match
case-insensitively; the symbols returned are the venue's own spelling.

``diff(old, new)`` says what a refetch changed; ``plan_pool`` splits topics over
connections and spreads the subscribe messages over time within ``pool_limits(venue)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recorder.errors import ConfigError

from .instruments import Instrument

ALL = "ALL"  # symbols = "all" (upper-cased as every configured symbol is)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a venue table asks for (``VenueConfig``'s symbols, include, exclude, filter)."""

    symbols: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    not_on_upbit_krw: bool = False

    @property
    def expands(self) -> bool:
        """True when the symbols come from the list (``"all"``, ``include``, the filter):
        without the list nothing can be recorded."""
        return (any(s.upper() == ALL for s in self.symbols) or bool(self.include)
                or bool(self.exclude) or self.not_on_upbit_krw)


@dataclass(frozen=True, slots=True)
class Resolved:
    symbols: tuple[str, ...]  # to record, the venue's spelling, listed order
    unknown: tuple[str, ...]  # named, not listed (as configured)
    dropped: tuple[str, ...] = ()  # selected, then removed by exclude or the Upbit filter


def krw_bases(upbit: Iterable[Instrument]) -> frozenset[str]:
    """Base assets Upbit lists as KRW markets (``KRW-BTC`` -> ``BTC``)."""
    return frozenset(i.base for i in upbit if i.quote == "KRW")


_MULTIPLIER = re.compile(r"^(?:1000000|100000|10000|1000|100|1M|1K)(?=[A-Z])")


def coin(base: str) -> str:
    """The coin a base asset counts: ``1000SHIB`` (a contract of 1,000 SHIB) is SHIB."""
    return _MULTIPLIER.sub("", base.upper())


def _matches(symbol: str, patterns: Sequence[str]) -> bool:
    s = symbol.upper()
    return any(fnmatch.fnmatchcase(s, p.upper()) for p in patterns)


def resolve(venue: str, listed: Sequence[Instrument], sel: Selection, *,
            upbit_krw: frozenset[str] | None = None) -> Resolved:
    """The symbols ``sel`` selects from ``listed`` (module docstring).

    ``upbit_krw`` (``krw_bases``) is required when ``sel.not_on_upbit_krw``.
    """
    if sel.not_on_upbit_krw and upbit_krw is None:
        raise ValueError("not_on_upbit_krw needs Upbit's list (upbit_krw)")
    by_name = {i.symbol.upper(): i for i in listed}
    want_all = any(s.upper() == ALL for s in sel.symbols)
    named = [s for s in sel.symbols if s.upper() != ALL]
    unknown = tuple(s for s in named if s.upper() not in by_name)
    chosen: dict[str, Instrument] = {}
    for i in listed:
        if want_all or (sel.include and _matches(i.symbol, sel.include)):
            chosen[i.symbol] = i
    for s in named:
        if s.upper() in by_name:
            i = by_name[s.upper()]
            chosen.setdefault(i.symbol, i)
    order = {i.symbol: n for n, i in enumerate(listed)}
    keep, dropped = [], []
    for sym, i in sorted(chosen.items(), key=lambda kv: order[kv[0]]):
        if (sel.exclude and _matches(sym, sel.exclude)) or (
                sel.not_on_upbit_krw and upbit_krw is not None and coin(i.base) in upbit_krw):
            dropped.append(sym)
        else:
            keep.append(sym)
    return Resolved(tuple(keep), unknown, tuple(dropped))


def nearest(symbol: str, listed: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` listed names closest to ``symbol`` (difflib ratio, ties to the longer
    common start: KRW-BTX is nearer KRW-BTC than KRW-TRX), best first."""
    want = symbol.upper()
    names = {s.upper(): s for s in listed}
    m = difflib.SequenceMatcher(b=want)
    scored = []
    for name in names:
        m.set_seq1(name)
        if m.real_quick_ratio() >= 0.6 and m.quick_ratio() >= 0.6 and m.ratio() >= 0.6:
            prefix = len(os.path.commonprefix([name, want]))
            scored.append((-round(m.ratio(), 6), -prefix, name))
    return [names[t[2]] for t in sorted(scored)[:n]]


def unknown_line(venue: str, symbol: str, listed: Iterable[str]) -> str:
    """``binance-usdm does not list BTCUSDX (nearest: BTCUSDT, ...)`` on one line."""
    near = nearest(symbol, listed)
    hint = f"nearest: {', '.join(near)}" if near else "none listed is close"
    return f"{venue} does not list {symbol} ({hint})"


def unknown_error(venue: str, unknown: Sequence[str], listed: Sequence[Instrument],
                  where: str = "") -> ConfigError:
    """One ``ConfigError`` naming every unknown symbol, one line each (``.problems``)."""
    names = [i.symbol for i in listed]
    prefix = f"{where}.symbols: " if where else ""
    problems = [prefix + unknown_line(venue, s, names) for s in unknown]
    # the shape of recorder.daemon.config.config_error (the daemon sits above this package)
    text = problems[0] if len(problems) == 1 else (
        f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems))
    exc = ConfigError(text)
    exc.problems = problems  # type: ignore[attr-defined]
    return exc


@dataclass(frozen=True, slots=True)
class Change:
    """What a refetched list changed for a venue table."""

    delisted: tuple[str, ...]  # recorded, no longer listed
    listed: tuple[str, ...]  # newly selected by the table's rules

    def __bool__(self) -> bool:
        return bool(self.delisted or self.listed)


def diff(recorded: Sequence[str], now: Resolved, listed: Sequence[Instrument]) -> Change:
    """``recorded`` (what runs) against a fresh ``now`` of the same table over ``listed``."""
    names = {i.symbol.upper() for i in listed}
    have = {s.upper() for s in recorded}
    return Change(tuple(s for s in recorded if s.upper() not in names),
                  tuple(s for s in now.symbols if s.upper() not in have))


# ------------------------------------------------------------------------------ pooling


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """What one connection may carry and how fast we may talk on it."""

    topics_per_connection: int  # streams, args, codes, subscriptions
    topics_per_message: int  # topics one subscribe message may name
    messages_per_s: float  # our messages per connection per second
    chars_per_connection: int | None = None  # Bybit: total length of "args"
    source: str = ""
    messages_per_min: float | None = None  # Upbit: also 100 a minute per connection


# Venues whose descriptor does not say (or says only part); the descriptor wins where it
# has ``limits.streams_per_connection`` / ``limits.messages_per_s``. Each number's source.
POOL_LIMITS: dict[str, PoolLimits] = {
    "binance-usdm": PoolLimits(200, 50, 10.0, source="PROTOCOLS.md 1.2: 10 incoming "
                               "messages/s, 200 streams (safe value of 200/1024); 50 a "
                               "SUBSCRIBE is binance_usdm.params_per_subscribe"),
    "binance-spot": PoolLimits(1024, 50, 5.0, source="PROTOCOLS.md 2: 1024 streams, "
                               "5 incoming messages/s on spot"),
    "upbit": PoolLimits(200, 200, 5.0, source="PROTOCOLS.md 3.5: 5 requests/s and "
                        "100/min per connection; codes a connection: upbit.max_codes",
                        messages_per_min=100),
    "bybit": PoolLimits(1000, 10, 10.0, chars_per_connection=21_000, source="PROTOCOLS.md 4: "
                        "spot 10 args a request, 21,000 characters of args a connection"),
    "okx": PoolLimits(1000, 100, 480 / 3600, source="PROTOCOLS.md 5: 480 subscribe requests "
                      "an hour per connection; args a request not documented (100 chosen)"),
    "gate": PoolLimits(1000, 100, 10.0, source="not documented in PROTOCOLS.md 6 (chosen)"),
    "kucoin": PoolLimits(300, 100, 10.0, source="PROTOCOLS.md 7: 300 topics a connection, "
                         "100 a batch subscribe, 100 uplink messages per 10 s"),
    "phemex": PoolLimits(20, 20, 20.0, source="PROTOCOLS.md 8: 20 subscriptions a "
                         "connection, 20 requests/s"),
}
DEFAULT_LIMITS = PoolLimits(100, 10, 1.0, source="a venue not in POOL_LIMITS: cautious")
SAFETY = 0.8  # of a documented message rate: clocks and the venue's window differ


def pool_limits(venue: str, descriptor_limits: object | None = None) -> PoolLimits:
    """The table's limits for ``venue``, the descriptor's ``VenueLimits`` taking precedence."""
    base = POOL_LIMITS.get(venue, DEFAULT_LIMITS)
    per_conn = getattr(descriptor_limits, "streams_per_connection", None) or base.topics_per_connection
    rate = getattr(descriptor_limits, "messages_per_s", None) or base.messages_per_s
    return dataclasses.replace(base, topics_per_connection=per_conn, messages_per_s=rate,
                               topics_per_message=min(base.topics_per_message, per_conn))


@dataclass(frozen=True, slots=True)
class Subscribe:
    at_s: float  # seconds after the connection opens
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PoolPlan:
    connections: tuple[tuple[Subscribe, ...], ...]  # each connection's messages, in order

    @property
    def topics(self) -> list[str]:
        return [t for c in self.connections for m in c for t in m.topics]


def plan_pool(topics: Sequence[str], limits: PoolLimits, *, safety: float = SAFETY) -> PoolPlan:
    """``topics`` split over as few connections as ``limits`` allow, each connection's
    subscribe messages ``1 / (rate * safety)`` s apart (the first at 0; further apart where
    a per-minute limit is stricter).

    Any window of one second then holds at most ``ceil(rate * safety)`` messages of a
    connection, and no connection carries more topics (or args characters) than allowed.
    """
    if limits.topics_per_connection < 1 or limits.topics_per_message < 1 or limits.messages_per_s <= 0:
        raise ValueError(f"unusable limits {limits}")
    gap = 1.0 / (limits.messages_per_s * safety)
    if limits.messages_per_min is not None:
        gap = max(gap, 60.0 / (limits.messages_per_min * safety))
    conns: list[list[str]] = [[]]
    chars = 0
    for t in dict.fromkeys(topics):
        full = len(conns[-1]) >= limits.topics_per_connection or (
            limits.chars_per_connection is not None
            and chars + len(t) + 3 > limits.chars_per_connection)  # quotes and comma
        if full and conns[-1]:
            conns.append([])
            chars = 0
        conns[-1].append(t)
        chars += len(t) + 3
    out = []
    for c in conns:
        if not c:
            continue
        n = limits.topics_per_message
        msgs = [c[i:i + n] for i in range(0, len(c), n)]
        out.append(tuple(Subscribe(round(k * gap, 6), tuple(m)) for k, m in enumerate(msgs)))
    return PoolPlan(tuple(out))


def max_per_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most ``times`` falling in any half-open window of ``window_s`` (for checks)."""
    ts = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def connections_needed(n_topics: int, limits: PoolLimits) -> int:
    return math.ceil(n_topics / limits.topics_per_connection)
