"""The instruments capability: where each venue lists its symbols, and a pure parser of it.

Keyed by venue name, so a venue module need not change for the recorder to know its
universe (``INSTRUMENTS[venue]``, or ``instruments_for(venue)``: None when unknown):

    src = INSTRUMENTS["binance-usdm"]
    req = src.request("https://fapi.binance.com", market="")    # a RestRequest
    listed = src.parse(body, market="")                         # tuple[Instrument, ...]

``parse`` keeps the instruments that trade now (a halted, pre-listed or delisting one is
left out: a stream for it delivers nothing) and raises ``VenueReplyError`` for a body of
another shape, so a venue's error reply is never taken for an empty list. ``market`` is
the venue's market where it has several (Bybit ``spot``/``linear``, Gate
``spot``/``futures``, OKX ``spot``/``swap``, Phemex ``spot``/``perpetual``); "" is the
first in ``markets``.

Endpoints and shapes are each venue's documented ones (PROTOCOLS.md and the venues'
API references); each parser names the fields it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from recorder.errors import VenueReplyError

from .base import RestRequest, join_url


@dataclass(frozen=True, slots=True)
class Instrument:
    """One listed symbol: the venue's own name for it, its assets and its market."""

    symbol: str  # native, as the venue's streams want it (BTCUSDT, KRW-BTC, BTC-USDT-SWAP)
    base: str  # upper case (BTC)
    quote: str  # upper case (USDT, KRW)
    market: str  # the market it was listed under ("usdm", "spot", "linear", "swap", ...)


Parser = Callable[[Any, str], list[Instrument]]


@dataclass(frozen=True, slots=True)
class InstrumentSource:
    """One venue's instrument list: the request per market and the parser of its body."""

    venue: str
    paths: Mapping[str, str]  # market -> path with query; the first is the default market
    parser: Parser
    weight: int = 1  # what the request costs (Binance counts weight)
    group: str = ""  # the venue's rate-limit group (Upbit "market")

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(self.paths)

    def market(self, market: str = "") -> str:
        """``market`` checked ("" = the default); ``VenueReplyError`` never, ``ValueError``
        for a market the venue does not list here."""
        if not market:
            return next(iter(self.paths))
        if market not in self.paths:
            raise ValueError(f"{self.venue} lists markets {', '.join(self.paths)}, not {market!r}")
        return market

    def request(self, rest_base: str, market: str = "") -> RestRequest:
        """The GET for the list of ``market`` at ``rest_base`` (scheme/host/port used)."""
        path, _, query = self.paths[self.market(market)].partition("?")
        return RestRequest("GET", join_url(rest_base, path, query), path, self.weight, self.group)

    def parse(self, body: bytes, market: str = "") -> tuple[Instrument, ...]:
        """The instruments trading now in ``body``; ``VenueReplyError`` for another shape."""
        market = self.market(market)
        try:
            doc = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise VenueReplyError(self.venue, "list of instruments", f"not JSON: {exc}") from None
        try:
            got = self.parser(doc, market)
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            raise VenueReplyError(self.venue, "list of instruments",
                                  f"{type(exc).__name__}: {exc}") from None
        return tuple(sorted(set(got), key=lambda i: i.symbol))


