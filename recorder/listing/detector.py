"""The listing detector: a pure state machine fed Upbit responses, giving new listings.

    det = Detector.start(notices=first_page.notices, markets=first_markets,
                         announced=pairs_from_the_journal)
    found = det.on_notices(page.notices, recv_ts_ns=rec.recv_ts_ns)
    found = det.on_markets(parse_markets(body), recv_ts_ns=rec.recv_ts_ns)
    found.krw      # new KRW listings: act on these
    found.other    # BTC/USDT-only additions: log them
    blob = det.to_json()   # journal it; Detector.from_json(blob) resumes

What is there at start is history, never a listing: the first notices page, the first
market list and what the journal already announced. After that a listing is a coin and
market pair (``("DEEP", "KRW")``) seen for the first time, from either signal:

    on_notices   a listing title (``titles.parse_title``) names the pair; announced_at is
                 the notice's first visibility (``first_listed_at``, else ``listed_at``)
    on_markets   the pair's market code (``KRW-DEEP``) appears in ``/v1/market/all`` with
                 no notice before it; notice_id None, announced_at the receive time

So a notice seen twice, edited (``need_update_badge``, a re-stamped ``listed_at``, a
note appended to its title) or re-posted under a new id gives nothing new, nor does the
market appearing after its notice. A coin named without any market is reported once in
``other`` with no markets.

Known limit: a market code once seen is never new again, so a coin delisted and listed
again is found by its notice only.

No clock: every time comes in with the response (``recv_ts_ns``, the record's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from recorder.errors import RecorderUsageError

from .notices import Notice
from .titles import MARKETS, parse_title

_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Listing:
    """One coin's new markets, from one signal."""

    ticker: str
    name: str  # as the notice writes it ("" from the market list or a bare ticker)
    markets: tuple[str, ...]  # the new ones only, in ``MARKETS`` order
    notice_id: int | None  # None: found in ``/v1/market/all`` before any notice
    title: str  # the notice's title ("" from the market list)
    announced_at_ns: int  # first visibility of the notice (or the receive time)
    detected_at_ns: int  # receive time of the response that showed it

    @property
    def krw(self) -> bool:
        return "KRW" in self.markets


@dataclass(frozen=True, slots=True)
class Found:
    """What one response brought: new KRW listings, and other additions (to log)."""

    krw: tuple[Listing, ...] = ()
    other: tuple[Listing, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.krw or self.other)


class _State(msgspec.Struct, frozen=True, kw_only=True):
    """The detector's state as written to JSON (sorted, so equal states write equal bytes)."""

    version: int
    announced: list[tuple[str, str]]  # (ticker, market); market "" for a listing without one
    markets_seen: list[str]  # every market code /v1/market/all ever showed


@dataclass(slots=True)
class Detector:
    """Seen pairs and market codes; ``on_notices`` and ``on_markets`` move it on."""

    announced: set[tuple[str, str]] = field(default_factory=set)
    markets_seen: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, *, notices: Iterable[Notice] = (), markets: Iterable[str] = (),
              announced: Iterable[tuple[str, str]] = ()) -> Detector:
        """A detector that holds all of this as history (nothing in it is ever reported):
        the first notices page, the first market codes, the pairs the journal announced."""
        det = cls()
        det.markets_seen.update(_checked_codes(markets))
        for ticker, market in announced:
            det.announced.add(_checked_pair(ticker, market))
        det.on_notices(notices, recv_ts_ns=0)
        return det

    def on_notices(self, notices: Iterable[Notice], *, recv_ts_ns: int) -> Found:
        """The new listings of one announcements response (oldest notice first)."""
        krw: list[Listing] = []
        other: list[Listing] = []
        for notice in sorted(notices, key=lambda n: (n.announced_at_ns, n.id)):
            info = parse_title(notice.title)
            if not info.is_listing:
                continue
            for coin in info.coins:
                keys = [(coin.ticker, m) for m in coin.markets] or [(coin.ticker, "")]
                new = [k for k in keys
                       if k not in self.announced and f"{k[1]}-{k[0]}" not in self.markets_seen]
                self.announced.update(keys)
                if not new:
                    continue
                got = Listing(coin.ticker, coin.name, tuple(m for _, m in new if m), notice.id,
                              notice.title, notice.announced_at_ns, recv_ts_ns)
                (krw if got.krw else other).append(got)
        return Found(tuple(krw), tuple(other))

    def on_markets(self, markets: Iterable[str], *, recv_ts_ns: int) -> Found:
        """The new listings of one ``/v1/market/all`` response (its market codes)."""
        new: dict[str, set[str]] = {}
        for code in sorted(_checked_codes(markets)):
            if code in self.markets_seen:
                continue
            self.markets_seen.add(code)
            quote, _, base = code.partition("-")
            if (base, quote) in self.announced:  # its notice came first: reported then
                continue
            self.announced.add((base, quote))
            new.setdefault(base, set()).add(quote)
        krw: list[Listing] = []
        other: list[Listing] = []
        for base in sorted(new):
            got = Listing(base, "", tuple(m for m in MARKETS if m in new[base]) or
                          tuple(sorted(new[base])), None, "", recv_ts_ns, recv_ts_ns)
            (krw if got.krw else other).append(got)
        return Found(tuple(krw), tuple(other))

    def to_json(self) -> bytes:
        """The state as JSON bytes, equal for equal states; ``Detector.from_json`` reads it."""
        return msgspec.json.encode(_State(version=_STATE_VERSION,
                                          announced=sorted(self.announced),
                                          markets_seen=sorted(self.markets_seen)))

    @classmethod
    def from_json(cls, blob: bytes) -> Detector:
        """A detector resumed from ``to_json``'s bytes; ``RecorderUsageError`` for others."""
        try:
            state = msgspec.json.decode(blob, type=_State)
        except (msgspec.DecodeError, TypeError, RecursionError) as exc:
            raise RecorderUsageError(f"not a listing detector state: {exc}") from None
        if state.version != _STATE_VERSION:
            raise RecorderUsageError(f"listing detector state version {state.version}, "
                                     f"this code reads {_STATE_VERSION}")
        det = cls()
        det.markets_seen.update(_checked_codes(state.markets_seen))
        det.announced.update(_checked_pair(t, m) for t, m in state.announced)
        return det


def _checked_pair(ticker: str, market: str) -> tuple[str, str]:
    if not isinstance(ticker, str) or not ticker or market not in (*MARKETS, ""):
        raise RecorderUsageError(f"not a (ticker, market) pair: {(ticker, market)!r}")
    return ticker, market


def _checked_codes(codes: Iterable[str]) -> set[str]:
    out = set()
    for code in codes:
        if not isinstance(code, str) or "-" not in code.strip("-"):
            raise RecorderUsageError(f"not a market code (QUOTE-BASE): {code!r}")
        out.add(code)
    return out
