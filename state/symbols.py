"""Symbol keys and normalized names, one rule per venue.

Symbol key (what ``Projector.book(venue, symbol)`` takes): the venue's native symbol
exactly as its frames spell it (``BTCUSDT``, ``KRW-BTC``, ``BTC-USDT-SWAP``). Bybit and
Gate reuse one name across markets, so there a derivative market prefixes it:
``linear:BTCUSDT``, ``inverse:BTCUSD``, ``futures:BTC_USDT`` (spot keeps the bare name).

Normalized symbol: ``BASE-QUOTE`` for spot (``BTC-USDT``, Upbit ``KRW-BTC`` -> ``BTC-KRW``),
``BASE-QUOTE-PERP`` for perpetual swaps whatever the venue (Binance USD-M ``BTCUSDT``,
Bybit linear ``BTCUSDT``, OKX ``BTC-USDT-SWAP``, Gate futures ``BTC_USDT``, Phemex
``BTCUSD``), and ``BASE-QUOTE-<expiry as the venue writes it>`` for dated futures
(``BTCUSDT_240927`` -> ``BTC-USDT-240927``, OKX ``BTC-USD-220527`` -> ``BTC-USD-220527``).
Concatenated names are split at the longest known quote asset; an unknown quote
leaves the native name (upper-cased) as the normalized one. A Phemex index series
(``.BTC``, ``.MBTC``, ``.BTCFR8H``: a ``tick``'s symbol) is no pair and keeps its name.
"""

from __future__ import annotations

from functools import lru_cache

# Longest first so that "FDUSD" wins over "USD" and "USDT" over "USD".
QUOTES: tuple[str, ...] = tuple(sorted(
    ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD", "BTC", "ETH", "BNB",
     "EUR", "TRY", "BRL", "JPY", "GBP", "AUD", "KRW", "IDR", "UAH", "RUB", "ZAR", "PLN",
     "RON", "ARS", "MXN", "COP", "CZK", "XRP", "DOGE", "TRX", "DOT", "SOL", "PAX", "USDS"),
    key=len, reverse=True))

# Markets whose native names collide with spot on the same venue.
PREFIXED_MARKETS = {"bybit": ("linear", "inverse", "option"), "gate": ("futures", "delivery")}


def split_concat(name: str) -> tuple[str, str] | None:
    """``BTCUSDT`` -> ``("BTC", "USDT")``; None when no known quote ends the name."""
    for quote in QUOTES:
        if name.endswith(quote) and len(name) > len(quote):
            return name[: -len(quote)], quote
    return None


def symbol_key(venue: str, market: str, native: str) -> str:
    """The unique key of a native symbol within its venue (see the module docstring)."""
    if market in PREFIXED_MARKETS.get(venue, ()):
        return f"{market}:{native}"
    return native


def split_key(key: str) -> tuple[str, str]:
    """``linear:BTCUSDT`` -> ``("linear", "BTCUSDT")``; a bare key has market ""."""
    market, sep, native = key.partition(":")
    return (market, native) if sep else ("", key)


@lru_cache(maxsize=65536)
def normalize(venue: str, key: str) -> str:
    """The normalized name of a symbol key (a pure function, memoized)."""
    market, native = split_key(key)
    n = native.upper()
    if venue == "upbit":  # QUOTE-BASE
        quote, _, base = n.partition("-")
        return f"{base}-{quote}" if base else n
    if venue == "okx":  # BTC-USDT, BTC-USDT-SWAP, BTC-USD-220527, BTC-USD-220527-30000-C
        parts = n.split("-")
        if len(parts) == 3 and parts[2] == "SWAP":
            return f"{parts[0]}-{parts[1]}-PERP"
        return n
    if venue == "kucoin":
        return n
    if venue == "gate":
        base, _, quote = n.partition("_")
        if not quote:
            return n
        return f"{base}-{quote}-PERP" if market in ("futures",) else f"{base}-{quote}"
    if venue == "binance-usdm" or venue == "binance-coinm":
        head, _, expiry = n.partition("_")
        pair = split_concat(head)
        if pair is None:
            return n
        if expiry == "PERP" or not expiry:
            return f"{pair[0]}-{pair[1]}-PERP"
        return f"{pair[0]}-{pair[1]}-{expiry}"
    if venue == "phemex":
        if native.startswith("."):  # an index series (tick.subscribe): no pair to split
            return n
        if native.startswith("s") and not native[1:2].islower():
            pair = split_concat(n[1:])
            return f"{pair[0]}-{pair[1]}" if pair else n
        pair = split_concat(n)
        return f"{pair[0]}-{pair[1]}-PERP" if pair else n
    if venue == "bybit":
        if market in ("linear", "inverse"):
            if n.endswith("PERP"):  # USDC perpetuals: BTCPERP
                return f"{n[:-4]}-USDC-PERP"
            if "-" in n:  # dated linear: BTC-27DEC24
                base, _, expiry = n.partition("-")
                return f"{base}-USDC-{expiry}"
            pair = split_concat(n)
            if pair is None:  # inverse dated: BTCUSDZ24
                for quote in ("USD",):
                    i = n.find(quote)
                    if i > 0:
                        return f"{n[:i]}-{quote}-{n[i + len(quote):]}"
                return n
            return f"{pair[0]}-{pair[1]}-PERP"
    pair = split_concat(n)  # binance-spot, bybit spot, anything else concatenated
    return f"{pair[0]}-{pair[1]}" if pair else n
