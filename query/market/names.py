"""Which symbols a venue lists, and a caller's name for one (native or normalized) as the
venue's symbol key.

A venue's universe comes from its own list (Upbit ``/v1/market/all``, Binance
``exchangeInfo``), fetched once per ``Universe`` and kept; ``resolve`` then accepts the
native name in any case (``KRW-BTC``, ``btcusdt``) or the normalized one (``BTC-KRW``,
``BTC-USDT-PERP``, ``BTC-USDT``) and raises ``UnknownSymbolError`` naming the listed ones.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from state.symbols import normalize

from .errors import BadResponseError, UnknownSymbolError
from .rest import VENUES, check_venue

# Where each venue lists its symbols.
LISTING_PATHS: dict[str, str] = {
    "upbit": "/v1/market/all",
    "binance-usdm": "/fapi/v1/exchangeInfo",
    "binance-spot": "/api/v3/exchangeInfo",
}


def listed(venue: str, body: bytes) -> list[str]:
    """The native symbols in a listing reply (Binance: those trading now)."""
    what = f"{venue} symbol list"
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadResponseError(what, "", f"not JSON: {exc}") from None
    if venue == "upbit":
        if not isinstance(doc, list):
            raise BadResponseError(what, "", "not a list")
        return [r["market"] for r in doc if isinstance(r, dict) and isinstance(r.get("market"), str)]
    if not isinstance(doc, dict) or not isinstance(doc.get("symbols"), list):
        raise BadResponseError(what, "symbols", "missing or not a list")
    return [s["symbol"] for s in doc["symbols"]
            if isinstance(s, dict) and isinstance(s.get("symbol"), str)
            and s.get("status", "TRADING") == "TRADING"]


class Universe:
    """Every venue's listed symbols, fetched on first need through ``fetch(venue) -> body``."""

    def __init__(self, fetch: Callable[[str], Awaitable[bytes]], *, refresh_s: float = 60.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._symbols: dict[str, tuple[str, ...]] = {}
        self._by_name: dict[str, dict[str, str]] = {}
        self._fetched: dict[str, float] = {}
        self.refresh_s = refresh_s  # an unknown name refetches a list at least this old
        self._now = now

    def known(self, venue: str) -> bool:
        return venue in self._symbols

    def set(self, venue: str, symbols: Iterable[str]) -> None:
        """Take ``symbols`` as ``venue``'s list (from a listing reply, or a test)."""
        syms = tuple(sorted(set(symbols)))
        names: dict[str, str] = {}
        for s in syms:
            names[normalize(venue, s)] = s
        for s in syms:  # a native name wins over a normalized one that happens to equal it
            names[s.upper()] = s
        self._symbols[venue] = syms
        self._by_name[venue] = names

    async def symbols(self, venue: str) -> tuple[str, ...]:
        check_venue(venue)
        if venue not in self._symbols:
            await self._load(venue)
        return self._symbols[venue]

    async def _load(self, venue: str) -> None:
        self.set(venue, listed(venue, await self._fetch(venue)))
        self._fetched[venue] = self._now()

    async def resolve(self, venue: str, symbol: str) -> str:
        """The venue's key for ``symbol`` (native in any case, or normalized)."""
        syms = await self.symbols(venue)
        if not isinstance(symbol, str):
            raise UnknownSymbolError(venue, repr(symbol), syms)
        name = symbol.strip().upper()
        key = self._by_name[venue].get(name)
        if key is None and venue in self._fetched and self._now() - self._fetched[venue] >= self.refresh_s:
            await self._load(venue)  # listed since? (a new Upbit market, say)
            key = self._by_name[venue].get(name)
        if key is None:
            raise UnknownSymbolError(venue, symbol, self._symbols[venue])
        return key

    async def resolve_all(self, venue: str, symbols: Iterable[str] | str) -> list[str]:
        """Each of ``symbols`` resolved, in order without repeats; ``"all"`` is the whole list."""
        if symbols == "all":
            return list(await self.symbols(venue))
        if isinstance(symbols, str):
            symbols = [symbols]
        out: list[str] = []
        for s in symbols:
            key = await self.resolve(venue, s)
            if key not in out:
                out.append(key)
        return out


__all__ = ["LISTING_PATHS", "VENUES", "Universe", "listed"]
