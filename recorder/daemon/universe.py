"""The symbol universe at run time: each venue's instrument list fetched, journaled, applied.

At start (``Universe.start``, before the journal opens) the list of every venue table with
``listing`` is fetched (and Upbit's when a table asks ``not_on_upbit_krw``); a symbol a
venue does not list is refused with one ``ConfigError`` naming, one line each, the
nearest listed ones; ``"all"``, ``include``, ``exclude`` and the filter are expanded into
the table's symbols. Once the journal is open the daemon journals those replies
(``pending``) as ``rest`` records on the venue's API stream, with the time they arrived.

``run(target)`` then refetches every ``universe_refresh_s``: each reply is journaled, and
when what a table selects changed, a ``mark`` ``{"mark": "universe", "delisted": [...],
"listed": [...]}`` goes on the venue's API stream and the newly selected symbols are
subscribed (``target.subscribe``: connections of their own, the open ones untouched). A
delisted symbol is only marked: the venue refuses it on its connection, the connection
journals that and goes on with the others.

The rules themselves are pure (``recorder.venues.universe``, ``recorder.venues.instruments``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from recorder.errors import VenueReplyError
from recorder.venues import VENUES
from recorder.venues.instruments import Instrument, instruments_for
from recorder.venues.universe import Resolved, Selection, diff, krw_bases, resolve, unknown_line

from .config import VenueConfig, config_error
from .logs import fields
from .snapshots import Response, http_get

UPBIT = "upbit"


@dataclass(frozen=True, slots=True)
class Fetched:
    """One instrument-list reply, as it came, and what it parsed to (None: unusable)."""

    venue: str
    url: str
    status: int
    body: bytes
    recv_ns: int
    listed: tuple[Instrument, ...] | None
    error: str = ""
    journal: bool = True  # False: a second market read from a reply journaled already


class Target(Protocol):
    """What ``run`` asks of the daemon (the ``Recorder``; its control-socket methods)."""

    def venues(self) -> dict[str, list[str]]: ...

    def subscribe(self, venue: str, symbols: list[str]) -> tuple[list[str], list[str]]: ...

    def journal_rest(self, venue: str, url: str, status: int, body: bytes,
                     recv_ns: int | None, *, via: str = "control") -> int: ...

    def journal_mark(self, venue: str, text: str, fields: dict[str, Any]) -> int: ...


def selection(v: VenueConfig) -> Selection:
    return Selection(v.symbols, v.include, v.exclude, v.not_on_upbit_krw)


class Universe:
    """The venues' lists for one daemon; ``start`` once, then ``run`` as a task."""

    def __init__(self, venues: tuple[VenueConfig, ...], *, log: logging.Logger,
                 rest_timeout_s: float, refresh_s: float,
                 get: Callable[[str, float], Response] = http_get, upbit_origin: str = "") -> None:
        self.venues = {v.venue: v for v in venues}
        # where Upbit's list comes from with no upbit table (the listing watcher's market
        # list origin, when it runs): the filter "not on Upbit KRW" needs it
        self.upbit_origin = upbit_origin
        self.log = log
        self.rest_timeout_s = rest_timeout_s
        self.refresh_s = refresh_s
        self.get = get
        self.pending: list[Fetched] = []  # fetched before the journal opened
        self.listed: dict[str, tuple[Instrument, ...]] = {}
        self.gone: dict[str, set[str]] = {}  # marked delisted, still on their connections

    def _watched(self) -> list[VenueConfig]:
        """Tables whose list is fetched: ``listing`` on and something to check or select
        (a table of no symbols, as the in-process API starts, is only added to later)."""
        return [v for v in self.venues.values()
                if v.listing and (v.symbols or selection(v).expands)]

    def _upbit_needed(self) -> bool:
        return any(v.not_on_upbit_krw for v in self._watched())

    def markets(self, venue: str) -> tuple[str, ...]:
        """The markets whose lists a table of ``venue`` is checked against: its ``market``; or,
        when it names none, every market of a venue whose symbols name their own market on
        one endpoint (OKX spot and swaps, Phemex spot and contracts), else the first."""
        src = instruments_for(venue)
        assert src is not None  # the configuration refuses listing without one
        v = self.venues.get(venue)
        if v is not None and v.market:
            return (v.market,)
        if VENUES[venue].adapter.picks_market:  # the market picks the endpoint (Bybit, Gate)
            return (src.market(""),)
        return src.markets

    def _base(self, venue: str) -> str:
        """Where ``venue``'s list is asked: its table's REST origin, the watcher's for Upbit
        with no upbit table, else the venue's default."""
        v = self.venues.get(venue)
        if v is not None:
            return v.rest_base
        return self.upbit_origin if venue == UPBIT and self.upbit_origin else VENUES[venue].rest_url

    async def fetch(self, venue: str, market: str = "") -> Fetched:
        """``venue``'s list of ``market`` from its table's REST origin (Upbit's for the filter)."""
        src = instruments_for(venue)
        assert src is not None  # the configuration refuses listing without one
        req = src.request(self._base(venue), market)
        try:
            resp = await asyncio.to_thread(self.get, req.url, self.rest_timeout_s)
        except Exception as exc:  # noqa: BLE001 (network failure: told, recording goes on)
            return Fetched(venue, req.url, 0, str(exc).encode(), time.time_ns(), None,
                           f"{type(exc).__name__}: {exc}")
        recv_ns = time.time_ns()
        if resp.status != 200:
            return Fetched(venue, req.url, resp.status, resp.body, recv_ns, None,
                           f"HTTP {resp.status}")
        try:
            listed = src.parse(resp.body, market)
        except VenueReplyError as exc:
            return Fetched(venue, req.url, resp.status, resp.body, recv_ns, None, str(exc))
        return Fetched(venue, req.url, resp.status, resp.body, recv_ns, listed)

    async def _fetch_venue(self, venue: str) -> list[Fetched]:
        """Each of the venue's markets' lists (one request per distinct URL)."""
        src = instruments_for(venue)
        assert src is not None
        out: list[Fetched] = []
        by_url: dict[str, Fetched] = {}
        for market in self.markets(venue):
            url = src.request(self._base(venue), market).url
            first = by_url.get(url)
            if first is not None and first.listed is not None:  # the same reply, read again
                out.append(dataclasses.replace(first, listed=src.parse(first.body, market),
                                               journal=False))
                continue
            got = await self.fetch(venue, market)
            by_url[url] = got
            out.append(got)
        return out

    async def _fetch_all(self) -> list[Fetched]:
        names = [v.venue for v in self._watched()]
        if self._upbit_needed() and UPBIT not in names:
            names.append(UPBIT)
        per_venue = await asyncio.gather(*(self._fetch_venue(n) for n in names))
        for fs in per_venue:
            failed = [f for f in fs if f.listed is None]
            for f in failed:
                self.log.warning("universe_fetch_failed", extra=fields(
                    venue=f.venue, url=f.url, error=f.error))
            listed = tuple({i.symbol: i for f in fs for i in (f.listed or ())}.values())
            if failed or not fs:
                continue
            if listed:
                self.listed[fs[0].venue] = listed
            else:  # no venue lists nothing: a source we cannot check by
                self.log.warning("universe_empty", extra=fields(venue=fs[0].venue, url=fs[0].url))
        return [f for fs in per_venue for f in fs if f.journal]

    def _resolve(self, v: VenueConfig) -> Resolved | None:
        listed = self.listed.get(v.venue)
        if listed is None or (v.not_on_upbit_krw and UPBIT not in self.listed):
            return None
        krw = krw_bases(self.listed[UPBIT]) if v.not_on_upbit_krw else None
        return resolve(v.venue, listed, selection(v), upbit_krw=krw)

    async def start(self) -> tuple[VenueConfig, ...]:
        """Every venue table with its symbols checked and expanded against its list.

        Raises one ``ConfigError`` naming every unknown symbol (with the nearest listed
        ones) and every table that needs a list it could not get. A table naming its
        symbols whose list could not be fetched is recorded unchecked (logged).
        """
        self.pending = await self._fetch_all()
        problems: list[str] = []
        out = []
        watched = {v.venue for v in self._watched()}
        for i, v in enumerate(self.venues.values()):
            if v.venue not in watched:
                out.append(v)
                continue
            where = f"venue[{i}]"
            got = self._resolve(v)
            if got is None:
                if selection(v).expands:
                    problems.append(f"{where}: could not fetch the instrument list "
                                    f"{v.venue} {'(and Upbit) ' if v.not_on_upbit_krw else ''}"
                                    "that its symbols are chosen from")
                out.append(v)
                continue
            names = [i.symbol for i in self.listed[v.venue]]
            problems += [f"{where}.symbols: {unknown_line(v.venue, s, names)}" for s in got.unknown]
            if not got.symbols and not got.unknown:
                problems.append(f"{where}.symbols: nothing on {v.venue}'s list is selected "
                                f"({len(names)} listed)")
            out.append(dataclasses.replace(v, symbols=got.symbols))
            self.log.info("universe", extra=fields(venue=v.venue, listed=len(names),
                                                   symbols=len(got.symbols),
                                                   dropped=len(got.dropped)))
        if problems:
            raise config_error(problems)
        return tuple(out)  # self.venues keeps the tables as configured: "all" stays "all"

    def unlisted(self, venue: str, symbols: list[str]) -> list[str]:
        """One line for each of ``symbols`` the venue's last fetched list lacks, naming the
        nearest listed ones; none when no list was fetched (``listing = false``)."""
        listed = self.listed.get(venue)
        if listed is None:
            return []
        names = {i.symbol.upper() for i in listed}
        return [unknown_line(venue, s, [i.symbol for i in listed])
                for s in symbols if s.upper() not in names]

    def take_pending(self) -> list[Fetched]:
        out, self.pending = self.pending, []
        return out

    async def refresh(self, target: Target) -> None:
        """Refetch, journal every reply, mark and subscribe what changed."""
        fetched = await self._fetch_all()
        for f in fetched:
            target.journal_rest(f.venue, f.url, f.status, f.body, f.recv_ns, via="universe")
        ok = {f.venue for f in fetched if f.listed is not None}
        served = target.venues()
        for v in self._watched():
            if v.venue not in ok or v.venue not in self.listed:
                continue
            now = self._resolve(v)
            if now is None:
                continue
            gone = self.gone.setdefault(v.venue, set())
            have = [s for s in served.get(v.venue, []) if s not in gone]
            change = diff(have, now, self.listed[v.venue])
            relisted = sorted(gone & set(now.symbols))
            gone -= set(relisted)
            if not change and not relisted:
                continue
            gone |= set(change.delisted)
            info = {"delisted": list(change.delisted), "listed": list(change.listed),
                    "listed_count": len(self.listed[v.venue])}
            target.journal_mark(v.venue, "universe", info)
            self.log.warning("universe_changed", extra=fields(venue=v.venue, **info))
            new = [s for s in change.listed if s not in served.get(v.venue, [])]
            if new and selection(v).expands:
                target.subscribe(v.venue, new)

    async def run(self, target: Target) -> None:
        """``refresh`` every ``refresh_s`` until cancelled (never with 0)."""
        if self.refresh_s <= 0:
            return
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh(target)
            except Exception as exc:  # noqa: BLE001 (the next hour tries again)
                self.log.error("universe_refresh_failed", extra=fields(
                    error=f"{type(exc).__name__}: {exc}"))