def _up(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value.upper()


def _rows(doc: Any, *keys: str) -> list[dict[str, Any]]:
    """``doc[k1][k2]...`` as a list of objects (a missing key is a KeyError: wrong shape)."""
    for k in keys:
        if not isinstance(doc, dict):
            raise TypeError(f"expected an object holding {k!r}")
        doc = doc[k]
    if not isinstance(doc, list):
        raise TypeError("expected a list")
    return [r for r in doc if isinstance(r, dict)]


def _binance(doc: Any, market: str) -> list[Instrument]:
    # exchangeInfo: {"symbols": [{"symbol", "status": "TRADING", "baseAsset", "quoteAsset",
    #  (USD-M) "contractType": "PERPETUAL" | "CURRENT_QUARTER" | ...}]}
    return [Instrument(_up(r["symbol"]), _up(r["baseAsset"]), _up(r["quoteAsset"]), market)
            for r in _rows(doc, "symbols") if r.get("status", "TRADING") == "TRADING"]


def _upbit(doc: Any, market: str) -> list[Instrument]:
    # /v1/market/all: [{"market": "KRW-BTC", "korean_name", "english_name"}], quote first
    if not isinstance(doc, list):
        raise TypeError("expected a list of markets")
    out = []
    for r in doc:
        quote, _, base = _up(r["market"]).partition("-")
        if not base:
            raise ValueError(f"market code {r['market']!r} is not QUOTE-BASE")
        out.append(Instrument(f"{quote}-{base}", base, quote, market))
    return out


def _bybit(doc: Any, market: str) -> list[Instrument]:
    # /v5/market/instruments-info: {"retCode": 0, "result": {"category", "list": [{"symbol",
    #  "baseCoin", "quoteCoin", "status": "Trading" | "PreLaunch" | "Delivering" | "Closed"}],
    #  "nextPageCursor"}}
    if doc.get("retCode", 0) != 0:
        raise ValueError(f"retCode {doc.get('retCode')}: {doc.get('retMsg')}")
    return [Instrument(_up(r["symbol"]), _up(r["baseCoin"]), _up(r["quoteCoin"]), market)
            for r in _rows(doc, "result", "list") if r.get("status", "Trading") == "Trading"]


def _okx(doc: Any, market: str) -> list[Instrument]:
    # /api/v5/public/instruments: {"code": "0", "data": [{"instType", "instId", "baseCcy",
    #  "quoteCcy" (SPOT; "" for SWAP), "uly": "BTC-USDT" (SWAP), "settleCcy", "state": "live"}]}
    if str(doc.get("code", "0")) != "0":
        raise ValueError(f"code {doc.get('code')}: {doc.get('msg')}")
    out = []
    for r in _rows(doc, "data"):
        if r.get("state", "live") != "live":
            continue
        base, quote = r.get("baseCcy") or "", r.get("quoteCcy") or ""
        if not base:  # derivatives name their assets by the underlying
            base, _, quote = _up(r["uly"]).partition("-")
        out.append(Instrument(_up(r["instId"]), _up(base), _up(quote), market))
    return out


def _gate(doc: Any, market: str) -> list[Instrument]:
    # spot /api/v4/spot/currency_pairs: [{"id": "ETH_USDT", "base", "quote",
    #  "trade_status": "tradable" | "untradable" | "buyable" | "sellable"}]
    # futures /api/v4/futures/usdt/contracts: [{"name": "BTC_USDT", "in_delisting": false}]
    if not isinstance(doc, list):
        raise TypeError("expected a list")
    out = []
    for r in doc:
        if market == "spot":
            if r.get("trade_status", "tradable") != "tradable":
                continue
            out.append(Instrument(_up(r["id"]), _up(r["base"]), _up(r["quote"]), market))
        else:
            if r.get("in_delisting"):
                continue
            base, _, quote = _up(r["name"]).partition("_")
            out.append(Instrument(_up(r["name"]), base, quote, market))
    return out


def _kucoin(doc: Any, market: str) -> list[Instrument]:
    # /api/v2/symbols: {"code": "200000", "data": [{"symbol": "BTC-USDT", "baseCurrency",
    #  "quoteCurrency", "enableTrading": true}]}
    if str(doc.get("code", "200000")) != "200000":
        raise ValueError(f"code {doc.get('code')}: {doc.get('msg')}")
    return [Instrument(_up(r["symbol"]), _up(r["baseCurrency"]), _up(r["quoteCurrency"]), market)
            for r in _rows(doc, "data") if r.get("enableTrading", True)]


def _phemex(doc: Any, market: str) -> list[Instrument]:
    # /public/products: {"code": 0, "data": {"products": [{"symbol": "sBTCUSDT" (spot, a
    #  lower-case "s" first), "type": "Spot" | "Perpetual", "baseCurrency", "quoteCurrency",
    #  "status": "Listed" | "Delisted"}], "perpProductsV2": [{"symbol": "BTCUSDT",
    #  "type": "PerpetualV2", "quoteCurrency", "settleCurrency", "status"}]}}
    if doc.get("code", 0) != 0:
        raise ValueError(f"code {doc.get('code')}: {doc.get('msg')}")
    rows = _rows(doc, "data", "products") + (
        _rows(doc, "data", "perpProductsV2") if "perpProductsV2" in doc["data"] else [])
    # contracts: the inverse and coin-settled ("Perpetual": BTCUSD) and the USDT ones
    want = ("Spot",) if market == "spot" else ("Perpetual", "PerpetualV2")
    out = []
    for r in rows:
        if r.get("type") not in want or r.get("status", "Listed") != "Listed":
            continue
        symbol = r["symbol"]  # case kept: Phemex spot symbols start with a lower-case "s"
        if not isinstance(symbol, str):
            raise TypeError(f"symbol {symbol!r}")
        quote = _up(r["quoteCurrency"])
        # spot rows name baseCurrency; a perpetual may give only contractUnderlyingAssets
        # (or neither: then the symbol less its quote, BTCUSDT -> BTC)
        base = r.get("baseCurrency") or r.get("contractUnderlyingAssets") or (
            symbol.upper().removesuffix(quote))
        out.append(Instrument(symbol, _up(base.split(" ")[-1]), quote, market))
    return out


INSTRUMENTS: dict[str, InstrumentSource] = {s.venue: s for s in (
    InstrumentSource("binance-usdm", {"usdm": "/fapi/v1/exchangeInfo"}, _binance),  # weight 1
    InstrumentSource("binance-spot", {"spot": "/api/v3/exchangeInfo"}, _binance, weight=20),
    InstrumentSource("upbit", {"spot": "/v1/market/all"}, _upbit, group="market"),
    InstrumentSource("bybit", {"spot": "/v5/market/instruments-info?category=spot&limit=1000",
                               "linear": "/v5/market/instruments-info?category=linear&limit=1000"},
                     _bybit),
    InstrumentSource("okx", {"spot": "/api/v5/public/instruments?instType=SPOT",
                             "swap": "/api/v5/public/instruments?instType=SWAP"}, _okx),
    InstrumentSource("gate", {"spot": "/api/v4/spot/currency_pairs",
                              "futures": "/api/v4/futures/usdt/contracts"}, _gate),
    InstrumentSource("kucoin", {"spot": "/api/v2/symbols"}, _kucoin),
    InstrumentSource("phemex", {"spot": "/public/products", "perpetual": "/public/products"},
                     _phemex),
)}


def instruments_for(venue: str) -> InstrumentSource | None:
    """The instrument list of ``venue``, or None for a venue not known here."""
    return INSTRUMENTS.get(venue)
